//! The publisher against a real mosquitto on 127.0.0.1: delivery, broker outages, restarts of
//! Lintel, a refused login and a full spool. Each test starts its own broker on a free port.

mod common;

use lintel_testkit::free_port;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{broker_config, captured_logs, wait_until};
use lintel::publish::{
    Alert, AlertKind, CameraState, CameraStatus, Counts, EntranceSummary, IntervalBounds, Message, NodeState,
    NodeStatus, Occupancy, Publisher, SeqNo, UtcTime,
};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

/// Generous: the machines are shared; nothing here asserts on timing.
const DEADLINE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- broker

fn mosquitto_binary() -> PathBuf {
    let candidates = [PathBuf::from("/usr/sbin/mosquitto"), PathBuf::from("/usr/bin/mosquitto")];
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join("mosquitto")).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .expect("mosquitto not found (looked in /usr/sbin, /usr/bin and PATH): run scripts/setup to install it")
}

/// A mosquitto process with its own config, password file and persistence in a temp dir; killed on drop.
struct Broker {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Broker {
    /// Anonymous access; persistence on, so a subscriber's session and queued messages survive a restart.
    fn start() -> Broker {
        Self::start_on(free_port(), None)
    }

    /// With `login`, only that user and password are let in.
    fn start_on(port: u16, login: Option<(&str, &str)>) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let mut conf = format!(
            "listener {port} 127.0.0.1\npersistence true\npersistence_location {d}/\nlog_dest stderr\n\
             # Stays root when run as root (else it drops to `mosquitto`, who cannot read this temp dir).\nuser root\n"
        );
        match login {
            None => conf.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let file = dir.path().join("passwd");
                let status = Command::new("mosquitto_passwd")
                    .args(["-b", "-c"])
                    .arg(&file)
                    .args([user, password])
                    .status()
                    .expect("mosquitto_passwd not found: run scripts/setup");
                assert!(status.success(), "mosquitto_passwd failed");
                conf.push_str(&format!("allow_anonymous false\npassword_file {}\n", file.display()));
            }
        }
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        let mut broker = Broker { port, dir, child: None };
        broker.run();
        broker
    }

    fn run(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let mut child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start mosquitto: run scripts/setup");
        let deadline = Instant::now() + DEADLINE;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("mosquitto exited ({status}):\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "mosquitto does not listen on {}:\n{}", self.port, self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Stops mosquitto the way an operator would (SIGTERM: it saves its sessions and queues).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + DEADLINE;
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------- subscriber

/// A real MQTT client (rumqttc) subscribed with QoS 1, collecting `(topic, JSON)` pairs.
struct Subscriber {
    received: mpsc::Receiver<(String, Value)>,
    subscribed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Subscriber {
    /// `persistent`: a session the broker keeps (and queues for) while this client is away.
    fn start(port: u16, filter: &str, client_id: &str, persistent: bool) -> Subscriber {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options.set_clean_session(!persistent);
        Self::connect(options, filter)
    }

    fn connect(mut options: MqttOptions, filter: &str) -> Subscriber {
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut connection) = Client::new(options, 16);
        let (tx, received) = mpsc::channel();
        let subscribed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, stopping, filter) = (subscribed.clone(), stop.clone(), filter.to_string());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match connection.recv_timeout(Duration::from_millis(50)) {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                        client.subscribe(filter.as_str(), QoS::AtLeastOnce).unwrap()
                    }
                    Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => flag.store(true, Ordering::Relaxed),
                    Ok(Ok(Event::Incoming(Packet::Publish(publish)))) => {
                        let json = serde_json::from_slice(&publish.payload).expect("a JSON payload");
                        let _ = tx.send((publish.topic.clone(), json));
                    }
                    Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
                    Ok(Err(_)) => std::thread::sleep(Duration::from_millis(100)),
                    Err(rumqttc::RecvTimeoutError::Disconnected) => break,
                }
            }
        });
        let subscriber = Subscriber { received, subscribed, stop, thread: Some(thread) };
        assert!(
            wait_until(DEADLINE, || subscriber.subscribed.load(Ordering::Relaxed)),
            "the test subscriber did not subscribe"
        );
        subscriber
    }

    /// The next `n` messages whose topic ends with `suffix` (others are kept aside and returned too).
    fn take(&self, suffix: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + DEADLINE;
        let mut matching = Vec::new();
        while matching.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.received.recv_timeout(left) {
                Ok((topic, json)) if topic.ends_with(suffix) => matching.push(json),
                Ok(_) => {}
                Err(_) => panic!("got {} of {n} messages on *{suffix}: {matching:?}", matching.len()),
            }
        }
        matching
    }

    /// Whatever else arrives within a short while (to show nothing was sent twice).
    fn extra(&self, suffix: &str) -> Vec<Value> {
        let mut extra = Vec::new();
        while let Ok((topic, json)) = self.received.recv_timeout(Duration::from_millis(500)) {
            if topic.ends_with(suffix) {
                extra.push(json);
            }
        }
        extra
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------- helpers

fn node_status(state: NodeState) -> NodeStatus {
    NodeStatus {
        site: "s1".into(),
        node: "edge-01".into(),
        seq: 0,
        at: UtcTime::now(),
        state,
        cameras: vec![CameraStatus { id: "cam-07".into(), state: CameraState::Live }],
        version: None,
        web: None,
    }
}

fn counts(minute: i64) -> Counts {
    let start = 1_795_600_800 + 60 * minute;
    Counts {
        site: "s1".into(),
        building: "b7".into(),
        node: "edge-01".into(),
        seq: 0,
        interval: IntervalBounds {
            start: UtcTime::from_unix_seconds(start),
            end: UtcTime::from_unix_seconds(start + 60),
        },
        entries: minute as u64 % 5,
        exits: 1,
        occupancy: 10 + minute as u64,
        entrances: vec![EntranceSummary {
            id: "north".into(),
            entries: minute as u64 % 5,
            exits: 1,
            cameras: vec!["cam-07".into()],
            healthy: true,
        }],
    }
}

fn seqs(messages: &[Value]) -> Vec<SeqNo> {
    messages.iter().map(|m| m["seq"].as_u64().expect("a seq")).collect()
}

/// Checks a received message against its JSON Schema in `schemas/`.
fn assert_valid(message: &Value) {
    let tag = message["schema"].as_str().expect("a schema tag");
    let name = tag.trim_start_matches("lintel.").trim_end_matches("/1");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../schemas/{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    let errors: Vec<_> = validator.iter_errors(message).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{message} is not valid against {}: {errors:?}", path.display());
}

// ---------------------------------------------------------------- tests

#[test]
fn published_messages_arrive_as_valid_json_in_seq_order_and_the_will_reports_offline() {
    let broker = Broker::start();
    let spool = tempfile::tempdir().unwrap();
    let subscriber = Subscriber::start(broker.port, "lintel/v1/s1/#", "sub-a", false);
    let publisher =
        Publisher::start(broker_config(broker.port, "a", spool.path()), node_status(NodeState::Offline)).unwrap();

    let mut published = vec![publisher.publish(node_status(NodeState::Online)).unwrap()];
    for minute in 0..5 {
        published.push(publisher.publish(counts(minute)).unwrap());
    }
    published.push(
        publisher
            .publish(Occupancy {
                site: "s1".into(),
                building: "b7".into(),
                node: "edge-01".into(),
                seq: 0,
                at: UtcTime::now(),
                occupancy: 14,
                capacity: Some(100),
            })
            .unwrap(),
    );
    published.push(
        publisher
            .publish(Alert {
                site: "s1".into(),
                node: "edge-01".into(),
                seq: 0,
                at: UtcTime::now(),
                kind: AlertKind::OverCapacity,
                subject: "b7".into(),
                message: "occupancy 14 above capacity 10".into(),
            })
            .unwrap(),
    );
    assert!(published.windows(2).all(|w| w[1] == w[0] + 1), "{published:?}");

    let status = subscriber.take("/node/edge-01/status", 1);
    let counts = subscriber.take("/building/b7/counts", 5);
    let occupancy = subscriber.take("/building/b7/occupancy", 1);
    let alerts = subscriber.take("/alerts", 1);
    let mut all: Vec<Value> = [status, counts.clone(), occupancy, alerts].concat();
    all.sort_by_key(|m| m["seq"].as_u64());
    assert_eq!(seqs(&all), published);
    all.iter().for_each(assert_valid);
    assert_eq!(all[0]["state"], "online");
    assert_eq!(counts[0]["interval"]["start"], "2026-11-25T10:00:00Z");
    assert!(seqs(&counts).windows(2).all(|w| w[0] < w[1]), "counts out of order: {:?}", seqs(&counts));

    assert!(publisher.flush(DEADLINE), "the spool did not drain: {:?}", publisher.status());
    let status = publisher.status();
    assert!(status.connected && status.spooled == 0 && status.last_error.is_none(), "{status:?}");
    let metrics = publisher.metrics();
    assert_eq!((metrics.sent, metrics.spooled), (8, 8), "{metrics:?}");

    // The node goes away without a DISCONNECT: the broker publishes the last will, retained.
    drop(publisher);
    let will = subscriber.take("/node/edge-01/status", 1).remove(0);
    assert_valid(&will);
    assert_eq!(will["state"], "offline");
    assert!(will["seq"].as_u64().unwrap() < published[0], "the will's seq is reserved at start: {will}");
}

#[test]
fn a_broker_outage_loses_nothing_and_duplicates_nothing() {
    let mut broker = Broker::start();
    let spool = tempfile::tempdir().unwrap();
    // A persistent session: the broker queues for this subscriber across its own restart.
    let subscriber = Subscriber::start(broker.port, "lintel/v1/s1/building/+/counts", "sub-b", true);
    let publisher =
        Publisher::start(broker_config(broker.port, "b", spool.path()), node_status(NodeState::Offline)).unwrap();

    let first = publisher.publish(counts(0)).unwrap();
    assert_eq!(seqs(&subscriber.take("/counts", 1)), [first]);
    assert!(publisher.flush(DEADLINE));

    broker.stop();
    assert!(wait_until(DEADLINE, || !publisher.status().connected), "{:?}", publisher.status());
    let during: Vec<SeqNo> = (1..=20).map(|minute| publisher.publish(counts(minute)).unwrap()).collect();
    assert_eq!(publisher.status().spooled, 20);
    assert!(
        wait_until(DEADLINE, || publisher.status().last_error.is_some_and(|e| e.contains("cannot reach MQTT broker"))),
        "{:?}",
        publisher.status()
    );
    assert_eq!(publisher.status().spooled, 20);

    broker.restart();
    let arrived = seqs(&subscriber.take("/counts", 20));
    assert_eq!(arrived, during, "all 20, in order, none twice");
    assert!(subscriber.extra("/counts").is_empty(), "something arrived twice");
    assert!(publisher.flush(DEADLINE), "the spool did not drain: {:?}", publisher.status());
    let status = publisher.status();
    assert!(status.connected && status.spooled == 0 && status.spool_bytes == 0, "{status:?}");
    assert!(publisher.metrics().connects >= 2);
}

#[test]
fn retained_messages_beside_the_spool_wait_out_an_outage_and_take_no_seq() {
    let mut broker = Broker::start();
    let spool = tempfile::tempdir().unwrap();
    let publisher =
        Publisher::start(broker_config(broker.port, "r", spool.path()), node_status(NodeState::Offline)).unwrap();
    let retained = publisher.retained_sender();
    let first = publisher.publish(counts(0)).unwrap();
    assert!(publisher.flush(DEADLINE));

    broker.stop();
    assert!(wait_until(DEADLINE, || !publisher.status().connected), "{:?}", publisher.status());
    let topic = "lintel/v1/s1/node/edge-01/alert_ack/camera_offline/7";
    retained.send(topic.into(), br#"{"ack": 1}"#.to_vec());
    let second = publisher.publish(counts(1)).unwrap();
    assert_eq!(second, first + 1, "the node's seq has no gap for it");

    broker.restart();
    assert!(wait_until(DEADLINE, || retained.sent() == 1), "never acknowledged: {:?}", publisher.status());
    assert!(publisher.flush(DEADLINE), "{:?}", publisher.status());
    // Retained: a reader that comes later (a console started afterwards) gets it.
    let late = Subscriber::start(broker.port, "lintel/v1/s1/node/+/alert_ack/#", "sub-r", false);
    assert_eq!(late.take("/camera_offline/7", 1)[0]["ack"], 1);
    assert_eq!(retained.sent(), 1, "sent once");
}

#[test]
fn a_restarted_publisher_sends_what_the_last_one_spooled_and_continues_the_seq() {
    let port = free_port();
    let spool = tempfile::tempdir().unwrap();
    // No broker yet: everything stays in the spool when this publisher goes away.
    let before: Vec<SeqNo> = {
        let publisher =
            Publisher::start(broker_config(port, "c1", spool.path()), node_status(NodeState::Offline)).unwrap();
        let seqs = (0..5).map(|minute| publisher.publish(counts(minute)).unwrap()).collect();
        assert!(wait_until(DEADLINE, || publisher.status().last_error.is_some()));
        assert_eq!(publisher.status().spooled, 5);
        seqs
    };

    let broker = Broker::start_on(port, None);
    let subscriber = Subscriber::start(broker.port, "lintel/v1/s1/building/+/counts", "sub-c", false);
    let publisher = Publisher::start(broker_config(port, "c2", spool.path()), node_status(NodeState::Offline)).unwrap();
    let after = publisher.publish(counts(5)).unwrap();
    assert!(after > *before.last().unwrap(), "seq reused: {after} after {before:?}");

    let arrived = seqs(&subscriber.take("/counts", 6));
    assert_eq!(arrived, [before.clone(), vec![after]].concat());
    assert!(subscriber.extra("/counts").is_empty(), "something arrived twice");
    assert!(publisher.flush(DEADLINE), "{:?}", publisher.status());
}

#[test]
fn a_refused_login_is_one_clear_line_without_the_password_and_messages_stay_spooled() {
    let logs = captured_logs();
    let (user, good, bad) = ("lintel-node", "c0rrect-Horse-Battery", "wr0ng-Pa55word-Zebra");
    let broker = Broker::start_on(free_port(), Some((user, good)));
    let spool = tempfile::tempdir().unwrap();
    let mut wrong = broker_config(broker.port, "d", spool.path());
    wrong.username = Some(user.into());
    wrong.password = Some(bad.into());
    assert!(!format!("{wrong:?}").contains(bad), "Debug shows the password");

    let before: Vec<SeqNo> = {
        let publisher = Publisher::start(wrong.clone(), node_status(NodeState::Offline)).unwrap();
        let seqs = (0..3).map(|minute| publisher.publish(counts(minute)).unwrap()).collect();
        assert!(
            wait_until(DEADLINE, || publisher.status().last_error.is_some_and(|e| e.contains("refused the login"))),
            "{:?}",
            publisher.status()
        );
        let status = publisher.status();
        let error = status.last_error.clone().unwrap();
        assert!(!error.contains(bad) && !error.contains(good) && !error.contains('\n'), "{error}");
        assert!(error.contains(user) && error.contains(&broker.port.to_string()), "{error}");
        assert!(!status.connected && status.spooled == 3, "{status:?}");
        seqs
    };
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logged.contains("ERROR") && logged.contains("refused the login"), "not logged as an error:\n{logged}");
    assert!(!logged.contains(bad) && !logged.contains(good), "a password was logged:\n{logged}");

    // With the right password the same spool goes out: the refusal really was about the login.
    let mut options = MqttOptions::new("sub-d", "127.0.0.1", broker.port);
    options.set_credentials(user, good);
    let subscriber = Subscriber::connect(options, "lintel/v1/s1/building/+/counts");
    let mut right = wrong;
    right.password = Some(good.into());
    let publisher = Publisher::start(right, node_status(NodeState::Offline)).unwrap();
    assert_eq!(seqs(&subscriber.take("/counts", 3)), before);
    assert!(publisher.flush(DEADLINE), "{:?}", publisher.status());
}

#[test]
fn a_full_spool_refuses_new_messages_with_a_clear_error() {
    let spool = tempfile::tempdir().unwrap();
    let mut config = broker_config(free_port(), "e", spool.path());
    config.spool_max_bytes = 4096;
    let publisher = Publisher::start(config, node_status(NodeState::Offline)).unwrap();
    let mut accepted = 0;
    let error = loop {
        match publisher.publish(counts(accepted)) {
            Ok(_) => accepted += 1,
            Err(error) => break error.to_string(),
        }
        assert!(accepted < 1000, "the spool never filled");
    };
    assert!(accepted >= 5, "{accepted}");
    assert!(error.contains("is full") && error.contains(&spool.path().display().to_string()), "{error}");
    let status = publisher.status();
    assert!(status.fill_ratio > 0.8 && status.spooled == accepted as usize, "{status:?}");

    // An unusable spool directory stops the start, with one line naming it.
    let file = spool.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let mut bad = self::broker_config(1883, "e2", &file.join("spool"));
    bad.spool_max_bytes = 4096;
    let error = Publisher::start(bad, node_status(NodeState::Offline)).err().expect("an error").to_string();
    assert!(error.contains("a-file/spool") && !error.contains('\n'), "{error}");
}

#[test]
fn messages_keep_their_schema_through_the_broker() {
    // The payload that arrives is byte for byte the one spooled: a consumer can parse it as a `Message`.
    let broker = Broker::start();
    let spool = tempfile::tempdir().unwrap();
    let subscriber = Subscriber::start(broker.port, "lintel/v1/s1/alerts", "sub-f", false);
    let publisher =
        Publisher::start(broker_config(broker.port, "f", spool.path()), node_status(NodeState::Offline)).unwrap();
    for kind in AlertKind::ALL {
        publisher
            .publish(Alert {
                site: "s1".into(),
                node: "edge-01".into(),
                seq: 0,
                at: UtcTime::now(),
                kind,
                subject: "cam-07".into(),
                message: format!("{kind:?}"),
            })
            .unwrap();
    }
    for (json, kind) in subscriber.take("/alerts", AlertKind::ALL.len()).iter().zip(AlertKind::ALL) {
        assert_valid(json);
        match serde_json::from_value::<Message>(json.clone()).unwrap() {
            Message::Alert(alert) => assert_eq!(alert.kind, kind),
            other => panic!("not an alert: {other:?}"),
        }
    }
}

#[test]
fn a_message_leaves_the_spool_only_when_the_broker_acknowledges_it() {
    // A "broker" that accepts the connection and every PUBLISH but never sends a PubAck.
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = [0u8; 4096];
        let _connect = stream.read(&mut buffer).unwrap();
        stream.write_all(&[0x20, 0x02, 0x00, 0x00]).unwrap(); // CONNACK, accepted
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buffer[..n]);
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(broker_config(port, "g", spool.path()), node_status(NodeState::Offline)).unwrap();
    for minute in 0..3 {
        publisher.publish(counts(minute)).unwrap();
    }
    let on_the_wire = |received: &Mutex<Vec<u8>>| {
        let bytes = received.lock().unwrap();
        bytes.windows(b"building/b7/counts".len()).any(|w| w == b"building/b7/counts")
    };
    assert!(wait_until(DEADLINE, || on_the_wire(&received)), "the PUBLISH never reached the fake broker");
    std::thread::sleep(Duration::from_millis(300));
    let status = publisher.status();
    assert!(status.connected && status.spooled == 3, "{status:?}");
    assert_eq!(publisher.metrics().sent, 0);
    // One in flight at a time: the second message waits for the first one's PubAck.
    let topics = String::from_utf8_lossy(&received.lock().unwrap()).matches("building/b7/counts").count();
    assert_eq!(topics, 1, "more than one message in flight");
}
