// The operators' console: buildings, nodes and cameras by state, and the incidents, from
// /api/nodes and /api/alerts, read again on each `change` of the live stream (/api/events), and
// every few seconds without one (a token cannot ride on an EventSource: with a token, polling). Texts through the catalogues (t()),
// times in the community's time zone when the server names one, else the browser's. Every text
// that came from a node or a person is set as text, never as markup.
import { t, translate, languageSwitch, setTimeZone, currentTimeZone, formatDateTime } from "/console/i18n/i18n.js";

const POLL_MS = 3000;
// With the stream live, the ages of the last messages still move: read again this often.
const LIVE_POLL_MS = 15000;
let live = false;
let lastRefresh = 0;
let pending;
const TOKEN_KEY = "lintel_console_token";
let page = 1;
let pages = 1;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function headers(json) {
  const h = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h.Authorization = `Bearer ${token}`;
  if (json) h["Content-Type"] = "application/json";
  return h;
}

class Refused extends Error {}

async function api(path, options = {}) {
  const answer = await fetch(path, { ...options, headers: headers(options.body !== undefined), cache: "no-store" });
  if (answer.status === 401) {
    $("token-form").hidden = false;
    throw new Refused(t("console.need_token"));
  }
  if (!answer.ok && answer.status !== 409) throw new Error((await answer.text()).trim() || String(answer.status));
  return answer.json();
}

function duration(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return t("console.duration_h", { h, m });
  if (m > 0) return t("console.duration_m", { m, s });
  return t("console.duration_s", { s });
}

function kindText(kind) {
  const key = `console.kind.${kind}`;
  const text = t(key);
  return text === key ? kind : text;
}

function drawPicture(picture) {
  if (picture.time_zone) setTimeZone(picture.time_zone);
  $("zone").textContent = t("console.times_in", { zone: currentTimeZone() });
  const buildings = $("buildings");
  buildings.replaceChildren(...picture.buildings.map((b) => {
    const over = b.capacity != null && b.occupancy != null && b.occupancy > b.capacity;
    const tile = el("div", `tile${over ? " bad" : b.complete === false ? " warn" : ""}`);
    tile.dataset.building = `${b.site}/${b.building}`;
    tile.append(el("div", "name", `${b.site}/${b.building}`));
    const people = b.occupancy == null ? "–" : b.capacity == null ? String(b.occupancy) : `${b.occupancy} / ${b.capacity}`;
    tile.append(el("div", "", t("console.occupancy", { people })));
    tile.append(el("div", "muted", b.complete === false ? t("console.incomplete") : b.complete ? t("console.complete") : ""));
    return tile;
  }));
  if (!picture.buildings.length) buildings.replaceChildren(el("p", "muted", t("console.none_yet")));
  const nodes = $("nodes");
  nodes.replaceChildren(...picture.nodes.map((n) => {
    const tile = el("div", `tile${n.online ? "" : " bad"}`);
    tile.dataset.node = n.node;
    tile.dataset.online = String(n.online);
    tile.append(el("div", "name", `${n.site}/${n.node}`));
    tile.append(el("div", "", n.online ? t("console.online") : t("console.offline")));
    tile.append(el("div", "muted", t("console.heard", { age: duration(n.last_message_age_s) })));
    if (n.version) tile.append(el("div", "muted", t("console.version", { version: n.version })));
    if (n.web) {
      const link = el("a", "", t("console.setup_page"));
      // The node's status says where its pages are; the technicians' set-up page is /calibrate there.
      link.href = new URL("calibrate", n.web).href;
      link.rel = "noopener noreferrer";
      tile.append(link);
    }
    const cams = el("div", "");
    for (const c of n.cameras) {
      const chip = el("span", `cam ${c.state}`, `${c.id} · ${t(`console.camera.${c.state}`)}`);
      chip.dataset.camera = c.id;
      cams.append(chip);
    }
    tile.append(cams);
    return tile;
  }));
  if (!picture.nodes.length) nodes.replaceChildren(el("p", "muted", picture.gathered ? t("console.none_yet") : t("console.not_gathered")));
  const online = picture.nodes.filter((n) => n.online).length;
  const open = Object.values(picture.open_by_kind || {}).reduce((a, b) => a + b, 0);
  $("summary").textContent = t("console.summary", { online, nodes: picture.nodes.length, open });
  // A webhook that fails is itself something for the person on duty to see.
  const failing = (picture.webhooks || []).filter((h) => h.failing);
  $("hooks").textContent = failing.map((h) => t("console.hook_failing", { name: h.name, error: h.last_error || "" })).join(" · ");
  $("hooks").hidden = failing.length === 0;
}

function ackCell(incident) {
  const cell = el("td", "ack");
  const ack = incident.acknowledged;
  if (ack) {
    cell.append(el("div", "", t("console.acked_by", { name: ack.by, when: formatDateTime(ack.at) })));
    if (ack.note) cell.append(el("div", "muted", ack.note));
    return cell;
  }
  const form = el("form", "ack-form");
  const name = el("input");
  name.name = "name";
  name.required = true;
  name.maxLength = 64;
  name.placeholder = t("console.your_name");
  name.value = localStorage.getItem("lintel_console_name") || "";
  const note = el("input");
  note.name = "note";
  note.maxLength = 500;
  note.placeholder = t("console.note");
  const button = el("button", "", t("console.ack"));
  button.type = "submit";
  form.append(name, note, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      localStorage.setItem("lintel_console_name", name.value.trim());
      await api(`/api/alerts/${incident.id}/ack`, {
        method: "POST",
        body: JSON.stringify({ name: name.value, note: note.value }),
      });
      await refresh();
    } catch (error) {
      showProblem(error.message);
      button.disabled = false;
    }
  });
  cell.append(form);
  return cell;
}

function drawIncidents(list) {
  pages = Math.max(1, list.pages);
  $("incident-count").textContent = t("console.count", { total: list.total });
  $("page").textContent = t("console.page", { page: list.page, pages });
  $("prev").disabled = page <= 1;
  $("next").disabled = page >= pages;
  // Do not redraw under a person typing an acknowledgement.
  const typing = document.activeElement && document.activeElement.closest && document.activeElement.closest("#incidents form");
  if (typing) return;
  $("incidents").replaceChildren(...list.incidents.map((i) => {
    const row = el("tr", i.open ? "open" : "ended");
    row.dataset.id = String(i.id);
    row.dataset.kind = i.kind;
    row.append(el("td", "", kindText(i.kind)));
    const subject = el("td", "", i.subject);
    if (i.building) subject.append(el("div", "muted", i.building));
    if (i.message) subject.append(el("div", "muted", i.message));
    row.append(subject);
    row.append(el("td", "", `${i.site}/${i.node}`));
    row.append(el("td", "", formatDateTime(i.started)));
    row.append(el("td", "duration", duration(i.duration_s)));
    const state = i.open ? t("console.state_open") : t("console.ended_by", { kind: kindText(i.ended.kind), when: formatDateTime(i.ended.at) });
    row.append(el("td", "state", state));
    row.append(ackCell(i));
    return row;
  }));
}

function showProblem(text) {
  $("problem").textContent = text;
  $("problem").hidden = !text;
}

function query() {
  const params = new URLSearchParams({ state: $("f-state").value, page: String(page) });
  for (const [name, id] of [["ack", "f-ack"], ["site", "f-site"], ["building", "f-building"], ["kind", "f-kind"]]) {
    const value = $(id).value.trim();
    if (value) params.set(name, value);
  }
  return params.toString();
}

async function refresh() {
  lastRefresh = Date.now();
  try {
    const [picture, list] = await Promise.all([api("/api/nodes"), api(`/api/alerts?${query()}`)]);
    drawPicture(picture);
    drawIncidents(list);
    $("token-form").hidden = true;
    showProblem("");
    $("updated").textContent = t("console.updated", { when: formatDateTime(new Date(), { timeStyle: "medium" }) });
  } catch (error) {
    showProblem(error.message);
  }
}

languageSwitch($("language"));
translate();
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  refresh();
});
$("filters").addEventListener("input", () => {
  page = 1;
  refresh();
});
$("filters").addEventListener("submit", (event) => event.preventDefault());
$("prev").addEventListener("click", () => { page = Math.max(1, page - 1); refresh(); });
$("next").addEventListener("click", () => { page = Math.min(pages, page + 1); refresh(); });
function connectStream() {
  if (sessionStorage.getItem(TOKEN_KEY) || typeof EventSource === "undefined") return;
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => { live = true; });
  // The browser reconnects by itself; meanwhile the page polls.
  source.addEventListener("error", () => { live = false; });
  source.addEventListener("change", () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, 200);
  });
}

await refresh();
connectStream();
setInterval(() => {
  if (!live || Date.now() - lastRefresh >= LIVE_POLL_MS) refresh();
}, POLL_MS);
