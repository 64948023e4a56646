//! Many consumers, one engine: two `lintel-city` workers in one MQTT 5 share group against a
//! real mosquitto and one real PostgreSQL; simulated nodes publish (duplicates included), one
//! worker is killed midway and comes back (as a supervisor restarts it); the shared store ends
//! equal to what a single consumer computes from the same messages.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lintel_city::density::store;
use lintel_testkit::Postgres;
use lintel_testkit::{Broker, free_port, scratch_dir, wait_until, workspace};
use lintel_wire::UtcTime;
use serde_json::json;

const ANALYST: &str = "an-analyst-token-of-the-tests";

fn get(address: &str, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(address) else { return String::new() };
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // As an analyst: these tests read the exact history.
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ANALYST}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// `lintel_density_messages_applied_total` of a worker (0 if it does not answer).
fn applied(web: &str) -> u64 {
    get(web, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix("lintel_density_messages_applied_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

struct Worker {
    child: Child,
    web: String,
}

impl Worker {
    fn start(dir: &Path, mqtt: u16, store: &str, id: &str, group: Option<&str>) -> Self {
        let web = format!("127.0.0.1:{}", free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_lintel-city"));
        command
            .args(["--grid"])
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--mqtt", &format!("127.0.0.1:{mqtt}"), "--web", &web, "--store", store])
            .args(["--consumer-id", id, "--no-cell-topics", "--run-for-s", "300"])
            .args(["--analyst-token-env", "LINTEL_TEST_ANALYST_TOKEN"])
            .env("LINTEL_TEST_ANALYST_TOKEN", ANALYST)
            .current_dir(dir)
            .stdout(Stdio::piped());
        if let Some(group) = group {
            command.args(["--share-group", group]);
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("density: http://"), "{line:?}");
        Self { child, web }
    }

    /// SIGKILL: no goodbye, no DISCONNECT, messages in flight unacknowledged.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Simulated nodes: one `mosquitto_pub -l` per building (QoS 1), each line one counts message.
fn publish(port: u16, batches: &[(String, Vec<String>)]) {
    let mut children: Vec<Child> = batches
        .iter()
        .map(|(topic, lines)| {
            let mut child = Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-l", "-t", topic])
                .stdin(Stdio::piped())
                .spawn()
                .expect("mosquitto_pub is not installed: run scripts/setup");
            let mut stdin = child.stdin.take().unwrap();
            for line in lines {
                writeln!(stdin, "{line}").unwrap();
            }
            child
        })
        .collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn two_workers_sharing_the_load_with_one_killed_midway_store_what_one_worker_computes() {
    let dir = scratch_dir("density-postgres");
    let broker = Broker::start(&dir);
    let pg = Postgres::start(&dir, &["shared", "single"]);
    let grid = lintel_city::density::Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap();

    // The reference: one worker, every message, its own database.
    let single = Worker::start(&dir, broker.port, &pg.url("single"), "density-single", None);
    let a = Worker::start(&dir, broker.port, &pg.url("shared"), "density-a", Some("density"));
    let b = Worker::start(&dir, broker.port, &pg.url("shared"), "density-b", Some("density"));
    std::thread::sleep(Duration::from_secs(1)); // their subscriptions in place

    // Every building of the grid, 30 one-minute intervals, every fifth message sent twice.
    let now = UtcTime::now().unix_seconds();
    let t = now - now % 3600 - 3 * 3600;
    let intervals = 30;
    let halves: Vec<Vec<(String, Vec<String>)>> = (0..2)
        .map(|half| {
            grid.buildings
                .iter()
                .map(|b| {
                    let topic = format!("lintel/v1/{}/building/{}/counts", b.site, b.building);
                    let mut lines = Vec::new();
                    for i in (half * intervals / 2)..((half + 1) * intervals / 2) {
                        let occupancy = (i * 3 + b.building.len() as i64) % 17;
                        let message = json!({
                            "schema": "lintel.counts/1", "site": b.site, "building": b.building,
                            "node": format!("edge-{}", b.building), "seq": i + 1,
                            "interval": {"start": UtcTime::from_unix_seconds(t + 60 * i), "end": UtcTime::from_unix_seconds(t + 60 * i + 60)},
                            "entries": i % 4, "exits": (i + 1) % 3, "occupancy": occupancy, "entrances": [],
                        })
                        .to_string();
                        if i % 5 == 0 {
                            lines.push(message.clone());
                        }
                        lines.push(message);
                    }
                    (topic, lines)
                })
                .collect()
        })
        .collect();
    let total = (grid.buildings.len() * intervals as usize) as u64;

    publish(broker.port, &halves[0]);
    // Both workers take part before one dies.
    assert!(
        wait_until(Duration::from_secs(30), || applied(&a.web) > 0 && applied(&b.web) > 0),
        "the share group did not split the load"
    );
    a.kill();
    publish(broker.port, &halves[1]);
    std::thread::sleep(Duration::from_secs(2));
    // The supervisor brings it back under the same id: its session (and what the broker kept
    // for it, the unacknowledged message included) resumes.
    let a = Worker::start(&dir, broker.port, &pg.url("shared"), "density-a", Some("density"));

    let mut shared_store = store::open(&pg.url("shared")).unwrap();
    let mut single_store = store::open(&pg.url("single")).unwrap();
    let done = wait_until(Duration::from_secs(60), || {
        let s = shared_store.dump().unwrap().messages.len() as u64;
        let r = single_store.dump().unwrap().messages.len() as u64;
        s == total && r == total
    });
    let (shared, reference) = (shared_store.dump().unwrap(), single_store.dump().unwrap());
    assert!(
        done,
        "shared store has {} of {total} messages, the single one {}",
        shared.messages.len(),
        reference.messages.len()
    );
    assert_eq!(shared, reference);
    assert_eq!(shared.intervals.len() as u64, total);
    assert_eq!(shared.latest.len(), grid.buildings.len());
    // The reads work on PostgreSQL too: history at every step, the map as of a past time.
    let interval_sum: u64 =
        shared.intervals.iter().filter(|r| r[0] == "pets/hall").map(|r| r[5].parse::<u64>().unwrap()).sum();
    for step in ["interval", "hour", "day"] {
        let body = get(&b.web, &format!("/density/history?building=pets/hall&from={}&step={step}", t - 86_400));
        let (_, json) = body.split_once("\r\n\r\n").unwrap();
        let history: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {body}"));
        let entries: u64 = history["points"].as_array().unwrap().iter().map(|p| p["entries"].as_u64().unwrap()).sum();
        assert_eq!(entries, interval_sum, "{step}: {json}");
    }
    let body = get(&b.web, &format!("/density.geojson?at={}", UtcTime::from_unix_seconds(t + 600)));
    assert!(body.contains("\"occupancy\":"), "{body}");
    // B did not do it all alone.
    assert!(applied(&b.web) < total, "worker b applied {}", applied(&b.web));
    drop((a, b, single));
}

/// Poison on the shared store: each message that once wedged a PostgreSQL worker (a NUL in the
/// node id, two intervals of one hour with i64::MAX entries), absurd counts and another site's
/// payload on this site's topic. The worker refuses each, acknowledges it, and goes on: the good
/// message after them is stored and every export answers.
#[test]
fn a_worker_on_postgresql_refuses_poison_and_goes_on() {
    let dir = scratch_dir("density-postgres-poison");
    let broker = Broker::start(&dir);
    let pg = Postgres::start(&dir, &["poison"]);
    let worker = Worker::start(&dir, broker.port, &pg.url("poison"), "density-poison", None);
    std::thread::sleep(Duration::from_secs(1));
    let t = UtcTime::now().unix_seconds() - 7200;
    let t = t - t.rem_euclid(3600);
    let counts = |node: &str, seq: u64, start: i64, entries: u64, occupancy: u64| {
        json!({"schema": "lintel.counts/1", "site": "pets", "building": "hall", "node": node, "seq": seq,
               "interval": {"start": UtcTime::from_unix_seconds(start), "end": UtcTime::from_unix_seconds(start + 60)},
               "entries": entries, "exits": 0, "occupancy": occupancy, "entrances": []})
        .to_string()
    };
    let hall = "lintel/v1/pets/building/hall/counts".to_string();
    let market = "lintel/v1/lishui-c/building/market/counts".to_string();
    let poison = vec![
        counts("edge\u{0}01", 1, t, 1, 1),
        counts("edge-01", 2, t + 60, i64::MAX as u64, 4),
        counts("edge-01", 3, t + 120, i64::MAX as u64, 4),
        counts("edge-01", 4, t + 180, 0, 1_000_000_000_000),
    ];
    publish(broker.port, &[(hall.clone(), poison), (market, vec![counts("edge-01", 5, t + 240, 0, 777)])]);
    publish(broker.port, &[(hall, vec![counts("edge-01", 6, t + 300, 3, 3)])]);
    let mut store = store::open(&pg.url("poison")).unwrap();
    let stored = wait_until(Duration::from_secs(30), || store.dump().unwrap().messages.len() == 1);
    assert!(stored, "the good message never got past the poison: {:?}", store.dump().unwrap());
    let latest = store.latest().unwrap();
    assert_eq!((latest[0].building.as_str(), latest[0].occupancy), ("pets/hall", 3));
    let metrics = get(&worker.web, "/metrics");
    for (kind, n) in [("bad_id", 1), ("implausible", 3), ("topic_mismatch", 1)] {
        let line = format!("lintel_density_bad_input_total{{kind=\"{kind}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line}{metrics}");
    }
    for path in [
        format!("/density/history?building=pets/hall&from={}&step=hour", t - 3600),
        format!("/ngsi-ld/entities?from={}", UtcTime::from_unix_seconds(t - 3600)),
        "/density.geojson".to_string(),
    ] {
        let answer = get(&worker.web, &path);
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
}

/// A PostgreSQL store a newer Lintel wrote is refused, for writing and for reading, and its
/// format row left as it was.
#[test]
fn a_store_of_a_newer_format_on_postgresql_is_refused() {
    let dir = scratch_dir("density-postgres-format");
    let pg = Postgres::start(&dir, &["newer"]);
    let url = pg.url("newer");
    drop(store::open(&url).unwrap());
    let mut sql = store::connect(&url).unwrap();
    sql.batch("UPDATE lintel_format SET version = 5 WHERE part = 'density'").unwrap();
    for error in [store::open(&url).err(), store::open_reader(&url).err()] {
        let line = error.expect("a newer store must be refused").to_string();
        assert!(line.contains("density tables are format 5") && line.contains("format 1 at most"), "{line}");
    }
    let rows = sql.query("SELECT version FROM lintel_format WHERE part = 'density'", &[]).unwrap();
    assert_eq!(rows, vec![vec![store::SqlValue::Int(5)]]);
}
