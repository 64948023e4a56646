// Everything the set-up page knows, in one object, and the only functions that change it. Other
// modules read `state` (and the readers below) freely; they change it only through these
// functions, then call `redraw()` (redraw.js) to show the change.
// Zone points are as in the site file: normalised (0..1) on the undistorted picture, or metres on
// the floor. No track id exists here.

export const state = {
  cameras: [], camera: null, live: null,
  loading: false,     // a picture is on its way
  draft: null,        // the zones being edited (a copy), or null when nothing changed
  mode: null,         // null, "line" or "polygon": what clicks on the picture add
  pending: [],        // the points clicked so far for the zone being added
  dragging: null,     // { zone, point } or { floor } while a point is dragged
  selected: null,     // { zone, point } or { floor }: the point the arrow keys move
  cursor: [0.5, 0.5], // the keyboard's cursor on the picture (display units), where Enter adds a point
  flow: null,         // the flow map, while shown
  showFlow: false,
  geo: null,          // the lens and floor being edited ({ lens, floor }, a copy), or null
  saveError: null,    // the last save's error and where it belongs ({ at: { zone } or { part }, message })
  undistorted: false, // showing the undistorted picture
  entrances: [],
  // The technician's tally against Lintel's, while a validation runs.
  validation: { running: false, manualIn: 0, manualOut: 0, zone: null, start: null },
};

// ---- readers ----------------------------------------------------------------------------------

export function camera() { return state.cameras.find((c) => c.id === state.camera); }

// The zones shown: the draft while editing, else the camera's saved ones.
export function zones() { return state.draft || (camera() ? camera().zones : []); }

// The lens and floor shown: the ones being edited, else the camera's saved ones.
export function setup() { return state.geo || { lens: (camera() || {}).lens || null, floor: (camera() || {}).floor || null }; }

// Something not saved yet.
export function unsaved() { return !!(state.draft || state.geo); }

function draftZones() {
  if (!state.draft) state.draft = structuredClone(camera().zones);
  return state.draft;
}

function draftSetup() {
  if (!state.geo) state.geo = structuredClone(setup());
  return state.geo;
}

// ---- the camera and what it sends -------------------------------------------------------------

// The node's cameras; the one chosen stays chosen while it is there, else the first.
export function receiveCameras(cameras) {
  const chosen = state.camera;
  state.cameras = cameras;
  state.camera = cameras.some((c) => c.id === chosen) ? chosen : (cameras[0] || {}).id || null;
}

export function chooseCamera(id) {
  state.camera = id;
  state.live = null;
}

export function receiveLive(live) { state.live = live; }
export function receiveFlow(flow) { state.flow = flow; }
export function receiveEntrances(entrances) { state.entrances = entrances; }
export function setPictureLoading(loading) { state.loading = loading; }

export function toggleFlowMap() {
  state.showFlow = !state.showFlow;
  if (!state.showFlow) state.flow = null;
}

export function showUndistorted(undistorted) { state.undistorted = undistorted; }

// ---- adding zones on the picture ---------------------------------------------------------------

// Clicks on the picture add a "line" or "polygon" from now on; the same mode again, or null, stops.
export function switchAddingMode(mode) {
  state.mode = state.mode === mode ? null : mode;
  state.pending = [];
}

export function addPendingPoint(point) { state.pending.push(point); }

export function startDragging(what) { state.dragging = what; state.selected = what; }
export function selectPoint(what) { state.selected = what; }
export function moveCursor(to) { state.cursor = to; }
export function stopDragging() { state.dragging = null; }

// ---- editing zones (in the draft) -------------------------------------------------------------

// Copies the camera's zones into the draft, where edits go until saved or discarded.
export function startEditingZones() { draftZones(); }

export function addZone(zone) { draftZones().push(zone); }
export function deleteZone(index) { draftZones().splice(index, 1); state.selected = null; }
export function renameZone(index, name) { draftZones()[index].name = name; }
export function setZoneMinDistance(index, distance) { draftZones()[index].min_distance = distance; }
export function setZoneAggregate(index, aggregate) { draftZones()[index].aggregate = aggregate; }

export function flipZoneSides(index) {
  const zone = draftZones()[index];
  zone.entry_side = zone.entry_side === "left" ? "right" : "left";
}

// The entrance the zone counts for; "" for the camera's own.
export function setZoneEntrance(index, entrance) {
  const zone = draftZones()[index];
  if (entrance) zone.entrance = entrance; else delete zone.entrance;
}

export function moveZonePoint(index, point, to) { draftZones()[index].points[point] = to; }

// The zone's points given again in another space ("floor" in metres, or "picture"), with the
// hysteresis that space starts with.
export function moveZoneToSpace(index, space, points) {
  const zone = draftZones()[index];
  zone.points = points;
  if (space === "floor") { zone.space = "floor"; zone.min_distance = 0.25; } else { delete zone.space; zone.min_distance = 0.01; }
}

// ---- the lens and the floor (in the draft) ---------------------------------------------------

// A new lens (or none). With a live picture, `movePicturePoint` gives each zone point on the
// picture (not those on the floor) and `moveFloorPoint` each floor point its new place.
export function replaceLens(lens, movePicturePoint, moveFloorPoint) {
  if (state.live) {
    for (const zone of draftZones()) if (zone.space !== "floor") zone.points = zone.points.map(movePicturePoint);
    const geo = draftSetup();
    if (geo.floor) geo.floor.points = geo.floor.points.map(moveFloorPoint);
  }
  draftSetup().lens = lens;
}

export function placeFloor(floor) { draftSetup().floor = floor; }
export function moveFloorPoint(index, to) { draftSetup().floor.points[index] = to; }
export function setFloorMetres(index, axis, metres) { draftSetup().floor.metres[index][axis] = metres; }

// The heights a person may have, [low, high] in metres, or null for any; false if there is no floor.
export function setHeightRange(range) {
  const floor = draftSetup().floor;
  if (!floor) return false;
  floor.height_range_m = range;
  return true;
}

// ---- saving ------------------------------------------------------------------------------------

export function setSaveError(error) { state.saveError = error; }

// What the node saved becomes the camera's; nothing is left to save.
export function markSaved({ zones, lens, floor }) {
  Object.assign(camera(), { zones, lens, floor });
  state.draft = null;
  state.geo = null;
}

export function discardEdits() {
  state.selected = null;
  state.draft = null;
  state.geo = null;
  state.pending = [];
}

// ---- validation --------------------------------------------------------------------------------

// `start`: the zone's entries and exits by Lintel when the validation starts.
export function startTally(zone, start) {
  Object.assign(state.validation, { running: true, manualIn: 0, manualOut: 0, zone, start, startedAt: Date.now() });
}

export function countTap(direction) {
  if (direction === "in") state.validation.manualIn += 1; else state.validation.manualOut += 1;
}

export function stopTally() { state.validation.running = false; }
