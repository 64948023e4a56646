// Validating a zone: the technician taps each crossing while Lintel counts; the two tallies are
// compared, and the result is kept beside the site file.

import { $, el } from "../common.js";
import * as api from "./api.js";
import { showStatus } from "./save-status.js";
import { camera, countTap, startTally, state, stopTally } from "./state.js";

// The saved zones, to choose one to validate.
export function renderValidationZones() {
  const select = $("validate-zone");
  const current = select.value;
  const names = (camera() ? camera().zones : []).map((z) => z.name);
  select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  if (names.includes(current)) select.value = current;
}

export function renderValidation() {
  const validation = state.validation;
  $("manual-in").textContent = String(validation.manualIn);
  $("manual-out").textContent = String(validation.manualOut);
  if (validation.running && state.live && !state.draft) {
    const index = camera().zones.findIndex((z) => z.name === validation.zone);
    const tally = state.live.zones[index];
    if (tally && validation.start) {
      const lintelIn = tally.entries - validation.start.entries, lintelOut = tally.exits - validation.start.exits;
      $("lintel-in").textContent = String(lintelIn);
      $("lintel-out").textContent = String(lintelOut);
      $("agreement").textContent = agreementText(validation.manualIn, validation.manualOut, lintelIn, lintelOut);
    }
  }
}

function agreementText(manualIn, manualOut, lintelIn, lintelOut) {
  const manual = manualIn + manualOut;
  if (!manual) return "";
  const agreement = Math.max(0, 1 - (Math.abs(manualIn - lintelIn) + Math.abs(manualOut - lintelOut)) / manual);
  return `agreement ${(agreement * 100).toFixed(1)}% over ${manual} crossings`;
}

function enableTapping(running) {
  for (const id of ["validate-stop", "tap-in", "tap-out"]) $(id).disabled = !running;
  $("validate-start").disabled = running;
}

export async function startValidation() {
  const zone = $("validate-zone").value;
  if (!zone || state.draft) { showStatus(state.draft ? "Save or discard the zones first." : "Choose a zone.", "error"); return; }
  const response = await api.startValidation(state.camera, zone);
  if (!response.ok) { showStatus("The validation did not start.", "error"); return; }
  const index = camera().zones.findIndex((z) => z.name === zone);
  const tally = state.live && state.live.zones[index];
  startTally(zone, tally ? { ...tally } : { entries: 0, exits: 0 });
  enableTapping(true);
  $("agreement").textContent = "";
  renderValidation();
}

export async function stopValidation() {
  const { manualIn, manualOut } = state.validation;
  const response = await api.stopValidation(state.camera, { manual_in: manualIn, manual_out: manualOut });
  stopTally();
  enableTapping(false);
  if (!response.ok) { $("agreement").textContent = "Not kept: the node refused it."; return; }
  const result = await response.json();
  $("lintel-in").textContent = String(result.lintel_in);
  $("lintel-out").textContent = String(result.lintel_out);
  $("agreement").textContent = `Kept: ${agreementText(result.manual_in, result.manual_out, result.lintel_in, result.lintel_out) || "no crossing"}`;
  loadValidations();
}

// The validations kept for this camera, newest as the node lists them.
export async function loadValidations() {
  if (!state.camera) return;
  try {
    const results = await api.fetchValidations(state.camera);
    $("validations").replaceChildren(...results.map((r) => el("li", { text:
      `${new Date(r.started).toLocaleString()} · ${r.zone}: you ${r.manual_in}/${r.manual_out}, Lintel ${r.lintel_in}/${r.lintel_out} · ${(r.agreement * 100).toFixed(1)}%` })));
  } catch (error) { /* shown at the next look */ }
}

// One crossing seen by the technician: "in" or "out".
export function tap(direction) {
  if (!state.validation.running) return;
  countTap(direction);
  renderValidation();
}
