//! A node on a broker cluster: the publisher given the three servers of a real NATS cluster on
//! loopback (MQTT listeners, JetStream with replicas 3) moves to the next server when the one it
//! uses is killed, and on when that one returns. What the city consumes is the oracle: a real
//! `lintel-city --nats` worker (built beside `lintel`) reading the JetStream stream: every
//! interval is stored once, none arrives after a higher seq of the node; the retained status
//! and occupancy survive (read fresh from the server that was killed and restarted).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Subscriber, broker_config, free_port, scratch_dir, workspace};
use lintel::publish::{Counts, IntervalBounds, Message, NodeState, NodeStatus, Occupancy, Publisher, UtcTime};
use lintel_testkit::NatsCluster;

// A building of the fixture grid, so the city worker stores it.
const SITE: &str = "pets";
const BUILDING: &str = "hall";
const ANALYST: &str = "an-analyst-token-of-the-tests";

fn get(address: &str, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(address) else { return String::new() };
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ANALYST}\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// A counter of the worker's `/metrics` (0 when absent).
fn metric(web: &str, line_start: &str) -> u64 {
    get(web, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(line_start).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn status(state: NodeState) -> NodeStatus {
    NodeStatus {
        site: SITE.into(),
        node: "edge-01".into(),
        seq: 0,
        at: UtcTime::now(),
        state,
        cameras: vec![],
        version: None,
        web: None,
    }
}

/// Two hours ago, on the hour: inside the worker's retention, not in the future.
fn origin() -> i64 {
    let now = UtcTime::now().unix_seconds() - 7200;
    now - now.rem_euclid(3600)
}

fn counts(minute: i64) -> Counts {
    let start = origin() + 60 * minute;
    Counts {
        site: SITE.into(),
        building: BUILDING.into(),
        node: "edge-01".into(),
        seq: 0,
        interval: IntervalBounds {
            start: UtcTime::from_unix_seconds(start),
            end: UtcTime::from_unix_seconds(start + 60),
        },
        entries: 1,
        exits: 0,
        occupancy: minute as u64,
        entrances: vec![],
    }
}

/// Every `(topic, seq)` heard so far, in arrival order.
fn heard(subscriber: &Subscriber, into: &mut Vec<(String, u64)>) {
    for (topic, json) in subscriber.drain() {
        into.push((topic, json["seq"].as_u64().expect("a seq")));
    }
}

#[test]
fn a_node_moves_to_the_next_server_when_one_is_lost_and_every_message_arrives_once_in_order() {
    let dir = scratch_dir("publish-failover");
    let mut cluster = NatsCluster::start(&dir, 3);
    let ports: Vec<u16> = cluster.servers.iter().map(|s| s.mqtt_port).collect();
    let port = |i: usize| ports[i];
    let city = City::start(&dir, &cluster.urls());
    let pulling = common::wait_until(Duration::from_secs(60), || {
        cluster.consumer("LINTEL_DENSITY", "lintel-density").is_some_and(|c| c["num_waiting"].as_u64() >= Some(1))
    });
    assert!(pulling, "the city worker is not pulling from the stream");

    // The node starts on a server that does not lead the stream: with nats-server 2.9.10, what
    // the MQTT listeners acknowledge while the stream's leader is being replaced can be lost
    // (see the README's "Seen, not solved"), which is the engine's doing, not the node's.
    let leader = cluster.stream("LINTEL_DENSITY").unwrap()["cluster"]["leader"].as_str().unwrap_or("").to_string();
    // The leader last: a first try that fails (the cluster still making its MQTT streams) moves
    // the node to the other follower, not to the leader.
    let mut order: Vec<usize> = (0..3).filter(|&i| cluster.servers[i].name != leader).collect();
    order.extend((0..3).filter(|&i| cluster.servers[i].name == leader));
    let mut config = broker_config(port(order[0]), "failover", &dir.join("spool"));
    config.fallbacks = order[1..].iter().map(|&i| ("127.0.0.1".to_string(), port(i))).collect();
    config.connect_timeout = Duration::from_secs(2);
    config.ack_timeout = Duration::from_secs(5);
    config.max_backoff = Duration::from_secs(1);
    let publisher = Publisher::start(config, status(NodeState::Offline)).unwrap();
    let mut status_seq = publisher.publish(status(NodeState::Online)).unwrap();
    // Connected to the first server (and its session made) before that server is lost.
    assert!(publisher.flush(Duration::from_secs(30)), "never connected: {:?}", publisher.status());
    let occupancy = |minute: i64| Occupancy {
        site: SITE.into(),
        building: BUILDING.into(),
        node: "edge-01".into(),
        seq: 0,
        at: UtcTime::from_unix_seconds(origin() + 60 * minute + 60),
        occupancy: minute as u64,
        capacity: None,
    };

    // Thirty intervals, one every 100 ms; the server the node uses is killed after ten and
    // comes back after twenty (the node is elsewhere by then). (Usually the first; another if a
    // first try failed while the cluster was still making its MQTT streams.)
    let lost = ports.iter().position(|p| publisher.status().broker == format!("127.0.0.1:{p}")).unwrap();
    assert_ne!(cluster.servers[lost].name, leader, "the node's first try failed and it went to the stream's leader");
    // As `lintel run` does (`NodeCore::tick`): connected again, it says it is online (the server
    // it lost may have published its last will).
    let mut connects = publisher.metrics().connects;
    let say_online_if_reconnected = |connects: &mut u64, status_seq: &mut u64| {
        let now = publisher.metrics().connects;
        if now > *connects && publisher.status().connected {
            *connects = now;
            *status_seq = publisher.publish(status(NodeState::Online)).unwrap();
        }
    };
    let mut last_occupancy = 0;
    for minute in 0..30 {
        if minute == 10 {
            cluster.kill(lost);
        }
        if minute == 20 {
            cluster.restart(lost);
        }
        publisher.publish(counts(minute)).unwrap();
        last_occupancy = publisher.publish(occupancy(minute)).unwrap();
        say_online_if_reconnected(&mut connects, &mut status_seq);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(publisher.flush(Duration::from_secs(90)), "spool not drained: {:?}", publisher.status());
    say_online_if_reconnected(&mut connects, &mut status_seq);
    assert!(publisher.flush(Duration::from_secs(30)), "spool not drained: {:?}", publisher.status());
    let metrics = publisher.metrics();
    assert!(metrics.connects >= 2, "the node never moved: {metrics:?}");

    // Every message stored once by the city: 30 intervals and 30 occupancies, the duplicates
    // (the message in flight at each move) recognised by (node, seq), none behind a higher seq.
    let web = &city.web;
    let stored =
        common::wait_until(Duration::from_secs(60), || metric(web, "lintel_density_messages_applied_total") == 60);
    let history =
        get(web, &format!("/density/history?building={SITE}/{BUILDING}&from={}&step=interval", origin() - 60));
    assert!(
        stored,
        "the city stored {} of 60 messages; {history}; the stream: {:?}",
        metric(web, "lintel_density_messages_applied_total"),
        cluster.stream("LINTEL_DENSITY")
    );
    let (_, json) = history.split_once("\r\n\r\n").unwrap();
    let history: serde_json::Value = serde_json::from_str(json).unwrap();
    let points = history["points"].as_array().unwrap();
    assert_eq!(points.len(), 30, "{history}");
    assert!(points.iter().all(|p| p["entries"] == 1), "an interval counted twice or not at all: {history}");
    let backwards = metric(web, "lintel_density_bad_input_total{kind=\"seq_backwards\"}");
    assert_eq!(backwards, 0, "messages arrived after a higher seq of the node");
    let duplicates = metric(web, "lintel_density_bad_input_total{kind=\"duplicate\"}");
    eprintln!("{} connections; {duplicates} duplicates dropped by the city", metrics.connects);

    // Retained status and occupancy, read fresh from the server that was killed and restarted.
    // It learns the retained messages published while it came back from the others, a moment
    // later (once an old status was still its own 10 s after the last publish): each look is a
    // new subscriber, as a page that opens later is, for up to 60 s.
    let status_topic = Message::from(status(NodeState::Online)).topic().unwrap();
    let occupancy_topic = Message::from(occupancy(0)).topic().unwrap();
    let wanted = [(status_topic.clone(), status_seq), (occupancy_topic.clone(), last_occupancy)];
    let mut retained = Vec::new();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let late = Subscriber::start(port(lost), &format!("lintel/v1/{SITE}/#"));
        retained.clear();
        common::wait_until(Duration::from_secs(3), || {
            heard(&late, &mut retained);
            wanted.iter().all(|w| retained.contains(w))
        });
        if wanted.iter().all(|w| retained.contains(w)) {
            break;
        }
    }
    eprintln!("retained after the run ({:.1} s to see them): {retained:?}", started.elapsed().as_secs_f64());
    let topics: Vec<&str> = retained.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        retained.contains(&(status_topic.clone(), status_seq)),
        "the retained status is not the node's online one (seq {}): {retained:?}",
        status_seq
    );
    assert!(
        retained.contains(&(occupancy_topic.clone(), last_occupancy)),
        "the retained occupancy is not the last one ({}): {retained:?}",
        last_occupancy
    );
    assert!(topics.iter().all(|t| *t == status_topic || *t == occupancy_topic), "{topics:?}");
    drop(publisher);
    drop(city);
}

/// `lintel-city --nats` beside `lintel`, on SQLite, the stream replicated 3 times.
struct City {
    child: std::process::Child,
    web: String,
}

impl City {
    fn start(dir: &Path, nats: &str) -> Self {
        let city = Path::new(env!("CARGO_BIN_EXE_lintel")).with_file_name("lintel-city");
        assert!(
            city.is_file(),
            "{} is missing: build it with `cargo build -p lintel-city` (scripts/test builds the workspace)",
            city.display()
        );
        let web = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(city)
            .arg("--grid")
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--nats", nats, "--nats-ack-wait-s", "5", "--web", &web, "--run-for-s", "300"])
            .arg("--store")
            .arg(format!("sqlite:{}", dir.join("city.db").display()))
            .args(["--analyst-token-env", "LINTEL_TEST_ANALYST_TOKEN"])
            .env("LINTEL_TEST_ANALYST_TOKEN", ANALYST)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("density: http://"), "{line:?}");
        Self { child, web }
    }
}

impl Drop for City {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
