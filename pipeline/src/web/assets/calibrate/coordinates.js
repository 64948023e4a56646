// Where things are: zone space (normalised, or metres on the floor) ↔ undistorted pixels of the
// live picture ↔ the displayed picture (0..1, the overlay's units), through the lens and floor
// being shown. Reads the state, changes nothing.

import * as Geometry from "../geometry.js";
import { setup, state } from "./state.js";

// The live picture's size in pixels.
export function size() { return state.live ? [state.live.width, state.live.height] : [4, 3]; }

// The lens shown, for the live picture's size; null without a lens or a picture.
export function lensNow() {
  const lens = setup().lens;
  return lens && state.live ? Geometry.scaled(lens, ...size()) : null;
}

// The floor's homographies for the live picture, made again only when the floor changes.
let floorCache = { key: null, toPicture: null, toFloor: null };
export function floorNow() {
  const floor = setup().floor;
  if (!floor || !state.live) return null;
  const key = JSON.stringify([floor, size()]);
  if (floorCache.key !== key) {
    const [w, h] = size();
    const toPicture = Geometry.homography(floor.metres, floor.points.map(([x, y]) => [x * w, y * h]));
    floorCache = { key, toPicture, toFloor: toPicture && Geometry.invert(toPicture) };
  }
  return floorCache.toPicture ? floorCache : null;
}

// Undistorted pixels → the displayed picture (0..1).
export function toDisplay(p) {
  const lens = lensNow();
  const [w, h] = size();
  const [x, y] = lens && !state.undistorted ? Geometry.distort(lens, p) : p;
  return [x / w, y / h];
}

export function fromDisplay([x, y]) {
  const lens = lensNow();
  const [w, h] = size();
  const p = [x * w, y * h];
  return lens && !state.undistorted ? Geometry.undistort(lens, p) : p;
}

// A point of the camera's picture (0..1, as the node's boxes are) on the displayed picture.
export function cameraToDisplay([x, y]) {
  const lens = lensNow();
  if (!lens || !state.undistorted) return [x, y];
  const [w, h] = size();
  const [u, v] = Geometry.undistort(lens, [x * w, y * h]);
  return [u / w, v / h];
}

// A zone's point (normalised, or metres on the floor) in undistorted pixels; null if not seen.
function zoneToPixels(zone, p) {
  if (zone.space === "floor") { const floor = floorNow(); return floor ? Geometry.apply(floor.toPicture, p) : null; }
  const [w, h] = size();
  return [p[0] * w, p[1] * h];
}

export function zonePointToDisplay(zone, p) { const u = zoneToPixels(zone, p); return u ? toDisplay(u) : null; }

export function displayToZonePoint(zone, d) {
  const u = fromDisplay(d);
  if (zone.space === "floor") {
    const floor = floorNow();
    const m = floor && Geometry.apply(floor.toFloor, u);
    return m ? m.map((v) => Math.round(v * 1000) / 1000) : null;
  }
  const [w, h] = size();
  // Through a lens the undistorted picture reaches beyond the frame: the node allows 0.5 more.
  const margin = setup().lens ? 0.5 : 0;
  const clamp = (v) => Math.round(Math.min(1 + margin, Math.max(-margin, v)) * 1e6) / 1e6;
  return [clamp(u[0] / w), clamp(u[1] / h)];
}

// Points along a zone's segment from a to b, in display units: straight in zone space, so curved
// on a distorting lens's picture, as the node sees it.
export function segment(zone, a, b, steps) {
  const points = [];
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    const p = zonePointToDisplay(zone, [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]);
    if (p) points.push(p);
  }
  return points;
}

// Straight lines in zone space come out curved on the picture shown.
export function curved() { return !!lensNow() && !state.undistorted; }
