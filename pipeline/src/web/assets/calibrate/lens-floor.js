// The lens and floor panel: the lens typed in, estimated from a checkerboard or removed; the
// floor's four points and their distances; the height filter; the undistorted picture.

import { formatNumber, said, t } from "/i18n/i18n.js";
import { $, el } from "../common.js";
import * as Geometry from "../geometry.js";
import * as api from "./api.js";
import { lensNow, size } from "./coordinates.js";
import { redraw } from "./redraw.js";
import { markUnsaved, showStatus } from "./save-status.js";
import {
  camera, placeFloor, replaceLens, setFloorMetres, setHeightRange, setup, showUndistorted, state, zones,
} from "./state.js";

const LENS_FIELDS = ["w", "h", "fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3"];
const lensInput = (field) => document.querySelector(`[data-lens="${field}"]`);

// What the inputs were last filled from (null: fill them at the next redraw).
let renderedGeometry = null;

export function renderGeometry() {
  const c = camera();
  if (!c) return;
  const { lens, floor } = setup();
  const undistorted = $("undistorted");
  undistorted.disabled = !lens;
  if (!lens && state.undistorted) showUndistorted(false);
  undistorted.checked = state.undistorted;
  const summary = $("lens-summary");
  summary.textContent = lens
    ? t("calibrate.lens.summary", { focal: lens.focal[0].toFixed(0), width: lens.size[0], height: lens.size[1],
      k1: lens.distortion[0].toFixed(3), k2: lens.distortion[1].toFixed(3) })
    : t("calibrate.lens.none");
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
    // What the node says (an error, no heights) is about the saved floor; a draft is not checked
    // until it is saved.
    $("floor-summary").textContent = state.geo ? t("calibrate.floor.draft")
      : geometry && geometry.floor_error ? t("calibrate.floor.not_used", { error: said(geometry.floor_said, geometry.floor_error) })
      : heights === false ? t("calibrate.floor.no_heights")
      : t("calibrate.floor.in_use");
  }
  // Inputs are refilled only when what they show changed, never under the technician's typing.
  const key = JSON.stringify([state.camera, lens, floor]);
  if (key === renderedGeometry) return;
  const active = document.activeElement;
  if (active && $("geometry").contains(active) && active.tagName === "INPUT" && active.type !== "checkbox") return;
  renderedGeometry = key;
  const values = lens ? [lens.size[0], lens.size[1], lens.focal[0], lens.focal[1], lens.centre[0], lens.centre[1], ...lens.distortion] : [];
  LENS_FIELDS.forEach((field, i) => { lensInput(field).value = lens ? String(+values[i].toFixed(6)) : ""; });
  if (!lens && state.live) {
    lensInput("w").value = String(state.live.width);
    lensInput("h").value = String(state.live.height);
  }
  if (floor) {
    $("floor-rows").replaceChildren(...floor.metres.map((m, i) => {
      const input = (axis) => {
        const box = el("input", { type: "number", step: "0.05", value: String(m[axis]), "data-floor": `${i}.${axis}`, "aria-label": t("calibrate.floor.point_metres", { point: i + 1, axis: axis ? "y" : "x" }) });
        box.addEventListener("change", () => { setFloorMetres(i, axis, Number(box.value) || 0); markUnsaved(); redraw(); });
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

// After a change of lens or floor: the inputs show it at the next redraw, and it is unsaved.
function geometryChanged() {
  renderedGeometry = null;
  markUnsaved();
  redraw();
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
  replaceLens(lens, move, (p) => inside(move(p)));
  geometryChanged();
}

function lensFromInputs() {
  const v = Object.fromEntries(LENS_FIELDS.map((f) => [f, Number(lensInput(f).value)]));
  if (!(v.w > 0 && v.h > 0 && v.fx > 0 && v.fy > 0)) { showStatus(t("calibrate.lens.incomplete"), "error"); return null; }
  return { size: [Math.round(v.w), Math.round(v.h)], focal: [v.fx, v.fy], centre: [v.cx || v.w / 2, v.cy || v.h / 2],
    distortion: [v.k1 || 0, v.k2 || 0, v.p1 || 0, v.p2 || 0, v.k3 || 0] };
}

export function useTypedLens() { const lens = lensFromInputs(); if (lens) applyLens(lens); }
export function removeLens() { applyLens(null); }

// Captures the checkerboard for some seconds on the node, then uses the lens it estimated.
export async function estimateLens() {
  const seconds = Math.min(120, Math.max(3, Number($("estimate-s").value) || 20));
  const request = { board: $("board").value.trim(), square_mm: Number($("square-mm").value) || 25, seconds };
  const line = $("estimate-status");
  const cameraId = state.camera;
  const show = (text, kind) => { line.className = `small ${kind}`; line.textContent = text; };
  $("estimate-start").disabled = true;
  show(t("calibrate.estimate.capturing", { seconds }), "");
  try {
    const response = await api.startLensEstimate(cameraId, request);
    if (!response.ok) { const answer = await response.json().catch(() => ({})); show(said(answer, t("calibrate.estimate.not_started", { status: response.status })), "error"); return; }
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const estimation = await api.fetchLensEstimate(cameraId);
      if (estimation.running) { show(t("calibrate.estimate.progress", { views: estimation.views, frames: estimation.frames, seconds: estimation.seconds_left }), ""); continue; }
      if (estimation.error) { show(said(estimation.said, estimation.error), "error"); return; }
      const result = estimation.result;
      show(t("calibrate.estimate.done", { views: result.views, frames: result.frames, error: formatNumber(result.rms_px, { maximumFractionDigits: 2, minimumFractionDigits: 2 }) }), "ok");
      applyLens(result.lens);
      $("lens-details").open = true;
      return;
    }
  } catch (error) {
    show(t("calibrate.estimate.no_answer"), "error");
  } finally {
    $("estimate-start").disabled = false;
  }
}

export function addFloor() {
  // A quadrilateral in the lower middle of the picture, 2 m × 3 m until told otherwise.
  placeFloor({ points: [[0.3, 0.85], [0.7, 0.85], [0.62, 0.55], [0.38, 0.55]], metres: [[0, 0], [2, 0], [2, 3], [0, 3]], height_range_m: [0.8, 2.5] });
  geometryChanged();
}

export function removeFloor() {
  if (zones().some((z) => z.space === "floor")) { showStatus(t("calibrate.floor.zones_on_it"), "error"); return; }
  placeFloor(null);
  geometryChanged();
}

export function setHeights() {
  const range = $("height-filter").checked ? [Number($("height-min").value) || 0.8, Number($("height-max").value) || 2.5] : null;
  if (setHeightRange(range)) geometryChanged();
}

// The undistorted picture, when there is a lens to undistort with.
export function toggleUndistorted() {
  showUndistorted($("undistorted").checked && !!setup().lens);
  redraw();
}
