//! The detector seen through a mirror: the network is not mirror-symmetric (the same people,
//! mirrored, come back in other boxes and scores), which is why a mirrored camera counts
//! differently; `--detector-mirror alternate` shows it a camera's frames one way and the other in
//! turn (`Look::mirrored`). A mirrored look must be exactly the mirrored frame's answer, mirrored
//! back. Real model, real frames of the clip.

mod common;

use lintel::detection::Detection;
use lintel::infer::{Detector, Look, Manifest, Runtime};
use lintel::ingest::{Frame, FrameSource, SourceOptions};

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
fn a_mirrored_look_is_the_mirrored_frames_answer_and_the_network_has_a_handedness() {
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
        let through_mirror =
            detector.detect_batch_looking(&[&frame], &[Look { mirrored: true, ..Look::default() }]).unwrap().remove(0);
        let of_flipped = mirror_back(&detector.detect(&flipped).unwrap(), width);
        assert!(as_is.iter().filter(|d| d.score >= 0.5).count() >= 2, "frame {frames}: people: {as_is:?}");
        // The same input tensor, so the same answer, to float rounding.
        let off = largest_difference(&through_mirror, &of_flipped);
        assert!(off < 0.01, "frame {frames}: a mirrored look differs from the mirrored frame by {off}");
        // The handedness: the same people, mirrored, are not found in the same boxes.
        if largest_difference(&as_is, &through_mirror) > 1.0 {
            handed += 1;
        }
    }
    assert!(frames >= 795, "the whole clip: {frames} frames");
    println!("{handed} of 20 frames answered differently through the mirror");
    assert!(handed >= 10, "the network looks mirror-symmetric ({handed} of 20 frames differ)");
}
