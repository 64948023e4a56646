// Validating a zone: the technician taps each crossing while Lintel counts; the two tallies are
// compared, and the result is kept beside the site file.

import { formatDateTime, formatNumber, t } from "/i18n/i18n.js";
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

// How many crossings a validation asks for, and the agreement that passes.
const CROSSINGS = 100;
const PASS = 0.95;

export function renderValidation() {
  const validation = state.validation;
  $("manual-in").textContent = String(validation.manualIn);
  $("manual-out").textContent = String(validation.manualOut);
  $("validate-bar").hidden = !validation.running;
  if (!validation.running) return;
  const crossings = validation.manualIn + validation.manualOut;
  const seconds = Math.floor((Date.now() - validation.startedAt) / 1000);
  $("validate-timer").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  $("validate-count").textContent = t("calibrate.validate.progress", { count: crossings, target: CROSSINGS });
  $("validate-progress").style.width = `${Math.min(100, crossings / CROSSINGS * 100)}%`;
  if (state.live && !state.draft) {
    const index = camera().zones.findIndex((z) => z.name === validation.zone);
    const tally = state.live.zones[index];
    if (tally && validation.start) {
      const lintelIn = tally.entries - validation.start.entries, lintelOut = tally.exits - validation.start.exits;
      $("lintel-in").textContent = String(lintelIn);
      $("lintel-out").textContent = String(lintelOut);
      $("agreement").textContent = agreementText(validation.manualIn, validation.manualOut, lintelIn, lintelOut);
      const verdict = $("verdict");
      const agreement = agreementOf(validation.manualIn, validation.manualOut, lintelIn, lintelOut);
      verdict.className = agreement == null ? "verdict" : `verdict ${verdictOf(agreement, crossings)}`;
      verdict.textContent = agreement == null ? t("calibrate.validate.verdict.none") : verdictText(agreement, crossings);
    }
  }
}

// The agreement of the two tallies (0..1), or null before any crossing.
function agreementOf(manualIn, manualOut, lintelIn, lintelOut) {
  const manual = manualIn + manualOut;
  if (!manual) return null;
  return Math.max(0, 1 - (Math.abs(manualIn - lintelIn) + Math.abs(manualOut - lintelOut)) / manual);
}

// "pass", "fail", or "early" (under 100 crossings: not enough to tell).
function verdictOf(agreement, crossings) {
  if (crossings < CROSSINGS) return "early";
  return agreement >= PASS ? "pass" : "fail";
}

function verdictText(agreement, crossings) {
  const values = { agreement: percent(agreement), target: CROSSINGS, pass: percent(PASS) };
  const kind = verdictOf(agreement, crossings);
  return kind === "pass" ? t("calibrate.validate.verdict.pass", values)
    : kind === "fail" ? t("calibrate.validate.verdict.fail", values) : t("calibrate.validate.verdict.early", values);
}

const percent = (share) => formatNumber(share * 100, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

function agreementText(manualIn, manualOut, lintelIn, lintelOut) {
  const agreement = agreementOf(manualIn, manualOut, lintelIn, lintelOut);
  if (agreement == null) return "";
  return t("calibrate.validate.agreement", { agreement: percent(agreement), count: manualIn + manualOut });
}

function enableTapping(running) {
  for (const id of ["validate-stop", "tap-in", "tap-out"]) $(id).disabled = !running;
  $("validate-start").disabled = running;
}

export async function startValidation() {
  const zone = $("validate-zone").value;
  if (!zone || state.draft) { showStatus(state.draft ? t("calibrate.validate.save_first") : t("calibrate.validate.choose_zone"), "error"); return; }
  const response = await api.startValidation(state.camera, zone);
  if (!response.ok) { showStatus(t("calibrate.validate.not_started"), "error"); return; }
  const index = camera().zones.findIndex((z) => z.name === zone);
  const tally = state.live && state.live.zones[index];
  startTally(zone, tally ? { ...tally } : { entries: 0, exits: 0 });
  enableTapping(true);
  $("agreement").textContent = "";
  renderValidation();
  $("tap-in").focus();
}

export async function stopValidation() {
  const { manualIn, manualOut } = state.validation;
  const response = await api.stopValidation(state.camera, { manual_in: manualIn, manual_out: manualOut });
  stopTally();
  enableTapping(false);
  if (!response.ok) { $("agreement").textContent = t("calibrate.validate.refused"); return; }
  const result = await response.json();
  $("lintel-in").textContent = String(result.lintel_in);
  $("lintel-out").textContent = String(result.lintel_out);
  const said = agreementText(result.manual_in, result.manual_out, result.lintel_in, result.lintel_out) || t("calibrate.validate.no_crossing");
  const agreement = agreementOf(result.manual_in, result.manual_out, result.lintel_in, result.lintel_out);
  const verdict = agreement == null ? "" : ` · ${verdictText(agreement, result.manual_in + result.manual_out)}`;
  $("agreement").textContent = t("calibrate.validate.kept", { result: said + verdict });
  renderValidation();
  loadValidations();
}

// The validations kept for this camera, newest as the node lists them.
export async function loadValidations() {
  if (!state.camera) return;
  try {
    const results = await api.fetchValidations(state.camera);
    $("validations").replaceChildren(...results.map((r) => el("li", { text: t("calibrate.validate.logged", {
      when: formatDateTime(r.started), zone: r.zone, manual_in: r.manual_in, manual_out: r.manual_out,
      lintel_in: r.lintel_in, lintel_out: r.lintel_out, agreement: percent(r.agreement) }) })));
  } catch (error) { /* shown at the next look */ }
}

// One crossing seen by the technician: "in" or "out".
export function tap(direction) {
  if (!state.validation.running) return;
  countTap(direction);
  renderValidation();
}
