// The zone list beside the picture: each zone's name, counts, in side, hysteresis, entrance and
// space, edited in place (into the draft).

import { formatNumber, t } from "/i18n/i18n.js";
import { $, el } from "../common.js";
import { displayToZonePoint, size, zonePointToDisplay } from "./coordinates.js";
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
  // The picture's height too: a hysteresis on the picture is shown in its pixels.
  const key = JSON.stringify([state.camera, state.draft != null, all, state.saveError, state.live && state.live.height, !!setup().floor]);
  if (key === renderedZones) {
    all.forEach((zone, i) => {
      const tally = !state.draft && state.live && state.live.zones[i];
      const item = list.children[i];
      if (!item || !item.querySelector(".zone-counts")) return;
      item.querySelector(".zone-counts .in").textContent = t("calibrate.zone.in", { count: tally ? tally.entries : "–" });
      item.querySelector(".zone-counts .out").textContent = t("calibrate.zone.out", { count: tally ? tally.exits : "–" });
    });
    return;
  }
  const active = document.activeElement;
  // Never rebuilt under the technician's typing.
  if (active && list.contains(active) && active.tagName === "INPUT" && active.type !== "checkbox") return;
  renderedZones = key;
  if (!c) { list.replaceChildren(el("li", { class: "empty", text: t("calibrate.no_camera") })); return; }
  if (!all.length) { list.replaceChildren(el("li", { class: "empty", text: t("calibrate.no_zone") })); return; }
  list.replaceChildren(...all.map((zone, i) => zoneItem(c, zone, i)));
}

// How far past a zone a person must be before their side counts (the site file's `min_distance`:
// metres for a zone on the floor, a fraction of the picture's height for one on the picture),
// shown in centimetres on the floor and in the camera picture's pixels on the picture.
function hysteresisField(zone, i) {
  const onFloor = zone.space === "floor";
  const height = size()[1];
  const attributes = { type: "number", min: "0", "data-field": "hysteresis", "data-index": String(i), "aria-label": t("calibrate.zone.hysteresis.label") };
  const input = onFloor
    ? el("input", { ...attributes, max: "490", step: "1", value: String(Math.round(zone.min_distance * 100)) })
    : el("input", { ...attributes, max: String(Math.round(height * 0.2)), step: "1", value: String(Math.round(zone.min_distance * height)) });
  if (!onFloor && !state.live) input.disabled = true;
  input.addEventListener("change", () => {
    const value = Math.max(0, Number(input.value) || 0);
    setZoneMinDistance(i, onFloor ? value / 100 : Math.round(value / height * 1e6) / 1e6);
    markUnsaved();
  });
  const unit = onFloor ? t("calibrate.zone.hysteresis.cm") : t("calibrate.zone.hysteresis.px");
  const why = onFloor ? t("calibrate.zone.hysteresis.title_cm")
    : setup().floor ? t("calibrate.zone.hysteresis.title_px_floor") : t("calibrate.zone.hysteresis.title_px");
  return el("label", { title: why }, `${t("calibrate.zone.hysteresis")} `, input, ` ${unit}`);
}

function zoneItem(c, zone, i) {
  const tally = !state.draft && state.live && state.live.zones[i];
  const swatch = el("i", { class: "swatch" });
  swatch.style.background = COLOURS[i % COLOURS.length];
  const name = el("input", { class: "zone-name", value: zone.name, "data-field": "name", "data-index": String(i), "aria-label": t("calibrate.zone.name"), maxlength: "64" });
  name.addEventListener("input", () => { renameZone(i, name.value); markUnsaved(); });
  const row = el("div", { class: "row" });
  if (zone.kind === "line") {
    const flip = el("button", { type: "button", class: "flip", text: t("calibrate.zone.flip"), title: t("calibrate.zone.flip.title") });
    flip.addEventListener("click", () => { flipZoneSides(i); markUnsaved(); redraw(); });
    row.append(flip);
  }
  const onFloor = zone.space === "floor";
  row.append(hysteresisField(zone, i));
  const aggregate = el("input", { type: "checkbox", "data-field": "aggregate", "data-index": String(i) });
  aggregate.checked = zone.aggregate;
  aggregate.addEventListener("change", () => { setZoneAggregate(i, aggregate.checked); markUnsaved(); });
  row.append(el("label", { title: t("calibrate.zone.aggregate.title") }, aggregate, ` ${t("calibrate.zone.aggregate")}`));
  const remove = el("button", { type: "button", class: "delete", text: t("calibrate.zone.delete") });
  remove.addEventListener("click", () => { deleteZone(i); markUnsaved(); redraw(); });
  row.append(remove);
  const more = el("div", { class: "row" });
  const entrance = el("select", { "data-field": "entrance", "data-index": String(i), "aria-label": t("calibrate.zone.entrance.label") });
  entrance.append(el("option", { value: "", text: t("calibrate.zone.entrance.own", { entrance: c.entrance }) }));
  for (const e of state.entrances) if (e.id !== c.entrance) entrance.append(el("option", { value: e.id, text: `${e.id} · ${e.building}` }));
  entrance.value = zone.entrance || "";
  entrance.addEventListener("change", () => { setZoneEntrance(i, entrance.value); markUnsaved(); });
  more.append(el("label", { title: t("calibrate.zone.entrance.title") }, `${t("calibrate.zone.entrance")} `, entrance));
  if (setup().floor) {
    const floor = el("input", { type: "checkbox", "data-field": "floor", "data-index": String(i) });
    floor.checked = onFloor;
    floor.addEventListener("change", () => moveZoneSpace(i, floor.checked));
    more.append(el("label", { title: t("calibrate.zone.on_floor.title") }, floor, ` ${t("calibrate.zone.on_floor")}`));
  }
  const error = state.saveError && state.saveError.at.zone === i ? state.saveError.message : null;
  const kind = zone.kind === "line" ? t("calibrate.zone.kind.line") : t("calibrate.zone.kind.door");
  const metres = onFloor ? ` · ${zone.points.map((p) => `(${formatNumber(p[0], { maximumFractionDigits: 2 })}, ${formatNumber(p[1], { maximumFractionDigits: 2 })})`).join(" ")} m` : "";
  return el("li", { class: error ? "zone-item error" : "zone-item", "data-zone": zone.name },
    error ? el("p", { class: "field-error", text: error }) : null,
    el("div", { class: "zone-head" }, swatch, name, el("span", { class: "muted", text: kind + (zone.aggregate ? "" : ` · ${t("calibrate.zone.trial")}`) })),
    el("div", { class: "zone-counts" },
      el("span", { class: "in", text: t("calibrate.zone.in", { count: tally ? tally.entries : "–" }) }),
      el("span", { class: "out", text: t("calibrate.zone.out", { count: tally ? tally.exits : "–" }) })),
    el("div", { class: "muted small", text: (zone.entry_side ? t("calibrate.zone.in_side.line") : t("calibrate.zone.in_side.door")) + metres }),
    row, more);
}

// A zone moved between the picture and the floor stays where it is on the picture.
function moveZoneSpace(index, toFloor) {
  // Into the draft even when refused: the list is then built again, its box unticked.
  startEditingZones();
  const zone = zones()[index];
  const target = { space: toFloor ? "floor" : "picture" };
  const points = zone.points.map((p) => { const shown = zonePointToDisplay(zone, p); return shown && displayToZonePoint(target, shown); });
  if (points.some((p) => !p)) { showStatus(t("calibrate.zone.beyond_horizon"), "error"); redraw(); return; }
  moveZoneToSpace(index, target.space, points);
  markUnsaved();
  redraw();
}
