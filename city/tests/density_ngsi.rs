//! The NGSI-LD export for other agencies: every entity valid against the schemas written from
//! FIWARE's published Smart Data Models (`schemas/ngsi-ld/`), the schemas refusing what the
//! models do not allow, and small counts merged or left out.

use std::sync::Arc;

use jsonschema::Validator;
use lintel_city::density::ngsi::{NgsiOptions, export};
use lintel_city::density::{Grid, Ingest, IngestMetrics, Outcome, store};
use lintel_testkit::{scratch_dir, workspace};
use lintel_wire::UtcTime;
use serde_json::{Value, json};

fn validator(kind: &str) -> Validator {
    let path = workspace(&format!("schemas/ngsi-ld/{kind}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn errors(entity: &Value) -> Vec<String> {
    let kind = entity["type"].as_str().expect("an entity type");
    validator(kind).iter_errors(entity).map(|e| format!("{e} at {}", e.instance_path())).collect()
}

fn time(seconds: i64) -> String {
    UtcTime::from_unix_seconds(seconds).to_string()
}

struct Data {
    grid: Arc<Grid>,
    ingest: Ingest,
    /// The start of a fixed 6-hour block (of the suppression), 10 to 16 hours before `now`.
    h0: i64,
    /// The export's clock: the middle of the previous hour, so that the data's last minutes never
    /// fall in another hour than `now`, whatever minute the test runs at.
    now: UtcTime,
    _dir: std::path::PathBuf,
}

/// Cell wg-02 (the hall and the market): one lone passage at h0; 1 + 2 entries over h3 and h4;
/// ten at h5; and current occupancies of 2 (hall) and 12 (market).
fn data(name: &str) -> Data {
    let dir = scratch_dir(&format!("density-ngsi-{name}"));
    let grid = Arc::new(Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap());
    let store = store::open(&format!("sqlite:{}", dir.join("d.db").display())).unwrap();
    let mut ingest = Ingest::new(Arc::clone(&grid), store, Arc::new(IngestMetrics::default()));
    let real = UtcTime::now().unix_seconds();
    let now = real - real % 3600 - 1800;
    let h0 = (now - 10 * 3600) - (now - 10 * 3600) % (6 * 3600);
    let mut seq = std::collections::HashMap::new();
    let mut send = |site: &str, building: &str, start: i64, entries: u64, exits: u64, occupancy: u64| {
        let seq = seq.entry(building.to_string()).and_modify(|s| *s += 1).or_insert(1u64);
        let message = json!({
            "schema": "lintel.counts/1", "site": site, "building": building, "node": format!("edge-{building}"),
            "seq": *seq, "interval": {"start": time(start), "end": time(start + 60)},
            "entries": entries, "exits": exits, "occupancy": occupancy, "entrances": [],
        });
        let topic = format!("lintel/v1/{site}/building/{building}/counts");
        let outcome = ingest.take(&topic, message.to_string().as_bytes(), UtcTime::now()).unwrap();
        assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    };
    send("pets", "hall", h0 + 3 * 60, 1, 0, 1); // 03:03, one person
    send("pets", "hall", h0 + 20 * 60, 0, 1, 0); // …who leaves
    send("pets", "hall", h0 + 3 * 3600 + 600, 1, 0, 1);
    send("pets", "hall", h0 + 4 * 3600 + 600, 1, 0, 2);
    send("lishui-c", "market", h0 + 4 * 3600 + 900, 1, 0, 1);
    send("lishui-c", "market", h0 + 5 * 3600 + 60, 10, 0, 11);
    send("lishui-c", "market", now - now % 60 - 120, 1, 0, 12);
    send("pets", "hall", now - now % 60 - 120, 0, 0, 2);
    Data { grid, ingest, h0, now: UtcTime::from_unix_seconds(now), _dir: dir }
}

fn flows(entities: &[Value], cell: &str, direction: &str) -> Vec<(i64, i64, u64)> {
    entities
        .iter()
        .filter(|e| e["type"] == "CrowdFlowObserved" && e["direction"]["value"] == direction)
        .filter(|e| e["id"].as_str().unwrap().starts_with(&format!("urn:ngsi-ld:CrowdFlowObserved:{cell}:")))
        .map(|e| {
            let at = |name: &str| {
                let text = e[name]["value"]["@value"].as_str().unwrap();
                lintel_city::density::web::parse_time(text).unwrap().unix_seconds()
            };
            (at("dateObservedFrom"), at("dateObservedTo"), e["peopleCount"]["value"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn every_exported_entity_is_valid_against_the_published_models() {
    let mut d = data("valid");
    let now = d.now;
    let entities =
        export(&d.grid, &mut d.ingest.store, d.h0 - 3600, now.unix_seconds(), now, 86_400, &NgsiOptions::default())
            .unwrap();
    assert_eq!(entities.iter().filter(|e| e["type"] == "Building").count(), 12);
    assert!(entities.iter().any(|e| e["type"] == "CrowdFlowObserved"));
    for entity in &entities {
        assert_eq!(errors(entity), Vec::<String>::new(), "{entity:#}");
    }
    let market = entities.iter().find(|e| e["id"] == "urn:ngsi-ld:Building:lishui-c:market").unwrap();
    assert_eq!(market["peopleOccupancy"]["value"], 12);
    assert_eq!(market["peopleCapacity"]["value"], 400);
    assert_eq!(market["category"]["value"], json!(["retail"]));
}

#[test]
fn small_counts_are_merged_or_left_out_and_the_map_keeps_them() {
    let mut d = data("small");
    let now = d.now;
    let h = |n: i64| d.h0 + n * 3600;
    let entities =
        export(&d.grid, &mut d.ingest.store, d.h0, now.unix_seconds(), now, 86_400, &NgsiOptions::default()).unwrap();
    // The lone passage at 03:03 (1 in, 1 out) is not there; 1 + 2 over two hours is, merged (both
    // directions over the same span); 10 is.
    assert_eq!(flows(&entities, "wg-02", "inbound"), vec![(h(3), h(5), 3), (h(5), h(6), 10)]);
    assert_eq!(flows(&entities, "wg-02", "outbound"), vec![(h(3), h(5), 0), (h(5), h(6), 0)]);
    for entity in entities.iter().filter(|e| e["type"] == "CrowdFlowObserved") {
        let count = entity["peopleCount"]["value"].as_u64().unwrap();
        assert!(count == 0 || count >= 3, "{entity}");
    }
    // The hall holds 2 people: its occupancy is not exported; its capacity is.
    let hall = entities.iter().find(|e| e["id"] == "urn:ngsi-ld:Building:pets:hall").unwrap();
    assert!(hall.get("peopleOccupancy").is_none(), "{hall}");
    assert_eq!(hall["peopleCapacity"]["value"], 300);

    // The community's own history keeps the exact counts.
    let keys = vec!["pets/hall".to_string(), "lishui-c/market".to_string()];
    let hours = d.ingest.store.history(&keys, d.h0, h(6), store::Step::Hour, 100).unwrap();
    assert_eq!(hours[0].entries, 1);
    // With the threshold at 1 every hour goes out as it is.
    let exact = NgsiOptions { threshold: 1, ..NgsiOptions::default() };
    let entities = export(&d.grid, &mut d.ingest.store, d.h0, now.unix_seconds(), now, 86_400, &exact).unwrap();
    assert_eq!(
        flows(&entities, "wg-02", "inbound"),
        vec![(h(0), h(1), 1), (h(3), h(4), 1), (h(4), h(5), 2), (h(5), h(6), 10)]
    );
}

/// Issue 23: with 1 entry at 03:00 and 5 at 04:00, `from=03:00` exported 6 and `from=04:00`
/// exported 5, giving the 1 away. Every window over a day of small and large counts: the spans
/// of all answers are one partition, and no window's total differs from one inside it by a
/// small count.
#[test]
fn no_difference_of_two_exports_reveals_a_small_count() {
    let dir = scratch_dir("density-ngsi-differencing");
    let grid = Arc::new(Grid::load(&workspace("fixtures/lishui-grid.geojson")).unwrap());
    let store = store::open(&format!("sqlite:{}", dir.join("d.db").display())).unwrap();
    let mut ingest = Ingest::new(Arc::clone(&grid), store, Arc::new(IngestMetrics::default()));
    let real = UtcTime::now().unix_seconds();
    let b = real - real % (6 * 3600) - 2 * 86_400; // a block's start, two days ago
    let now = UtcTime::from_unix_seconds(b + 20 * 3600 + 1800);
    // (hour, entries, exits) of the hall (cell wg-02), hours after b.
    let data = [(2, 1, 0), (3, 5, 1), (4, 0, 2), (5, 2, 2), (6, 1, 0), (7, 0, 0), (8, 4, 1), (9, 1, 1), (10, 0, 3)];
    let more = [(11, 2, 0), (12, 1, 0), (13, 9, 9), (14, 1, 2), (16, 2, 1), (17, 1, 1), (18, 3, 0), (19, 1, 0)];
    for (seq, &(hour, entries, exits)) in data.iter().chain(&more).enumerate() {
        let start = b + hour * 3600 + 600;
        let message = json!({
            "schema": "lintel.counts/1", "site": "pets", "building": "hall", "node": "edge-hall",
            "seq": seq + 1, "interval": {"start": time(start), "end": time(start + 60)},
            "entries": entries, "exits": exits, "occupancy": 20, "entrances": [],
        });
        let outcome = ingest.take("lintel/v1/pets/building/hall/counts", message.to_string().as_bytes(), now).unwrap();
        assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    }
    let mut answers = Vec::new();
    for from in 0..=20 {
        for to in from + 1..=21 {
            let window = (b + from * 3600, b + to * 3600);
            let entities =
                export(&grid, &mut ingest.store, window.0, window.1, now, 86_400, &NgsiOptions::default()).unwrap();
            for direction in ["inbound", "outbound"] {
                answers.push((direction, window, flows(&entities, "wg-02", direction)));
            }
        }
    }
    let mut spans = std::collections::BTreeSet::new();
    for (_, _, flows) in &answers {
        for &(start, end, count) in flows {
            assert!(count == 0 || count >= 3, "a small count went out: {count} over {start}..{end}");
            spans.insert((start, end));
        }
    }
    // One partition of time: two spans are the same or do not overlap.
    let spans: Vec<_> = spans.into_iter().collect();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "spans overlap: {pair:?} (they depend on the request)");
    }
    // A window holding another: the difference of their totals is 0 or at least the threshold.
    let total = |flows: &[(i64, i64, u64)]| flows.iter().map(|f| f.2).sum::<u64>();
    for (d1, w1, f1) in &answers {
        for (d2, w2, f2) in &answers {
            if d1 == d2 && w1.0 <= w2.0 && w2.1 <= w1.1 {
                let difference = total(f1) - total(f2);
                assert!(difference == 0 || difference >= 3, "{d1} {w1:?} minus {w2:?} reveals {difference}");
            }
        }
    }
    // The hall's passages are there, merged: the 1 at 02:00 with the 5 at 03:00 (and 03:00–05:00 for its exits), whichever window.
    let (_, _, from_three) =
        answers.iter().find(|(d, w, _)| *d == "inbound" && *w == (b + 3 * 3600, b + 4 * 3600)).unwrap();
    assert_eq!(from_three, &vec![(b + 2 * 3600, b + 5 * 3600, 6)]);
}

#[test]
fn the_schemas_refuse_what_the_models_do_not_allow() {
    let mut d = data("refuse");
    let now = d.now;
    let entities =
        export(&d.grid, &mut d.ingest.store, d.h0, now.unix_seconds(), now, 86_400, &NgsiOptions::default()).unwrap();
    let flow = entities.iter().find(|e| e["type"] == "CrowdFlowObserved").unwrap().clone();
    let building = entities.iter().find(|e| e["type"] == "Building").unwrap().clone();
    let broken: Vec<(Value, &str)> = vec![
        (
            {
                let mut e = flow.clone();
                e["direction"]["value"] = "sideways".into();
                e
            },
            "direction",
        ),
        (
            {
                let mut e = flow.clone();
                e.as_object_mut().unwrap().remove("dateObserved");
                e
            },
            "dateObserved",
        ),
        (
            {
                let mut e = flow.clone();
                e["peopleCount"]["value"] = json!(-1);
                e
            },
            "peopleCount",
        ),
        (
            {
                let mut e = flow.clone();
                e["trackId"] = json!({"type": "Property", "value": 7});
                e
            },
            "trackId",
        ),
        (
            {
                let mut e = flow.clone();
                e["peopleCount"] = json!(4);
                e
            },
            "peopleCount",
        ),
        (
            {
                let mut e = building.clone();
                e["category"]["value"] = json!(["spaceship"]);
                e
            },
            "category",
        ),
        (
            {
                let mut e = building.clone();
                e["peopleOccupancy"] = json!({"type": "Property", "value": -2});
                e
            },
            "peopleOccupancy",
        ),
        (
            {
                let mut e = building.clone();
                e.as_object_mut().unwrap().remove("address");
                e
            },
            "address",
        ),
        (
            {
                let mut e = building.clone();
                e["id"] = "building-1".into();
                e
            },
            "id",
        ),
    ];
    for (entity, what) in broken {
        let errors = errors(&entity);
        assert!(!errors.is_empty(), "a broken {what} passed: {entity}");
    }
}
