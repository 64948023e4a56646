//! Frames detected side by side on two lanes (`lintel count`'s default on 2 cores or more) are
//! analysed exactly as frames detected one at a time: the same frames go to the detector, seen
//! the same way, and every frame's people and crossings are the same. With the motion gate on,
//! so that the gate's decisions ahead of the tracker (and those it takes back) are what is tested.

mod common;

use std::path::Path;

use lintel::analysis::{DetectorMirror, RegionConfig};
use lintel::infer::{Detector, Detectors, MotionGateConfig};
use lintel::replay::{ReplayOptions, ReplayReport, replay_watched};
use lintel_calibration::site::Site;

use common::degraded::{NIGHT, degraded_copy};

/// What one frame's analysis came to.
#[derive(Debug, PartialEq)]
struct Seen {
    index: u64,
    detections: Option<usize>,
    window: Option<(u32, u32)>,
    people: Vec<[f32; 4]>,
    events: Vec<(usize, String)>,
}

fn lanes(regions: bool) -> Vec<Detector> {
    (0..2)
        .map(|_| if regions { common::default_detector_with_regions(1) } else { common::default_detector(1) })
        .collect()
}

/// Replays `video` on `site`'s zones with the gate on, one frame at a time or side by side.
fn replay(video: &Path, site: &str, options: &ReplayOptions, side_by_side: bool) -> (Vec<Seen>, ReplayReport) {
    let regions = options.region.is_some();
    let mut whole = if regions { common::default_detector_with_regions(0) } else { common::default_detector(0) };
    let mut lanes = if side_by_side { lanes(regions) } else { Vec::new() };
    let site = Site::load(common::workspace(site)).unwrap();
    let camera = &site.cameras[0];
    let zones: Vec<_> = site.zones_for(&camera.id).cloned().collect();
    let options = ReplayOptions { geometry: camera.geometry(), ..options.clone() };
    let mut seen = Vec::new();
    let detectors = Detectors { whole: &mut whole, lanes: &mut lanes };
    let report = replay_watched(
        detectors,
        None,
        video.to_str().unwrap(),
        |_| zones,
        &options,
        |frame| {
            seen.push(Seen {
                index: frame.frame.index,
                detections: frame.detections.map(<[_]>::len),
                window: frame.window.map(|w| (w.left, w.top)),
                people: frame
                    .analysis
                    .people
                    .iter()
                    .map(|p| [p.bbox.left, p.bbox.top, p.bbox.width, p.bbox.height])
                    .collect(),
                events: frame.analysis.events.iter().map(|e| (e.zone, format!("{:?}", e.direction))).collect(),
            });
        },
    )
    .unwrap();
    assert!(report.interrupted.is_none(), "{:?}", report.interrupted);
    (seen, report)
}

fn same_frame_by_frame(video: &Path, site: &str, options: ReplayOptions) -> ReplayReport {
    let (one_at_a_time, alone) = replay(video, site, &options, false);
    let (side_by_side, paired) = replay(video, site, &options, true);
    println!(
        "{site}: {} frames, {} skipped by the gate; side by side {}, taken back {}",
        paired.frames, paired.skipped, paired.side_by_side, paired.taken_back
    );
    assert_eq!(alone.side_by_side, 0);
    assert_eq!(one_at_a_time.len(), side_by_side.len());
    for (alone, paired) in one_at_a_time.iter().zip(&side_by_side) {
        assert_eq!(alone, paired, "frame {} differs side by side", alone.index);
    }
    assert_eq!((alone.skipped, alone.low_light, alone.regional), (paired.skipped, paired.low_light, paired.regional));
    assert_eq!(alone.zones, paired.zones);
    // Most frames the gate lets through are detected two at a time.
    let detected = paired.frames - paired.skipped;
    assert!(paired.side_by_side * 10 >= detected * 7, "only {} of {detected} side by side", paired.side_by_side);
    paired
}

#[test]
fn the_doors_through_the_region_are_analysed_as_frame_by_frame() {
    let options = ReplayOptions {
        motion_gate: Some(MotionGateConfig::default()),
        region: Some(RegionConfig::with_sizes(common::default_detector_with_regions(1).region_sizes())),
        ..ReplayOptions::default()
    };
    let report = same_frame_by_frame(&common::video(), "fixtures/pets-doors.toml", options);
    assert!(report.skipped > 50, "the gate skipped only {} frames", report.skipped);
    assert!(report.regional > 300, "only {} frames through the region", report.regional);
}

#[test]
fn a_night_camera_mirrored_every_other_frame_is_analysed_as_frame_by_frame() {
    let night = degraded_copy("side-by-side-night", NIGHT, 0.0, "identity");
    let options = ReplayOptions {
        motion_gate: Some(MotionGateConfig::default()),
        mirror: DetectorMirror::Alternate,
        ..ReplayOptions::default()
    };
    let report = same_frame_by_frame(&night, "fixtures/pets-doors.toml", options);
    assert!(report.skipped > 50, "the gate skipped only {} frames", report.skipped);
    assert!(report.low_light > 500, "the low-light curve was on for only {} frames", report.low_light);
}
