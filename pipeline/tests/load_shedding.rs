//! Load shedding (`pipeline/src/node/detection.rs`): a camera the node is behind on gets the
//! detector every other frame, and the frames between are passed over
//! ([`CameraAnalysis::pass_over`]): the tracker is told nothing and predicts over them. Passed
//! over frames must not look like frames where the detector found nobody: a tentative track that
//! misses a frame is removed, so no person would ever be confirmed on a camera that sheds.

use std::collections::BTreeMap;

use lintel::analysis::{AnalysisConfig, CameraAnalysis, FrameAnalysis};
use lintel::infer::Detector;
use lintel::ingest::{FrameSource, SourceOptions};
use lintel_calibration::geometry::Crossing;
use lintel_calibration::site::Site;

mod common;

/// What a frame of the clip gets: the detector, or passed over (shed), or analysed as a look that
/// found nobody (what the node did with a shed frame before `pass_over`).
#[derive(Clone, Copy, PartialEq)]
enum Between {
    Detected,
    PassedOver,
    EmptyLook,
}

/// The clip's walkway camera of `fixtures/pets.toml`, the detector on every frame or on every
/// other one (`between`: what the others get); each zone's (entries, exits).
fn count(detector: &mut Detector, between: Between) -> BTreeMap<String, (u32, u32)> {
    let site = Site::load(common::workspace("fixtures/pets.toml")).unwrap();
    let camera = &site.cameras[0];
    let zones: Vec<_> = site.zones_for(&camera.id).cloned().collect();
    let names: Vec<String> = zones.iter().map(|z| z.name.clone()).collect();
    let mut analysis = CameraAnalysis::new(zones, AnalysisConfig::at_fps(10.0), detector.spec().letterboxed())
        .with_geometry(camera.geometry());
    let options =
        SourceOptions { size: Some(detector.input_size()), scale: detector.scale_mode(), ..SourceOptions::default() };
    let mut source = FrameSource::open(common::video().to_str().unwrap(), &options).unwrap();
    let mut counts: BTreeMap<String, (u32, u32)> = names.iter().map(|n| (n.clone(), (0, 0))).collect();
    let mut add = |result: &FrameAnalysis| {
        for event in &result.events {
            let count = counts.get_mut(&names[event.zone]).unwrap();
            match event.direction {
                Crossing::Entry => count.0 += 1,
                Crossing::Exit => count.1 += 1,
            }
        }
    };
    let mut detect_next = true;
    while let Some(frame) = source.next_frame().unwrap() {
        let Some(admitted) = analysis.admit(&frame, 1) else { unreachable!("no motion gate here") };
        let result = if detect_next || between == Between::Detected {
            let detections = detector.detect_each_looking(&[&frame], &[admitted.look()]).remove(0).unwrap();
            analysis.analyse(&frame, Some(&detections), None).unwrap()
        } else if between == Between::PassedOver {
            analysis.pass_over(&frame)
        } else {
            analysis.analyse(&frame, None, None).unwrap()
        };
        detect_next = !detect_next;
        add(&result);
    }
    for event in analysis.finish() {
        let count = counts.get_mut(&names[event.zone]).unwrap();
        match event.direction {
            Crossing::Entry => count.0 += 1,
            Crossing::Exit => count.1 += 1,
        }
    }
    counts
}

/// The clip's ground truth per zone of `fixtures/pets.toml` (entries, exits): the crossings of
/// the annotated trajectories of `fixtures/PETS09-S2L1-gt.txt`, as `count_video.rs` derives them.
const TRUTH: [(&str, (u32, u32)); 6] = [
    ("h300", (14, 20)),
    ("v400", (18, 13)),
    ("v550", (15, 19)),
    ("diagonal", (12, 17)),
    ("short-v300", (15, 12)),
    ("door", (31, 30)),
];

/// `count_video.rs`'s tolerance: ±10% or ±2 people per direction, whichever is larger.
fn close_to(truth: u32, counted: u32) -> bool {
    truth.abs_diff(counted) as f32 <= (truth as f32 * 0.1).max(2.0)
}

#[test]
fn a_camera_detected_every_other_frame_still_counts_every_zone_within_the_clips_tolerance() {
    let mut detector = common::default_detector(2);
    let every = count(&mut detector, Between::Detected);
    let shed = count(&mut detector, Between::PassedOver);
    let empty = count(&mut detector, Between::EmptyLook);
    eprintln!("every frame {every:?}\nevery other, passed over {shed:?}\nevery other, empty looks {empty:?}");
    let error = |counts: &BTreeMap<String, (u32, u32)>| {
        TRUTH.iter().map(|(zone, (i, o))| i.abs_diff(counts[*zone].0) + o.abs_diff(counts[*zone].1)).sum::<u32>()
    };
    for (zone, (entries, exits)) in TRUTH {
        let (shed_entries, shed_exits) = shed[zone];
        assert!(
            close_to(entries, shed_entries) && close_to(exits, shed_exits),
            "{zone}: truth {entries}/{exits}, detected every other frame {shed_entries}/{shed_exits} (every frame {:?})",
            every[zone]
        );
    }
    assert!(
        error(&shed) <= error(&every) + 4,
        "detected every other frame, {} errors against {} on every frame",
        error(&shed),
        error(&every)
    );
    // Why passing over matters: the same frames as looks that found nobody lose most people.
    let total = |counts: &BTreeMap<String, (u32, u32)>| counts.values().map(|(i, o)| i + o).sum::<u32>();
    assert!(
        total(&empty) * 2 < total(&every),
        "empty looks between detections still counted {} of {} crossings",
        total(&empty),
        total(&every)
    );
}
