//! The publisher against hostile inputs and broken peers: a huge retained command, a broker that
//! never acknowledges or that closes every connection at once, a clean stop, and two nodes that
//! share a client id. Real mosquitto on 127.0.0.1 where a real broker can show it; a small fake
//! broker in this file where only a broken one can.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Broker, Subscriber, broker_config, captured_logs, scratch_dir, wait_until};
use lintel::publish::{
    CameraState, CameraStatus, Counts, EntranceSummary, IntervalBounds, MqttVersion, NodeState, NodeStatus, Publisher,
    RECEIVED_QUEUE, UtcTime,
};

/// Generous: the machines are shared; nothing here asserts on speed.
const DEADLINE: Duration = Duration::from_secs(30);

fn status(site: &str, state: NodeState, cameras: &[&str]) -> NodeStatus {
    NodeStatus {
        site: site.into(),
        node: "edge-01".into(),
        seq: 0,
        at: UtcTime::now(),
        state,
        cameras: cameras.iter().map(|id| CameraStatus { id: (*id).into(), state: CameraState::Live }).collect(),
        version: None,
        web: None,
    }
}

fn counts(site: &str, minute: i64) -> Counts {
    let start = 1_795_600_800 + 60 * minute;
    Counts {
        site: site.into(),
        building: "b7".into(),
        node: "edge-01".into(),
        seq: 0,
        interval: IntervalBounds {
            start: UtcTime::from_unix_seconds(start),
            end: UtcTime::from_unix_seconds(start + 60),
        },
        entries: 1,
        exits: 1,
        occupancy: 10,
        entrances: vec![EntranceSummary {
            id: "north".into(),
            entries: 1,
            exits: 1,
            cameras: vec!["cam-07".into()],
            healthy: true,
        }],
    }
}

/// The logged lines that contain every one of `words`.
fn log_lines(words: &[&str]) -> Vec<String> {
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    logs.lines().filter(|line| words.iter().all(|w| line.contains(w))).map(String::from).collect()
}

/// `mosquitto_pub -r`: a retained message of `size` bytes on `topic`.
fn retain(port: u16, topic: &str, size: usize, dir: &Path) {
    let file = dir.join(format!("payload-{size}"));
    std::fs::write(&file, vec![b'x'; size]).unwrap();
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-r", "-t", topic, "-f"])
        .arg(&file)
        .status()
        .expect("mosquitto_pub is not installed: run scripts/setup");
    assert!(status.success(), "mosquitto_pub of {size} bytes failed");
}

/// The `seq`s of the counts received so far on a `mosquitto_sub`, duplicates removed, in arrival order.
fn seqs(subscriber: &Subscriber, seen: &mut Vec<u64>) {
    for (_, json) in subscriber.drain() {
        let seq = json["seq"].as_u64().expect("a seq");
        if !seen.contains(&seq) {
            seen.push(seq);
        }
    }
}

// ---------------------------------------------------------------- a huge retained command

/// A retained message just over the old 256 KiB packet limit, on the command topic the node
/// subscribes to, put the node in a reconnect loop. Now it is read, refused (logged once), and the
/// one connection carries on.
#[test]
fn a_retained_command_over_256_kib_is_refused_once_and_the_connection_stays() {
    captured_logs();
    let dir = scratch_dir("faults-retained");
    let broker = Broker::start(&dir);
    let topic = "lintel/v1/big1/building/b7/occupancy/set";
    retain(broker.port, topic, 300 * 1024, &dir);
    let subscriber = Subscriber::start(broker.port, "lintel/v1/big1/building/+/counts");

    let mut config = broker_config(broker.port, "faults-big1", &dir.join("spool"));
    config.subscriptions = vec!["lintel/v1/big1/building/+/occupancy/set".into()];
    let publisher = Publisher::start(config, status("big1", NodeState::Offline, &[])).unwrap();
    let published: Vec<u64> = (0..5).map(|minute| publisher.publish(counts("big1", minute)).unwrap()).collect();
    assert!(publisher.flush(DEADLINE), "the spool did not drain: {:?}", publisher.status());
    assert!(wait_until(DEADLINE, || publisher.metrics().received_refused >= 1), "{:?}", publisher.metrics());

    // A small command still arrives on the same connection.
    let small = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-t", topic, "-m", "{}"])
        .status()
        .unwrap();
    assert!(small.success());
    let mut received = Vec::new();
    assert!(
        wait_until(DEADLINE, || {
            received.extend(publisher.received());
            !received.is_empty()
        }),
        "the small command did not arrive"
    );
    assert_eq!(received[0].payload, b"{}");
    let mut seen = Vec::new();
    assert!(wait_until(DEADLINE, || {
        seqs(&subscriber, &mut seen);
        seen.len() >= published.len()
    }));
    assert_eq!(seen, published);

    let metrics = publisher.metrics();
    assert_eq!(metrics.connects, 1, "the connection was lost: {metrics:?} {:?}", publisher.status());
    assert_eq!(metrics.received_refused, 1, "{metrics:?}");
    assert!(publisher.received().iter().all(|m| m.payload.len() < 1024));
    let refused = log_lines(&["refused", "big1/building/b7/occupancy/set"]);
    assert_eq!(refused.len(), 1, "{refused:?}");
}

/// A retained message over the incoming limit (which bounds memory) cannot be skipped by the MQTT
/// client: the subscriptions pause instead of looping, logged once, and publishing goes on.
#[test]
fn a_retained_message_over_the_packet_limit_pauses_subscriptions_not_publishing() {
    captured_logs();
    let dir = scratch_dir("faults-huge");
    let broker = Broker::start(&dir);
    retain(broker.port, "lintel/v1/big2/building/b7/occupancy/set", 2 << 20, &dir);
    let subscriber = Subscriber::start(broker.port, "lintel/v1/big2/building/+/counts");

    let mut config = broker_config(broker.port, "faults-big2", &dir.join("spool"));
    config.subscriptions = vec!["lintel/v1/big2/building/+/occupancy/set".into()];
    let publisher = Publisher::start(config, status("big2", NodeState::Offline, &[])).unwrap();
    let published: Vec<u64> = (0..5).map(|minute| publisher.publish(counts("big2", minute)).unwrap()).collect();
    assert!(publisher.flush(DEADLINE), "the spool did not drain: {:?}", publisher.status());
    let mut seen = Vec::new();
    assert!(wait_until(DEADLINE, || {
        seqs(&subscriber, &mut seen);
        seen.len() >= published.len()
    }));
    assert_eq!(seen, published, "all, in order (the one in flight may come twice)");

    // No reconnect loop: a few seconds later the connection still stands.
    std::thread::sleep(Duration::from_secs(3));
    let status = publisher.status();
    let metrics = publisher.metrics();
    assert!(status.connected, "{status:?}");
    assert!(metrics.connects <= 3, "a reconnect loop: {metrics:?}");
    assert!(publisher.publish(counts("big2", 9)).is_ok());
    assert!(publisher.flush(DEADLINE), "{:?}", publisher.status());
    let logged = log_lines(&["ERROR", "over the 1024 KiB limit", "big2"]);
    assert_eq!(logged.len(), 1, "{logged:?}");
}

/// A huge retained message on one building's command topic pauses that topic alone: the other
/// building's retained command arrives at once, and after the pause the first topic is read
/// again, so the genuine command that replaced the huge one arrives too.
#[test]
fn a_huge_retained_message_pauses_its_own_topic_which_is_read_again_after_the_pause() {
    captured_logs();
    let dir = scratch_dir("faults-huge-one");
    let broker = Broker::start(&dir);
    let (b7, b8) = ("lintel/v1/big3/building/b7/occupancy/set", "lintel/v1/big3/building/b8/occupancy/set");
    retain(broker.port, b7, 2 << 20, &dir);
    let small = |topic: &str, payload: &str| {
        let sent = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-r", "-t", topic, "-m", payload])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    small(b8, "b8-genuine");

    let mut config = broker_config(broker.port, "faults-big3", &dir.join("spool"));
    config.subscriptions = vec![b7.into(), b8.into()];
    config.subscribe_hold_off = Duration::from_secs(4);
    let publisher = Publisher::start(config, status("big3", NodeState::Offline, &[])).unwrap();
    let mut received = Vec::new();
    let arrived = |received: &mut Vec<lintel::publish::Received>, payload: &[u8]| {
        received.extend(publisher.received());
        received.iter().any(|r| r.payload == payload)
    };
    let started = Instant::now();
    assert!(wait_until(DEADLINE, || arrived(&mut received, b"b8-genuine")), "b8's command never came");
    assert!(started.elapsed() < Duration::from_secs(4), "b8 waited for b7's pause: {:?}", started.elapsed());
    let blamed = log_lines(&["ERROR", "over the 1024 KiB limit", "big3/building/b7/occupancy/set", "pauses for 4 s"]);
    assert_eq!(blamed.len(), 1, "{blamed:?}");

    // The operator replaces the huge retained message with a genuine command.
    small(b7, "b7-genuine");
    assert!(wait_until(DEADLINE, || arrived(&mut received, b"b7-genuine")), "b7's command was never read again");
    assert!(publisher.publish(counts("big3", 1)).is_ok());
    assert!(publisher.flush(DEADLINE), "{:?}", publisher.status());
}

// ---------------------------------------------------------------- a flood of commands

/// Commands nobody reads are held up to a bound; the rest are dropped and counted, logged once
/// per burst, and the connection (and publishing) carries on.
#[test]
fn received_messages_beyond_the_queue_are_dropped_and_counted() {
    captured_logs();
    let dir = scratch_dir("faults-flood");
    let broker = Broker::start(&dir);
    let mut config = broker_config(broker.port, "faults-flood", &dir.join("spool"));
    config.subscriptions = vec!["lintel/v1/flood/building/+/occupancy/set".into()];
    let publisher = Publisher::start(config, status("flood", NodeState::Offline, &[])).unwrap();
    assert!(wait_until(DEADLINE, || publisher.status().connected));
    std::thread::sleep(Duration::from_millis(500)); // the SUBSCRIBE follows the CONNACK

    let sent = RECEIVED_QUEUE + 500;
    let mut flood = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-l"])
        .args(["-t", "lintel/v1/flood/building/b7/occupancy/set"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines: String = (0..sent).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    flood.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    assert!(flood.wait().unwrap().success());
    assert!(wait_until(DEADLINE, || publisher.metrics().received_dropped >= 500), "{:?}", publisher.metrics());
    let received = publisher.received();
    assert_eq!(received.len(), RECEIVED_QUEUE);
    assert_eq!(received[0].payload, b"{\"n\":0}", "the first ones are kept, in order");
    assert_eq!(publisher.metrics().received_dropped, 500);
    assert_eq!(publisher.metrics().connects, 1);
    assert_eq!(log_lines(&["WARN", "received MQTT messages wait unread", "flood"]).len(), 1);

    // Read, the queue takes messages again.
    let one = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-m", "{}"])
        .args(["-t", "lintel/v1/flood/building/b7/occupancy/set"])
        .status()
        .unwrap();
    assert!(one.success());
    let mut again = Vec::new();
    assert!(wait_until(DEADLINE, || {
        again.extend(publisher.received());
        !again.is_empty()
    }));
    assert_eq!(again[0].payload, b"{}");
}

// ---------------------------------------------------------------- a fake broker

/// What the fake broker saw: per connection, the payloads of the PUBLISH packets.
#[derive(Default)]
struct Seen {
    connections: usize,
    publishes: Vec<(usize, Vec<u8>)>,
}

/// Just enough MQTT 3.1.1: CONNACK, SUBACK and PINGRESP, never a PUBACK. With `close_at_once`,
/// every connection is closed right after its CONNACK.
fn fake_broker(close_at_once: bool) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let connection = {
                let mut seen = shared.lock().unwrap();
                seen.connections += 1;
                seen.connections
            };
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || serve(stream, connection, close_at_once, &shared));
        }
    });
    (port, seen)
}

fn serve(mut stream: TcpStream, connection: usize, close_at_once: bool, seen: &Mutex<Seen>) {
    while let Some((header, body)) = read_packet(&mut stream) {
        let reply: Vec<u8> = match header >> 4 {
            1 => vec![0x20, 0x02, 0x00, 0x00], // CONNECT → CONNACK, accepted
            3 => {
                // PUBLISH: topic length, topic, packet id (QoS 1), payload. No PUBACK, ever.
                let topic_len = u16::from_be_bytes([body[0], body[1]]) as usize;
                let payload = body[2 + topic_len + 2..].to_vec();
                seen.lock().unwrap().publishes.push((connection, payload));
                continue;
            }
            8 => vec![0x90, 0x03, body[0], body[1], 0x01], // SUBSCRIBE → SUBACK, QoS 1
            12 => vec![0xD0, 0x00],                        // PINGREQ → PINGRESP
            _ => continue,                                 // DISCONNECT and the rest: nothing
        };
        if stream.write_all(&reply).is_err() || (close_at_once && header >> 4 == 1) {
            return;
        }
    }
}

fn read_packet(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).ok()?;
    let header = byte[0];
    let (mut length, mut shift) = (0usize, 0);
    loop {
        stream.read_exact(&mut byte).ok()?;
        length |= ((byte[0] & 0x7F) as usize) << shift;
        shift += 7;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some((header, body))
}

/// A broker that answers pings but never acknowledges held the queue forever. Now the message
/// times out, the publisher connects again and sends the same message again: nothing is lost.
#[test]
fn a_broker_that_never_acknowledges_is_left_after_the_ack_timeout_and_the_message_sent_again() {
    let (port, seen) = fake_broker(false);
    let spool = tempfile::tempdir().unwrap();
    let mut config = broker_config(port, "faults-noack", spool.path());
    config.ack_timeout = Duration::from_secs(2);
    config.subscriptions = vec!["lintel/v1/s1/building/+/occupancy/set".into()];
    let publisher = Publisher::start(config, status("s1", NodeState::Offline, &[])).unwrap();
    publisher.publish(counts("s1", 0)).unwrap();

    // The same bytes on two connections: a retry after a reconnection.
    let sent_twice = || {
        let seen = seen.lock().unwrap();
        let first = seen.publishes.first().cloned();
        first.is_some_and(|(connection, payload)| seen.publishes.iter().any(|(c, p)| *c != connection && *p == payload))
    };
    assert!(wait_until(DEADLINE, sent_twice), "not sent again: {} connections", seen.lock().unwrap().connections);
    let status = publisher.status();
    assert_eq!(status.spooled, 1, "an unacknowledged message left the spool: {status:?}");
    assert_eq!(publisher.metrics().sent, 0);
    assert!(publisher.metrics().connects >= 2, "{:?}", publisher.metrics());
}

/// A broker that closes every connection right after accepting it: the backoff must go on
/// growing (a connection that lived no time is no healthy connection), not restart at its minimum.
/// Over MQTT 3.1.1 this is also what a second client with the same id looks like.
#[test]
fn connections_closed_at_once_do_not_reset_the_backoff() {
    let (port, seen) = fake_broker(true);
    let spool = tempfile::tempdir().unwrap();
    // min 100 ms, max 2 s: resetting at every CONNACK would make about 50 connections in 6 s,
    // a growing backoff at most 10.
    let publisher =
        Publisher::start(broker_config(port, "faults-close", spool.path()), status("s1", NodeState::Offline, &[]))
            .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let connections = seen.lock().unwrap().connections;
    assert!(connections >= 3, "hardly tried: {connections}");
    assert!(connections <= 20, "the backoff was reset: {connections} connections in 6 s");
    assert!(publisher.status().take_overs >= 1, "{:?}", publisher.status());
}

// ---------------------------------------------------------------- a clean stop

/// After a clean stop that published an `offline` status last, that status (with its cameras)
/// is the retained one: the publisher said DISCONNECT, so the broker discarded the older will.
#[test]
fn a_clean_stop_leaves_the_last_offline_status_retained_not_the_will() {
    let dir = scratch_dir("faults-stop");
    let broker = Broker::start(&dir);
    let publisher = Publisher::start(
        broker_config(broker.port, "faults-stop", &dir.join("spool")),
        status("stop", NodeState::Offline, &[]),
    )
    .unwrap();
    publisher.publish(status("stop", NodeState::Online, &["cam-07"])).unwrap();
    let last = publisher.publish(status("stop", NodeState::Offline, &["cam-07"])).unwrap();
    assert!(publisher.flush(DEADLINE), "{:?}", publisher.status());
    drop(publisher);
    std::thread::sleep(Duration::from_millis(500));

    // A fresh subscriber gets the retained status.
    let output = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-t", "lintel/v1/stop/node/edge-01/status"])
        .args(["-C", "1", "-W", "10"])
        .output()
        .unwrap();
    let retained: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a retained status");
    assert_eq!(retained["seq"].as_u64(), Some(last), "the will replaced the node's last status: {retained}");
    assert_eq!(retained["state"], "offline");
    assert_eq!(retained["cameras"][0]["id"], "cam-07", "{retained}");
}

// ---------------------------------------------------------------- two nodes, one client id

/// Two publishers with one client id knock each other off the broker: each counts it, and logs it
/// once, naming the client id.
fn same_client_id(version: MqttVersion, name: &str) {
    captured_logs();
    let dir = scratch_dir(name);
    let broker = Broker::start(&dir);
    let mut config = broker_config(broker.port, name, &dir.join("spool-a"));
    config.version = version;
    let client_id = config.client_id.clone();
    let a = Publisher::start(config.clone(), status("s1", NodeState::Offline, &[])).unwrap();
    config.spool_dir = dir.join("spool-b");
    let b = Publisher::start(config, status("s1", NodeState::Offline, &[])).unwrap();

    let take_overs = || a.status().take_overs + b.status().take_overs;
    assert!(wait_until(Duration::from_secs(60), || take_overs() >= 3), "not detected: {}", take_overs());
    drop((a, b));
    let logged = log_lines(&["ERROR", &client_id, "two nodes may share a node id"]);
    assert!((1..=2).contains(&logged.len()), "logged {} times (once per publisher at most): {logged:?}", logged.len());
}

#[test]
fn two_publishers_with_one_client_id_count_take_overs_mqtt311() {
    same_client_id(MqttVersion::V311, "faults-twin3");
}

#[test]
fn two_publishers_with_one_client_id_count_take_overs_mqtt5() {
    same_client_id(MqttVersion::V5, "faults-twin5");
}
