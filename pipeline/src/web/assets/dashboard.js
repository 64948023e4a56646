// The operators' dashboard: buildings, cameras and alerts of this node, live.
// Reads /api/overview every 2 s, /api/history every minute and when an interval closes, the audit
// trail (/api/audit) every 5 s, and alerts through the server-sent events of /api/events. No
// library, nothing from the internet.

import { $, el, svg, getJson } from "./common.js";

const ALERT_NAMES = {
  camera_offline: "Camera offline", camera_back: "Camera back", camera_blinded: "Camera blinded",
  camera_defocused: "Camera defocused", camera_moved: "Camera moved", camera_view_restored: "View restored",
  spool_filling: "Spool filling", spool_failing: "Spool failing", over_capacity: "Over capacity",
  clock_jump: "Clock jump", node_id_conflict: "Node id conflict",
};
const WARNINGS = new Set(["camera_defocused", "spool_filling", "clock_jump"]);

const state = { overview: null, history: new Map(), alerts: new Map(), fresh: new Set() };


function timeOf(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function dateTimeOf(unix) {
  const d = new Date(unix * 1000);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? timeOf(unix) : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function age(seconds) {
  if (seconds == null) return "never";
  if (seconds < 1) return "now";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

// ---- overview: top bar, buildings, cameras -------------------------------------------------

async function refreshOverview() {
  try {
    state.overview = await getJson("/api/overview");
    renderOverview();
  } catch (error) {
    $("link-state").className = "pill bad";
    $("link-state").textContent = "node unreachable";
  }
}

function renderOverview() {
  const o = state.overview;
  document.title = `Lintel · ${o.site_name || o.site}`;
  $("site-name").textContent = o.site_name || o.site;
  $("node-name").textContent = `node ${o.node}`;
  const link = $("link-state");
  link.className = `pill ${o.link.mqtt_connected ? "ok" : "bad"}`;
  link.textContent = o.link.mqtt_connected ? "broker connected" : "broker disconnected";
  const fill = Math.min(1, o.link.spool_fill || 0);
  const bar = $("spool-fill");
  bar.style.width = `${(fill * 100).toFixed(1)}%`;
  bar.className = fill >= 0.8 || o.link.messages_held > 0 ? "bad" : fill >= 0.5 ? "warn" : "";
  $("spool-text").textContent = `${o.link.spool_messages} waiting` + (o.link.messages_held ? `, ${o.link.messages_held} held` : "");
  renderBuildings();
  renderCameras();
}

function renderBuildings() {
  const o = state.overview;
  const container = $("buildings");
  const midnight = new Date(); midnight.setHours(0, 0, 0, 0);
  const todayFrom = midnight.getTime() / 1000;
  container.replaceChildren(...o.buildings.map((b) => {
    const history = state.history.get(b.id) || [];
    const today = history.filter((k) => k.start >= todayFrom);
    const sum = (key) => today.reduce((n, k) => n + k[key], 0);
    const last = b.last_interval;
    const ratio = b.capacity ? b.occupancy / b.capacity : 0;
    const card = el("article", { class: `card${b.over_capacity ? " over" : ""}`, "data-building": b.id },
      el("header", {},
        el("span", { class: "name", text: b.name || b.id }),
        b.over_capacity ? el("span", { class: "over-tag", text: "OVER CAPACITY" }) : el("span", { class: "id", text: b.id })),
      el("div", { class: "occupancy" },
        el("span", { class: "value", text: String(b.occupancy), "data-field": "occupancy" }),
        el("span", { class: "capacity", text: b.capacity ? `/ ${b.capacity} inside` : "inside" })),
      b.capacity ? el("div", { class: "capbar" }, capacityBar(ratio)) : null,
      el("div", { class: "flows" },
        flow("Last interval", last ? `${last.entries} in · ${last.exits} out` : "—",
          last ? `${timeOf(last.start)}–${timeOf(last.end)}` : "no interval yet"),
        flow("Today", `${sum("entries")} in · ${sum("exits")} out`, "since midnight")),
      chart(b, history));
    return card;
  }));
}

function capacityBar(ratio) {
  const span = el("span", { class: ratio > 1 ? "over" : ratio > 0.85 ? "high" : "" });
  span.style.width = `${Math.min(100, ratio * 100).toFixed(1)}%`;
  return span;
}

function flow(label, value, title) {
  return el("div", { title }, el("span", { class: "label", text: label }), el("span", { text: value }));
}

// A 24-hour chart: entries up and exits down as bars per bucket, occupancy as a line.
function chart(building, buckets) {
  // As wide in units as the chart was on screen, so its labels are not stretched.
  const shown = document.querySelector(`[data-chart="${CSS.escape(building.id)}"] svg`);
  const width = Math.max(320, Math.round(shown ? shown.clientWidth : 480)), height = 130, mid = 78, top = 8;
  const now = Date.now() / 1000;
  const from = now - 24 * 3600;
  const x = (t) => ((t - from) / (24 * 3600)) * width;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img",
    "aria-label": `${building.name || building.id}: entries, exits and occupancy over 24 hours` });
  const maxFlow = Math.max(1, ...buckets.map((b) => Math.max(b.entries, b.exits)));
  const maxOcc = Math.max(1, building.capacity || 0, ...buckets.map((b) => b.occupancy));
  const span = buckets.length > 1 ? buckets[1].start - buckets[0].start : 900;
  const barWidth = Math.max(1, (span / (24 * 3600)) * width - 1);
  for (let hour = 0; hour <= 24; hour += 6) {
    const t = from + hour * 3600;
    root.append(svg("line", { x1: x(t), x2: x(t), y1: top, y2: height - 14, stroke: "#2c3846", "stroke-width": 1 }));
    const label = svg("text", { x: Math.min(width - 28, Math.max(0, x(t) - 14)), y: height - 2, fill: "#8b9aab", "font-size": 10 });
    label.textContent = hour === 24 ? "now" : new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    root.append(label);
  }
  root.append(svg("line", { x1: 0, x2: width, y1: mid, y2: mid, stroke: "#2c3846" }));
  const flowScale = (v) => (v / maxFlow) * (mid - top - 34);
  for (const b of buckets) {
    if (b.start < from - span) continue;
    const entries = flowScale(b.entries), exits = flowScale(b.exits);
    if (b.entries) root.append(svg("rect", { x: x(b.start), y: mid - entries, width: barWidth, height: entries, fill: "#3fb950", opacity: 0.85 }));
    if (b.exits) root.append(svg("rect", { x: x(b.start), y: mid, width: barWidth, height: Math.min(exits, height - 16 - mid), fill: "#e3a03a", opacity: 0.85 }));
  }
  const occY = (v) => top + (1 - v / maxOcc) * (mid - top - 4);
  if (building.capacity) {
    root.append(svg("line", { x1: 0, x2: width, y1: occY(building.capacity), y2: occY(building.capacity),
      stroke: "#f85149", "stroke-dasharray": "4 3", "stroke-width": 1 }));
  }
  const points = buckets.filter((b) => b.start >= from - span).map((b) => `${x(b.start + span).toFixed(1)},${occY(b.occupancy).toFixed(1)}`);
  if (points.length > 1) root.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: "#79c0ff", "stroke-width": 2 }));
  if (points.length === 1) { const [cx, cy] = points[0].split(","); root.append(svg("circle", { cx, cy, r: 3, fill: "#79c0ff" })); }
  const total = buckets.reduce((n, b) => n + b.entries + b.exits, 0);
  const wrap = el("div", { class: "chart", "data-chart": building.id, "data-buckets": String(buckets.length), "data-crossings": String(total) });
  wrap.append(root, el("div", { class: "legend" },
    el("span", {}, el("i", { class: "sw-in" }), "entries"),
    el("span", {}, el("i", { class: "sw-out" }), "exits"),
    el("span", {}, el("i", { class: "sw-occ" }), "occupancy"),
    el("span", { text: "last 24 h" })));
  return wrap;
}

function renderCameras() {
  $("cameras").replaceChildren(...state.overview.cameras.map((c) => el("tr", { "data-camera": c.id },
    el("td", { text: c.id }),
    el("td", { text: c.building ? `${c.entrance} (${c.building})` : c.entrance }),
    el("td", {}, el("span", { class: `health ${c.health}`, text: c.health })),
    el("td", { text: age(c.last_frame_age_s) }),
    el("td", { text: `${c.analysed_fps.toFixed(1)} fps` }))));
}

async function refreshHistory() {
  try {
    const answer = await getJson("/api/history?hours=24&bucket_s=900");
    state.history = new Map(answer.buildings.map((b) => [b.id, b.buckets]));
    if (state.overview) renderBuildings();
  } catch (error) { /* the next refresh tries again */ }
}

// ---- alerts ---------------------------------------------------------------------------------

async function loadAlerts() {
  try {
    const alerts = await getJson("/api/alerts");
    state.alerts = new Map(alerts.map((a) => [a.id, a]));
    renderAlerts();
  } catch (error) { /* retried on the next resync */ }
}

function renderAlerts() {
  const alerts = [...state.alerts.values()].sort((a, b) => b.id - a.id);
  const open = alerts.filter((a) => a.cleared_at == null).length;
  const unacked = alerts.filter((a) => a.acked_at == null && !isReturn(a)).length;
  $("alert-count").textContent = open ? `${open} active` : unacked ? `${unacked} to acknowledge` : "";
  const list = $("alerts");
  if (!alerts.length) { list.replaceChildren(el("li", { class: "empty", text: "No alerts." })); return; }
  list.replaceChildren(...alerts.map(alertItem));
}

function isReturn(a) { return a.kind === "camera_back" || a.kind === "camera_view_restored"; }

function alertItem(a) {
  const active = a.cleared_at == null;
  const classes = ["alert", active ? "active" : "cleared"];
  if (WARNINGS.has(a.kind)) classes.push("warn");
  if (a.acked_at != null) classes.push("acked");
  if (state.fresh.has(a.id)) classes.push("fresh");
  const stateText = active ? "active" : isReturn(a) ? "back to normal" : `cleared ${timeOf(a.cleared_at)}`;
  const meta = el("div", { class: "meta" }, el("span", { class: "state", text: stateText }));
  if (a.acked_at != null) {
    meta.append(el("span", { class: "acked-by", text: `acknowledged by ${a.acked_by} (${a.acked_role}) ${dateTimeOf(a.acked_at)}` }));
  } else if (!isReturn(a)) {
    const button = el("button", { type: "button", class: "ack", "data-alert": String(a.id), text: "Acknowledge" });
    button.addEventListener("click", () => acknowledge(a.id, button));
    meta.append(button);
  }
  return el("li", { class: classes.join(" "), "data-alert": String(a.id), "data-kind": a.kind, "data-subject": a.subject },
    el("div", { class: "head" },
      el("span", { class: "kind", text: `${ALERT_NAMES[a.kind] || a.kind} · ${a.subject}` }),
      el("span", { class: "time", text: dateTimeOf(a.at) })),
    el("div", { class: "text", text: a.message }),
    meta);
}

async function acknowledge(id, button) {
  button.disabled = true;
  const by = $("operator-name").value.trim();
  try {
    const response = await fetch(`/api/alerts/${id}/ack`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by }),
    });
    if (!response.ok) throw new Error(String(response.status));
    const row = await response.json();
    state.alerts.set(row.id, row);
    renderAlerts();
  } catch (error) {
    button.disabled = false;
    button.textContent = "Retry acknowledge";
  }
}

// ---- audit trail: who unblurred, saved, validated, acknowledged, signed in, from where --------

const AUDIT_NAMES = {
  unblur: "Unblur", zones_saved: "Zones saved", validation: "Validation", occupancy_applied: "Occupancy set",
  occupancy_refused: "Occupancy refused", alert_acknowledged: "Alert acknowledged", signed_in: "Signed in",
  sign_in_failed: "Sign-in failed",
};

async function refreshAudit() {
  try {
    const entries = await getJson("/api/audit");
    const rows = entries.map((e) => el("tr", { "data-action": e.action, "data-subject": e.subject },
      el("td", { text: dateTimeOf(e.at) }), el("td", { class: "action", text: AUDIT_NAMES[e.action] || e.action }),
      el("td", { class: "who", text: e.who }), el("td", { class: "from", text: e.from }),
      el("td", { class: "subject", text: e.subject }), el("td", { class: "detail", text: e.detail })));
    $("audit").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "6", text: "Nothing yet." }))]));
  } catch (error) { /* the next refresh tries again */ }
}

function connectEvents() {
  const live = $("live-state");
  const source = new EventSource("/api/events");
  source.onopen = () => { live.className = "pill ok"; live.textContent = "live"; loadAlerts(); };
  source.onerror = () => { live.className = "pill warn"; live.textContent = "reconnecting"; };
  source.addEventListener("alert", (event) => {
    const change = JSON.parse(event.data);
    if (!state.alerts.has(change.id)) {
      state.fresh.add(change.id);
      setTimeout(() => state.fresh.delete(change.id), 1500);
    }
    state.alerts.set(change.id, change);
    renderAlerts();
  });
  source.addEventListener("interval", () => { refreshHistory(); refreshOverview(); });
  source.addEventListener("resync", () => { loadAlerts(); refreshHistory(); });
}

// ---- start ----------------------------------------------------------------------------------

function tickClock() { $("clock").textContent = new Date().toLocaleTimeString(); }

document.addEventListener("DOMContentLoaded", () => {
  const name = $("operator-name");
  name.value = localStorage.getItem("lintel.operator") || "";
  name.addEventListener("change", () => localStorage.setItem("lintel.operator", name.value.trim()));
  tickClock(); setInterval(tickClock, 1000);
  refreshOverview().then(refreshHistory);
  setInterval(refreshOverview, 2000);
  setInterval(refreshHistory, 60000);
  refreshAudit(); setInterval(refreshAudit, 5000);
  loadAlerts();
  connectEvents();
});
