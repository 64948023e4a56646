//! Motion gating on real video: with a counting line on the PETS lawn, where nobody comes near
//! for the first 20 s while the walkway beside it is busy, `lintel count` (gated by default) keeps
//! most frames from the detector and counts exactly what it counts with `--motion-gate=off`.

mod common;

use std::ffi::OsStr;

use common::{lintel_count, video, workspace};
use serde_json::Value;

/// The small detector: what is compared is gated against ungated, not the detector.
const MODEL: &str = "ssdlite-pedestrian-300";

fn count(extra: &[&str]) -> Value {
    let (site, video) = (workspace("fixtures/pets-lawn.toml"), video());
    let model = ["--model", MODEL, "--site"].map(OsStr::new);
    let rest = extra.iter().map(OsStr::new).chain([video.as_os_str()]);
    lintel_count(model.into_iter().chain([site.as_os_str()]).chain(rest))
}

fn zone_counts(run: &Value) -> Vec<(String, u64, u64)> {
    run["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            (z["name"].as_str().unwrap().to_string(), z["entries"].as_u64().unwrap(), z["exits"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn an_idle_door_skips_the_detector_and_counts_do_not_change() {
    let ungated = count(&["--motion-gate=off"]);
    let gated = count(&[]);
    let frames = ungated["frames"].as_u64().unwrap();
    assert_eq!(frames, 795);
    assert_eq!(gated["frames"], ungated["frames"], "the gate skips the detector, not frames");
    assert_eq!(ungated["skipped"], 0);
    let skipped = gated["skipped"].as_u64().unwrap();
    println!("skipped {skipped} of {frames}; ungated {:?}, gated {:?}", zone_counts(&ungated), zone_counts(&gated));
    // Nobody is near the lawn line for most of the clip (the ground truth has someone within the
    // margin in 139 of 795 frames).
    assert!(skipped * 2 >= frames, "only {skipped} of {frames} frames skipped");
    assert_eq!(zone_counts(&gated), zone_counts(&ungated));
    let lawn = &zone_counts(&ungated)[0];
    assert!(lawn.1 + lawn.2 >= 1, "the person walking onto the lawn was not counted: {lawn:?}");
}

#[test]
fn the_idle_stretch_is_analysed_only_every_max_skip() {
    let run = count(&["--motion-gate=2", "--until-s", "20"]);
    assert_eq!(run["frames"], 200, "--until-s 20 of a 10 fps clip");
    let skipped = run["skipped"].as_u64().unwrap();
    // At most one detection per 2 s without motion: 10 of 200, plus the first frame; a few
    // more for compression flicker at most.
    assert!(skipped >= 180, "the detector ran on {} of 200 idle frames", 200 - skipped);
    assert_eq!(zone_counts(&run), vec![("lawn".to_string(), 0, 0)]);
}

#[test]
fn a_camera_of_the_site_file_turns_the_gate_on_without_the_flag() {
    let dir = common::scratch_dir("motion-gate-site");
    let text = std::fs::read_to_string(workspace("fixtures/pets-lawn.toml")).unwrap();
    let site = dir.join("site.toml");
    let camera_url = "url = \"file:///usr/share/doc/opencv-doc/examples/data/vtest.avi\"";
    std::fs::write(
        &site,
        text.replace(camera_url, &format!("{camera_url}\nmotion_gate = true\nmotion_max_skip_s = 4")),
    )
    .unwrap();
    let video = video();
    let args = ["--model", MODEL, "--until-s", "20", "--site"].map(OsStr::new);
    let run = lintel_count(args.into_iter().chain([site.as_os_str(), video.as_os_str()]));
    let skipped = run["skipped"].as_u64().unwrap();
    // The site's 4 s maximum: about 5 detections in 20 idle seconds (10 with the flag's 2 s).
    assert!(skipped >= 193, "the detector ran on {} of 200 idle frames", 200 - skipped);
}
