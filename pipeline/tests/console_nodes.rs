//! One console for two real nodes: two `lintel run --web` on the clip served as RTSP cameras,
//! one mosquitto, one `lintel-city`. The console lists both (with their version and web
//! address), a camera stopped on one node is one incident there, and an acknowledgement travels
//! both ways: made on the console it shows on that node's dashboard (who, when, note), made on a
//! node's dashboard it shows on the console.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::browser::{Browser, OPERATOR, PagesNode, get, http};
use common::{Broker, RtspCamera, free_port, pets_site, scratch_dir, wait_until, workspace};
use serde_json::Value;

/// `lintel-city` (built beside `lintel`), killed when dropped.
struct Console {
    child: Child,
    port: u16,
}

impl Console {
    fn start(dir: &Path, mqtt: u16) -> Self {
        let binary = Path::new(env!("CARGO_BIN_EXE_lintel")).with_file_name("lintel-city");
        assert!(binary.is_file(), "{} is missing: build it with `cargo build -p lintel-city`", binary.display());
        let port = free_port();
        let mut child = Command::new(binary)
            .arg("--grid")
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--mqtt", &format!("127.0.0.1:{mqtt}"), "--web", &format!("127.0.0.1:{port}")])
            .args(["--store", &format!("sqlite:{}", dir.join("city.db").display()), "--run-for-s", "600"])
            .args(["--offline-after-s", "60", "--consumer-id", "two-nodes"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("density: http://"), "{line:?}");
        Self { child, port }
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = http("GET", self.port, path, &[], None);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn node(&self, node: &str) -> Option<Value> {
        self.get("/api/nodes")["nodes"].as_array()?.iter().find(|n| n["node"] == node).cloned()
    }

    fn incidents(&self, query: &str) -> Vec<Value> {
        self.get(&format!("/api/alerts?{query}"))["incidents"].as_array().unwrap().clone()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The PETS site for node `node`, reading `camera`, in a folder of its own.
fn site_of(dir: &Path, node: &str, camera: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = pets_site(dir, camera);
    let text = std::fs::read_to_string(&path).unwrap().replace("node = \"edge-01\"", &format!("node = \"{node}\""));
    std::fs::write(&path, text).unwrap();
    path
}

/// The node's dashboard alerts of `kind`.
fn node_alerts(web: u16, kind: &str) -> Vec<Value> {
    let (status, body) = get(web, "/api/alerts", Some(OPERATOR));
    assert_eq!(status, 200, "{body}");
    let all: Value = serde_json::from_str(&body).unwrap();
    all.as_array().unwrap().iter().filter(|a| a["kind"] == kind).cloned().collect()
}

fn post_json(port: u16, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(bearer.iter().map(|b| ("Authorization", b.as_str())));
    http("POST", port, path, &headers, Some(body))
}

fn mosquitto_pub(port: u16, topic: &str, payload: &str) {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-m", payload])
        .status()
        .expect("mosquitto_pub is not installed: run scripts/setup");
    assert!(status.success(), "mosquitto_pub could not publish on {topic}");
}

#[test]
fn one_console_lists_two_nodes_and_acknowledgements_travel_between_console_and_node() {
    let dir = scratch_dir("console-nodes");
    let broker = Broker::start(&dir);
    let console = Console::start(&dir, broker.port);
    let (camera_a, camera_b) = (RtspCamera::start("/walkway"), RtspCamera::start("/walkway"));
    let (web_a, web_b) = (free_port(), free_port());
    let grace = ["--offline-grace-s", "4"];
    let log_a = dir.join("edge-a.log");
    let site_a = site_of(&dir.join("a"), "edge-a", &camera_a.url);
    let node_a = PagesNode::start_logged(&site_a, &dir.join("a"), broker.port, web_a, &grace, &log_a);
    let node_b =
        PagesNode::start(&site_of(&dir.join("b"), "edge-b", &camera_b.url), &dir.join("b"), broker.port, web_b, &grace);

    // Both nodes on the console, online, with the version and the address of their pages.
    for (node, web) in [("edge-a", web_a), ("edge-b", web_b)] {
        let listed = wait_until(Duration::from_secs(60), || {
            console.node(node).is_some_and(|n| n["online"] == true && n["cameras"][0]["state"] == "live")
        });
        assert!(listed, "{node} is not listed online with a live camera: {}", console.get("/api/nodes"));
        let view = console.node(node).unwrap();
        assert_eq!(view["version"], env!("CARGO_PKG_VERSION"), "{view}");
        assert_eq!(view["web"], format!("http://127.0.0.1:{web}/"), "{view}");
    }

    // A camera stopped on edge-a: one incident, on edge-a, active.
    let port_a: u16 = camera_a.url.rsplit_once(':').unwrap().1.split('/').next().unwrap().parse().unwrap();
    drop(camera_a);
    let stopped = std::time::Instant::now();
    let raised = wait_until(Duration::from_secs(60), || !console.incidents("state=all&kind=camera_offline").is_empty());
    assert!(raised, "no camera_offline incident: {}", console.get("/api/alerts?state=all"));
    eprintln!(
        "camera_offline on the console {:.1} s after the camera stopped (grace 4 s)",
        stopped.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(3));
    let offline = console.incidents("state=all&kind=camera_offline");
    assert_eq!(offline.len(), 1, "{offline:?}");
    let incident = &offline[0];
    assert_eq!((incident["node"].as_str(), incident["subject"].as_str()), (Some("edge-a"), Some("walkway")));
    assert!(incident["ended"].is_null(), "{incident}");
    // The node names the same incident: its alert carries the seq the console's id is made of.
    let on_node = node_alerts(web_a, "camera_offline");
    assert_eq!(on_node.len(), 1, "{on_node:?}");
    assert!(incident["message"].as_str().is_some_and(|m| !m.contains("rtsp://")), "{incident}");
    assert_eq!(on_node[0]["seq"], incident["seq"], "node {} / console {incident}", on_node[0]);

    // Hostile messages on edge-a's acknowledgement topics first: too large, not JSON, and one
    // whose seq is not its topic's. Refused, logged once, nothing acknowledged by them.
    let seq = incident["seq"].as_u64().unwrap();
    let topic = format!("lintel/v1/pets/node/edge-a/alert_ack/camera_offline/{seq}");
    let forged = format!(
        r#"{{"schema":"lintel.alert_ack/1","site":"pets","node":"edge-a","kind":"camera_offline","seq":{},"by":"Mallory","at":"2026-01-01T00:00:00Z"}}"#,
        seq + 1
    );
    for payload in ["x".repeat(5000), "{not json".to_string(), forged] {
        mosquitto_pub(broker.port, &topic, &payload);
    }

    // Acknowledged on the console: shown on edge-a's dashboard, who, when and the note.
    let id = incident["id"].as_i64().unwrap();
    let (status, body) =
        post_json(console.port, &format!("/api/alerts/{id}/ack"), None, r#"{"name": "王伟", "note": "cable checked"}"#);
    assert_eq!(status, 200, "{body}");
    let acked_at = std::time::Instant::now();
    let shown = wait_until(Duration::from_secs(20), || {
        node_alerts(web_a, "camera_offline").first().is_some_and(|a| a["acked_by"] == "王伟")
    });
    assert!(shown, "the console's acknowledgement is not on the node: {:?}", node_alerts(web_a, "camera_offline"));
    eprintln!("console → node acknowledgement in {:.2} s", acked_at.elapsed().as_secs_f64());
    let acked = &node_alerts(web_a, "camera_offline")[0];
    assert_eq!((acked["acked_role"].as_str(), acked["acked_note"].as_str()), (Some("console"), Some("cable checked")));
    assert!(acked["acked_at"].as_i64().is_some_and(|at| at > 0), "{acked}");
    let log = std::fs::read_to_string(&log_a).unwrap();
    assert_eq!(log.matches("refused an acknowledgement").count(), 1, "logged once:\n{log}");
    assert!(!log.contains("Mallory") && !log.contains("xxxxxxxx"), "a refused payload is never echoed:\n{log}");
    // And in edge-a's audit trail: who, and that it came from a console over MQTT.
    let (_, trail) = get(web_a, "/api/audit", Some(OPERATOR));
    let trail: Value = serde_json::from_str(&trail).unwrap();
    let entry = trail.as_array().unwrap().iter().find(|e| e["action"] == "alert_acknowledged").expect("not audited");
    assert_eq!((entry["who"].as_str(), entry["from"].as_str()), (Some("console"), Some("mqtt")), "{entry}");
    assert!(entry["detail"].as_str().is_some_and(|d| d.contains("王伟")), "{entry}");

    // On edge-a's page too, said to come from the console; the console's page lists both nodes
    // with a link to each one's set-up page. (Screenshots: target/tmp/console-nodes-*.png.)
    let browser = Browser::start(1280, 720);
    browser.goto(&format!("http://127.0.0.1:{web_a}/"));
    browser.type_into("input[name=token]", OPERATOR);
    browser.click("form button[type=submit]");
    let card = "li[data-kind=camera_offline][data-subject=walkway]";
    let on_page = wait_until(Duration::from_secs(20), || {
        browser.text(card).is_some_and(|t| t.contains("Acknowledged on the console by 王伟"))
    });
    browser.screenshot(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-nodes-node-a.png"));
    assert!(on_page, "edge-a's dashboard shows {:?}", browser.text(card));
    browser.goto(&format!("http://127.0.0.1:{}/console", console.port));
    let both = wait_until(Duration::from_secs(20), || {
        browser.find("[data-node=edge-a] a").is_some() && browser.find("[data-node=edge-b] a").is_some()
    });
    browser.screenshot(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-nodes-console.png"));
    assert!(both, "the console page does not show both nodes with a link");
    let href = browser.execute("return document.querySelector('[data-node=edge-a] a').href;", Value::Array(vec![]));
    assert_eq!(href, format!("http://127.0.0.1:{web_a}/calibrate"));

    // Acknowledged on edge-b's dashboard: shown on the console.
    drop(camera_b);
    let raised = wait_until(Duration::from_secs(60), || !node_alerts(web_b, "camera_offline").is_empty());
    assert!(raised, "edge-b raised no camera_offline");
    let alert_id = node_alerts(web_b, "camera_offline")[0]["id"].as_i64().unwrap();
    let (status, body) = post_json(
        web_b,
        &format!("/api/alerts/{alert_id}/ack"),
        Some(OPERATOR),
        r#"{"by": "Night shift", "note": "on site"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let acked_at = std::time::Instant::now();
    let travelled = wait_until(Duration::from_secs(20), || {
        console
            .incidents("state=all&kind=camera_offline&ack=yes")
            .iter()
            .any(|i| i["node"] == "edge-b" && i["acknowledged"]["by"] == "Night shift")
    });
    assert!(travelled, "the node's acknowledgement is not on the console: {}", console.get("/api/alerts?state=all"));
    eprintln!("node → console acknowledgement in {:.2} s", acked_at.elapsed().as_secs_f64());
    let on_console = console.incidents("state=all&kind=camera_offline&ack=yes");
    let b = on_console.iter().find(|i| i["node"] == "edge-b").unwrap();
    assert_eq!(b["acknowledged"]["note"], "on site", "{b}");
    // Still one incident per stopped camera.
    assert_eq!(console.incidents("state=all&kind=camera_offline").len(), 2);

    // edge-a's camera comes back where it was: its incident ends, with its duration.
    let _camera_a = RtspCamera::start_on(port_a, "/walkway");
    let back = std::time::Instant::now();
    let ended = wait_until(Duration::from_secs(90), || {
        console.incidents("state=ended&kind=camera_offline").iter().any(|i| i["node"] == "edge-a")
    });
    assert!(ended, "edge-a's incident never ended: {}", console.get("/api/alerts?state=all"));
    eprintln!("incident ended on the console {:.1} s after the camera came back", back.elapsed().as_secs_f64());
    let done = console.incidents("state=ended&kind=camera_offline");
    let a = done.iter().find(|i| i["node"] == "edge-a").unwrap();
    assert_eq!(a["ended"]["kind"], "camera_back", "{a}");
    let lasted_ms = a["ended"]["at_ms"].as_i64().unwrap() - a["started_ms"].as_i64().unwrap();
    assert!(lasted_ms > 0, "{a}");
    assert_eq!(a["id"], incident["id"], "the same incident, ended");

    // edge-b is killed (SIGKILL): its last will makes it node_offline on the console.
    let killed = std::time::Instant::now();
    drop(node_b);
    let offline = wait_until(Duration::from_secs(30), || {
        console.incidents("state=all&kind=node_offline").iter().any(|i| i["node"] == "edge-b")
    });
    assert!(offline, "edge-b is not node_offline: {}", console.get("/api/nodes"));
    eprintln!("node_offline {:.1} s after the SIGKILL", killed.elapsed().as_secs_f64());
    assert_eq!(console.node("edge-b").unwrap()["online"], false);
    node_a.stop();
}
