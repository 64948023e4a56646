//! The city server as a network neighbour meets it: it answers only the `Host` names it serves
//! (no DNS rebinding), refuses to serve a non-loopback address without a token, and then answers
//! nothing without it. The map page draws its cells in a real browser.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lintel_testkit::browser::{Browser, request};
use lintel_testkit::{Broker, free_port, scratch_dir, wait_until, workspace};

const TOKEN: &str = "a-city-token-of-the-tests";

/// `lintel-city` with `more` arguments, until its first line says where it serves.
fn city(dir: &Path, mqtt: u16, web: &str, more: &[&str]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .arg("--grid")
        .arg(workspace("fixtures/lishui-grid.geojson"))
        .args(["--mqtt", &format!("127.0.0.1:{mqtt}"), "--web", web, "--run-for-s", "120"])
        .args(["--consumer-id", &format!("city-web-{}", free_port())])
        .args(more)
        .env("LINTEL_TEST_CITY_TOKEN", TOKEN)
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
    for path in ["/", "/density.geojson", "/ngsi-ld/entities", "/metrics"] {
        let head = get_as(port, &format!("rebind.attacker.example:{port}"), path);
        assert!(head.starts_with("http/1.1 421"), "{path}: {head}");
    }
    assert!(get_as(port, "", "/").starts_with("http/1.1 421"), "no Host, no answer");
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "density.lishui.example".into()] {
        let head = get_as(port, &host, "/density.geojson");
        assert!(head.starts_with("http/1.1 200"), "{host}: {head}");
    }
    // In a real browser (which names 127.0.0.1 as its Host) the page draws every cell of the grid.
    let browser = Browser::start(1280, 720);
    browser.goto(&format!("http://127.0.0.1:{port}/"));
    let cells = || browser.execute("return document.querySelectorAll('#map path.cell').length", serde_json::json!([]));
    assert!(wait_until(Duration::from_secs(20), || cells().as_u64().unwrap_or(0) > 0), "no cell drawn");
    let grid: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(workspace("fixtures/lishui-grid.geojson")).unwrap()).unwrap();
    let in_grid = grid["features"].as_array().unwrap().iter().filter(|f| f["properties"]["kind"] == "cell").count();
    assert_eq!(cells().as_u64(), Some(in_grid as u64));
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
    for path in ["/", "/density.geojson", "/density/history?cell=wg-01", "/ngsi-ld/entities", "/metrics"] {
        let answer = request("GET", port, path, &[], None);
        assert_eq!(answer.status, 401, "{path}");
        let wrong = request("GET", port, path, &[("Authorization", "Bearer a-city-token-of-the-testz")], None);
        assert_eq!(wrong.status, 401, "{path}");
    }
    let bearer = format!("Bearer {TOKEN}");
    let answer = request("GET", port, "/density.geojson", &[("Authorization", &bearer)], None);
    assert_eq!(answer.status, 200);
    let _ = child.kill();
    let _ = child.wait();
}
