//! Every model of models/models.toml is installed and matches its entry: the detectors (float and
//! INT8) load as detectors and find people in a frame of the clip, the same in one batch of four
//! frames as one by one; the re-ID model loads as one. Each detector cut before its NMS finds what
//! its full graph finds.

mod common;

use std::path::PathBuf;

use lintel::infer::{Detector, Embedder, Manifest, OutputFormat, Runtime};
use lintel::ingest::{FrameSource, SourceOptions};

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
/// and NMS, what its full graph finds on the clip: the same boxes and scores, box for box.
#[test]
fn cut_detectors_find_what_their_full_graphs_find() {
    let (manifest, runtime, video) = models_and_clip();
    let cut: Vec<_> = manifest.models.iter().filter(|m| m.format == OutputFormat::SsdBoxes).collect();
    assert_eq!(cut.len(), 4, "models.toml names a cut copy of each of the four SSD detectors");
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
        let (mut frames, mut compared) = (0, 0);
        while let Some(frame) = source.next_frame().unwrap() {
            let got = cut_detector.detect(&frame).unwrap();
            let want = full_detector.detect(&frame).unwrap();
            assert_eq!(got.len(), want.len(), "{}: frame {frames}: {got:?} vs the full graph's {want:?}", spec.name);
            let (width, height) = (frame.source_width as f32, frame.source_height as f32);
            for (a, b) in got.iter().zip(&want) {
                // The full 768×576 graphs do not clip boxes to the frame (their clip window was
                // scaled with the size); Lintel does.
                let corners = |d: &lintel::detection::Detection, clip: bool| {
                    let c = [d.bbox.left, d.bbox.top, d.bbox.left + d.bbox.width, d.bbox.top + d.bbox.height];
                    if clip {
                        [
                            c[0].clamp(0.0, width),
                            c[1].clamp(0.0, height),
                            c[2].clamp(0.0, width),
                            c[3].clamp(0.0, height),
                        ]
                    } else {
                        c
                    }
                };
                let (ca, cb) = (corners(a, false), corners(b, true));
                let close = (a.score - b.score).abs() < 1e-5 && ca.iter().zip(cb).all(|(x, y)| (x - y).abs() < 0.05);
                assert!(close, "{}: frame {frames}: {a:?} from the cut graph, {b:?} from the full one", spec.name);
                compared += 1;
            }
            frames += 1;
        }
        assert!(frames >= 35 && compared > 200, "{}: {frames} frames, {compared} boxes compared", spec.name);
    }
}
