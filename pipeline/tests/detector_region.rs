//! The detector looking at a region of the frame (`Look::window`) through a smaller network of the
//! same weights: its answer must be exactly that network's answer on the cropped frame, moved back
//! by the window's offset, and people well inside the window must be found as the whole-frame
//! network finds them. Real models, real frames of the clip.

mod common;

use lintel::detection::Detection;
use lintel::infer::{Detector, Look, Manifest, ModelSpec, Runtime, Window};
use lintel::ingest::{Frame, FrameSource, SourceOptions};

fn manifest() -> Manifest {
    Manifest::load(&common::workspace("models/models.toml")).unwrap()
}

fn load(spec: &ModelSpec) -> Detector {
    let runtime = Runtime::load().expect("ONNX Runtime: run scripts/setup to install it");
    let file = manifest().file_of(spec);
    assert!(file.exists(), "{} is missing: run scripts/install-models", file.display());
    Detector::load(runtime, spec, &file, 1).unwrap()
}

/// The default detector with its region networks.
fn with_regions() -> (Detector, Vec<ModelSpec>) {
    let manifest = manifest();
    let spec = manifest.detector(None).expect("a default detector in models.toml");
    let regions = manifest.regions_of(spec).unwrap();
    assert!(!regions.is_empty(), "the default detector names no region networks in models.toml");
    for (region, file) in &regions {
        assert!(file.exists(), "{} ({}) is missing: run scripts/install-models", file.display(), region.name);
    }
    let runtime = Runtime::load().expect("ONNX Runtime: run scripts/setup to install it");
    let detector = load(spec).with_regions(runtime, &regions, 1).unwrap();
    (detector, regions.into_iter().map(|(spec, _)| spec).collect())
}

/// The `window` of `frame` as a frame of its own.
fn cropped(frame: &Frame, window: Window) -> Frame {
    let view = frame.rgb().unwrap();
    let (left, top, width, height) =
        (window.left as usize, window.top as usize, window.width as usize, window.height as usize);
    let mut bytes = Vec::with_capacity(width * height * 3);
    for y in top..top + height {
        let row = &view.data()[y * view.stride()..];
        bytes.extend_from_slice(&row[left * 3..(left + width) * 3]);
    }
    Frame::from_rgb(width as u32, height as u32, bytes, frame.index).unwrap()
}

fn frames(detector: &Detector, every: usize) -> Vec<Frame> {
    let options =
        SourceOptions { size: Some(detector.input_size()), scale: detector.scale_mode(), ..Default::default() };
    let video = common::video();
    let mut source = FrameSource::open(video.to_str().unwrap(), &options).unwrap();
    let mut frames = Vec::new();
    let mut index = 0;
    while let Some(frame) = source.next_frame().unwrap() {
        if index % every == 0 {
            frames.push(frame);
        }
        index += 1;
    }
    frames
}

fn inside(d: &Detection, w: Window, margin: f32) -> bool {
    let b = &d.bbox;
    b.left >= w.left as f32 + margin
        && b.top >= w.top as f32 + margin
        && b.right() <= (w.left + w.width) as f32 - margin
        && b.bottom() <= (w.top + w.height) as f32 - margin
}

#[test]
fn a_window_is_the_region_networks_answer_on_the_crop_moved_back() {
    let (mut detector, regions) = with_regions();
    let frames = frames(&detector, 80);
    let (frame_w, frame_h) = detector.input_size();
    let mut compared = 0;
    for spec in &regions {
        let mut alone = load(spec);
        let (width, height) = (spec.input_width, spec.input_height);
        // The top-left corner, the bottom-right one, and a window in between.
        let windows = [(0, 0), (frame_w - width, frame_h - height), ((frame_w - width) / 3, (frame_h - height) / 2)]
            .map(|(left, top)| Window { left, top, width, height });
        for frame in &frames {
            for window in windows {
                let look = Look { window: Some(window), ..Look::default() };
                let seen = detector.detect_batch_looking(&[frame], &[look]).unwrap().remove(0);
                let crop = cropped(frame, window);
                let expected: Vec<Detection> = alone
                    .detect(&crop)
                    .unwrap()
                    .into_iter()
                    .map(|mut d| {
                        // The clip is 768×576, the network's own size: source pixels are frame pixels.
                        d.bbox.left += window.left as f32;
                        d.bbox.top += window.top as f32;
                        d
                    })
                    .collect();
                assert_eq!(seen.len(), expected.len(), "{} at {window:?}, frame {}", spec.name, frame.index);
                for (a, b) in seen.iter().zip(&expected) {
                    let edges = [
                        (a.bbox.left - b.bbox.left).abs(),
                        (a.bbox.top - b.bbox.top).abs(),
                        (a.bbox.width - b.bbox.width).abs(),
                        (a.bbox.height - b.bbox.height).abs(),
                    ];
                    assert!(edges.iter().all(|e| *e < 1e-3), "{a:?} against {b:?}");
                    assert!((a.score - b.score).abs() < 1e-6);
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 100, "only {compared} boxes compared");
    println!("{compared} boxes identical");
}

#[test]
fn people_well_inside_the_window_are_found_as_on_the_whole_frame() {
    let (mut detector, regions) = with_regions();
    let frames = frames(&detector, 20);
    let (frame_w, frame_h) = detector.input_size();
    for spec in &regions {
        let (width, height) = (spec.input_width, spec.input_height);
        let window = Window { left: (frame_w - width) / 2, top: (frame_h - height) / 2, width, height };
        let (mut people, mut found, mut extra) = (0, 0, 0);
        for frame in &frames {
            let whole = detector.detect(frame).unwrap();
            let look = Look { window: Some(window), ..Look::default() };
            let seen = detector.detect_batch_looking(&[frame], &[look]).unwrap().remove(0);
            // A person a quarter of a window's height inside its edges: whole in both pictures.
            let margin = height as f32 / 8.0;
            let confident = |d: &&Detection| d.score >= 0.5 && inside(d, window, margin);
            for person in whole.iter().filter(confident) {
                people += 1;
                if seen.iter().any(|d| d.score >= 0.3 && d.bbox.iou(&person.bbox) >= 0.7) {
                    found += 1;
                }
            }
            extra += seen
                .iter()
                .filter(confident)
                .filter(|d| !whole.iter().any(|w| w.score >= 0.3 && w.bbox.iou(&d.bbox) >= 0.7))
                .count();
        }
        println!("{}: {found} of {people} found again, {extra} confident boxes the whole frame lacks", spec.name);
        assert!(people >= 40, "{}: only {people} people inside the window", spec.name);
        assert!(found as f32 >= 0.9 * people as f32, "{}: {found} of {people} found again", spec.name);
        assert!(extra as f32 <= 0.1 * people as f32, "{}: {extra} new confident boxes", spec.name);
    }
}
