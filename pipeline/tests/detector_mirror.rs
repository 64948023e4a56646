//! The detector seen through a mirror: the network is not mirror-symmetric (the same people,
//! mirrored, come back in other boxes and scores), which is why a mirrored camera counts
//! differently; `--detector-mirror alternate` shows it a camera's frames one way and the other in
//! turn (`Orientation::Mirrored`), and `--detector-mirror both` shows it every frame both ways and
//! fuses the boxes (`Orientation::BothWays`). A mirrored look must be exactly the mirrored frame's
//! answer, mirrored back; a look both ways must have no handedness left. Real model, real frames
//! of the clip.

mod common;

use lintel::analysis::{AnalysisConfig, CameraAnalysis, DetectorMirror, ZoneEvent};
use lintel::detection::Detection;
use lintel::infer::{Detector, Look, Manifest, Orientation, Runtime};
use lintel::ingest::{Frame, FrameSource, SourceOptions};
use lintel_calibration::geometry::{CountingLine, Crossing, Point, Polygon, Side};
use lintel_calibration::site::{Site, Zone, ZoneShape};

fn detector() -> Detector {
    let manifest = Manifest::load(&common::workspace("models/models.toml")).unwrap();
    let runtime = Runtime::load().expect("ONNX Runtime: run scripts/setup to install it");
    let spec = manifest.detector(None).expect("a default detector in models.toml");
    let file = manifest.file_of(spec);
    assert!(file.exists(), "{} is missing: run scripts/install-models", file.display());
    Detector::load(runtime, spec, &file, 1).unwrap()
}

/// The frame with its pixels mirrored left to right.
fn mirrored(frame: &Frame) -> Frame {
    let view = frame.rgb().unwrap();
    let (width, height) = (view.width(), view.height());
    let mut bytes = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        let row = &view.data()[y * view.stride()..y * view.stride() + width * 3];
        bytes.extend(row.chunks_exact(3).rev().flatten());
    }
    Frame::from_rgb(width as u32, height as u32, bytes, frame.index).unwrap()
}

/// `detections` of a mirrored frame of width `width`, mirrored back.
fn mirror_back(detections: &[Detection], width: f32) -> Vec<Detection> {
    detections
        .iter()
        .map(|d| {
            let mut d = *d;
            d.bbox.left = width - d.bbox.left - d.bbox.width;
            d
        })
        .collect()
}

fn looking(detector: &mut Detector, frame: &Frame, orientation: Orientation) -> Vec<Detection> {
    detector.detect_batch_looking(&[frame], &[Look { orientation, ..Look::default() }]).unwrap().remove(0)
}

/// `detections` in reading order (left, then top), for lists whose order of equal scores may differ.
fn by_place(mut detections: Vec<Detection>) -> Vec<Detection> {
    detections.sort_by(|a, b| a.bbox.left.total_cmp(&b.bbox.left).then(a.bbox.top.total_cmp(&b.bbox.top)));
    detections
}

fn largest_difference(a: &[Detection], b: &[Detection]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            let edges = [
                (a.bbox.left - b.bbox.left).abs(),
                (a.bbox.top - b.bbox.top).abs(),
                (a.bbox.width - b.bbox.width).abs(),
                (a.bbox.height - b.bbox.height).abs(),
            ];
            edges.into_iter().fold((a.score - b.score).abs() * 100.0, f32::max)
        })
        .fold(0.0, f32::max)
}

#[test]
fn a_mirrored_look_is_the_mirrored_frames_answer_the_network_has_a_handedness_and_both_ways_none() {
    let mut detector = detector();
    let options =
        SourceOptions { size: Some(detector.input_size()), scale: detector.scale_mode(), ..Default::default() };
    let video = common::video();
    let mut source = FrameSource::open(video.to_str().unwrap(), &options).unwrap();
    let mut handed = 0;
    let mut frames = 0;
    while let Some(frame) = source.next_frame().unwrap() {
        frames += 1;
        if frames % 40 != 1 {
            continue;
        }
        let width = frame.source_width as f32;
        let flipped = mirrored(&frame);
        let as_is = detector.detect(&frame).unwrap();
        let through_mirror = looking(&mut detector, &frame, Orientation::Mirrored);
        let of_flipped = mirror_back(&detector.detect(&flipped).unwrap(), width);
        assert!(as_is.iter().filter(|d| d.score >= 0.5).count() >= 2, "frame {frames}: people: {as_is:?}");
        // The same input tensor, so the same answer, to float rounding.
        let off = largest_difference(&through_mirror, &of_flipped);
        assert!(off < 0.01, "frame {frames}: a mirrored look differs from the mirrored frame by {off}");
        // The handedness: the same people, mirrored, are not found in the same boxes.
        if largest_difference(&as_is, &through_mirror) > 1.0 {
            handed += 1;
        }
        // Both ways: the frame and its mirror image get the same boxes, mirrored.
        let both_ways = by_place(looking(&mut detector, &frame, Orientation::BothWays));
        let of_flipped = by_place(mirror_back(&looking(&mut detector, &flipped, Orientation::BothWays), width));
        let off = largest_difference(&both_ways, &of_flipped);
        assert!(off < 0.01, "frame {frames}: seen both ways, the frame and its mirror image differ by {off}");
        assert!(both_ways.iter().filter(|d| d.score >= 0.5).count() >= 2, "frame {frames}: people: {both_ways:?}");
    }
    assert!(frames >= 795, "the whole clip: {frames} frames");
    println!("{handed} of 20 frames answered differently through the mirror");
    assert!(handed >= 10, "the network looks mirror-symmetric ({handed} of 20 frames differ)");
}

/// `zone` as a technician draws it on the mirror image of its camera: x turned around, and the
/// entry side of a line with it (a right-hand side becomes a left-hand one).
fn mirror_zone(zone: &Zone) -> Zone {
    let flip = |p: &Point| Point::new(1.0 - p.x, p.y);
    let shape = match &zone.shape {
        ZoneShape::Line(line) => ZoneShape::Line(CountingLine::new(
            flip(&line.a),
            flip(&line.b),
            match line.entry_side {
                Side::Left => Side::Right,
                Side::Right => Side::Left,
            },
        )),
        ZoneShape::Polygon(polygon) => ZoneShape::Polygon(Polygon::new(polygon.points.iter().map(flip).collect())),
    };
    Zone { shape, ..zone.clone() }
}

/// Adds `events` to each zone's (entries, exits).
fn tally(counts: &mut [(u32, u32)], events: &[ZoneEvent]) {
    for event in events {
        match event.direction {
            Crossing::Entry => counts[event.zone].0 += 1,
            Crossing::Exit => counts[event.zone].1 += 1,
        }
    }
}

#[test]
fn the_clip_and_its_mirror_image_count_alike_zone_for_zone_when_the_detector_looks_both_ways() {
    let mut detector = common::default_detector(2);
    let site = Site::load(common::workspace("fixtures/pets.toml")).unwrap();
    let camera = &site.cameras[0];
    let zones: Vec<Zone> = site.zones_for(&camera.id).cloned().collect();
    let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
    let mirrored_zones: Vec<Zone> = zones.iter().map(mirror_zone).collect();
    let letterboxed = detector.spec().letterboxed();
    let analysis = |zones: &[Zone], mirror: DetectorMirror| {
        let config = AnalysisConfig { mirror, ..AnalysisConfig::at_fps(10.0) };
        CameraAnalysis::new(zones.to_vec(), config, letterboxed).with_geometry(camera.geometry())
    };
    // (mirror mode, the clip's analysis, the mirror image's analysis, their counts)
    let mut runs: Vec<_> = [DetectorMirror::Off, DetectorMirror::Both]
        .into_iter()
        .map(|mode| {
            let counts = vec![(0u32, 0u32); zones.len()];
            (mode, analysis(&zones, mode), analysis(&mirrored_zones, mode), counts.clone(), counts)
        })
        .collect();
    let options =
        SourceOptions { size: Some(detector.input_size()), scale: detector.scale_mode(), ..Default::default() };
    let mut source = FrameSource::open(common::video().to_str().unwrap(), &options).unwrap();
    while let Some(frame) = source.next_frame().unwrap() {
        let flipped = mirrored(&frame);
        for (_, as_is, of_mirror, as_is_counts, mirror_counts) in &mut runs {
            for (analysis, frame, counts) in
                [(&mut *as_is, &frame, &mut *as_is_counts), (of_mirror, &flipped, mirror_counts)]
            {
                let Some(admitted) = analysis.admit(frame, 1) else { unreachable!("no motion gate here") };
                let detections = detector.detect_each_looking(&[frame], &[admitted.look()]).remove(0).unwrap();
                tally(counts, &analysis.analyse(frame, Some(&detections), None).unwrap().events);
            }
        }
    }
    let mut gaps = Vec::new();
    for (mode, mut as_is, mut of_mirror, mut as_is_counts, mut mirror_counts) in runs {
        tally(&mut as_is_counts, &as_is.finish());
        tally(&mut mirror_counts, &of_mirror.finish());
        let gap: u32 =
            as_is_counts.iter().zip(&mirror_counts).map(|(a, m)| a.0.abs_diff(m.0) + a.1.abs_diff(m.1)).sum();
        eprintln!(
            "{mode:?}: the clip {as_is_counts:?}, its mirror image {mirror_counts:?} ({names:?}): {gap} crossings apart"
        );
        gaps.push((mode, gap, as_is_counts, mirror_counts));
    }
    let (_, off_gap, ..) = &gaps[0];
    let (_, both_gap, as_is, of_mirror) = &gaps[1];
    // Looking both ways leaves the detector no handedness, and the tracker and counter have none.
    for (zone, (a, m)) in names.iter().zip(as_is.iter().zip(of_mirror)) {
        assert!(
            a.0.abs_diff(m.0) <= 1 && a.1.abs_diff(m.1) <= 1,
            "{zone}: the clip counted {a:?}, its mirror image {m:?} with the detector both ways"
        );
    }
    assert!(both_gap < off_gap, "both ways {both_gap} crossings apart, as they are {off_gap}");
}
