// The node's set-up API (/api/calibrate/…). Reads answer the JSON (getJson: a lapsed sign-in goes
// back to the login); writes answer the fetch Response, for the caller to read its status.

import { getJson } from "../common.js";

const cameraPath = (camera) => `/api/calibrate/${encodeURIComponent(camera)}`;

function sendJson(method, path, body) {
  return fetch(path, {
    method, credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

export const fetchCameras = () => getJson("/api/calibrate/cameras");
export const fetchEntrances = () => getJson("/api/calibrate/entrances");
export const fetchLive = (camera) => getJson(`${cameraPath(camera)}/live`);
export const fetchFlow = (camera) => getJson(`${cameraPath(camera)}/flow`);
export const fetchValidations = (camera) => getJson(`${cameraPath(camera)}/validations`);

// The picture's address: `clear` while unblurred, `undistorted` through the lens; a new one each
// time, so the browser never shows a cached picture.
export function frameUrl(camera, { clear, undistorted }) {
  const query = (clear ? "clear=1&" : "") + (undistorted ? "undistort=1&" : "");
  return `${cameraPath(camera)}/frame.jpg?${query}t=${Date.now()}`;
}

// People shown unblurred on this camera for 30 s (the node records it in its audit trail). JSON,
// as every write: the node refuses a write that another site's form could have sent.
export const unblur = (camera) => sendJson("POST", `${cameraPath(camera)}/unblur`, {});

// The zones, lens and floor into the site file: `{ zones, lens, floor }`.
export const saveSetUp = (camera, setUp) => sendJson("PUT", `${cameraPath(camera)}/zones`, setUp);

// A lens estimation from a checkerboard: started with `{ board, square_mm, seconds }`, then asked
// how it goes until it is no longer running.
export const startLensEstimate = (camera, request) => sendJson("POST", `${cameraPath(camera)}/lens/estimate`, request);
export const fetchLensEstimate = (camera) => getJson(`${cameraPath(camera)}/lens/estimate`);

export const startValidation = (camera, zone) => sendJson("POST", `${cameraPath(camera)}/validation/start`, { zone });
export const stopValidation = (camera, tally) => sendJson("POST", `${cameraPath(camera)}/validation/stop`, tally);
