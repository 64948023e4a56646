//! `lintel-city` end to end: nodes' messages through a real mosquitto into the consumer,
//! out as GeoJSON, history, the map page, metrics, the retained cell topics, NGSI-LD, and
//! `lintel-city render` pictures.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lintel_testkit::{Broker, Subscriber, free_port, scratch_dir, wait_until, workspace};
use lintel_wire::UtcTime;
use serde_json::{Value, json};

const ANALYST: &str = "an-analyst-token-of-the-tests";

fn time(seconds: i64) -> String {
    UtcTime::from_unix_seconds(seconds).to_string()
}

fn counts(site: &str, building: &str, seq: u64, start: i64, entries: u64, exits: u64, occupancy: u64) -> Value {
    json!({
        "schema": "lintel.counts/1", "site": site, "building": building, "node": format!("edge-{site}"), "seq": seq,
        "interval": {"start": time(start), "end": time(start + 60)},
        "entries": entries, "exits": exits, "occupancy": occupancy,
        "entrances": [{"id": "door", "entries": entries, "exits": exits, "cameras": ["cam"], "healthy": true}],
    })
}

/// Publishes `payload` on `topic` as a node would (QoS 1: `mosquitto_pub` returns once the broker
/// acknowledged it).
fn publish(port: u16, _dir: &Path, topic: &str, payload: Vec<u8>) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-s"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub is not installed: run scripts/setup");
    child.stdin.take().unwrap().write_all(&payload).unwrap();
    assert!(child.wait().unwrap().success(), "mosquitto_pub could not publish on {topic}");
}

fn publish_counts(port: u16, dir: &Path, message: &Value) {
    let topic = format!(
        "lintel/v1/{}/building/{}/counts",
        message["site"].as_str().unwrap(),
        message["building"].as_str().unwrap()
    );
    publish(port, dir, &topic, message.to_string().into_bytes());
}

/// One GET: status code and body.
pub fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // As an analyst: these tests read the exact history.
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ANALYST}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

/// `lintel-city` running; killed when dropped.
struct Density {
    child: Child,
    pub web: String,
}

impl Density {
    fn start(dir: &Path, mqtt_port: u16, store: &str, more: &[&str]) -> Self {
        let web = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
            .args(["--grid"])
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--mqtt", &format!("127.0.0.1:{mqtt_port}"), "--web", &web, "--store", store])
            .args(["--stale-after-s", "600", "--run-for-s", "300"])
            .args(more)
            .args(["--analyst-token-env", "LINTEL_TEST_ANALYST_TOKEN"])
            .env("LINTEL_TEST_ANALYST_TOKEN", ANALYST)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("density: http://"), "{line:?}");
        Self { child, web }
    }

    fn geojson(&self) -> Value {
        let (status, body) = get(&self.web, "/density.geojson");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Density {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn feature<'a>(fc: &'a Value, id: &str) -> &'a Value {
    fc["features"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap_or_else(|| panic!("no {id}"))
}

#[test]
fn counts_from_nodes_become_the_density_map_history_cell_topics_and_pictures() {
    let dir = scratch_dir("density-mqtt");
    let broker = Broker::start(&dir);
    let store = format!("sqlite:{}", dir.join("density.db").display());
    let density = Density::start(&dir, broker.port, &store, &[]);
    let cells = Subscriber::start(broker.port, "lintel/v1/density/cell/+");
    let now = UtcTime::now().unix_seconds();
    let t = now - now % 60 - 180;

    // The hall and the market (one cell) report now; block 1 last reported an hour ago.
    publish_counts(broker.port, &dir, &counts("pets", "hall", 1, t, 12, 2, 10));
    publish_counts(broker.port, &dir, &counts("pets", "hall", 2, t + 60, 5, 1, 14));
    publish_counts(broker.port, &dir, &counts("lishui-c", "market", 1, t + 60, 30, 4, 26));
    publish_counts(broker.port, &dir, &counts("lishui-w", "block-1", 7, t - 3600, 2, 0, 40));
    // Junk: none of it may change anything.
    publish(broker.port, &dir, "lintel/v1/pets/building/hall/counts", b"{not json".to_vec());
    publish_counts(broker.port, &dir, &counts("pets", "garage", 1, t, 1, 0, 1));

    assert!(
        wait_until(Duration::from_secs(30), || {
            let fc = density.geojson();
            feature(&fc, "building:pets/hall")["properties"]["occupancy"] == 14
                && feature(&fc, "building:lishui-w/block-1")["properties"]["occupancy"] == 40
        }),
        "{}",
        density.geojson()
    );
    let fc = density.geojson();
    assert_eq!(fc["type"], "FeatureCollection");
    let hall = &feature(&fc, "building:pets/hall")["properties"];
    assert_eq!(
        (hall["entries"].as_u64(), hall["exits"].as_u64(), hall["stale"].as_bool()),
        (Some(5), Some(1), Some(false))
    );
    assert_eq!(hall["density_per_100m2"], 1.17); // 14 people on 1200 m²
    let block = &feature(&fc, "building:lishui-w/block-1")["properties"];
    assert_eq!(block["stale"], true, "{block}");
    assert_eq!(block["last_data"], time(t - 3540));
    let centre = &feature(&fc, "cell:wg-02")["properties"];
    assert_eq!(
        (centre["occupancy"].as_u64(), centre["buildings_fresh"].as_u64(), centre["buildings"].as_u64()),
        (Some(40), Some(2), Some(4))
    );
    let west = &feature(&fc, "cell:wg-01")["properties"];
    assert_eq!(
        (west["occupancy"].as_u64(), west["occupancy_stale"].as_u64(), west["buildings_fresh"].as_u64()),
        (Some(0), Some(40), Some(0))
    );
    assert_eq!(feature(&fc, "building:lishui-e/office")["properties"]["occupancy"], Value::Null);
    assert_eq!(feature(&fc, "cell:wg-02")["geometry"]["type"], "Polygon");

    // History of the cell and of a building, from the store.
    let (status, body) =
        get(&density.web, &format!("/density/history?cell=wg-02&from={}&to={}", time(t - 60), time(t + 600)));
    assert_eq!(status, 200, "{body}");
    let history: Value = serde_json::from_str(&body).unwrap();
    let occupancy: Vec<f64> =
        history["points"].as_array().unwrap().iter().map(|p| p["occupancy"].as_f64().unwrap()).collect();
    assert_eq!(occupancy, vec![10.0, 40.0], "{body}");
    let (status, body) = get(&density.web, &format!("/density/history?building=pets/hall&from={}&step=hour", t - 7200));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"building\":\"pets/hall\""), "{body}");
    assert_eq!(get(&density.web, "/density/history?cell=nowhere").0, 404);
    assert_eq!(get(&density.web, "/density/history?cell=wg-02&from=soon").0, 400);
    assert_eq!(get(&density.web, "/density/history?cell=wg-02&step=minute").0, 400);
    assert_eq!(get(&density.web, "/density.geojson?at=%ZZ").0, 400);

    // As of an earlier time: the hall's first interval.
    let (_, body) = get(&density.web, &format!("/density.geojson?at={}", time(t + 60)));
    let then: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(feature(&then, "building:pets/hall")["properties"]["occupancy"], 10);

    // The bad input is in the metrics (the junk came last: wait until its batch is written).
    let counted =
        || get(&density.web, "/metrics").1.contains("lintel_density_bad_input_total{kind=\"unknown_building\"} 1\n");
    wait_until(Duration::from_secs(30), counted);
    let (_, metrics) = get(&density.web, "/metrics");
    assert!(metrics.contains("lintel_density_bad_input_total{kind=\"malformed\"} 1\n"), "{metrics}");
    assert!(metrics.contains("lintel_density_bad_input_total{kind=\"unknown_building\"} 1\n"), "{metrics}");
    assert!(metrics.contains("lintel_density_messages_applied_total 4\n"), "{metrics}");

    // The map page (its script and style are files of the server's own: the CSP allows no
    // inline script) and the export.
    let (status, page) = get(&density.web, "/");
    assert_eq!(status, 200);
    assert!(page.contains("<div id=\"map\"") && page.contains("<script type=\"module\" src=\"map.js\">"), "{page}");
    assert!(!page.contains("<script>") && !page.contains("<style"), "inline script or style: {page}");
    let (status, script) = get(&density.web, "/map.js");
    assert!(status == 200 && script.contains("density.geojson"), "{script}");
    let (status, style) = get(&density.web, "/map.css");
    assert!(status == 200 && style.contains("#map"), "{style}");
    // Nothing fetched from elsewhere: no script, style, font or tile from another host; the one
    // stylesheet link is the server's own.
    let all = format!("{page}{script}{style}");
    assert!(
        !["src=\"http", "href=\"http", "src=\"//", "href=\"//", "url(", "fetch(\"http", "import(", "from \"//"]
            .iter()
            .any(|s| all.contains(s)),
        "the page must be self-contained"
    );
    // Its module imports are the server's own: MapLibre (vendored) and the texts and times script.
    let imports: Vec<_> = script.split(" from \"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
    assert_eq!(imports, ["/vendor/maplibre-gl-6.17.0/maplibre-gl.mjs", "/i18n/i18n.js"], "{script}");
    assert_eq!(page.matches("<link").count(), 2, "{page}");
    assert!(page.contains("<link rel=\"stylesheet\" href=\"vendor/maplibre-gl-6.17.0/maplibre-gl.css\">"), "{page}");
    assert!(page.contains("<link rel=\"stylesheet\" href=\"map.css\">"), "{page}");
    let (status, body) = get(&density.web, "/ngsi-ld/entities");
    assert_eq!(status, 200, "{body}");
    let entities: Value = serde_json::from_str(&body).unwrap();
    let hall = entities.as_array().unwrap().iter().find(|e| e["id"] == "urn:ngsi-ld:Building:pets:hall").unwrap();
    assert_eq!(hall["peopleOccupancy"]["value"], 14);

    // The retained summary of every cell.
    let mut seen = std::collections::HashMap::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            for (topic, message) in cells.drain() {
                seen.insert(topic, message);
            }
            seen.get("lintel/v1/density/cell/wg-02").is_some_and(|m| m["occupancy"] == 40) && seen.len() == 3
        }),
        "{seen:?}"
    );
    assert_eq!(seen["lintel/v1/density/cell/wg-02"]["schema"], "lintel.density_cell/1");
    // Retained: a late subscriber gets them at once.
    let late = Subscriber::start(broker.port, "lintel/v1/density/cell/wg-02");
    assert!(wait_until(Duration::from_secs(10), || !late.drain().is_empty()));

    // Pictures for reports, from the same store (while the consumer runs).
    for name in ["map.png", "map.svg"] {
        let out = dir.join(name);
        let status = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
            .args(["render", "--grid"])
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--store", &store, "--stale-after-s", "600", "--lang", "en", "--out"])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        let bytes = std::fs::read(&out).unwrap();
        if name.ends_with(".png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
            assert_eq!(width, 1260);
        } else {
            let svg = String::from_utf8(bytes).unwrap();
            assert!(svg.contains("第二网格 Centre") && svg.contains("40 people · 2/4 fresh"), "{svg}");
        }
        if let Ok(keep) = std::env::var("LINTEL_KEEP_RENDER") {
            std::fs::copy(&out, Path::new(&keep).join(name)).unwrap();
        }
    }
    // A second, web-only front on the same store (as one on a read replica would be): no MQTT.
    let web = format!("127.0.0.1:{}", free_port());
    let mut front = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .args(["--web-only", "--grid"])
        .arg(workspace("fixtures/lishui-grid.geojson"))
        .args(["--web", &web, "--store", &store, "--stale-after-s", "600", "--run-for-s", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(front.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let (status, body) = get(&web, "/density.geojson");
    let _ = front.kill();
    let _ = front.wait();
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(feature(&seen, "building:pets/hall")["properties"]["occupancy"], 14);

    // The export for other agencies, as a file.
    let out = dir.join("entities.jsonld");
    let status = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .args(["export", "--grid"])
        .arg(workspace("fixtures/lishui-grid.geojson"))
        .args(["--store", &store, "--stale-after-s", "600", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let entities: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let buildings = entities.as_array().unwrap().iter().filter(|e| e["type"] == "Building").count();
    assert_eq!(buildings, 12);
    drop(density);
}

#[test]
fn a_burst_of_thousands_of_messages_is_all_taken_and_acknowledged() {
    use lintel_city::density::consumer::{Consumer, ConsumerConfig};
    use lintel_city::density::{Grid, Ingest, IngestMetrics, store};
    use std::sync::Arc;

    let dir = scratch_dir("density-burst");
    let broker = Broker::start_with(&dir, free_port(), "allow_anonymous true\nmax_queued_messages 100000\n");
    let grid = Arc::new(Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap());
    let metrics = Arc::new(IngestMetrics::default());
    let store = store::open(&format!("sqlite:{}", dir.join("d.db").display())).unwrap();
    let mut config = ConsumerConfig::new("127.0.0.1", broker.port, "density-burst");
    config.publish_cells = false;
    let consumer = Consumer::start(config, Ingest::new(Arc::clone(&grid), store, Arc::clone(&metrics))).unwrap();
    assert!(wait_until(Duration::from_secs(20), || consumer
        .status
        .connected
        .load(std::sync::atomic::Ordering::SeqCst)));
    std::thread::sleep(Duration::from_millis(300));

    // Every building, 250 intervals each, as fast as mosquitto_pub sends them: far more than the
    // consumer's window of unacknowledged messages.
    let now = UtcTime::now().unix_seconds();
    let t = now - now % 60 - 2 * 86_400;
    let mut children = Vec::new();
    for b in &grid.buildings {
        let mut child = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-l", "-t"])
            .arg(format!("lintel/v1/{}/building/{}/counts", b.site, b.building))
            .stdin(Stdio::piped())
            .spawn()
            .expect("mosquitto_pub is not installed: run scripts/setup");
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..250 {
            // Occupancy within what the smallest building (a 60-person clinic) can hold, so no
            // message is implausible: this test is about the burst.
            let mut message = counts(&b.site, &b.building, i + 1, t + 60 * i as i64, 1, 0, i % 200);
            message["node"] = format!("edge-{}", b.building).into();
            writeln!(stdin, "{message}").unwrap();
        }
        children.push(child);
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let total = 250 * grid.buildings.len() as u64;
    assert!(
        wait_until(Duration::from_secs(120), || metrics.applied.get() == total),
        "{} of {total} taken",
        metrics.applied.get()
    );
    drop(consumer);
}

/// The `lintel_density_seq_gaps_total` line of a node, if any.
fn seq_gaps(metrics: &str, node: &str) -> Option<u64> {
    let prefix = format!("lintel_density_seq_gaps_total{{node=\"{node}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
}

/// Losses visible: a node's seqs 1, 2 (counts) and 5 (an alert: the consumer sees every kind a
/// seq numbers) are 2 lost messages, on /metrics and the map's GeoJSON. A restarted node's
/// status after the seq it reserved for its last will is no loss, and a seq in a payload sent on
/// another node's topic fills no gap.
#[test]
fn gaps_in_a_nodes_seq_are_counted_as_lost_messages() {
    let dir = scratch_dir("density-seq-gaps");
    let broker = Broker::start(&dir);
    let density = Density::start(&dir, broker.port, &format!("sqlite:{}", dir.join("d.db").display()), &[]);
    let now = UtcTime::now().unix_seconds();
    let t = now - now % 60 - 600;
    // The consumer subscribes after the server's first line: a probe node until it takes one.
    let applied = || {
        let text = get(&density.web, "/metrics").1;
        text.lines().find_map(|l| l.strip_prefix("lintel_density_messages_applied_total ")?.trim().parse::<u64>().ok())
    };
    let mut probe = counts("lishui-e", "school", 0, t, 0, 0, 0);
    probe["node"] = json!("edge-probe");
    assert!(wait_until(Duration::from_secs(20), || {
        probe["seq"] = json!(probe["seq"].as_u64().unwrap() + 1);
        publish_counts(broker.port, &dir, &probe);
        std::thread::sleep(Duration::from_millis(200));
        applied().unwrap_or(0) > 0
    }));
    publish_counts(broker.port, &dir, &counts("pets", "hall", 1, t, 3, 0, 3));
    publish_counts(broker.port, &dir, &counts("pets", "hall", 2, t + 60, 1, 0, 4));
    // Seq 3 of edge-pets, forged on another site's topic: refused, and no sign of life of 3.
    let mut forged = counts("pets", "hall", 3, t + 120, 0, 0, 4);
    forged["site"] = json!("lishui-c");
    forged["building"] = json!("market");
    publish(broker.port, &dir, "lintel/v1/pets/building/hall/counts", forged.to_string().into_bytes());
    let alert = json!({
        "schema": "lintel.alert/1", "site": "pets", "node": "edge-pets", "seq": 5, "at": time(t + 180),
        "kind": "spool_filling", "subject": "edge-pets", "message": "the spool is filling",
    });
    publish(broker.port, &dir, "lintel/v1/pets/alerts", alert.to_string().into_bytes());
    // Another node restarts: 10, 11, then (12 reserved for its last will) its online status, 13.
    publish_counts(broker.port, &dir, &counts("lishui-c", "market", 10, t, 1, 0, 1));
    publish_counts(broker.port, &dir, &counts("lishui-c", "market", 11, t + 60, 1, 0, 2));
    let online = json!({
        "schema": "lintel.node_status/1", "site": "lishui-c", "node": "edge-lishui-c", "seq": 13,
        "at": time(t + 120), "state": "online", "cameras": [],
    });
    publish(broker.port, &dir, "lintel/v1/lishui-c/node/edge-lishui-c/status", online.to_string().into_bytes());

    let metrics = || get(&density.web, "/metrics").1;
    assert!(wait_until(Duration::from_secs(30), || seq_gaps(&metrics(), "edge-pets") == Some(2)), "{}", metrics());
    // A few seconds more: nothing else settles as lost.
    std::thread::sleep(Duration::from_secs(2));
    let text = metrics();
    assert_eq!(seq_gaps(&text, "edge-pets"), Some(2), "{text}");
    assert_eq!(seq_gaps(&text, "edge-lishui-c").unwrap_or(0), 0, "{text}");
    let fc = density.geojson();
    assert_eq!(fc["messages_lost"], 2, "the map's total");
}
