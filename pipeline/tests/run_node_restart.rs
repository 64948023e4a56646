//! `lintel run` killed with SIGKILL and started again on the same spool and state: every interval
//! is published once, in order, with sequence numbers that never repeat.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Broker, RtspCamera, Subscriber, scratch_dir};

fn start_node(site: &std::path::Path, port: u16, dir: &std::path::Path, run_for: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["run", "--site"])
        .arg(site)
        .args(["--mqtt", &format!("127.0.0.1:{port}"), "--spool"])
        .arg(dir.join("spool"))
        .args(["--interval-s", "2", "--run-for-s", run_for])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lintel run")
}

#[test]
fn a_killed_node_resumes_without_losing_or_repeating_an_interval() {
    let dir = scratch_dir("run-restart");
    let broker = Broker::start(&dir);
    let camera = RtspCamera::start("/walkway");
    let site = common::pets_site(&dir, &camera.url);
    let subscriber = Subscriber::start(broker.port, "lintel/v1/pets/building/hall/counts");

    let mut first = start_node(&site, broker.port, &dir, "600");
    std::thread::sleep(Duration::from_secs(15));
    first.kill().unwrap(); // SIGKILL: no chance to clean up
    first.wait().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let second = start_node(&site, broker.port, &dir, "15").wait_with_output().unwrap();
    assert!(second.status.success());
    std::thread::sleep(Duration::from_secs(1));

    let counts: Vec<serde_json::Value> = subscriber.drain().into_iter().map(|(_, m)| m).collect();
    assert!(counts.len() >= 10, "{} intervals", counts.len());
    let starts: Vec<String> = counts.iter().map(|m| m["interval"]["start"].as_str().unwrap().to_string()).collect();
    for pair in counts.windows(2) {
        assert_eq!(pair[0]["interval"]["end"], pair[1]["interval"]["start"], "no interval lost: {starts:?}");
        assert!(pair[0]["seq"].as_u64() < pair[1]["seq"].as_u64(), "seq never repeats");
    }
    // The intervals of the time the node was down are reported, and marked as not watched.
    assert!(counts.iter().any(|m| m["entrances"][0]["healthy"] == false), "{counts:?}");
    assert!(counts.iter().map(|m| m["entries"].as_u64().unwrap() + m["exits"].as_u64().unwrap()).sum::<u64>() > 0);
}
