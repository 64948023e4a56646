// The picture from the keyboard alone: with the picture focused (Tab), the arrow keys move the
// keyboard's cursor while a zone is being added (Enter adds a point there), or else the chosen
// point of a zone or of the floor (N and P choose the next or previous point); Shift moves ten
// times as far; Shift+Enter closes a door; Escape stops adding or lets the point go.

import { zonePointToDisplay } from "./coordinates.js";
import { addPointAt, movePointTo, startAdding } from "./picture-input.js";
import { redraw } from "./redraw.js";
import { markUnsaved } from "./save-status.js";
import { moveCursor, selectPoint, setup, state, zones } from "./state.js";

const STEP = 0.005;
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

// Every point the keys can choose, in the order N goes through them: each zone's, then the floor's.
function points() {
  const all = [];
  zones().forEach((zone, z) => zone.points.forEach((_, point) => all.push({ zone: z, point })));
  const floor = setup().floor;
  if (floor) floor.points.forEach((_, i) => all.push({ floor: i }));
  return all;
}

const same = (a, b) => !!a && !!b && a.zone === b.zone && a.point === b.point && a.floor === b.floor;

// Where a chosen point is shown (display units), or null.
export function shownAt(what) {
  if (what.floor != null) {
    const floor = setup().floor;
    if (!floor || !state.live) return null;
    return zonePointToDisplay({}, floor.points[what.floor]);
  }
  const zone = zones()[what.zone];
  return zone ? zonePointToDisplay(zone, zone.points[what.point]) : null;
}

function choose(step) {
  const all = points();
  if (!all.length) return;
  const at = all.findIndex((p) => same(p, state.selected));
  // From none chosen: N chooses the first point, P the last (the zone added last).
  const next = at < 0 ? (step > 0 ? 0 : all.length - 1) : (at + step + all.length) % all.length;
  selectPoint(all[next]);
}

export function onOverlayKey(event) {
  const arrow = ARROWS[event.key];
  const step = event.shiftKey ? STEP * 10 : STEP;
  const clamp = (v) => Math.min(1, Math.max(0, v));
  if (arrow && state.mode) {
    moveCursor([clamp(state.cursor[0] + arrow[0] * step), clamp(state.cursor[1] + arrow[1] * step)]);
  } else if (arrow && state.selected) {
    const at = shownAt(state.selected);
    if (!at) return;
    movePointTo(state.selected, [clamp(at[0] + arrow[0] * step), clamp(at[1] + arrow[1] * step)]);
    markUnsaved();
  } else if ((event.key === "Enter" || event.key === " ") && state.mode) {
    // Shift+Enter closes a door at its first corner.
    const first = state.pending[0];
    const closing = event.shiftKey && state.mode === "polygon" && state.pending.length >= 3;
    addPointAt(closing ? zonePointToDisplay({}, first) : state.cursor);
    return event.preventDefault();
  } else if (event.key === "n" || event.key === "N" || event.key === "p" || event.key === "P") {
    choose(event.key.toLowerCase() === "n" ? 1 : -1);
  } else if (event.key === "Escape") {
    if (state.mode) startAdding(null); else selectPoint(null);
  } else {
    return;
  }
  event.preventDefault();
  redraw();
}
