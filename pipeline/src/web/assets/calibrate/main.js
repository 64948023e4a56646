// The technicians' page: the live picture (people blurred on the box), the detector's boxes and
// foot points, and each zone with its running entries and exits; zones drawn and edited on the
// picture, and saved to the site file (the running node counts on them at once).
// This module wires the page: what each button, key and pointer does, and the polling. State
// flows one way: a handler changes the state through state.js, then redraw() draws the page again
// from it (drawPage below).

import { languageSwitch, t } from "/i18n/i18n.js";
import { $ } from "../common.js";
import * as api from "./api.js";
import {
  addFloor, estimateLens, removeFloor, removeLens, renderGeometry, setHeights, toggleUndistorted, useTypedLens,
} from "./lens-floor.js";
import { loadCameras, refreshFlow, refreshLive, refreshPicture, toggleFlow, unblur } from "./live.js";
import { drawOverlay } from "./overlay.js";
import { onOverlayKey } from "./keyboard.js";
import { onPictureClick, onPointerMove, onPointerUp, startAdding, useSuggestion } from "./picture-input.js";
import { setPageDrawing } from "./redraw.js";
import { discard, save } from "./save.js";
import { chooseCamera, receiveEntrances, setup, state } from "./state.js";
import { loadValidations, renderValidation, renderValidationZones, startValidation, stopValidation, tap } from "./validation.js";
import { rebuildZoneList, renderZoneList } from "./zone-list.js";

function drawPage() {
  drawOverlay();
  renderValidation();
  renderZoneList();
  renderGeometry();
}
setPageDrawing(drawPage);

// The lens and floor shown, for the page's browser test to read (the page's one global name).
window.setup = setup;

async function start() {
  languageSwitch($("language"));
  await loadCameras();
  renderValidationZones();
  loadValidations();
  $("validate-start").addEventListener("click", startValidation);
  $("validate-stop").addEventListener("click", stopValidation);
  $("tap-in").addEventListener("click", () => tap("in"));
  $("tap-out").addEventListener("click", () => tap("out"));
  // Keys for a technician watching the door, not the screen (the picture's own keys aside).
  document.addEventListener("keydown", (event) => {
    if (!state.validation.running || ["INPUT", "SELECT"].includes(event.target.tagName) || event.target.id === "overlay") return;
    if (event.key === "i" || event.key === "ArrowUp") { event.preventDefault(); tap("in"); }
    if (event.key === "o" || event.key === "ArrowDown") { event.preventDefault(); tap("out"); }
  });
  $("camera").addEventListener("change", () => {
    if (state.draft && !confirm(t("calibrate.confirm_discard"))) { $("camera").value = state.camera; return; }
    chooseCamera($("camera").value); discard(); renderValidationZones(); loadValidations();
  });
  $("unblur").addEventListener("click", unblur);
  $("flow-toggle").addEventListener("click", toggleFlow);
  $("use-suggestion").addEventListener("click", useSuggestion);
  setInterval(refreshFlow, 2000);
  $("add-line").addEventListener("click", () => startAdding("line"));
  $("add-polygon").addEventListener("click", () => startAdding("polygon"));
  $("save").addEventListener("click", save);
  $("undistorted").addEventListener("change", toggleUndistorted);
  $("lens-apply").addEventListener("click", useTypedLens);
  $("lens-remove").addEventListener("click", removeLens);
  $("estimate-start").addEventListener("click", estimateLens);
  $("add-floor").addEventListener("click", addFloor);
  $("floor-remove").addEventListener("click", removeFloor);
  for (const id of ["height-filter", "height-min", "height-max"]) $(id).addEventListener("change", setHeights);
  api.fetchEntrances().then((entrances) => { receiveEntrances(entrances); rebuildZoneList(); drawPage(); }).catch(() => {});
  $("discard").addEventListener("click", discard);
  const overlay = $("overlay");
  overlay.addEventListener("click", onPictureClick);
  overlay.addEventListener("pointermove", onPointerMove);
  overlay.addEventListener("pointerup", onPointerUp);
  overlay.addEventListener("keydown", onOverlayKey);
  overlay.addEventListener("focus", drawPage);
  overlay.addEventListener("blur", drawPage);
  // The zone whose list item is in use has its IN and OUT large on the picture.
  $("zones").addEventListener("focusin", drawOverlay);
  $("zones").addEventListener("focusout", () => setTimeout(drawOverlay));
  refreshLive();
  setInterval(refreshLive, 400);
  setInterval(refreshPicture, 250);
}

start();
