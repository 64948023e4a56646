//! The operators' console end to end: nodes' status and alerts through a real mosquitto (published
//! with `mosquitto_pub` as nodes would, a last will fired by killing a real MQTT client), into
//! `lintel-city`, out of its API, its metrics, MQTT (`lintel.alert_ack/1`) and its page in a real
//! Chromium.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lintel_testkit::browser::{Browser, http};
use lintel_testkit::{Broker, Subscriber, free_port, scratch_dir, wait_until, workspace};
use lintel_wire::UtcTime;
use serde_json::{Value, json};

const OPERATOR: &str = "the-operators-token-of-the-tests";

/// `lintel-city` until its first line; killed when dropped.
struct City {
    child: Child,
    port: u16,
}

impl City {
    fn start(dir: &Path, mqtt: u16, more: &[&str]) -> Self {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
            .arg("--grid")
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--mqtt", &format!("127.0.0.1:{mqtt}"), "--web", &format!("127.0.0.1:{port}")])
            .args(["--store", &format!("sqlite:{}", dir.join("city.db").display()), "--run-for-s", "200"])
            .args(if more.contains(&"--offline-after-s") { &[][..] } else { &["--offline-after-s", "3"][..] })
            .args(["--consumer-id", "console-test"])
            .args(more)
            .env("LINTEL_TEST_OPERATOR_TOKEN", OPERATOR)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("density: http://"), "{line:?}");
        Self { child, port }
    }

    fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
        let (status, body) = http("GET", self.port, path, &headers, None);
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    fn alerts(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/api/alerts?{query}"), None);
        assert_eq!(status, 200, "{body}");
        body["incidents"].as_array().unwrap().clone()
    }

    fn node(&self, node: &str) -> Option<Value> {
        let (_, body) = self.get("/api/nodes", None);
        body["nodes"].as_array()?.iter().find(|n| n["node"] == node).cloned()
    }
}

impl Drop for City {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn publish(port: u16, topic: &str, payload: &[u8], retain: bool) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-s"])
        .args(if retain { &["-r"][..] } else { &[][..] })
        .stdin(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub is not installed: run scripts/setup");
    child.stdin.take().unwrap().write_all(payload).unwrap();
    assert!(child.wait().unwrap().success(), "mosquitto_pub could not publish on {topic}");
}

fn at(seconds: i64) -> String {
    UtcTime::from_unix_seconds(seconds).to_string()
}

fn status(node: &str, seq: u64, state: &str, cameras: &[(&str, &str)]) -> Value {
    let cameras: Vec<Value> = cameras.iter().map(|(id, s)| json!({"id": id, "state": s})).collect();
    json!({"schema": "lintel.node_status/1", "site": "pets", "node": node, "seq": seq,
           "at": UtcTime::now(), "state": state, "cameras": cameras})
}

fn publish_status(port: u16, message: &Value) {
    let topic = format!("lintel/v1/pets/node/{}/status", message["node"].as_str().unwrap());
    publish(port, &topic, message.to_string().as_bytes(), true);
}

fn publish_alert(port: u16, node: &str, seq: u64, at_s: i64, kind: &str, subject: &str) {
    let alert = json!({"schema": "lintel.alert/1", "site": "pets", "node": node, "seq": seq, "at": at(at_s),
                       "kind": kind, "subject": subject, "message": format!("{kind} {subject}")});
    publish(port, "lintel/v1/pets/alerts", alert.to_string().as_bytes(), false);
}

fn publish_counts(port: u16, node: &str, seq: u64, healthy: bool) {
    let now = UtcTime::now().unix_seconds();
    let counts = json!({"schema": "lintel.counts/1", "site": "pets", "building": "hall", "node": node, "seq": seq,
        "interval": {"start": at(now - 60), "end": at(now)}, "entries": 3, "exits": 1, "occupancy": 12,
        "entrances": [{"id": "door", "entries": 3, "exits": 1, "cameras": ["cam-1"], "healthy": healthy}]});
    publish(port, "lintel/v1/pets/building/hall/counts", counts.to_string().as_bytes(), false);
}

fn metric(city: &City, line_start: &str) -> Option<u64> {
    let (_, body) = http("GET", city.port, "/metrics", &[], None);
    body.lines().find(|l| l.starts_with(line_start))?.rsplit(' ').next()?.parse().ok()
}

fn ack_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(workspace("schemas/alert_ack.schema.json")).unwrap();
    jsonschema::options().should_validate_formats(true).build(&serde_json::from_str(&text).unwrap()).unwrap()
}

#[test]
fn alerts_become_incidents_nodes_go_offline_and_acknowledgements_travel() {
    let dir = scratch_dir("console-mqtt");
    let broker = Broker::start(&dir);
    let acks = Subscriber::start(broker.port, "lintel/v1/+/node/+/alert_ack/#");
    let city = City::start(&dir, broker.port, &[]);

    // A node with two cameras, its counts (cam-1 serves the hall), then a camera stopped and back.
    publish_status(broker.port, &status("edge-a", 10, "online", &[("cam-1", "live"), ("cam-2", "retrying")]));
    // The retained status seen: the consumer is subscribed, and live messages reach it.
    assert!(wait_until(Duration::from_secs(10), || city.node("edge-a").is_some()));
    publish_counts(broker.port, "edge-a", 11, false);
    let start = UtcTime::now().unix_seconds() - 100;
    publish_alert(broker.port, "edge-a", 12, start, "camera_offline", "cam-1");
    assert!(wait_until(Duration::from_secs(10), || !city.alerts("state=active&kind=camera_offline").is_empty()));
    let open = &city.alerts("state=active&kind=camera_offline")[0];
    assert_eq!((open["building"].as_str(), open["open"].as_bool()), (Some("pets/hall"), Some(true)), "{open}");
    publish_alert(broker.port, "edge-a", 13, start + 90, "camera_back", "cam-1");
    assert!(wait_until(Duration::from_secs(10), || city.alerts("state=active&kind=camera_offline").is_empty()));
    let incidents = city.alerts("state=all&kind=camera_offline");
    assert_eq!(incidents.len(), 1, "one incident for a start and its end: {incidents:?}");
    let incident = &incidents[0];
    assert_eq!(incident["ended"]["kind"], "camera_back");
    assert_eq!(incident["duration_s"], 90);
    assert!(city.alerts("kind=camera_back").is_empty(), "the end is part of the incident, not one of its own");
    let node = city.node("edge-a").expect("edge-a in /api/nodes");
    assert_eq!(node["cameras"][1]["state"], "retrying");
    let (_, picture) = city.get("/api/nodes", None);
    let hall = picture["buildings"].as_array().unwrap().iter().find(|b| b["building"] == "hall").cloned().unwrap();
    assert_eq!((hall["occupancy"].as_u64(), hall["complete"].as_bool()), (Some(12), Some(false)), "{hall}");

    // Silence past the threshold (3 s here): node_offline; heard again: ended.
    assert!(
        wait_until(Duration::from_secs(15), || !city.alerts("state=active&kind=node_offline").is_empty()),
        "a silent node is not raised"
    );
    assert_eq!(city.node("edge-a").unwrap()["online"], false);
    publish_status(broker.port, &status("edge-a", 14, "online", &[("cam-1", "live")]));
    assert!(wait_until(Duration::from_secs(10), || city.alerts("state=active&kind=node_offline").is_empty()));
    assert_eq!(city.alerts("state=ended&kind=node_offline")[0]["ended"]["kind"], "node_back");

    // A real client's last will: edge-b connects with its will and is killed.
    publish_status(broker.port, &status("edge-b", 21, "online", &[]));
    let will = status("edge-b", 20, "offline", &[]).to_string();
    let mut client = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-t", "nothing/here", "-k", "5"])
        .args(["--will-topic", "lintel/v1/pets/node/edge-b/status", "--will-payload", &will, "--will-qos", "1"])
        .arg("--will-retain")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    client.kill().unwrap();
    client.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || city
            .alerts("state=active&kind=node_offline")
            .iter()
            .any(|i| i["node"] == "edge-b" && i["seq"] == 20)),
        "the will did not raise node_offline"
    );

    // Acknowledged over the API: stored, shown, published retained and valid.
    let id = incident["id"].as_i64().unwrap();
    let path = format!("/api/alerts/{id}/ack");
    let json_type = ("Content-Type", "application/json");
    let body = r#"{"name": "王伟", "note": "cable replaced"}"#;
    assert_eq!(http("POST", city.port, &path, &[], Some(body)).0, 403, "not JSON: refused");
    assert_eq!(http("POST", city.port, &path, &[json_type], Some(r#"{"name": " "}"#)).0, 400);
    assert_eq!(http("POST", city.port, "/api/alerts/12345/ack", &[json_type], Some(body)).0, 404);
    let (status_code, answer) = http("POST", city.port, &path, &[json_type], Some(body));
    assert_eq!(status_code, 200, "{answer}");
    assert_eq!(http("POST", city.port, &path, &[json_type], Some(r#"{"name": "Li"}"#)).0, 409, "acknowledged once");
    let acked = &city.alerts("ack=yes")[0];
    assert_eq!((acked["id"].as_i64(), acked["acknowledged"]["by"].as_str()), (Some(id), Some("王伟")));
    assert!(city.alerts("ack=no").iter().all(|i| i["id"].as_i64() != Some(id)));
    let mut published = Vec::new();
    assert!(wait_until(Duration::from_secs(10), || {
        published.extend(acks.drain());
        !published.is_empty()
    }));
    let (topic, message) = &published[0];
    assert_eq!(topic, "lintel/v1/pets/node/edge-a/alert_ack/camera_offline/12");
    assert_eq!((message["by"].as_str(), message["note"].as_str()), (Some("王伟"), Some("cable replaced")));
    let errors: Vec<String> = ack_schema().iter_errors(message).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");

    // An acknowledgement made elsewhere (another console, a node's page) is shown.
    let elsewhere = json!({"schema": "lintel.alert_ack/1", "site": "pets", "node": "edge-b", "kind": "node_offline",
        "seq": 20, "by": "Night shift", "at": UtcTime::now(), "source": "edge-b"});
    publish(
        broker.port,
        "lintel/v1/pets/node/edge-b/alert_ack/node_offline/20",
        elsewhere.to_string().as_bytes(),
        true,
    );
    assert!(wait_until(Duration::from_secs(10), || city
        .alerts("kind=node_offline&ack=yes")
        .iter()
        .any(|i| i["node"] == "edge-b" && i["acknowledged"]["by"] == "Night shift")));

    // Garbage and oversized messages on the status and alert topics: counted, ignored.
    publish(broker.port, "lintel/v1/pets/alerts", b"not json at all", false);
    publish(broker.port, "lintel/v1/pets/node/edge-a/status", &vec![b'x'; 70 * 1024], false);
    publish(broker.port, "lintel/v1/pets/alerts", status("edge-a", 30, "online", &[]).to_string().as_bytes(), false);
    assert!(wait_until(Duration::from_secs(10), || {
        metric(&city, r#"lintel_console_bad_input_total{kind="malformed"}"#) == Some(1)
            && metric(&city, r#"lintel_console_bad_input_total{kind="too_large"}"#) == Some(1)
            && metric(&city, r#"lintel_console_bad_input_total{kind="unknown_schema"}"#) == Some(1)
    }));
    assert_eq!(metric(&city, r#"lintel_console_incidents_total{kind="camera_offline"}"#), Some(1));
    assert_eq!(metric(&city, r#"lintel_console_incidents_open{kind="node_offline"}"#), Some(1));

    // A restart keeps the incidents and their acknowledgements; with an operators' token, a
    // request without it is refused.
    drop(city);
    let city = City::start(&dir, broker.port, &["--operator-token-env", "LINTEL_TEST_OPERATOR_TOKEN"]);
    assert_eq!(city.get("/api/alerts", None).0, 401);
    assert_eq!(city.get("/api/nodes", Some("not-the-operators-token")).0, 401);
    let (code, list) = city.get("/api/alerts?ack=yes", Some(OPERATOR));
    assert_eq!(code, 200, "{list}");
    let names: Vec<&str> =
        list["incidents"].as_array().unwrap().iter().filter_map(|i| i["acknowledged"]["by"].as_str()).collect();
    assert!(names.contains(&"王伟") && names.contains(&"Night shift"), "{names:?}");
    let (_, active) = city.get("/api/alerts?state=active&kind=node_offline", Some(OPERATOR));
    assert_eq!(active["total"], 1, "edge-b is still offline, once: {active}");
}

#[test]
fn the_console_page_shows_nodes_and_incidents_and_acknowledges_in_chinese() {
    let dir = scratch_dir("console-page");
    let broker = Broker::start(&dir);
    let city = City::start(&dir, broker.port, &["--offline-after-s", "600"]);
    publish_status(broker.port, &status("edge-a", 10, "online", &[("cam-1", "live"), ("cam-2", "failed")]));
    assert!(wait_until(Duration::from_secs(10), || city.node("edge-a").is_some()));
    publish_counts(broker.port, "edge-a", 11, true);
    let now = UtcTime::now().unix_seconds();
    publish_alert(broker.port, "edge-a", 12, now - 30, "camera_moved", "cam-2");
    assert!(wait_until(Duration::from_secs(10), || !city.alerts("state=active").is_empty()));

    let browser = Browser::start_in(1280, 900, "zh-CN");
    browser.goto(&format!("http://127.0.0.1:{}/console", city.port));
    let rows = || browser.execute("return document.querySelectorAll('#incidents tr').length", json!([]));
    assert!(wait_until(Duration::from_secs(20), || rows().as_u64().unwrap_or(0) == 1), "no incident drawn");
    assert_eq!(browser.execute("return document.documentElement.lang", json!([])), "zh-CN");
    assert_eq!(browser.text("#incidents tr td").as_deref(), Some("摄像头被移动"));
    assert!(browser.text("#nodes").unwrap_or_default().contains("故障"), "cameras by state");
    assert!(browser.text("#buildings").unwrap_or_default().contains("12"), "the hall's occupancy");
    browser.type_into("#incidents input[name=name]", "王伟");
    browser.type_into("#incidents input[name=note]", "已派人");
    browser.click("#incidents button");
    assert!(
        wait_until(Duration::from_secs(15), || browser.text("#incidents td.ack").unwrap_or_default().contains("王伟")),
        "the acknowledgement is not shown"
    );
    assert_eq!(city.alerts("ack=yes")[0]["acknowledged"]["note"], "已派人");
    // The end arrives while the page is open: it updates by itself.
    publish_alert(broker.port, "edge-a", 13, now, "camera_view_restored", "cam-2");
    assert!(
        wait_until(Duration::from_secs(15), || browser
            .execute("return document.querySelectorAll('#incidents tr.open').length", json!([]))
            == 0),
        "the end did not reach the page"
    );
    let problems = browser.page_problems();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn incidents_and_acknowledgements_are_kept_in_postgresql_too() {
    use lintel_city::console::IncidentStore;
    use lintel_city::console::state::{Change, Incident, IncidentEnd, incident_id};
    use lintel_city::console::store::Filter;

    let dir = scratch_dir("console-postgres");
    let server = lintel_testkit::Postgres::start(&dir, &["console"]);
    let url = server.url("console");
    let mut store = IncidentStore::open(&url).unwrap();
    let incident = |seq: u64, kind: &str, building: Option<&str>| Incident {
        id: incident_id("edge-a", kind, seq),
        site: "pets".into(),
        node: "edge-a".into(),
        seq,
        kind: kind.into(),
        subject: "cam-1".into(),
        building: building.map(str::to_string),
        message: "m".into(),
        started_ms: seq as i64 * 1000,
        ended: None,
    };
    for seq in 1..=3 {
        store.record(&Change::Raised(incident(seq, "camera_offline", None))).unwrap();
        store.record(&Change::Raised(incident(seq, "camera_offline", None))).unwrap();
    }
    store.record(&Change::Raised(incident(4, "node_offline", Some("pets/hall")))).unwrap();
    let end = IncidentEnd { kind: "camera_back".into(), seq: None, at_ms: 9_000, message: String::new() };
    store.record(&Change::Ended { id: incident_id("edge-a", "camera_offline", 1), end }).unwrap();
    let ack = lintel_wire::AlertAck {
        site: "pets".into(),
        node: "edge-a".into(),
        kind: "camera_offline".into(),
        seq: 2,
        subject: None,
        by: "王伟".into(),
        note: None,
        at: UtcTime::from_unix_seconds(100),
        source: None,
    };
    assert!(store.acknowledge(&ack).unwrap());
    let all = store.list(&Filter::default(), 1).unwrap();
    assert_eq!((all.total, all.incidents[0].incident.seq), (4, 4), "newest first, each once");
    assert_eq!(all.incidents[0].incident.building.as_deref(), Some("pets/hall"));
    let acked = store.list(&Filter { acknowledged: Some(true), ..Filter::default() }, 1).unwrap();
    assert_eq!(acked.incidents[0].acknowledged.as_ref().map(|a| (a.by.as_str(), a.note.clone())), Some(("王伟", None)));
    let open = store.list(&Filter { active: Some(true), kind: Some("camera_offline".into()), ..Filter::default() }, 1);
    assert_eq!(open.unwrap().total, 2);
    drop(store);
    assert_eq!(IncidentStore::open(&url).unwrap().open_incidents().unwrap().len(), 3, "kept across a restart");
}

/// What a receiver was sent: each request's status and body.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(u16, String)>>>;

/// A webhook receiver on loopback that answers 500 to its first `failures` requests and 200
/// after; every request's body, with the status it got.
fn receiver(failures: usize) -> (u16, Received) {
    receiver_on(0, failures)
}

/// [`receiver`] on loopback `port` (0: any free one).
fn receiver_on(port: u16, failures: usize) -> (u16, Received) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut log = log.lock().unwrap();
            let status = if log.len() < failures { 500 } else { 200 };
            log.push((status, String::from_utf8_lossy(&body).into_owned()));
            let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, seen)
}

#[test]
fn a_webhook_that_fails_twice_then_succeeds_gets_each_notification_once() {
    let dir = scratch_dir("console-webhooks");
    let broker = Broker::start(&dir);
    let (port, seen) = receiver(2);
    let hooks = json!({"hooks": [{"name": "robot", "url": format!("http://127.0.0.1:{port}/send?key=K"),
        "template": "{\"msgtype\": \"text\", \"text\": {\"content\": \"{{event}} {{kind}} {{node}}/{{subject}} {{duration_s}}\"}}",
        "kinds": ["camera_offline"]}]});
    std::fs::write(dir.join("hooks.json"), hooks.to_string()).unwrap();
    let hooks_file = dir.join("hooks.json").display().to_string();
    let city = City::start(&dir, broker.port, &["--webhooks", &hooks_file, "--offline-after-s", "600"]);
    publish_status(broker.port, &status("edge-a", 10, "online", &[("cam-1", "live")]));
    assert!(wait_until(Duration::from_secs(10), || city.node("edge-a").is_some()));
    let now = UtcTime::now().unix_seconds();
    publish_alert(broker.port, "edge-a", 11, now - 60, "camera_offline", "cam-1");
    publish_alert(broker.port, "edge-a", 12, now - 50, "camera_moved", "cam-1");
    // Visible while it fails.
    assert!(wait_until(Duration::from_secs(10), || city.get("/api/nodes", None).1["webhooks"][0]["failing"] == true));
    publish_alert(broker.port, "edge-a", 13, now, "camera_back", "cam-1");
    let delivered = || seen.lock().unwrap().iter().filter(|(s, _)| *s == 200).count();
    assert!(wait_until(Duration::from_secs(30), || delivered() == 2), "{:?}", seen.lock().unwrap());
    std::thread::sleep(Duration::from_secs(2));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "two failures, then each notification once: {seen:?}");
    let texts: Vec<String> = seen
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, body)| serde_json::from_str::<Value>(body).unwrap()["text"]["content"].as_str().unwrap().to_string())
        .collect();
    // A started incident's duration is how long it has lasted when the notification is made: 60 s
    // and the (whole) seconds the console took since `now`, which a second boundary may add to.
    let took = UtcTime::now().unix_seconds() - now;
    let started = texts[0].strip_prefix("started camera_offline edge-a/cam-1 ").map(|d| d.parse::<i64>());
    assert!(matches!(started, Some(Ok(d)) if (60..=60 + took).contains(&d)), "{texts:?}, {took} s since");
    assert_eq!(texts[1], "ended camera_offline edge-a/cam-1 60", "{texts:?}");
    assert_eq!(texts.len(), 2, "{texts:?}");
    let hook = &city.get("/api/nodes", None).1["webhooks"][0];
    assert_eq!(
        (hook["delivered"].as_u64(), hook["failed_attempts"].as_u64(), hook["failing"].as_bool()),
        (Some(2), Some(2), Some(false)),
        "{hook}"
    );
}

#[test]
fn notifications_not_delivered_before_a_restart_are_delivered_after_it_in_order() {
    let dir = scratch_dir("console-webhooks-restart");
    let broker = Broker::start(&dir);
    // Nobody listens there until the console has been killed.
    let port = free_port();
    let hooks = json!({"hooks": [{"name": "robot", "url": format!("http://127.0.0.1:{port}/send"),
        "template": "{\"text\": \"{{event}} {{kind}} {{subject}}\"}", "kinds": ["camera_offline"]}]});
    std::fs::write(dir.join("hooks.json"), hooks.to_string()).unwrap();
    let (hooks_file, queue) = (dir.join("hooks.json").display().to_string(), dir.join("queue").display().to_string());
    let args = ["--webhooks", &hooks_file, "--webhooks-queue", &queue, "--offline-after-s", "600"];
    let city = City::start(&dir, broker.port, &args);
    publish_status(broker.port, &status("edge-a", 10, "online", &[("cam-1", "live"), ("cam-2", "live")]));
    assert!(wait_until(Duration::from_secs(10), || city.node("edge-a").is_some()));
    let now = UtcTime::now().unix_seconds();
    publish_alert(broker.port, "edge-a", 11, now - 60, "camera_offline", "cam-1");
    publish_alert(broker.port, "edge-a", 12, now - 50, "camera_offline", "cam-2");
    publish_alert(broker.port, "edge-a", 13, now - 40, "camera_back", "cam-1");
    let queued = || city.get("/api/nodes", None).1["webhooks"][0]["queued"].as_u64();
    assert!(wait_until(Duration::from_secs(10), || queued() == Some(3)), "{:?}", city.get("/api/nodes", None).1);
    // Saved within a tenth of a second; then the console dies without a word (SIGKILL).
    std::thread::sleep(Duration::from_secs(1));
    drop(city);

    let (_, seen) = receiver_on(port, 0);
    let city = City::start(&dir, broker.port, &args);
    let delivered = || seen.lock().unwrap().len();
    assert!(wait_until(Duration::from_secs(20), || delivered() == 3), "{:?}", seen.lock().unwrap());
    std::thread::sleep(Duration::from_secs(2));
    let texts: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| serde_json::from_str::<Value>(body).unwrap()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts,
        ["started camera_offline cam-1", "started camera_offline cam-2", "ended camera_offline cam-1"],
        "each once, in the order they were made"
    );
    let hook = &city.get("/api/nodes", None).1["webhooks"][0];
    assert_eq!((hook["delivered"].as_u64(), hook["queued"].as_u64()), (Some(3), Some(0)), "{hook}");
}

/// The scale of the issue on the console's core and its SQLite store, without MQTT: 1,000 nodes
/// with 10 cameras each, then alerts (starts and ends) as fast as they go. Prints the rate; fails
/// under the 100 alerts a second a community's burst needs. `cargo test --release -- --ignored`.
#[test]
#[ignore = "a measurement: run with --release --ignored"]
fn a_thousand_nodes_and_ten_thousand_cameras_take_a_burst_of_alerts() {
    use lintel_city::console::state::{ConsoleConfig, OperationsPicture};
    use lintel_city::console::store::Filter;
    use lintel_city::console::{AckOutbox, ConsoleFeed, ConsoleMetrics, IncidentStore};
    use std::sync::{Arc, Mutex};

    let dir = scratch_dir("console-scale");
    let url = format!("sqlite:{}", dir.join("scale.db").display());
    let picture = Arc::new(Mutex::new(OperationsPicture::new(ConsoleConfig::default())));
    let metrics = Arc::new(ConsoleMetrics::default());
    let mut feed = ConsoleFeed::new(
        Arc::clone(&picture),
        IncidentStore::open(&url).unwrap(),
        metrics,
        Arc::new(AckOutbox::default()),
    )
    .unwrap();
    let now_ms = UtcTime::now().unix_seconds() * 1000;
    for n in 0..1000 {
        let cameras: Vec<(String, &str)> = (0..10).map(|c| (format!("cam-{c}"), "live")).collect();
        let cameras: Vec<(&str, &str)> = cameras.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let node = format!("edge-{n:04}");
        let message = status(&node, 1, "online", &cameras);
        feed.take(&format!("lintel/v1/pets/node/{node}/status"), message.to_string().as_bytes(), true, now_ms);
    }
    let alerts = 10_000u64;
    let begin = std::time::Instant::now();
    for i in 0..alerts {
        let node = format!("edge-{:04}", i % 1000);
        let kind = if (i / 1000) % 2 == 0 { "camera_offline" } else { "camera_back" };
        let alert = json!({"schema": "lintel.alert/1", "site": "pets", "node": node, "seq": 2 + i / 1000,
            "at": UtcTime::now(), "kind": kind, "subject": format!("cam-{}", (i / 2000) % 10), "message": "m"});
        feed.take("lintel/v1/pets/alerts", alert.to_string().as_bytes(), false, now_ms);
    }
    let took = begin.elapsed();
    let rate = alerts as f64 / took.as_secs_f64();
    let mut reader = IncidentStore::open(&url).unwrap();
    let page_begin = std::time::Instant::now();
    let page = reader.list(&Filter::default(), 1).unwrap();
    eprintln!(
        "{alerts} alerts over 1,000 nodes and 10,000 cameras in {took:?}: {rate:.0} a second; {} incidents, first page in {:?}",
        page.total,
        page_begin.elapsed()
    );
    assert_eq!(page.total, 5_000, "each start and its end one incident");
    assert!(rate > 100.0, "{rate:.0} alerts a second");
}

#[test]
fn the_live_stream_says_change_when_a_node_is_heard() {
    use std::io::Read;
    let dir = scratch_dir("console-events");
    let broker = Broker::start(&dir);
    let city = City::start(&dir, broker.port, &["--offline-after-s", "600"]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", city.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut seen = String::new();
    let read_until = |stream: &mut std::net::TcpStream, needle: &str, seen: &mut String| {
        let mut buffer = [0u8; 4096];
        while !seen.contains(needle) {
            let n = stream.read(&mut buffer).unwrap_or(0);
            assert!(n > 0, "the stream ended before {needle:?}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    };
    read_until(&mut stream, "event: change", &mut seen);
    assert!(seen.to_ascii_lowercase().contains("content-type: text/event-stream"), "{seen}");
    let first = seen.len();
    publish_status(broker.port, &status("edge-a", 10, "online", &[]));
    let mut rest = seen.split_off(first);
    read_until(&mut stream, "event: change", &mut rest);
}
