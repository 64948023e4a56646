//! The city server as a network neighbour meets it: it answers only the `Host` names it serves
//! (no DNS rebinding), refuses to serve a non-loopback address without a token, and then answers
//! nothing without it; the exact history only to an analyst; the node's security headers on
//! every answer. The map page draws its cells in a real browser under that CSP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lintel_testkit::browser::{Browser, request};
use lintel_testkit::{Broker, free_port, scratch_dir, wait_until, workspace};

const TOKEN: &str = "a-city-token-of-the-tests";
const ANALYST: &str = "an-analyst-token-of-the-tests";

/// `lintel-city` with `more` arguments, until its first line says where it serves.
fn city(dir: &Path, mqtt: u16, web: &str, more: &[&str]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .arg("--grid")
        .arg(workspace("fixtures/lishui-grid.geojson"))
        .args(["--mqtt", &format!("127.0.0.1:{mqtt}"), "--web", web, "--run-for-s", "120"])
        .args(["--consumer-id", &format!("city-web-{}", free_port())])
        .args(more)
        .env("LINTEL_TEST_CITY_TOKEN", TOKEN)
        .env("LINTEL_TEST_ANALYST_TOKEN", ANALYST)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("density: http://"), "{line:?}");
    child
}

/// `GET path` with this `Host` header: the status line and the head.
fn get_as(port: u16, host: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split_once("\r\n\r\n").map_or(answer.clone(), |(head, _)| head.to_ascii_lowercase())
}

fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn the_city_server_answers_only_its_own_host_names() {
    let dir = scratch_dir("city-web-hosts");
    let broker = Broker::start(&dir);
    let port = free_port();
    let mut child = city(&dir, broker.port, &format!("127.0.0.1:{port}"), &["--web-host", "density.lishui.example"]);
    // A rebound name is refused, whatever the path.
    for path in ["/", "/i18n/zh-CN.json", "/density.geojson", "/density.png", "/ngsi-ld/entities", "/metrics"] {
        let head = get_as(port, &format!("rebind.attacker.example:{port}"), path);
        assert!(head.starts_with("http/1.1 421"), "{path}: {head}");
    }
    assert!(get_as(port, "", "/").starts_with("http/1.1 421"), "no Host, no answer");
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "density.lishui.example".into()] {
        let head = get_as(port, &host, "/density.geojson");
        assert!(head.starts_with("http/1.1 200"), "{host}: {head}");
    }
    // The node's security headers on every answer, refusals included: scripts and styles from
    // the server's own files only (no inline script), never framed, never sniffed.
    for path in [
        "/",
        "/map.js",
        "/map.css",
        "/vendor/maplibre-gl-6.17.0/maplibre-gl.mjs",
        "/i18n/i18n.js",
        "/i18n/en.json",
        "/density.geojson",
        "/nowhere",
    ] {
        let answer = request("GET", port, path, &[], None);
        let csp = answer.header("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(answer.header("x-frame-options"), Some("deny"), "{path}");
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(answer.header("referrer-policy"), Some("no-referrer"), "{path}");
    }
    let refused = get_as(port, "rebind.attacker.example", "/");
    assert!(refused.starts_with("http/1.1 421") && refused.contains("script-src 'self'"), "{refused}");
    let script = request("GET", port, "/map.js", &[], None);
    assert!(script.header("content-type").is_some_and(|t| t.starts_with("text/javascript")));
    // In a real browser (which names 127.0.0.1 as its Host) the page draws every cell of the grid:
    // its script runs and its stylesheet applies under that CSP.
    let browser = Browser::start(1280, 720);
    browser.goto(&format!("http://127.0.0.1:{port}/"));
    // (MapLibre draws on a canvas: the cells drawn are the features its fill layer rendered.)
    let cells = || {
        browser.execute(
            "const m = window.lintelMap; if (!m || !m.loaded() || !document.body.dataset.drawn) return 0; return new Set(m.queryRenderedFeatures({layers: ['cells-fill']}).map(f => f.properties.key)).size;",
            serde_json::json!([]),
        )
    };
    assert!(wait_until(Duration::from_secs(20), || cells().as_u64().unwrap_or(0) > 0), "no cell drawn");
    let grid: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(workspace("fixtures/lishui-grid.geojson")).unwrap()).unwrap();
    let in_grid = grid["features"].as_array().unwrap().iter().filter(|f| f["properties"]["kind"] == "cell").count();
    assert_eq!(cells().as_u64(), Some(in_grid as u64));
    let layout = browser.execute("return getComputedStyle(document.body).display", serde_json::json!([]));
    assert_eq!(layout, "flex", "the stylesheet did not apply");
    assert_eq!(browser.text("#lost").as_deref(), Some("Messages lost: 0"), "losses shown");
    browser.screenshot(&screenshot_path("density-map.png"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_city_server_off_loopback_needs_a_token_and_answers_nothing_without_it() {
    let dir = scratch_dir("city-web-token");
    let broker = Broker::start(&dir);
    let run = |web: &str, more: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lintel-city"))
            .arg("--grid")
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--mqtt", &format!("127.0.0.1:{}", broker.port), "--web", web, "--run-for-s", "1"])
            .args(more)
            .env("LINTEL_TEST_WEAK_TOKEN", "short")
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let open = run(&format!("0.0.0.0:{}", free_port()), &[]);
    assert!(!open.status.success());
    let error = String::from_utf8_lossy(&open.stderr);
    assert!(error.contains("needs a token") && error.trim_end().lines().count() == 1, "{error}");
    let weak = run(&format!("0.0.0.0:{}", free_port()), &["--web-token-env", "LINTEL_TEST_WEAK_TOKEN"]);
    let error = String::from_utf8_lossy(&weak.stderr);
    assert!(!weak.status.success() && error.contains("at least 16 characters") && !error.contains("short"), "{error}");

    let port = free_port();
    let mut child = city(&dir, broker.port, &format!("0.0.0.0:{port}"), &["--web-token-env", "LINTEL_TEST_CITY_TOKEN"]);
    // The page's texts and pictures are behind the token as the page is.
    let closed = ["/", "/i18n/zh-CN.json", "/i18n/i18n.js", "/density.png", "/density.svg", "/density.geojson"];
    for path in closed.into_iter().chain(["/density/history?cell=wg-01", "/ngsi-ld/entities", "/metrics"]) {
        let answer = request("GET", port, path, &[], None);
        assert_eq!(answer.status, 401, "{path}");
        let wrong = request("GET", port, path, &[("Authorization", "Bearer a-city-token-of-the-testz")], None);
        assert_eq!(wrong.status, 401, "{path}");
    }
    let bearer = format!("Bearer {TOKEN}");
    for path in ["/density.geojson", "/i18n/zh-CN.json", "/i18n/i18n.js"] {
        assert_eq!(request("GET", port, path, &[("Authorization", &bearer)], None).status, 200, "{path}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A store with the hall (cell wg-02) passing 1 person at 02:00 and 5 at 03:00 of a fixed
/// 6-hour block two days ago (the block's start is returned), for a server to read.
fn store_with_small_counts(dir: &Path) -> i64 {
    use lintel_city::density::{Grid, Ingest, IngestMetrics, store};
    let grid = std::sync::Arc::new(Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap());
    let store = store::open(&format!("sqlite:{}", dir.join("density.db").display())).unwrap();
    let mut ingest = Ingest::new(grid, store, std::sync::Arc::new(IngestMetrics::default()));
    let now = lintel_wire::UtcTime::now();
    let b = now.unix_seconds() - now.unix_seconds() % (6 * 3600) - 2 * 86_400;
    for (seq, (hour, entries, exits)) in [(2, 1, 0), (3, 5, 3), (4, 4, 3)].into_iter().enumerate() {
        let start = b + hour * 3600 + 600;
        let time = |t: i64| lintel_wire::UtcTime::from_unix_seconds(t).to_string();
        let message = serde_json::json!({
            "schema": "lintel.counts/1", "site": "pets", "building": "hall", "node": "edge-hall",
            "seq": seq + 1, "interval": {"start": time(start), "end": time(start + 60)},
            "entries": entries, "exits": exits, "occupancy": 20, "entrances": [],
        });
        ingest.take("lintel/v1/pets/building/hall/counts", message.to_string().as_bytes(), now).unwrap();
    }
    b
}

fn history(port: u16, query: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
    let answer = request("GET", port, &format!("/density/history?{query}"), &headers, None);
    (answer.status, serde_json::from_slice(&answer.body).unwrap_or_default())
}

fn entries(answer: &serde_json::Value) -> Vec<u64> {
    answer["points"].as_array().unwrap().iter().map(|p| p["entries"].as_u64().unwrap()).collect()
}

#[test]
fn the_exact_history_is_for_analysts_and_everyone_else_gets_small_counts_suppressed() {
    let dir = scratch_dir("city-web-analyst");
    let b = store_with_small_counts(&dir);
    let broker = Broker::start(&dir);
    let port = free_port();
    let (from, to) = (b, b + 6 * 3600);
    // Loopback, no viewer token: anyone here is a viewer; the analyst token opens the exact data.
    let mut child =
        city(&dir, broker.port, &format!("127.0.0.1:{port}"), &["--analyst-token-env", "LINTEL_TEST_ANALYST_TOKEN"]);
    let cell = format!("cell=wg-02&from={from}&to={to}");
    let (status, exact) = history(port, &cell, Some(ANALYST));
    assert_eq!((status, exact["exact"].as_bool()), (200, Some(true)), "{exact}");
    assert_eq!(entries(&exact), vec![1, 5, 4], "every interval, exactly");
    for token in [None, Some(TOKEN)] {
        // Without the analyst token (none, or one that opens nothing here: 401).
        let (status, public) = history(port, &cell, token);
        if token.is_some() {
            assert_eq!(status, 401);
            continue;
        }
        assert_eq!((status, public["exact"].as_bool()), (200, Some(false)), "{public}");
        assert_eq!(public["suppressed_below"], 3);
        // 1 + 5 merged into 02:00–04:00 (its exits 0 and 3), then 4 alone.
        assert_eq!(entries(&public), vec![6, 4], "{public}");
        assert!(entries(&public).iter().all(|&n| n == 0 || n >= 3));
        // Whatever the window, the same spans: no difference gives the 1 away.
        for start in [b + 2 * 3600, b + 3 * 3600] {
            let (_, later) = history(port, &format!("cell=wg-02&from={start}&to={}", b + 4 * 3600), None);
            assert_eq!(entries(&later), vec![6], "from {start}: {later}");
        }
        // Days are the sums of the spans, over whole days.
        let (_, days) = history(port, &format!("{cell}&step=day"), None);
        assert_eq!(entries(&days), vec![10], "{days}");
        // Its times as Shanghai reads them (the days themselves are UTC days: 08:00 there).
        let day = jiff::Timestamp::from_second(b - b % 86_400)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
        assert_eq!(days["points"][0]["start"], day.strftime("%Y-%m-%dT08:00:00+08:00").to_string().as_str(), "{days}");
        assert_eq!(days["time_zone"], "Asia/Shanghai", "{days}");
        // What only exact data can give is refused, not quietly coarsened.
        for refused in
            [format!("{cell}&exact=1"), format!("{cell}&step=interval"), format!("building=pets/hall&from={from}")]
        {
            assert_eq!(history(port, &refused, None).0, 403, "{refused}");
        }
    }
    // An analyst may look at what the public gets.
    let (_, preview) = history(port, &format!("{cell}&exact=0"), Some(ANALYST));
    assert_eq!(entries(&preview), vec![6, 4]);
    let (_, building) = history(port, &format!("building=pets/hall&from={from}&to={to}"), Some(ANALYST));
    assert_eq!(entries(&building), vec![1, 5, 4]);
    let _ = child.kill();
    let _ = child.wait();

    // Off loopback with both tokens: the viewer gets the suppressed history, nobody else anything.
    let port = free_port();
    let both = ["--web-token-env", "LINTEL_TEST_CITY_TOKEN", "--analyst-token-env", "LINTEL_TEST_ANALYST_TOKEN"];
    let mut child = city(&dir, broker.port, &format!("0.0.0.0:{port}"), &both);
    assert_eq!(history(port, &cell, None).0, 401);
    let (status, public) = history(port, &cell, Some(TOKEN));
    assert_eq!((status, entries(&public)), (200, vec![6, 4]));
    assert_eq!(history(port, &format!("{cell}&exact=1"), Some(TOKEN)).0, 403);
    assert_eq!(entries(&history(port, &cell, Some(ANALYST)).1), vec![1, 5, 4]);
    let _ = child.kill();
    let _ = child.wait();

    // One token for both roles would be no separation.
    let same = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .arg("--grid")
        .arg(workspace("fixtures/lishui-grid.geojson"))
        .args(["--mqtt", &format!("127.0.0.1:{}", broker.port), "--run-for-s", "1"])
        .args(["--web-token-env", "LINTEL_TEST_CITY_TOKEN", "--analyst-token-env", "LINTEL_TEST_SAME_TOKEN"])
        .env("LINTEL_TEST_CITY_TOKEN", TOKEN)
        .env("LINTEL_TEST_SAME_TOKEN", TOKEN)
        .current_dir(&dir)
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&same.stderr);
    assert!(!same.status.success() && error.contains("must differ") && !error.contains(TOKEN), "{error}");
}

/// A store where the hall (cell wg-02) counted 7 in, 2 out in one known minute two days ago, at
/// 16:10 UTC (00:10 the next day in Shanghai); returns the minute's start.
fn store_with_a_known_interval(dir: &Path) -> i64 {
    use lintel_city::density::{Grid, Ingest, IngestMetrics, store};
    let grid = std::sync::Arc::new(Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap());
    let store = store::open(&format!("sqlite:{}", dir.join("density.db").display())).unwrap();
    let mut ingest = Ingest::new(grid, store, std::sync::Arc::new(IngestMetrics::default()));
    let now = lintel_wire::UtcTime::now();
    let start = now.unix_seconds() - now.unix_seconds() % 86_400 - 2 * 86_400 + 16 * 3600 + 600;
    let time = |t: i64| lintel_wire::UtcTime::from_unix_seconds(t).to_string();
    let message = serde_json::json!({
        "schema": "lintel.counts/1", "site": "pets", "building": "hall", "node": "edge-hall",
        "seq": 1, "interval": {"start": time(start), "end": time(start + 60)},
        "entries": 7, "exits": 2, "occupancy": 23, "entrances": [],
    });
    ingest.take("lintel/v1/pets/building/hall/counts", message.to_string().as_bytes(), now).unwrap();
    start
}

#[test]
fn the_map_page_reads_in_chinese_and_english_with_times_in_the_grids_zone() {
    let dir = scratch_dir("city-web-languages");
    let start = store_with_a_known_interval(&dir);
    let broker = Broker::start(&dir);
    let port = free_port();
    let mut child = city(&dir, broker.port, &format!("127.0.0.1:{port}"), &[]);
    // The grid is in Asia/Shanghai (UTC+8, no summer time): the minute at 16:10Z as its people
    // read it, ten past midnight of the next day, on a 24-hour clock.
    let (local, utc) = ("00:10", "16:10");
    let shanghai = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let local_day = jiff::Timestamp::from_second(start + 90).unwrap().to_zoned(shanghai).date();
    let (year, month, day) = (local_day.year(), local_day.month(), local_day.day());
    assert_eq!(jiff::Timestamp::from_second(start).unwrap().to_zoned(jiff::tz::TimeZone::UTC).hour(), 16);
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month_name = months[month as usize - 1];
    let at = lintel_wire::UtcTime::from_unix_seconds(start + 90).to_string();
    let url = format!("http://127.0.0.1:{port}/?at={at}");
    // Click the hall on the map (MapLibre draws it on a canvas: click where it projects).
    let hall_detail = |browser: &Browser| -> String {
        let drawn = || {
            browser.execute(
                "return !!window.lintelMap && window.lintelMap.loaded() && !!document.body.dataset.drawn",
                serde_json::json!([]),
            ) == serde_json::json!(true)
        };
        assert!(wait_until(Duration::from_secs(20), drawn), "the map was not drawn");
        let xy = browser.execute(
            "const q = window.lintelMap.project([119.9225, 28.4505]); const r = document.getElementById('map').getBoundingClientRect(); return [q.x / r.width, q.y / r.height];",
            serde_json::json!([]),
        );
        browser.click_at("#map", xy[0].as_f64().unwrap(), xy[1].as_f64().unwrap());
        let said = || browser.text("#detail").is_some_and(|d| d.contains("00:1"));
        wait_until(Duration::from_secs(20), said);
        browser.text("#detail").unwrap_or_default()
    };
    for (language, legend_heading, in_words) in
        [("zh-CN", "每公顷人数", "进 7 人，出 2 人"), ("en", "People per hectare", "7 came in, 2 went out")]
    {
        for (width, height) in [(1280, 720), (1920, 1080), (390, 844)] {
            let browser = Browser::start_in(width, height, language);
            browser.goto(&url);
            let drawn = || browser.text("#zone").is_some_and(|z| !z.is_empty());
            assert!(wait_until(Duration::from_secs(20), drawn), "{language} {width}×{height}: the map was not drawn");
            let lang = browser.execute("return document.documentElement.lang", serde_json::json!([]));
            assert_eq!(lang, language);
            assert_eq!(browser.text("#legend-heading").as_deref(), Some(legend_heading), "{language}");
            assert!(
                browser.text("#zone").unwrap().contains("Asia/Shanghai"),
                "{language}: {:?}",
                browser.text("#zone")
            );
            // The moment shown: the next day's date in Shanghai, 00:11 (not UTC, not "12:11 AM").
            let when = browser.text("#when").unwrap_or_default();
            let date = if language == "zh-CN" {
                format!("{year}年{month}月{day}日 00:11")
            } else {
                format!("{month_name} {day}, {year}, 00:11")
            };
            assert!(when.contains(&date), "{language}: not {date:?} in {when:?}");
            assert!(!when.contains("AM") && !when.contains("PM") && !when.contains("上午"), "{when:?}");
            let detail = hall_detail(&browser);
            assert!(detail.contains(local), "{language}: the hall's minute not in local time {local}: {detail:?}");
            assert!(!detail.contains(utc), "{language}: UTC shown: {detail:?}");
            assert!(detail.contains(in_words), "{language}: {detail:?}");
            if language == "zh-CN" {
                assert!(detail.contains("社区礼堂"), "{detail:?}");
            }
            // The picture link asks for this moment in this language.
            let link = browser.execute("return document.getElementById('export-svg').href", serde_json::json!([]));
            let link = link.as_str().unwrap_or_default();
            assert!(link.contains(&format!("lang={language}")) && link.contains("at="), "{link}");
            let problems = browser.page_problems();
            assert!(problems.is_empty(), "{language} {width}×{height}: {problems:#?}");
            browser.screenshot(&screenshot_path(&format!("density-map-{language}-{width}x{height}.png")));
        }
    }
    // The switch: an English reader picks 简体中文, and the page comes back in it (remembered).
    let browser = Browser::start_in(1280, 720, "en");
    browser.goto(&url);
    assert!(wait_until(Duration::from_secs(20), || browser.text("#language").is_some_and(|s| s.contains("简体中文"))));
    browser.execute(
        "const s = document.getElementById('language'); s.value = 'zh-CN'; s.dispatchEvent(new Event('change'));",
        serde_json::json!([]),
    );
    let chinese = || browser.text("#legend-heading").as_deref() == Some("每公顷人数");
    assert!(wait_until(Duration::from_secs(20), chinese), "the switch did not turn the page Chinese");
    browser.goto(&url);
    assert!(wait_until(Duration::from_secs(20), chinese), "the choice was not remembered");
    drop(browser);

    // The picture in the language asked: Chinese by Accept-Language, English by ?lang=.
    let picture = |path: &str, headers: &[(&str, &str)]| {
        let answer = request("GET", port, path, headers, None);
        assert_eq!(answer.status, 200, "{path}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.header("content-type"), Some("image/png"));
        (answer.header("content-language").map(str::to_string), tiny_skia::Pixmap::decode_png(&answer.body).unwrap())
    };
    let png = format!("/density.png?at={at}");
    let (zh_language, zh) = picture(&png, &[("Accept-Language", "zh-CN,zh;q=0.9")]);
    let (en_language, en) = picture(&format!("{png}&lang=en"), &[("Accept-Language", "zh-CN,zh;q=0.9")]);
    // (The test client reads headers in lower case.)
    assert_eq!((zh_language.as_deref(), en_language.as_deref()), (Some("zh-cn"), Some("en")));
    // The title's band, above the map: ink in both, and not the same ink.
    let title_ink = |p: &tiny_skia::Pixmap| -> Vec<(u32, u32)> {
        (10..45)
            .flat_map(|y| (0..1000).map(move |x| (x, y)))
            .filter(|&(x, y)| p.pixel(x, y).is_some_and(|c| c.red() < 128 && c.green() < 128 && c.blue() < 128))
            .collect()
    };
    let (zh_ink, en_ink) = (title_ink(&zh), title_ink(&en));
    assert!(zh_ink.len() > 500 && en_ink.len() > 500, "titles: {} and {} dark pixels", zh_ink.len(), en_ink.len());
    assert_ne!(zh_ink, en_ink, "the Chinese title is the English one");
    std::fs::write(screenshot_path("density-render-zh-CN.png"), zh.encode_png().unwrap()).unwrap();
    std::fs::write(screenshot_path("density-render-en.png"), en.encode_png().unwrap()).unwrap();
    let svg = request("GET", port, &format!("/density.svg?at={at}&lang=zh-CN"), &[], None);
    let svg = String::from_utf8_lossy(&svg.body);
    assert!(svg.contains("社区礼堂") || svg.contains("第二网格"), "{svg}");
    let title_time = format!("{year}-{month:02}-{day:02} 00:11 +08:00 Asia/Shanghai");
    assert!(svg.contains(&title_time), "the title's time is not {title_time}: {svg}");
    assert_eq!(request("GET", port, "/density.png?lang=fr", &[], None).status, 400);
    let _ = child.kill();
    let _ = child.wait();
}
