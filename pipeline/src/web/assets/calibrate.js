// The technicians' page: the live picture (people blurred on the box), the detector's boxes and
// foot points, and each zone with its running entries and exits; zones drawn and edited on the
// picture, and saved to the site file (the running node counts on them at once).
// Zone points are as in the site file: normalised (0..1) on the undistorted picture, or metres on
// the floor; the overlay's own units are the displayed picture's (0..1). No track id exists here.
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
  geo: null,        // the lens and floor being edited ({ lens, floor }, a copy), or null
  saveError: null,  // the last save's error and where it belongs ({ at: { zone } or { part }, message })
  undistorted: false, // showing the undistorted picture
  entrances: [],
};

function camera() { return state.cameras.find((c) => c.id === state.camera); }
function zones() { return state.draft || (camera() ? camera().zones : []); }

function edit() {
  if (!state.draft) state.draft = structuredClone(camera().zones);
  return state.draft;
}

// ---- where things are: zone space ↔ undistorted pixels ↔ the displayed picture --------------

function setup() { return state.geo || { lens: (camera() || {}).lens || null, floor: (camera() || {}).floor || null }; }
function editGeo() {
  if (!state.geo) state.geo = structuredClone(setup());
  return state.geo;
}
function size() { return state.live ? [state.live.width, state.live.height] : [4, 3]; }
function lensNow() {
  const lens = setup().lens;
  return lens && state.live ? Geometry.scaled(lens, ...size()) : null;
}
// The floor's homographies for the live picture, made again only when the floor changes.
let floorCache = { key: null, toPicture: null, toFloor: null };
function floorNow() {
  const floor = setup().floor;
  if (!floor || !state.live) return null;
  const key = JSON.stringify([floor, size()]);
  if (floorCache.key !== key) {
    const [w, h] = size();
    const toPicture = Geometry.homography(floor.metres, floor.points.map(([x, y]) => [x * w, y * h]));
    floorCache = { key, toPicture, toFloor: toPicture && Geometry.invert(toPicture) };
  }
  return floorCache.toPicture ? floorCache : null;
}
// Undistorted pixels → the displayed picture (0..1).
function toDisplay(p) {
  const lens = lensNow();
  const [w, h] = size();
  const [x, y] = lens && !state.undistorted ? Geometry.distort(lens, p) : p;
  return [x / w, y / h];
}
function fromDisplay([x, y]) {
  const lens = lensNow();
  const [w, h] = size();
  const p = [x * w, y * h];
  return lens && !state.undistorted ? Geometry.undistort(lens, p) : p;
}
// A point of the camera's picture (0..1, as the node's boxes are) on the displayed picture.
function cameraToDisplay([x, y]) {
  const lens = lensNow();
  if (!lens || !state.undistorted) return [x, y];
  const [w, h] = size();
  const [u, v] = Geometry.undistort(lens, [x * w, y * h]);
  return [u / w, v / h];
}
// A zone's point (normalised, or metres on the floor) in undistorted pixels; null if not seen.
function zoneToPixels(zone, p) {
  if (zone.space === "floor") { const floor = floorNow(); return floor ? Geometry.apply(floor.toPicture, p) : null; }
  const [w, h] = size();
  return [p[0] * w, p[1] * h];
}
function zonePointToDisplay(zone, p) { const u = zoneToPixels(zone, p); return u ? toDisplay(u) : null; }
function displayToZonePoint(zone, d) {
  const u = fromDisplay(d);
  if (zone.space === "floor") {
    const floor = floorNow();
    const m = floor && Geometry.apply(floor.toFloor, u);
    return m ? m.map((v) => Math.round(v * 1000) / 1000) : null;
  }
  const [w, h] = size();
  // Through a lens the undistorted picture reaches beyond the frame: the node allows 0.5 more.
  const margin = setup().lens ? 0.5 : 0;
  const clamp = (v) => Math.round(Math.min(1 + margin, Math.max(-margin, v)) * 1e6) / 1e6;
  return [clamp(u[0] / w), clamp(u[1] / h)];
}
// Points along a zone's segment from a to b, in display units: straight in zone space, so curved
// on a distorting lens's picture, as the node sees it.
function segment(zone, a, b, steps) {
  const points = [];
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    const p = zonePointToDisplay(zone, [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]);
    if (p) points.push(p);
  }
  return points;
}
function curved() { return !!lensNow() && !state.undistorted; }

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
  const query = (state.live && state.live.unblurred_s > 0 ? "clear=1&" : "") + (state.undistorted ? "undistort=1&" : "");
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
    const labels = [];
    for (const person of live.people) {
      const [x, y, w, h] = person.bbox;
      const [x0, y0] = cameraToDisplay([x, y]), [x1, y1] = cameraToDisplay([x + w, y + h]);
      overlay.append(svg("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, class: person.seen ? "person" : "person predicted" }));
      const [fx, fy] = cameraToDisplay(person.foot);
      overlay.append(svg("circle", { cx: fx, cy: fy, r: 0.006, class: "foot" }));
      if (person.height_m != null) labels.push([x0, y0, `${person.height_m.toFixed(2)} m`]);
    }
    renderLabels(labels);
    const implausible = live.implausible ? ` · ${live.implausible} box${live.implausible > 1 ? "es" : ""} of no person's height dropped` : "";
    $("frame-info").textContent += implausible;
  } else {
    $("frame-info").textContent = "waiting for the camera…";
    renderLabels([]);
  }
  drawFloor(overlay);
  if (state.showFlow && state.flow) drawFlow(overlay, state.flow);
  zones().forEach((zone, i) => drawZone(overlay, zone, i));
  renderValidation();
  for (const p of state.pending) {
    const [x, y] = zonePointToDisplay({}, p);
    overlay.append(svg("circle", { cx: x, cy: y, r: 0.008, class: "draft-point" }));
  }
  renderZones();
  renderGeometry();
}

// Heights beside the boxes: HTML over the picture, so the text is not stretched with it.
function renderLabels(labels) {
  $("labels").replaceChildren(...labels.map(([x, y, text]) => {
    const label = el("span", { class: "height-label", text });
    label.style.left = `${(x * 100).toFixed(2)}%`;
    label.style.top = `${(y * 100).toFixed(2)}%`;
    return label;
  }));
}

// The floor: its four points (draggable), and a one-metre grid over it that should lie flat on the
// floor in the picture when the distances are right.
function drawFloor(overlay) {
  const floor = setup().floor;
  if (!floor || !state.live) return;
  const group = svg("g", { class: "floor" });
  const homographies = floorNow();
  if (homographies) {
    const xs = floor.metres.map((m) => m[0]), ys = floor.metres.map((m) => m[1]);
    const [x0, x1, y0, y1] = [Math.floor(Math.min(...xs)) - 1, Math.ceil(Math.max(...xs)) + 1, Math.floor(Math.min(...ys)) - 1, Math.ceil(Math.max(...ys)) + 1];
    const grid = { space: "floor" };
    const lines = [];
    for (let x = x0; x <= x1 && lines.length < 60; x++) lines.push(segment(grid, [x, y0], [x, y1], 12));
    for (let y = y0; y <= y1 && lines.length < 120; y++) lines.push(segment(grid, [x0, y], [x1, y], 12));
    for (const points of lines) if (points.length > 1) group.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), class: "floor-grid" }));
  }
  const aspect = state.live.width / state.live.height;
  floor.points.forEach(([x, y], i) => {
    const [w, h] = size();
    const [dx, dy] = toDisplay([x * w, y * h]);
    const handle = svg("ellipse", { cx: dx, cy: dy, rx: 0.011, ry: 0.011 * aspect, class: "floor-handle", "data-floor-point": String(i) });
    handle.addEventListener("pointerdown", (event) => {
      if (state.mode) return;
      event.preventDefault();
      state.dragging = { floor: i };
      $("overlay").setPointerCapture(event.pointerId);
    });
    group.append(handle);
  });
  overlay.append(group);
  const labels = floor.points.map(([x, y], i) => {
    const [w, h] = size();
    const [dx, dy] = toDisplay([x * w, y * h]);
    return [dx + 0.012, dy - 0.03, `${i + 1}: ${floor.metres[i][0]}, ${floor.metres[i][1]} m`];
  });
  const container = $("labels");
  for (const [x, y, text] of labels) {
    const label = el("span", { class: "floor-label", text });
    label.style.left = `${(x * 100).toFixed(2)}%`;
    label.style.top = `${(y * 100).toFixed(2)}%`;
    container.append(label);
  }
}

// The flow map: cells shaded by how many feet passed, arrows the mean way they went, and the
// suggested line dashed. Sums per cell only: no person, no trail.
function drawFlow(overlay, flow) {
  const [cw, ch] = [1 / flow.columns, 1 / flow.rows];
  const group = svg("g", { class: "flow" });
  flow.heat.forEach((heat, cell) => {
    if (heat < 0.03) return;
    const [x, y] = [(cell % flow.columns) * cw, Math.floor(cell / flow.columns) * ch];
    // The grid is on the camera's picture: its cells are mapped to the picture shown.
    const corners = [[x, y], [x + cw, y], [x + cw, y + ch], [x, y + ch]].map(cameraToDisplay);
    group.append(svg("polygon", { points: corners.map((p) => p.join(",")).join(" "), class: "heat", "fill-opacity": (0.12 + 0.5 * heat).toFixed(2) }));
    const [dx, dy] = flow.directions[cell];
    const length = Math.hypot(dx, dy);
    if (heat > 0.15 && length > 0) {
      const [ux, uy] = [dx / length * cw * 0.45, dy / length * ch * 0.45];
      const [mx, my] = [x + cw / 2, y + ch / 2];
      const [[x1, y1], [x2, y2]] = [cameraToDisplay([mx - ux, my - uy]), cameraToDisplay([mx + ux, my + uy])];
      group.append(svg("line", { x1, y1, x2, y2, class: "flow-arrow" }));
      group.append(svg("circle", { cx: x2, cy: y2, r: 0.003, class: "flow-head" }));
    }
  });
  if (flow.suggestion) {
    const [[ax, ay], [bx, by]] = flow.suggestion.points.map(cameraToDisplay);
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
  // The flow map is on the camera's picture: its line goes where the node counts.
  const zone = { space: "picture" };
  const points = state.flow.suggestion.points.map((p) => displayToZonePoint(zone, cameraToDisplay(p)));
  edit().push({ name: uniqueName("line"), kind: "line", points, entry_side: "right", min_distance: 0.01, aggregate: true });
  changed();
  render();
}

// A line with an arrow towards its in side; a polygon filled lightly; handles to drag.
function drawZone(overlay, zone, index) {
  const colour = COLOURS[index % COLOURS.length];
  const group = svg("g", { class: "zone", "data-zone": zone.name });
  const steps = curved() || zone.space === "floor" ? 16 : 1;
  if (zone.kind === "line") {
    const [a, b] = zone.points;
    const points = segment(zone, a, b, steps);
    if (points.length < 2) return;
    group.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), stroke: colour, fill: "none", class: "zone-line" }));
    // The right-hand side of A→B (y down) is (-dy, dx), in the zone's own space; the arrow is
    // drawn where that side is on the picture.
    const m = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    let n = [-(b[1] - a[1]), b[0] - a[0]];
    if (zone.entry_side === "left") n = [-n[0], -n[1]];
    const length = Math.hypot(n[0], n[1]) || 1;
    const step = zone.space === "floor" ? 0.1 : 0.01;
    const from = zonePointToDisplay(zone, m), to = zonePointToDisplay(zone, [m[0] + n[0] / length * step, m[1] + n[1] / length * step]);
    if (from && to) {
      const d = Math.hypot(to[0] - from[0], to[1] - from[1]) || 1;
      const [nx, ny] = [(to[0] - from[0]) / d * 0.06, (to[1] - from[1]) / d * 0.06];
      group.append(svg("line", { x1: from[0], y1: from[1], x2: from[0] + nx, y2: from[1] + ny, stroke: "#3fb950", class: "in-arrow" }));
      group.append(svg("circle", { cx: from[0] + nx, cy: from[1] + ny, r: 0.008, fill: "#3fb950" }));
    }
  } else {
    const outline = zone.points.flatMap((p, i) => segment(zone, p, zone.points[(i + 1) % zone.points.length], steps).slice(0, -1));
    group.append(svg("polygon", { points: outline.map((p) => p.join(",")).join(" "), stroke: colour,
      fill: colour, class: "zone-polygon" }));
  }
  // Round on screen whatever the picture's shape: the overlay's units are stretched to it.
  const aspect = state.live ? state.live.width / state.live.height : 4 / 3;
  zone.points.forEach((p, point) => {
    const shown = zonePointToDisplay(zone, p);
    if (!shown) return;
    const [x, y] = shown;
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
  const shown = position(event);
  // New zones go in the picture: a zone is moved onto the floor from its list.
  const point = displayToZonePoint({ space: "picture" }, shown);
  if (state.mode === "line") {
    state.pending.push(point);
    if (state.pending.length === 2) {
      edit().push({ name: uniqueName("line"), kind: "line", points: state.pending, entry_side: "right", min_distance: 0.01, aggregate: true });
      finishAdding();
    }
  } else {
    const first = state.pending[0] && zonePointToDisplay({}, state.pending[0]);
    const closes = first && state.pending.length >= 3 && Math.hypot(shown[0] - first[0], shown[1] - first[1]) < 0.02;
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
  const key = JSON.stringify([state.camera, state.draft != null, all, state.saveError]);
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
    const onFloor = zone.space === "floor";
    const hysteresis = onFloor
      ? el("input", { type: "number", min: "0", max: "4.9", step: "0.05", value: zone.min_distance.toFixed(2), "data-field": "hysteresis", "data-index": String(i), "aria-label": "Hysteresis" })
      : el("input", { type: "number", min: "0", max: "20", step: "0.5", value: (zone.min_distance * 100).toFixed(1), "data-field": "hysteresis", "data-index": String(i), "aria-label": "Hysteresis" });
    hysteresis.addEventListener("change", () => { edit()[i].min_distance = Math.max(0, Number(hysteresis.value) || 0) / (onFloor ? 1 : 100); changed(); });
    row.append(el("label", { title: onFloor ? "How far past the line a person must be before the side counts, in metres" : "How far past the line a person must be before the side counts, in % of the picture's height" }, "hysteresis ", hysteresis, onFloor ? " m" : " %"));
    const aggregate = el("input", { type: "checkbox", "data-field": "aggregate", "data-index": String(i) });
    aggregate.checked = zone.aggregate;
    aggregate.addEventListener("change", () => { edit()[i].aggregate = aggregate.checked; changed(); });
    row.append(el("label", { title: "Counts add into the entrance and building; unticked: a trial zone, counted on its own" }, aggregate, " adds up"));
    const remove = el("button", { type: "button", class: "delete", text: "Delete" });
    remove.addEventListener("click", () => { edit().splice(i, 1); changed(); render(); });
    row.append(remove);
    const more = el("div", { class: "row" });
    const entrance = el("select", { "data-field": "entrance", "data-index": String(i), "aria-label": "Entrance" });
    entrance.append(el("option", { value: "", text: `${c.entrance} (the camera's)` }));
    for (const e of state.entrances) if (e.id !== c.entrance) entrance.append(el("option", { value: e.id, text: `${e.id} · ${e.building}` }));
    entrance.value = zone.entrance || "";
    entrance.addEventListener("change", () => { const z = edit()[i]; if (entrance.value) z.entrance = entrance.value; else delete z.entrance; changed(); });
    more.append(el("label", { title: "The entrance this zone's passages count for" }, "counts for ", entrance));
    if (setup().floor) {
      const floor = el("input", { type: "checkbox", "data-field": "floor", "data-index": String(i) });
      floor.checked = onFloor;
      floor.addEventListener("change", () => moveZoneSpace(i, floor.checked));
      more.append(el("label", { title: "Place the zone in metres on the floor" }, floor, " on the floor (m)"));
    }
    const error = state.saveError && state.saveError.at.zone === i ? state.saveError.message : null;
    return el("li", { class: error ? "zone-item error" : "zone-item", "data-zone": zone.name },
      error ? el("p", { class: "field-error", text: error }) : null,
      el("div", { class: "zone-head" }, swatch, name, el("span", { class: "muted", text: zone.kind + (zone.aggregate ? "" : " · trial") })),
      el("div", { class: "zone-counts" },
        el("span", { class: "in", text: tally ? `${tally.entries} in` : "– in" }),
        el("span", { class: "out", text: tally ? `${tally.exits} out` : "– out" })),
      el("div", { class: "muted small", text: (zone.entry_side ? `in: the ${zone.entry_side} of A→B (green arrow)` : "in: stepping inside") + (onFloor ? ` · ${zone.points.map((p) => `(${p[0].toFixed(2)}, ${p[1].toFixed(2)})`).join(" ")} m` : "") }),
      row, more);
  }));
}

// A zone moved between the picture and the floor stays where it is on the picture.
function moveZoneSpace(index, toFloor) {
  const zone = edit()[index];
  const target = { space: toFloor ? "floor" : "picture" };
  const points = zone.points.map((p) => { const shown = zonePointToDisplay(zone, p); return shown && displayToZonePoint(target, shown); });
  if (points.some((p) => !p)) { status("A point of the zone is beyond the floor's horizon.", "error"); render(); return; }
  zone.points = points;
  if (toFloor) { zone.space = "floor"; zone.min_distance = 0.25; } else { delete zone.space; zone.min_distance = 0.01; }
  changed();
  render();
}

function changed() {
  state.saveError = null;
  const dirty = !!(state.draft || state.geo);
  $("save").disabled = !dirty;
  $("discard").disabled = !dirty;
  status("Unsaved changes: the node still counts on the saved zones.", "");
}

function status(text, kind) {
  const line = $("save-status");
  line.textContent = text;
  line.className = `save-status ${kind}`;
}

async function save() {
  if (!state.draft && !state.geo) return;
  const draft = zones();
  const names = draft.map((z) => z.name.trim());
  if (names.some((n) => !n)) { status("Every zone needs a name.", "error"); return; }
  if (new Set(names).size !== names.length) { status("Two zones have the same name.", "error"); return; }
  $("save").disabled = true;
  status("Saving…", "");
  try {
    const response = await fetch(`/api/calibrate/${encodeURIComponent(state.camera)}/zones`, {
      method: "PUT", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ zones: draft, lens: setup().lens, floor: setup().floor }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      status(answer.error || `Not saved (${response.status}).`, "error");
      // Shown beside what it is about too: a zone of the list, or the lens or floor.
      state.saveError = answer.at ? { at: answer.at, message: answer.error } : null;
      renderedZones = null;
      render();
      $("save").disabled = false;
      return;
    }
    Object.assign(camera(), { zones: answer.zones, lens: answer.lens, floor: answer.floor });
    state.draft = null;
    state.geo = null;
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
  state.geo = null;
  state.pending = [];
  startAdding(null);
  $("save").disabled = true;
  $("discard").disabled = true;
  status("", "");
  render();
}

// ---- lens and floor -------------------------------------------------------------------------

const LENS_FIELDS = ["w", "h", "fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3"];
let renderedGeometry = null;

function renderGeometry() {
  const c = camera();
  if (!c) return;
  const { lens, floor } = setup();
  const undistorted = $("undistorted");
  undistorted.disabled = !lens;
  if (!lens && state.undistorted) { state.undistorted = false; }
  undistorted.checked = state.undistorted;
  const summary = $("lens-summary");
  summary.textContent = lens
    ? `Lens: f ${lens.focal[0].toFixed(0)} px on ${lens.size[0]}×${lens.size[1]}, k1 ${lens.distortion[0].toFixed(3)}, k2 ${lens.distortion[1].toFixed(3)}. Feet are undistorted before they meet the zones.`
    : "No lens: zones are on the camera's picture as it is.";
  summary.className = lens ? "small ok" : "small muted";
  const geometryError = state.saveError && state.saveError.at.part;
  if (geometryError === "lens") { summary.textContent = state.saveError.message; summary.className = "small error"; }
  $("floor-remove").disabled = !floor;
  $("add-floor").disabled = !!floor;
  $("floor-panel").hidden = !floor;
  const geometry = state.live && state.live.geometry;
  if (floor && geometryError === "floor") {
    $("floor-summary").textContent = state.saveError.message;
    $("floor-summary").className = "small error";
  } else if (floor) {
    $("floor-summary").className = "muted small";
    const heights = geometry && geometry.measures_height;
    $("floor-summary").textContent = !state.geo && geometry && geometry.floor_error ? `Not used: ${geometry.floor_error}`
      : heights === false ? "Heights cannot be told from this floor alone (seen straight on): enter the lens to filter by height."
      : state.geo ? "Save to count on this floor." : "Feet are placed in metres; heights shown beside the boxes.";
  }
  // Inputs are refilled only when what they show changed, never under the technician's typing.
  const key = JSON.stringify([state.camera, lens, floor]);
  if (key === renderedGeometry) return;
  const active = document.activeElement;
  if (active && $("geometry").contains(active) && active.tagName === "INPUT" && active.type !== "checkbox") return;
  renderedGeometry = key;
  const values = lens ? [lens.size[0], lens.size[1], lens.focal[0], lens.focal[1], lens.centre[0], lens.centre[1], ...lens.distortion] : [];
  LENS_FIELDS.forEach((field, i) => { document.querySelector(`[data-lens="${field}"]`).value = lens ? String(+values[i].toFixed(6)) : ""; });
  if (!lens && state.live) {
    document.querySelector('[data-lens="w"]').value = String(state.live.width);
    document.querySelector('[data-lens="h"]').value = String(state.live.height);
  }
  if (floor) {
    $("floor-rows").replaceChildren(...floor.metres.map((m, i) => {
      const input = (axis) => {
        const box = el("input", { type: "number", step: "0.05", value: String(m[axis]), "data-floor": `${i}.${axis}`, "aria-label": `Point ${i + 1} ${axis ? "y" : "x"} in metres` });
        box.addEventListener("change", () => { editGeo().floor.metres[i][axis] = Number(box.value) || 0; changed(); render(); });
        return box;
      };
      return el("tr", {}, el("th", { text: String(i + 1) }), el("td", {}, input(0)), el("td", {}, input(1)));
    }));
    $("height-filter").checked = floor.height_range_m != null;
    const [low, high] = floor.height_range_m || [0.8, 2.5];
    $("height-min").value = String(low);
    $("height-max").value = String(high);
    $("height-min").disabled = $("height-max").disabled = floor.height_range_m == null;
  }
}

// A new lens (or none): the zones on the picture and the floor points keep their places on the
// camera's picture, so a line drawn before the lens is where it was.
function applyLens(lens) {
  const [w, h] = size();
  const before = lensNow();
  const after = lens && state.live ? Geometry.scaled(lens, w, h) : null;
  const move = ([x, y]) => {
    const raw = before ? Geometry.distort(before, [x * w, y * h]) : [x * w, y * h];
    const [u, v] = after ? Geometry.undistort(after, raw) : raw;
    const margin = after ? 0.5 : 0;
    return [u / w, v / h].map((q) => Math.round(Math.min(1 + margin, Math.max(-margin, q)) * 1e6) / 1e6);
  };
  // Floor points stay inside the picture.
  const inside = ([x, y]) => [Math.min(1, Math.max(0, x)), Math.min(1, Math.max(0, y))];
  if (state.live) {
    for (const zone of edit()) if (zone.space !== "floor") zone.points = zone.points.map(move);
    const geo = editGeo();
    if (geo.floor) geo.floor.points = geo.floor.points.map(move).map(inside);
  }
  editGeo().lens = lens;
  renderedGeometry = null;
  changed();
  render();
}

function lensFromInputs() {
  const v = Object.fromEntries(LENS_FIELDS.map((f) => [f, Number(document.querySelector(`[data-lens="${f}"]`).value)]));
  if (!(v.w > 0 && v.h > 0 && v.fx > 0 && v.fy > 0)) { status("A lens needs its picture size and focal lengths (above 0).", "error"); return null; }
  return { size: [Math.round(v.w), Math.round(v.h)], focal: [v.fx, v.fy], centre: [v.cx || v.w / 2, v.cy || v.h / 2],
    distortion: [v.k1 || 0, v.k2 || 0, v.p1 || 0, v.p2 || 0, v.k3 || 0] };
}

async function estimateLens() {
  const seconds = Math.min(120, Math.max(3, Number($("estimate-s").value) || 20));
  const body = { board: $("board").value.trim(), square_mm: Number($("square-mm").value) || 25, seconds };
  const line = $("estimate-status");
  const path = `/api/calibrate/${encodeURIComponent(state.camera)}/lens/estimate`;
  const show = (text, kind) => { line.className = `small ${kind}`; line.textContent = text; };
  $("estimate-start").disabled = true;
  show(`Capturing for ${seconds} s: move the board slowly over the whole picture…`, "");
  try {
    const response = await fetch(path, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) { const answer = await response.json().catch(() => ({})); show(answer.error || `Not started (${response.status}).`, "error"); return; }
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const estimation = await getJson(path);
      if (estimation.running) { show(`Capturing: board found in ${estimation.views} views of ${estimation.frames} frames · ${estimation.seconds_left} s left`, ""); continue; }
      if (estimation.error) { show(estimation.error, "error"); return; }
      const result = estimation.result;
      show(`Estimated from ${result.views} views of ${result.frames} frames: reprojection error ${result.rms_px.toFixed(2)} px. Save to count through it.`, "ok");
      applyLens(result.lens);
      $("lens-details").open = true;
      return;
    }
  } catch (error) {
    show("Not estimated: the node did not answer.", "error");
  } finally {
    $("estimate-start").disabled = false;
  }
}

function addFloor() {
  // A quadrilateral in the lower middle of the picture, 2 m × 3 m until told otherwise.
  editGeo().floor = { points: [[0.3, 0.85], [0.7, 0.85], [0.62, 0.55], [0.38, 0.55]], metres: [[0, 0], [2, 0], [2, 3], [0, 3]], height_range_m: [0.8, 2.5] };
  renderedGeometry = null;
  changed();
  render();
}

function removeFloor() {
  if (zones().some((z) => z.space === "floor")) { status("Move the zones on the floor back to the picture first.", "error"); return; }
  editGeo().floor = null;
  renderedGeometry = null;
  changed();
  render();
}

function setHeights() {
  const floor = editGeo().floor;
  if (!floor) return;
  floor.height_range_m = $("height-filter").checked ? [Number($("height-min").value) || 0.8, Number($("height-max").value) || 2.5] : null;
  renderedGeometry = null;
  changed();
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
  $("undistorted").addEventListener("change", () => { state.undistorted = $("undistorted").checked && !!setup().lens; render(); });
  $("lens-apply").addEventListener("click", () => { const lens = lensFromInputs(); if (lens) applyLens(lens); });
  $("lens-remove").addEventListener("click", () => applyLens(null));
  $("estimate-start").addEventListener("click", estimateLens);
  $("add-floor").addEventListener("click", addFloor);
  $("floor-remove").addEventListener("click", removeFloor);
  for (const id of ["height-filter", "height-min", "height-max"]) $(id).addEventListener("change", setHeights);
  getJson("/api/calibrate/entrances").then((entrances) => { state.entrances = entrances; renderedZones = null; render(); }).catch(() => {});
  $("discard").addEventListener("click", discard);
  const overlay = $("overlay");
  overlay.addEventListener("click", onPictureClick);
  overlay.addEventListener("pointermove", (event) => {
    if (!state.dragging) return;
    if (state.dragging.floor != null) {
      const [w, h] = size();
      const [u, v] = fromDisplay(position(event));
      editGeo().floor.points[state.dragging.floor] = [Math.min(1, Math.max(0, u / w)), Math.min(1, Math.max(0, v / h))].map((x) => Math.round(x * 1e6) / 1e6);
    } else {
      const zone = edit()[state.dragging.zone];
      const point = displayToZonePoint(zone, position(event));
      if (point) zone.points[state.dragging.point] = point;
    }
    render();
  });
  overlay.addEventListener("pointerup", () => { if (state.dragging) { state.dragging = null; changed(); } });
  refreshLive();
  setInterval(refreshLive, 400);
  setInterval(refreshPicture, 250);
});
