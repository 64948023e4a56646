"use strict";
const svg = document.getElementById("map");
const NS = "http://www.w3.org/2000/svg";
let timer = null;

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

function show(props) {
  const lines = Object.entries(props).filter(([k]) => k !== "position").map(([k, v]) => k + ": " + (v === null ? "-" : v));
  document.getElementById("detail").textContent = lines.join("\n");
}

function draw(fc) {
  document.getElementById("title").textContent = fc.name || "Density";
  document.getElementById("when").textContent = "at " + fc.at;
  // Messages the nodes sent that never arrived (seq gaps); per node on /metrics.
  const lost = fc.messages_lost;
  document.getElementById("lost").textContent = "messages lost: " + (lost === null || lost === undefined ? "not counted here" : lost);
  const legendBox = document.getElementById("legend");
  legendBox.textContent = "";
  fc.legend.lower.forEach((l, i) => {
    const next = fc.legend.lower[i + 1];
    const row = document.createElement("div");
    row.innerHTML = '<span class="swatch"></span>' + (next === undefined ? l + "+" : l + "–" + (next - 1));
    row.firstChild.style.background = fc.legend.colours[i];
    legendBox.appendChild(row);
  });
  const none = document.createElement("div");
  none.innerHTML = '<span class="swatch"></span>no fresh data';
  none.firstChild.style.background = fc.legend.no_data;
  legendBox.appendChild(none);

  // Fit the features into the SVG, equal metres in x and y at the grid's latitude.
  let w = 180, e = -180, s = 90, n = -90;
  const visit = (c) => { if (typeof c[0] === "number") { w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]); } else c.forEach(visit); };
  fc.features.forEach(f => visit(f.geometry.coordinates));
  const cos = Math.cos((s + n) / 2 * Math.PI / 180);
  const W = svg.clientWidth || 800, H = svg.clientHeight || 600, m = 30;
  const k = Math.min((W - 2 * m) / Math.max((e - w) * cos, 1e-9), (H - 2 * m) / Math.max(n - s, 1e-9));
  const xy = (p) => [m + (p[0] - w) * cos * k, m + (n - p[1]) * k];
  const pathOf = (rings) => rings.map(r => r.map((p, i) => (i ? "L" : "M") + xy(p).join(",")).join("") + "Z").join("");
  svg.textContent = "";
  for (const f of fc.features) {
    const p = f.properties;
    if (p.kind === "cell") {
      const polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      const fill = p.buildings_fresh === 0 ? fc.legend.no_data : colour(fc.legend, p.occupancy);
      for (const poly of polys) {
        const path = el("path", { d: pathOf(poly), fill, class: "cell", "fill-rule": "evenodd" }, svg);
        el("title", {}, path).textContent = p.name + ": " + p.occupancy + " people, " + p.buildings_fresh + "/" + p.buildings + " buildings fresh";
        path.addEventListener("click", () => show(p));
      }
      // The cell's name and count under its top edge.
      const ring = polys[0][0];
      const top = Math.max(...ring.map(q => q[1]));
      const xs = ring.map(q => xy(q)[0]);
      const cx = (Math.min(...xs) + Math.max(...xs)) / 2, ty = xy([w, top])[1];
      const name = el("text", { x: cx, y: ty + 20, "font-size": 15, "text-anchor": "middle", "font-weight": "bold" }, svg);
      name.textContent = p.name;
      const count = el("text", { x: cx, y: ty + 38, "font-size": 13, "text-anchor": "middle" }, svg);
      count.textContent = p.occupancy + " people · " + p.buildings_fresh + "/" + p.buildings + " fresh" + (p.occupancy_stale ? " (+" + p.occupancy_stale + " stale)" : "");
    }
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
    el("title", {}, dot).textContent = p.name + ": " + (p.occupancy === null ? "no data" : p.occupancy) + (fresh ? "" : " (stale, last data " + p.last_data + ")");
    dot.addEventListener("click", () => show(p));
    const label = el("text", { x: x + 10, y: y + 4, "font-size": 12 }, svg);
    label.textContent = p.occupancy === null ? "–" : (fresh ? p.occupancy : "(" + p.occupancy + ")");
  }
}

async function load() {
  const back = Number(document.getElementById("slider").value);
  const url = back === 0 ? "density.geojson" : "density.geojson?at=" + new Date(Date.now() + back * 300000).toISOString().replace(/\.\d+Z$/, "Z");
  try {
    const answer = await fetch(url);
    if (answer.ok) draw(await answer.json());
    else document.getElementById("when").textContent = "error: " + answer.status;
  } catch (error) {
    document.getElementById("when").textContent = "cannot reach the server";
  }
  clearTimeout(timer);
  if (back === 0) timer = setTimeout(load, 10000);
}

document.getElementById("slider").addEventListener("input", load);
window.addEventListener("resize", load);
load();
