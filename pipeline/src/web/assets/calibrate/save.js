// Saving the zones, lens and floor to the site file (the running node counts on them at once),
// or discarding them.

import { formatTime, said, t } from "/i18n/i18n.js";
import { $ } from "../common.js";
import * as api from "./api.js";
import { startAdding } from "./picture-input.js";
import { redraw } from "./redraw.js";
import { showStatus } from "./save-status.js";
import { discardEdits, markSaved, setSaveError, setup, state, unsaved, zones } from "./state.js";
import { renderValidationZones } from "./validation.js";
import { rebuildZoneList } from "./zone-list.js";

export async function save() {
  if (!unsaved()) return;
  const draft = zones();
  const names = draft.map((z) => z.name.trim());
  if (names.some((n) => !n)) { showStatus(t("calibrate.save.no_name"), "error"); return; }
  if (new Set(names).size !== names.length) { showStatus(t("calibrate.save.same_name"), "error"); return; }
  $("save").disabled = true;
  showStatus(t("calibrate.save.saving"), "");
  try {
    const response = await api.saveSetUp(state.camera, { zones: draft, lens: setup().lens, floor: setup().floor });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message = said(answer, t("calibrate.save.refused", { status: response.status }));
      showStatus(message, "error");
      // Shown beside what it is about too: a zone of the list, or the lens or floor.
      setSaveError(answer.at ? { at: answer.at, message } : null);
      rebuildZoneList();
      redraw();
      $("save").disabled = false;
      return;
    }
    markSaved(answer);
    renderValidationZones();
    $("discard").disabled = true;
    showStatus(t("calibrate.save.saved", { time: formatTime(new Date(), true) }), "ok");
    redraw();
  } catch (error) {
    showStatus(t("calibrate.save.no_answer"), "error");
    $("save").disabled = false;
  }
}

export function discard() {
  discardEdits();
  startAdding(null);
  $("save").disabled = true;
  $("discard").disabled = true;
  showStatus("", "");
  redraw();
}
