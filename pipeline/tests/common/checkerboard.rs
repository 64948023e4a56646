//! Clips of a checkerboard seen through a known lens, for the lens-calibration tests: rendered in
//! pure Rust (`lintel_calibration::checkerboard`), encoded to H.264 MP4 by a real GStreamer
//! pipeline as a camera's recording would be.

use std::path::Path;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use lintel_calibration::Lens;
use lintel_calibration::checkerboard::{Board, ViewRenderer, sweep_poses};

/// The lens that draws the test clips: a wide-angle camera with strong barrel distortion.
pub fn known_lens() -> Lens {
    Lens { size: (768, 576), focal: (560.0, 560.0), centre: (380.0, 292.0), distortion: [-0.28, 0.09, 0.0, 0.0, 0.0] }
}

/// The board of the test clips: 9×6 inner corners, 30 mm squares.
pub fn board() -> Board {
    Board::parse("9x6", 30.0).unwrap()
}

/// The test clip at `path`: [`board`] through [`known_lens`], 40 poses held [`HOLD_FRAMES`] frames
/// each at 10 fps (16 s).
pub fn write_known_clip(path: &Path) {
    write_checkerboard_clip(path, &known_lens(), &board(), 160, 10);
}

/// Frames each pose is held for: a technician moves a board slowly, and a live grab samples a few
/// frames a second, so every pose must last a few frames.
pub const HOLD_FRAMES: usize = 4;

/// Writes `frames` frames at `fps` of `board` moved across the picture of `lens` (the poses of
/// `sweep_poses`, each held [`HOLD_FRAMES`] frames) as an H.264 MP4 at `path`:
/// `appsrc (GRAY8) ! videoconvert ! x264enc (ultrafast, constant quantiser 18) ! mp4mux ! filesink`.
pub fn write_checkerboard_clip(path: &Path, lens: &Lens, board: &Board, frames: usize, fps: u32) {
    gst::init().unwrap();
    let (width, height) = lens.size;
    let description = format!(
        "appsrc name=src format=time ! videoconvert ! video/x-raw,format=I420 ! \
         x264enc speed-preset=ultrafast pass=quant quantizer=18 key-int-max={fps} ! mp4mux ! filesink location={}",
        path.display()
    );
    let pipeline = gst::parse::launch(&description)
        .unwrap_or_else(|e| panic!("{e}: x264enc is in gstreamer1.0-plugins-ugly (scripts/setup)"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    src.set_caps(Some(
        &gst::Caps::builder("video/x-raw")
            .field("format", "GRAY8")
            .field("width", width as i32)
            .field("height", height as i32)
            .field("framerate", gst::Fraction::new(fps as i32, 1))
            .build(),
    ));
    pipeline.set_state(gst::State::Playing).unwrap();

    let renderer = ViewRenderer::new(lens);
    let poses = sweep_poses(lens, board, frames.div_ceil(HOLD_FRAMES));
    // GStreamer's GRAY8 rows are padded to 4 bytes.
    let stride = (width as usize).div_ceil(4) * 4;
    let frame_time = gst::ClockTime::SECOND / u64::from(fps);
    let mut index = 0;
    'poses: for pose in &poses {
        let picture = renderer.render(board, pose);
        let mut padded = vec![0u8; stride * height as usize];
        for (row, out) in picture.chunks_exact(width as usize).zip(padded.chunks_exact_mut(stride)) {
            out[..row.len()].copy_from_slice(row);
        }
        for _ in 0..HOLD_FRAMES {
            if index == frames {
                break 'poses;
            }
            let mut buffer = gst::Buffer::from_slice(padded.clone());
            let buffer_mut = buffer.get_mut().unwrap();
            buffer_mut.set_pts(frame_time * index as u64);
            buffer_mut.set_duration(frame_time);
            src.push_buffer(buffer).unwrap();
            index += 1;
        }
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    for message in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match message.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => panic!("{description}: {}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
}
