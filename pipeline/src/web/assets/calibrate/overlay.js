// What is drawn over the live picture: the detector's boxes and foot points with the caption, the
// floor's grid and handles, the flow map, the zones with their handles, and the points of a zone
// being added. Drawn again whole at each redraw; dragging a handle starts here.

import { formatNumber, t } from "/i18n/i18n.js";
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
    $("frame-info").textContent = t("calibrate.waiting");
    drawLabels([]);
  }
  drawFloor(overlay);
  if (state.showFlow && state.flow) drawFlow(overlay, state.flow);
  zones().forEach((zone, i) => drawZone(overlay, zone, i));
  for (const p of state.pending) {
    const [x, y] = zonePointToDisplay({}, p);
    overlay.append(svg("circle", { cx: x, cy: y, r: 0.008, class: "draft-point" }));
  }
  // The keyboard's cursor, while a zone is added with the picture focused.
  if (state.mode && document.activeElement === overlay) {
    const [x, y] = state.cursor;
    const aspect = state.live ? state.live.width / state.live.height : 4 / 3;
    overlay.append(svg("line", { x1: x - 0.03, y1: y, x2: x + 0.03, y2: y, class: "key-cursor" }));
    overlay.append(svg("line", { x1: x, y1: y - 0.03 * aspect, x2: x, y2: y + 0.03 * aspect, class: "key-cursor" }));
  }
}

// What the privacy pill says the picture hides (the node's `hiding`): its text and its title.
const HIDING = {
  everything: [t("calibrate.privacy.everything"), t("calibrate.privacy.everything.title")],
  people_and_motion: [t("calibrate.privacy.people_and_motion"), t("calibrate.privacy.people_and_motion.title")],
  nothing: [t("calibrate.privacy.nothing"), t("calibrate.privacy.nothing.title")],
};

// People's boxes and foot points, their heights, and what the caption and privacy pill say.
function drawLive(overlay, live) {
  // The picture's own shape: the stage is as wide as it can be at that shape (calibrate.css).
  $("stage").style.setProperty("--ratio", String(live.width / live.height));
  $("stage").style.aspectRatio = `${live.width} / ${live.height}`;
  $("frame-info").textContent = t("calibrate.frame_info", { width: live.width, height: live.height, frame: live.frame,
    people: live.people.length, age: live.age_ms });
  const privacy = $("privacy");
  const hiding = HIDING[live.hiding] || HIDING.everything;
  privacy.className = live.unblurred_s > 0 ? "pill warn" : "pill ok";
  privacy.textContent = live.unblurred_s > 0 ? t("calibrate.privacy.unblurred_for", { seconds: live.unblurred_s }) : hiding[0];
  privacy.title = live.unblurred_s > 0 ? t("calibrate.privacy.nothing.title") : hiding[1];
  const labels = [];
  for (const person of live.people) {
    const [x, y, w, h] = person.bbox;
    const [x0, y0] = cameraToDisplay([x, y]), [x1, y1] = cameraToDisplay([x + w, y + h]);
    overlay.append(svg("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, class: person.seen ? "person" : "person predicted" }));
    const [fx, fy] = cameraToDisplay(person.foot);
    overlay.append(svg("circle", { cx: fx, cy: fy, r: 0.006, class: "foot" }));
    if (person.height_m != null) labels.push([x0, y0, `${formatNumber(person.height_m, { minimumFractionDigits: 2, maximumFractionDigits: 2 })} m`]);
  }
  drawLabels(labels);
  const implausible = live.implausible ? ` · ${t("calibrate.implausible", { count: live.implausible })}` : "";
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

// Labels centred on their point: a line's A and B, and its IN and OUT sides; kept inside the
// picture.
function addCentredLabels(labels) {
  const inside = (v, margin) => Math.min(1 - margin, Math.max(margin, v));
  $("labels").append(...labels.map(([className, x, y, text]) => placedLabel(`centred ${className}`, [inside(x, 0.025), inside(y, 0.04), text])));
}

// The zone being worked on (its point chosen, or its list item in use), whose IN and OUT are
// large; with few zones every zone's are. -1: none.
function currentZone() {
  if (state.selected && state.selected.zone != null) return state.selected.zone;
  const item = document.activeElement && document.activeElement.closest && document.activeElement.closest("#zones .zone-item");
  return item ? [...item.parentElement.children].indexOf(item) : -1;
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
    const chosen = state.selected && state.selected.floor === i;
    group.append(draggable(svg("ellipse", { cx: dx, cy: dy, rx: 0.011, ry: 0.011 * aspect, class: chosen ? "floor-handle selected" : "floor-handle", "data-floor-point": String(i) }), { floor: i }));
  });
  overlay.append(group);
  const labels = floor.points.map(([x, y], i) => {
    const [w, h] = size();
    const [dx, dy] = toDisplay([x * w, y * h]);
    return [dx + 0.012, dy - 0.03, `${i + 1}: ${formatNumber(floor.metres[i][0])}, ${formatNumber(floor.metres[i][1])} m`];
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
  const current = currentZone();
  const size = current === index || (current < 0 && zones().length <= 2) ? "large" : "small";
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
      // IN on the side a person enters to, OUT on the other, far enough not to hide the line.
      const away = size === "large" ? 1.9 : 1.3;
      addCentredLabels([[`side-label in-side ${size}`, from[0] + nx * away, from[1] + ny * away, t("calibrate.picture.in")],
        [`side-label out-side ${size}`, from[0] - nx * away, from[1] - ny * away, t("calibrate.picture.out")]]);
    }
    const [shownA, shownB] = [points[0], points[points.length - 1]];
    addCentredLabels([["end-label", shownA[0], shownA[1] - 0.045, "A"], ["end-label", shownB[0], shownB[1] - 0.045, "B"]]);
  } else {
    const outline = zone.points.flatMap((p, i) => segment(zone, p, zone.points[(i + 1) % zone.points.length], steps).slice(0, -1));
    group.append(svg("polygon", { points: outline.map((p) => p.join(",")).join(" "), stroke: colour,
      fill: colour, class: "zone-polygon" }));
    if (outline.length) {
      const centre = [0, 1].map((axis) => outline.reduce((sum, p) => sum + p[axis], 0) / outline.length);
      addCentredLabels([[`side-label in-side ${size}`, centre[0], centre[1], t("calibrate.picture.in")]]);
    }
  }
  // Round on screen whatever the picture's shape: the overlay's units are stretched to it.
  const aspect = state.live ? state.live.width / state.live.height : 4 / 3;
  zone.points.forEach((p, point) => {
    const shown = zonePointToDisplay(zone, p);
    if (!shown) return;
    const [x, y] = shown;
    const chosen = state.selected && state.selected.zone === index && state.selected.point === point;
    group.append(draggable(svg("ellipse", { cx: x, cy: y, rx: 0.008, ry: 0.008 * aspect, class: chosen ? "handle selected" : "handle", "data-zone": String(index), "data-point": String(point) }), { zone: index, point }));
  });
  overlay.append(group);
}
