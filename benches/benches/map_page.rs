//! The analysts' map page with many buildings: how long headless Chromium takes from navigation
//! to the map drawn (MapLibre loaded, the cells fetched, every cell, building shown and label
//! placed), how long a slider move takes to redraw (new data into the same layers), and how long a
//! zoom to street level takes until that view's buildings are drawn (a grid of more than 2,000
//! buildings shows them from zoom 14, those around the view). 1,000 buildings are
//! the baseline; 10,000 is the target (under 1 s on the 2-core box).
//!
//! `cargo bench -p lintel-benches --bench map_page` (needs Debian's chromium and chromium-driver).
//! Env: `LINTEL_BENCH_SIZES` (default `1000,10000`), `LINTEL_BENCH_LOADS` (default 5).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lintel_city::density::basemap::Basemap;
use lintel_city::density::ngsi::NgsiOptions;
use lintel_city::density::web::{DensityWeb, router};
use lintel_city::density::{Grid, Ingest, IngestMetrics, store};
use lintel_http::HttpServer;
use lintel_testkit::browser::Browser;
use lintel_testkit::{scratch_dir, wait_until};
use lintel_wire::UtcTime;
use prometheus_client::registry::Registry;
use serde_json::json;

/// `n` buildings, 100 to a cell of 300 m, each with a footprint-less point and a name.
fn synthetic_grid(n: usize, path: &Path) -> Arc<Grid> {
    let cells = n.div_ceil(100);
    let side = (cells as f64).sqrt().ceil() as usize;
    let size = 0.003;
    let mut features = Vec::new();
    for c in 0..cells {
        let (x0, y0) = (119.9 + (c % side) as f64 * size, 28.44 + (c / side) as f64 * size);
        features.push(json!({"type": "Feature", "properties": {"kind": "cell", "id": format!("c{c}"), "name": format!("第{c}网格")},
            "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]]}}));
        for b in 0..100.min(n - c * 100) {
            let (x, y) =
                (x0 + (b % 10) as f64 * size / 10.0 + size / 20.0, y0 + (b / 10) as f64 * size / 10.0 + size / 20.0);
            features.push(json!({"type": "Feature", "properties": {"kind": "building", "site": format!("s{c}"),
                "building": format!("b{b}"), "name": format!("{b}号楼"), "floor_area_m2": 1000, "capacity": 200},
                "geometry": {"type": "Point", "coordinates": [x, y]}}));
        }
    }
    let collection =
        json!({"type": "FeatureCollection", "properties": {"time_zone": "Asia/Shanghai"}, "features": features});
    std::fs::write(path, collection.to_string()).unwrap();
    Arc::new(Grid::load(path).unwrap())
}

/// A store where every building reported a minute ago.
fn filled_store(grid: &Arc<Grid>, url: &str) {
    let mut ingest = Ingest::new(Arc::clone(grid), store::open(url).unwrap(), Arc::new(IngestMetrics::default()));
    let now = UtcTime::now().unix_seconds();
    let start = now - now % 60 - 60;
    let time = |t: i64| UtcTime::from_unix_seconds(t).to_string();
    for (i, b) in grid.buildings.iter().enumerate() {
        let message = json!({
            "schema": "lintel.counts/1", "site": b.site, "building": b.building, "node": format!("n-{}", b.site),
            "seq": i + 1, "interval": {"start": time(start), "end": time(start + 60)},
            "entries": i % 7, "exits": i % 5, "occupancy": i % 180, "entrances": [],
        });
        let topic = format!("lintel/v1/{}/building/{}/counts", b.site, b.building);
        ingest.take(&topic, message.to_string().as_bytes(), UtcTime::now()).unwrap();
    }
}

const READY: &str = "const m = window.lintelMap; return Number(document.body.dataset.drawn || 0) >= arguments[0] && !!m && m.loaded() && m.areTilesLoaded() && !m.isMoving();";

fn wait_ready(browser: &Browser, drawn: u64) -> bool {
    wait_until(Duration::from_secs(60), || browser.execute(READY, json!([drawn])).as_bool() == Some(true))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let sizes: Vec<usize> = std::env::var("LINTEL_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let loads: usize = std::env::var("LINTEL_BENCH_LOADS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = scratch_dir("bench-map-page");
    println!("map page, headless Chromium 1280×720, {loads} loads each (median; the first load warms the cache)");
    println!(
        "| buildings | GeoJSON (all, one answer) | navigation → MapLibre loaded | → cells parsed | → data set | → drawn (in page) | load → drawn (wall) | slider move → redrawn | zoom to street → its buildings drawn |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut baseline = None;
    for n in sizes {
        let grid = synthetic_grid(n, &dir.join(format!("grid-{n}.geojson")));
        let url = format!("sqlite:{}", dir.join(format!("density-{n}.db")).display());
        filled_store(&grid, &url);
        let state = Arc::new(DensityWeb {
            grid: Arc::clone(&grid),
            store: Mutex::new(store::open_reader(&url).unwrap()),
            stale_after_s: 600,
            registry: Registry::default(),
            ngsi: NgsiOptions::default(),
            losses: None,
            basemap: Basemap::None,
        });
        let server = HttpServer::serve("127.0.0.1:0".parse().unwrap(), router(state)).unwrap();
        let page = format!("http://{}/", server.address());
        let asked = Instant::now();
        let geojson_bytes = lintel_testkit::browser::get(server.address().port(), "/density.geojson", None).1.len();
        let server_ms = asked.elapsed().as_secs_f64() * 1000.0;
        let browser = Browser::start(1280, 720);
        let (mut in_page, mut wall, mut slider, mut fetched_ms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut map_loaded_ms, mut data_set_ms, mut street) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..=loads {
            let started = Instant::now();
            browser.goto(&page);
            assert!(wait_ready(&browser, 1), "{n} buildings: the map was not drawn within 60 s");
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            let page_ms = browser.execute("return performance.now()", json!([])).as_f64().unwrap_or(f64::NAN);
            let fetched = browser.execute(
                "const m = performance.getEntriesByName('lintel-fetched'); return m.length ? m[0].startTime : null;",
                json!([]),
            );
            fetched_ms.push(fetched.as_f64().unwrap_or(f64::NAN));
            let mark = |name: &str| {
                let script =
                    "const m = performance.getEntriesByName(arguments[0]); return m.length ? m[0].startTime : null;";
                browser.execute(script, json!([name])).as_f64().unwrap_or(f64::NAN)
            };
            map_loaded_ms.push(mark("lintel-map-loaded"));
            data_set_ms.push(mark("lintel-data-set"));
            let moved = Instant::now();
            browser.execute(
                "const s = document.getElementById('slider'); s.value = -100; s.dispatchEvent(new Event('input'));",
                json!([]),
            );
            assert!(wait_ready(&browser, 2), "{n} buildings: the slider move was not drawn");
            let slider_ms = moved.elapsed().as_secs_f64() * 1000.0;
            // Street level in the middle of the grid: a big grid's buildings come for that view.
            let zoomed = Instant::now();
            browser.execute("window.lintelMap.jumpTo({ zoom: 15.5 });", json!([]));
            let buildings_shown = "const m = window.lintelMap; return m.loaded() && m.areTilesLoaded() && !m.isMoving() \
                && (Number(arguments[0]) <= 2000 || Number(document.body.dataset.buildings || 0) >= 1) \
                && m.querySourceFeatures('buildings').length > 0;";
            assert!(
                wait_until(Duration::from_secs(60), || browser.execute(buildings_shown, json!([n])).as_bool()
                    == Some(true)),
                "{n} buildings: no building was drawn at street level"
            );
            if i > 0 {
                in_page.push(page_ms);
                wall.push(elapsed);
                slider.push(slider_ms);
                street.push(zoomed.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let (p, w, s, z) = (median(&mut in_page), median(&mut wall), median(&mut slider), median(&mut street));
        fetched_ms.remove(0);
        map_loaded_ms.remove(0);
        data_set_ms.remove(0);
        let f = median(&mut fetched_ms);
        let (ml, ds) = (median(&mut map_loaded_ms), median(&mut data_set_ms));
        let ratio =
            baseline.map(|(bp, bs): (f64, f64)| format!(" ({:.1}× / {:.1}×)", p / bp, s / bs)).unwrap_or_default();
        println!(
            "| {n} | {:.1} MB in {server_ms:.0} ms | {ml:.0} ms | {f:.0} ms | {ds:.0} ms | {p:.0} ms | {w:.0} ms | {s:.0} ms{ratio} | {z:.0} ms |",
            geojson_bytes as f64 / 1e6
        );
        baseline.get_or_insert((p, s));
    }
}
