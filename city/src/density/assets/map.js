// The density map: the cells coloured by occupancy, the buildings on them, a legend and the time
// in the grid's time zone. Texts from the page's catalogue (/i18n/), no inline script (CSP).
import { t, translate, languageSwitch, setTimeZone, formatDateTime, formatTime, formatNumber } from "/i18n/i18n.js";

const svg = document.getElementById("map");
const NS = "http://www.w3.org/2000/svg";
// `?at=TIME` (RFC 3339) draws that moment instead of now; the slider goes back from it.
const base = new URLSearchParams(location.search).get("at");
let timer = null;

languageSwitch(document.getElementById("language"));
translate();

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  parent.appendChild(e);
  return e;
}

function colour(legend, occupancy) {
  let c = legend.colours[0];
  legend.lower.forEach((l, i) => { if (occupancy >= l) c = legend.colours[i]; });
  return c;
}

const number = (v) => (v === null || v === undefined ? "–" : formatNumber(v));
const when = (v) => (v ? formatDateTime(v) : "–");

// An interval as local times: "18:10–18:15".
function interval(p) {
  return p.interval_start && p.interval_end ? formatTime(p.interval_start) + "–" + formatTime(p.interval_end) : "–";
}

function show(p) {
  const rows = p.kind === "cell"
    ? [
      [t("map.field.cell"), p.name + " (" + p.id + ")"],
      [t("map.field.occupancy"), number(p.occupancy)],
      [t("map.field.occupancy_stale"), number(p.occupancy_stale)],
      [t("map.field.population"), number(p.population)],
      [t("map.field.density"), number(p.density_per_100m2)],
      [t("map.field.entries"), number(p.entries)],
      [t("map.field.exits"), number(p.exits)],
      [t("map.field.buildings_fresh"), p.buildings_fresh + " / " + p.buildings],
      [t("map.field.last_data"), when(p.last_data)],
    ]
    : [
      [t("map.field.building"), p.name + " (" + p.site + "/" + p.building + ")"],
      [t("map.field.occupancy"), number(p.occupancy) + (p.stale ? " " + t("map.stale_mark") : "")],
      [t("map.field.capacity"), number(p.capacity)],
      [t("map.field.density"), number(p.density_per_100m2)],
      [t("map.field.interval"), interval(p)],
      [t("map.field.entries"), number(p.entries)],
      [t("map.field.exits"), number(p.exits)],
      [t("map.field.last_data"), when(p.last_data)],
    ];
  document.getElementById("detail").textContent = rows.map(([k, v]) => k + t("map.colon") + v).join("\n");
}

function drawLegend(fc) {
  const legendBox = document.getElementById("legend");
  legendBox.textContent = "";
  const row = (background, text) => {
    const div = document.createElement("div");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = background;
    div.append(swatch, text);
    legendBox.appendChild(div);
  };
  fc.legend.lower.forEach((l, i) => {
    const next = fc.legend.lower[i + 1];
    row(fc.legend.colours[i], next === undefined ? l + "+" : l + "–" + (next - 1));
  });
  row(fc.legend.no_data, t("map.legend_no_data"));
}

function draw(fc) {
  // Times in the grid's zone; a grid without one is read in UTC, and the page says so.
  setTimeZone(fc.time_zone || "UTC");
  document.getElementById("zone").textContent = fc.time_zone ? t("map.zone", { zone: fc.time_zone }) : t("map.zone_default");
  document.getElementById("title").textContent = fc.name || t("map.heading");
  document.getElementById("when").textContent = t("map.at", { time: formatDateTime(fc.at) });
  // Messages the nodes sent that never arrived (seq gaps); per node on /metrics.
  const lost = fc.messages_lost;
  document.getElementById("lost").textContent = lost === null || lost === undefined ? t("map.lost_not_counted") : t("map.lost", { count: formatNumber(lost) });
  drawLegend(fc);

  // Fit the features into the SVG, equal metres in x and y at the grid's latitude.
  let w = 180, e = -180, s = 90, n = -90;
  const visit = (c) => { if (typeof c[0] === "number") { w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]); } else c.forEach(visit); };
  fc.features.forEach(f => visit(f.geometry.coordinates));
  const cos = Math.cos((s + n) / 2 * Math.PI / 180);
  const W = svg.clientWidth || 800, m = 30;
  let H = svg.clientHeight || 600;
  // On a phone the map sits above the panel: as tall as the grid needs at the screen's width.
  if (matchMedia("(max-width: 700px)").matches) {
    H = Math.min(window.innerHeight * 0.7, 2 * m + (n - s) * (W - 2 * m) / Math.max((e - w) * cos, 1e-9));
    svg.style.height = Math.round(H) + "px";
  }
  const k = Math.min((W - 2 * m) / Math.max((e - w) * cos, 1e-9), (H - 2 * m) / Math.max(n - s, 1e-9));
  const xy = (p) => [m + (p[0] - w) * cos * k, m + (n - p[1]) * k];
  const pathOf = (rings) => rings.map(r => r.map((p, i) => (i ? "L" : "M") + xy(p).join(",")).join("") + "Z").join("");
  // Labels shrink with the map (a phone), never under 10 px.
  const font = Math.max(10, Math.min(15, W / 60));
  svg.textContent = "";
  for (const f of fc.features) {
    const p = f.properties;
    if (p.kind !== "cell") continue;
    const polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
    const fill = p.buildings_fresh === 0 ? fc.legend.no_data : colour(fc.legend, p.occupancy);
    const counts = t("map.cell_counts", { people: formatNumber(p.occupancy), fresh: p.buildings_fresh, buildings: p.buildings });
    for (const poly of polys) {
      const path = el("path", { d: pathOf(poly), fill, class: "cell", "fill-rule": "evenodd" }, svg);
      el("title", {}, path).textContent = p.name + t("map.colon") + counts;
      path.addEventListener("click", () => show(p));
    }
    // The cell's name and count under its top edge.
    const ring = polys[0][0];
    const top = Math.max(...ring.map(q => q[1]));
    const xs = ring.map(q => xy(q)[0]);
    const cx = (Math.min(...xs) + Math.max(...xs)) / 2, ty = xy([w, top])[1];
    const name = el("text", { x: cx, y: ty + font + 5, "font-size": font, "text-anchor": "middle", "font-weight": "bold", class: "label" }, svg);
    name.textContent = p.name;
    const count = el("text", { x: cx, y: ty + 2 * font + 8, "font-size": font - 2, "text-anchor": "middle", class: "label" }, svg);
    count.textContent = counts + (p.occupancy_stale ? " " + t("map.cell_stale", { people: formatNumber(p.occupancy_stale) }) : "");
  }
  for (const f of fc.features) {
    const p = f.properties;
    if (p.kind !== "building") continue;
    const [x, y] = xy(p.position);
    const fresh = !p.stale;
    if (f.geometry.type === "Polygon") {
      el("path", { d: pathOf(f.geometry.coordinates), fill: fresh ? "rgba(31,59,115,0.35)" : "none", stroke: fresh ? "#1f3b73" : "#777" }, svg);
    }
    const dot = el("circle", { cx: x, cy: y, r: 7, fill: fresh ? "#1f3b73" : "white", stroke: fresh ? "#1f3b73" : "#777", class: "building" }, svg);
    const occupancy = p.occupancy === null ? t("map.no_data") : formatNumber(p.occupancy);
    el("title", {}, dot).textContent = p.name + t("map.colon") + occupancy + " · " + t("map.field.interval") + " " + interval(p)
      + (fresh ? "" : " " + t("map.building_stale", { time: when(p.last_data) }));
    dot.addEventListener("click", () => show(p));
    const label = el("text", { x: x + 10, y: y + 4, "font-size": font - 3, class: "label" }, svg);
    label.textContent = p.occupancy === null ? "–" : (fresh ? formatNumber(p.occupancy) : "(" + formatNumber(p.occupancy) + ")");
  }
}

async function load() {
  const back = Number(document.getElementById("slider").value);
  const from = base ? new Date(base).getTime() : Date.now();
  const at = new Date(from + back * 300000).toISOString().replace(/\.\d+Z$/, "Z");
  const url = back === 0 && !base ? "density.geojson" : "density.geojson?at=" + encodeURIComponent(at);
  // The picture of the moment shown, in the page's language.
  const picture = new URLSearchParams({ lang: document.documentElement.lang });
  if (back !== 0 || base) picture.set("at", at);
  document.getElementById("picture").href = "density.png?" + picture;
  try {
    const answer = await fetch(url);
    if (answer.ok) draw(await answer.json());
    else document.getElementById("when").textContent = t("map.error", { status: answer.status });
  } catch (error) {
    document.getElementById("when").textContent = t("map.unreachable");
  }
  clearTimeout(timer);
  if (back === 0 && !base) timer = setTimeout(load, 10000);
}

document.getElementById("slider").addEventListener("input", load);
window.addEventListener("resize", load);
load();
