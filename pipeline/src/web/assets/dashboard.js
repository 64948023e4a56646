// The operators' dashboard: buildings, cameras and alerts of this node, live.
// Reads /api/site once (names, time zone), /api/overview every 2 s, /api/history every minute and
// when an interval closes, the audit trail (/api/audit) every 5 s, and alerts through the
// server-sent events of /api/events. Every text comes from the catalogues (/i18n/), every time is
// shown in the site's time zone. No library, nothing from the internet.

import { $, el, svg, getJson } from "./common.js";
import { t, said, languageSwitch, setTimeZone, formatDateTime, formatTime, formatNumber } from "/i18n/i18n.js";

// What each alert kind is called, and what it means, in an operator's words. (The node's own
// message is for the log: it may name an address or an error an operator cannot act on.)
const KIND_NAMES = {
  camera_offline: t("dashboard.kind.camera_offline"), camera_back: t("dashboard.kind.camera_back"),
  camera_blinded: t("dashboard.kind.camera_blinded"), camera_sees_again: t("dashboard.kind.camera_sees_again"),
  camera_defocused: t("dashboard.kind.camera_defocused"), camera_moved: t("dashboard.kind.camera_moved"),
  camera_view_restored: t("dashboard.kind.camera_view_restored"), spool_filling: t("dashboard.kind.spool_filling"),
  spool_drained: t("dashboard.kind.spool_drained"), spool_failing: t("dashboard.kind.spool_failing"),
  spool_recovered: t("dashboard.kind.spool_recovered"), over_capacity: t("dashboard.kind.over_capacity"),
  back_under_capacity: t("dashboard.kind.back_under_capacity"), clock_jump: t("dashboard.kind.clock_jump"),
  node_id_conflict: t("dashboard.kind.node_id_conflict"),
};
const SAYINGS = {
  camera_offline: (s) => t("dashboard.say.camera_offline", s), camera_back: (s) => t("dashboard.say.camera_back", s),
  camera_blinded: (s) => t("dashboard.say.camera_blinded", s), camera_sees_again: (s) => t("dashboard.say.camera_sees_again", s),
  camera_defocused: (s) => t("dashboard.say.camera_defocused", s), camera_moved: (s) => t("dashboard.say.camera_moved", s),
  camera_view_restored: (s) => t("dashboard.say.camera_view_restored", s), spool_filling: (s) => t("dashboard.say.spool_filling", s),
  spool_drained: (s) => t("dashboard.say.spool_drained", s), spool_failing: (s) => t("dashboard.say.spool_failing", s),
  spool_recovered: (s) => t("dashboard.say.spool_recovered", s), over_capacity: (s) => t("dashboard.say.over_capacity", s),
  back_under_capacity: (s) => t("dashboard.say.back_under_capacity", s), clock_jump: (s) => t("dashboard.say.clock_jump", s),
  node_id_conflict: (s) => t("dashboard.say.node_id_conflict", s),
};
const HEALTH = {
  live: t("dashboard.health.live"), starting: t("dashboard.health.starting"), retrying: t("dashboard.health.retrying"),
  offline: t("dashboard.health.offline"), failed: t("dashboard.health.failed"), blinded: t("dashboard.health.blinded"),
  defocused: t("dashboard.health.defocused"), moved: t("dashboard.health.moved"),
};
const AUDIT_NAMES = {
  unblur: t("dashboard.audit.unblur"), zones_saved: t("dashboard.audit.zones_saved"),
  validation: t("dashboard.audit.validation"), occupancy_applied: t("dashboard.audit.occupancy_applied"),
  occupancy_refused: t("dashboard.audit.occupancy_refused"), alert_acknowledged: t("dashboard.audit.alert_acknowledged"),
  signed_in: t("dashboard.audit.signed_in"), sign_in_failed: t("dashboard.audit.sign_in_failed"),
};
const ROLES = {
  operator: t("dashboard.role.operator"),
  technician: t("dashboard.role.technician"),
  console: t("dashboard.role.console"),
};
const WARNINGS = new Set(["camera_defocused", "spool_filling", "clock_jump"]);
const NAME_KEY = "lintel.operator", SOUND_KEY = "lintel.sound", RANGE_KEY = "lintel.range";
const MAX_NOTE = 280;

const state = {
  site: null, overview: null, alerts: new Map(), fresh: new Set(),
  day: new Map(), chart: new Map(), bucketS: 900,
  hours: Number(localStorage.getItem(RANGE_KEY)) === 1 ? 1 : 24,
  acking: null, // the alert whose acknowledgement form is open: { id, name, note, error }
  still: null, // the camera whose blurred still is shown
};

const now = () => Date.now() / 1000;

// A span of seconds as a person reads it: "40 s", "12 min", "3 h 5 min", "2 d 4 h".
function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return t("dashboard.seconds", { n: formatNumber(s) });
  if (s < 3600) return t("dashboard.minutes", { n: formatNumber(Math.round(s / 60)) });
  if (s < 86400) return t("dashboard.hours_minutes", { h: formatNumber(Math.floor(s / 3600)), m: formatNumber(Math.floor((s % 3600) / 60)) });
  return t("dashboard.days_hours", { d: formatNumber(Math.floor(s / 86400)), h: formatNumber(Math.floor((s % 86400) / 3600)) });
}

function age(seconds) {
  if (seconds == null) return t("dashboard.never");
  if (seconds < 2) return t("dashboard.just_now");
  return t("dashboard.ago", { duration: duration(seconds) });
}

// A time today as hh:mm:ss, another day's with its date, both in the site's zone.
function when(unix) {
  const day = (u) => formatDateTime(u, { year: "numeric", month: "2-digit", day: "2-digit" });
  return day(unix) === day(now()) ? formatTime(unix, true) : formatDateTime(unix, { dateStyle: "short", timeStyle: "short" });
}

// Seconds since midnight in the site's zone.
function sinceMidnight() {
  const parts = formatTime(now(), true).split(":").map(Number);
  return parts.length === 3 && parts.every(Number.isFinite) ? parts[0] * 3600 + parts[1] * 60 + parts[2] : 0;
}

const buildingName = (id) => state.site?.buildings.find((b) => b.id === id)?.name || id;

// ---- overview: top bar, buildings, cameras -------------------------------------------------

async function refreshOverview() {
  try {
    state.overview = await getJson("/api/overview");
    renderOverview();
  } catch (error) {
    $("link-state").className = "pill bad";
    $("link-state").textContent = t("dashboard.node_unreachable");
  }
}

function renderOverview() {
  const o = state.overview;
  $("site-name").textContent = o.site_name || o.site;
  $("node-name").textContent = t("dashboard.node", { node: o.node });
  const link = $("link-state");
  link.className = `pill ${o.link.mqtt_connected ? "ok" : "bad"}`;
  link.textContent = o.link.mqtt_connected ? t("dashboard.broker_ok") : t("dashboard.broker_down");
  const fill = Math.min(1, o.link.spool_fill || 0);
  const bar = $("spool-fill");
  bar.style.width = `${(fill * 100).toFixed(1)}%`;
  bar.className = fill >= 0.8 || o.link.messages_held > 0 ? "bad" : fill >= 0.5 ? "warn" : "";
  const waiting = formatNumber(o.link.spool_messages);
  $("spool-text").textContent = o.link.messages_held
    ? t("dashboard.spool_held", { n: waiting, held: formatNumber(o.link.messages_held) })
    : t("dashboard.spool_waiting", { n: waiting });
  renderBuildings();
  renderCameras();
}

function renderBuildings() {
  const o = state.overview;
  if (!o) return;
  const todayFrom = now() - sinceMidnight();
  $("buildings").replaceChildren(...o.buildings.map((b) => {
    const today = (state.day.get(b.id) || []).filter((k) => k.start >= todayFrom);
    const sum = (key) => today.reduce((n, k) => n + k[key], 0);
    const last = b.last_interval;
    const ratio = b.capacity ? b.occupancy / b.capacity : 0;
    const classes = ["card", b.over_capacity ? "over" : "", b.incomplete ? "incomplete" : ""].filter(Boolean);
    return el("article", { class: classes.join(" "), "data-building": b.id },
      el("header", {},
        el("span", { class: "name", text: b.name || b.id }),
        b.over_capacity ? el("span", { class: "over-tag", text: t("dashboard.over_capacity") }) : null),
      el("div", { class: "occupancy" },
        el("span", { class: "value", text: formatNumber(b.occupancy), "data-field": "occupancy" }),
        el("span", { class: "capacity", text: t("dashboard.inside") }),
        b.capacity ? el("span", { class: "capacity", text: t("dashboard.of_capacity", { capacity: formatNumber(b.capacity) }) }) : null),
      b.capacity ? el("div", { class: "capbar" }, capacityBar(ratio)) : null,
      b.incomplete ? incompleteNote(b) : null,
      el("div", { class: "flows" },
        flow(t("dashboard.last_interval"), last ? inOut(last.entries, last.exits) : "—",
          last ? `${formatTime(last.start, true)}–${formatTime(last.end, true)}` : t("dashboard.no_interval")),
        flow(t("dashboard.today"), inOut(sum("entries"), sum("exits")), t("dashboard.since_midnight"))),
      chart(b, state.chart.get(b.id) || []));
  }));
  // Charts are drawn once laid out, at the size they are shown (their labels not stretched).
  for (const b of o.buildings) {
    const placeholder = document.querySelector(`[data-chart="${CSS.escape(b.id)}"] svg`);
    if (placeholder) placeholder.replaceWith(chartSvg(b, state.chart.get(b.id) || [], placeholder.clientWidth, placeholder.clientHeight));
  }
}

const inOut = (entries, exits) => t("dashboard.in_out", { in: formatNumber(entries), out: formatNumber(exits) });

function incompleteNote(b) {
  const cameras = b.unhealthy_cameras.map((id) => {
    const c = state.overview.cameras.find((x) => x.id === id);
    return c ? `${id} (${HEALTH[c.health] || c.health})` : id;
  });
  const why = cameras.length ? t("dashboard.incomplete_cameras", { cameras: cameras.join(", ") }) : t("dashboard.incomplete_interval");
  return el("p", { class: "incomplete-note", role: "note" },
    el("strong", { text: t("dashboard.incomplete") }), " ", el("span", { text: why }));
}

function capacityBar(ratio) {
  const span = el("span", { class: ratio > 1 ? "over" : ratio > 0.85 ? "high" : "" });
  span.style.width = `${Math.min(100, ratio * 100).toFixed(1)}%`;
  return span;
}

function flow(label, value, when) {
  return el("div", {}, el("span", { class: "label", text: label }), el("span", { class: "value", text: value }),
    el("span", { class: "when", text: when }));
}

// Chart colours, each at least 4.5:1 on the card's background.
const INK = { grid: "#2c3846", label: "#9aa8b8", entries: "#3fb950", exits: "#e3a03a", occupancy: "#79c0ff", capacity: "#ff6b63", gap: "#5c4a1e" };

// The chart of the chosen span: people in (up) and out (down) per bucket with their scale on the
// left, people inside as a line with its scale on the right, the capacity as a labelled dashed
// line, and buckets counted with a camera down hatched.
function chartSvg(building, buckets, shownWidth, shownHeight) {
  const span = state.hours * 3600;
  const width = Math.max(280, Math.round(shownWidth || 480));
  const height = Math.max(140, Math.round(shownHeight || 150));
  const left = 34, right = 40, top = 10, bottom = 18;
  const plotW = width - left - right;
  const mid = top + (height - top - bottom) * 0.62, base = height - bottom;
  const end = now(), from = end - span;
  const x = (time) => left + ((time - from) / span) * plotW;
  const hatchId = `gap-${building.id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": t("dashboard.chart_label", { building: building.name || building.id, span: spanName() }) });
  const text = (content, attrs) => { const node = svg("text", { fill: INK.label, "font-size": 11, ...attrs }); node.textContent = content; return node; };
  const seen = buckets.filter((b) => b.start >= from - state.bucketS);
  const maxFlow = Math.max(1, ...seen.map((b) => Math.max(b.entries, b.exits)));
  const maxOcc = Math.max(1, building.capacity || 0, ...seen.map((b) => b.occupancy));
  const barWidth = Math.max(1, (state.bucketS / span) * plotW - 1);
  // Time axis: six ticks, local time.
  for (let i = 0; i <= 6; i++) {
    const time = from + (i * span) / 6;
    root.append(svg("line", { x1: x(time), x2: x(time), y1: top, y2: base, stroke: INK.grid }));
    const label = i === 6 ? t("dashboard.now") : formatTime(time);
    root.append(text(label, { x: x(time), y: height - 4, "text-anchor": i === 0 ? "start" : i === 6 ? "end" : "middle" }));
  }
  // Hatched: counted while a camera was down.
  for (const b of seen) {
    if (b.healthy === false) {
      const gap = svg("rect", { x: x(b.start), y: top, width: barWidth + 1, height: base - top, fill: `url(#${hatchId})`, class: "gap" });
      gap.append(svg("title", {}));
      gap.firstChild.textContent = t("dashboard.gap_title");
      root.append(gap);
    }
  }
  // Flows: entries above the middle line, exits below; scale on the left.
  const flowUp = (v) => (v / maxFlow) * (mid - top - 4);
  const flowDown = (v) => (v / maxFlow) * (base - mid - 4);
  root.append(svg("line", { x1: left, x2: left + plotW, y1: mid, y2: mid, stroke: INK.label, "stroke-width": 0.5 }));
  root.append(text(formatNumber(maxFlow), { x: left - 4, y: top + 9, "text-anchor": "end", fill: INK.entries }));
  root.append(text("0", { x: left - 4, y: mid + 4, "text-anchor": "end" }));
  root.append(text(formatNumber(maxFlow), { x: left - 4, y: base - 2, "text-anchor": "end", fill: INK.exits }));
  for (const b of seen) {
    if (b.entries) root.append(svg("rect", { x: x(b.start), y: mid - flowUp(b.entries), width: barWidth, height: flowUp(b.entries), fill: INK.entries }));
    if (b.exits) root.append(svg("rect", { x: x(b.start), y: mid, width: barWidth, height: flowDown(b.exits), fill: INK.exits }));
  }
  // Inside: a line, scale on the right.
  const occY = (v) => base - (v / maxOcc) * (base - top);
  root.append(text(formatNumber(maxOcc), { x: width - 2, y: top + 9, "text-anchor": "end", fill: INK.occupancy }));
  root.append(text("0", { x: width - 2, y: base, "text-anchor": "end", fill: INK.occupancy }));
  if (building.capacity) {
    const y = occY(building.capacity);
    root.append(svg("line", { x1: left, x2: left + plotW, y1: y, y2: y, stroke: INK.capacity, "stroke-dasharray": "5 3", class: "capacity-line" }));
    root.append(text(t("dashboard.capacity_line", { capacity: formatNumber(building.capacity) }),
      { x: left + 4, y: Math.max(top + 10, y - 3), fill: INK.capacity, class: "capacity-label" }));
  }
  const points = seen.map((b) => `${x(Math.min(end, b.start + state.bucketS)).toFixed(1)},${occY(b.occupancy).toFixed(1)}`);
  if (points.length > 1) root.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: INK.occupancy, "stroke-width": 2 }));
  if (points.length === 1) { const [cx, cy] = points[0].split(","); root.append(svg("circle", { cx, cy, r: 3, fill: INK.occupancy })); }
  const defs = svg("defs");
  const hatch = svg("pattern", { id: hatchId, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
  hatch.append(svg("rect", { width: 6, height: 6, fill: "#2a2214" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#8a6d2a", "stroke-width": 3 }));
  defs.append(hatch);
  root.prepend(defs);
  return root;
}

// A building's chart: its legend, and a place for the drawing (see `chartSvg`).
function chart(building, buckets) {
  const from = now() - state.hours * 3600;
  const seen = buckets.filter((b) => b.start >= from - state.bucketS);
  const root = svg("svg", { class: "placeholder" });
  const total = seen.reduce((n, b) => n + b.entries + b.exits, 0);
  const unhealthy = seen.filter((b) => b.healthy === false).length;
  const wrap = el("div", { class: "chart", "data-chart": building.id, "data-buckets": String(seen.length),
    "data-crossings": String(total), "data-unhealthy": String(unhealthy) });
  wrap.append(root, el("div", { class: "legend" },
    el("span", {}, el("i", { class: "sw-in" }), t("dashboard.entries")),
    el("span", {}, el("i", { class: "sw-out" }), t("dashboard.exits")),
    el("span", {}, el("i", { class: "sw-occ" }), t("dashboard.occupancy")),
    unhealthy ? el("span", {}, el("i", { class: "sw-gap" }), t("dashboard.gap")) : null,
    el("span", { text: t("dashboard.per_bucket", { span: duration(state.bucketS) }) })));
  return wrap;
}

const spanName = () => (state.hours === 1 ? t("dashboard.range_1h") : t("dashboard.range_24h"));

function renderCameras() {
  const labels = [...document.querySelectorAll(".cameras thead th")].map((th) => th.textContent);
  const cell = (i, attrs, ...children) => el("td", { "data-label": labels[i] || "", ...attrs }, ...children);
  // The rows are rebuilt every 2 s: a still's button keeps the keyboard focus across it.
  const focused = document.activeElement && $("cameras").contains(document.activeElement) ? document.activeElement.dataset.focus : null;
  $("cameras").replaceChildren(...state.overview.cameras.map((c) => {
    const health = el("span", { class: `health ${c.health}`, text: HEALTH[c.health] || c.health });
    const since = c.since != null && c.health !== "live"
      ? el("span", { class: "since", text: t("dashboard.offline_since", { time: when(c.since), duration: duration(now() - c.since) }) })
      : null;
    const open = state.still === c.id;
    const picture = state.site && state.site.stills
      ? el("button", { type: "button", class: "still-toggle", "data-focus": `still-${c.id}`, "aria-pressed": String(open),
        text: open ? t("dashboard.still_hide") : t("dashboard.still_show") })
      : null;
    picture?.addEventListener("click", () => showStill(open ? null : c.id));
    return el("tr", { "data-camera": c.id, "data-health": c.health },
      cell(0, {}, c.id, picture ? " " : null, picture),
      cell(1, { text: c.building ? `${c.entrance} (${buildingName(c.building)})` : c.entrance }),
      cell(2, {}, el("span", {}, health, since ? " " : null, since)),
      cell(3, { text: age(c.last_frame_age_s) }),
      cell(4, { text: t("dashboard.fps", { n: formatNumber(c.analysed_fps, { maximumFractionDigits: 1, minimumFractionDigits: 1 }) }) }));
  }));
  if (focused) $("cameras").querySelector(`[data-focus="${focused}"]`)?.focus();
}

// A camera's blurred still (when the node offers them: `lintel run --operator-stills`): people and
// movement hidden on the node before the picture leaves it, as on the set-up page; read again
// every 5 s while shown, so a moved or defocused camera can be seen.
let stillTimer = null;
function showStill(camera) {
  state.still = camera;
  clearTimeout(stillTimer);
  const figure = $("still"), picture = $("still-picture"), caption = $("still-caption");
  figure.hidden = !camera;
  if (state.overview) renderCameras();
  if (!camera) { picture.removeAttribute("src"); return; }
  caption.textContent = t("dashboard.still_waiting", { camera });
  picture.alt = t("dashboard.still_alt", { camera });
  const load = () => {
    if (state.still !== camera) return;
    picture.src = `/api/cameras/${encodeURIComponent(camera)}/still.jpg?at=${Date.now()}`;
  };
  picture.onload = () => {
    caption.textContent = t("dashboard.still_caption", { camera, time: formatTime(now(), true) });
    stillTimer = setTimeout(load, 5000);
  };
  // The first answers are 503 while the node starts drawing this camera's pictures.
  picture.onerror = () => { stillTimer = setTimeout(load, 1000); };
  load();
}

async function refreshHistory() {
  try {
    const day = await getJson("/api/history?hours=24&bucket_s=900");
    state.day = new Map(day.buildings.map((b) => [b.id, b.buckets]));
    if (state.hours === 1) {
      const hour = await getJson("/api/history?hours=1&bucket_s=60");
      state.chart = new Map(hour.buildings.map((b) => [b.id, b.buckets]));
      state.bucketS = hour.bucket_s;
    } else {
      state.chart = state.day;
      state.bucketS = day.bucket_s;
    }
    renderBuildings();
  } catch (error) { /* the next refresh tries again */ }
}

function chooseRange(hours) {
  state.hours = hours;
  localStorage.setItem(RANGE_KEY, String(hours));
  for (const button of document.querySelectorAll(".range button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.hours) === hours));
  }
  refreshHistory();
}

// ---- alerts: one incident from start to end ------------------------------------------------

async function loadAlerts() {
  try {
    const alerts = await getJson("/api/alerts");
    state.alerts = new Map(alerts.map((a) => [a.id, a]));
    renderAlerts();
  } catch (error) { /* retried on the next resync */ }
}

// The incidents, newest first: an end the node paired with its start (`ends`) is shown in that
// start's card, not as a card of its own.
function incidents() {
  const alerts = [...state.alerts.values()].sort((a, b) => b.id - a.id);
  return alerts.filter((a) => a.ends == null || !state.alerts.has(a.ends));
}

const needsAck = (a) => a.acked_at == null && a.ends == null;

function renderAlerts() {
  const shown = incidents();
  const open = shown.filter((a) => a.cleared_at == null).length;
  const unacked = shown.filter(needsAck).length;
  $("alert-count").textContent = open ? t("dashboard.alerts_active", { n: formatNumber(open) })
    : unacked ? t("dashboard.alerts_unacked", { n: formatNumber(unacked) }) : "";
  const list = $("alerts");
  // Keep the focus in an open acknowledgement form across the re-render.
  const focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
  if (!shown.length) { list.replaceChildren(el("li", { class: "empty", text: t("dashboard.no_alerts") })); return; }
  list.replaceChildren(...shown.map(alertItem));
  if (focused) list.querySelector(`[data-focus="${focused}"]`)?.focus();
}

function subjectName(a) {
  return a.kind === "over_capacity" || a.kind === "back_under_capacity" ? buildingName(a.subject) : a.subject;
}

function alertItem(a) {
  const active = a.cleared_at == null;
  const classes = ["alert", active ? "active" : "cleared"];
  if (WARNINGS.has(a.kind)) classes.push("warn");
  if (a.acked_at != null) classes.push("acked");
  if (state.fresh.has(a.id)) classes.push("fresh");
  const subject = subjectName(a);
  const stateText = active ? t("dashboard.ongoing", { duration: duration(now() - a.at) })
    : a.ended_at != null ? t("dashboard.ended", { time: when(a.ended_at), duration: duration(a.duration_s) })
    : t("dashboard.over");
  const meta = el("div", { class: "meta" }, el("span", { class: "state", text: stateText }));
  const item = el("li", { class: classes.join(" "), "data-alert": String(a.id), "data-kind": a.kind, "data-subject": a.subject },
    el("div", { class: "head" },
      el("span", { class: "kind", text: `${KIND_NAMES[a.kind] || a.kind} · ${subject}` }),
      el("time", { class: "time", text: when(a.at), datetime: new Date(a.at * 1000).toISOString() })),
    el("p", { class: "text", text: (SAYINGS[a.kind] || ((s) => t("dashboard.say.unknown", s)))({ subject }) }),
    meta);
  if (a.acked_at != null) {
    // One made on the operators' console came over MQTT: said so.
    const key = a.acked_role === "console" ? "dashboard.acked_by_console" : "dashboard.acked_by";
    item.append(el("p", { class: "acked-by", text: t(key, { name: a.acked_by, time: when(a.acked_at) }) }));
    if (a.acked_note) item.append(el("p", { class: "note", text: `“${a.acked_note}”` }));
  } else if (needsAck(a)) {
    if (state.acking?.id === a.id) item.append(ackForm(a));
    else {
      const button = el("button", { type: "button", class: "ack", "data-alert": String(a.id), "data-focus": `ack-${a.id}`, text: t("dashboard.acknowledge") });
      button.addEventListener("click", () => { state.acking = { id: a.id, name: localStorage.getItem(NAME_KEY) || "", note: "", error: "" }; renderAlerts(); item.ownerDocument.querySelector(`[data-focus="name-${a.id}"]`)?.focus(); });
      meta.append(button);
    }
  }
  return item;
}

// The acknowledgement: who (required, remembered in this browser) and an optional note.
function ackForm(a) {
  const form = el("form", { class: "ack-form", "data-alert": String(a.id) });
  const name = el("input", { name: "by", maxlength: "64", autocomplete: "name", "data-focus": `name-${a.id}`, id: `ack-name-${a.id}` });
  // What was typed survives a re-render (a new alert arriving meanwhile).
  name.value = state.acking.name;
  name.addEventListener("input", () => { state.acking.name = name.value; });
  const note = el("input", { name: "note", maxlength: String(MAX_NOTE), "data-focus": `note-${a.id}`, id: `ack-note-${a.id}`, placeholder: t("dashboard.note_placeholder") });
  note.value = state.acking.note;
  note.addEventListener("input", () => { state.acking.note = note.value; });
  const error = el("p", { class: "ack-error", role: "alert", text: state.acking.error });
  const cancel = el("button", { type: "button", text: t("dashboard.cancel"), "data-focus": `cancel-${a.id}` });
  cancel.addEventListener("click", () => { state.acking = null; renderAlerts(); });
  form.append(
    el("label", { for: `ack-name-${a.id}`, text: t("dashboard.your_name") }), name,
    el("label", { for: `ack-note-${a.id}`, text: t("dashboard.note") }), note,
    error,
    el("div", { class: "buttons" }, el("button", { type: "submit", class: "primary", text: t("dashboard.confirm"), "data-focus": `confirm-${a.id}` }), cancel));
  form.addEventListener("submit", (event) => { event.preventDefault(); acknowledge(a.id, name.value.trim(), note.value.trim()); });
  return form;
}

async function acknowledge(id, by, note) {
  if (!by) {
    state.acking.error = t("dashboard.name_needed");
    renderAlerts();
    document.querySelector(`[data-focus="name-${id}"]`)?.focus();
    return;
  }
  localStorage.setItem(NAME_KEY, by);
  try {
    const response = await fetch(`/api/alerts/${id}/ack`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by, note }),
    });
    if (!response.ok) throw new Error(String(response.status));
    const row = await response.json();
    state.alerts.set(row.id, row);
    state.acking = null;
  } catch (error) {
    if (state.acking) state.acking.error = t("dashboard.ack_failed", { status: error.message });
  }
  renderAlerts();
}

// A new alert: announced to screen readers, and a short tone when the operator asked for one.
function announce(a) {
  if (a.ends != null) return;
  $("alert-announcer").textContent = t("dashboard.new_alert", { kind: KIND_NAMES[a.kind] || a.kind, subject: subjectName(a) });
  if ($("sound").checked) beep();
}

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const tone = audio.createOscillator(), gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.6);
  } catch (error) { /* no sound on this device */ }
}

// ---- audit trail: who unblurred, saved, validated, acknowledged, signed in, from where --------

async function refreshAudit() {
  try {
    const entries = await getJson("/api/audit");
    const labels = [...document.querySelectorAll(".audit thead th")].map((th) => th.textContent);
    const cell = (i, attrs) => el("td", { "data-label": labels[i] || "", ...attrs });
    const rows = entries.map((e) => el("tr", { "data-action": e.action, "data-subject": e.subject },
      cell(0, { text: when(e.at) }), cell(1, { class: "action", text: AUDIT_NAMES[e.action] || e.action }),
      cell(2, { class: "who", text: ROLES[e.who] || e.who }), cell(3, { class: "from", text: e.from }),
      cell(4, { class: "subject", text: e.subject }), cell(5, { class: "detail", text: said(e.said, e.detail) })));
    $("audit").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "6", text: t("dashboard.audit_empty") }))]));
  } catch (error) { /* the next refresh tries again */ }
}

function connectEvents() {
  const live = $("live-state");
  const source = new EventSource("/api/events");
  source.onopen = () => { live.className = "pill ok"; live.textContent = t("dashboard.live_ok"); loadAlerts(); };
  source.onerror = () => { live.className = "pill warn"; live.textContent = t("dashboard.live_retry"); };
  source.addEventListener("alert", (event) => {
    const change = JSON.parse(event.data);
    if (!state.alerts.has(change.id)) {
      state.fresh.add(change.id);
      setTimeout(() => state.fresh.delete(change.id), 1500);
      announce(change);
    }
    state.alerts.set(change.id, change);
    renderAlerts();
  });
  source.addEventListener("interval", () => { refreshHistory(); refreshOverview(); });
  source.addEventListener("resync", () => { loadAlerts(); refreshHistory(); });
}

// ---- start ----------------------------------------------------------------------------------

// The clock, and the durations of ongoing incidents, changed in place: a list rebuilt every
// second would take a button away from under a pointer or the keyboard focus.
function tick() {
  $("clock").textContent = formatTime(now(), true);
  for (const item of document.querySelectorAll("#alerts li.alert.active")) {
    const a = state.alerts.get(Number(item.dataset.alert));
    const text = item.querySelector(".state");
    if (a && text) text.textContent = t("dashboard.ongoing", { duration: duration(now() - a.at) });
  }
}

async function start() {
  languageSwitch($("language"));
  const sound = $("sound");
  sound.checked = localStorage.getItem(SOUND_KEY) === "on";
  sound.addEventListener("change", () => { localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off"); if (sound.checked) beep(); });
  for (const button of document.querySelectorAll(".range button")) {
    button.addEventListener("click", () => chooseRange(Number(button.dataset.hours)));
  }
  try {
    state.site = await getJson("/api/site");
    if (state.site.time_zone) setTimeZone(state.site.time_zone);
    document.title = `${t("dashboard.title")} · ${state.site.site_name || state.site.site}`;
  } catch (error) { /* the overview says whether the node answers */ }
  chooseRange(state.hours);
  tick(); setInterval(tick, 1000);
  await refreshOverview();
  setInterval(refreshOverview, 2000);
  setInterval(refreshHistory, 60000);
  refreshAudit(); setInterval(refreshAudit, 5000);
  loadAlerts();
  connectEvents();
}

start();
