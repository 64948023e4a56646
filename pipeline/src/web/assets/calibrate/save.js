// Saving the zones, lens and floor to the site file (the running node counts on them at once),
// or discarding them.

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
  if (names.some((n) => !n)) { showStatus("Every zone needs a name.", "error"); return; }
  if (new Set(names).size !== names.length) { showStatus("Two zones have the same name.", "error"); return; }
  $("save").disabled = true;
  showStatus("Saving…", "");
  try {
    const response = await api.saveSetUp(state.camera, { zones: draft, lens: setup().lens, floor: setup().floor });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      showStatus(answer.error || `Not saved (${response.status}).`, "error");
      // Shown beside what it is about too: a zone of the list, or the lens or floor.
      setSaveError(answer.at ? { at: answer.at, message: answer.error } : null);
      rebuildZoneList();
      redraw();
      $("save").disabled = false;
      return;
    }
    markSaved(answer);
    renderValidationZones();
    $("discard").disabled = true;
    showStatus(`Saved at ${new Date().toLocaleTimeString()}: the node counts on these zones now.`, "ok");
    redraw();
  } catch (error) {
    showStatus("Not saved: the node did not answer.", "error");
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
