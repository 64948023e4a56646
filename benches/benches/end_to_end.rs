//! End to end: frames per second of the whole pipeline (`lintel count`'s replay: decode, scale,
//! detect, track, count) on the PETS clip, against the detector alone on the same frames already
//! decoded in memory, each frame by frame and in batches (`lintel count --batch`). Rounds are
//! interleaved in one process, so the ratios hold on a noisy box.
//!
//! Run: `cargo bench -p lintel-benches --bench end_to_end` (after scripts/setup).
//! Options (env): LINTEL_BENCH_ROUNDS (default 3), LINTEL_BENCH_MODEL (manifest name),
//! LINTEL_BENCH_BATCH (default 8).

use std::path::Path;
use std::time::Instant;

use lintel::infer::{Detector, Manifest, Runtime};
use lintel::ingest::{Frame, FrameSource, SourceOptions};
use lintel::replay::{ReplayOptions, replay};
use lintel_calibration::site::Site;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let video = root.join("fixtures/video/vtest.avi");
    assert!(video.exists(), "{} missing: run scripts/setup", video.display());
    let video = video.to_str().unwrap().to_string();
    let rounds: usize = std::env::var("LINTEL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let batch: usize = std::env::var("LINTEL_BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(8);

    let manifest = Manifest::load(&root.join("models/models.toml")).expect("models manifest");
    let model = std::env::var("LINTEL_BENCH_MODEL").ok();
    let spec = manifest.detector(model.as_deref()).expect("model");
    let runtime = Runtime::load().expect("ONNX Runtime");
    let mut detector = Detector::load(runtime, spec, &manifest.file_of(spec), 0).expect("detector");

    let site = Site::load(root.join("fixtures/pets.toml")).expect("site");
    let zones: Vec<_> = site.zones_for("walkway").cloned().collect();

    let frames = decode_all(&video, &detector);
    println!(
        "model {}, {} frames pre-decoded at {:?}, {rounds} interleaved rounds",
        spec.name,
        frames.len(),
        detector.input_size()
    );

    let (mut alone, mut whole) = (Vec::new(), Vec::new());
    let (mut alone_batched, mut whole_batched) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let started = Instant::now();
        let mut boxes = 0;
        for frame in &frames {
            boxes += detector.detect(frame).expect("detect").len();
        }
        let fps = frames.len() as f64 / started.elapsed().as_secs_f64();
        alone.push(fps);

        let options = ReplayOptions { batch: 1, ..ReplayOptions::default() };
        let report = replay(&mut detector, None, &video, |_| zones.clone(), &options).expect("replay");
        let pipeline_fps = report.frames as f64 / report.elapsed.as_secs_f64();
        whole.push(pipeline_fps);
        let t = report.timings;
        let per_frame = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / report.frames as f64;
        println!(
            "round {round}: inside lintel count, ms/frame: ingest {:.2}, detect {:.2}, track+count {:.3}; \
             detect share {:.3}",
            per_frame(t.ingest),
            per_frame(t.detect),
            per_frame(t.track_and_count),
            t.detect.as_secs_f64() / report.elapsed.as_secs_f64()
        );
        println!(
            "round {round}: detector alone {fps:.1} frames/s ({boxes} boxes), lintel count {pipeline_fps:.1} frames/s, ratio {:.3}",
            pipeline_fps / fps
        );

        let started = Instant::now();
        for chunk in frames.chunks(batch) {
            detector.detect_batch(&chunk.iter().collect::<Vec<_>>()).expect("detect");
        }
        let batched_fps = frames.len() as f64 / started.elapsed().as_secs_f64();
        alone_batched.push(batched_fps);
        let options = ReplayOptions { batch, ..ReplayOptions::default() };
        let report = replay(&mut detector, None, &video, |_| zones.clone(), &options).expect("replay");
        let pipeline_batched_fps = report.frames as f64 / report.elapsed.as_secs_f64();
        whole_batched.push(pipeline_batched_fps);
        println!(
            "round {round}: batches of {batch}: detector alone {batched_fps:.1} frames/s, lintel count \
             {pipeline_batched_fps:.1} frames/s, ratio {:.3}; lintel count batched / detector frame by frame {:.3}",
            pipeline_batched_fps / batched_fps,
            pipeline_batched_fps / fps
        );
    }
    let (a, w) = (median(&mut alone), median(&mut whole));
    let (ab, wb) = (median(&mut alone_batched), median(&mut whole_batched));
    println!(
        "median, frame by frame: detector alone {a:.1} frames/s, lintel count {w:.1} frames/s, ratio {:.3}",
        w / a
    );
    println!(
        "median, batches of {batch}: detector alone {ab:.1} frames/s, lintel count {wb:.1} frames/s, ratio {:.3}; \
         against the detector frame by frame {:.3}",
        wb / ab,
        wb / a
    );
}

fn decode_all(video: &str, detector: &Detector) -> Vec<Frame> {
    let options =
        SourceOptions { size: Some(detector.input_size()), scale: detector.scale_mode(), ..Default::default() };
    let mut source = FrameSource::open(video, &options).expect("open video");
    let mut frames = Vec::new();
    while let Some(frame) = source.next_frame().expect("decode") {
        // Copied out of GStreamer's buffer pool, which is not meant to hold a whole clip.
        let view = frame.rgb().expect("map");
        let row = view.width() * 3;
        let packed: Vec<u8> = (0..view.height())
            .flat_map(|y| &view.data()[y * view.stride()..y * view.stride() + row])
            .copied()
            .collect();
        frames.push(Frame::from_rgb(frame.width(), frame.height(), packed, frame.index).expect("frame"));
    }
    frames
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
