//! Ingest converts the decoder's I420 to RGB in Rust (`ingest/to_rgb.rs`), not with GStreamer's
//! `videoconvert`: on real video, the bytes must be the ones `videoconvert` gives, the picture the
//! detector and the low-light curve were measured on, in the range the stream declares, at any
//! analysis size.

mod common;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use lintel::ingest::{FrameSource, SourceOptions};

/// The first `count` frames of `description` (a pipeline ending in `appsink name=sink`), in RGB
/// as `videoconvert` makes it: packed rows, no padding.
fn videoconvert_frames(description: &str, count: usize) -> Vec<Vec<u8>> {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(description).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    while frames.len() < count {
        let sample = sink.pull_sample().expect("a frame from videoconvert");
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info).unwrap();
        let (row, stride) = (info.width() as usize * 3, frame.plane_stride()[0] as usize);
        let data = frame.plane_data(0).unwrap();
        frames.push(data.chunks(stride).take(info.height() as usize).flat_map(|r| &r[..row]).copied().collect());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    frames
}

/// Ingest's frames of `input`, packed: (bytes that differ from `expected`, the largest difference).
fn compare(input: &str, options: &SourceOptions, expected: &[Vec<u8>]) -> (usize, u8) {
    let mut source = FrameSource::open(input, options).unwrap();
    let (mut differ, mut worst, mut compared) = (0, 0, 0);
    for expected in expected {
        let frame = source.next_frame().unwrap().expect("a frame from ingest");
        let view = frame.rgb().unwrap();
        let row = view.width() * 3;
        let got: Vec<u8> =
            view.data().chunks(view.stride()).take(view.height()).flat_map(|r| &r[..row]).copied().collect();
        assert_eq!(got.len(), expected.len(), "frame size");
        for (a, b) in got.iter().zip(expected) {
            differ += usize::from(a != b);
            worst = worst.max(a.abs_diff(*b));
        }
        compared += got.len();
    }
    eprintln!("{input}: {differ} of {compared} bytes differ from videoconvert's, by at most {worst}");
    (differ, worst)
}

#[test]
fn the_clip_in_rgb_is_byte_for_byte_what_videoconvert_gives() {
    let video = common::video();
    let description = format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
        video.display()
    );
    let expected = videoconvert_frames(&description, 20);
    assert_eq!(compare(video.to_str().unwrap(), &SourceOptions::default(), &expected), (0, 0));
}

#[test]
fn an_odd_analysis_size_converts_every_pixel_alike() {
    // 301×201: chroma planes of 151×101, the last chroma sample covering one column and one row.
    let video = common::video();
    let description = format!(
        "filesrc location={} ! decodebin ! videoscale ! video/x-raw,width=301,height=201 ! videoconvert ! \
         video/x-raw,format=RGB ! appsink name=sink sync=false",
        video.display()
    );
    let expected = videoconvert_frames(&description, 5);
    let options = SourceOptions { size: Some((301, 201)), ..SourceOptions::default() };
    assert_eq!(compare(video.to_str().unwrap(), &options, &expected), (0, 0));
}

#[test]
fn a_full_range_camera_is_converted_in_its_range() {
    // Motion JPEG, as cheap cameras send it: full range (0-255), which read as video range would
    // lose its darkest and brightest levels.
    let dir = common::scratch_dir("colour-conversion");
    let file = dir.join("mjpeg.avi");
    let status = std::process::Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "pattern=smpte", "num-buffers=5", "!", "video/x-raw,width=320,height=240"])
        .args(["!", "jpegenc", "!", "avimux", "!", "filesink"])
        .arg(format!("location={}", file.display()))
        .status()
        .expect("gst-launch-1.0 (gstreamer1.0-tools)");
    assert!(status.success());
    let description = format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=I420 ! videoconvert ! \
         video/x-raw,format=RGB ! appsink name=sink sync=false",
        file.display()
    );
    let expected = videoconvert_frames(&description, 3);
    assert_eq!(compare(file.to_str().unwrap(), &SourceOptions::default(), &expected), (0, 0));
    // The test card's black is black and its white (lower band) white: the full range was kept.
    let mut source = FrameSource::open(file.to_str().unwrap(), &SourceOptions::default()).unwrap();
    let frame = source.next_frame().unwrap().unwrap();
    let view = frame.rgb().unwrap();
    let (min, max) =
        view.data()[..view.stride() * view.height()].iter().fold((255, 0), |(lo, hi), &b| (lo.min(b), hi.max(b)));
    assert!(min <= 3 && max >= 250, "levels {min}..{max}");
    assert_eq!(source.below_black(), None, "a full-range stream is read as it says");
}

#[test]
fn a_small_picture_is_scaled_up_with_lanczos() {
    // A 384×288 camera for the 768×576 network: Lanczos, which counted better than bilinear.
    let small =
        common::degraded::degraded_copy("scaled-up-384", "videoscale ! video/x-raw,width=384,height=288", 0.0, "");
    let reference = |method: &str| {
        let description = format!(
            "filesrc location={} ! decodebin ! videoscale method={method} ! video/x-raw,width=768,height=576 ! \
             videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
            small.display()
        );
        videoconvert_frames(&description, 5)
    };
    let options = SourceOptions { size: Some((768, 576)), ..SourceOptions::default() };
    assert_eq!(compare(small.to_str().unwrap(), &options, &reference("lanczos")), (0, 0));
    let (differ, _) = compare(small.to_str().unwrap(), &options, &reference("bilinear"));
    assert!(differ > 100_000, "bilinear and Lanczos should differ: {differ} bytes");
}
