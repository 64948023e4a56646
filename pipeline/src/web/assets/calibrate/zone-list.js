// The zone list beside the picture: each zone's name, counts, in side, hysteresis, entrance and
// space, edited in place (into the draft).

import { $, el } from "../common.js";
import { displayToZonePoint, zonePointToDisplay } from "./coordinates.js";
import { COLOURS } from "./overlay.js";
import { redraw } from "./redraw.js";
import { markUnsaved, showStatus } from "./save-status.js";
import {
  camera, deleteZone, flipZoneSides, moveZoneToSpace, renameZone, setup, setZoneAggregate, setZoneEntrance,
  setZoneMinDistance, startEditingZones, state, zones,
} from "./state.js";

// What the list was last built from (null: build it at the next redraw).
let renderedZones = null;

export function rebuildZoneList() { renderedZones = null; }

export function renderZoneList() {
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
  list.replaceChildren(...all.map((zone, i) => zoneItem(c, zone, i)));
}

function zoneItem(c, zone, i) {
  const tally = !state.draft && state.live && state.live.zones[i];
  const swatch = el("i", { class: "swatch" });
  swatch.style.background = COLOURS[i % COLOURS.length];
  const name = el("input", { class: "zone-name", value: zone.name, "data-field": "name", "data-index": String(i), "aria-label": "Zone name", maxlength: "64" });
  name.addEventListener("input", () => { renameZone(i, name.value); markUnsaved(); });
  const row = el("div", { class: "row" });
  if (zone.kind === "line") {
    const flip = el("button", { type: "button", class: "flip", text: "Flip in/out", title: "Swap the in and out sides" });
    flip.addEventListener("click", () => { flipZoneSides(i); markUnsaved(); redraw(); });
    row.append(flip);
  }
  const onFloor = zone.space === "floor";
  const hysteresis = onFloor
    ? el("input", { type: "number", min: "0", max: "4.9", step: "0.05", value: zone.min_distance.toFixed(2), "data-field": "hysteresis", "data-index": String(i), "aria-label": "Hysteresis" })
    : el("input", { type: "number", min: "0", max: "20", step: "0.5", value: (zone.min_distance * 100).toFixed(1), "data-field": "hysteresis", "data-index": String(i), "aria-label": "Hysteresis" });
  hysteresis.addEventListener("change", () => { setZoneMinDistance(i, Math.max(0, Number(hysteresis.value) || 0) / (onFloor ? 1 : 100)); markUnsaved(); });
  row.append(el("label", { title: onFloor ? "How far past the line a person must be before the side counts, in metres" : "How far past the line a person must be before the side counts, in % of the picture's height" }, "hysteresis ", hysteresis, onFloor ? " m" : " %"));
  const aggregate = el("input", { type: "checkbox", "data-field": "aggregate", "data-index": String(i) });
  aggregate.checked = zone.aggregate;
  aggregate.addEventListener("change", () => { setZoneAggregate(i, aggregate.checked); markUnsaved(); });
  row.append(el("label", { title: "Counts add into the entrance and building; unticked: a trial zone, counted on its own" }, aggregate, " adds up"));
  const remove = el("button", { type: "button", class: "delete", text: "Delete" });
  remove.addEventListener("click", () => { deleteZone(i); markUnsaved(); redraw(); });
  row.append(remove);
  const more = el("div", { class: "row" });
  const entrance = el("select", { "data-field": "entrance", "data-index": String(i), "aria-label": "Entrance" });
  entrance.append(el("option", { value: "", text: `${c.entrance} (the camera's)` }));
  for (const e of state.entrances) if (e.id !== c.entrance) entrance.append(el("option", { value: e.id, text: `${e.id} · ${e.building}` }));
  entrance.value = zone.entrance || "";
  entrance.addEventListener("change", () => { setZoneEntrance(i, entrance.value); markUnsaved(); });
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
}

// A zone moved between the picture and the floor stays where it is on the picture.
function moveZoneSpace(index, toFloor) {
  // Into the draft even when refused: the list is then built again, its box unticked.
  startEditingZones();
  const zone = zones()[index];
  const target = { space: toFloor ? "floor" : "picture" };
  const points = zone.points.map((p) => { const shown = zonePointToDisplay(zone, p); return shown && displayToZonePoint(target, shown); });
  if (points.some((p) => !p)) { showStatus("A point of the zone is beyond the floor's horizon.", "error"); redraw(); return; }
  moveZoneToSpace(index, target.space, points);
  markUnsaved();
  redraw();
}
