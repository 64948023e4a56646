//! Resetting a building's occupancy: `lintel occupancy set` publishes a retained command to a real
//! mosquitto, the running node applies it once and publishes the new occupancy; a restarted node
//! gets the retained command again and does not apply it twice; bad commands are warnings.
//! Node and CLI share the tests' command key.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Broker, RtspCamera, Subscriber, scratch_dir};
use lintel::publish::UtcTime;
use serde_json::Value;

const OCCUPANCY: &str = "lintel/v1/pets/building/hall/occupancy";
const COUNTS: &str = "lintel/v1/pets/building/hall/counts";
/// Far from anything the clip's few people can reach from the initial 0.
const SET_TO: u64 = 250;

fn site_file(dir: &Path, camera_url: &str) -> PathBuf {
    common::pets_site(dir, camera_url)
}

fn node(site: &Path, dir: &Path, port: u16, run_for_s: u64) -> Command {
    let mut command = common::lintel_run(site, dir, port, run_for_s);
    command.env("LINTEL_LOG", "warn,lintel=info").stdout(Stdio::null()).stderr(Stdio::piped());
    command
}

fn set_occupancy(site: &Path, port: u16, building: &str, value: u64) -> Output {
    common::with_command_key(
        Command::new(env!("CARGO_BIN_EXE_lintel")).args(["occupancy", "set", "--site"]).arg(site).args([
            "--building",
            building,
            "--value",
            &value.to_string(),
            "--mqtt",
            &format!("127.0.0.1:{port}"),
        ]),
    )
    .output()
    .unwrap()
}

fn mosquitto_pub(port: u16, topic: &str, payload: &str, retained: bool) {
    let mut command = Command::new("mosquitto_pub");
    command.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-m", payload]);
    if retained {
        command.arg("-r");
    }
    assert!(command.status().expect("mosquitto_pub is not installed: run scripts/setup").success());
}

fn stderr(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "lintel failed: {text}");
    text
}

fn time(value: &Value) -> UtcTime {
    serde_json::from_value(value.clone()).unwrap()
}

/// Occupancy at the end of each interval follows from the one before and the interval's counts.
fn assert_chain(counts: &[&Value]) {
    for pair in counts.windows(2) {
        let previous = pair[0]["occupancy"].as_u64().unwrap();
        let (entries, exits) = (pair[1]["entries"].as_u64().unwrap(), pair[1]["exits"].as_u64().unwrap());
        assert_eq!(pair[1]["occupancy"].as_u64().unwrap(), (previous + entries).saturating_sub(exits), "{pair:?}");
    }
}

#[test]
fn an_occupancy_command_is_applied_once_even_across_a_restart() {
    let dir = scratch_dir("occupancy-reset");
    let broker = Broker::start(&dir);
    let camera = RtspCamera::start("/walkway");
    let site = site_file(&dir, &camera.url);
    let subscriber = Subscriber::start(broker.port, "lintel/v1/pets/building/hall/+");

    // A command for a building the site does not have, and an unsigned one of the old schema for
    // the hall, retained, are there when the node starts (the CLI's replaces the second).
    mosquitto_pub(
        broker.port,
        "lintel/v1/pets/building/nowhere/occupancy/set",
        r#"{"schema":"lintel.occupancy_set/1","occupancy":5,"id":"x1","issued_at":"2026-11-25T10:00:00Z"}"#,
        true,
    );
    mosquitto_pub(
        broker.port,
        "lintel/v1/pets/building/hall/occupancy/set",
        r#"{"schema":"lintel.occupancy_set/1","occupancy":6,"id":"x2","issued_at":"2026-11-25T10:00:00Z"}"#,
        true,
    );
    let first = node(&site, &dir, broker.port, 30).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(8));
    // Not JSON at all, and not retained (a retained one would replace the real command below).
    mosquitto_pub(broker.port, "lintel/v1/pets/building/hall/occupancy/set", "fifty people", false);

    // The CLI refuses a building the site file does not have, in one line.
    let unknown = set_occupancy(&site, broker.port, "nowhere", 3);
    assert!(!unknown.status.success());
    let unknown_err = String::from_utf8_lossy(&unknown.stderr);
    assert!(unknown_err.lines().count() == 1 && unknown_err.contains("no building \"nowhere\""), "{unknown_err}");

    let set = set_occupancy(&site, broker.port, "hall", SET_TO);
    let set_err = stderr(&set);
    assert!(set_err.contains(&format!("building hall to {SET_TO} published")), "{set_err}");

    // The node publishes the new occupancy as soon as it applies the command.
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !messages.iter().any(|(t, m): &(String, Value)| t == OCCUPANCY && m["occupancy"] == SET_TO) {
        assert!(Instant::now() < deadline, "no occupancy {SET_TO} published: {messages:?}");
        std::thread::sleep(Duration::from_millis(100));
        messages.extend(subscriber.drain());
    }
    let first_err = stderr(&first.wait_with_output().unwrap());
    messages.extend(subscriber.drain());
    // Both for the hall refused (unsigned of the old schema, not JSON), each in one line; the
    // other building's topic is not even subscribed (one topic per building of the site).
    let refused: Vec<&str> = first_err.lines().filter(|l| l.contains("occupancy_refused")).collect();
    assert!(refused.iter().any(|l| l.contains("hall") && l.contains("missing field `mac`")), "{first_err}");
    assert!(refused.iter().any(|l| l.contains("hall") && l.contains("expected ident")), "{first_err}");
    assert!(!first_err.contains("nowhere"), "{first_err}");
    assert_eq!(first_err.matches(&format!("set to {SET_TO} by command")).count(), 1, "applied once: {first_err}");

    let counts: Vec<&Value> = messages.iter().filter(|(t, _)| t == COUNTS).map(|(_, m)| m).collect();
    let reset_at = messages.iter().position(|(t, m)| t == OCCUPANCY && m["occupancy"] == SET_TO).unwrap();
    let applied = time(&messages[reset_at].1["at"]);
    let after: Vec<&Value> = messages[reset_at..].iter().filter(|(t, _)| t == COUNTS).map(|(_, m)| m).collect();
    assert!(after.len() >= 5, "intervals after the reset: {}", after.len());
    // Intervals still open when the reset came (they close a few seconds after their end) keep
    // all their crossings in their counts, but only those after the reset move the occupancy:
    // it stays within what their counts allow around the reset value.
    let open_at_reset = after.iter().take_while(|m| time(&m["interval"]["start"]) < applied).count();
    assert!(open_at_reset >= 1, "the reset fell in an open interval");
    let (mut entries, mut exits) = (0, 0);
    for m in &after[..open_at_reset] {
        entries += m["entries"].as_u64().unwrap();
        exits += m["exits"].as_u64().unwrap();
        let occupancy = m["occupancy"].as_u64().unwrap();
        assert!(SET_TO - exits <= occupancy && occupancy <= SET_TO + entries, "{m}");
    }
    // From there on, every crossing counts.
    assert_chain(&after[open_at_reset - 1..]);
    assert!(counts[0]["occupancy"].as_u64().unwrap() < 100, "before the reset, counted from 0: {}", counts[0]);
    let last = after.last().unwrap()["occupancy"].as_u64().unwrap();
    println!("occupancy {SET_TO} set; {} intervals after it; {last} when the node stopped", after.len());

    // A restarted node receives the retained command again: it must not apply it twice.
    let second_err = stderr(&node(&site, &dir, broker.port, 8).output().unwrap());
    std::thread::sleep(Duration::from_secs(1));
    let messages: Vec<(String, Value)> = subscriber.drain();
    assert!(second_err.contains("was applied before; ignored"), "{second_err}");
    assert!(!second_err.contains("by command"), "applied again: {second_err}");
    // Seen from MQTT too: an applied command publishes the occupancy at once, stamped with the
    // time of day in milliseconds; the second run only publishes interval ends (whole seconds).
    let occupancy: Vec<&Value> = messages.iter().filter(|(t, _)| t == OCCUPANCY).map(|(_, m)| m).collect();
    assert!(!occupancy.is_empty());
    for m in &occupancy {
        assert!(!m["at"].as_str().unwrap().contains('.'), "an occupancy outside an interval end: {m}");
    }
    let mut counts: Vec<&Value> = vec![after.last().unwrap()];
    counts.extend(messages.iter().filter(|(t, _)| t == COUNTS).map(|(_, m)| m));
    assert!(counts.len() >= 3, "{counts:?}");
    assert_chain(&counts);
}
