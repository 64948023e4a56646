//! The analysts' map in a real browser: MapLibre over a basemap file the test makes itself (a
//! tiny MBTiles of solid blue PNG tiles), its tiles requested and drawn under the cells; the
//! legend the same at two moments; details in words with a 24-hour chart; the screenshots a
//! person looks at. And the CSV export against the store's own spans.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lintel_city::density::store::{self, HistoryPoint};
use lintel_city::density::suppress::Suppression;
use lintel_city::density::{Grid, Ingest, IngestMetrics};
use lintel_testkit::browser::{Browser, request};
use lintel_testkit::{Broker, free_port, scratch_dir, wait_until, workspace};
use lintel_wire::UtcTime;
use serde_json::{Value, json};

const ANALYST: &str = "an-analyst-token-of-the-map-tests";
/// The basemap's colour: nothing else on the map is this blue.
const TILE_RGB: [u8; 3] = [0, 0, 255];

fn grid() -> Arc<Grid> {
    Arc::new(Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap())
}

fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// `lintel-city` serving the fixture grid and the store in `dir`, web only, with `more` arguments.
fn city(dir: &Path, more: &[&str]) -> (Child, u16) {
    city_of(&workspace("fixtures/lishui-grid.geojson"), dir, more)
}

/// [`city`] serving the grid file `grid`.
fn city_of(grid: &Path, dir: &Path, more: &[&str]) -> (Child, u16) {
    let broker = Broker::start(dir);
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .arg("--grid")
        .arg(grid)
        .args(["--mqtt", &format!("127.0.0.1:{}", broker.port), "--web", &format!("127.0.0.1:{port}")])
        .args(["--run-for-s", "150", "--consumer-id", &format!("city-map-{port}")])
        .args(["--analyst-token-env", "LINTEL_TEST_ANALYST_TOKEN"])
        .args(more)
        .env("LINTEL_TEST_ANALYST_TOKEN", ANALYST)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    if !line.starts_with("density: http://") {
        let mut error = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut error);
        panic!("lintel-city did not start: {line:?} {error}");
    }
    std::mem::forget(broker); // lives as long as the test process; its directory is scratch
    (child, port)
}

/// Counts for the hall (cell wg-02) and the market over the hours before `at`: a busy morning,
/// a lone late passage (suppressed), and a known minute at `at − 4 min`; returns `at`.
fn store_with_a_day(dir: &Path) -> i64 {
    let store = store::open(&format!("sqlite:{}", dir.join("density.db").display())).unwrap();
    let mut ingest = Ingest::new(grid(), store, Arc::new(IngestMetrics::default()));
    let now = UtcTime::now().unix_seconds();
    // Two days back at 16:40 UTC (00:40 in Shanghai), so every hour before it has ended.
    let at = now - now % 86_400 - 2 * 86_400 + 16 * 3600 + 2400;
    let time = |t: i64| UtcTime::from_unix_seconds(t).to_string();
    let mut seq = std::collections::HashMap::new();
    let mut send = |building: &str, site: &str, start: i64, entries: u64, exits: u64, occupancy: u64| {
        let seq = seq.entry(building.to_string()).and_modify(|s| *s += 1).or_insert(1u64);
        let message = json!({
            "schema": "lintel.counts/1", "site": site, "building": building, "node": format!("edge-{building}"),
            "seq": *seq, "interval": {"start": time(start), "end": time(start + 60)},
            "entries": entries, "exits": exits, "occupancy": occupancy, "entrances": [],
        });
        let topic = format!("lintel/v1/{site}/building/{building}/counts");
        ingest.take(&topic, message.to_string().as_bytes(), UtcTime::now()).unwrap();
    };
    // The same weekday a week before: one busy hour in the hall, for the ranking's comparison.
    send("hall", "pets", at - 7 * 86_400 - 3 * 3600 - 600, 9, 4, 30);
    for hour in (1..=12).rev() {
        let start = at - hour * 3600 - 600;
        send("hall", "pets", start, 4 + hour as u64, 2, 20 + hour as u64);
        send("market", "lishui-c", start + 60, 10, 3 + hour as u64 % 4, 40);
    }
    send("hall", "pets", at - 5 * 3600 + 1200, 1, 0, 21); // a lone passage
    send("hall", "pets", at - 240, 7, 2, 23);
    send("market", "lishui-c", at - 200, 3, 1, 42);
    at
}

/// A basemap of solid blue 256-px PNG tiles over the grid (zooms 10 to 17), as MBTiles.
fn tiny_basemap(path: &Path) {
    let mut pixmap = tiny_skia::Pixmap::new(256, 256).unwrap();
    pixmap.fill(tiny_skia::Color::from_rgba8(TILE_RGB[0], TILE_RGB[1], TILE_RGB[2], 255));
    let png = pixmap.encode_png().unwrap();
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(
        "CREATE TABLE metadata (name TEXT, value TEXT);
         CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
         CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);",
    )
    .unwrap();
    let [w, s, e, n] = [119.915, 28.446, 119.930, 28.455];
    for (name, value) in [
        ("name", "Test blue"),
        ("format", "png"),
        ("minzoom", "10"),
        ("maxzoom", "17"),
        ("bounds", &format!("{w},{s},{e},{n}")),
        ("attribution", "Test tiles"),
    ] {
        db.execute("INSERT INTO metadata VALUES (?1, ?2)", [name, value]).unwrap();
    }
    let tile = |z: u32, lon: f64, lat: f64| -> (u32, u32) {
        let side = f64::from(1u32 << z);
        let x = ((lon + 180.0) / 360.0 * side).floor() as u32;
        let r = lat.to_radians();
        let y = ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * side).floor() as u32;
        (x, y)
    };
    for z in 10..=17 {
        let ((x0, y0), (x1, y1)) = (tile(z, w, n), tile(z, e, s));
        for x in x0..=x1 {
            for y in y0..=y1 {
                let tms = (1u32 << z) - 1 - y;
                db.execute("INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)", rusqlite::params![z, x, tms, png]).unwrap();
            }
        }
    }
}

/// The RGBA of the map's canvas at each longitude, latitude.
fn map_pixels(browser: &Browser, points: &[[f64; 2]]) -> Vec<[u8; 4]> {
    let answer = browser.execute(
        r#"const m = window.lintelMap, c = m.getCanvas();
           m.redraw(); // the drawing buffer is not kept between frames: read it in the task that drew it
           const copy = document.createElement('canvas');
           copy.width = c.width; copy.height = c.height;
           const g = copy.getContext('2d');
           g.drawImage(c, 0, 0);
           const r = c.width / c.clientWidth;
           return arguments[0].map(p => { const q = m.project(p);
             return Array.from(g.getImageData(Math.round(q.x * r), Math.round(q.y * r), 1, 1).data); });"#,
        json!([points]),
    );
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let v: Vec<u8> = p.as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as u8).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect()
}

/// Waits until the map has drawn `count` moments and every tile and source is loaded.
fn wait_drawn(browser: &Browser, count: u64, what: &str) {
    let done = || {
        browser
            .execute(
                "const m = window.lintelMap; return Number(document.body.dataset.drawn || 0) >= arguments[0] && !!m && m.loaded() && m.areTilesLoaded();",
                json!([count]),
            )
            .as_bool()
            == Some(true)
    };
    assert!(wait_until(Duration::from_secs(30), done), "{what}: the map was not drawn");
    std::thread::sleep(Duration::from_millis(400)); // the frame after the last tile
}

/// Opens the SVG at `url` in Chromium and counts the pixels of its screenshot (kept as
/// `name`) that have the basemap's blue in them: blue strong, red and green weak (the cells
/// are yellow to red and grey; the basemap's blue through them stays bluish).
fn svg_basemap_pixels(url: &str, name: &str) -> usize {
    let browser = Browser::start(1280, 900);
    browser.goto(url);
    std::thread::sleep(Duration::from_millis(500));
    let path = screenshot_path(name);
    browser.screenshot(&path);
    let shot = tiny_skia::Pixmap::load_png(&path).unwrap();
    shot.pixels().iter().filter(|p| p.blue() > 150 && p.red() < 140 && p.green() < 140).count()
}

fn legend_of(browser: &Browser) -> String {
    browser.execute("return document.getElementById('legend').innerHTML", json!([])).as_str().unwrap().to_string()
}

/// Clicks the page's PNG export and catches the picture it would download.
fn exported_png(browser: &Browser) -> tiny_skia::Pixmap {
    let url = browser.execute(
        r#"let caught = null;
           const click = HTMLAnchorElement.prototype.click;
           HTMLAnchorElement.prototype.click = function () { caught = this.href; };
           document.getElementById('export-png').click();
           HTMLAnchorElement.prototype.click = click;
           return caught;"#,
        json!([]),
    );
    let url = url.as_str().unwrap_or_else(|| panic!("no PNG exported: {url}"));
    let data = url.strip_prefix("data:image/png;base64,").expect("a PNG data URL");
    tiny_skia::Pixmap::decode_png(&base64(data)).unwrap()
}

/// Standard base64 (a data URL's), decoded.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()).map(value).collect();
    digits
        .chunks(4)
        .flat_map(|c| {
            let n = c.iter().enumerate().fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(c.len() - 1)
        })
        .collect()
}

/// Points inside the cells, clear of buildings and labels.
const IN_CELLS: [[f64; 2]; 4] = [[119.9183, 28.4503], [119.9213, 28.4512], [119.9243, 28.4505], [119.9268, 28.4505]];

#[test]
fn the_map_draws_the_basemap_under_the_cells_on_fixed_classes_with_details_in_words() {
    let dir = scratch_dir("city-map-basemap");
    let at = store_with_a_day(&dir);
    let basemap = dir.join("basemap.mbtiles");
    tiny_basemap(&basemap);
    let (mut child, port) = city(&dir, &["--basemap", basemap.to_str().unwrap(), "--basemap-datum", "wgs84"]);
    let at_text = UtcTime::from_unix_seconds(at).to_string();
    let url = format!("http://127.0.0.1:{port}/?at={at_text}");
    // The vendored MapLibre is served from the binary, its worker beside it.
    for path in ["/vendor/maplibre-gl-6.17.0/maplibre-gl.mjs", "/vendor/maplibre-gl-6.17.0/maplibre-gl-worker.mjs"] {
        let answer = request("GET", port, path, &[], None);
        assert_eq!(answer.status, 200, "{path}");
        assert!(answer.header("content-type").unwrap_or_default().starts_with("text/javascript"), "{path}");
    }
    assert_eq!(request("GET", port, "/tiles/30/0/0.png", &[], None).status, 400);
    assert_eq!(request("GET", port, "/tiles/3/9/0.png", &[], None).status, 400);
    assert_eq!(request("GET", port, "/tiles/3/0/0.png", &[], None).status, 404);
    // The SVG export carries the basemap: the file's own tiles under translucent cells.
    let svg_path = format!("/density.svg?at={at_text}&lang=zh-CN");
    let svg = String::from_utf8(request("GET", port, &svg_path, &[], None).body).unwrap();
    assert!(
        svg.matches("<image ").count() >= 1 && svg.contains("href=\"data:image/png;base64,"),
        "no basemap in the SVG"
    );
    assert!(svg.contains(r#"fill-opacity="0.55""#), "cells not translucent over the basemap");
    let svg_blue = svg_basemap_pixels(&format!("http://127.0.0.1:{port}{svg_path}"), "density-svg-basemap.png");
    assert!(svg_blue > 10_000, "the SVG in a browser shows {svg_blue} pixels of the basemap's blue");

    let mut screenshots = Vec::new();
    for (language, width, height) in
        [("zh-CN", 1280, 720), ("zh-CN", 1920, 1080), ("zh-CN", 390, 844), ("en", 1280, 720)]
    {
        let what = format!("{language} {width}×{height}");
        let browser = Browser::start_in(width, height, language);
        browser.goto(&url);
        wait_drawn(&browser, 1, &what);
        // The tiles were asked for, from this server…
        let tiles = browser.execute(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes('/tiles/')).length",
            json!([]),
        );
        assert!(tiles.as_u64().unwrap_or(0) > 0, "{what}: no tile requested");
        // …and drawn: blue under the translucent cells (a cell over plain paper has no blue cast).
        let under = map_pixels(&browser, &IN_CELLS);
        let blue_under = under.iter().filter(|p| p[2] > 120 && p[0] < 200).count();
        assert!(blue_under >= 3, "{what}: the basemap is not under the cells: {under:?}");
        let note = browser.text("#basemap-note").unwrap_or_default();
        assert!(note.contains("Test blue") && note.contains("WGS-84"), "{what}: {note:?}");

        // The legend: the grid's fixed classes, the same at another moment.
        let legend = legend_of(&browser);
        browser.execute(
            "const s = document.getElementById('slider'); s.value = -200; s.dispatchEvent(new Event('input'));",
            json!([]),
        );
        wait_drawn(&browser, 2, &what);
        assert_eq!(legend_of(&browser), legend, "{what}: the legend changed with the slider");
        browser.execute(
            "const s = document.getElementById('slider'); s.value = 0; s.dispatchEvent(new Event('input'));",
            json!([]),
        );
        wait_drawn(&browser, 3, &what);

        // Details in words: click the hall.
        let hall = [119.9225, 28.4505];
        let xy = browser.execute(
            "const q = window.lintelMap.project(arguments[0]); const r = document.getElementById('map').getBoundingClientRect(); return [q.x / r.width, q.y / r.height];",
            json!([hall]),
        );
        let (fx, fy) = (xy[0].as_f64().unwrap(), xy[1].as_f64().unwrap());
        browser.click_at("#map", fx, fy);
        let chart_drawn = || browser.find("#chart svg").is_some();
        assert!(wait_until(Duration::from_secs(20), chart_drawn), "{what}: no chart for the hall");
        let detail = browser.text("#detail").unwrap_or_default();
        let (name, people, local) = if language == "zh-CN" {
            ("社区礼堂", "现有 23 人", "00:36 至 00:37：进 7 人，出 2 人")
        } else {
            ("Community hall", "23 people inside now", "From 00:36 to 00:37: 7 came in, 2 went out")
        };
        assert!(detail.contains(name) && detail.contains(people), "{what}: {detail:?}");
        assert!(detail.contains(local), "{what}: not {local:?} (local time) in {detail:?}");
        assert!(!detail.contains("occupancy") && !detail.contains("last_data"), "{what}: a key dump: {detail:?}");
        let bars = browser.execute("return document.querySelectorAll('#chart rect.bar').length", json!([]));
        assert!(bars.as_u64().unwrap_or(0) >= 6, "{what}: {bars} bars in the 24-hour chart");

        // The flow picture and its ranking.
        browser.execute(
            "const r = document.querySelector('input[value=flows]'); r.checked = true; r.dispatchEvent(new Event('change'));",
            json!([]),
        );
        std::thread::sleep(Duration::from_millis(600));
        if width == 1280 {
            browser.screenshot(&screenshot_path(&format!("density-map-flows-{language}-{width}x{height}.png")));
        }
        let ranking = browser.text("#ranking").unwrap_or_default();
        assert!(ranking.contains(if language == "zh-CN" { "第二网格" } else { "Centre" }), "{what}: {ranking:?}");
        // Against the same weekday last week: 9 arrived in the hall's cell that evening.
        let week = if language == "zh-CN" { "（上周同日 9）" } else { "(same weekday last week: 9)" };
        assert!(ranking.contains(week), "{what}: no comparison with last week: {ranking:?}");
        browser.execute(
            "const r = document.querySelector('input[value=density]'); r.checked = true; r.dispatchEvent(new Event('change'));",
            json!([]),
        );
        std::thread::sleep(Duration::from_millis(500));
        if width == 1280 {
            // The PNG of the screen: the map's canvas (the blue basemap in it) under a title band.
            let png = exported_png(&browser);
            std::fs::write(screenshot_path(&format!("density-export-{language}.png")), png.encode_png().unwrap())
                .unwrap();
            let blue = png.pixels().iter().filter(|p| p.blue() > 200 && p.red() < 60).count();
            assert!(blue * 10 > png.pixels().len(), "{what}: the exported PNG has no basemap ({blue} blue pixels)");
            let ink = (0..png.width() / 2)
                .flat_map(|x| (5..50).map(move |y| (x, y)))
                .filter(|&(x, y)| png.pixel(x, y).is_some_and(|p| p.red() < 90 && p.green() < 90 && p.blue() < 90))
                .count();
            assert!(ink > 300, "{what}: no title in the exported PNG ({ink} dark pixels)");
        }
        let problems = browser.page_problems();
        assert!(problems.is_empty(), "{what}: {problems:#?}");
        let shot = screenshot_path(&format!("density-map-basemap-{language}-{width}x{height}.png"));
        browser.screenshot(&shot);
        screenshots.push(shot);
    }
    eprintln!("screenshots: {screenshots:#?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn without_a_basemap_the_page_says_so_and_draws_the_grid_alone() {
    let dir = scratch_dir("city-map-bare");
    let at = store_with_a_day(&dir);
    let (mut child, port) = city(&dir, &[]);
    let basemap: Value =
        serde_json::from_slice(&request("GET", port, "/density/basemap.json", &[], None).body).unwrap();
    assert_eq!(basemap["kind"], "none");
    assert_eq!(request("GET", port, "/tiles/3/0/0.png", &[], None).status, 404);
    let svg = request("GET", port, &format!("/density.svg?at={}", UtcTime::from_unix_seconds(at)), &[], None).body;
    assert!(!String::from_utf8(svg).unwrap().contains("<image "), "a basemap in the SVG without one");
    let browser = Browser::start_in(1280, 720, "en");
    browser.goto(&format!("http://127.0.0.1:{port}/?at={}", UtcTime::from_unix_seconds(at)));
    wait_drawn(&browser, 1, "no basemap");
    assert_eq!(browser.text("#basemap-note").as_deref(), Some("No basemap configured: the grid alone."));
    let cells = map_pixels(&browser, &IN_CELLS);
    assert!(cells.iter().all(|p| p[2] < 240 || p[0] > 200), "blue where no basemap is: {cells:?}");
    // Play: an hour a step from 24 hours back, the legend fixed all along.
    let legend = legend_of(&browser);
    browser.click("#play");
    let slider = || browser.execute("return Number(document.getElementById('slider').value)", json!([])).as_i64();
    assert!(wait_until(Duration::from_secs(10), || slider().is_some_and(|v| v > -288 + 12)), "play did not move");
    assert!(slider().unwrap() < 0, "play jumped to the end");
    assert_eq!(legend_of(&browser), legend, "the legend changed while playing");
    browser.click("#play"); // pause
    let paused = slider();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(slider(), paused, "pause did not stop the play");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_basemap_in_gcj02_or_of_vector_tiles_is_refused_in_words() {
    let dir = scratch_dir("city-map-refused");
    let basemap = dir.join("basemap.mbtiles");
    tiny_basemap(&basemap);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
            .arg("--grid")
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--web-only", "--web", "127.0.0.1:0", "--run-for-s", "1"])
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let file = basemap.to_str().unwrap();
    let (ok, error) = run(&["--basemap", file, "--basemap-datum", "gcj02"]);
    assert!(!ok && error.contains("GCJ-02"), "{error}");
    let (ok, error) = run(&["--basemap", file]);
    assert!(!ok && error.contains("basemap-datum"), "{error}");
    rusqlite::Connection::open(&basemap)
        .unwrap()
        .execute("UPDATE metadata SET value = 'pbf' WHERE name = 'format'", [])
        .unwrap();
    let (ok, error) = run(&["--basemap", file, "--basemap-datum", "wgs84"]);
    assert!(!ok && error.contains("raster"), "{error}");
}

/// The CSV rows as (cell, start, end, entries, exits, occupancy, fresh).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn the_csv_export_is_the_stores_spans_for_the_range_small_counts_suppressed() {
    let dir = scratch_dir("city-map-csv");
    let at = store_with_a_day(&dir);
    let (mut child, port) = city(&dir, &[]);
    let (from, to) = (at - 12 * 3600, at);
    let get = |query: &str, token: Option<&str>| {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
        let answer = request("GET", port, &format!("/density/export.csv?{query}"), &headers, None);
        (answer.status, String::from_utf8_lossy(&answer.body).to_string())
    };
    let (status, text) = get(&format!("level=cell&from={from}&to={to}"), None);
    assert_eq!(status, 200, "{text}");
    assert_eq!(text.lines().next(), Some("cell,name,start,end,entries,exits,occupancy,fresh,buildings"));

    // What the store holds for the range, through the same fixed spans the NGSI-LD export uses.
    let grid = grid();
    let mut store = store::open_reader(&format!("sqlite:{}", dir.join("density.db").display())).unwrap();
    let suppression = Suppression::default();
    let now = UtcTime::now().unix_seconds();
    let shanghai = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let local = |s: i64| {
        jiff::Timestamp::from_second(s)
            .unwrap()
            .to_zoned(shanghai.clone())
            .strftime("%Y-%m-%dT%H:%M:%S+08:00")
            .to_string()
    };
    let mut expected = Vec::new();
    for cell in &grid.cells {
        let buildings: Vec<String> = grid.buildings_in(&cell.id).map(|b| b.key()).collect();
        let spans: Vec<HistoryPoint> = suppression.read(&mut store, &buildings, from, to, now).unwrap();
        for s in spans {
            let occupancy = if s.occupancy.is_nan() { String::new() } else { format!("{:.2}", s.occupancy) };
            expected.push(vec![
                cell.id.clone(),
                cell.name.clone(),
                local(s.start_s),
                local(s.end_s),
                s.entries.to_string(),
                s.exits.to_string(),
                occupancy,
                s.buildings.to_string(),
                buildings.len().to_string(),
            ]);
        }
    }
    let rows = csv_rows(&text);
    assert!(rows.len() >= 10, "{text}");
    assert_eq!(rows, expected);
    // No small count leaves: every entries and exits is 0 or at least the threshold.
    for row in &rows {
        for n in [&row[4], &row[5]] {
            let n: u64 = n.parse().unwrap();
            assert!(n == 0 || n >= 3, "{row:?}");
        }
    }
    // The lone passage (1 entry) was merged, not shown.
    let hall_total: u64 = rows.iter().filter(|r| r[0] == "wg-02").map(|r| r[4].parse::<u64>().unwrap()).sum();
    assert!(hall_total > 0);

    // Per building only for an analyst; hostile ranges are refused in words.
    assert_eq!(get(&format!("level=building&from={from}&to={to}"), None).0, 403);
    let (status, text) = get(&format!("level=building&from={from}&to={to}"), Some(ANALYST));
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("building,") && text.contains("pets/hall,"), "{text}");
    for bad in [
        "level=street".to_string(),
        format!("from={to}&to={from}"),
        format!("from={}&to={to}", to - 400 * 86_400),
        "from=yesterday".to_string(),
        "level=cell&level=cell".to_string(),
        format!("from=-9223372036854775808&to={to}"),
        "from=0&to=9223372036854775807".to_string(),
    ] {
        let (status, text) = get(&bad, None);
        assert_eq!(status, 400, "{bad}: {text}");
    }
    for bad in ["to=-9223372036854775808", "to=9223372036854775807", "to=soon"] {
        let answer = request("GET", port, &format!("/density/flows?{bad}"), &[], None);
        assert_eq!(answer.status, 400, "flows {bad}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_tile_service_is_let_into_the_pages_policy_and_nothing_else_is() {
    let dir = scratch_dir("city-map-tile-url");
    let template = "https://tiles.city.example:8443/osm/{z}/{x}/{y}.png";
    let (mut child, port) = city(&dir, &["--basemap-url", template, "--basemap-datum", "cgcs2000"]);
    let described: Value =
        serde_json::from_slice(&request("GET", port, "/density/basemap.json", &[], None).body).unwrap();
    assert_eq!((described["kind"].as_str(), described["datum"].as_str()), (Some("url"), Some("CGCS2000")));
    assert_eq!(described["tiles"][0], template);
    let answer = request("GET", port, "/", &[], None);
    let csp = answer.header("content-security-policy").unwrap_or_default().to_string();
    assert!(csp.contains("img-src 'self' https://tiles.city.example:8443"), "{csp}");
    assert!(csp.contains("connect-src 'self' https://tiles.city.example:8443"), "{csp}");
    assert!(csp.contains("script-src 'self';") && !csp.contains("script-src 'self' https"), "{csp}");
    // This server serves no tiles of its own then.
    assert_eq!(request("GET", port, "/tiles/3/0/0.png", &[], None).status, 404);
    let _ = child.kill();
    let _ = child.wait();
}

/// A grid of `cells` square cells of 600 m in a row of five, each with 100 named buildings.
fn big_grid(path: &Path, cells: usize) {
    let size = 0.006;
    let mut features = Vec::new();
    for c in 0..cells {
        let (x0, y0) = (119.9 + (c % 5) as f64 * size, 28.44 + (c / 5) as f64 * size);
        features.push(json!({"type": "Feature", "properties": {"kind": "cell", "id": format!("c{c}"), "name": format!("第{c}网格")},
            "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]]}}));
        for b in 0..100 {
            let (x, y) =
                (x0 + (b % 10) as f64 * size / 10.0 + size / 20.0, y0 + (b / 10) as f64 * size / 10.0 + size / 20.0);
            features.push(json!({"type": "Feature", "properties": {"kind": "building", "site": format!("s{c}"),
                "building": format!("b{b}"), "name": format!("{b}号楼"), "capacity": 100},
                "geometry": {"type": "Point", "coordinates": [x, y]}}));
        }
    }
    let collection =
        json!({"type": "FeatureCollection", "properties": {"time_zone": "Asia/Shanghai"}, "features": features});
    std::fs::write(path, collection.to_string()).unwrap();
}

#[test]
fn a_small_grid_comes_whole_and_a_citys_buildings_come_where_the_reader_looks() {
    let dir = scratch_dir("city-map-parts");
    let at = UtcTime::from_unix_seconds(store_with_a_day(&dir));
    let (mut child, port) = city(&dir, &[]);
    let get = |path: &str| get_from(port, path);
    let kinds = |v: &Value| -> Vec<String> {
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = get("/density.geojson");
    let grid = grid();
    assert_eq!(kinds(&all).len(), grid.cells.len() + grid.buildings.len());
    let (status, cells) = get("/density.geojson?kind=cell");
    assert_eq!(status, 200);
    assert_eq!(kinds(&cells), vec!["cell"; grid.cells.len()]);
    assert_eq!(cells["legend"], all["legend"], "the cells' answer carries the fixed classes");
    // A cell's capacity is its buildings' (the page no longer adds them up itself).
    for cell in cells["features"].as_array().unwrap() {
        let id = cell["properties"]["id"].as_str().unwrap();
        let sum: u64 = grid.buildings_in(id).filter_map(|b| b.capacity).sum();
        assert_eq!(cell["properties"]["capacity"].as_u64().unwrap_or(0), sum, "{id}");
    }
    let hall = grid.building("pets", "hall").unwrap().position;
    let around = |[x, y]: [f64; 2], d: f64| format!("{},{},{},{}", x - d, y - d, x + d, y + d);
    let (status, near) = get(&format!("/density.geojson?kind=building&bbox={}", around(hall, 0.0005)));
    assert_eq!(status, 200);
    let names: Vec<&str> =
        near["features"].as_array().unwrap().iter().map(|f| f["properties"]["building"].as_str().unwrap()).collect();
    assert!(names.contains(&"hall") && names.len() < grid.buildings.len(), "{names:?}");
    // Flows per building, on the same suppressed spans as the cells'.
    let (status, flows) = get(&format!("/density/flows?level=building&bbox={}&to={at}", around(hall, 0.0005)));
    assert_eq!(status, 200, "{flows}");
    let hall_flows = flows["buildings"].as_array().unwrap().iter().find(|b| b["building"] == "hall").unwrap().clone();
    let entries: Vec<u64> =
        hall_flows["spans"].as_array().unwrap().iter().map(|s| s["entries"].as_u64().unwrap()).collect();
    assert!(entries.iter().sum::<u64>() > 0, "{hall_flows}");
    assert!(entries.iter().all(|&n| n == 0 || n >= 3), "a small count left: {entries:?}");
    for bad in [
        "kind=street",
        "bbox=1,2,3",
        "kind=cell&bbox=0,0,1,1",
        "kind=building&bbox=10,0,1,1",
        "kind=building&bbox=0,0,1,NaN",
    ] {
        assert_eq!(get(&format!("/density.geojson?{bad}")).0, 400, "{bad}");
    }
    for bad in ["level=street", "bbox=0,0,1,1", "level=building&bbox=0,0,1"] {
        assert_eq!(get(&format!("/density/flows?{bad}")).0, 400, "{bad}");
    }
    let _ = child.kill();
    let _ = child.wait();

    // A city of 2,500 buildings: its cells first; its buildings (and their flows) from street
    // level, only those around the view.
    let dir = scratch_dir("city-map-big");
    let path = dir.join("big-grid.geojson");
    big_grid(&path, 25);
    let (mut child, port) = city_of(&path, &dir, &[]);
    let (status, flows) = get_from(port, "/density/flows?level=building");
    assert_eq!(status, 400, "2,500 buildings in one flows answer: {flows}");
    let browser = Browser::start(1280, 720);
    browser.goto(&format!("http://127.0.0.1:{port}/"));
    wait_drawn(&browser, 1, "a city's map");
    let shown = |browser: &Browser| {
        browser.execute("return window.lintelMap.querySourceFeatures('buildings').length", json!([])).as_u64().unwrap()
    };
    let zoom = browser.execute("return window.lintelMap.getZoom()", json!([])).as_f64().unwrap();
    assert!(zoom < 14.0, "the whole city fits at zoom {zoom}");
    assert_eq!(shown(&browser), 0, "2,500 dots at city scale");
    browser.execute("window.lintelMap.jumpTo({ center: [119.903, 28.443], zoom: 16 });", json!([]));
    let came = || {
        browser
            .execute(
                "const m = window.lintelMap; return Number(document.body.dataset.buildings || 0) >= 1 && m.loaded() && m.areTilesLoaded();",
                json!([]),
            )
            .as_bool()
            == Some(true)
    };
    assert!(wait_until(Duration::from_secs(30), came), "no buildings came at street level");
    std::thread::sleep(Duration::from_millis(400));
    let n = shown(&browser);
    assert!(n > 0 && n < 2_500, "{n} buildings drawn at street level");
    browser.screenshot(&screenshot_path("density-map-city-street-1280x720.png"));
    browser.execute(
        "const r = document.querySelector('input[value=flows]'); r.checked = true; r.dispatchEvent(new Event('change'));",
        json!([]),
    );
    let level = |browser: &Browser| browser.execute("return document.body.dataset.flowsLevel || ''", json!([]));
    let by_building = || level(&browser) == "building";
    assert!(wait_until(Duration::from_secs(20), by_building), "flows at street level: {}", level(&browser));
    browser.execute("window.lintelMap.jumpTo({ zoom: 13 });", json!([]));
    assert!(wait_until(Duration::from_secs(20), || level(&browser) == "cell"), "flows further out");
    let _ = child.kill();
    let _ = child.wait();
}

fn get_from(port: u16, path: &str) -> (u16, Value) {
    let answer = request("GET", port, path, &[], None);
    (answer.status, serde_json::from_slice(&answer.body).unwrap_or(Value::Null))
}
