// The analysts' map: MapLibre GL JS (vendored, no CDN) over the deployment's basemap, the grid's
// cells coloured on the grid's fixed classes (people per hectare, or head count), buildings with
// names as labels that never collide, the regional flow picture (people arriving and leaving
// each cell, hour by hour, with a play control), details in words with a 24-hour chart, and
// exports. Texts from the page's catalogue (/i18n/), times in the grid's time zone, no inline
// script (CSP).
import * as maplibregl from "/vendor/maplibre-gl-6.17.0/maplibre-gl.mjs";
import { t, translate, language, languageSwitch, setTimeZone, formatDateTime, formatTime, formatNumber } from "/i18n/i18n.js";

const $ = (id) => document.getElementById(id);
// `?at=TIME` (RFC 3339) draws that moment instead of now; the slider goes back from it.
const base = new URLSearchParams(location.search).get("at");
const STEP_MS = 300000; // a slider step: 5 minutes
const FONT = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "sans-serif"];
const IN_COLOUR = "#2166ac";
const OUT_COLOUR = "#b35806";

let fc = null; // the GeoJSON of the moment shown
let flowData = null; // /density/flows of the 24 hours before the newest moment
let view = "density";
let selected = null; // {kind, key}
let timer = null;
let playing = null;
let mapReady = null;

languageSwitch($("language"));
translate();

const number = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(v) ? "–" : formatNumber(v, { maximumFractionDigits: digits }));
const momentMs = () => (base ? new Date(base).getTime() : Date.now()) + Number($("slider").value) * STEP_MS;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const localHour = (when) => Number(formatTime(when).slice(0, 2));

// ---- the map ----------------------------------------------------------------------------------

const map = new maplibregl.Map({
  container: "map",
  style: { version: 8, sources: {}, layers: [{ id: "paper", type: "background", paint: { "background-color": "#f2efe9" } }] },
  center: [0, 0],
  zoom: 1,
  attributionControl: { compact: false },
  dragRotate: false,
  pitchWithRotate: false,
  // Labels appear at once: a slider move redraws without a fade (and screenshots are the same).
  fadeDuration: 0,
});
map.touchZoomRotate.disableRotation();
map.keyboard.disableRotation();
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
map.addControl(new maplibregl.ScaleControl({ unit: "metric", maxWidth: 120 }), "bottom-left");
window.lintelMap = map; // for the browser tests

const loaded = new Promise((resolve) => map.on("load", resolve));
// Marks for the bench (benches/benches/map_page.rs): where the time of a load goes.
loaded.then(() => performance.mark("lintel-map-loaded"));

async function basemap() {
  let described = { kind: "none" };
  try {
    const answer = await fetch("density/basemap.json");
    if (answer.ok) described = await answer.json();
  } catch (_) { /* the grid alone */ }
  await loaded;
  const note = $("basemap-note");
  if (described.kind === "none") {
    note.textContent = t("map.basemap_none");
    return;
  }
  const tiles = described.tiles.map((u) => (u.startsWith("/") ? location.origin + u : u));
  const source = { type: "raster", tiles, tileSize: 256, minzoom: described.minzoom ?? 0, maxzoom: described.maxzoom ?? 19 };
  if (described.bounds) source.bounds = described.bounds;
  if (described.attribution) source.attribution = described.attribution;
  map.addSource("basemap", source);
  map.addLayer({ id: "basemap", type: "raster", source: "basemap" }, "cells-fill");
  note.textContent = t("map.basemap_shown", { name: described.name || t("map.basemap_unnamed"), datum: described.datum });
  document.body.classList.add("with-basemap");
  map.setPaintProperty("cells-fill", "fill-opacity", 0.55);
}

function emptyCollection() {
  return { type: "FeatureCollection", features: [] };
}

// The layers, once: later moments only replace their sources' data.
async function layers() {
  await loaded;
  for (const id of ["cells", "cell-points", "buildings", "footprints", "flows"]) map.addSource(id, { type: "geojson", data: emptyCollection() });
  map.addLayer({ id: "cells-fill", type: "fill", source: "cells", paint: { "fill-color": "#d4d4d4", "fill-opacity": 0.8 } });
  map.addLayer({ id: "cells-line", type: "line", source: "cells", paint: { "line-color": "#333", "line-width": ["case", ["boolean", ["get", "selected"], false], 4, 1.5] } });
  map.addLayer({ id: "footprints-fill", type: "fill", source: "footprints", paint: { "fill-color": "#1f3b73", "fill-opacity": ["case", ["get", "stale"], 0.1, 0.35] } });
  map.addLayer({ id: "footprints-line", type: "line", source: "footprints", paint: { "line-color": ["case", ["get", "stale"], "#777", "#1f3b73"], "line-width": 1.2 } });
  map.addLayer({
    id: "buildings", type: "circle", source: "buildings",
    paint: {
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, 2, 15, 6], "circle-stroke-width": ["interpolate", ["linear"], ["zoom"], 12, 0.5, 15, 2],
      "circle-color": ["case", ["get", "stale"], "#ffffff", "#1f3b73"],
      "circle-stroke-color": ["case", ["boolean", ["get", "selected"], false], "#e7298a", ["get", "stale"], "#777777", "#ffffff"],
    },
  });
  // The regional flow picture: a blue disc for people arriving, an orange ring for people leaving,
  // area in proportion to the count, one fixed scale over the 24 hours.
  map.addLayer({
    id: "flows-in", type: "circle", source: "flows", layout: { visibility: "none" },
    paint: { "circle-radius": ["get", "r_in"], "circle-color": IN_COLOUR, "circle-opacity": 0.75, "circle-translate": [-14, 0], "circle-stroke-color": "#fff", "circle-stroke-width": ["case", [">", ["get", "r_in"], 0], 1, 0] },
  });
  map.addLayer({
    id: "flows-out", type: "circle", source: "flows", layout: { visibility: "none" },
    paint: { "circle-radius": ["get", "r_out"], "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": OUT_COLOUR, "circle-stroke-width": ["case", [">", ["get", "r_out"], 0], 4, 0], "circle-translate": [14, 0] },
  });
  const halo = { "text-color": "#111", "text-halo-color": "#fff", "text-halo-width": 2 };
  map.addLayer({
    // Building names from street level (a city of thousands of buildings shows its cells first).
    id: "building-labels", type: "symbol", source: "buildings", minzoom: 14.5,
    layout: {
      "text-field": ["get", "label"], "text-font": FONT, "text-size": 13,
      "text-variable-anchor": ["left", "right", "top", "bottom"], "text-radial-offset": 0.9, "text-max-width": 30,
      "text-allow-overlap": false, "text-ignore-placement": false, "symbol-sort-key": ["get", "rank"],
    },
    paint: halo,
  });
  map.addLayer({
    id: "flow-labels", type: "symbol", source: "flows", layout: { visibility: "none", "text-field": ["get", "label"], "text-font": FONT, "text-size": 12, "text-offset": [0, 2.2], "text-allow-overlap": false },
    paint: halo,
  });
  // Cell names last: placed first, so a building's label gives way to its cell's.
  map.addLayer({
    id: "cell-labels", type: "symbol", source: "cell-points",
    layout: { "text-field": ["get", "label"], "text-font": FONT, "text-size": 15, "text-allow-overlap": false, "text-anchor": "center", "text-max-width": 12 },
    paint: { ...halo, "text-halo-width": 2.5 },
  });
  for (const layer of ["cells-fill", "buildings", "footprints-fill"]) {
    map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
  }
  map.on("click", (e) => {
    const hits = map.queryRenderedFeatures(e.point, { layers: ["buildings", "footprints-fill", "cells-fill"] });
    const hit = hits.find((f) => f.layer.id !== "cells-fill") || hits[0];
    if (!hit) return;
    selected = { kind: hit.properties.kind, key: hit.properties.key };
    showDetail();
    paint();
  });
}

// The point a cell's name is written at: the middle of its outer ring's box, a little under its
// top edge (its middle is often a building's place).
function labelPoint(geometry) {
  const ring = geometry.type === "Polygon" ? geometry.coordinates[0] : geometry.coordinates[0][0];
  const xs = ring.map((p) => p[0]), ys = ring.map((p) => p[1]);
  const top = Math.max(...ys), bottom = Math.min(...ys);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, top - (top - bottom) * 0.12];
}

// Where a cell's flow symbols stand: its middle.
function middle(geometry) {
  const ring = geometry.type === "Polygon" ? geometry.coordinates[0] : geometry.coordinates[0][0];
  const xs = ring.map((p) => p[0]), ys = ring.map((p) => p[1]);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

const keyOf = (p) => (p.kind === "cell" ? p.id : p.site + "/" + p.building);

// The sources' data for the moment and view shown.
function paint() {
  if (!fc || !map.getSource("cells")) return;
  const legend = view === "count" ? fc.legend.count : fc.legend.density;
  const cells = [], points = [], buildings = [], footprints = [];
  for (const f of fc.features) {
    const p = f.properties;
    const key = keyOf(p);
    const isSelected = selected && selected.key === key;
    if (p.kind === "cell") {
      const value = view === "count" ? p.occupancy : p.density_per_ha;
      cells.push({ type: "Feature", geometry: f.geometry, properties: { kind: "cell", key, fresh: p.buildings_fresh > 0, value: value ?? 0, selected: isSelected } });
      const people = p.buildings_fresh > 0 ? t("map.cell_people", { people: formatNumber(p.occupancy) }) : t("map.no_data");
      points.push({ type: "Feature", geometry: { type: "Point", coordinates: labelPoint(f.geometry) }, properties: { key, label: p.name + "\n" + people } });
    } else {
      const props = { kind: "building", key, stale: p.stale, selected: isSelected, rank: -(p.occupancy ?? -1), label: p.name + " " + (p.occupancy === null ? "–" : p.stale ? "(" + formatNumber(p.occupancy) + ")" : formatNumber(p.occupancy)) };
      buildings.push({ type: "Feature", geometry: { type: "Point", coordinates: p.position }, properties: props });
      if (f.geometry.type === "Polygon") footprints.push({ type: "Feature", geometry: f.geometry, properties: props });
    }
  }
  map.getSource("cells").setData({ type: "FeatureCollection", features: cells });
  map.getSource("cell-points").setData({ type: "FeatureCollection", features: points });
  map.getSource("buildings").setData({ type: "FeatureCollection", features: buildings });
  map.getSource("footprints").setData({ type: "FeatureCollection", features: footprints });
  const steps = [];
  legend.lower.forEach((l, i) => { if (i > 0) steps.push(l); steps.push(legend.colours[i]); });
  const colour = view === "flows" ? "#eeeeee" : ["case", ["get", "fresh"], ["step", ["get", "value"], ...steps], legend.no_data];
  map.setPaintProperty("cells-fill", "fill-color", colour);
  const flows = view === "flows" ? "visible" : "none";
  for (const id of ["flows-in", "flows-out", "flow-labels"]) map.setLayoutProperty(id, "visibility", flows);
  if (view === "flows") paintFlows();
  drawLegend();
}

function drawLegend() {
  const box = $("legend");
  box.textContent = "";
  const row = (swatchClass, colour, text) => {
    const div = document.createElement("div");
    const swatch = document.createElement("span");
    swatch.className = swatchClass;
    if (swatchClass === "swatch") swatch.style.background = colour;
    else swatch.style.borderColor = colour;
    if (swatchClass === "disc") swatch.style.background = colour;
    div.append(swatch, text);
    box.appendChild(div);
  };
  if (view === "flows") {
    $("legend-heading").textContent = t("map.legend_flows");
    row("disc", IN_COLOUR, t("map.flows_in"));
    row("ring", OUT_COLOUR, t("map.flows_out"));
    const note = document.createElement("small");
    note.textContent = t("map.flows_scale", { max: number(flowData ? flowData.max : 0, 1) });
    box.appendChild(note);
    return;
  }
  const legend = view === "count" ? fc.legend.count : fc.legend.density;
  $("legend-heading").textContent = t(view === "count" ? "map.legend_count" : "map.legend_density");
  legend.lower.forEach((l, i) => {
    const next = legend.lower[i + 1];
    row("swatch", legend.colours[i], next === undefined ? formatNumber(l) + "+" : formatNumber(l) + "–" + formatNumber(next));
  });
  row("swatch", legend.no_data, t("map.legend_no_data"));
  const note = document.createElement("small");
  note.textContent = t(legend.source === "grid" ? "map.legend_fixed_grid" : legend.source === "capacity" ? "map.legend_fixed_capacity" : "map.legend_fixed_default");
  box.appendChild(note);
}

// ---- the moment shown -------------------------------------------------------------------------

function drawTitle() {
  setTimeZone(fc.time_zone || "UTC");
  $("zone").textContent = fc.time_zone ? t("map.zone", { zone: fc.time_zone }) : t("map.zone_default");
  $("title").textContent = fc.name || t("map.heading");
  $("when").textContent = t("map.at", { time: formatDateTime(fc.at) });
  const lost = fc.messages_lost;
  $("lost").textContent = lost === null || lost === undefined ? t("map.lost_not_counted") : t("map.lost", { count: formatNumber(lost) });
}

let fitted = false;
function fit() {
  if (fitted) return;
  let w = 180, e = -180, s = 90, n = -90;
  const visit = (c) => { if (typeof c[0] === "number") { w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]); } else c.forEach(visit); };
  fc.features.forEach((f) => visit(f.geometry.coordinates));
  const small = map.getContainer().clientWidth < 500;
  map.fitBounds([[w, s], [e, n]], { padding: small ? 24 : { top: 110, bottom: 40, left: 40, right: 40 }, animate: false });
  fitted = true;
}

function exportLinks() {
  const at = momentMs();
  const lang = language();
  const picture = new URLSearchParams({ lang, at: iso(at) });
  $("export-svg").href = "density.svg?" + picture;
  const range = new URLSearchParams({ from: iso(at - 86400000), to: iso(at) });
  $("export-csv").href = "density/export.csv?level=cell&" + range;
  $("export-ngsi").href = "ngsi-ld/entities?" + range;
}

// A city's buildings: up to BUILDINGS_AT_ONCE the page loads them all with the cells; a bigger
// grid shows its cells first and its buildings from street level (BUILDINGS_FROM_ZOOM), only those
// in and around the view, as web maps do (10,000 points drawn at city scale are a smudge and cost
// seconds of a slow machine's drawing).
const BUILDINGS_AT_ONCE = 2000;
const BUILDINGS_FROM_ZOOM = 14;
let buildingsHeld = null; // [w, s, e, n] the buildings shown were asked for, "all", or null: none

const buildingCount = (cells) => cells.features.reduce((n, f) => n + (f.properties.buildings || 0), 0);
const manyBuildings = () => fc && buildingCount(fc) > BUILDINGS_AT_ONCE;

function geojsonUrl(extra) {
  const moment = Number($("slider").value) === 0 && !base ? [] : ["at=" + encodeURIComponent(iso(momentMs()))];
  return "density.geojson?" + moment.concat(extra).join("&");
}

// The view's bounds, half a view wider on each side (a small pan needs no new answer).
function viewBox() {
  const b = map.getBounds();
  const dx = (b.getEast() - b.getWest()) / 2, dy = (b.getNorth() - b.getSouth()) / 2;
  const clamp = (v, limit) => Math.max(-limit, Math.min(limit, v));
  return [clamp(b.getWest() - dx, 180), clamp(b.getSouth() - dy, 90), clamp(b.getEast() + dx, 180), clamp(b.getNorth() + dy, 90)];
}

const inside = (outer, inner) => outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];

// The buildings to show with cells `cells`: all of a small grid; of a big one, those around the
// view at street level, none further out. Resolves to [features, what they cover].
async function buildingsFor(cells) {
  if (buildingCount(cells) <= BUILDINGS_AT_ONCE) return [await features(geojsonUrl(["kind=building"])), "all"];
  if (map.getZoom() < BUILDINGS_FROM_ZOOM) return [[], null];
  const box = viewBox();
  return [await features(geojsonUrl(["kind=building", "bbox=" + box.map((v) => v.toFixed(6)).join(",")])), box];
}

async function features(url) {
  const answer = await fetch(url);
  if (!answer.ok) throw Object.assign(new Error(t("map.error", { status: answer.status })), { said: true });
  return (await answer.json()).features;
}

let loading = false;
async function load() {
  loading = true;
  exportLinks();
  try {
    const answer = await fetch(geojsonUrl(["kind=cell"]));
    if (!answer.ok) {
      $("when").textContent = t("map.error", { status: answer.status });
    } else {
      const cells = await answer.json();
      performance.mark("lintel-fetched");
      await mapReady;
      if (!fitted) {
        fc = cells;
        fit();
      }
      const [buildings, held] = await buildingsFor(cells);
      cells.features = cells.features.concat(buildings);
      fc = cells;
      const newlyHeld = JSON.stringify(held) !== JSON.stringify(buildingsHeld);
      buildingsHeld = held;
      if (newlyHeld) loadBuildingFlows();
      showBuildingsFrom(manyBuildings() ? BUILDINGS_FROM_ZOOM : 0);
      drawTitle();
      paint();
      if (selected) showDetail();
      ticks();
      document.body.dataset.drawn = String(Number(document.body.dataset.drawn || 0) + 1);
      performance.mark("lintel-data-set");
    }
  } catch (error) {
    $("when").textContent = error.said ? error.message : t("map.unreachable");
  }
  loading = false;
  clearTimeout(timer);
  if (Number($("slider").value) === 0 && !base && !playing) timer = setTimeout(load, 10000);
}

function showBuildingsFrom(zoom) {
  for (const id of ["buildings", "footprints-fill", "footprints-line"]) map.setLayerZoomRange(id, zoom, 24);
}

// A big grid's buildings follow the view: asked for again when it leaves what was asked for.
async function followView() {
  if (loading || !manyBuildings() || map.getZoom() < BUILDINGS_FROM_ZOOM) return;
  const view = map.getBounds();
  const shown = [view.getWest(), view.getSouth(), view.getEast(), view.getNorth()];
  if (Array.isArray(buildingsHeld) && inside(buildingsHeld, shown)) return;
  try {
    const [buildings, held] = await buildingsFor(fc);
    fc = { ...fc, features: fc.features.filter((f) => f.properties.kind === "cell").concat(buildings) };
    buildingsHeld = held;
    paint();
    loadBuildingFlows();
    document.body.dataset.buildings = String(Number(document.body.dataset.buildings || 0) + 1);
  } catch (error) {
    $("when").textContent = error.said ? error.message : t("map.unreachable");
  }
}

// Tick marks under the slider: every 6 hours back from the end, in local time.
function ticks() {
  const end = base ? new Date(base).getTime() : Date.now();
  const box = $("ticks");
  box.textContent = "";
  for (let h = -24; h <= 0; h += 6) {
    const span = document.createElement("span");
    span.textContent = formatTime(new Date(end + h * 3600000));
    box.appendChild(span);
  }
}

// ---- details in words -------------------------------------------------------------------------

function ago(ms) {
  const minutes = Math.round(ms / 60000);
  const rtf = new Intl.RelativeTimeFormat(language(), { numeric: "auto" });
  if (Math.abs(minutes) < 90) return rtf.format(-minutes, "minute");
  const hours = Math.round(minutes / 60);
  if (Math.abs(hours) < 48) return rtf.format(-hours, "hour");
  return rtf.format(-Math.round(hours / 24), "day");
}

function freshness(p) {
  if (!p.last_data) return t("map.fresh_never");
  const age = new Date(fc.at).getTime() - new Date(p.last_data).getTime();
  return t(age <= fc.stale_after_s * 1000 ? "map.fresh_yes" : "map.fresh_stale", { ago: ago(age), time: formatDateTime(p.last_data) });
}

function sentence(text, className) {
  const para = document.createElement("p");
  para.textContent = text;
  if (className) para.className = className;
  return para;
}

function showDetail() {
  if (!fc || !selected) return;
  const f = fc.features.find((x) => keyOf(x.properties) === selected.key);
  if (!f) return;
  const p = f.properties;
  const box = $("detail");
  const heading = document.createElement("h3");
  heading.textContent = p.name;
  const lines = [heading];
  if (p.kind === "cell") {
    lines.push(sentence(p.buildings_fresh > 0 ? t("map.says_cell_people", { people: formatNumber(p.occupancy), fresh: p.buildings_fresh, buildings: p.buildings }) : t("map.says_cell_no_data", { buildings: p.buildings })));
    if (p.density_per_ha !== null) lines.push(sentence(t("map.says_density", { density: number(p.density_per_ha, 1), area: number(p.area_ha, 1) })));
    if (p.occupancy_stale) lines.push(sentence(t("map.says_cell_stale", { people: formatNumber(p.occupancy_stale) })));
    if (p.population !== null) lines.push(sentence(t("map.says_population", { population: formatNumber(p.population) })));
    const capacity = p.capacity || 0;
    if (capacity > 0) lines.push(sentence(t("map.says_capacity", { capacity: formatNumber(capacity), share: number(100 * p.occupancy / capacity) })));
    lines.push(sentence(t("map.says_flows", { entries: formatNumber(p.entries), exits: formatNumber(p.exits) })));
    lines.push(sentence(p.last_data ? t("map.says_cell_updated", { ago: ago(new Date(fc.at) - new Date(p.last_data)) }) : t("map.fresh_never"), "fresh"));
  } else {
    const cell = fc.features.find((x) => x.properties.kind === "cell" && x.properties.id === p.cell);
    lines.push(sentence(t("map.says_in_cell", { cell: cell ? cell.properties.name : p.cell })));
    lines.push(sentence(p.occupancy === null ? t("map.says_building_no_data") : t(p.stale ? "map.says_building_people_stale" : "map.says_building_people", { people: formatNumber(p.occupancy) })));
    if (p.capacity !== null && p.occupancy !== null) lines.push(sentence(t("map.says_capacity", { capacity: formatNumber(p.capacity), share: number(100 * p.occupancy / p.capacity) })));
    else if (p.capacity !== null) lines.push(sentence(t("map.says_capacity_only", { capacity: formatNumber(p.capacity) })));
    if (p.density_per_100m2 !== null) lines.push(sentence(t("map.says_floor_density", { density: number(p.density_per_100m2, 1) })));
    if (p.interval_start && p.interval_end) {
      lines.push(sentence(t("map.says_interval", { from: formatTime(p.interval_start), to: formatTime(p.interval_end), entries: number(p.entries), exits: number(p.exits) })));
    }
    lines.push(sentence(freshness(p), "fresh"));
  }
  const chart = document.createElement("div");
  chart.id = "chart";
  lines.push(chart);
  box.replaceChildren(...lines);
  drawChart(p, chart);
}

// A 24-hour chart of people (hourly mean) up to the moment shown, from /density/history: a
// building's own for an analyst, else its cell's (small counts suppressed, as for everyone).
async function drawChart(p, box) {
  const to = momentMs();
  const range = "&from=" + encodeURIComponent(iso(to - 86400000)) + "&to=" + encodeURIComponent(iso(to));
  let caption = t("map.chart_cell", { name: p.name });
  let answer = null;
  try {
    if (p.kind === "building") {
      answer = await fetch("density/history?step=hour&building=" + encodeURIComponent(p.site + "/" + p.building) + range);
      if (answer.status === 403) {
        const cell = fc.features.find((x) => x.properties.kind === "cell" && x.properties.id === p.cell);
        caption = t("map.chart_cell_of_building", { name: cell ? cell.properties.name : p.cell });
        answer = await fetch("density/history?cell=" + encodeURIComponent(p.cell) + range);
      } else {
        caption = t("map.chart_building", { name: p.name });
      }
    } else {
      answer = await fetch("density/history?cell=" + encodeURIComponent(p.id) + range);
    }
  } catch (_) { answer = null; }
  const title = document.createElement("h4");
  title.textContent = caption;
  if (!answer || !answer.ok) {
    box.replaceChildren(title, sentence(t("map.chart_unavailable")));
    return;
  }
  const history = await answer.json();
  const points = history.points.filter((x) => x.occupancy !== null && x.occupancy !== undefined);
  const NS = "http://www.w3.org/2000/svg";
  const W = 300, H = 120, left = 30, bottom = 18;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", caption);
  const el = (name, attrs, text) => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  const max = Math.max(1, ...points.map((x) => x.occupancy));
  const x = (ms) => left + (W - left - 4) * (ms - (to - 86400000)) / 86400000;
  const y = (v) => H - bottom - (H - bottom - 8) * v / max;
  el("line", { x1: left, y1: H - bottom, x2: W - 4, y2: H - bottom, class: "axis" });
  el("text", { x: left - 4, y: y(max) + 4, "text-anchor": "end", class: "tick" }, formatNumber(Math.round(max)));
  el("text", { x: left - 4, y: H - bottom, "text-anchor": "end", class: "tick" }, "0");
  for (let h = 0; h <= 24; h += 6) {
    const at = to - 86400000 + h * 3600000;
    el("text", { x: x(at), y: H - 4, "text-anchor": h === 0 ? "start" : h === 24 ? "end" : "middle", class: "tick" }, formatTime(new Date(at)));
  }
  for (const point of points) {
    const start = new Date(point.start).getTime(), end = new Date(point.end).getTime();
    const bar = el("rect", { x: x(start) + 0.5, y: y(point.occupancy), width: Math.max(1, x(end) - x(start) - 1), height: H - bottom - y(point.occupancy), class: "bar" });
    const tip = document.createElementNS(NS, "title");
    tip.textContent = t("map.chart_bar", { from: formatTime(point.start), to: formatTime(point.end), people: number(point.occupancy, 1), entries: number(point.entries), exits: number(point.exits) });
    bar.appendChild(tip);
  }
  const summary = points.length
    ? t("map.chart_summary", { entries: formatNumber(history.points.reduce((s, p2) => s + p2.entries, 0)), exits: formatNumber(history.points.reduce((s, p2) => s + p2.exits, 0)) })
    : t("map.chart_empty");
  box.replaceChildren(title, svg, sentence(summary));
}

// ---- the regional flow picture ----------------------------------------------------------------

async function loadFlows() {
  const to = base ? "?to=" + encodeURIComponent(base) : "";
  try {
    const answer = await fetch("density/flows" + to);
    if (!answer.ok) return;
    const data = await answer.json();
    data.max = perHour(data.cells);
    flowData = data;
    setTimeZone(data.time_zone); // the ranking's parts of the day are local
    ranking();
    if (view === "flows") paint();
  } catch (_) { /* the ranking says nothing yet */ }
}

// Each span's people per hour in and out; the largest of them all (the symbols' one scale).
function perHour(places) {
  let max = 0;
  for (const place of places) {
    for (const span of place.spans) {
      span.startMs = new Date(span.start).getTime();
      span.endMs = new Date(span.end).getTime();
      const hours = Math.max(1, (span.endMs - span.startMs) / 3600000);
      span.inPerHour = span.entries / hours;
      span.outPerHour = span.exits / hours;
      max = Math.max(max, span.inPerHour, span.outPerHour);
    }
  }
  return max;
}

// From street level the flow picture is per building (those the page holds), further out per cell.
const BUILDING_FLOWS_FROM_ZOOM = 15;
let buildingFlows = null; // /density/flows?level=building for the buildings held

async function loadBuildingFlows() {
  if (!buildingsHeld) return;
  const query = new URLSearchParams({ level: "building" });
  if (base) query.set("to", base);
  if (Array.isArray(buildingsHeld)) query.set("bbox", buildingsHeld.map((v) => v.toFixed(6)).join(","));
  try {
    const answer = await fetch("density/flows?" + query);
    if (!answer.ok) return;
    const data = await answer.json();
    data.max = perHour(data.buildings);
    buildingFlows = data;
    if (view === "flows") paintFlows();
  } catch (_) { /* cells' flows only */ }
}

// The flows of the hour ending at the moment shown.
function paintFlows() {
  if (!flowData || !fc) return;
  const moment = momentMs() - 1;
  const byBuilding = buildingFlows && map.getZoom() >= BUILDING_FLOWS_FROM_ZOOM;
  const data = byBuilding ? buildingFlows : flowData;
  const places = byBuilding ? data.buildings : data.cells;
  const where = new Map(fc.features.filter((f) => f.properties.kind === "cell").map((f) => [f.properties.id, middle(f.geometry)]));
  const radius = (v) => (v > 0 ? (byBuilding ? 3 : 4) + (byBuilding ? 14 : 22) * Math.sqrt(v / Math.max(data.max, 1)) : 0);
  const features = [];
  for (const place of places) {
    const span = place.spans.find((s) => s.startMs <= moment && moment < s.endMs);
    const inflow = span ? span.inPerHour : 0, outflow = span ? span.outPerHour : 0;
    const label = inflow === 0 && outflow === 0 ? "" : t("map.flows_label", { entries: number(inflow, 1), exits: number(outflow, 1), net: (inflow - outflow >= 0 ? "+" : "") + number(inflow - outflow, 1) });
    const at = byBuilding ? place.position : where.get(place.id);
    features.push({ type: "Feature", geometry: { type: "Point", coordinates: at }, properties: { level: byBuilding ? "building" : "cell", r_in: radius(inflow), r_out: radius(outflow), label } });
  }
  document.body.dataset.flowsLevel = byBuilding ? "building" : "cell";
  map.getSource("flows").setData({ type: "FeatureCollection", features });
}

// Where people arrive and leave: the cells with the most entries and exits in each part of the
// day (local time), over the last 24 hours.
function ranking() {
  const parts = [["map.part_morning", 6, 10], ["map.part_day", 10, 16], ["map.part_evening", 16, 20], ["map.part_night", 20, 30]];
  const box = $("ranking");
  box.textContent = "";
  for (const [key, from, to] of parts) {
    const inPart = (spans) => {
      let entries = 0, exits = 0;
      for (const span of spans) {
        const h = localHour(span.start);
        const hour = h < 6 ? h + 24 : h;
        if (hour >= from && hour < to) { entries += span.entries; exits += span.exits; }
      }
      return { entries, exits };
    };
    const sums = flowData.cells.map((cell) => ({ name: cell.name, ...inPart(cell.spans), before: cell.week_before.length ? inPart(cell.week_before) : null }));
    // Against the same weekday last week, where the history reaches that far.
    const item = (s, field) => (s.before
      ? t("map.ranking_item_week", { name: s.name, count: formatNumber(s[field]), before: formatNumber(s.before[field]) })
      : t("map.ranking_item", { name: s.name, count: formatNumber(s[field]) }));
    const best = (field) => sums.filter((s) => s[field] > 0).sort((a, b) => b[field] - a[field]).slice(0, 3).map((s) => item(s, field));
    const arrive = best("entries"), leave = best("exits");
    const div = document.createElement("div");
    div.className = "part";
    const h = document.createElement("h4");
    h.textContent = t(key);
    div.append(h,
      sentence(arrive.length ? t("map.ranking_arrive", { list: arrive.join(t("map.list_separator")) }) : t("map.ranking_arrive_none")),
      sentence(leave.length ? t("map.ranking_leave", { list: leave.join(t("map.list_separator")) }) : t("map.ranking_leave_none")));
    box.appendChild(div);
  }
  const note = document.createElement("small");
  note.textContent = t("map.ranking_note", { threshold: flowData.suppressed_below });
  box.appendChild(note);
}

// ---- play, views, export ----------------------------------------------------------------------

function stopPlaying() {
  clearInterval(playing);
  playing = null;
  $("play").textContent = t("map.play");
}

$("play").addEventListener("click", () => {
  if (playing) return stopPlaying();
  const slider = $("slider");
  if (Number(slider.value) >= 0) slider.value = -288;
  $("play").textContent = t("map.pause");
  // An hour a step, from 24 hours back to the end.
  playing = setInterval(() => {
    const next = Math.min(0, Number(slider.value) + 12);
    slider.value = next;
    load();
    if (next >= 0) stopPlaying();
  }, 900);
  load();
});

for (const radio of document.querySelectorAll("input[name=view]")) {
  radio.addEventListener("change", () => {
    view = radio.value;
    document.body.dataset.view = view;
    paint();
  });
}

$("slider").addEventListener("input", () => { stopPlaying(); load(); });

// What is on screen as a PNG: the map's canvas (basemap included), under a title band with the
// place and local time, over the legend.
// The canvas is read in the task that drew it (map.redraw draws at once): a preserved drawing
// buffer would cost every frame a copy.
$("export-png").addEventListener("click", () => {
  map.redraw();
  exportPng();
});

function exportPng() {
  const canvas = map.getCanvas();
  const ratio = canvas.width / canvas.clientWidth;
  const out = document.createElement("canvas");
  const band = 56 * ratio, foot = 40 * ratio;
  out.width = canvas.width;
  out.height = canvas.height + band + foot;
  const g = out.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, out.width, out.height);
  g.drawImage(canvas, 0, band);
  g.fillStyle = "#111";
  g.font = `bold ${20 * ratio}px ${FONT.join(",")}`;
  g.fillText($("title").textContent, 12 * ratio, 24 * ratio);
  g.font = `${14 * ratio}px ${FONT.join(",")}`;
  g.fillText($("when").textContent + " · " + $("zone").textContent, 12 * ratio, 46 * ratio);
  g.fillText($("legend-heading").textContent, 12 * ratio, out.height - 16 * ratio);
  let x = (24 + g.measureText($("legend-heading").textContent).width / ratio) * ratio;
  for (const row of $("legend").querySelectorAll("div")) {
    const swatch = row.querySelector("span");
    g.fillStyle = getComputedStyle(swatch).backgroundColor;
    g.fillRect(x, out.height - 28 * ratio, 18 * ratio, 14 * ratio);
    g.fillStyle = "#111";
    g.fillText(row.textContent, x + 22 * ratio, out.height - 16 * ratio);
    x += (30 + g.measureText(row.textContent).width / ratio) * ratio;
  }
  const link = document.createElement("a");
  link.download = "density-map.png";
  link.href = out.toDataURL("image/png");
  document.body.appendChild(link);
  link.click();
  link.remove();
}

mapReady = layers().then(basemap);
map.on("moveend", followView);
// Crossing street level switches the flow picture between cells and buildings.
map.on("zoomend", () => { if (view === "flows") paintFlows(); });
window.addEventListener("resize", () => map.resize());
// The flows after the first moment is drawn: the store answers the map first.
load().then(loadFlows);
setInterval(() => { if (!base) { loadFlows(); loadBuildingFlows(); } }, 300000);
