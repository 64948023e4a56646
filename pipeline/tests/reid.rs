//! The re-identification model through `ort`: an OSNet-style export configured by the manifest
//! alone (a small graph whose output is known: models/test/README.md), and the MobileNetV2
//! embedder of models/models.toml on real people of the PETS clip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lintel::detection::{BBox, Embedding};
use lintel::infer::{Detector, Embedder, InferError, Manifest, Runtime};
use lintel::ingest::{Frame, FrameSource, SourceOptions};

fn workspace(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn runtime() -> &'static Runtime {
    Runtime::load().expect("ONNX Runtime: run scripts/setup to install it")
}

/// The OSNet-style export a user might bring: 256×128 input, 512-d output, other tensor names.
const OSNET_STYLE: &str = r#"
[[model]]
name = "osnet-style-test"
file = "osnet-style.onnx"
role = "reid"
format = "embedding"
input_name = "input"
input_layout = "nchw"
input_dtype = "float32"
input_width = 128
input_height = 256
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
embedding_dim = 512
outputs = ["embedding"]
"#;

fn osnet_style(entry: &str) -> Result<Embedder, InferError> {
    let file = workspace("models/test/osnet-style.onnx");
    assert!(file.exists(), "{} is missing: run `python3 scripts/models/make_test_models.py`", file.display());
    let manifest = Manifest::parse(entry, &file.with_file_name("models.toml")).unwrap();
    let spec = manifest.reid(None)?;
    Embedder::load(runtime(), spec, &manifest.file_of(spec), 1)
}

/// What the test graph gives for a crop of one colour: output j is the normalised mean of
/// channel j % 3, then L2-normalised by Lintel.
fn expected(rgb: [u8; 3]) -> Embedding {
    let (mean, std) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
    let channel: Vec<f32> = (0..3).map(|c| (rgb[c] as f32 / 255.0 - mean[c]) / std[c]).collect();
    Embedding::normalised(&(0..512).map(|j| channel[j % 3]).collect::<Vec<_>>()).unwrap()
}

/// 200×100 frame: left half red, right half teal.
fn two_colour_frame() -> Frame {
    let mut rgb = Vec::with_capacity(200 * 100 * 3);
    for _ in 0..100 {
        for x in 0..200 {
            rgb.extend_from_slice(if x < 100 { &[200, 30, 30] } else { &[20, 160, 150] });
        }
    }
    Frame::from_rgb(200, 100, rgb, 0).unwrap()
}

#[test]
fn an_osnet_style_export_works_by_configuration_alone() {
    let mut embedder = osnet_style(OSNET_STYLE).expect("load");
    let frame = two_colour_frame();
    let red = BBox { left: 10.0, top: 10.0, width: 30.0, height: 80.0 };
    let teal = BBox { left: 150.0, top: 5.0, width: 40.0, height: 90.0 };
    let red_again = BBox { left: 50.0, top: 20.0, width: 20.0, height: 60.0 };
    let off_frame = BBox { left: 400.0, top: 10.0, width: 30.0, height: 80.0 };
    let got = embedder.embed(&frame, &[red, teal, off_frame, red_again], false).unwrap();
    assert_eq!(got.len(), 4);
    let [Some(r), Some(t), None, Some(r2)] = &got[..] else { panic!("{got:?}") };
    assert_eq!(r.values().len(), 512);
    assert!(r.distance(&expected([200, 30, 30])) < 1e-5, "{:?}", &r.values()[..3]);
    assert!(t.distance(&expected([20, 160, 150])) < 1e-5, "{:?}", &t.values()[..3]);
    assert!(r.distance(r2) < 1e-5, "the same colour elsewhere looks the same");
    assert!(r.distance(t) > 0.5, "red and teal look different: {}", r.distance(t));
}

#[test]
fn more_crops_than_one_batch_are_all_embedded() {
    let mut embedder = osnet_style(OSNET_STYLE).expect("load");
    let frame = two_colour_frame();
    let boxes: Vec<BBox> =
        (0..37).map(|i| BBox { left: (i * 5) as f32, top: 10.0, width: 10.0, height: 40.0 }).collect();
    let got = embedder.embed(&frame, &boxes, false).unwrap();
    assert_eq!(got.len(), 37);
    for (i, e) in got.iter().enumerate() {
        let colour = if i * 5 + 10 <= 100 {
            [200, 30, 30]
        } else if i * 5 >= 100 {
            [20, 160, 150]
        } else {
            continue;
        };
        assert!(e.as_ref().unwrap().distance(&expected(colour)) < 1e-5, "crop {i}");
    }
}

#[test]
fn a_manifest_that_does_not_match_the_model_is_refused_with_the_field() {
    let wrong_dim = OSNET_STYLE.replace("embedding_dim = 512", "embedding_dim = 256");
    let error = osnet_style(&wrong_dim).err().expect("refused").to_string();
    assert!(error.contains("osnet-style.onnx") && error.contains("embedding_dim"), "{error}");
    let wrong_size = OSNET_STYLE.replace("input_height = 256", "input_height = 224");
    let error = osnet_style(&wrong_size).err().expect("refused").to_string();
    assert!(error.contains("input \"input\"") && error.contains("224"), "{error}");
    let wrong_output = OSNET_STYLE.replace("outputs = [\"embedding\"]", "outputs = [\"features\"]");
    let error = osnet_style(&wrong_output).err().expect("refused").to_string();
    assert!(error.contains("no output named \"features\""), "{error}");
}

#[test]
fn detectors_and_re_id_models_are_not_mixed_up() {
    let manifest = Manifest::load(&workspace("models/models.toml")).unwrap();
    let error = manifest.reid(Some("ssdlite-pedestrian-300")).unwrap_err().to_string();
    assert!(error.contains("not a re-ID model"), "{error}");
    let spec = manifest.reid(None).expect("models.toml has a re-ID model");
    let error = Detector::load(runtime(), spec, &manifest.file_of(spec), 1).err().expect("refused").to_string();
    assert!(error.contains("is a re-ID model, not a detector"), "{error}");
}

/// Ground-truth boxes of the clip, by 0-based frame index, as `(id, box)`.
fn ground_truth() -> BTreeMap<u64, Vec<(u32, BBox)>> {
    let text = std::fs::read_to_string(workspace("fixtures/PETS09-S2L1-gt.txt")).expect("ground truth");
    let mut frames: BTreeMap<u64, Vec<(u32, BBox)>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<f32> = line.split(',').map(|v| v.trim().parse().unwrap()).collect();
        let bbox = BBox { left: f[2], top: f[3], width: f[4], height: f[5] };
        frames.entry(f[0] as u64 - 1).or_default().push((f[1] as u32, bbox));
    }
    frames
}

#[test]
fn the_mobilenet_embedder_tells_people_of_the_clip_apart() {
    let manifest = Manifest::load(&workspace("models/models.toml")).unwrap();
    let spec = manifest.reid(None).expect("models.toml has a re-ID model");
    let file = manifest.file_of(spec);
    assert!(file.exists(), "{} is missing: run scripts/install-models", file.display());
    let mut embedder = Embedder::load(runtime(), spec, &file, 0).expect("load");
    let video = workspace("fixtures/video/vtest.avi");
    assert!(video.exists(), "{} is missing: run scripts/setup", video.display());
    let mut source = FrameSource::open(video.to_str().unwrap(), &SourceOptions::default()).expect("open");
    let truth = ground_truth();
    // Every 25th frame up to 300, each person embedded; then pairs 25 frames apart.
    let mut seen: BTreeMap<u64, Vec<(u32, Embedding)>> = BTreeMap::new();
    while let Some(frame) = source.next_frame().expect("decode") {
        if frame.index > 300 {
            break;
        }
        if frame.index % 25 != 0 {
            continue;
        }
        let people: Vec<&(u32, BBox)> = truth[&frame.index].iter().filter(|(_, b)| b.height >= 60.0).collect();
        let boxes: Vec<BBox> = people.iter().map(|(_, b)| *b).collect();
        let embeddings = embedder.embed(&frame, &boxes, false).expect("embed");
        let row = people.iter().zip(embeddings).filter_map(|((id, _), e)| Some((*id, e?))).collect();
        seen.insert(frame.index, row);
    }
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for (frame, row) in &seen {
        let Some(next) = seen.get(&(frame + 25)) else { continue };
        for (id, e) in row {
            for (other, f) in next {
                if id == other { same.push(e.distance(f)) } else { different.push(e.distance(f)) }
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    assert!(same.len() >= 20 && different.len() >= 100, "{} same, {} different pairs", same.len(), different.len());
    let (same_mean, different_mean) = (mean(&same), mean(&different));
    assert!(
        same_mean + 0.05 < different_mean,
        "same person {same_mean:.3} vs different people {different_mean:.3} (cosine distance, 25 frames apart)"
    );
}
