// The line under the zone tools that says what is saved, and the Save and Discard buttons.

import { t } from "/i18n/i18n.js";
import { $ } from "../common.js";
import { setSaveError, unsaved } from "./state.js";

// `kind`: "" (plain), "ok" or "error".
export function showStatus(text, kind) {
  const line = $("save-status");
  line.textContent = text;
  line.className = `save-status ${kind}`;
}

// After an edit: the last save's error is forgotten, and Save and Discard are offered.
export function markUnsaved() {
  setSaveError(null);
  const dirty = unsaved();
  $("save").disabled = !dirty;
  $("discard").disabled = !dirty;
  showStatus(t("calibrate.save.unsaved"), "");
}
