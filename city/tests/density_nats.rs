//! City scale on NATS: a real three-server `nats-server` cluster on loopback (JetStream, stream
//! replicas 3, MQTT listeners), simulated nodes publishing MQTT QoS 1 to its servers' MQTT ports,
//! `lintel-city --nats` workers sharing one durable consumer and writing one real PostgreSQL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lintel_city::density::store;
use lintel_testkit::{NatsCluster, Postgres, free_port, scratch_dir, wait_until, workspace};
use lintel_wire::UtcTime;
use serde_json::json;

const ANALYST: &str = "an-analyst-token-of-the-tests";
const STREAM: &str = "LINTEL_DENSITY";

fn get(address: &str, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(address) else { return String::new() };
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ANALYST}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// A counter of a worker's `/metrics` (0 if it does not answer or has none).
fn metric(web: &str, name: &str) -> u64 {
    get(web, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn applied(web: &str) -> u64 {
    metric(web, "lintel_density_messages_applied_total")
}

struct Worker {
    child: Child,
    web: String,
}

impl Worker {
    /// `lintel-city --nats` on the durable consumer `durable`.
    fn start(dir: &Path, nats: &str, store: &str, durable: &str, replicas: usize) -> Self {
        let web = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
            .args(["--grid"])
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--nats", nats, "--nats-durable", durable, "--nats-replicas", &replicas.to_string()])
            .args(["--nats-ack-wait-s", "5", "--web", &web, "--store", store, "--run-for-s", "300"])
            .args(["--analyst-token-env", "LINTEL_TEST_ANALYST_TOKEN"])
            .env("LINTEL_TEST_ANALYST_TOKEN", ANALYST)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("density: http://"), "{line:?}");
        Self { child, web }
    }

    /// SIGSTOP: alive to the network's eyes, taking nothing further.
    fn freeze(&self) {
        lintel_testkit::signal(&self.child, "STOP");
    }

    /// SIGCONT: takes up where it stopped.
    fn thaw(&self) {
        lintel_testkit::signal(&self.child, "CONT");
    }

    /// SIGKILL: no goodbye, messages it pulled unacknowledged.
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

/// Simulated nodes: one `mosquitto_pub -l` (MQTT 3.1.1, QoS 1) per topic, to the MQTT port given
/// with it; each line one message. Returns once every message was acknowledged.
fn publish(batches: &[(u16, String, Vec<String>)]) {
    let mut children: Vec<Child> = batches
        .iter()
        .map(|(port, topic, lines)| {
            let mut child = Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-l", "-t", topic])
                .stdin(Stdio::piped())
                .spawn()
                .expect("mosquitto_pub is not installed: run scripts/setup (package mosquitto-clients)");
            let mut stdin = child.stdin.take().unwrap();
            for line in lines {
                writeln!(stdin, "{line}").unwrap();
            }
            child
        })
        .collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success(), "mosquitto_pub failed");
    }
}

fn counts(site: &str, building: &str, node: &str, seq: u64, start: i64, entries: u64, occupancy: u64) -> String {
    json!({"schema": "lintel.counts/1", "site": site, "building": building, "node": node, "seq": seq,
           "interval": {"start": UtcTime::from_unix_seconds(start), "end": UtcTime::from_unix_seconds(start + 60)},
           "entries": entries, "exits": 0, "occupancy": occupancy, "entrances": []})
    .to_string()
}

/// Waits until `workers` workers pull from the durable consumer (their pull requests wait at the
/// cluster): what nodes publish before the stream exists is not kept, and a worker that is not
/// pulling yet gets no share.
fn wait_for_consumer(cluster: &NatsCluster, durable: &str, workers: u64) {
    let pulling = wait_until(Duration::from_secs(60), || {
        cluster.consumer(STREAM, durable).is_some_and(|c| c["num_waiting"].as_u64() >= Some(workers))
    });
    assert!(
        pulling,
        "{workers} workers are not pulling from {STREAM}/{durable} after 60 s: {:?}",
        cluster.consumer(STREAM, durable)
    );
}

#[test]
fn two_workers_one_killed_and_a_server_lost_store_what_one_worker_computes() {
    let dir = scratch_dir("density-nats");
    let mut cluster = NatsCluster::start(&dir, 3);
    let pg = Postgres::start(&dir, &["shared", "single"]);
    let grid = lintel_city::density::Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap();
    let nats = cluster.urls();

    // The reference: one worker on a durable consumer of its own (every message), its own database.
    let single = Worker::start(&dir, &nats, &pg.url("single"), "density-single", 3);
    let a = Worker::start(&dir, &nats, &pg.url("shared"), "lintel-density", 3);
    let b = Worker::start(&dir, &nats, &pg.url("shared"), "lintel-density", 3);
    wait_for_consumer(&cluster, "density-single", 1);
    wait_for_consumer(&cluster, "lintel-density", 2);

    // Every building of the grid, 40 one-minute intervals, every fifth message sent twice; the
    // buildings' nodes spread over the three servers' MQTT ports.
    let now = UtcTime::now().unix_seconds();
    let t = now - now % 3600 - 3 * 3600;
    let intervals = 40u64;
    let part = |from: u64, to: u64, ports: &[u16]| -> Vec<(u16, String, Vec<String>)> {
        grid.buildings
            .iter()
            .enumerate()
            .map(|(n, b)| {
                let topic = format!("lintel/v1/{}/building/{}/counts", b.site, b.building);
                let node = format!("edge-{}", b.building);
                let mut lines = Vec::new();
                for i in from..to {
                    let occupancy = (i * 3 + b.building.len() as u64) % 17;
                    let message = counts(&b.site, &b.building, &node, i + 1, t + 60 * i as i64, i % 4, occupancy);
                    if i % 5 == 0 {
                        lines.push(message.clone());
                    }
                    lines.push(message);
                }
                (ports[n % ports.len()], topic, lines)
            })
            .collect()
    };
    let total = grid.buildings.len() as u64 * intervals;
    let all_ports: Vec<u16> = cluster.servers.iter().map(|s| s.mqtt_port).collect();

    publish(&part(0, 20, &all_ports));
    assert!(
        wait_until(Duration::from_secs(60), || applied(&a.web) > 0 && applied(&b.web) > 0),
        "the workers did not share the consumer: a applied {}, b {}",
        applied(&a.web),
        applied(&b.web)
    );
    // Worker a freezes with a pull request open: what the cluster hands it now, it holds. Its
    // request may be between pulls (or expire, 10 s) as it stops; then b takes the part alone, a
    // goes on, and it freezes again for the next part.
    let consumer = || cluster.consumer(STREAM, "lintel-density").unwrap_or_default();
    let mut holding = false;
    for from in (20..30).step_by(2) {
        wait_for_consumer(&cluster, "lintel-density", 2);
        a.freeze();
        publish(&part(from, from + 2, &all_ports));
        // Held past the server's ack wait (5 s), they go to b: look before that. (If a froze
        // mid-transaction, b also waits on its row locks until PostgreSQL ends that transaction,
        // `store::postgres`'s session limits, 15 s; a holds that batch then.)
        // B's own batch is unacknowledged for a moment too: a holds what stays so for 1.5 s.
        let mut since: Option<Instant> = None;
        holding = wait_until(Duration::from_secs(4), || {
            let c = consumer();
            let unacknowledged = c["num_pending"] == 0 && c["num_ack_pending"].as_u64() > Some(0);
            since = if unacknowledged { since.or(Some(Instant::now())) } else { None };
            since.is_some_and(|t| t.elapsed() >= Duration::from_millis(1500))
        });
        if holding {
            publish(&part(from + 2, 30, &all_ports));
            break;
        }
        a.thaw();
    }
    let held = consumer()["num_ack_pending"].as_u64().unwrap_or(0);
    assert!(holding, "the frozen worker holds nothing: {:?}", consumer());
    // It dies holding them, and a server of the cluster is lost.
    a.kill();
    cluster.kill(1);
    // The nodes publish the rest to the servers still up, once the streams have new leaders
    // (publishing during the loss is the node's test, `pipeline/tests/publish_failover.rs`; see
    // the README's "Seen, not solved" for what was lost without this wait).
    assert!(cluster.wait_for_leaders(), "the streams have no leader among the servers still up");
    publish(&part(30, intervals, &[all_ports[0], all_ports[2]]));

    let mut shared_store = store::open(&pg.url("shared")).unwrap();
    let mut single_store = store::open(&pg.url("single")).unwrap();
    let done = wait_until(Duration::from_secs(90), || {
        shared_store.dump().unwrap().messages.len() as u64 == total
            && single_store.dump().unwrap().messages.len() as u64 == total
    });
    let (shared, reference) = (shared_store.dump().unwrap(), single_store.dump().unwrap());
    assert!(
        done,
        "shared store has {} of {total} messages, the single one {}; the stream: {:?}; consumers: {:?}, {:?}",
        shared.messages.len(),
        reference.messages.len(),
        cluster.stream(STREAM),
        cluster.consumer(STREAM, "lintel-density"),
        cluster.consumer(STREAM, "density-single"),
    );
    assert_eq!(shared, reference);
    assert_eq!(shared.intervals.len() as u64, total);
    assert_eq!(shared.latest.len(), grid.buildings.len());
    // Nothing stays held: every message was acknowledged once stored (the killed worker's ones
    // after they came back to b).
    let settled = wait_until(Duration::from_secs(20), || {
        cluster.consumer(STREAM, "lintel-density").is_some_and(|c| c["num_ack_pending"] == 0 && c["num_pending"] == 0)
    });
    assert!(settled, "consumer not drained: {:?}", cluster.consumer(STREAM, "lintel-density"));
    // B did not do it all alone, and what the killed worker held came back to it.
    let b_applied = applied(&b.web);
    assert!(b_applied < total, "worker b applied {b_applied} of {total}");
    let redelivered = metric(&b.web, "lintel_density_nats_redelivered_total");
    // (`held` counts b's own unacknowledged messages of that moment too.)
    assert!(redelivered > 0, "worker a died holding some of {held} messages, b got none of them again");
    // The server comes back and catches up; the workers go on.
    cluster.restart(1);
    let late = counts("pets", "hall", "edge-hall", intervals + 1, t + 60 * intervals as i64, 1, 5);
    publish(&[(all_ports[1], "lintel/v1/pets/building/hall/counts".into(), vec![late])]);
    let caught_up = wait_until(Duration::from_secs(30), || {
        shared_store.dump().unwrap().messages.len() as u64 == total + 1
            && single_store.dump().unwrap().messages.len() as u64 == total + 1
    });
    assert!(caught_up, "a message through the restarted server was not stored by both");
    drop((b, single));
}

/// Hostile input on the stream: an oversized payload, one that is not JSON, one of an unknown
/// schema, absurd counts, another site's payload on this site's subject. Each is counted as the
/// MQTT path counts it and acknowledged away (never redelivered); the good message after them
/// is stored.
#[test]
fn poison_on_the_stream_is_counted_and_acknowledged_away() {
    let dir = scratch_dir("density-nats-poison");
    let cluster = NatsCluster::start(&dir, 1);
    let pg = Postgres::start(&dir, &["poison"]);
    let worker = Worker::start(&dir, &cluster.urls(), &pg.url("poison"), "lintel-density", 1);
    wait_for_consumer(&cluster, "lintel-density", 1);
    let t = UtcTime::now().unix_seconds() - 7200;
    let t = t - t.rem_euclid(3600);
    let port = cluster.servers[0].mqtt_port;
    let hall = "lintel/v1/pets/building/hall/counts".to_string();
    let oversized = format!("{{\"schema\":\"lintel.counts/1\",\"pad\":\"{}\"}}", "x".repeat(100_000));
    let poison = vec![
        oversized,
        "not json at all".to_string(),
        json!({"schema": "lintel.counts/9"}).to_string(),
        counts("pets", "hall", "edge-01", 1, t, 0, 1_000_000_000_000),
        counts("lishui-c", "market", "edge-01", 2, t + 60, 0, 7),
    ];
    publish(&[(port, hall.clone(), poison)]);
    publish(&[(port, hall, vec![counts("pets", "hall", "edge-01", 3, t + 120, 3, 3)])]);
    let mut store = store::open(&pg.url("poison")).unwrap();
    let stored = wait_until(Duration::from_secs(30), || store.dump().unwrap().messages.len() == 1);
    assert!(stored, "the good message never got past the poison: {:?}", store.dump().unwrap());
    assert_eq!(store.latest().unwrap()[0].occupancy, 3);
    let metrics = get(&worker.web, "/metrics");
    for kind in ["too_large", "malformed", "unknown_schema", "implausible", "topic_mismatch"] {
        let line = format!("lintel_density_bad_input_total{{kind=\"{kind}\"}} 1\n");
        assert!(metrics.contains(&line), "{line}{metrics}");
    }
    // Acknowledged, not left to come back: nothing pending, nothing redelivered.
    let settled = wait_until(Duration::from_secs(20), || {
        cluster.consumer(STREAM, "lintel-density").is_some_and(|c| c["num_ack_pending"] == 0 && c["num_pending"] == 0)
    });
    let consumer = cluster.consumer(STREAM, "lintel-density");
    assert!(settled, "poison still held: {consumer:?}");
    assert_eq!(consumer.unwrap()["num_redelivered"], 0);
}

/// The database lost and back: while PostgreSQL is down the worker takes nothing, acknowledges
/// nothing and keeps retrying; the messages wait in the stream; once it is back every one is
/// stored once and acknowledged.
#[test]
fn the_database_lost_and_back_loses_nothing() {
    let dir = scratch_dir("density-nats-pg-down");
    let cluster = NatsCluster::start(&dir, 1);
    let pg = Postgres::start(&dir, &["density"]);
    let worker = Worker::start(&dir, &cluster.urls(), &pg.url("density"), "lintel-density", 1);
    wait_for_consumer(&cluster, "lintel-density", 1);
    let grid = lintel_city::density::Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap();
    let t = UtcTime::now().unix_seconds() - 7200;
    let t = t - t.rem_euclid(3600);
    let port = cluster.servers[0].mqtt_port;
    let part = |from: u64, to: u64| -> Vec<(u16, String, Vec<String>)> {
        grid.buildings
            .iter()
            .map(|b| {
                let node = format!("edge-{}", b.building);
                let lines =
                    (from..to).map(|i| counts(&b.site, &b.building, &node, i + 1, t + 60 * i as i64, 1, i)).collect();
                (port, format!("lintel/v1/{}/building/{}/counts", b.site, b.building), lines)
            })
            .collect()
    };
    let buildings = grid.buildings.len() as u64;
    publish(&part(0, 5));
    let mut store = store::open(&pg.url("density")).unwrap();
    assert!(wait_until(Duration::from_secs(30), || store.dump().unwrap().messages.len() as u64 == 5 * buildings));
    drop(store);

    pg.crash();
    publish(&part(5, 15));
    // Longer than the consumer's acknowledgement wait (5 s): nothing may be acknowledged away.
    std::thread::sleep(Duration::from_secs(8));
    let consumer = cluster.consumer(STREAM, "lintel-density").unwrap();
    assert_eq!(consumer["ack_floor"]["stream_seq"], 5 * buildings, "acknowledged with the database down: {consumer:?}");
    assert!(metric(&worker.web, "lintel_density_store_errors_total") > 0, "the worker did not notice");

    pg.restart();
    let mut store = store::open(&pg.url("density")).unwrap();
    let all = wait_until(Duration::from_secs(90), || store.dump().unwrap().messages.len() as u64 == 15 * buildings);
    assert!(all, "{} of {} stored after the database came back", store.dump().unwrap().messages.len(), 15 * buildings);
    let dump = store.dump().unwrap();
    assert_eq!(dump.intervals.len() as u64, 15 * buildings, "an interval missing or twice");
    let settled = wait_until(Duration::from_secs(20), || {
        cluster.consumer(STREAM, "lintel-density").is_some_and(|c| c["num_ack_pending"] == 0 && c["num_pending"] == 0)
    });
    assert!(settled, "{:?}", cluster.consumer(STREAM, "lintel-density"));
}

/// Sizing, not a check (`cargo test -p lintel-city --test density_nats -- --ignored --nocapture`):
/// 6,000 counts messages waiting in the stream (12 buildings, 500 intervals each), drained by one
/// worker and then by two workers sharing a durable consumer, into PostgreSQL, and by one worker
/// into SQLite; each on its own durable consumer and database, one after the other in one run.
#[test]
#[ignore]
fn drain_rates_of_one_and_two_workers() {
    let dir = scratch_dir("density-nats-drain");
    let cluster = NatsCluster::start(&dir, 3);
    let pg = Postgres::start(&dir, &["one", "two"]);
    let grid = lintel_city::density::Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap();
    let nats = cluster.urls();
    let runs: [(&str, String, usize); 3] = [
        ("PostgreSQL, 1 worker", pg.url("one"), 1),
        ("PostgreSQL, 2 workers", pg.url("two"), 2),
        ("SQLite, 1 worker", format!("sqlite:{}", dir.join("one.db").display()), 1),
    ];
    // The durable consumers exist before the messages do (then each sees them all).
    for (i, (_, store, _)) in runs.iter().enumerate() {
        let durable = format!("drain-{i}");
        let worker = Worker::start(&dir, &nats, store, &durable, 3);
        wait_for_consumer(&cluster, &durable, 1);
        worker.kill();
    }
    let per_building = 500u64;
    let t = UtcTime::now().unix_seconds() - 86_400;
    let t = t - t.rem_euclid(3600);
    let ports: Vec<u16> = cluster.servers.iter().map(|s| s.mqtt_port).collect();
    let batches: Vec<(u16, String, Vec<String>)> = grid
        .buildings
        .iter()
        .enumerate()
        .map(|(n, b)| {
            let lines = (0..per_building)
                .map(|i| {
                    counts(&b.site, &b.building, &format!("edge-{}", b.building), i + 1, t + 60 * i as i64, 1, i % 50)
                })
                .collect();
            (ports[n % ports.len()], format!("lintel/v1/{}/building/{}/counts", b.site, b.building), lines)
        })
        .collect();
    let total = per_building * grid.buildings.len() as u64;
    let started = std::time::Instant::now();
    publish(&batches);
    let in_stream = wait_until(Duration::from_secs(120), || {
        cluster.stream(STREAM).is_some_and(|s| s["state"]["messages"].as_u64() == Some(total))
    });
    assert!(in_stream, "the stream holds {:?}", cluster.stream(STREAM).map(|s| s["state"].clone()));
    eprintln!("{total} messages published through MQTT into the stream in {:.1} s", started.elapsed().as_secs_f64());
    for (i, (what, store, workers)) in runs.iter().enumerate() {
        let durable = format!("drain-{i}");
        let started = std::time::Instant::now();
        let pool: Vec<Worker> = (0..*workers).map(|_| Worker::start(&dir, &nats, store, &durable, 3)).collect();
        let done = wait_until(Duration::from_secs(600), || pool.iter().map(|w| applied(&w.web)).sum::<u64>() >= total);
        let seconds = started.elapsed().as_secs_f64();
        assert!(done, "{what}: not drained");
        eprintln!(
            "{what}: {total} messages in {seconds:.1} s: {:.0} messages/s (worker start included)",
            total as f64 / seconds
        );
    }
}
