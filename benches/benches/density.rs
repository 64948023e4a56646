//! The density layer under load: simulated nodes replay a daily profile at accelerated time
//! through a real mosquitto into one consumer (the library's `Consumer`), with SQLite and with
//! PostgreSQL, at 100, 1,000 and 10,000 buildings. Prints, per store and size:
//! - the drain rate: building-intervals (counts messages) per second one consumer takes from a
//!   backlog already queued in the broker for it, one message per transaction (as before
//!   batches) and in batches, the two run one after the other on the same machine, and their
//!   ratio; and per CPU second the consumer used (its rate with a core of its own; the CPU of
//!   PostgreSQL and mosquitto, on the same machine here, is not in it);
//! - the lag from a node's publish to the change being visible in `GET /density.geojson` at a
//!   steady 300 messages/s (batched), with the time one GeoJSON answer takes;
//! - the catch-up: 10,000 buildings after an outage, a backlog of `LINTEL_BENCH_CATCHUP`
//!   messages (default 100,000: 10 one-minute intervals, 1/144 of a 24-hour outage's 14.4
//!   million) drained, batched, with the time, and that time scaled to 14.4 million.
//!
//! `cargo bench -p lintel-benches --bench density` (needs mosquitto; PostgreSQL 15 from Debian's
//! `postgresql` for the second store: without it that half fails with how to install it).
//! Env: `LINTEL_BENCH_SIZES` (default `100,1000,10000`), `LINTEL_BENCH_MESSAGES` (per run,
//! default 10,000), `LINTEL_BENCH_CATCHUP` (default 100,000; 0 skips it).

use lintel_testkit::free_port;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lintel_city::density::consumer::{Consumer, ConsumerConfig};
use lintel_city::density::grid::Building;
use lintel_city::density::ngsi::NgsiOptions;
use lintel_city::density::web::{DensityWeb, router};
use lintel_city::density::{Grid, Ingest, IngestMetrics, store};
use lintel_http::HttpServer as WebServer;
use lintel_wire::UtcTime;
use prometheus_client::registry::Registry;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::json;

struct Mosquitto(Child, u16);

impl Mosquitto {
    fn start(dir: &Path) -> Self {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        // Enough queue for a burst of thousands of QoS 1 messages to one subscriber.
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\n"),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is not installed: run scripts/setup");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child, port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A grid of `n` buildings, 100 to a cell, cells on a square layout near Lishui.
fn synthetic_grid(n: usize, path: &Path) -> Grid {
    let cells = n.div_ceil(100);
    let side = (cells as f64).sqrt().ceil() as usize;
    let size = 0.003;
    let mut features = Vec::new();
    for c in 0..cells {
        let (x0, y0) = (119.9 + (c % side) as f64 * size, 28.44 + (c / side) as f64 * size);
        features.push(json!({"type": "Feature", "properties": {"kind": "cell", "id": format!("c{c}")},
            "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]]}}));
        for b in 0..100.min(n - c * 100) {
            let (x, y) =
                (x0 + (b % 10) as f64 * size / 10.0 + size / 20.0, y0 + (b / 10) as f64 * size / 10.0 + size / 20.0);
            features.push(json!({"type": "Feature", "properties": {"kind": "building", "site": format!("s{c}"),
                "building": format!("b{b}"), "floor_area_m2": 1000, "capacity": 200},
                "geometry": {"type": "Point", "coordinates": [x, y]}}));
        }
    }
    std::fs::write(path, json!({"type": "FeatureCollection", "features": features}).to_string()).unwrap();
    Grid::load(path).unwrap()
}

fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// The simulated nodes' connection, driven on a thread of its own until [`Nodes::finish`].
struct Nodes {
    done: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// Drives `connection`, counting the broker's PubAcks in `acked`.
fn drive(mut connection: rumqttc::Connection, acked: Option<Arc<std::sync::atomic::AtomicU64>>) -> Nodes {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thread = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        if let Some(acked) = &acked {
                            acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                    // Once finished, the connection's end ends the thread: left to itself, the
                    // client would try to reconnect to a broker that is gone, spinning a core.
                    Err(_) if done.load(std::sync::atomic::Ordering::SeqCst) => break,
                    _ => {}
                }
            }
        })
    };
    Nodes { done, thread }
}

impl Nodes {
    /// Disconnects and waits for the connection's thread to end.
    fn finish(self, client: Client) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = client.disconnect();
        let _ = self.thread.join();
    }
}

/// A counts message of building `b`: interval `k` (one minute each from `t0`).
fn counts_payload(b: &Building, seq: u64, start: i64, entries: usize, exits: usize, occupancy: u64) -> String {
    json!({
        "schema": "lintel.counts/1", "site": b.site, "building": b.building, "node": format!("n-{}", b.key()),
        "seq": seq, "interval": {"start": UtcTime::from_unix_seconds(start), "end": UtcTime::from_unix_seconds(start + 60)},
        "entries": entries, "exits": exits, "occupancy": occupancy, "entrances": [],
    })
    .to_string()
}

/// Two days ago at midnight (UTC): the simulated day's start, never in the future.
fn day_start() -> i64 {
    let now = UtcTime::now().unix_seconds();
    now - now % 86_400 - 2 * 86_400
}

/// The consumer of a run: `batch` 1 writes one message per transaction.
fn consumer_config(port: u16, n: usize, batch: usize) -> ConsumerConfig {
    let mut config = ConsumerConfig::new("127.0.0.1", port, format!("bench-{n}"));
    config.publish_cells = false;
    config.receive_maximum = 1000;
    config.batch = batch;
    config
}

/// CPU seconds this process (the consumer; the simulated nodes are idle while it drains) has
/// used, user and system, from `/proc/self/stat` (Linux's clock ticks are 100 a second).
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name's closing parenthesis: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(14) + ticks(15)) / 100.0
}

/// What one drain measured.
struct Drained {
    applied: u64,
    seconds: f64,
    /// CPU seconds the consumer used.
    cpu_s: f64,
}

impl Drained {
    fn per_second(&self) -> f64 {
        self.applied as f64 / self.seconds
    }
    /// Messages per CPU second of the consumer: its rate on a core of its own.
    fn per_cpu_second(&self) -> f64 {
        self.applied as f64 / self.cpu_s.max(0.01)
    }
}

/// A backlog of `messages` counts of the `grid`'s buildings (interval after interval) queued in
/// the broker for a consumer that is away, then drained by it: the messages it applied and the
/// seconds it took, from its start to the last one stored, and the CPU it used meanwhile.
fn drain(dir: &Path, store_url: &str, grid: &Arc<Grid>, messages: u64, batch: usize) -> Drained {
    let n = grid.buildings.len();
    let broker = Mosquitto::start(dir);
    let metrics = Arc::new(IngestMetrics::default());
    let ingest = || Ingest::new(Arc::clone(grid), store::open(store_url).unwrap(), Arc::clone(&metrics));
    // Its session, then away: the broker queues what comes for it.
    let consumer = Consumer::start(consumer_config(broker.1, n, batch), ingest()).unwrap();
    while !consumer.status.connected.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(consumer);

    let mut options = MqttOptions::new(format!("bench-backlog-{n}"), "127.0.0.1", broker.1);
    options.set_max_packet_size(1 << 20, 1 << 20);
    options.set_inflight(100);
    let (client, connection) = Client::new(options, 1000);
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let nodes = drive(connection, Some(Arc::clone(&acked)));
    let t0 = day_start();
    let mut sent = 0u64;
    'publish: for k in 0.. {
        let minute = (k % 1440) as f64;
        let share = 0.1 + 0.8 * (-((minute / 60.0 - 14.0).powi(2)) / 18.0).exp();
        for (i, b) in grid.buildings.iter().enumerate() {
            if sent >= messages {
                break 'publish;
            }
            let payload =
                counts_payload(b, k as u64 + 1, t0 + 60 * k, i % 5, i % 3, (200.0 * share) as u64 + (i as u64 % 7));
            client
                .publish(
                    format!("lintel/v1/{}/building/{}/counts", b.site, b.building),
                    QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .unwrap();
            sent += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(1200);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < messages && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    nodes.finish(client);

    // The publisher's thread gone quiet first: what follows is the consumer's CPU.
    std::thread::sleep(Duration::from_millis(200));
    let (started, cpu) = (Instant::now(), process_cpu_s());
    let consumer = Consumer::start(consumer_config(broker.1, n, batch), ingest()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3600);
    while metrics.applied.get() < messages && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (seconds, cpu_s) = (started.elapsed().as_secs_f64(), process_cpu_s() - cpu);
    drop(consumer);
    Drained { applied: metrics.applied.get(), seconds, cpu_s }
}

struct Result {
    messages: u64,
    lag_p50_ms: f64,
    lag_max_ms: f64,
    geojson_ms: f64,
}

/// `rate`: messages per second the nodes publish at, or as fast as they can.
fn run(dir: &Path, store_url: &str, grid: &Arc<Grid>, messages: u64, rate: Option<f64>) -> Result {
    let n = grid.buildings.len();
    let grid = Arc::clone(grid);
    let broker = Mosquitto::start(dir);
    let metrics = Arc::new(IngestMetrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let ingest = Ingest::new(Arc::clone(&grid), store::open(store_url).unwrap(), Arc::clone(&metrics));
    let web = WebServer::serve(
        "127.0.0.1:0".parse().unwrap(),
        router(Arc::new(DensityWeb {
            grid: Arc::clone(&grid),
            store: Mutex::new(store::open(store_url).unwrap()),
            stale_after_s: 10 * 86_400,
            registry,
            ngsi: NgsiOptions::default(),
            losses: None,
            basemap: lintel_city::density::basemap::Basemap::None,
        })),
    )
    .unwrap();
    let address = web.address().to_string();
    let consumer = Consumer::start(consumer_config(broker.1, n, 500), ingest).unwrap();
    while !consumer.status.connected.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));

    // The nodes: one client for all (the broker's fan-in is not what is measured). Building `i`
    // of interval `k`: a daily occupancy curve, one simulated minute per interval, two days ago.
    let mut options = MqttOptions::new(format!("bench-nodes-{n}"), "127.0.0.1", broker.1);
    options.set_max_packet_size(1 << 20, 1 << 20);
    options.set_inflight(100);
    let (client, connection) = Client::new(options, 1000);
    let nodes = drive(connection, None);
    let t0 = day_start();
    let probe = &grid.buildings[0];
    let probes: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let seen: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (address, seen, watching) = (address.clone(), Arc::clone(&seen), Arc::clone(&watching));
        let id = format!("\"id\":\"building:{}\"", probe.key());
        std::thread::spawn(move || {
            let mut last = u64::MAX;
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                let body = get(&address, "/density.geojson");
                // The probe building's occupancy: the number after its "occupancy": in its feature.
                if let Some(at) = body.find(&id) {
                    let feature = &body[at..];
                    if let Some(o) = feature.find("\"occupancy\":") {
                        let digits: String = feature[o + 12..].chars().take_while(char::is_ascii_digit).collect();
                        if let Ok(v) = digits.parse::<u64>()
                            && v != last
                        {
                            last = v;
                            seen.lock().unwrap().push((v, Instant::now()));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let started = Instant::now();
    let mut seqs = vec![0u64; n];
    let mut sent = 0u64;
    let mut k = 0i64;
    let publish = |b: &Building, seq: u64, start: i64, entries: usize, exits: usize, occupancy: u64| {
        let payload = counts_payload(b, seq, start, entries, exits, occupancy);
        client
            .publish(format!("lintel/v1/{}/building/{}/counts", b.site, b.building), QoS::AtLeastOnce, false, payload)
            .unwrap();
    };
    // Building 0 is the probe: every 200th message is its next interval, with a new occupancy.
    'publish: loop {
        let minute = (k % 1440) as f64;
        let share = 0.1 + 0.8 * (-((minute / 60.0 - 14.0).powi(2)) / 18.0).exp();
        for (i, b) in grid.buildings.iter().enumerate().skip(1) {
            if sent >= messages {
                break 'publish;
            }
            if sent.is_multiple_of(200) {
                seqs[0] += 1;
                // Unique per probe, and plausible for its capacity of 200 (the consumer refuses over 4×).
                let value = 100 + seqs[0];
                probes.lock().unwrap().push((value, Instant::now()));
                publish(probe, seqs[0], t0 + 60 * seqs[0] as i64, 1, 0, value);
                sent += 1;
            }
            if let Some(rate) = rate {
                let due = started + Duration::from_secs_f64(sent as f64 / rate);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            seqs[i] += 1;
            publish(b, seqs[i], t0 + 60 * k, i % 5, i % 3, (200.0 * share) as u64 + (i as u64 % 7));
            sent += 1;
        }
        k += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while metrics.applied.get() < messages && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    nodes.finish(client);
    std::thread::sleep(Duration::from_millis(500));
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    let _ = watcher.join();
    let mut geojson = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let _ = get(&address, "/density.geojson");
        geojson.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (probes, seen) = (probes.lock().unwrap().clone(), seen.lock().unwrap().clone());
    // Lag of a probe: from its publish to the first GeoJSON showing it or a later probe.
    let mut lags: Vec<f64> = probes
        .iter()
        .filter_map(|(v, at)| {
            seen.iter().find(|(s, _)| s >= v).map(|(_, when)| when.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    drop(consumer);
    Result {
        messages: metrics.applied.get(),
        lag_p50_ms: percentile(&mut lags, 0.5),
        lag_max_ms: percentile(&mut lags, 1.0),
        geojson_ms: percentile(&mut geojson, 0.5),
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("LINTEL_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let messages: u64 = std::env::var("LINTEL_BENCH_MESSAGES").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let dir: PathBuf = std::env::temp_dir().join(format!("lintel-bench-density-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let catchup: u64 = std::env::var("LINTEL_BENCH_CATCHUP").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    // A city of 10,000 buildings with one-minute intervals publishes 167 messages a second.
    let steady = 300.0;
    let mut pg_dbs: Vec<String> =
        sizes.iter().flat_map(|n| [format!("o{n}"), format!("b{n}"), format!("s{n}")]).collect();
    pg_dbs.push("catchup".into());
    let pg = lintel_testkit::Postgres::start(&dir, &pg_dbs.iter().map(String::as_str).collect::<Vec<_>>());
    println!(
        "density consumer: one worker; drain of {messages} counts messages queued in the broker, one per transaction, then in batches (500); then {} at {steady} messages/s, batched",
        messages / 4
    );
    println!(
        "| store | buildings | building-intervals/s, one at a time | in batches | ratio | per consumer CPU second, one at a time / in batches | lag p50 / max at {steady}/s (ms) | GeoJSON answer (ms) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, url) in [("SQLite", None), ("PostgreSQL", Some(&pg))] {
        for &n in &sizes {
            let store = |prefix: &str| match url {
                None => format!("sqlite:{}", dir.join(format!("{prefix}-{n}.db")).display()),
                Some(pg) => pg.url(&format!("{prefix}{n}")),
            };
            let grid = Arc::new(synthetic_grid(n, &dir.join(format!("grid-{n}.geojson"))));
            let one = drain(&dir, &store("o"), &grid, messages, 1);
            let batched = drain(&dir, &store("b"), &grid, messages, 500);
            let calm = run(&dir, &store("s"), &grid, messages / 4, Some(steady));
            println!(
                "| {name} | {n} | {:.0} | {:.0} | {:.1}× | {:.0} / {:.0} | {:.0} / {:.0} | {:.1} |",
                one.per_second(),
                batched.per_second(),
                batched.per_second() / one.per_second(),
                one.per_cpu_second(),
                batched.per_cpu_second(),
                calm.lag_p50_ms,
                calm.lag_max_ms,
                calm.geojson_ms
            );
            assert!(
                one.applied >= messages && batched.applied >= messages && calm.messages >= messages / 4,
                "messages were lost"
            );
        }
    }
    if catchup > 0 {
        let n = 10_000;
        let grid = Arc::new(synthetic_grid(n, &dir.join(format!("grid-{n}.geojson"))));
        println!(
            "\ncatch-up: {n} buildings, {catchup} counts messages queued (a 24-hour outage is 14,400,000), drained in batches"
        );
        println!(
            "| store | drained | seconds | building-intervals/s | per consumer CPU second | 14.4 M at that rate |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        let sqlite = format!("sqlite:{}", dir.join("catchup.db").display());
        for (name, url) in [("SQLite", sqlite), ("PostgreSQL", pg.url("catchup"))] {
            let drained = drain(&dir, &url, &grid, catchup, 500);
            println!(
                "| {name} | {} | {:.1} | {:.0} | {:.0} | {:.0} min (extrapolated) |",
                drained.applied,
                drained.seconds,
                drained.per_second(),
                drained.per_cpu_second(),
                14_400_000.0 / drained.per_second() / 60.0
            );
            assert!(drained.applied >= catchup, "messages were lost");
        }
    }
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}
