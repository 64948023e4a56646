//! Every kind of message the publishing stage produces is valid against its JSON Schema in
//! `schemas/`, and the schemas reject what must never be published.

use std::path::{Path, PathBuf};

use jsonschema::Validator;
use lintel::publish::{
    Alert, AlertKind, CameraState, CameraStatus, Counts, EntranceSummary, IntervalBounds, Message, NodeState,
    NodeStatus, Occupancy, OccupancySet, Spool, UtcTime,
};
use serde_json::{Value, json};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// `"lintel.counts/1"` → `schemas/counts.schema.json` (one file per message, its current version).
fn schema_file(tag: &str) -> PathBuf {
    let name = tag.strip_prefix("lintel.").and_then(|rest| rest.split_once('/')).expect("a lintel tag").0;
    schemas_dir().join(format!("{name}.schema.json"))
}

fn validator(tag: &str) -> Validator {
    let path = schema_file(tag);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every error of `instance` against the schema its `"schema"` field names.
fn errors(instance: &Value) -> Vec<String> {
    let tag = instance["schema"].as_str().expect("a schema tag");
    validator(tag).iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

fn at(seconds: i64) -> UtcTime {
    UtcTime::from_unix_seconds(seconds)
}

/// One message of every kind and variant the code can produce.
fn every_kind_of_message() -> Vec<Message> {
    let mut messages = vec![
        Message::from(Counts {
            site: "s1".into(),
            building: "b7".into(),
            node: "edge-01".into(),
            seq: 0,
            interval: IntervalBounds { start: at(1_795_600_800), end: at(1_795_600_860) },
            entries: 4,
            exits: 2,
            occupancy: 37,
            entrances: vec![
                EntranceSummary {
                    id: "north".into(),
                    entries: 3,
                    exits: 1,
                    cameras: vec!["cam-07".into()],
                    healthy: true,
                },
                EntranceSummary {
                    id: "south door".into(),
                    entries: 1,
                    exits: 1,
                    cameras: vec!["cam-08".into(), "cam-09".into()],
                    healthy: false,
                },
            ],
        }),
        Message::from(Counts {
            site: "s1".into(),
            building: "b8".into(),
            node: "edge-01".into(),
            seq: 0,
            interval: IntervalBounds { start: at(0), end: at(60) },
            entries: 0,
            exits: 0,
            occupancy: 0,
            entrances: vec![],
        }),
        Message::from(Occupancy {
            site: "s1".into(),
            building: "b7".into(),
            node: "edge-01".into(),
            seq: 0,
            at: UtcTime::now(),
            occupancy: 37,
            capacity: Some(120),
        }),
        Message::from(Occupancy {
            site: "s1".into(),
            building: "b7".into(),
            node: "edge-01".into(),
            seq: 0,
            at: at(1_795_600_860),
            occupancy: 0,
            capacity: None,
        }),
        Message::from(NodeStatus {
            site: "s1".into(),
            node: "edge-01".into(),
            seq: 0,
            at: UtcTime::now(),
            state: NodeState::Online,
            cameras: CameraState::ALL
                .iter()
                .enumerate()
                .map(|(i, &state)| CameraStatus { id: format!("cam-{i}"), state })
                .collect(),
            version: Some("0.1.0".into()),
            web: Some("http://edge-01.lan:8080/".into()),
        }),
        Message::from(NodeStatus {
            site: "s1".into(),
            node: "edge-01".into(),
            seq: 0,
            at: at(1_795_600_800),
            state: NodeState::Offline,
            cameras: vec![],
            version: None,
            web: None,
        }),
    ];
    for kind in AlertKind::ALL {
        messages.push(Message::from(Alert {
            site: "s1".into(),
            node: "edge-01".into(),
            seq: 0,
            at: UtcTime::now(),
            kind,
            subject: "cam-07".into(),
            message: "camera cam-07: no frame for 30 s\n(rtsp://cam-07/stream: timeout)".into(),
        }));
    }
    messages
}

#[test]
fn the_schemas_are_valid_2020_12_schemas() {
    for tag in ["lintel.counts/1", "lintel.occupancy/1", "lintel.alert/1", "lintel.node_status/1", OccupancySet::SCHEMA]
    {
        let path = schema_file(tag);
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if let Err(error) = jsonschema::meta::validate(&schema) {
            panic!("{}: {error}", path.display());
        }
        assert_eq!(schema["title"], tag, "{}", path.display());
        assert_eq!(schema["properties"]["schema"]["const"], tag, "{}", path.display());
    }
}

/// The payloads checked are the bytes the spool stores, which are the bytes sent to the broker.
#[test]
fn every_message_the_code_produces_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
    let messages = every_kind_of_message();
    let mut tags = std::collections::BTreeSet::new();
    for message in &messages {
        spool.push(message.clone()).unwrap();
    }
    while let Some(spooled) = spool.peek_oldest().unwrap() {
        let payload: Value = serde_json::from_slice(&spooled.payload).unwrap();
        let errors = errors(&payload);
        assert!(errors.is_empty(), "{payload}\n{}", errors.join("\n"));
        assert_eq!(payload["seq"], spooled.seq);
        tags.insert(payload["schema"].as_str().unwrap().to_string());
        spool.ack(spooled.seq).unwrap();
    }
    assert_eq!(tags.len(), 4, "{tags:?}");
}

#[test]
fn the_schemas_refuse_what_must_not_be_published() {
    let counts = json!({"schema": "lintel.counts/1", "site": "s1", "building": "b7", "node": "edge-01", "seq": 1042,
        "interval": {"start": "2026-11-25T10:00:00Z", "end": "2026-11-25T10:01:00Z"},
        "entries": 4, "exits": 2, "occupancy": 37,
        "entrances": [{"id": "north", "entries": 3, "exits": 1, "cameras": ["cam-07"], "healthy": true}]});
    assert!(errors(&counts).is_empty(), "{:?}", errors(&counts));

    let with = |pointer: &str, value: Value| {
        let mut changed = counts.clone();
        *changed.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value;
        changed
    };
    let mut track_id = counts.clone();
    track_id["track_id"] = json!(17);
    let mut embedding = counts.clone();
    embedding["entrances"][0]["embedding"] = json!([0.1, 0.2]);
    let refused = [
        ("a track id", track_id),
        ("an embedding", embedding),
        ("a local time", with("/interval/start", json!("2026-11-25T11:00:00+01:00"))),
        ("not a time", with("/interval/end", json!("yesterday"))),
        ("a negative count", with("/entries", json!(-1))),
        ("seq 0", with("/seq", json!(0))),
        ("a topic wildcard in an id", with("/building", json!("b+"))),
        ("a missing field", {
            let mut missing = counts.clone();
            missing.as_object_mut().unwrap().remove("occupancy");
            missing
        }),
    ];
    for (what, instance) in refused {
        assert!(!errors(&instance).is_empty(), "{what} was accepted: {instance}");
    }

    // The node status' optional fields: a version is one line, the web address an http(s) URL
    // (a console links to it).
    let status = json!({"schema": "lintel.node_status/1", "site": "s1", "node": "edge-01", "seq": 4,
        "at": "2026-11-25T10:00:00Z", "state": "online", "cameras": [],
        "version": "0.1.0", "web": "http://edge-01.lan:8080/"});
    assert!(errors(&status).is_empty(), "{:?}", errors(&status));
    for (field, bad) in [("web", "javascript:alert(1)"), ("web", "http://a b/"), ("version", "1\n2"), ("version", "")] {
        let mut changed = status.clone();
        changed[field] = json!(bad);
        assert!(!errors(&changed).is_empty(), "{field} {bad:?} was accepted");
    }

    let alert = json!({"schema": "lintel.alert/1", "site": "s1", "node": "edge-01", "seq": 3,
        "at": "2026-11-25T10:00:00.250Z", "kind": "camera_offline", "subject": "cam-07", "message": "no frames"});
    assert!(errors(&alert).is_empty(), "{:?}", errors(&alert));
    let mut unknown_kind = alert.clone();
    unknown_kind["kind"] = json!("person_detected");
    let mut two_lines = alert.clone();
    two_lines["message"] = json!("one\ntwo");
    let mut image = alert.clone();
    image["image"] = json!("aGVsbG8=");
    for instance in [unknown_kind, two_lines, image] {
        assert!(!errors(&instance).is_empty(), "accepted: {instance}");
    }
}

/// The command `lintel occupancy set` publishes is valid; what the schema refuses, the node refuses too.
#[test]
fn the_occupancy_command_matches_its_schema_and_the_node_reads_it_the_same_way() {
    let key = lintel::publish::CommandKey::new("a key of sixteen bytes or more").unwrap();
    let command = OccupancySet { issued_by: Some("ops-li".into()), ..OccupancySet::new(12) }.signed(&key, "s1", "b7");
    let json: Value = serde_json::from_slice(&command.to_json()).unwrap();
    assert!(errors(&json).is_empty(), "{json}\n{:?}", errors(&json));
    assert_eq!(json["schema"], OccupancySet::SCHEMA);
    assert_eq!(OccupancySet::parse(&command.to_json()).unwrap(), command);
    // An unsigned command is refused by both.
    let unsigned: Value = serde_json::from_slice(&OccupancySet::new(12).to_json()).unwrap();
    assert!(!errors(&unsigned).is_empty());
    assert!(OccupancySet::parse(&OccupancySet::new(12).to_json()).is_err());

    let good = json!({"schema": "lintel.occupancy_set/2", "occupancy": 12, "id": "a1",
        "issued_at": "2026-11-25T10:00:00Z", "issued_by": "ops-li", "mac": "0".repeat(64)});
    assert!(errors(&good).is_empty(), "{:?}", errors(&good));
    assert!(OccupancySet::parse(good.to_string().as_bytes()).is_ok());
    let with = |field: &str, value: Value| {
        let mut changed = good.clone();
        changed[field] = value;
        changed
    };
    let without = |field: &str| {
        let mut changed = good.clone();
        changed.as_object_mut().unwrap().remove(field);
        changed
    };
    let refused = [
        ("a negative occupancy", with("occupancy", json!(-3))),
        ("a fractional occupancy", with("occupancy", json!(2.5))),
        ("an empty id", with("id", json!(""))),
        ("a very long id", with("id", json!("x".repeat(129)))),
        ("a local time", with("issued_at", json!("2026-11-25T11:00:00+01:00"))),
        ("another schema", with("schema", json!("lintel.occupancy/1"))),
        ("the previous version", with("schema", json!("lintel.occupancy_set/1"))),
        ("an id with a line break", with("id", json!("a\nb"))),
        ("an empty issued_by", with("issued_by", json!(""))),
        ("an issued_by with a control character", with("issued_by", json!("ops\u{1b}[2J"))),
        ("a short mac", with("mac", json!("0".repeat(63)))),
        ("an uppercase mac", with("mac", json!("A".repeat(64)))),
        ("no mac", without("mac")),
        ("an unknown field", with("building", json!("b7"))),
        ("no id", without("id")),
        ("no occupancy", without("occupancy")),
    ];
    for (what, instance) in refused {
        // "another schema" names a different schema file; check it against the command's own.
        let by_schema = validator(OccupancySet::SCHEMA).iter_errors(&instance).count();
        assert!(by_schema > 0, "the schema accepted {what}: {instance}");
        if what != "a local time" {
            assert!(OccupancySet::parse(instance.to_string().as_bytes()).is_err(), "the node accepted {what}");
        }
    }
}
