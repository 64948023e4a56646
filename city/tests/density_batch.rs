//! Batched ingest against real stores (an SQLite file, a real PostgreSQL): a batch ends exactly
//! as its messages one at a time would (the store and every message's outcome, notes included),
//! with duplicates of `(node, seq)` inside a batch and across batches; bad input in the middle of
//! a batch is refused alone; data the store refuses in the middle of a batch is refused alone
//! and its batch-mates are stored.

use std::path::Path;
use std::sync::Arc;

use lintel_city::density::store::{self, SqlValue};
use lintel_city::density::{BadInput, Grid, Ingest, IngestMetrics, Outcome};
use lintel_testkit::{Postgres, scratch_dir, workspace};
use lintel_wire::UtcTime;
use serde_json::{Value, json};

fn base() -> i64 {
    let now = UtcTime::now().unix_seconds();
    now - now % 3600 - 3 * 3600
}

fn counts(site: &str, building: &str, node: &str, seq: u64, start: i64, c: (u64, u64, u64)) -> Value {
    json!({
        "schema": "lintel.counts/1", "site": site, "building": building, "node": node, "seq": seq,
        "interval": {"start": UtcTime::from_unix_seconds(start), "end": UtcTime::from_unix_seconds(start + 60)},
        "entries": c.0, "exits": c.1, "occupancy": c.2, "entrances": [],
    })
}

fn occupancy(site: &str, building: &str, node: &str, seq: u64, at: i64, occupancy: u64) -> Value {
    json!({"schema": "lintel.occupancy/1", "site": site, "building": building, "node": node, "seq": seq,
           "at": UtcTime::from_unix_seconds(at), "occupancy": occupancy})
}

/// `(topic, payload)` of a message, on the topic it belongs on.
fn framed(message: &Value) -> (String, Vec<u8>) {
    let kind = if message["schema"] == "lintel.occupancy/1" { "occupancy" } else { "counts" };
    let topic = format!(
        "lintel/v1/{}/building/{}/{kind}",
        message["site"].as_str().unwrap_or("x"),
        message["building"].as_str().unwrap_or("x")
    );
    (topic, serde_json::to_vec(message).unwrap())
}

/// Three buildings' 90 minutes, with occupancy messages between them, a node that restarts
/// with its seq going back (seq_backwards), occupancy resets, and a second copy of an interval
/// under a higher seq (the interval replaced, the roll-up moved).
fn messages(t: i64) -> Vec<Value> {
    let mut messages = Vec::new();
    for (site, building, node) in
        [("pets", "hall", "edge-01"), ("lishui-c", "market", "edge-c"), ("lishui-w", "block-1", "edge-w")]
    {
        let mut occupancy_now = 0u64;
        for i in 0..90u64 {
            let entries = (i * 7 + building.len() as u64) % 5;
            let exits = if occupancy_now > 0 { (i * 3) % 4 } else { 0 }.min(occupancy_now + entries);
            occupancy_now = occupancy_now + entries - exits;
            // Every 17th a reset: the node says something else than the counts.
            let said = if i % 17 == 16 { occupancy_now + 3 } else { occupancy_now };
            occupancy_now = said;
            messages.push(counts(site, building, node, 2 * i + 1, t + 60 * i as i64, (entries, exits, said)));
            if i % 10 == 5 {
                messages.push(occupancy(site, building, node, 2 * i + 2, t + 60 * i as i64 + 30, said));
            }
        }
        // The same interval again, from a later seq, with other counts.
        messages.push(counts(site, building, node, 1000, t + 600, (4, 0, 9)));
        // A late message with a lower seq than the node's highest.
        messages.push(counts(site, building, node, 500, t + 60 * 95, (1, 0, 2)));
    }
    messages
}

fn grid() -> Arc<Grid> {
    Arc::new(Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap())
}

fn ingest(url: &str) -> (Ingest, Arc<IngestMetrics>) {
    let metrics = Arc::new(IngestMetrics::default());
    (Ingest::new(grid(), store::open(url).unwrap(), Arc::clone(&metrics)), metrics)
}

/// Every bad-input counter, for comparing two runs.
fn counters(metrics: &IngestMetrics) -> Vec<(BadInput, u64)> {
    BadInput::ALL.iter().map(|&kind| (kind, metrics.bad(kind))).collect()
}

/// The same messages (`sequence`) one at a time into `one_url` and in batches of `sizes` (in
/// turn) into `batch_url`: the same outcomes, counters and store.
fn same_as_one_at_a_time(one_url: &str, batch_url: &str, sequence: &[Value], sizes: &[usize]) {
    let now = UtcTime::now();
    let framed: Vec<(String, Vec<u8>)> = sequence.iter().map(framed).collect();
    let (mut one, one_metrics) = ingest(one_url);
    let singles: Vec<Outcome> = framed.iter().map(|(t, p)| one.take(t, p, now).unwrap()).collect();
    let (mut batched, batch_metrics) = ingest(batch_url);
    let mut outcomes = Vec::new();
    let mut rest: &[(String, Vec<u8>)] = &framed;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, after) = rest.split_at(size.min(rest.len()));
        let batch: Vec<(&str, &[u8])> = batch.iter().map(|(t, p)| (t.as_str(), p.as_slice())).collect();
        outcomes.extend(batched.take_batch(&batch, now).unwrap());
        rest = after;
    }
    assert_eq!(outcomes, singles);
    assert_eq!(counters(&batch_metrics), counters(&one_metrics));
    assert_eq!(batch_metrics.applied.get(), one_metrics.applied.get());
    assert_eq!(batched.store.dump().unwrap(), one.store.dump().unwrap());
}

/// The messages in order and shuffled, with copies (some in the same batch as their original,
/// some in a later batch), in batches of several sizes.
fn batches_equal_one_at_a_time(urls: impl Fn(&str) -> String) {
    let all = messages(base() - 2 * 3600);
    // The notes say something: the fixture has each kind the batch must reproduce.
    let mut scrambled: Vec<Value> = all
        .iter()
        .cloned()
        .chain(all.iter().step_by(7).cloned())
        .chain(all.iter().skip(3).step_by(50).cloned())
        .collect();
    fastrand::Rng::with_seed(11).shuffle(&mut scrambled);
    // Copies within one batch: each message twice in a row.
    let doubled: Vec<Value> = all.iter().take(60).flat_map(|m| [m.clone(), m.clone()]).collect();
    for (name, sequence) in [("ordered", &all), ("scrambled", &scrambled), ("doubled", &doubled)] {
        same_as_one_at_a_time(&urls(&format!("{name}-one")), &urls(&format!("{name}-batch")), sequence, &[500]);
        same_as_one_at_a_time(
            &urls(&format!("{name}-one-b")),
            &urls(&format!("{name}-small")),
            sequence,
            &[1, 7, 64, 3],
        );
    }
}

fn sqlite_urls(dir: &Path) -> impl Fn(&str) -> String + '_ {
    move |name| format!("sqlite:{}", dir.join(format!("{name}.db")).display())
}

#[test]
fn on_sqlite_batches_end_exactly_as_one_message_at_a_time() {
    let dir = scratch_dir("density-batch-sqlite");
    batches_equal_one_at_a_time(sqlite_urls(&dir));
    // The fixture exercises what it claims to.
    let (mut check, metrics) = ingest(&sqlite_urls(&dir)("fixture-check"));
    let framed: Vec<_> = messages(base() - 2 * 3600).iter().map(framed).collect();
    for (t, p) in &framed {
        check.take(t, p, UtcTime::now()).unwrap();
    }
    for kind in [BadInput::SeqBackwards, BadInput::OccupancyReset] {
        assert!(metrics.bad(kind) > 0, "{kind:?}");
    }
}

const DATABASES: [&str; 12] = [
    "ordered_one",
    "ordered_batch",
    "ordered_one_b",
    "ordered_small",
    "scrambled_one",
    "scrambled_batch",
    "scrambled_one_b",
    "scrambled_small",
    "doubled_one",
    "doubled_batch",
    "doubled_one_b",
    "doubled_small",
];

#[test]
fn on_postgresql_batches_end_exactly_as_one_message_at_a_time() {
    let dir = scratch_dir("density-batch-postgres");
    let pg = Postgres::start(&dir, &DATABASES);
    batches_equal_one_at_a_time(|name| pg.url(&name.replace('-', "_")));
}

/// Bad input of every kind the ingest refuses, in the middle of a batch: each counted, none
/// stored, every good message around it stored.
#[test]
fn bad_input_in_the_middle_of_a_batch_is_refused_alone() {
    let dir = scratch_dir("density-batch-poison");
    let (mut ingest, metrics) = ingest(&sqlite_urls(&dir)("poison"));
    let t = base();
    let good: Vec<(String, Vec<u8>)> =
        (0..6).map(|i| framed(&counts("pets", "hall", "edge-01", i + 1, t + 60 * i as i64, (1, 0, i + 1)))).collect();
    let hall = "lintel/v1/pets/building/hall/counts";
    let poison: Vec<(&str, Vec<u8>)> = vec![
        (hall, b"{not json".to_vec()),
        (hall, serde_json::to_vec(&counts("pets", "hall", "edge\u{0}01", 50, t, (1, 0, 1))).unwrap()),
        (
            "lintel/v1/nowhere/building/none/counts",
            serde_json::to_vec(&counts("nowhere", "none", "n", 1, t, (1, 0, 1))).unwrap(),
        ),
        (hall, serde_json::to_vec(&counts("pets", "hall", "edge-01", 51, t + 600, (0, 0, 1_000_000))).unwrap()),
    ];
    let mut batch: Vec<(&str, &[u8])> = good[..3].iter().map(|(t, p)| (t.as_str(), p.as_slice())).collect();
    batch.extend(poison.iter().map(|(t, p)| (*t, p.as_slice())));
    batch.extend(good[3..].iter().map(|(t, p)| (t.as_str(), p.as_slice())));
    let outcomes = ingest.take_batch(&batch, UtcTime::now()).unwrap();
    let kinds: Vec<Option<BadInput>> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Dropped(kind) => Some(*kind),
            Outcome::Applied { .. } => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            None,
            None,
            Some(BadInput::Malformed),
            Some(BadInput::BadId),
            Some(BadInput::UnknownBuilding),
            Some(BadInput::Implausible),
            None,
            None,
            None
        ]
    );
    let dump = ingest.store.dump().unwrap();
    assert_eq!(dump.messages.iter().map(|m| m.1).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(metrics.applied.get(), 6);
    assert_eq!(ingest.store.latest().unwrap()[0].occupancy, 6);
}

/// Data PostgreSQL refuses (a roll-up sum past BIGINT: an hour another writer left at the edge)
/// in the middle of a batch: the batch is written one message at a time, that message alone is
/// refused (counted, never retried), its batch-mates are stored.
#[test]
fn data_postgresql_refuses_in_the_middle_of_a_batch_is_refused_alone() {
    let dir = scratch_dir("density-batch-refused");
    let pg = Postgres::start(&dir, &["refused"]);
    let url = pg.url("refused");
    let (mut ingest, metrics) = ingest(&url);
    let t = base();
    // An hour of `lishui-c/market` at the edge of BIGINT.
    let mut sql = store::connect(&url).unwrap();
    sql.execute(
        "INSERT INTO hourly (building, hour_s, entries, exits, occupancy_sum, occupancy_max, samples)
         VALUES ($1, $2, $3, 0, 0, 0, 1)",
        &["lishui-c/market".into(), t.into(), SqlValue::Int(i64::MAX - 1)],
    )
    .unwrap();
    let messages: Vec<(String, Vec<u8>)> = vec![
        framed(&counts("pets", "hall", "edge-01", 1, t, (1, 0, 1))),
        framed(&counts("pets", "hall", "edge-01", 2, t + 60, (1, 0, 2))),
        framed(&counts("lishui-c", "market", "edge-c", 1, t, (5, 0, 5))),
        framed(&counts("pets", "hall", "edge-01", 3, t + 120, (1, 0, 3))),
        framed(&counts("lishui-c", "market", "edge-c", 2, t + 3600, (2, 0, 7))),
    ];
    let batch: Vec<(&str, &[u8])> = messages.iter().map(|(t, p)| (t.as_str(), p.as_slice())).collect();
    let outcomes = ingest.take_batch(&batch, UtcTime::now()).unwrap();
    assert_eq!(outcomes[2], Outcome::Dropped(BadInput::StoreRefused), "{outcomes:?}");
    assert!(outcomes.iter().enumerate().all(|(i, o)| i == 2 || matches!(o, Outcome::Applied { .. })), "{outcomes:?}");
    assert_eq!(metrics.bad(BadInput::StoreRefused), 1);
    assert_eq!(metrics.applied.get(), 4);
    let dump = ingest.store.dump().unwrap();
    assert_eq!(
        dump.messages.iter().map(|m| (m.0.as_str(), m.1)).collect::<Vec<_>>(),
        [("edge-01", 1), ("edge-01", 2), ("edge-01", 3), ("edge-c", 2)]
    );
    // Sent again (a redelivery), the refused one is refused again and the others are duplicates.
    let again = ingest.take_batch(&batch, UtcTime::now()).unwrap();
    assert_eq!(again[2], Outcome::Dropped(BadInput::StoreRefused));
    assert!(again.iter().enumerate().all(|(i, o)| i == 2 || *o == Outcome::Dropped(BadInput::Duplicate)), "{again:?}");
    assert_eq!(ingest.store.dump().unwrap(), dump);
}

/// `lintel_density_messages_applied_total` of a worker (0 if it does not answer).
fn applied(web: &str) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(web) else { return 0 };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let _ = write!(stream, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .lines()
        .find_map(|l| l.strip_prefix("lintel_density_messages_applied_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A `lintel-city` worker (batches of 500, the default) on mosquitto and PostgreSQL.
struct Worker {
    child: std::process::Child,
    web: String,
}

impl Worker {
    fn start(dir: &Path, mqtt: u16, store: &str, id: &str) -> Self {
        use std::io::BufRead;
        let web = format!("127.0.0.1:{}", lintel_testkit::free_port());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lintel-city"))
            .arg("--grid")
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--mqtt", &format!("127.0.0.1:{mqtt}"), "--web", &web, "--store", store])
            .args(["--consumer-id", id, "--no-cell-topics", "--run-for-s", "300"])
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("density: http://"), "{line:?}");
        Self { child, web }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A backlog waiting in the broker (every building of the grid, 400 intervals, every fifth
/// message twice), drained in batches by a worker SIGKILLed as soon as its first batches are in
/// (the rest in flight, unacknowledged, or mid-transaction) and brought back under its id: the
/// store ends equal to a clean run's of the same messages.
#[test]
fn a_worker_killed_while_draining_batches_stores_what_a_clean_run_stores() {
    let dir = scratch_dir("density-batch-killed");
    let broker = lintel_testkit::Broker::start_with(
        &dir,
        lintel_testkit::free_port(),
        "allow_anonymous true\nmax_queued_messages 100000\n",
    );
    let pg = Postgres::start(&dir, &["killed", "clean"]);
    // Their sessions, then away: the broker queues the backlog for both.
    for (id, db) in [("density-killed", "killed"), ("density-clean", "clean")] {
        let worker = Worker::start(&dir, broker.port, &pg.url(db), id);
        std::thread::sleep(std::time::Duration::from_secs(1)); // subscribed
        drop(worker);
    }
    let grid = grid();
    let t = base() - 12 * 3600;
    let intervals = 400i64;
    let mut children = Vec::new();
    for b in &grid.buildings {
        use std::io::Write;
        let mut child = std::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-l"])
            .args(["-t", &format!("lintel/v1/{}/building/{}/counts", b.site, b.building)])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("mosquitto_pub is not installed: run scripts/setup");
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..intervals {
            let line = counts(
                &b.site,
                &b.building,
                &format!("edge-{}", b.building),
                i as u64 + 1,
                t + 60 * i,
                ((i % 4) as u64, 0, (i % 17) as u64),
            )
            .to_string();
            for _ in 0..(1 + usize::from(i % 5 == 0)) {
                writeln!(stdin, "{line}").unwrap();
            }
        }
        drop(stdin);
        children.push(child);
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let total = grid.buildings.len() as u64 * intervals as u64;

    let killed = Worker::start(&dir, broker.port, &pg.url("killed"), "density-killed");
    assert!(lintel_testkit::wait_until(std::time::Duration::from_secs(60), || applied(&killed.web) > 0));
    let at_kill = applied(&killed.web);
    drop(killed); // SIGKILL
    assert!(at_kill < total, "the worker drained everything before it was killed: the test tested nothing");
    eprintln!("killed after {at_kill} of {total} messages applied");
    let _back = Worker::start(&dir, broker.port, &pg.url("killed"), "density-killed");
    let _clean = Worker::start(&dir, broker.port, &pg.url("clean"), "density-clean");

    let mut killed_store = store::open(&pg.url("killed")).unwrap();
    let mut clean_store = store::open(&pg.url("clean")).unwrap();
    let done = lintel_testkit::wait_until(std::time::Duration::from_secs(120), || {
        killed_store.dump().unwrap().messages.len() as u64 == total
            && clean_store.dump().unwrap().messages.len() as u64 == total
    });
    let (after_kill, clean) = (killed_store.dump().unwrap(), clean_store.dump().unwrap());
    assert!(done, "{} and {} of {total} messages stored", after_kill.messages.len(), clean.messages.len());
    assert_eq!(after_kill, clean);
    assert_eq!(after_kill.intervals.len() as u64, total);
}
