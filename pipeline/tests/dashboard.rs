//! The operators' dashboard, end to end and in a real browser: `lintel run --web` on the clip
//! served as an RTSP camera, a real mosquitto, headless Chromium driven through chromedriver.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::browser::{Browser, OPERATOR, PagesNode, TECHNICIAN, get, http};
use common::{Broker, RtspCamera, Subscriber, free_port, lintel_run, pets_site, scratch_dir, wait_until};
use serde_json::Value;

/// Offline grace of the node under test: the alert must be on the page within it (plus a tick).
const GRACE_S: u64 = 4;

fn start_node(site: &Path, dir: &Path, mqtt: u16, web: u16) -> PagesNode {
    PagesNode::start(site, dir, mqtt, web, &["--offline-grace-s", &GRACE_S.to_string()])
}

fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn api(web: u16, path: &str) -> Value {
    let (status, body) = get(web, path, Some(OPERATOR));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: not JSON: {body}"))
}

#[test]
fn the_dashboard_charts_the_published_intervals_and_shows_a_stopped_camera_that_an_operator_acknowledges() {
    let dir = scratch_dir("dashboard");
    let broker = Broker::start(&dir);
    let counts = Subscriber::start(broker.port, "lintel/v1/pets/building/hall/counts");
    let camera = RtspCamera::start("/walkway");
    let site = pets_site(&dir, &camera.url);
    let web = free_port();
    let node = start_node(&site, &dir, broker.port, web);

    // A browser without the token gets the login page, and in with the operator's.
    let browser = Browser::start(1280, 720);
    browser.goto(&format!("http://127.0.0.1:{web}/"));
    assert!(browser.find("form input[name=token]").is_some(), "no login form without a token");
    browser.type_into("input[name=token]", OPERATOR);
    browser.click("form button[type=submit]");
    assert!(wait_until(Duration::from_secs(20), || browser.find("[data-building=hall]").is_some()), "no building card");

    // The chart shows every crossing of the intervals published (2 s intervals).
    let mut published = 0u64;
    let mut charted = 0;
    let agree = wait_until(Duration::from_secs(90), || {
        for (_, message) in counts.drain() {
            published += message["entries"].as_u64().unwrap() + message["exits"].as_u64().unwrap();
        }
        charted = browser
            .execute(
                "const c = document.querySelector('[data-chart=hall]'); return c ? Number(c.dataset.crossings) : -1;",
                Value::Array(vec![]),
            )
            .as_u64()
            .unwrap_or(0);
        published >= 4 && charted == published
    });
    assert!(agree, "the chart shows {charted} crossings, never the {published} published over MQTT");
    let health = browser.text("tr[data-camera=walkway] .health").unwrap_or_default();
    assert_eq!(health, "live");
    assert!(browser.find("tr[data-camera=walkway][data-health=live]").is_some());
    browser.screenshot(&screenshot_path("dashboard-live.png"));

    // The camera stops: its alert arrives on the open page (no reload) within the grace period.
    // (The limit is generous: a loaded 2-core box may take seconds to notice a dead stream; the
    // time it took is printed.)
    let stopped = std::time::Instant::now();
    drop(camera);
    let alert = "li[data-kind=camera_offline][data-subject=walkway].active";
    let shown = wait_until(Duration::from_secs(GRACE_S + 40), || browser.find(alert).is_some());
    if !shown {
        browser.screenshot(&screenshot_path("dashboard-no-alert.png"));
    }
    assert!(shown, "camera_offline never appeared on the dashboard; the node has {}", api(web, "/api/alerts"));
    eprintln!(
        "camera_offline on the page {:.1} s after the camera stopped (grace {GRACE_S} s)",
        stopped.elapsed().as_secs_f64()
    );
    // Offline (the node's alert is on), not "reconnecting".
    assert!(wait_until(Duration::from_secs(10), || {
        browser.text("tr[data-camera=walkway] .health").is_some_and(|h| h == "offline")
    }));

    browser.click(&format!("{alert} button.ack"));
    browser.type_into(&format!("{alert} input[name=by]"), "Test Operator");
    browser.click(&format!("{alert} form.ack-form button[type=submit]"));
    let acknowledged = wait_until(Duration::from_secs(10), || {
        browser.text(alert).is_some_and(|t| t.contains("Acknowledged by Test Operator"))
    });
    assert!(acknowledged, "the acknowledgement is not shown: {:?}", browser.text(alert));
    browser.screenshot(&screenshot_path("dashboard-alert.png"));

    // Kept across a restart: the acknowledgement, the alert (not raised twice) and the history.
    node.stop();
    let node = start_node(&site, &dir, broker.port, web);
    let alerts = api(web, "/api/alerts");
    let offline: Vec<&Value> = alerts.as_array().unwrap().iter().filter(|a| a["kind"] == "camera_offline").collect();
    assert_eq!(offline.len(), 1, "{alerts}");
    assert_eq!(offline[0]["acked_by"], "Test Operator");
    assert_eq!(offline[0]["acked_role"], "operator");
    // The audit trail too: the browser's sign-in and the acknowledgement, with the peer.
    let trail = api(web, "/api/audit");
    let ack = trail.as_array().unwrap().iter().find(|e| e["action"] == "alert_acknowledged").expect("no ack audited");
    assert_eq!((ack["who"].as_str(), ack["from"].as_str()), (Some("operator"), Some("127.0.0.1")), "{ack}");
    assert!(ack["detail"].as_str().is_some_and(|d| d.contains("Test Operator")), "{ack}");
    assert!(trail.as_array().unwrap().iter().any(|e| e["action"] == "signed_in"), "{trail}");
    let history = api(web, "/api/history?hours=1&bucket_s=60");
    let charted: u64 = history["buildings"][0]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["entries"].as_u64().unwrap() + b["exits"].as_u64().unwrap())
        .sum();
    assert!(charted >= published, "history after the restart has {charted} crossings, {published} were published");
    node.stop();
}

#[test]
fn every_page_and_api_needs_a_valid_token_and_answers_hold_no_track_id() {
    let dir = scratch_dir("dashboard-tokens");
    let broker = Broker::start(&dir);
    let camera = RtspCamera::start("/walkway");
    let site = pets_site(&dir, &camera.url);
    let web = free_port();
    let node = PagesNode::start(&site, &dir, broker.port, web, &["--web-host", "lintel-node.example"]);

    // DNS rebinding: a name the node was not given gets 421 whatever else the request carries.
    for (host, status) in
        [("rebind.attacker.example", 421), ("lintel-node.example", 200), ("localhost", 200), ("127.0.0.1", 200)]
    {
        assert_eq!(with_host(web, &format!("{host}:{web}")), status, "Host {host}");
    }

    let guarded = ["/", "/api/overview", "/api/history", "/api/alerts", "/api/whoami", "/metrics", "/nowhere"];
    for path in guarded {
        assert_eq!(get(web, path, None).0, 401, "{path} without a token");
        assert_eq!(get(web, path, Some("operator-token-of-the-page-testsX")).0, 401, "{path} with a wrong token");
        let cookie = "lintel_token=not-a-token-at-all-really";
        assert_eq!(http("GET", web, path, &[("Cookie", cookie)], None).0, 401, "{path} with a wrong cookie");
    }
    for token in [OPERATOR, TECHNICIAN] {
        for path in &guarded[..6] {
            let (status, body) = get(web, path, Some(token));
            assert_eq!(status, 200, "{path}: {body}");
            for word in ["track_id", "\"track\"", "tracks", "embedding"] {
                assert!(!body.contains(word), "{path} holds {word:?}: {body}");
            }
        }
        assert_eq!(get(web, "/nowhere", Some(token)).0, 404);
    }
    let whoami = |token| serde_json::from_str::<Value>(&get(web, "/api/whoami", Some(token)).1).unwrap();
    assert_eq!(whoami(OPERATOR)["role"], "operator");
    assert_eq!(whoami(TECHNICIAN)["role"], "technician");
    // The login page and the assets are open; a wrong login is 401, a right one sets the cookie.
    assert_eq!(get(web, "/login", None).0, 200);
    assert_eq!(get(web, "/assets/dashboard.js", None).0, 200);
    // (A form only from the node's own origin: another site's form cannot sign anyone in.)
    let origin = format!("http://127.0.0.1:{web}");
    let form = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", origin.as_str())];
    assert_eq!(http("POST", web, "/login", &form, Some("token=guess-guess-guess-guess")).0, 401);
    assert_eq!(http("POST", web, "/login", &form, Some(&format!("token={OPERATOR}"))).0, 303);
    let foreign = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "http://evil.example")];
    assert_eq!(http("POST", web, "/login", &foreign, Some(&format!("token={OPERATOR}"))).0, 403);
    let json = [("Content-Type", "application/json")];
    let (status, body) = http("POST", web, "/login", &json, Some(&format!(r#"{{"token": "{OPERATOR}"}}"#)));
    assert_eq!((status, body.as_str()), (200, r#"{"role":"operator"}"#));
    let cookie = format!("lintel_token={OPERATOR}");
    assert_eq!(http("GET", web, "/api/overview", &[("Cookie", &cookie)], None).0, 200);
    // Acknowledging needs a token and JSON (a cross-site form cannot send it: 403 before anything).
    let json = [("Content-Type", "application/json")];
    assert_eq!(http("POST", web, "/api/alerts/1/ack", &json, Some("{}")).0, 401);
    let bearer = format!("Bearer {OPERATOR}");
    let with_token = [("Content-Type", "application/json"), ("Authorization", bearer.as_str())];
    assert_eq!(http("POST", web, "/api/alerts/99999/ack", &with_token, Some(r#"{"by": "Li Wei"}"#)).0, 404);
    // Without a person's name an acknowledgement is refused.
    assert_eq!(http("POST", web, "/api/alerts/99999/ack", &with_token, Some("{}")).0, 422);
    let as_form = [("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", bearer.as_str())];
    assert_eq!(http("POST", web, "/api/alerts/99999/ack", &as_form, Some("by=x")).0, 403);
    node.stop();
}

/// The status of `GET /api/whoami` with the operator's token and this `Host`.
fn with_host(web: u16, host: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", web)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET /api/whoami HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {OPERATOR}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{answer:?}"))
}

#[test]
fn serving_the_pages_beyond_loopback_without_tokens_is_refused_with_one_line() {
    let dir = scratch_dir("dashboard-open");
    let site = pets_site(&dir, "rtsp://127.0.0.1:9/none");
    let output =
        lintel_run(&site, &dir, free_port(), 5).args(["--web", &format!("0.0.0.0:{}", free_port())]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs tokens"), "{stderr}");
}
