//! A batch of frames from several cameras where one frame is bad: `Detector::detect_each` (what
//! `lintel run` detects a round with) loses only that frame, and the others get what they would
//! get alone. Real model, real frames of the clip.

mod common;

use lintel::infer::{Detector, Manifest, Runtime};
use lintel::ingest::{Frame, FrameSource, SourceOptions};

#[test]
fn a_bad_frame_in_a_batch_costs_only_itself() {
    let manifest = Manifest::load(&common::workspace("models/models.toml")).unwrap();
    let runtime = Runtime::load().expect("ONNX Runtime: run scripts/setup to install it");
    let spec = manifest.model("ssdlite-pedestrian-300-int8-raw").expect("the model in models.toml");
    let file = manifest.file_of(spec);
    assert!(file.exists(), "{} is missing: run scripts/install-models", file.display());
    let mut detector = Detector::load(runtime, spec, &file, 1).unwrap();

    let options =
        SourceOptions { size: Some(detector.input_size()), scale: detector.scale_mode(), ..Default::default() };
    let video = common::video();
    let mut source = FrameSource::open(video.to_str().unwrap(), &options).unwrap();
    let first = source.next_frame().unwrap().expect("a first frame");
    let second = source.next_frame().unwrap().expect("a second frame");
    // A camera whose frames do not have the model's size (as if its scaler had failed).
    let wrong_size = Frame::from_rgb(200, 150, vec![90; 200 * 150 * 3], 0).unwrap();

    assert!(detector.detect_batch(&[&first, &wrong_size, &second]).is_err(), "the batch as a whole fails");
    let results = detector.detect_each(&[&first, &wrong_size, &second]);
    assert_eq!(results.len(), 3);
    let error = results[1].as_ref().expect_err("the bad frame fails");
    assert!(error.to_string().contains("200×150"), "the error says what was wrong: {error}");
    for (result, frame) in [(&results[0], &first), (&results[2], &second)] {
        let got = result.as_ref().expect("a good frame is detected");
        let alone = detector.detect(frame).unwrap();
        assert!(got.iter().filter(|d| d.score >= 0.5).count() >= 2, "people in the frame: {got:?}");
        assert_eq!(got.len(), alone.len());
        for (a, b) in got.iter().zip(&alone) {
            assert!((a.score - b.score).abs() < 1e-4 && (a.bbox.left - b.bbox.left).abs() < 0.5, "{a:?} vs {b:?}");
        }
    }
}
