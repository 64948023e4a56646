//! Every model of models/models.toml is installed and matches its entry: the detectors (float and
//! INT8) load as detectors and find people in a frame of the clip, the same in one batch of four
//! frames as one by one; the re-ID model loads as one. Each detector cut before its NMS finds what
//! its full graph finds.

mod common;

use std::path::PathBuf;

use lintel::detection::{BBox, Detection};
use lintel::infer::{Detector, Embedder, Manifest, OutputFormat, Runtime};
use lintel::ingest::{FrameSource, SourceOptions};

/// INT8 cut graphs: detections this confident must be where the full graph's are (IoU).
const AGREEMENT_SCORE: f32 = 0.3;
const AGREEMENT_IOU: f32 = 0.8;

/// The manifest, the loaded ONNX Runtime and the clip, each with how to get it when missing.
fn models_and_clip() -> (Manifest, &'static Runtime, PathBuf) {
    let manifest = Manifest::load(&common::workspace("models/models.toml")).unwrap();
    let runtime = Runtime::load().expect("ONNX Runtime: run scripts/setup to install it");
    (manifest, runtime, common::video())
}

#[test]
fn every_model_of_the_manifest_loads_and_works() {
    let (manifest, runtime, video) = models_and_clip();
    assert!(manifest.models.len() >= 5, "{:?}", manifest.models.iter().map(|m| &m.name).collect::<Vec<_>>());
    for spec in &manifest.models {
        let file = manifest.file_of(spec);
        assert!(file.exists(), "{} ({}) is missing: run scripts/install-models", file.display(), spec.name);
        if spec.format == OutputFormat::Embedding {
            Embedder::load(runtime, spec, &file, 1).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            continue;
        }
        let mut detector = Detector::load(runtime, spec, &file, 1).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        let options =
            SourceOptions { size: Some(detector.input_size()), scale: detector.scale_mode(), ..Default::default() };
        let mut source = FrameSource::open(video.to_str().unwrap(), &options).unwrap();
        let frame = source.next_frame().unwrap().expect("a first frame");
        let people = detector.detect(&frame).unwrap().iter().filter(|d| d.score >= 0.5).count();
        // The first frame of PETS09-S2L1 shows three people (its ground truth), all well visible.
        assert!((2..=6).contains(&people), "{}: {people} people in the first frame", spec.name);

        // A batch of four frames finds what four runs find.
        assert!(detector.batches(), "{}: our detectors are exported with a dynamic batch", spec.name);
        let mut frames = vec![frame];
        frames.extend((0..3).map(|_| source.next_frame().unwrap().expect("four frames")));
        let one_by_one: Vec<_> = frames.iter().map(|f| detector.detect(f).unwrap()).collect();
        let batched = detector.detect_batch(&frames.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(batched.len(), 4);
        for (i, (single, batch)) in one_by_one.iter().zip(&batched).enumerate() {
            let confident = |d: &&lintel::detection::Detection| d.score >= 0.3;
            let (single, batch): (Vec<_>, Vec<_>) =
                (single.iter().filter(confident).collect(), batch.iter().filter(confident).collect());
            assert_eq!(single.len(), batch.len(), "{}: frame {i}: {single:?} vs {batch:?}", spec.name);
            for (a, b) in single.iter().zip(&batch) {
                let close = (a.score - b.score).abs() < 0.01
                    && (a.bbox.left - b.bbox.left).abs() < 1.0
                    && (a.bbox.top - b.bbox.top).abs() < 1.0
                    && (a.bbox.width - b.bbox.width).abs() < 1.0
                    && (a.bbox.height - b.bbox.height).abs() < 1.0;
                assert!(close, "{}: frame {i}: {a:?} one by one, {b:?} in a batch", spec.name);
            }
        }
    }
}

/// Each detector cut before its TensorFlow NMS ("ssd-boxes", `-raw`) finds, through Lintel's decoder
/// and NMS, what its full graph finds on the clip. The float ones: the same boxes and scores, box
/// for box. The INT8 ones also take the uint8 image straight into their first quantised convolution
/// (scripts/models/cut_detector_nms.py), which reads 17 of the 256 pixel values one quantisation
/// step off: at score 0.3 and up, nine in ten of their detections must be where the full graph's are.
#[test]
fn cut_detectors_find_what_their_full_graphs_find() {
    let (manifest, runtime, video) = models_and_clip();
    let cut: Vec<_> = manifest.models.iter().filter(|m| m.format == OutputFormat::SsdBoxes).collect();
    // The four SSD detectors, and the three region networks of the 768×576 INT8 one.
    assert_eq!(cut.len(), 7, "models.toml names a cut copy of each SSD detector");
    for spec in cut {
        let full_name = spec.name.strip_suffix("-raw").expect("a cut model is named <full model>-raw");
        let full_spec = manifest.model(full_name).unwrap_or_else(|| panic!("no model {full_name}"));
        let load = |spec| {
            let file = manifest.file_of(spec);
            assert!(file.exists(), "{} is missing: run scripts/install-models", file.display());
            Detector::load(runtime, spec, &file, 1).unwrap_or_else(|e| panic!("{}: {e}", spec.name))
        };
        let (mut cut_detector, mut full_detector) = (load(spec), load(full_spec));
        // Every 20th frame of the clip, 40 in all: crowds, people at the edges, people far away.
        let options = SourceOptions {
            size: Some(cut_detector.input_size()),
            scale: cut_detector.scale_mode(),
            fps: Some(0.5),
            ..Default::default()
        };
        let mut source = FrameSource::open(video.to_str().unwrap(), &options).unwrap();
        let int8 = full_name.ends_with("-int8");
        let (mut frames, mut compared, mut agreed) = (0, 0, 0);
        while let Some(frame) = source.next_frame().unwrap() {
            let got = cut_detector.detect(&frame).unwrap();
            let want = full_detector.detect(&frame).unwrap();
            // The full 768×576 graphs do not clip boxes to the frame (their clip window was scaled
            // with the size); Lintel does.
            let clip = |d: &Detection| {
                let (width, height) = (frame.source_width as f32, frame.source_height as f32);
                let b = d.bbox;
                BBox::from_corners(
                    b.left.clamp(0.0, width),
                    b.top.clamp(0.0, height),
                    (b.left + b.width).clamp(0.0, width),
                    (b.top + b.height).clamp(0.0, height),
                )
            };
            if int8 {
                let confident = |found: Vec<Detection>| -> Vec<BBox> {
                    found.iter().filter(|d| d.score >= AGREEMENT_SCORE).map(clip).collect()
                };
                let (got, mut want) = (confident(got), confident(want));
                compared += got.len().max(want.len());
                for bbox in &got {
                    let best = want.iter().enumerate().max_by(|a, b| bbox.iou(a.1).total_cmp(&bbox.iou(b.1)));
                    if let Some((index, _)) = best.filter(|(_, other)| bbox.iou(other) >= AGREEMENT_IOU) {
                        want.swap_remove(index);
                        agreed += 1;
                    }
                }
            } else {
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{}: frame {frames}: {got:?} vs the full graph's {want:?}",
                    spec.name
                );
                for (a, b) in got.iter().zip(&want) {
                    let (ca, cb) = (a.bbox, clip(b));
                    let close = (a.score - b.score).abs() < 1e-5
                        && [ca.left - cb.left, ca.top - cb.top, ca.width - cb.width, ca.height - cb.height]
                            .iter()
                            .all(|d| d.abs() < 0.05);
                    assert!(close, "{}: frame {frames}: {a:?} from the cut graph, {b:?} from the full one", spec.name);
                    compared += 1;
                    agreed += 1;
                }
            }
            frames += 1;
        }
        assert!(frames >= 35 && compared > 150, "{}: {frames} frames, {compared} boxes compared", spec.name);
        assert!(
            agreed as f64 >= 0.9 * compared as f64,
            "{}: {agreed} of {compared} detections at score >= {AGREEMENT_SCORE} where the full graph finds them",
            spec.name
        );
    }
}
