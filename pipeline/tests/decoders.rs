//! Each detector output format, decoded from a small ONNX graph whose output is known
//! (built by scripts/models/make_test_models.py; contents in models/test/README.md).

use std::path::{Path, PathBuf};

use lintel::detection::Detection;
use lintel::infer::{Detector, InferError, Manifest, Runtime};
use lintel::ingest::Frame;

fn test_model(file: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/test").join(file);
    assert!(path.exists(), "{} is missing: run `python3 scripts/models/make_test_models.py`", path.display());
    path
}

fn runtime() -> &'static Runtime {
    Runtime::load().expect("ONNX Runtime: run scripts/setup to install it")
}

fn detect(manifest_entry: &str, file: &str, size: (u32, u32)) -> Vec<Detection> {
    let text = format!("[[model]]\nname = \"t\"\nfile = \"{file}\"\n{manifest_entry}");
    let manifest = Manifest::parse(&text, &test_model(file).with_file_name("models.toml")).unwrap();
    let spec = manifest.detector(Some("t")).unwrap();
    let mut detector = Detector::load(runtime(), spec, &test_model(file), 1).unwrap();
    let frame = Frame::from_rgb(size.0, size.1, vec![0; (size.0 * size.1 * 3) as usize], 0).unwrap();
    detector.detect(&frame).unwrap()
}

fn assert_box(d: &Detection, corners: [f32; 4], score: f32) {
    let b = d.bbox;
    let got = [b.left, b.top, b.right(), b.bottom()];
    for (g, e) in got.iter().zip(corners) {
        assert!((g - e).abs() < 0.01, "box {got:?}, expected {corners:?}");
    }
    assert!((d.score - score).abs() < 1e-4, "score {}, expected {score}", d.score);
}

const YOLO_INPUT: &str = "input_name = \"images\"\ninput_layout = \"nchw\"\ninput_dtype = \"float32\"\n";

#[test]
fn yolov8_columns_with_nms_and_class_filter() {
    let manifest = format!(
        "format = \"yolov8\"\n{YOLO_INPUT}input_width = 640\ninput_height = 640\nperson_class = 0\noutputs = [\"output0\"]\n"
    );
    let detections = detect(&manifest, "yolov8.onnx", (640, 640));
    assert_eq!(detections.len(), 1, "{detections:?}");
    assert_box(&detections[0], [270.0, 140.0, 370.0, 340.0], 0.9);
}

#[test]
fn yolov5_rows_with_objectness() {
    let manifest = format!(
        "format = \"yolov5\"\n{YOLO_INPUT}input_width = 640\ninput_height = 640\nperson_class = 0\noutputs = [\"output0\"]\n"
    );
    let detections = detect(&manifest, "yolov5.onnx", (640, 640));
    assert_eq!(detections.len(), 1, "{detections:?}");
    assert_box(&detections[0], [270.0, 140.0, 370.0, 340.0], 0.9);
}

#[test]
fn yolox_raw_grid_outputs() {
    let manifest = format!(
        "format = \"yolox\"\n{YOLO_INPUT}input_width = 64\ninput_height = 64\nperson_class = 0\noutputs = [\"output\"]\n"
    );
    let detections = detect(&manifest, "yolox.onnx", (64, 64));
    assert_eq!(detections.len(), 1, "{detections:?}");
    assert_box(&detections[0], [20.0, 4.0, 36.0, 36.0], 0.9 * 0.95);
}

#[test]
fn ssd_tensorflow_outputs() {
    let manifest = "format = \"ssd-tf\"\ninput_name = \"image_tensor:0\"\ninput_layout = \"nhwc\"\ninput_dtype = \"uint8\"\ninput_width = 300\ninput_height = 300\nperson_class = 1\noutputs = [\"detection_boxes:0\", \"detection_scores:0\", \"detection_classes:0\", \"num_detections:0\"]\n";
    let detections = detect(manifest, "ssd.onnx", (300, 300));
    assert_eq!(detections.len(), 2, "{detections:?}");
    assert_box(&detections[0], [60.0, 30.0, 120.0, 150.0], 0.9);
    assert_box(&detections[1], [180.0, 180.0, 240.0, 270.0], 0.7);
}

#[test]
fn a_model_whose_input_differs_from_the_manifest_is_refused() {
    let text = format!(
        "[[model]]\nname = \"t\"\nfile = \"wrong-input.onnx\"\nformat = \"yolov8\"\n{YOLO_INPUT}input_width = 640\ninput_height = 640\n"
    );
    let manifest = Manifest::parse(&text, &test_model("wrong-input.onnx").with_file_name("models.toml")).unwrap();
    let spec = manifest.detector(None).unwrap();
    let error = Detector::load(runtime(), spec, &test_model("wrong-input.onnx"), 1).err().expect("must be refused");
    assert!(matches!(error, InferError::ModelMismatch { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("wrong-input.onnx") && message.contains("\"data\"") && message.contains("images"),
        "{message}"
    );
}

#[test]
fn a_missing_model_file_says_how_to_get_it() {
    let text = format!(
        "[[model]]\nname = \"t\"\nfile = \"absent.onnx\"\nformat = \"yolov8\"\n{YOLO_INPUT}input_width = 640\ninput_height = 640\n"
    );
    let manifest = Manifest::parse(&text, Path::new("models/models.toml")).unwrap();
    let spec = manifest.detector(None).unwrap();
    let error = Detector::load(runtime(), spec, &manifest.file_of(spec), 1).err().expect("must fail");
    let message = error.to_string();
    assert!(message.contains("models/absent.onnx") && message.contains("scripts/setup"), "{message}");
}
