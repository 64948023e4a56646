//! Ingest: the CPU a frame costs from the file to RGB in Rust, the way `FrameSource` does it now
//! (GStreamer decodes to I420, Rust converts, `ingest/to_rgb.rs`) against GStreamer's
//! `videoconvert` doing the conversion (ingest before), with decoding alone as the floor. Rounds
//! are interleaved in one process, so the ratios hold on a noisy box. The whole process's CPU time
//! is counted (GStreamer's threads are in it), per frame.
//!
//! Run: `cargo bench -p lintel-benches --bench ingest` (after scripts/setup).
//! Options (env): LINTEL_BENCH_ROUNDS (default 5), LINTEL_BENCH_VIDEO (default the PETS clip).

use std::path::Path;
use std::time::Instant;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use lintel::ingest::{FrameSource, SourceOptions};

/// CPU seconds this process has used (user and system, every thread).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // Linux reports clock ticks of 1/100 s (USER_HZ) to user space.
    ticks / 100.0
}

/// Reads every frame of `video` through a GStreamer pipeline to an appsink of `format`, touching
/// one byte of each (as the detector's first read would map it); returns the frames.
fn gstreamer_to(video: &str, format: &str) -> usize {
    let description = format!(
        "filesrc location={video} ! decodebin ! videoconvert ! video/x-raw,format={format} ! appsink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&description).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    let mut checksum = 0u64;
    while let Ok(sample) = sink.pull_sample() {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info).unwrap();
        checksum += u64::from(frame.plane_data(0).unwrap()[0]);
        frames += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    std::hint::black_box(checksum);
    frames
}

fn through_frame_source(video: &str) -> usize {
    let mut source = FrameSource::open(video, &SourceOptions::default()).expect("open");
    let mut frames = 0;
    let mut checksum = 0u64;
    while let Some(frame) = source.next_frame().expect("decode") {
        checksum += u64::from(frame.rgb().expect("map").data()[0]);
        frames += 1;
    }
    std::hint::black_box(checksum);
    frames
}

/// (wall ms, CPU ms) per frame of one run.
fn measure(run: impl FnOnce() -> usize) -> (f64, f64) {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let frames = run();
    let per = |s: f64| s * 1000.0 / frames as f64;
    (per(wall.elapsed().as_secs_f64()), per(cpu_seconds() - cpu))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    gst::init().expect("GStreamer");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let video = std::env::var("LINTEL_BENCH_VIDEO")
        .unwrap_or_else(|_| root.join("fixtures/video/vtest.avi").to_string_lossy().into_owned());
    assert!(Path::new(&video).exists(), "{video} missing: run scripts/setup");
    let rounds: usize = std::env::var("LINTEL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    println!("{video}, {rounds} interleaved rounds; per frame: wall ms, CPU ms (every thread)");
    let (mut decode_cpu, mut videoconvert_cpu, mut rust_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let decode = measure(|| gstreamer_to(&video, "I420"));
        let videoconvert = measure(|| gstreamer_to(&video, "RGB"));
        let rust = measure(|| through_frame_source(&video));
        println!(
            "round {round}: decode to I420 {:.3} / {:.3}; + videoconvert to RGB {:.3} / {:.3}; + Rust to RGB (ingest) {:.3} / {:.3}",
            decode.0, decode.1, videoconvert.0, videoconvert.1, rust.0, rust.1
        );
        decode_cpu.push(decode.1);
        videoconvert_cpu.push(videoconvert.1);
        rust_cpu.push(rust.1);
    }
    let (decode, videoconvert, rust) = (median(&mut decode_cpu), median(&mut videoconvert_cpu), median(&mut rust_cpu));
    println!(
        "median CPU per frame: decode {decode:.3} ms; videoconvert adds {:.3} ms, Rust adds {:.3} ms; \
         ingest costs {:.2}× the CPU it did with videoconvert",
        videoconvert - decode,
        rust - decode,
        rust / videoconvert
    );
}
