// What is drawn over the live picture: the detector's boxes and foot points with the caption, the
// floor's grid and handles, the flow map, the zones with their handles, and the points of a zone
// being added. Drawn again whole at each redraw; dragging a handle starts here.

import { $, el, svg } from "../common.js";
import { cameraToDisplay, curved, floorNow, segment, size, toDisplay, zonePointToDisplay } from "./coordinates.js";
import { setup, startDragging, state, zones } from "./state.js";

export const COLOURS = ["#4fa3ff", "#f0b429", "#c678dd", "#56d4bc", "#ff7b72", "#a5d6ff"];

export function drawOverlay() {
  const live = state.live;
  const overlay = $("overlay");
  overlay.replaceChildren();
  overlay.classList.toggle("drawing", state.mode != null);
  if (live) drawLive(overlay, live);
  else {
    $("frame-info").textContent = "waiting for the camera…";
    drawLabels([]);
  }
  drawFloor(overlay);
  if (state.showFlow && state.flow) drawFlow(overlay, state.flow);
  zones().forEach((zone, i) => drawZone(overlay, zone, i));
  for (const p of state.pending) {
    const [x, y] = zonePointToDisplay({}, p);
    overlay.append(svg("circle", { cx: x, cy: y, r: 0.008, class: "draft-point" }));
  }
}

// What the privacy pill says the picture hides (the node's `hiding`): its text and its title.
const HIDING = {
  everything: ["all blurred (learning the scene)",
    "The whole picture is pixelated on the box while it learns what the empty scene looks like"],
  people_and_motion: ["people and motion blurred",
    "Pixelated on the box before the picture is sent: everyone tracked, every box the detector found, and everything that differs from the learned empty scene"],
  nothing: ["unblurred", "People are shown as the camera sees them (logged)"],
};

// People's boxes and foot points, their heights, and what the caption and privacy pill say.
function drawLive(overlay, live) {
  $("stage").style.aspectRatio = `${live.width} / ${live.height}`;
  $("frame-info").textContent = `${live.width}×${live.height} · frame ${live.frame} · ${live.people.length} people · ${live.age_ms} ms old`;
  const privacy = $("privacy");
  const hiding = HIDING[live.hiding] || HIDING.everything;
  privacy.className = live.unblurred_s > 0 ? "pill warn" : "pill ok";
  privacy.textContent = live.unblurred_s > 0 ? `unblurred ${live.unblurred_s} s` : hiding[0];
  privacy.title = live.unblurred_s > 0 ? "People are shown as the camera sees them (logged)" : hiding[1];
  const labels = [];
  for (const person of live.people) {
    const [x, y, w, h] = person.bbox;
    const [x0, y0] = cameraToDisplay([x, y]), [x1, y1] = cameraToDisplay([x + w, y + h]);
    overlay.append(svg("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, class: person.seen ? "person" : "person predicted" }));
    const [fx, fy] = cameraToDisplay(person.foot);
    overlay.append(svg("circle", { cx: fx, cy: fy, r: 0.006, class: "foot" }));
    if (person.height_m != null) labels.push([x0, y0, `${person.height_m.toFixed(2)} m`]);
  }
  drawLabels(labels);
  const implausible = live.implausible ? ` · ${live.implausible} box${live.implausible > 1 ? "es" : ""} of no person's height dropped` : "";
  $("frame-info").textContent += implausible;
}

// Text over the picture at display points: HTML, so the text is not stretched with the picture.
function placedLabel(className, [x, y, text]) {
  const label = el("span", { class: className, text });
  label.style.left = `${(x * 100).toFixed(2)}%`;
  label.style.top = `${(y * 100).toFixed(2)}%`;
  return label;
}

// Heights beside the boxes (replacing every label).
function drawLabels(labels) {
  $("labels").replaceChildren(...labels.map((label) => placedLabel("height-label", label)));
}

// A handle that starts dragging `what` (see state.dragging), unless clicks are adding a zone.
function draggable(handle, what) {
  handle.addEventListener("pointerdown", (event) => {
    if (state.mode) return;
    event.preventDefault();
    startDragging(what);
    $("overlay").setPointerCapture(event.pointerId);
  });
  return handle;
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
    group.append(draggable(svg("ellipse", { cx: dx, cy: dy, rx: 0.011, ry: 0.011 * aspect, class: "floor-handle", "data-floor-point": String(i) }), { floor: i }));
  });
  overlay.append(group);
  const labels = floor.points.map(([x, y], i) => {
    const [w, h] = size();
    const [dx, dy] = toDisplay([x * w, y * h]);
    return [dx + 0.012, dy - 0.03, `${i + 1}: ${floor.metres[i][0]}, ${floor.metres[i][1]} m`];
  });
  $("labels").append(...labels.map((label) => placedLabel("floor-label", label)));
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
    group.append(draggable(svg("ellipse", { cx: x, cy: y, rx: 0.008, ry: 0.008 * aspect, class: "handle", "data-zone": String(index), "data-point": String(point) }), { zone: index, point }));
  });
  overlay.append(group);
}
