//! Zones placed in metres on a camera's floor, and zones that count for another entrance than
//! their camera's, counted by `lintel count` on the real clip.

mod common;

use common::{lintel_count, scratch_dir, video, workspace};
use serde_json::Value;

/// The PETS site with a floor on its camera (the picture scaled to 10 m × 7.5 m: one metre is
/// 76.8 px both ways), copies of two zones placed on that floor in metres, and a copy of the
/// entrance's line that counts for a second entrance of another building.
fn site_with_floor() -> String {
    let fixture = std::fs::read_to_string(workspace("fixtures/pets.toml")).unwrap();
    let with_entrance = fixture.replace(
        "[[camera]]",
        "[[building]]\nid = \"annex\"\n\n[[entrance]]\nid = \"side\"\nbuilding = \"annex\"\n\n[[camera]]",
    );
    let with_floor = with_entrance.replace(
        "url = \"file:///usr/share/doc/opencv-doc/examples/data/vtest.avi\"",
        "url = \"file:///usr/share/doc/opencv-doc/examples/data/vtest.avi\"\n\
         floor = { points = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], metres = [[0.0, 0.0], [10.0, 0.0], [10.0, 7.5], [0.0, 7.5]] }",
    );
    assert_ne!(with_floor, with_entrance, "the fixture's camera url changed: update this test");
    // h300 at y = 300 px is y = 3.90625 m; the door 300..500 × 200..350 px in metres; hysteresis
    // 1 % of 576 px = 5.76 px = 0.075 m.
    with_floor
        + r#"
[[zone]]
camera = "walkway"
name = "h300-floor"
space = "floor"
aggregate = false
kind = "line"
points = [[0.0, 3.90625], [10.0, 3.90625]]
entry_side = "right"
min_distance = 0.075

[[zone]]
camera = "walkway"
name = "door-floor"
space = "floor"
aggregate = false
kind = "polygon"
points = [[3.90625, 2.604167], [6.510417, 2.604167], [6.510417, 4.557292], [3.90625, 4.557292]]
min_distance = 0.075

[[zone]]
camera = "walkway"
name = "h300-side"
entrance = "side"
kind = "line"
points = [[0.0, 0.520833], [1.0, 0.520833]]
entry_side = "right"
"#
}

fn zone<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["zones"].as_array().unwrap().iter().find(|z| z["name"] == name).unwrap_or_else(|| panic!("no zone {name}"))
}

fn counts(zone: &Value) -> (u64, u64) {
    (zone["entries"].as_u64().unwrap(), zone["exits"].as_u64().unwrap())
}

#[test]
fn zones_on_the_floor_count_as_their_picture_twins_and_a_zone_counts_for_its_own_entrance() {
    let dir = scratch_dir("floor-zones");
    let site = dir.join("site.toml");
    std::fs::write(&site, site_with_floor()).unwrap();
    let run = lintel_count(["--site".as_ref(), site.as_os_str(), video().as_os_str()]);

    // The same lines and door in metres count the same passages as in the picture.
    let h300 = counts(zone(&run, "h300"));
    assert!(h300.0 + h300.1 >= 10, "too few crossings to compare: {h300:?}");
    assert_eq!(counts(zone(&run, "h300-floor")), h300, "the line on the floor");
    assert_eq!(counts(zone(&run, "door-floor")), counts(zone(&run, "door")), "the door on the floor");

    // The copy of the entrance's line counts for the side entrance and its building, not the
    // walkway's.
    let side = zone(&run, "h300-side");
    assert_eq!((side["entrance"].as_str(), side["building"].as_str()), (Some("side"), Some("annex")));
    assert_eq!(counts(side), h300);
    let total = |list: &str, id: &str| {
        let found = run[list].as_array().unwrap().iter().find(|t| t["id"] == id).cloned();
        found.map(|t| (t["entries"].as_u64().unwrap(), t["exits"].as_u64().unwrap()))
    };
    assert_eq!(total("entrances", "side"), Some(h300));
    assert_eq!(total("buildings", "annex"), Some(h300));
    assert_eq!(total("buildings", "hall"), Some(h300), "the hall keeps only its own line");
}

/// The PETS site with a floor measured by eye: the lower trapezoid of the picture taken as 8 m
/// across and 20 m deep, which puts the walkers at 1.5–2.2 m (looked at on the set-up page). The
/// camera's pose comes from the floor alone (no lens). `heights` is the floor's height setting.
fn site_with_heights(heights: &str) -> String {
    let fixture = std::fs::read_to_string(workspace("fixtures/pets.toml")).unwrap();
    let url = "url = \"file:///usr/share/doc/opencv-doc/examples/data/vtest.avi\"";
    let floor = format!(
        "{url}\nfloor = {{ points = [[0.15, 0.95], [0.85, 0.95], [0.72, 0.3], [0.28, 0.3]], \
         metres = [[0.0, 0.0], [8.0, 0.0], [8.0, 20.0], [0.0, 20.0]], {heights} }}"
    );
    assert!(fixture.contains(url), "the fixture's camera url changed: update this test");
    fixture.replace(url, &floor)
}

#[test]
fn boxes_of_no_persons_height_are_dropped_on_the_real_clip_and_people_are_kept() {
    let dir = scratch_dir("floor-heights");
    let count = |name: &str, heights: &str| {
        let site = dir.join(name);
        std::fs::write(&site, site_with_heights(heights)).unwrap();
        counts(zone(&lintel_count(["--site".as_ref(), site.as_os_str(), video().as_os_str()]), "h300"))
    };
    let all = count("all.toml", "height_filter = false");
    let people = count("people.toml", "height_range_m = [0.8, 2.5]");
    let giants = count("giants.toml", "height_range_m = [3.0, 4.0]");
    eprintln!("h300 (in, out): every box {all:?}, 0.8–2.5 m {people:?}, 3–4 m {giants:?}");
    assert!(all.0 + all.1 >= 10, "too few crossings to compare: {all:?}");
    // Nobody on the walkway is 3 m tall: every box is dropped, nothing is counted.
    assert_eq!(giants, (0, 0));
    // The default range keeps the walkers: on this floor guessed by eye, 33 of 37 crossings
    // (measured); held to 85 %.
    assert!((people.0 + people.1) as f64 >= 0.85 * (all.0 + all.1) as f64, "{people:?} vs {all:?}");
}
