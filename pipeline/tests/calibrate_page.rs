//! The technicians' page, end to end: `lintel run --web` on the clip served as an RTSP camera,
//! the page in headless Chromium, its API with each role's token and none.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::browser::{Browser, request};
use common::{Broker, RtspCamera, free_port, lintel_run, pets_site, scratch_dir, wait_until};
use serde_json::Value;

const OPERATOR: &str = "operator-token-of-the-calibrate-tests";
const TECHNICIAN: &str = "technician-token-of-the-calibrate-tests";

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_node(site: &Path, dir: &Path, mqtt: u16, web: u16) -> Node {
    let child = lintel_run(site, dir, mqtt, 600)
        .args(["--web", &format!("127.0.0.1:{web}"), "--model", "ssdlite-pedestrian-300-int8-raw"])
        .args(["--web-operator-token-env", "LINTEL_TEST_OPERATOR_TOKEN"])
        .args(["--web-technician-token-env", "LINTEL_TEST_TECHNICIAN_TOKEN"])
        .env("LINTEL_TEST_OPERATOR_TOKEN", OPERATOR)
        .env("LINTEL_TEST_TECHNICIAN_TOKEN", TECHNICIAN)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let up = wait_until(Duration::from_secs(60), || std::net::TcpStream::connect(("127.0.0.1", web)).is_ok());
    assert!(up, "lintel run --web did not listen");
    Node(child)
}

fn call(method: &str, web: u16, path: &str, token: Option<&str>) -> common::browser::Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
    request(method, web, path, &headers, if method == "POST" { Some("") } else { None })
}

#[test]
fn the_set_up_page_shows_the_blurred_live_picture_with_boxes_and_zone_counts_to_technicians_only() {
    let dir = scratch_dir("calibrate-page");
    let broker = Broker::start(&dir);
    let camera = RtspCamera::start("/walkway");
    let site = pets_site(&dir, &camera.url);
    let web = free_port();
    let _node = start_node(&site, &dir, broker.port, web);

    // Roles: none → 401, operator → 403, technician → 200, on every endpoint of the page.
    let endpoints = [
        ("GET", "/calibrate"),
        ("GET", "/api/calibrate/cameras"),
        ("GET", "/api/calibrate/walkway/live"),
        ("GET", "/api/calibrate/walkway/frame.jpg"),
        ("GET", "/api/calibrate/walkway/frame.jpg?clear=1"),
        ("POST", "/api/calibrate/walkway/unblur"),
    ];
    for (method, path) in endpoints {
        assert_eq!(call(method, web, path, None).status, 401, "{method} {path} without a token");
        assert_eq!(call(method, web, path, Some(OPERATOR)).status, 403, "{method} {path} as an operator");
    }
    let live = || call("GET", web, "/api/calibrate/walkway/live", Some(TECHNICIAN));
    assert!(wait_until(Duration::from_secs(60), || live().status == 200), "no live frame");
    let frame = |path: &str| {
        let mut answer = call("GET", web, path, Some(TECHNICIAN));
        // The picture comes with the frames after the first look.
        for _ in 0..100 {
            if answer.status == 200 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            answer = call("GET", web, path, Some(TECHNICIAN));
        }
        answer
    };
    let blurred = frame("/api/calibrate/walkway/frame.jpg");
    assert_eq!(blurred.status, 200);
    assert_eq!(blurred.header("content-type"), Some("image/jpeg"));
    assert!(blurred.body.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    assert_eq!(blurred.header("x-lintel-blurred"), Some("1"));
    // Asking for the clear picture without unblurring first still gets it blurred.
    assert_eq!(frame("/api/calibrate/walkway/frame.jpg?clear=1").header("x-lintel-blurred"), Some("1"));
    assert_eq!(call("POST", web, "/api/calibrate/walkway/unblur", Some(TECHNICIAN)).status, 200);
    assert_eq!(frame("/api/calibrate/walkway/frame.jpg?clear=1").header("x-lintel-blurred"), Some("0"));
    assert_eq!(frame("/api/calibrate/walkway/frame.jpg").header("x-lintel-blurred"), Some("1"));
    assert_eq!(call("GET", web, "/api/calibrate/nowhere/live", Some(TECHNICIAN)).status, 404);

    // People are anonymous boxes; no answer holds a track id.
    let body: Value = serde_json::from_slice(&live().body).unwrap();
    for person in body["people"].as_array().unwrap() {
        let keys: Vec<&String> = person.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["bbox", "foot", "seen"], "{person}");
    }
    for path in ["/api/calibrate/cameras", "/api/calibrate/walkway/live"] {
        let text = String::from_utf8_lossy(&call("GET", web, path, Some(TECHNICIAN)).body).into_owned();
        assert!(!text.contains("track") && !text.contains("\"id\":1"), "{path}: {text}");
    }

    // In the browser: the picture, people's boxes, and the six zones of the site file with counts.
    let browser = Browser::start(1280, 800);
    browser.goto(&format!("http://127.0.0.1:{web}/login"));
    browser.type_into("input[name=token]", TECHNICIAN);
    browser.click("form button[type=submit]");
    browser.goto(&format!("http://127.0.0.1:{web}/calibrate"));
    let drawn = wait_until(Duration::from_secs(30), || {
        let state = browser.execute(
            "const img = document.getElementById('picture');
             return [img.naturalWidth, document.querySelectorAll('#overlay rect.person').length,
                     document.querySelectorAll('#zones .zone-item').length,
                     document.querySelectorAll('#overlay g.zone').length];",
            Value::Array(vec![]),
        );
        state[0].as_u64() > Some(0) && state[1].as_u64() > Some(0) && state[2] == 6 && state[3] == 6
    });
    assert!(drawn, "the page never showed the picture, boxes and zones");
    let zones = browser.text("#zones").unwrap();
    for name in ["h300", "v400", "v550", "diagonal", "short-v300", "door"] {
        assert!(zones.contains(name), "zone {name} missing: {zones}");
    }
    browser.screenshot(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("calibrate-live.png"));
}
