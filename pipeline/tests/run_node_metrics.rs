//! `lintel run --metrics`: Prometheus scrapes a running node (clip over a real RTSP server, real
//! mosquitto) and sees its counters move; cameras are labelled by id, never by URL. The node
//! counts on the PETS lawn line with `--motion-gate`: nobody comes near it in the first 20 s of the
//! clip, so most frames are analysed without the detector.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Broker, RtspCamera, free_port, scratch_dir, site_with_camera_url};

/// `GET path` over plain HTTP/1.1: (status line, body).
fn get(port: u16, path: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// `name{labels}` → value, from the text exposition format.
fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {l:?}"));
            (name.to_string(), value.parse().unwrap_or_else(|_| panic!("not a number: {l:?}")))
        })
        .collect()
}

#[test]
fn a_scrape_during_a_run_shows_the_counters_moving() {
    let dir = scratch_dir("run-metrics");
    let broker = Broker::start(&dir);
    let camera = RtspCamera::start("/walkway");
    let site = site_with_camera_url("fixtures/pets-lawn.toml", &dir, &camera.url);
    let port = free_port();
    let mut node = Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["run", "--site"])
        .arg(&site)
        .args(["--mqtt", &format!("127.0.0.1:{}", broker.port), "--spool"])
        .arg(dir.join("spool"))
        .args(["--interval-s", "2", "--run-for-s", "20", "--metrics", &format!("127.0.0.1:{port}"), "--motion-gate"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let scrape = || -> HashMap<String, f64> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((status, body)) = get(port, "/metrics") {
                assert_eq!(status, "HTTP/1.1 200 OK");
                assert!(!body.contains("rtsp://") && !body.contains("127.0.0.1"), "a URL in the metrics: {body}");
                return samples(&body);
            }
            assert!(Instant::now() < deadline, "no metrics endpoint on port {port}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // The endpoint is up before the first frame; wait for the camera to be live.
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        let sample = scrape();
        if sample.get("lintel_frames_analysed_total{camera=\"walkway\"}").is_some_and(|&v| v > 0.0) {
            break sample;
        }
        assert!(Instant::now() < deadline, "no frame analysed: {sample:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    std::thread::sleep(Duration::from_secs(8));
    let second = scrape();
    let (missing, not_found) = (get(port, "/other").unwrap(), node.try_wait().unwrap());
    // OpenMetrics text, which Prometheus reads only when complete.
    let (_, text) = get(port, "/metrics").unwrap();
    assert!(text.ends_with("\n# EOF\n"), "an exposition without its end: {text}");
    assert!(not_found.is_none(), "the node stopped early");
    node.wait().unwrap();

    let value = |sample: &HashMap<String, f64>, name: &str| -> f64 {
        *sample.get(name).unwrap_or_else(|| panic!("no {name} in {sample:?}"))
    };
    let analysed = "lintel_frames_analysed_total{camera=\"walkway\"}";
    let received = "lintel_frames_received_total{camera=\"walkway\"}";
    let detector = "lintel_detector_seconds_total{camera=\"walkway\"}";
    let skipped = "lintel_frames_skipped_total{camera=\"walkway\"}";
    println!(
        "frames analysed {} -> {} (skipped {} -> {}), received {} -> {}, detector {:.2} s, intervals {} -> {}, published {} -> {}",
        value(&first, analysed),
        value(&second, analysed),
        value(&first, skipped),
        value(&second, skipped),
        value(&first, received),
        value(&second, received),
        value(&second, detector),
        value(&first, "lintel_intervals_published_total"),
        value(&second, "lintel_intervals_published_total"),
        value(&first, "lintel_messages_published_total"),
        value(&second, "lintel_messages_published_total"),
    );
    assert!(value(&second, analysed) > value(&first, analysed));
    assert!(value(&second, received) >= value(&second, analysed));
    // The detector still runs at least every 2 s without motion.
    assert!(value(&second, detector) > value(&first, detector));
    let window = (value(&second, analysed) - value(&first, analysed), value(&second, skipped) - value(&first, skipped));
    assert!(
        window.1 * 2.0 > window.0,
        "motion gate: only {} of {} frames skipped on the idle lawn",
        window.1,
        window.0
    );
    assert!(value(&second, "lintel_intervals_published_total") > value(&first, "lintel_intervals_published_total"));
    assert!(value(&second, "lintel_messages_published_total") > value(&first, "lintel_messages_published_total"));
    assert_eq!(value(&second, "lintel_camera_state{camera=\"walkway\",state=\"live\"}"), 1.0);
    assert_eq!(value(&second, "lintel_camera_state{camera=\"walkway\",state=\"retrying\"}"), 0.0);
    assert_eq!(value(&second, "lintel_mqtt_connected"), 1.0);
    assert_eq!(value(&second, "lintel_camera_reconnects_total{camera=\"walkway\"}"), 0.0);
    assert!(second.contains_key("lintel_crossings_total{camera=\"walkway\"}"));
    assert!(second.contains_key("lintel_spool_messages"));
    assert!(missing.0.starts_with("HTTP/1.1 404"), "{missing:?}");
}
