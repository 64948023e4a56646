//! The density layer's core against a real SQLite file: every kind of bad input is counted,
//! logged once and harmless; the store is the same whatever the order of arrival; history,
//! roll-ups and retention.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lintel_city::density::store::{self, Step};
use lintel_city::density::{BadInput, Grid, Ingest, IngestMetrics, Outcome, Retention};
use lintel_testkit::{captured_logs, scratch_dir, workspace};
use lintel_wire::UtcTime;
use serde_json::{Value, json};

/// Interval starts relative to now, aligned on the minute, two hours back: never in the future.
fn base() -> i64 {
    let now = UtcTime::now().unix_seconds();
    now - now % 3600 - 2 * 3600
}

fn time(seconds: i64) -> String {
    UtcTime::from_unix_seconds(seconds).to_string()
}

/// A `lintel.counts/1` message of one minute starting at `start`.
fn counts(site: &str, building: &str, node: &str, seq: u64, start: i64, counts: (u64, u64, u64)) -> Value {
    let (entries, exits, occupancy) = counts;
    json!({
        "schema": "lintel.counts/1", "site": site, "building": building, "node": node, "seq": seq,
        "interval": {"start": time(start), "end": time(start + 60)},
        "entries": entries, "exits": exits, "occupancy": occupancy,
        "entrances": [{"id": "door", "entries": entries, "exits": exits, "cameras": ["cam"], "healthy": true}],
    })
}

fn topic(site: &str, building: &str) -> String {
    format!("lintel/v1/{site}/building/{building}/counts")
}

fn grid() -> Arc<Grid> {
    Arc::new(Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap())
}

struct Fixture {
    ingest: Ingest,
    metrics: Arc<IngestMetrics>,
    _dir: PathBuf,
}

fn fixture(name: &str) -> Fixture {
    captured_logs(); // installs the capture before anything logs
    let dir = scratch_dir(&format!("density-{name}"));
    let store = store::open(&format!("sqlite:{}", dir.join("density.db").display())).unwrap();
    let metrics = Arc::new(IngestMetrics::default());
    Fixture { ingest: Ingest::new(grid(), store, Arc::clone(&metrics)), metrics, _dir: dir }
}

impl Fixture {
    fn take(&mut self, message: &Value) -> Outcome {
        let topic = topic(message["site"].as_str().unwrap_or("x"), message["building"].as_str().unwrap_or("x"));
        self.take_raw(&topic, &serde_json::to_vec(message).unwrap())
    }

    fn take_raw(&mut self, topic: &str, payload: &[u8]) -> Outcome {
        self.ingest.take(topic, payload, UtcTime::now()).unwrap()
    }

    fn occupancy(&mut self, key: &str) -> Option<u64> {
        self.ingest.store.latest().unwrap().into_iter().find(|l| l.building == key).map(|l| l.occupancy)
    }

    /// Only `kind` was counted, `n` times.
    fn assert_counted(&self, kind: BadInput, n: u64) {
        for other in BadInput::ALL {
            let expected = if other == kind { n } else { 0 };
            assert_eq!(self.metrics.bad(other), expected, "{other:?}");
        }
    }
}

fn applied(building: &str, notes: &[BadInput]) -> Outcome {
    Outcome::Applied { building: building.into(), notes: notes.to_vec() }
}

/// The warnings logged about `source` of `kind`.
fn warnings(kind: BadInput, source: &str) -> usize {
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    logs.lines()
        .filter(|l| l.contains(&format!("kind=\"{}\"", kind.as_str())) && l.contains(&format!("source=\"{source}\"")))
        .count()
}

#[test]
fn good_counts_set_the_occupancy_and_a_restarted_node_continues() {
    let mut f = fixture("good");
    let t = base();
    assert_eq!(f.take(&counts("pets", "hall", "edge-01", 1, t, (5, 0, 5))), applied("pets/hall", &[]));
    assert_eq!(f.take(&counts("pets", "hall", "edge-01", 2, t + 60, (3, 1, 7))), applied("pets/hall", &[]));
    // The node restarts: its spool keeps seq (3 was reserved for its last will), its occupancy
    // state survives, and it goes on after a gap of a few minutes.
    assert_eq!(f.take(&counts("pets", "hall", "edge-01", 4, t + 300, (1, 2, 6))), applied("pets/hall", &[]));
    assert_eq!(f.occupancy("pets/hall"), Some(6));
    f.assert_counted(BadInput::Duplicate, 0);
    assert_eq!(f.metrics.applied.get(), 3);
}

#[test]
fn an_unknown_schema_version_is_dropped_counted_and_logged_once() {
    let mut f = fixture("schema");
    let t = base();
    f.take(&counts("pets", "hall", "edge-01", 1, t, (4, 0, 4)));
    for seq in 2..5 {
        let mut message = counts("pets", "hall", "edge-01", seq, t + 60 * seq as i64, (1, 0, 99));
        message["schema"] = "lintel.counts/2".into();
        assert_eq!(f.take(&message), Outcome::Dropped(BadInput::UnknownSchema));
    }
    f.assert_counted(BadInput::UnknownSchema, 3);
    assert_eq!(f.occupancy("pets/hall"), Some(4));
    assert_eq!(warnings(BadInput::UnknownSchema, &topic("pets", "hall")), 1);
}

#[test]
fn malformed_json_and_wrong_shapes_are_dropped() {
    let mut f = fixture("malformed");
    let t = base();
    f.take(&counts("pets", "hall", "edge-01", 1, t, (4, 0, 4)));
    let malformed_topic = "lintel/v1/pets/building/hall/counts";
    assert_eq!(
        f.take_raw(malformed_topic, b"{\"schema\": \"lintel.counts/1\", "),
        Outcome::Dropped(BadInput::Malformed)
    );
    assert_eq!(f.take_raw(malformed_topic, &[0xff, 0xfe, 0x00]), Outcome::Dropped(BadInput::Malformed));
    let mut wrong = counts("pets", "hall", "edge-01", 2, t + 60, (1, 0, 5));
    wrong["occupancy"] = json!(-3);
    assert_eq!(f.take(&wrong), Outcome::Dropped(BadInput::Malformed));
    let mut wrong = counts("pets", "hall", "edge-01", 3, t + 60, (1, 0, 5));
    wrong["interval"]["start"] = json!("yesterday");
    assert_eq!(f.take(&wrong), Outcome::Dropped(BadInput::Malformed));
    // Too big to read at all.
    let big = vec![b' '; lintel_city::density::ingest::MAX_MESSAGE_BYTES + 1];
    assert_eq!(f.take_raw(malformed_topic, &big), Outcome::Dropped(BadInput::TooLarge));
    assert_eq!(f.metrics.bad(BadInput::Malformed), 4);
    assert_eq!(f.metrics.bad(BadInput::TooLarge), 1);
    assert_eq!(f.occupancy("pets/hall"), Some(4));
    assert_eq!(warnings(BadInput::Malformed, malformed_topic), 1);
}

#[test]
fn a_building_not_in_the_grid_is_dropped() {
    let mut f = fixture("unknown-building");
    let t = base();
    for seq in 1..=3 {
        let outcome = f.take(&counts("pets", "garage", "edge-01", seq, t + 60 * seq as i64, (1, 0, 1)));
        assert_eq!(outcome, Outcome::Dropped(BadInput::UnknownBuilding));
    }
    f.assert_counted(BadInput::UnknownBuilding, 3);
    assert!(f.ingest.store.latest().unwrap().is_empty());
    assert_eq!(warnings(BadInput::UnknownBuilding, &topic("pets", "garage")), 1);
}

#[test]
fn a_seq_going_backwards_never_overwrites_newer_data() {
    let mut f = fixture("seq-backwards");
    let t = base();
    f.take(&counts("pets", "hall", "edge-01", 10, t + 120, (2, 0, 12)));
    // A late message: lower seq, older interval. Kept in the history, not the current value.
    assert_eq!(
        f.take(&counts("pets", "hall", "edge-01", 9, t + 60, (1, 0, 10))),
        applied("pets/hall", &[BadInput::SeqBackwards])
    );
    assert_eq!(f.occupancy("pets/hall"), Some(12));
    // A node that lost its seq (state wiped) starts again at 1 with newer data: taken, noted.
    let outcome = f.take(&counts("pets", "hall", "edge-01", 1, t + 180, (0, 0, 12)));
    assert_eq!(outcome, applied("pets/hall", &[BadInput::SeqBackwards]));
    assert_eq!(f.occupancy("pets/hall"), Some(12));
    f.assert_counted(BadInput::SeqBackwards, 2);
    let history = f.ingest.store.history(&["pets/hall".into()], t, t + 3600, Step::Interval, 100).unwrap();
    assert_eq!(history.iter().map(|p| p.start_s - t).collect::<Vec<_>>(), vec![60, 120, 180]);
    assert_eq!(warnings(BadInput::SeqBackwards, "pets/hall"), 1);
}

#[test]
fn a_duplicate_message_changes_nothing() {
    let mut f = fixture("duplicate");
    let t = base();
    let message = counts("pets", "hall", "edge-01", 1, t, (3, 0, 3));
    f.take(&message);
    let before = f.ingest.store.dump().unwrap();
    for _ in 0..3 {
        assert_eq!(f.take(&message), Outcome::Dropped(BadInput::Duplicate));
    }
    assert_eq!(f.ingest.store.dump().unwrap(), before);
    f.assert_counted(BadInput::Duplicate, 3);
    assert_eq!(warnings(BadInput::Duplicate, "pets/hall"), 1);
}

#[test]
fn an_interval_from_the_future_is_dropped() {
    let mut f = fixture("future");
    let now = UtcTime::now().unix_seconds();
    f.take(&counts("pets", "hall", "edge-01", 1, base(), (3, 0, 3)));
    let outcome = f.take(&counts("pets", "hall", "edge-01", 2, now + 3600, (50, 0, 53)));
    assert_eq!(outcome, Outcome::Dropped(BadInput::FutureInterval));
    // A little clock skew is fine.
    let outcome = f.take(&counts("pets", "hall", "edge-01", 3, now, (1, 0, 4)));
    assert_eq!(outcome, applied("pets/hall", &[]));
    f.assert_counted(BadInput::FutureInterval, 1);
    assert_eq!(f.occupancy("pets/hall"), Some(4));
    // An empty interval is no interval.
    let mut empty = counts("pets", "hall", "edge-01", 4, base(), (0, 0, 4));
    empty["interval"]["end"] = empty["interval"]["start"].clone();
    assert_eq!(f.take(&empty), Outcome::Dropped(BadInput::BadInterval));
}

#[test]
fn an_occupancy_reset_is_taken_from_the_node_and_counted() {
    let mut f = fixture("reset");
    let t = base();
    f.take(&counts("pets", "hall", "edge-01", 1, t, (30, 0, 30)));
    // An operator set the occupancy to 0 at night: 30 + 0 - 1 != 0.
    let outcome = f.take(&counts("pets", "hall", "edge-01", 2, t + 60, (0, 1, 0)));
    assert_eq!(outcome, applied("pets/hall", &[BadInput::OccupancyReset]));
    assert_eq!(f.occupancy("pets/hall"), Some(0));
    // The next interval follows from it: no note.
    assert_eq!(f.take(&counts("pets", "hall", "edge-01", 3, t + 120, (2, 0, 2))), applied("pets/hall", &[]));
    // The retained occupancy message of `lintel occupancy set` is read too (after the last
    // interval's end; an older one would not replace it).
    let set = json!({"schema": "lintel.occupancy/1", "site": "pets", "building": "hall", "node": "edge-01",
                     "seq": 4, "at": time(t + 200), "occupancy": 9});
    assert_eq!(
        f.take_raw("lintel/v1/pets/building/hall/occupancy", set.to_string().as_bytes()),
        applied("pets/hall", &[])
    );
    assert_eq!(f.occupancy("pets/hall"), Some(9));
    f.assert_counted(BadInput::OccupancyReset, 1);
}

/// A day of messages of three buildings: duplicates included.
fn day_of_messages(t: i64) -> Vec<Value> {
    let mut messages = Vec::new();
    for (site, building, node) in
        [("pets", "hall", "edge-01"), ("lishui-c", "market", "edge-c"), ("lishui-w", "block-1", "edge-w")]
    {
        let mut occupancy = 0u64;
        for i in 0..90u64 {
            let entries = (i * 7 + building.len() as u64) % 5;
            let exits = if occupancy > 0 { (i * 3) % 4 } else { 0 }.min(occupancy + entries);
            occupancy = occupancy + entries - exits;
            messages.push(counts(site, building, node, i + 1, t + 60 * i as i64, (entries, exits, occupancy)));
        }
    }
    messages
}

#[test]
fn the_store_ends_the_same_whatever_the_order_and_the_duplicates() {
    let t = base() - 3600;
    let messages = day_of_messages(t);
    let mut in_order = fixture("order-a");
    for m in &messages {
        in_order.take(m);
    }
    let mut shuffled = fixture("order-b");
    let mut scrambled: Vec<&Value> = messages.iter().chain(messages.iter().step_by(7)).collect();
    fastrand::Rng::with_seed(7).shuffle(&mut scrambled);
    for m in scrambled {
        shuffled.take(m);
    }
    assert_eq!(in_order.ingest.store.dump().unwrap(), shuffled.ingest.store.dump().unwrap());
    assert!(shuffled.metrics.bad(BadInput::Duplicate) > 0);
}

#[test]
fn history_has_intervals_hourly_and_daily_roll_ups_and_retention_forgets() {
    let mut f = fixture("history");
    let t = base() - 3600; // an hour boundary, three hours ago
    for m in day_of_messages(t) {
        f.take(&m);
    }
    let cell = grid().building("pets", "hall").unwrap().cell.clone();
    let keys: Vec<String> = grid().buildings_in(&cell).map(|b| b.key()).collect();
    let raw = f.ingest.store.history(&keys, t, t + 2 * 3600, Step::Interval, 1000).unwrap();
    assert_eq!(raw.len(), 90);
    let hourly = f.ingest.store.history(&keys, t, t + 2 * 3600, Step::Hour, 1000).unwrap();
    assert_eq!(hourly.len(), 2);
    assert_eq!(hourly[0].entries + hourly[1].entries, raw.iter().map(|p| p.entries).sum::<u64>());
    // The mean of the first hour's 60 intervals.
    let mean = raw.iter().take(60).map(|p| p.occupancy).sum::<f64>() / 60.0;
    assert!((hourly[0].occupancy - mean).abs() < 0.01, "{} vs {mean}", hourly[0].occupancy);
    assert_eq!(hourly[0].occupancy_max as f64, raw.iter().take(60).map(|p| p.occupancy).fold(0.0, f64::max));
    let daily = f.ingest.store.history(&keys, t - 86_400, t + 86_400, Step::Day, 10).unwrap();
    assert_eq!(daily.iter().map(|p| p.entries).sum::<u64>(), raw.iter().map(|p| p.entries).sum::<u64>());
    // The cell sums its buildings (the hall and the market are in the same cell).
    let both = f.ingest.store.history(&keys, t, t + 60, Step::Interval, 10).unwrap();
    assert_eq!(both[0].buildings, 2);

    // Retention: intervals older than a day go, hourly roll-ups stay.
    let now = t + 86_400 + 2 * 3600;
    let removed = f.ingest.store.sweep(now, Retention { raw_s: 86_400, hourly_s: 400 * 86_400 }).unwrap();
    assert!(removed >= 270, "{removed}");
    assert!(f.ingest.store.history(&keys, t, t + 2 * 3600, Step::Interval, 1000).unwrap().is_empty());
    assert_eq!(f.ingest.store.history(&keys, t, t + 2 * 3600, Step::Hour, 1000).unwrap(), hourly);
    // The newest state stays whatever the retention.
    assert_eq!(f.ingest.store.latest().unwrap().len(), 3);
}

#[test]
fn the_grid_fixture_is_valid_and_a_bad_grid_file_is_one_clear_line() {
    let dir = scratch_dir("density-bad-grid");
    let path: &Path = &dir.join("grid.geojson");
    let text = std::fs::read_to_string(workspace("fixtures/lishui-grid.geojson")).unwrap();
    let mut grid: Value = serde_json::from_str(&text).unwrap();
    grid["features"][5]["properties"]["floor_area_m2"] = json!("big");
    std::fs::write(path, grid.to_string()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .args(["render", "--grid"])
        .arg(path)
        .args(["--store", &format!("sqlite:{}", dir.join("d.db").display()), "--out"])
        .arg(dir.join("map.png"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        format!("lintel-city: {}: feature 5: properties.floor_area_m2: not a number > 0", path.display())
    );
    // A time zone that is not an IANA name (China's is Asia/Shanghai, not Asia/Beijing).
    let mut grid: Value = serde_json::from_str(&text).unwrap();
    grid["properties"]["time_zone"] = json!("Asia/Beijing");
    std::fs::write(path, grid.to_string()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .args(["render", "--grid"])
        .arg(path)
        .args(["--store", &format!("sqlite:{}", dir.join("d.db").display()), "--out"])
        .arg(dir.join("map.png"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "lintel-city: {}: properties.time_zone: \"Asia/Beijing\" is not a time zone name of the IANA database (e.g. \"Asia/Shanghai\")",
            path.display()
        )
    );
}

#[test]
fn an_occupancy_message_does_not_hide_the_last_intervals_counts_in_either_order() {
    // A node publishes counts and then its retained occupancy for the same moment (higher seq).
    let t = base();
    let counts = counts("pets", "hall", "edge-01", 5, t, (4, 1, 13));
    let occupancy = json!({"schema": "lintel.occupancy/1", "site": "pets", "building": "hall", "node": "edge-01",
                           "seq": 6, "at": time(t + 60), "occupancy": 13, "capacity": 300});
    let occupancy_topic = "lintel/v1/pets/building/hall/occupancy";
    let mut first = fixture("occupancy-after");
    first.take(&counts);
    first.take_raw(occupancy_topic, occupancy.to_string().as_bytes());
    let mut second = fixture("occupancy-before");
    second.take_raw(occupancy_topic, occupancy.to_string().as_bytes());
    second.take(&counts);
    for f in [&mut first, &mut second] {
        let latest = f.ingest.store.latest().unwrap();
        let interval = latest[0].interval.expect("the last interval is kept");
        assert_eq!((interval.entries, interval.exits, latest[0].occupancy, latest[0].seq), (4, 1, 13, 6));
    }
    assert_eq!(first.ingest.store.dump().unwrap(), second.ingest.store.dump().unwrap());
}

#[test]
fn ids_with_control_characters_or_too_long_are_refused_before_the_store() {
    let mut f = fixture("bad-ids");
    let t = base();
    f.take(&counts("pets", "hall", "edge-01", 1, t, (4, 0, 4)));
    // A NUL in a node id once wedged a PostgreSQL worker (the store refused it forever).
    let nul = counts("pets", "hall", "edge\u{0}01", 2, t + 60, (1, 0, 5));
    assert_eq!(f.take(&nul), Outcome::Dropped(BadInput::BadId));
    let mut forged = counts("pets", "hall", "edge-01", 3, t + 60, (1, 0, 5));
    forged["entrances"][0]["id"] = json!("door\nlintel: forged log line");
    assert_eq!(f.take(&forged), Outcome::Dropped(BadInput::BadId));
    let long = counts("pets", "hall", &"n".repeat(129), 4, t + 60, (1, 0, 5));
    assert_eq!(f.take(&long), Outcome::Dropped(BadInput::BadId));
    f.assert_counted(BadInput::BadId, 3);
    assert_eq!(f.occupancy("pets/hall"), Some(4));
    assert_eq!(f.ingest.store.dump().unwrap().messages.len(), 1, "nothing of them was stored");
}

#[test]
fn a_topic_that_does_not_name_the_payload_is_refused() {
    let mut f = fixture("topic-mismatch");
    let t = base();
    f.take(&counts("pets", "hall", "edge-01", 1, t, (4, 0, 4)));
    // A node allowed to write only its own site's topics (the README's ACL) tries another site's.
    let other_site = counts("lishui-c", "market", "edge-01", 2, t + 60, (0, 0, 777));
    let outcome = f.take_raw(&topic("pets", "hall"), other_site.to_string().as_bytes());
    assert_eq!(outcome, Outcome::Dropped(BadInput::TopicMismatch));
    // Counts on the occupancy topic, and occupancy on the counts topic.
    let hall = counts("pets", "hall", "edge-01", 3, t + 60, (1, 0, 5));
    let outcome = f.take_raw("lintel/v1/pets/building/hall/occupancy", hall.to_string().as_bytes());
    assert_eq!(outcome, Outcome::Dropped(BadInput::TopicMismatch));
    let occupancy = json!({"schema": "lintel.occupancy/1", "site": "pets", "building": "hall", "node": "edge-01",
                           "seq": 4, "at": time(t + 60), "occupancy": 99, "capacity": 300});
    assert_eq!(
        f.take_raw(&topic("pets", "hall"), occupancy.to_string().as_bytes()),
        Outcome::Dropped(BadInput::TopicMismatch)
    );
    f.assert_counted(BadInput::TopicMismatch, 3);
    assert_eq!(f.occupancy("pets/hall"), Some(4));
    assert!(f.occupancy("lishui-c/market").is_none());
}

#[test]
fn implausible_counts_are_refused_and_every_sum_stays_exact() {
    let mut f = fixture("implausible");
    let t = base();
    f.take(&counts("pets", "hall", "edge-01", 1, t, (4, 0, 4)));
    // pets/hall holds 300 (the grid): four times that at most.
    assert_eq!(
        f.take(&counts("pets", "hall", "edge-01", 2, t + 60, (0, 0, 1201))),
        Outcome::Dropped(BadInput::Implausible)
    );
    let huge = counts("pets", "hall", "edge-01", 3, t + 60, (0, 0, 1_000_000_000_000));
    assert_eq!(f.take(&huge), Outcome::Dropped(BadInput::Implausible));
    // Two intervals of one hour with i64::MAX entries once overflowed SQLite's SUM and took the
    // history and the NGSI-LD export down for the whole hour.
    for (seq, start) in [(4, t + 120), (5, t + 180)] {
        let flood = counts("pets", "hall", "edge-01", seq, start, (i64::MAX as u64, 0, 4));
        assert_eq!(f.take(&flood), Outcome::Dropped(BadInput::Implausible));
    }
    // One entrance faster than any door, inside a plausible total.
    let mut door = counts("pets", "hall", "edge-01", 6, t + 240, (1, 0, 5));
    door["entrances"][0]["entries"] = json!(60 * 50 + 1);
    assert_eq!(f.take(&door), Outcome::Dropped(BadInput::Implausible));
    // The busiest plausible minute is taken, and the sums over the hour are exact.
    assert_eq!(f.take(&counts("pets", "hall", "edge-01", 7, t + 300, (3000, 2990, 14))), applied("pets/hall", &[]));
    f.assert_counted(BadInput::Implausible, 5);
    let hourly = f.ingest.store.history(&["pets/hall".into()], t, t + 3600, Step::Hour, 10).unwrap();
    assert_eq!(hourly.iter().map(|p| (p.entries, p.exits)).collect::<Vec<_>>(), [(3004, 2990)]);
}

#[test]
fn without_a_cjk_font_a_chinese_picture_is_refused_in_one_line_and_an_english_one_is_ascii() {
    let dir = scratch_dir("density-no-font");
    let render = |language: &str, out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lintel-city"))
            .args(["render", "--grid"])
            .arg(workspace("fixtures/lishui-grid.geojson"))
            .args(["--store", &format!("sqlite:{}", dir.join("d.db").display()), "--lang", language, "--out"])
            .arg(dir.join(out))
            .env("LINTEL_CITY_FONT", dir.join("no-such-font.ttc"))
            .output()
            .unwrap()
    };
    let chinese = render("zh-CN", "zh.png");
    let stderr = String::from_utf8_lossy(&chinese.stderr);
    assert!(!chinese.status.success() && !dir.join("zh.png").exists());
    assert!(stderr.contains("install Debian's fonts-wqy-microhei") && stderr.trim().lines().count() == 1, "{stderr}");
    let english = render("en", "en.png");
    assert!(english.status.success(), "{}", String::from_utf8_lossy(&english.stderr));
    assert_eq!(&std::fs::read(dir.join("en.png")).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
}
