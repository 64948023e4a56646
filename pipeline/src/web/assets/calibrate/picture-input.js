// What clicks and drags on the picture do: add a line (A, then B) or a door (corners, closed on
// the first), drag a zone's or the floor's point, and add the flow map's suggested line.

import { t } from "/i18n/i18n.js";
import { $ } from "../common.js";
import { cameraToDisplay, displayToZonePoint, fromDisplay, size, zonePointToDisplay } from "./coordinates.js";
import { redraw } from "./redraw.js";
import { markUnsaved } from "./save-status.js";
import {
  addPendingPoint, addZone, moveFloorPoint, moveZonePoint, startEditingZones, state, stopDragging, switchAddingMode,
  zones,
} from "./state.js";

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

function newLine(points) {
  return { name: uniqueName("line"), kind: "line", points, entry_side: "right", min_distance: 0.01, aggregate: true };
}

// Clicks on the picture add a "line" or a "polygon" (a door); the same again, or null, stops.
export function startAdding(mode) {
  switchAddingMode(mode);
  $("add-line").classList.toggle("active", state.mode === "line");
  $("add-polygon").classList.toggle("active", state.mode === "polygon");
  $("mode").textContent = state.mode === "line" ? t("calibrate.mode.line")
    : state.mode === "polygon" ? t("calibrate.mode.door") : "";
  redraw();
}

function finishAdding() { startAdding(null); markUnsaved(); }

export function onPictureClick(event) {
  if (!state.mode) return;
  addPointAt(position(event));
}

// A point of the zone being added, at `shown` on the picture (display units): a click, or Enter
// at the keyboard's cursor.
export function addPointAt(shown) {
  if (!state.mode) return;
  // New zones go in the picture: a zone is moved onto the floor from its list.
  const point = displayToZonePoint({ space: "picture" }, shown);
  if (state.mode === "line") {
    addPendingPoint(point);
    if (state.pending.length === 2) {
      addZone(newLine(state.pending));
      finishAdding();
    }
  } else {
    const first = state.pending[0] && zonePointToDisplay({}, state.pending[0]);
    const closes = first && state.pending.length >= 3 && Math.hypot(shown[0] - first[0], shown[1] - first[1]) < 0.02;
    if (closes) {
      addZone({ name: uniqueName("door"), kind: "polygon", points: state.pending, min_distance: 0.01, aggregate: true });
      finishAdding();
    } else {
      addPendingPoint(point);
    }
  }
  redraw();
}

// The pointer moved: the point being dragged (if any) follows it.
export function onPointerMove(event) {
  if (!state.dragging) return;
  movePointTo(state.dragging, position(event));
  redraw();
}

// A zone's point (`{ zone, point }`) or the floor's (`{ floor }`) to `shown` on the picture.
export function movePointTo(what, shown) {
  if (what.floor != null) {
    const [w, h] = size();
    const [u, v] = fromDisplay(shown);
    moveFloorPoint(what.floor, [Math.min(1, Math.max(0, u / w)), Math.min(1, Math.max(0, v / h))].map((x) => Math.round(x * 1e6) / 1e6));
  } else {
    // A move is an edit, even one that finds no place on the floor.
    startEditingZones();
    const zone = zones()[what.zone];
    const point = zone && displayToZonePoint(zone, shown);
    if (point) moveZonePoint(what.zone, what.point, point);
  }
}

export function onPointerUp() {
  if (state.dragging) { stopDragging(); markUnsaved(); }
}

export function useSuggestion() {
  if (!state.flow || !state.flow.suggestion) return;
  // The flow map is on the camera's picture: its line goes where the node counts.
  const zone = { space: "picture" };
  addZone(newLine(state.flow.suggestion.points.map((p) => displayToZonePoint(zone, cameraToDisplay(p)))));
  markUnsaved();
  redraw();
}
