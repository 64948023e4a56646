// The technicians' page: the live picture (people blurred on the box), the detector's boxes and
// foot points, and each zone with its running entries and exits; zones drawn and edited on the
// picture, and saved to the site file (the running node counts on them at once).
// Coordinates are normalised (0..1) everywhere, as in the site file. No track id exists here.
"use strict";

const COLOURS = ["#4fa3ff", "#f0b429", "#c678dd", "#56d4bc", "#ff7b72", "#a5d6ff"];
const state = {
  cameras: [], camera: null, live: null, loading: false,
  draft: null,      // the zones being edited (a copy), or null when nothing changed
  mode: null,       // null, "line" or "polygon": what clicks on the picture add
  pending: [],      // the points clicked so far for the zone being added
  dragging: null,   // { zone, point } while a point is dragged
  flow: null,       // the flow map, while shown
  showFlow: false,
};

function camera() { return state.cameras.find((c) => c.id === state.camera); }
function zones() { return state.draft || (camera() ? camera().zones : []); }

function edit() {
  if (!state.draft) state.draft = structuredClone(camera().zones);
  return state.draft;
}

async function loadCameras() {
  state.cameras = await getJson("/api/calibrate/cameras");
  const select = $("camera");
  const chosen = state.camera;
  select.replaceChildren(...state.cameras.map((c) => el("option", { value: c.id, text: `${c.id} (${c.entrance})` })));
  state.camera = state.cameras.some((c) => c.id === chosen) ? chosen : (state.cameras[0] || {}).id || null;
  select.value = state.camera || "";
}

async function refreshLive() {
  if (!state.camera) return;
  try {
    state.live = await getJson(`/api/calibrate/${encodeURIComponent(state.camera)}/live`);
  } catch (error) { state.live = null; }
  if (!state.dragging) render();
}

// A new picture once the previous one is shown: never more requests than the link carries.
function refreshPicture() {
  if (!state.camera || state.loading) return;
  state.loading = true;
  const query = state.live && state.live.unblurred_s > 0 ? "clear=1&" : "";
  const next = new Image();
  next.onload = () => { $("picture").src = next.src; state.loading = false; };
  next.onerror = () => { state.loading = false; };
  next.src = `/api/calibrate/${encodeURIComponent(state.camera)}/frame.jpg?${query}t=${Date.now()}`;
}

// ---- drawing --------------------------------------------------------------------------------

function render() {
  const live = state.live;
  const overlay = $("overlay");
  overlay.replaceChildren();
  overlay.classList.toggle("drawing", state.mode != null);
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
  if (state.showFlow && state.flow) drawFlow(overlay, state.flow);
  zones().forEach((zone, i) => drawZone(overlay, zone, i));
  renderValidation();
  for (const [x, y] of state.pending) overlay.append(svg("circle", { cx: x, cy: y, r: 0.008, class: "draft-point" }));
  renderZones();
}

// The flow map: cells shaded by how many feet passed, arrows the mean way they went, and the
// suggested line dashed. Sums per cell only: no person, no trail.
function drawFlow(overlay, flow) {
  const [cw, ch] = [1 / flow.columns, 1 / flow.rows];
  const group = svg("g", { class: "flow" });
  flow.heat.forEach((heat, cell) => {
    if (heat < 0.03) return;
    const [x, y] = [(cell % flow.columns) * cw, Math.floor(cell / flow.columns) * ch];
    group.append(svg("rect", { x, y, width: cw, height: ch, class: "heat", "fill-opacity": (0.12 + 0.5 * heat).toFixed(2) }));
    const [dx, dy] = flow.directions[cell];
    const length = Math.hypot(dx, dy);
    if (heat > 0.15 && length > 0) {
      const [ux, uy] = [dx / length * cw * 0.45, dy / length * ch * 0.45];
      const [mx, my] = [x + cw / 2, y + ch / 2];
      group.append(svg("line", { x1: mx - ux, y1: my - uy, x2: mx + ux, y2: my + uy, class: "flow-arrow" }));
      group.append(svg("circle", { cx: mx + ux, cy: my + uy, r: 0.003, class: "flow-head" }));
    }
  });
  if (flow.suggestion) {
    const [[ax, ay], [bx, by]] = flow.suggestion.points;
    group.append(svg("line", { x1: ax, y1: ay, x2: bx, y2: by, class: "suggestion" }));
  }
  overlay.append(group);
}

async function refreshFlow() {
  if (!state.camera || !state.showFlow) return;
  try { state.flow = await getJson(`/api/calibrate/${encodeURIComponent(state.camera)}/flow`); } catch (error) { state.flow = null; }
  $("use-suggestion").disabled = !(state.flow && state.flow.suggestion);
}

function toggleFlow() {
  state.showFlow = !state.showFlow;
  $("flow-toggle").classList.toggle("active", state.showFlow);
  if (state.showFlow) refreshFlow(); else { state.flow = null; $("use-suggestion").disabled = true; }
  render();
}

function useSuggestion() {
  if (!state.flow || !state.flow.suggestion) return;
  edit().push({ name: uniqueName("line"), kind: "line", points: state.flow.suggestion.points, entry_side: "right", min_distance: 0.01, aggregate: true });
  changed();
  render();
}

// A line with an arrow towards its in side; a polygon filled lightly; handles to drag.
function drawZone(overlay, zone, index) {
  const colour = COLOURS[index % COLOURS.length];
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
  // Round on screen whatever the picture's shape: the overlay's units are stretched to it.
  const aspect = state.live ? state.live.width / state.live.height : 4 / 3;
  zone.points.forEach(([x, y], point) => {
    const handle = svg("ellipse", { cx: x, cy: y, rx: 0.008, ry: 0.008 * aspect, class: "handle", "data-zone": String(index), "data-point": String(point) });
    handle.addEventListener("pointerdown", (event) => {
      if (state.mode) return;
      event.preventDefault();
      state.dragging = { zone: index, point };
      $("overlay").setPointerCapture(event.pointerId);
    });
    group.append(handle);
  });
  overlay.append(group);
}

// Where an event is on the picture, normalised and kept inside it.
function position(event) {
  const rect = $("overlay").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
}

function uniqueName(base) {
  const names = new Set(zones().map((z) => z.name));
  for (let n = 1; ; n++) if (!names.has(`${base}-${n}`)) return `${base}-${n}`;
}

function onPictureClick(event) {
  if (!state.mode) return;
  const point = position(event);
  if (state.mode === "line") {
    state.pending.push(point);
    if (state.pending.length === 2) {
      edit().push({ name: uniqueName("line"), kind: "line", points: state.pending, entry_side: "right", min_distance: 0.01, aggregate: true });
      finishAdding();
    }
  } else {
    const first = state.pending[0];
    const closes = first && state.pending.length >= 3 && Math.hypot(point[0] - first[0], point[1] - first[1]) < 0.02;
    if (closes) {
      edit().push({ name: uniqueName("door"), kind: "polygon", points: state.pending, min_distance: 0.01, aggregate: true });
      finishAdding();
    } else {
      state.pending.push(point);
    }
  }
  render();
}

function startAdding(mode) {
  state.mode = state.mode === mode ? null : mode;
  state.pending = [];
  $("add-line").classList.toggle("active", state.mode === "line");
  $("add-polygon").classList.toggle("active", state.mode === "polygon");
  $("mode").textContent = state.mode === "line" ? "Click A, then B. Entering is crossing to the side the green arrow shows."
    : state.mode === "polygon" ? "Click each corner; click the first corner again to close the door." : "";
  render();
}

function finishAdding() { state.pending = []; startAdding(null); changed(); }

// ---- the zone list --------------------------------------------------------------------------

let renderedZones = null;

function renderZones() {
  const list = $("zones");
  const c = camera();
  const all = zones();
  // The list is rebuilt only when the zones change; otherwise only the counts are updated, so
  // what the technician is pointing at or typing into stays put.
  const key = JSON.stringify([state.camera, state.draft != null, all]);
  if (key === renderedZones) {
    all.forEach((zone, i) => {
      const tally = !state.draft && state.live && state.live.zones[i];
      const item = list.children[i];
      if (!item || !item.querySelector(".zone-counts")) return;
      item.querySelector(".zone-counts .in").textContent = tally ? `${tally.entries} in` : "– in";
      item.querySelector(".zone-counts .out").textContent = tally ? `${tally.exits} out` : "– out";
    });
    return;
  }
  const active = document.activeElement;
  // Never rebuilt under the technician's typing.
  if (active && list.contains(active) && active.tagName === "INPUT" && active.type !== "checkbox") return;
  renderedZones = key;
  if (!c) { list.replaceChildren(el("li", { class: "empty", text: "No camera." })); return; }
  if (!all.length) { list.replaceChildren(el("li", { class: "empty", text: "No zone on this camera: add a line or a door." })); return; }
  list.replaceChildren(...all.map((zone, i) => {
    const tally = !state.draft && state.live && state.live.zones[i];
    const swatch = el("i", { class: "swatch" });
    swatch.style.background = COLOURS[i % COLOURS.length];
    const name = el("input", { class: "zone-name", value: zone.name, "data-field": "name", "data-index": String(i), "aria-label": "Zone name", maxlength: "64" });
    name.addEventListener("input", () => { edit()[i].name = name.value; changed(); });
    const row = el("div", { class: "row" });
    if (zone.kind === "line") {
      const flip = el("button", { type: "button", class: "flip", text: "Flip in/out", title: "Swap the in and out sides" });
      flip.addEventListener("click", () => { const z = edit()[i]; z.entry_side = z.entry_side === "left" ? "right" : "left"; changed(); render(); });
      row.append(flip);
    }
    const hysteresis = el("input", { type: "number", min: "0", max: "20", step: "0.5", value: (zone.min_distance * 100).toFixed(1), "data-field": "hysteresis", "data-index": String(i), "aria-label": "Hysteresis" });
    hysteresis.addEventListener("change", () => { edit()[i].min_distance = Math.max(0, Number(hysteresis.value) || 0) / 100; changed(); });
    row.append(el("label", { title: "How far past the line a person must be before the side counts, in % of the picture's height" }, "hysteresis ", hysteresis, " %"));
    const aggregate = el("input", { type: "checkbox", "data-field": "aggregate", "data-index": String(i) });
    aggregate.checked = zone.aggregate;
    aggregate.addEventListener("change", () => { edit()[i].aggregate = aggregate.checked; changed(); });
    row.append(el("label", { title: "Counts add into the entrance and building; unticked: a trial zone, counted on its own" }, aggregate, " adds up"));
    const remove = el("button", { type: "button", class: "delete", text: "Delete" });
    remove.addEventListener("click", () => { edit().splice(i, 1); changed(); render(); });
    row.append(remove);
    return el("li", { class: "zone-item", "data-zone": zone.name },
      el("div", { class: "zone-head" }, swatch, name, el("span", { class: "muted", text: zone.kind + (zone.aggregate ? "" : " · trial") })),
      el("div", { class: "zone-counts" },
        el("span", { class: "in", text: tally ? `${tally.entries} in` : "– in" }),
        el("span", { class: "out", text: tally ? `${tally.exits} out` : "– out" })),
      el("div", { class: "muted small", text: zone.entry_side ? `in: the ${zone.entry_side} of A→B (green arrow)` : "in: stepping inside" }),
      row);
  }));
}

function changed() {
  $("save").disabled = !state.draft;
  $("discard").disabled = !state.draft;
  status("Unsaved changes: the node still counts on the saved zones.", "");
}

function status(text, kind) {
  const line = $("save-status");
  line.textContent = text;
  line.className = `save-status ${kind}`;
}

async function save() {
  const draft = state.draft;
  if (!draft) return;
  const names = draft.map((z) => z.name.trim());
  if (names.some((n) => !n)) { status("Every zone needs a name.", "error"); return; }
  if (new Set(names).size !== names.length) { status("Two zones have the same name.", "error"); return; }
  $("save").disabled = true;
  status("Saving…", "");
  try {
    const response = await fetch(`/api/calibrate/${encodeURIComponent(state.camera)}/zones`, {
      method: "PUT", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(draft),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { status(answer.error || `Not saved (${response.status}).`, "error"); $("save").disabled = false; return; }
    camera().zones = answer.zones;
    state.draft = null;
    renderValidationZones();
    $("discard").disabled = true;
    status(`Saved at ${new Date().toLocaleTimeString()}: the node counts on these zones now.`, "ok");
    render();
  } catch (error) {
    status("Not saved: the node did not answer.", "error");
    $("save").disabled = false;
  }
}

function discard() {
  state.draft = null;
  state.pending = [];
  startAdding(null);
  $("save").disabled = true;
  $("discard").disabled = true;
  status("", "");
  render();
}

// ---- validation: the technician's tally against Lintel's ----------------------------------

const validation = { running: false, manualIn: 0, manualOut: 0, zone: null, start: null };

function renderValidationZones() {
  const select = $("validate-zone");
  const current = select.value;
  const names = (camera() ? camera().zones : []).map((z) => z.name);
  select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  if (names.includes(current)) select.value = current;
}

function renderValidation() {
  $("manual-in").textContent = String(validation.manualIn);
  $("manual-out").textContent = String(validation.manualOut);
  if (validation.running && state.live && !state.draft) {
    const index = camera().zones.findIndex((z) => z.name === validation.zone);
    const tally = state.live.zones[index];
    if (tally && validation.start) {
      const lintelIn = tally.entries - validation.start.entries, lintelOut = tally.exits - validation.start.exits;
      $("lintel-in").textContent = String(lintelIn);
      $("lintel-out").textContent = String(lintelOut);
      $("agreement").textContent = agreementText(validation.manualIn, validation.manualOut, lintelIn, lintelOut);
    }
  }
}

function agreementText(manualIn, manualOut, lintelIn, lintelOut) {
  const manual = manualIn + manualOut;
  if (!manual) return "";
  const agreement = Math.max(0, 1 - (Math.abs(manualIn - lintelIn) + Math.abs(manualOut - lintelOut)) / manual);
  return `agreement ${(agreement * 100).toFixed(1)}% over ${manual} crossings`;
}

async function startValidation() {
  const zone = $("validate-zone").value;
  if (!zone || state.draft) { status(state.draft ? "Save or discard the zones first." : "Choose a zone.", "error"); return; }
  const response = await fetch(`/api/calibrate/${encodeURIComponent(state.camera)}/validation/start`, {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ zone }) });
  if (!response.ok) { status("The validation did not start.", "error"); return; }
  const index = camera().zones.findIndex((z) => z.name === zone);
  const tally = state.live && state.live.zones[index];
  Object.assign(validation, { running: true, manualIn: 0, manualOut: 0, zone, start: tally ? { ...tally } : { entries: 0, exits: 0 } });
  for (const id of ["validate-stop", "tap-in", "tap-out"]) $(id).disabled = false;
  $("validate-start").disabled = true;
  $("agreement").textContent = "";
  renderValidation();
}

async function stopValidation() {
  const response = await fetch(`/api/calibrate/${encodeURIComponent(state.camera)}/validation/stop`, {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ manual_in: validation.manualIn, manual_out: validation.manualOut }) });
  validation.running = false;
  for (const id of ["validate-stop", "tap-in", "tap-out"]) $(id).disabled = true;
  $("validate-start").disabled = false;
  if (!response.ok) { $("agreement").textContent = "Not kept: the node refused it."; return; }
  const result = await response.json();
  $("lintel-in").textContent = String(result.lintel_in);
  $("lintel-out").textContent = String(result.lintel_out);
  $("agreement").textContent = `Kept: ${agreementText(result.manual_in, result.manual_out, result.lintel_in, result.lintel_out) || "no crossing"}`;
  loadValidations();
}

async function loadValidations() {
  if (!state.camera) return;
  try {
    const results = await getJson(`/api/calibrate/${encodeURIComponent(state.camera)}/validations`);
    $("validations").replaceChildren(...results.map((r) => el("li", { text:
      `${new Date(r.started).toLocaleString()} · ${r.zone}: you ${r.manual_in}/${r.manual_out}, Lintel ${r.lintel_in}/${r.lintel_out} · ${(r.agreement * 100).toFixed(1)}%` })));
  } catch (error) { /* shown at the next look */ }
}

function tap(direction) {
  if (!validation.running) return;
  if (direction === "in") validation.manualIn += 1; else validation.manualOut += 1;
  renderValidation();
}

async function unblur() {
  if (!state.camera) return;
  const response = await fetch(`/api/calibrate/${encodeURIComponent(state.camera)}/unblur`, { method: "POST", credentials: "same-origin" });
  if (response.ok) refreshLive();
}

document.addEventListener("DOMContentLoaded", async () => {
  await loadCameras();
  renderValidationZones();
  loadValidations();
  $("validate-start").addEventListener("click", startValidation);
  $("validate-stop").addEventListener("click", stopValidation);
  $("tap-in").addEventListener("click", () => tap("in"));
  $("tap-out").addEventListener("click", () => tap("out"));
  // Keys for a technician watching the door, not the screen.
  document.addEventListener("keydown", (event) => {
    if (!validation.running || event.target.tagName === "INPUT") return;
    if (event.key === "i" || event.key === "ArrowUp") tap("in");
    if (event.key === "o" || event.key === "ArrowDown") tap("out");
  });
  $("camera").addEventListener("change", () => {
    if (state.draft && !confirm("Discard the unsaved zones?")) { $("camera").value = state.camera; return; }
    state.camera = $("camera").value; state.live = null; discard(); renderValidationZones(); loadValidations();
  });
  $("unblur").addEventListener("click", unblur);
  $("flow-toggle").addEventListener("click", toggleFlow);
  $("use-suggestion").addEventListener("click", useSuggestion);
  setInterval(refreshFlow, 2000);
  $("add-line").addEventListener("click", () => startAdding("line"));
  $("add-polygon").addEventListener("click", () => startAdding("polygon"));
  $("save").addEventListener("click", save);
  $("discard").addEventListener("click", discard);
  const overlay = $("overlay");
  overlay.addEventListener("click", onPictureClick);
  overlay.addEventListener("pointermove", (event) => {
    if (!state.dragging) return;
    edit()[state.dragging.zone].points[state.dragging.point] = position(event);
    render();
  });
  overlay.addEventListener("pointerup", () => { if (state.dragging) { state.dragging = null; changed(); } });
  refreshLive();
  setInterval(refreshLive, 400);
  setInterval(refreshPicture, 250);
});
