// What comes from the camera, polled: the node's cameras, the live answer (boxes, counts), the
// picture (one request at a time) and, while shown, the flow map.

import { setTimeZone } from "/i18n/i18n.js";
import { $, el } from "../common.js";
import * as api from "./api.js";
import { redraw } from "./redraw.js";
import { receiveCameras, receiveFlow, receiveLive, setPictureLoading, state, toggleFlowMap } from "./state.js";

export async function loadCameras() {
  const cameras = await api.fetchCameras();
  receiveCameras(cameras);
  // Times on the page are the site's (each camera carries its site's zone).
  if (cameras[0] && cameras[0].time_zone) setTimeZone(cameras[0].time_zone);
  const select = $("camera");
  select.replaceChildren(...cameras.map((c) => el("option", { value: c.id, text: `${c.id} (${c.entrance})` })));
  select.value = state.camera || "";
}

export async function refreshLive() {
  if (!state.camera) return;
  try {
    receiveLive(await api.fetchLive(state.camera));
  } catch (error) { receiveLive(null); }
  // Not under a dragged point: the drag redraws.
  if (!state.dragging) redraw();
}

// A new picture once the previous one is shown: never more requests than the link carries.
export function refreshPicture() {
  if (!state.camera || state.loading) return;
  setPictureLoading(true);
  const next = new Image();
  next.onload = () => { $("picture").src = next.src; setPictureLoading(false); };
  next.onerror = () => { setPictureLoading(false); };
  next.src = api.frameUrl(state.camera, { clear: state.live && state.live.unblurred_s > 0, undistorted: state.undistorted });
}

export async function refreshFlow() {
  if (!state.camera || !state.showFlow) return;
  try { receiveFlow(await api.fetchFlow(state.camera)); } catch (error) { receiveFlow(null); }
  $("use-suggestion").disabled = !(state.flow && state.flow.suggestion);
}

export function toggleFlow() {
  toggleFlowMap();
  $("flow-toggle").classList.toggle("active", state.showFlow);
  if (state.showFlow) refreshFlow(); else $("use-suggestion").disabled = true;
  redraw();
}

// People unblurred on this camera for 30 s; the live answer says so at once.
export async function unblur() {
  if (!state.camera) return;
  const response = await api.unblur(state.camera);
  if (response.ok) refreshLive();
}
