// The technicians' page: the live picture (people blurred on the box), the detector's boxes and
// foot points, and each zone with its running entries and exits. No track id exists here.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { cameras: [], camera: null, live: null, loading: false };
const COLOURS = ["#4fa3ff", "#f0b429", "#c678dd", "#56d4bc", "#ff7b72", "#a5d6ff"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) { location.href = "/login"; throw new Error("signed out"); }
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function camera() { return state.cameras.find((c) => c.id === state.camera); }

async function loadCameras() {
  state.cameras = await getJson("/api/calibrate/cameras");
  const select = $("camera");
  select.replaceChildren(...state.cameras.map((c) => el("option", { value: c.id, text: `${c.id} (${c.entrance})` })));
  state.camera = state.cameras.length ? state.cameras[0].id : null;
  select.addEventListener("change", () => { state.camera = select.value; state.live = null; render(); });
}

async function refreshLive() {
  if (!state.camera) return;
  try {
    state.live = await getJson(`/api/calibrate/${encodeURIComponent(state.camera)}/live`);
  } catch (error) { state.live = null; }
  render();
}

// A new picture once the previous one is shown: never more requests than the link carries.
function refreshPicture() {
  if (!state.camera || state.loading) return;
  state.loading = true;
  const clear = state.live && state.live.unblurred_s > 0 ? "?clear=1" : "";
  const next = new Image();
  next.onload = () => { $("picture").src = next.src; state.loading = false; };
  next.onerror = () => { state.loading = false; };
  next.src = `/api/calibrate/${encodeURIComponent(state.camera)}/frame.jpg${clear}${clear ? "&" : "?"}t=${Date.now()}`;
}

function render() {
  const c = camera();
  const live = state.live;
  const overlay = $("overlay");
  overlay.replaceChildren();
  if (live) {
    $("stage").style.aspectRatio = `${live.width} / ${live.height}`;
    $("frame-info").textContent = `${live.width}×${live.height} · frame ${live.frame} · ${live.people.length} people · ${live.age_ms} ms old`;
    const privacy = $("privacy");
    privacy.className = live.unblurred_s > 0 ? "pill warn" : "pill ok";
    privacy.textContent = live.unblurred_s > 0 ? `unblurred ${live.unblurred_s} s` : "people blurred";
    for (const person of live.people) {
      const [x, y, w, h] = person.bbox;
      overlay.append(svg("rect", { x, y, width: w, height: h, class: person.seen ? "person" : "person predicted" }));
      overlay.append(svg("circle", { cx: person.foot[0], cy: person.foot[1], r: 0.006, class: "foot" }));
    }
  } else {
    $("frame-info").textContent = "waiting for the camera…";
  }
  if (c) c.zones.forEach((zone, i) => drawZone(overlay, zone, COLOURS[i % COLOURS.length], live && live.zones[i]));
  renderZones(c, live);
}

// A line with an arrow towards its in side; a polygon filled lightly.
function drawZone(overlay, zone, colour, tally) {
  const group = svg("g", { class: "zone", "data-zone": zone.name });
  if (zone.kind === "line") {
    const [[ax, ay], [bx, by]] = zone.points;
    group.append(svg("line", { x1: ax, y1: ay, x2: bx, y2: by, stroke: colour, class: "zone-line" }));
    // The right-hand side of A→B on the screen (y down) is (-dy, dx).
    const [mx, my] = [(ax + bx) / 2, (ay + by) / 2];
    let [nx, ny] = [-(by - ay), bx - ax];
    if (zone.entry_side === "left") { nx = -nx; ny = -ny; }
    const norm = Math.hypot(nx, ny) || 1;
    [nx, ny] = [nx / norm * 0.06, ny / norm * 0.06];
    group.append(svg("line", { x1: mx, y1: my, x2: mx + nx, y2: my + ny, stroke: "#3fb950", class: "in-arrow" }));
    group.append(svg("circle", { cx: mx + nx, cy: my + ny, r: 0.008, fill: "#3fb950" }));
  } else {
    group.append(svg("polygon", { points: zone.points.map((p) => p.join(",")).join(" "), stroke: colour,
      fill: colour, class: "zone-polygon" }));
  }
  overlay.append(group);
}

function renderZones(c, live) {
  if (!c) { $("zones").replaceChildren(el("li", { class: "empty", text: "No camera." })); return; }
  if (!c.zones.length) { $("zones").replaceChildren(el("li", { class: "empty", text: "No zone on this camera." })); return; }
  $("zones").replaceChildren(...c.zones.map((zone, i) => {
    const tally = live && live.zones[i];
    const swatch = el("i", { class: "swatch" });
    swatch.style.background = COLOURS[i % COLOURS.length];
    return el("li", { class: "zone-item", "data-zone": zone.name },
      el("div", { class: "zone-head" }, swatch, el("span", { class: "zone-name", text: zone.name }),
        el("span", { class: "muted", text: zone.kind + (zone.aggregate ? "" : " · trial") })),
      el("div", { class: "zone-counts" },
        el("span", { class: "in", text: `${tally ? tally.entries : 0} in` }),
        el("span", { class: "out", text: `${tally ? tally.exits : 0} out` })),
      el("div", { class: "muted small", text: `hysteresis ${(zone.min_distance * 100).toFixed(1)}% of the height` + (zone.entry_side ? ` · in on the ${zone.entry_side} of A→B` : "") }));
  }));
}

async function unblur() {
  if (!state.camera) return;
  const response = await fetch(`/api/calibrate/${encodeURIComponent(state.camera)}/unblur`, { method: "POST", credentials: "same-origin" });
  if (response.ok) refreshLive();
}

document.addEventListener("DOMContentLoaded", async () => {
  await loadCameras();
  $("unblur").addEventListener("click", unblur);
  refreshLive();
  setInterval(refreshLive, 400);
  setInterval(refreshPicture, 250);
});
