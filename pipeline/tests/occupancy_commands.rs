//! Occupancy commands against a real mosquitto and a running node: a flood of unsigned, wrongly
//! signed and replayed commands is refused, and neither it nor the replays keep the operator's
//! genuine `lintel occupancy set --value 42` from being applied in the same minute.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Broker, COMMAND_KEY, RtspCamera, Subscriber, scratch_dir};
use lintel::publish::{CommandKey, OccupancySet};
use serde_json::Value;

const OCCUPANCY: &str = "lintel/v1/pets/building/hall/occupancy";
const SET: &str = "lintel/v1/pets/building/hall/occupancy/set";

fn set_occupancy(site: &Path, port: u16, value: u64) -> Output {
    let output = common::with_command_key(
        Command::new(env!("CARGO_BIN_EXE_lintel"))
            .args(["occupancy", "set", "--site"])
            .arg(site)
            .args(["--building", "hall", "--value", &value.to_string(), "--mqtt", &format!("127.0.0.1:{port}")])
            .args(["--issued-by", "ops-li"]),
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Not retained: a retained junk command would replace the genuine one on the broker.
fn mosquitto_pub(port: u16, payload: &[u8]) {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", SET, "-s"])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(payload)?;
            child.wait()
        })
        .expect("mosquitto_pub is not installed: run scripts/setup");
    assert!(status.success());
}

/// Waits for the node to publish occupancy `value` for the hall; returns all messages seen.
fn wait_for_occupancy(subscriber: &Subscriber, seen: &mut Vec<(String, Value)>, value: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.iter().any(|(t, m)| t == OCCUPANCY && m["occupancy"] == value) {
        assert!(Instant::now() < deadline, "no occupancy {value} published: {seen:?}");
        std::thread::sleep(Duration::from_millis(100));
        seen.extend(subscriber.drain());
    }
}

#[test]
fn junk_unsigned_and_replayed_commands_do_not_keep_the_genuine_one_out() {
    let dir = scratch_dir("occupancy-commands");
    let broker = Broker::start(&dir);
    let camera = RtspCamera::start("/walkway");
    let site = common::pets_site(&dir, &camera.url);
    let occupancy = Subscriber::start(broker.port, OCCUPANCY);
    let commands = Subscriber::start(broker.port, SET);
    let mut node = common::lintel_run(&site, &dir, broker.port, 40);
    node.env("LINTEL_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::piped());
    let node = node.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(6));

    // Two genuine commands, one after the other; the first one's payload is kept for a replay.
    let mut seen = Vec::new();
    set_occupancy(&site, broker.port, 7);
    wait_for_occupancy(&occupancy, &mut seen, 7);
    let first: Vec<u8> = {
        let sent = commands.drain();
        assert_eq!(sent.len(), 1, "{sent:?}");
        serde_json::to_vec(&sent[0].1).unwrap()
    };
    set_occupancy(&site, broker.port, 8);
    wait_for_occupancy(&occupancy, &mut seen, 8);

    // The flood: unsigned, signed with another key, signed for another building, altered after
    // signing, a replay of the first genuine command; more than the ten a minute the node applies.
    let other = CommandKey::new("an attacker's guess at the key").unwrap();
    let key = CommandKey::new(COMMAND_KEY).unwrap();
    for i in 0..6u64 {
        let fresh = OccupancySet::new(100 + i);
        mosquitto_pub(broker.port, &fresh.to_json());
        mosquitto_pub(broker.port, &fresh.clone().signed(&other, "pets", "hall").to_json());
        mosquitto_pub(broker.port, &fresh.clone().signed(&key, "pets", "elsewhere").to_json());
        let altered = OccupancySet { occupancy: 999, ..fresh.signed(&key, "pets", "hall") };
        mosquitto_pub(broker.port, &altered.to_json());
        mosquitto_pub(broker.port, &first);
    }
    // The operator's genuine command, in the same minute.
    let output = set_occupancy(&site, broker.port, 42);
    assert!(String::from_utf8_lossy(&output.stderr).contains("building hall to 42 published"));
    wait_for_occupancy(&occupancy, &mut seen, 42);
    std::thread::sleep(Duration::from_secs(1));
    seen.extend(occupancy.drain());

    let values: Vec<u64> = seen
        .iter()
        .filter(|(t, m)| t == OCCUPANCY && m["at"].as_str().is_some_and(|at| at.contains('.')))
        .map(|(_, m)| m["occupancy"].as_u64().unwrap())
        .collect();
    // Applied commands publish at once, stamped in milliseconds (interval ends are whole seconds).
    assert_eq!(values, [7, 8, 42], "only the genuine commands were applied, in order");

    let _ = Command::new("kill").args(["-INT", &node.id().to_string()]).status();
    let output = node.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("occupancy_refused")).collect();
    assert!(refused.iter().any(|l| l.contains("MAC does not verify")), "{log}");
    assert!(refused.iter().any(|l| l.contains("applied before: a replay")), "{log}");
    assert!(log.matches("occupancy_applied").count() == 3, "{log}");
    assert!(log.contains("ops-li"), "who issued it is recorded: {log}");
    assert!(!log.contains(COMMAND_KEY), "the key is never logged");
}
