//! `lintel run` against faults of its broker, end to end with a real mosquitto and the clip served
//! by a real RTSP server: a broker that stops for a while and comes back, a wrong MQTT password,
//! a spool that fills up, a spool directory that cannot be created.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Broker, RtspCamera, Subscriber, free_port, scratch_dir, workspace};
use serde_json::Value;

const COUNTS: &str = "lintel/v1/pets/building/hall/counts";

fn site_file(dir: &Path, camera_url: &str) -> PathBuf {
    common::pets_site(dir, camera_url)
}

/// `lintel run` on the site with 2 s intervals; `more` arguments and environment added.
fn node(site: &Path, dir: &Path, port: u16, run_for_s: u64, more: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = common::lintel_run(site, dir, port, run_for_s);
    command.args(more).envs(env.iter().copied()).stdout(Stdio::null());
    command
}

/// What the node says it did, from its exit line.
#[derive(Debug, Default)]
struct Summary {
    frames: u64,
    crossings: u64,
    intervals: u64,
    entries: u64,
    exits: u64,
}

fn summary(output: &Output) -> Summary {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "lintel run failed: {stderr}");
    let line = stderr.lines().find(|l| l.starts_with("lintel run: ")).unwrap_or_else(|| panic!("no summary: {stderr}"));
    let numbers: Vec<u64> =
        line.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    // "N frames analysed, N crossings (N more seen by a second camera), N intervals published (N entries, N exits)"
    let [frames, crossings, _merged, intervals, entries, exits] = numbers[..] else { panic!("summary line {line:?}") };
    Summary { frames, crossings, intervals, entries, exits }
}

/// Message files waiting in the spool.
fn spooled(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("spool"))
        .map(|entries| entries.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "msg")).count())
        .unwrap_or(0)
}

/// Counts messages de-duplicated by `seq` (delivery is at least once, the same bytes each time).
fn unique_by_seq(messages: Vec<(String, Value)>) -> Vec<Value> {
    let mut by_seq = BTreeMap::new();
    let mut arrival = Vec::new();
    for (_, message) in messages {
        let seq = message["seq"].as_u64().unwrap();
        match by_seq.get(&seq) {
            Some(earlier) => assert_eq!(earlier, &message, "seq {seq} arrived twice with different content"),
            None => {
                by_seq.insert(seq, message.clone());
                arrival.push(message);
            }
        }
    }
    arrival
}

fn assert_contiguous_and_ordered(counts: &[Value]) {
    let starts: Vec<&str> = counts.iter().map(|m| m["interval"]["start"].as_str().unwrap()).collect();
    for pair in counts.windows(2) {
        assert!(pair[0]["seq"].as_u64() < pair[1]["seq"].as_u64(), "out of order: {starts:?}");
        assert_eq!(pair[0]["interval"]["end"], pair[1]["interval"]["start"], "an interval is missing: {starts:?}");
    }
}

fn sums(counts: &[Value]) -> (u64, u64) {
    let sum = |field: &str| counts.iter().map(|m| m[field].as_u64().unwrap()).sum();
    (sum("entries"), sum("exits"))
}

/// A child process killed when dropped, so a failed assertion leaves nothing running.
struct Running(Option<Child>);

impl Running {
    fn wait(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn every_interval_arrives_once_and_in_order_through_a_broker_outage() {
    let dir = scratch_dir("fault-outage");
    let data = dir.join("broker-data");
    let port = free_port();
    let broker = Broker::start_with(&dir, port, &Broker::persistent_settings(&data));
    let camera = RtspCamera::start("/walkway");
    let site = site_file(&dir, &camera.url);
    // A session the broker keeps across its restart, so what the node sends while this client
    // has not reconnected yet is queued for it rather than lost to the test.
    let subscriber = Subscriber::start_with(port, COUNTS, &["-c", "-i", "lintel-outage-test"]);

    let node = Running(Some(node(&site, &dir, port, 60, &[], &[]).stderr(Stdio::piped()).spawn().unwrap()));
    std::thread::sleep(Duration::from_secs(15));
    let before_outage = spooled(&dir);
    broker.stop();
    let outage = Instant::now();
    let mut most_spooled = 0;
    while outage.elapsed() < Duration::from_secs(20) {
        most_spooled = most_spooled.max(spooled(&dir));
        std::thread::sleep(Duration::from_millis(200));
    }
    let broker = Broker::start_with(&dir, port, &Broker::persistent_settings(&data));
    let output = node.wait();
    let run = summary(&output);
    std::thread::sleep(Duration::from_secs(2));
    let counts = unique_by_seq(subscriber.drain());
    drop(broker);

    println!(
        "broker away {:.1} s; spool held {before_outage} messages before, up to {most_spooled} during the outage, \
         {} after; node: {run:?}; received {} intervals",
        20.0,
        spooled(&dir),
        counts.len()
    );
    // Counts and occupancy of several 2 s intervals had to wait in the spool.
    assert!(most_spooled >= 6, "only {most_spooled} messages were spooled during a 20 s outage");
    assert_eq!(spooled(&dir), 0, "the spool drained");
    assert_contiguous_and_ordered(&counts);
    assert_eq!(counts.len() as u64, run.intervals, "every interval the node published arrived");
    assert_eq!(sums(&counts), (run.entries, run.exits), "the sums match the node's own");
    assert!(run.entries + run.exits > 0, "people were counted: {run:?}");
    // The interval still open at the stop is counted but not yet published.
    assert!(run.crossings >= run.entries + run.exits, "{run:?}");
}

#[test]
fn a_wrong_mqtt_password_is_one_clear_line_the_node_keeps_counting_and_the_spool_drains_later() {
    const USER: &str = "lintel-node";
    const RIGHT: &str = "right-horse-battery";
    const WRONG: &str = "wrong-staple-7731";
    let dir = scratch_dir("fault-password");
    let broker = Broker::start_with(&dir, free_port(), &Broker::password_settings(&dir, USER, RIGHT));
    let camera = RtspCamera::start("/walkway");
    let site = site_file(&dir, &camera.url);
    let subscriber = Subscriber::start_with(broker.port, COUNTS, &["-u", USER, "-P", RIGHT]);
    let login = ["--mqtt-user-env", "LINTEL_TEST_MQTT_USER", "--mqtt-password-env", "LINTEL_TEST_MQTT_PASSWORD"];

    let refused = node(
        &site,
        &dir,
        broker.port,
        20,
        &login,
        &[("LINTEL_TEST_MQTT_USER", USER), ("LINTEL_TEST_MQTT_PASSWORD", WRONG)],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let first = summary(&refused);
    let left = spooled(&dir);
    println!("wrong password: {first:?}, {left} messages left in the spool");
    let login_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("refused the login")).collect();
    assert_eq!(login_lines.len(), 1, "one line, not one per retry: {stderr}");
    assert!(login_lines[0].contains(&format!("127.0.0.1:{}", broker.port)), "names the broker: {}", login_lines[0]);
    assert!(login_lines[0].contains(USER), "names the user: {}", login_lines[0]);
    assert!(!stderr.contains(WRONG), "the password leaked: {stderr}");
    let plain: Vec<&str> = stderr.lines().filter(|l| l.contains("in plain text")).collect();
    assert_eq!(plain.len(), 1, "one warning that the password travels without TLS: {stderr}");
    assert!(first.frames > 0 && first.intervals >= 4, "the node kept counting: {first:?}");
    assert!(left as u64 >= 2 * first.intervals, "counts and occupancy stay spooled: {left}");
    assert!(subscriber.drain().is_empty(), "nothing got through with the wrong password");

    let accepted = node(
        &site,
        &dir,
        broker.port,
        6,
        &login,
        &[("LINTEL_TEST_MQTT_USER", USER), ("LINTEL_TEST_MQTT_PASSWORD", RIGHT)],
    )
    .output()
    .unwrap();
    let second = summary(&accepted);
    std::thread::sleep(Duration::from_secs(1));
    let counts = unique_by_seq(subscriber.drain());
    println!("right password: {second:?}, received {} intervals", counts.len());
    assert_contiguous_and_ordered(&counts);
    assert_eq!(counts.len() as u64, first.intervals + second.intervals, "the first run's intervals drained too");
    let (entries, exits) = sums(&counts[..first.intervals as usize]);
    assert_eq!((entries, exits), (first.entries, first.exits), "the spooled intervals arrived as counted");
    assert_eq!(spooled(&dir), 0);
}

#[test]
fn a_full_spool_is_a_clear_error_and_the_node_keeps_counting() {
    let dir = scratch_dir("fault-spool-full");
    let camera = RtspCamera::start("/walkway");
    let site = site_file(&dir, &camera.url);
    // No broker: every message stays in a spool of 4 KiB, room for about ten.
    let output = node(&site, &dir, free_port(), 24, &["--spool-max-kib", "4"], &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let run = summary(&output);
    let spool = dir.join("spool");
    println!("{run:?}; {} messages in the spool", spooled(&dir));
    assert!(stderr.contains("the publishing spool is") && stderr.contains("% full"), "spool alert: {stderr}");
    let full =
        stderr.lines().find(|l| l.contains("is full")).unwrap_or_else(|| panic!("no full-spool error: {stderr}"));
    assert!(full.contains(&spool.display().to_string()), "names the spool: {full}");
    // Intervals kept closing after the spool was full: the cameras kept counting.
    assert!(run.frames > 0 && run.intervals >= 8, "{run:?}");
    assert!((spooled(&dir) as u64) < 2 * run.intervals, "the bound held");
}

#[test]
fn a_spool_directory_that_cannot_be_created_is_one_clear_error() {
    let dir = scratch_dir("fault-spool-dir");
    let blocker = dir.join("not-a-dir");
    std::fs::write(&blocker, "a file where the spool's parent should be").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["run", "--site"])
        .arg(workspace("fixtures/pets.toml"))
        .args(["--mqtt", &format!("127.0.0.1:{}", free_port()), "--spool"])
        .arg(blocker.join("spool"))
        .args(["--run-for-s", "5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("lintel: spool ") && lines[0].contains("not-a-dir/spool"), "{stderr}");
}

/// A small tmpfs, unmounted on drop: a disk the test can fill.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let mounted =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(path).status();
        assert!(
            mounted.is_ok_and(|s| s.success()),
            "this test mounts a {size} tmpfs as the disk that fills up: it needs root (CI and scripts/test run as root)"
        );
        Self(path.to_path_buf())
    }

    /// Writes a file until the disk says it is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).and_then(|()| file.sync_all()).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_holds_the_intervals_in_memory_and_they_go_out_when_space_returns() {
    let dir = scratch_dir("fault-disk-full");
    let disk = SmallDisk::mount(&dir.join("disk"), "1m");
    let broker = Broker::start(&dir);
    let camera = RtspCamera::start("/walkway");
    let site = site_file(&dir, &camera.url);
    let subscriber = Subscriber::start(broker.port, COUNTS);
    let alerts = Subscriber::start(broker.port, "lintel/v1/pets/alerts");

    // The spool (and the state file in it) on the small disk.
    let node = Running(Some(node(&site, &disk.0, broker.port, 30, &[], &[]).stderr(Stdio::piped()).spawn().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !disk.0.join("spool").join("lock").exists() {
        assert!(Instant::now() < deadline, "the node did not open its spool");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(4));
    let filler = disk.fill();
    // Several 2 s intervals close while the disk is full.
    std::thread::sleep(Duration::from_secs(10));
    std::fs::remove_file(&filler).unwrap();
    let output = node.wait();
    let run = summary(&output);
    std::thread::sleep(Duration::from_secs(2));
    let counts = unique_by_seq(subscriber.drain());
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("node: {run:?}; received {} intervals", counts.len());
    assert!(stderr.contains("holding messages in memory"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "says why: {stderr}");
    assert_contiguous_and_ordered(&counts);
    assert_eq!(counts.len() as u64, run.intervals, "every interval the node closed arrived, none lost to the disk");
    assert_eq!(sums(&counts), (run.entries, run.exits));
    let alerts = alerts.drain();
    assert!(alerts.iter().any(|(_, a)| a["kind"] == "spool_failing"), "{alerts:?}");
}

#[test]
fn a_second_node_on_the_same_state_file_is_one_clear_error() {
    let dir = scratch_dir("fault-state-lock");
    let camera = RtspCamera::start("/walkway");
    let site = site_file(&dir, &camera.url);
    let state = dir.join("shared-state.json");
    let state_arg = ["--state", state.to_str().unwrap()];
    // No broker is needed: both spool.
    let port = free_port();
    let _first = Running(Some(node(&site, &dir, port, 30, &state_arg, &[]).stderr(Stdio::null()).spawn().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state.with_extension("lock").exists() {
        assert!(Instant::now() < deadline, "the first node did not take its state file");
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = common::lintel_run(&site, &dir.join("second"), port, 5).args(state_arg).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second node ran: {stderr}");
    let error: Vec<&str> = stderr.lines().filter(|l| l.contains("in use by another Lintel node")).collect();
    assert_eq!(error.len(), 1, "{stderr}");
    assert!(error[0].contains("shared-state.json"), "names the file: {}", error[0]);
}
