//! The operators' console at a city's scale: the real `lintel-city` binary, a real mosquitto,
//! 1,000 simulated nodes of 10 cameras each (retained statuses), then alerts from them: 100 a
//! second for a while (a community's burst), then as fast as one publisher sends them. With the
//! store on SQLite and on PostgreSQL, prints:
//! - how long the console takes to gather the 1,000 nodes;
//! - the lag from a node's alert to its incident in `GET /api/alerts` (probes from a second site,
//!   2 a second, polled every 20 ms), at 100 alerts a second and during the burst;
//! - alerts a second the console takes in the burst (until the last incident is listed);
//! - the time `/console`, `/api/nodes` (1,000 nodes) and the first page of `/api/alerts` take;
//! - the server's memory (resident, and its peak).
//!
//! `benches/console-scale` (builds `lintel-city` in release first; or `cargo build --release -p
//! lintel-city` and `cargo bench -p lintel-benches --bench console`). PostgreSQL 15 from Debian's
//! `postgresql` runs as a throwaway server with `fsync=off` (a box's disk is not measured).
//! Env: `LINTEL_BENCH_STEADY_S` (default 20), `LINTEL_BENCH_BURST` (alerts, default 5,000),
//! `LINTEL_CITY_BIN` (default `target/release/lintel-city`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lintel_testkit::browser::http;
use lintel_testkit::{Broker, Postgres, free_port, workspace};
use lintel_wire::UtcTime;
use rumqttc::{Client, MqttOptions, QoS};
use serde_json::{Value, json};

const NODES: usize = 1000;
const CAMERAS: usize = 10;
/// Alerts a second in the steady phase: what the issue asks a city server to take.
const STEADY_RATE: f64 = 100.0;
const PROBES_PER_SECOND: f64 = 2.0;

struct City {
    child: Child,
    port: u16,
}

impl City {
    fn start(dir: &Path, mqtt: u16, store: &str) -> Self {
        let binary = std::env::var_os("LINTEL_CITY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace("target/release/lintel-city"));
        assert!(
            binary.exists(),
            "{} is missing: run benches/console-scale, or cargo build --release -p lintel-city first",
            binary.display()
        );
        let port = free_port();
        let mut child = Command::new(binary)
            .arg("--grid")
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--mqtt", &format!("127.0.0.1:{mqtt}"), "--web", &format!("127.0.0.1:{port}")])
            .args(["--store", store, "--run-for-s", "3600", "--offline-after-s", "3600"])
            .args(["--consumer-id", "console-bench"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("density: http://"), "lintel-city did not start: {line:?}");
        Self { child, port }
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = http("GET", self.port, path, &[], None);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// Resident memory and its peak, in MiB.
    fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for City {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn publisher(port: u16, id: &str) -> Client {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut connection) = Client::new(options, 100_000);
    std::thread::spawn(move || for _ in connection.iter() {});
    client
}

fn status(site: &str, node: &str) -> Value {
    let cameras: Vec<Value> = (0..CAMERAS).map(|c| json!({"id": format!("cam-{c}"), "state": "live"})).collect();
    json!({"schema": "lintel.node_status/1", "site": site, "node": node, "seq": 1, "at": UtcTime::now(),
           "state": "online", "cameras": cameras, "version": "bench"})
}

fn alert(site: &str, node: &str, seq: u64, start: bool, camera: usize) -> Vec<u8> {
    let kind = if start { "camera_offline" } else { "camera_back" };
    json!({"schema": "lintel.alert/1", "site": site, "node": node, "seq": seq, "at": UtcTime::now(),
           "kind": kind, "subject": format!("cam-{camera}"), "message": format!("{kind} cam-{camera}")})
    .to_string()
    .into_bytes()
}

/// The simulated nodes' alerts: each node's k-th alert takes its camera k/2 down (k even) or
/// back (k odd), with the node's seq after its status.
struct Nodes {
    next: Vec<u64>,
    sent: u64,
    starts: u64,
}

impl Nodes {
    fn send(&mut self, client: &Client) {
        let n = (self.sent % NODES as u64) as usize;
        let k = self.next[n];
        self.next[n] += 1;
        let start = k.is_multiple_of(2);
        let payload = alert("pets", &format!("edge-{n:04}"), 2 + k, start, ((k / 2) % CAMERAS as u64) as usize);
        client.publish("lintel/v1/pets/alerts", QoS::AtLeastOnce, false, payload).unwrap();
        self.sent += 1;
        self.starts += u64::from(start);
    }
}

/// Probe alerts from site `probe`: each starts an incident whose arrival in `/api/alerts` is
/// timed by a poller.
struct Probes {
    client: Client,
    sent: Arc<Mutex<Vec<(u64, Instant)>>>,
    lags: Arc<Mutex<Vec<f64>>>,
    stop: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<()>>,
    next_seq: u64,
}

impl Probes {
    fn start(city_port: u16, client: Client) -> Self {
        let (sent, lags, stop) = (Arc::new(Mutex::new(Vec::<(u64, Instant)>::new())), Arc::default(), Arc::default());
        let poller = {
            let (sent, lags, stop): (_, Arc<Mutex<Vec<f64>>>, Arc<AtomicBool>) =
                (Arc::clone(&sent), Arc::clone(&lags), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (status, body) = http("GET", city_port, "/api/alerts?state=all&site=probe", &[], None);
                    if status == 200
                        && let Ok(body) = serde_json::from_str::<Value>(&body)
                    {
                        let listed: Vec<u64> = body["incidents"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|i| i["seq"].as_u64())
                            .collect();
                        let now = Instant::now();
                        let mut pending = sent.lock().unwrap();
                        pending.retain(|(seq, at)| {
                            let arrived = listed.contains(seq);
                            if arrived {
                                lags.lock().unwrap().push(now.duration_since(*at).as_secs_f64() * 1000.0);
                            }
                            !arrived
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        client
            .publish(
                "lintel/v1/probe/node/probe-0/status",
                QoS::AtLeastOnce,
                true,
                status("probe", "probe-0").to_string(),
            )
            .unwrap();
        Self { client, sent, lags, stop, poller: Some(poller), next_seq: 2 }
    }

    fn send(&mut self) {
        let seq = self.next_seq;
        self.next_seq += 2;
        self.sent.lock().unwrap().push((seq, Instant::now()));
        self.client
            .publish("lintel/v1/probe/alerts", QoS::AtLeastOnce, false, alert("probe", "probe-0", seq, true, 0))
            .unwrap();
        // Its end, so the probe site's incidents stay closed and its list short.
        self.client
            .publish("lintel/v1/probe/alerts", QoS::AtLeastOnce, false, alert("probe", "probe-0", seq + 1, false, 0))
            .unwrap();
    }

    /// Lags (ms) measured since the last call; waits up to 30 s for the pending probes.
    fn take(&self) -> (Vec<f64>, usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.sent.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let missing = std::mem::take(&mut *self.sent.lock().unwrap()).len();
        (std::mem::take(&mut *self.lags.lock().unwrap()), missing)
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn median_ms(mut time: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let begin = Instant::now();
            time();
            begin.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    percentile(&mut times, 0.5)
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let begin = Instant::now();
    while !done() {
        assert!(begin.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    begin.elapsed()
}

fn run(dir: &Path, store: &str, steady_s: f64, burst: u64) -> String {
    let broker = Broker::start_with(dir, free_port(), "allow_anonymous true\nmax_queued_messages 1000000\n");
    let city = City::start(dir, broker.port, store);
    let nodes_client = publisher(broker.port, "bench-nodes");
    for n in 0..NODES {
        let node = format!("edge-{n:04}");
        let topic = format!("lintel/v1/pets/node/{node}/status");
        nodes_client.publish(topic, QoS::AtLeastOnce, true, status("pets", &node).to_string()).unwrap();
    }
    let gathered = wait_for("1,000 nodes gathered", Duration::from_secs(120), || {
        city.get("/api/nodes")["nodes"].as_array().map_or(0, Vec::len) >= NODES
    });
    let mut probes = Probes::start(city.port, publisher(broker.port, "bench-probes"));
    let mut nodes = Nodes { next: vec![0; NODES], sent: 0, starts: 0 };

    // 100 alerts a second, with probes among them.
    let begin = Instant::now();
    let total = (STEADY_RATE * steady_s) as u64;
    let probe_every = (STEADY_RATE / PROBES_PER_SECOND) as u64;
    while nodes.sent < total {
        let due = begin + Duration::from_secs_f64(nodes.sent as f64 / STEADY_RATE);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        nodes.send(&nodes_client);
        if nodes.sent.is_multiple_of(probe_every) {
            probes.send();
        }
    }
    let (mut steady_lags, steady_missing) = probes.take();

    // As fast as one publisher sends, a probe every 500 alerts.
    let begin = Instant::now();
    for i in 0..burst {
        nodes.send(&nodes_client);
        if i % 500 == 0 {
            probes.send();
        }
    }
    let want = nodes.starts;
    wait_for("every burst incident listed", Duration::from_secs(600), || {
        city.get("/api/alerts?state=all&site=pets")["total"].as_u64() == Some(want)
    });
    // From the burst's first alert sent to its last incident listed.
    let burst_rate = burst as f64 / begin.elapsed().as_secs_f64();
    let (mut burst_lags, burst_missing) = probes.take();

    let page = median_ms(|| {
        let (status, _) = http("GET", city.port, "/console", &[], None);
        assert_eq!(status, 200);
    });
    let nodes_ms = median_ms(|| {
        city.get("/api/nodes");
    });
    let alerts_ms = median_ms(|| {
        city.get("/api/alerts?state=all");
    });
    let (rss, peak) = city.memory_mib();
    assert_eq!(steady_missing + burst_missing, 0, "probe incidents never listed");
    format!(
        "| {:.1} | {:.0} / {:.0} | {:.0} | {:.0} / {:.0} | {:.1} / {:.1} / {:.1} | {rss:.0} / {peak:.0} |",
        gathered.as_secs_f64(),
        percentile(&mut steady_lags, 0.5),
        percentile(&mut steady_lags, 1.0),
        burst_rate,
        percentile(&mut burst_lags, 0.5),
        percentile(&mut burst_lags, 1.0),
        page,
        nodes_ms,
        alerts_ms,
    )
}

fn main() {
    let number = |name: &str, default: f64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (steady_s, burst) = (number("LINTEL_BENCH_STEADY_S", 20.0), number("LINTEL_BENCH_BURST", 5000.0) as u64);
    let dir = std::env::temp_dir().join(format!("lintel-bench-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pg = Postgres::start(&dir, &["console"]);
    println!(
        "console: {NODES} nodes × {CAMERAS} cameras, {steady_s} s at {STEADY_RATE} alerts/s, then a burst of {burst} alerts"
    );
    println!(
        "| store | nodes gathered (s) | lag p50 / max at 100/s (ms) | burst taken (alerts/s) | lag p50 / max in the burst (ms) | /console / /api/nodes / /api/alerts (ms) | memory now / peak (MiB) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, store) in
        [("SQLite", format!("sqlite:{}", dir.join("console.db").display())), ("PostgreSQL", pg.url("console"))]
    {
        let run_dir = dir.join(name);
        std::fs::create_dir_all(&run_dir).unwrap();
        println!("| {name} {}", run(&run_dir, &store, steady_s, burst));
    }
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
}
