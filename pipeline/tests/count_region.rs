//! `lintel count` with the detector looking only where it counts (`--detector-region auto`, the
//! default): on the clip with three short door lines (`fixtures/pets-doors.toml`), the detector
//! sees the doors' region through a smaller network on most frames and counts what it counts on
//! the whole frame; zones across the whole picture leave the detector on the whole frame.

mod common;

use std::ffi::OsStr;

use common::{lintel_count, video, workspace};
use serde_json::Value;

fn count(site: &str, extra: &[&str]) -> Value {
    let (site, video) = (workspace(site), video());
    let args = [OsStr::new("--site"), site.as_os_str()].into_iter();
    lintel_count(args.chain(extra.iter().map(OsStr::new)).chain([video.as_os_str()]))
}

fn zone_counts(run: &Value) -> Vec<(String, i64, i64)> {
    run["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            (z["name"].as_str().unwrap().to_string(), z["entries"].as_i64().unwrap(), z["exits"].as_i64().unwrap())
        })
        .collect()
}

#[test]
fn the_doors_region_counts_what_the_whole_frame_counts() {
    let whole = count("fixtures/pets-doors.toml", &["--detector-region", "off"]);
    let region = count("fixtures/pets-doors.toml", &[]);
    assert_eq!(whole["regional"], 0, "--detector-region off looks at the whole frame");
    let frames = region["frames"].as_u64().unwrap();
    let detected = frames - region["skipped"].as_u64().unwrap();
    let regional = region["regional"].as_u64().unwrap();
    println!("{regional} of {detected} detected frames through the region; whole {:?}", zone_counts(&whole));
    println!("region {:?}", zone_counts(&region));
    // A whole-frame look every 2 s (and at the start) of a 79.5 s clip at 10 frames/s.
    assert!(regional * 10 >= detected * 9, "only {regional} of {detected} detected frames through the region");
    let crossings: i64 = zone_counts(&whole).iter().map(|(_, entries, exits)| entries + exits).sum();
    assert!(crossings >= 6, "the doors' lines saw only {crossings} crossings");
    for ((name, entries, exits), (_, region_entries, region_exits)) in
        zone_counts(&whole).iter().zip(zone_counts(&region))
    {
        assert!(
            (entries - region_entries).abs() + (exits - region_exits).abs() <= 1,
            "{name}: {entries}/{exits} on the whole frame, {region_entries}/{region_exits} through the region"
        );
    }
}

#[test]
fn zones_across_the_whole_picture_leave_the_detector_on_the_whole_frame() {
    let run = count("fixtures/pets.toml", &["--until-s", "5"]);
    assert_eq!(run["frames"], 50);
    assert_eq!(run["regional"], 0, "no region network holds zones across the whole picture");
}
