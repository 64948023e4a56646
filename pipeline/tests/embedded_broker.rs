//! `lintel run` with no broker configured starts its embedded broker on 127.0.0.1, and a real MQTT
//! client (`mosquitto_sub`) receives the counts and the retained node status from it.

#![cfg(feature = "embedded-broker")]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Subscriber, free_port, workspace};
use serde_json::Value;

const STATUS_TOPIC: &str = "lintel/v1/pets/node/edge-01/status";

/// A child process killed when dropped, so a failed assertion leaves nothing running.
struct Running(Child);

impl Running {
    fn exited(&mut self) -> bool {
        self.0.try_wait().unwrap().is_some()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stderr_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn without_a_broker_lintel_run_starts_one_and_a_client_receives_the_counts() {
    // The fixture site's single camera is the clip file itself, read as a live source.
    let site = workspace("fixtures/pets.toml");
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("lintel.stderr");
    let port = free_port();

    let mut lintel = Running(
        Command::new(env!("CARGO_BIN_EXE_lintel"))
            .args(["run", "--site"])
            .arg(&site)
            .args(["--embedded-port", &port.to_string(), "--spool"])
            .arg(dir.path().join("spool"))
            .args(["--interval-s", "2", "--run-for-s", "20"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );

    // The broker starts before the detector loads: subscribe as soon as its port opens.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(!lintel.exited(), "lintel run exited before its broker listened: {}", stderr_of(&stderr_path));
        assert!(Instant::now() < deadline, "no embedded broker on port {port}: {}", stderr_of(&stderr_path));
        std::thread::sleep(Duration::from_millis(50));
    }
    let subscriber = Subscriber::start(port, "lintel/#");

    // Wait for a first interval's counts, then ask a new client for the retained status while
    // the broker (inside lintel) still runs.
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !messages.iter().any(|(_, m): &(String, Value)| m["schema"] == "lintel.counts/1") {
        assert!(!lintel.exited(), "lintel run ended before any counts arrived: {}", stderr_of(&stderr_path));
        assert!(Instant::now() < deadline, "no counts within 90 s: {}", stderr_of(&stderr_path));
        std::thread::sleep(Duration::from_millis(100));
        messages.extend(subscriber.drain());
    }
    let retained = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-v", "--retained-only", "-C", "1", "-W", "15"])
        .args(["-t", STATUS_TOPIC])
        .output()
        .unwrap();
    let retained = String::from_utf8_lossy(&retained.stdout);
    let (topic, payload) =
        retained.trim().split_once(' ').unwrap_or_else(|| panic!("no retained status: {retained:?}"));
    assert_eq!(topic, STATUS_TOPIC);
    let status: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(status["schema"], "lintel.node_status/1", "{status}");
    assert_eq!(status["state"], "online", "{status}");

    let deadline = Instant::now() + Duration::from_secs(120);
    let exit = loop {
        if let Some(exit) = lintel.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "lintel run --run-for-s 20 still runs: {}", stderr_of(&stderr_path));
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = stderr_of(&stderr_path);
    assert!(exit.success(), "lintel run failed: {stderr}");
    assert!(stderr.contains(&format!("started an embedded MQTT broker on 127.0.0.1:{port}")), "{stderr}");
    messages.extend(subscriber.drain());

    let counts: Vec<&Value> =
        messages.iter().filter(|(topic, _)| topic == "lintel/v1/pets/building/hall/counts").map(|(_, m)| m).collect();
    assert!(!counts.is_empty(), "{messages:?}");
    assert!(counts.iter().all(|m| m["schema"] == "lintel.counts/1" && m["node"] == "edge-01"), "{counts:?}");
    assert!(
        messages.iter().any(|(topic, m)| topic == STATUS_TOPIC && m["state"] == "online"),
        "no node status: {messages:?}"
    );
}

#[test]
fn the_embedded_broker_never_drains_the_spool_kept_for_a_real_broker() {
    // A spool with a message waiting for the site's real broker (an earlier run's).
    let site = workspace("fixtures/pets.toml");
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let seq = {
        let mut waiting = lintel::publish::Spool::open(&spool, 1 << 20).unwrap();
        waiting.push(common::test_alert("cam-07")).unwrap()
    };
    let waiting_file = spool.join(format!("{seq:020}.msg"));
    assert!(waiting_file.exists());
    let port = free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["run", "--site"])
        .arg(&site)
        .args(["--embedded-port", &port.to_string(), "--spool"])
        .arg(&spool)
        .args(["--interval-s", "2", "--run-for-s", "6"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "lintel run failed: {stderr}");
    assert!(waiting_file.exists(), "the message for the real broker went into a broker that keeps nothing");
    assert!(spool.join("embedded").is_dir(), "the embedded broker's messages are spooled apart");
}
