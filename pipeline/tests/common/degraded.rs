//! Copies of the PETS clip as real cameras alter it (what `benches/degraded` makes), and the
//! clip's ground truth.

use std::path::PathBuf;

use gstreamer as gst;
use gstreamer::prelude::*;

/// The clip through `chain` (gst-launch syntax, between the decoder and the encoder), with snow
/// blended over it at opacity `noise` (a sensor's noise at high gain; 0 for none) and then
/// through `after`, into an H.264 MP4 under the test's scratch directory: what `benches/degraded`
/// makes.
pub fn degraded_copy(name: &str, chain: &str, noise: f32, after: &str) -> PathBuf {
    let video = super::video();
    let out = super::scratch_dir(&format!("degraded-{name}")).join(format!("{name}.mp4"));
    gst::init().unwrap();
    let encode = format!(
        "videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast bitrate=3000 key-int-max=30 ! \
         mp4mux ! filesink location={}",
        out.display()
    );
    let source = format!("filesrc location={} ! decodebin ! videoconvert ! {chain}", video.display());
    let description = if noise > 0.0 {
        format!(
            "compositor name=mix sink_1::alpha={noise} ! video/x-raw,width=768,height=576 ! {after} ! {encode} \
             {source} ! videoconvert ! mix.sink_0 \
             videotestsrc pattern=snow num-buffers=795 ! video/x-raw,width=768,height=576,framerate=10/1 ! mix.sink_1"
        )
    } else {
        format!("{source} ! {encode}")
    };
    let pipeline = gst::parse::launch(&description)
        .unwrap_or_else(|e| panic!("{e}: x264enc is in gstreamer1.0-plugins-ugly (scripts/setup)"));
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for message in bus.iter_timed(gst::ClockTime::NONE) {
        match message.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => panic!("{description}: {}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

/// The night copy of `benches/degraded`: much darker, very flat, JPEG quality 15.
pub const NIGHT: &str = "videobalance brightness=-0.03 contrast=0.2 saturation=0.3 ! jpegenc quality=15 ! jpegdec";
/// The darker night of `benches/degraded` darkened in Y'CbCr (`night-dark`): most of its luma is
/// below black (16) in a stream that says it uses 16–235, which decoding in that range turns
/// black; ingest reads such a stream as full range (`ingest/to_rgb.rs`).
pub const BELOW_BLACK: &str =
    "videobalance brightness=-0.06 contrast=0.12 saturation=0.3 ! jpegenc quality=10 ! jpegdec";
/// The darker night of `benches/degraded` made as a camera would (`night-dark-rgb`): darkened in
/// RGB, so its levels (about 1–22 decoded) stay legal for any decoder, then JPEG quality 10.
pub const DARKER_NIGHT: &str =
    "video/x-raw,format=RGB ! videobalance contrast=0.11 saturation=0.3 ! videoconvert ! jpegenc quality=10 ! jpegdec";
/// A camera's infrared night mode: grey, flat (with noise at 0.12, then JPEG quality 40).
pub const INFRARED: &str = "videobalance brightness=0.05 contrast=0.45 saturation=0";

/// Ground-truth boxes (left, top, right, bottom) per 1-based frame, the don't-care ones left out.
pub fn ground_truth() -> std::collections::HashMap<u64, Vec<[f32; 4]>> {
    let path = super::workspace("fixtures/PETS09-S2L1-gt.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut boxes = std::collections::HashMap::<u64, Vec<[f32; 4]>>::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<f32> = line.split(',').map(|v| v.trim().parse().unwrap()).collect();
        if f[6] != 0.0 {
            boxes.entry(f[0] as u64).or_default().push([f[2], f[3], f[2] + f[4], f[3] + f[5]]);
        }
    }
    boxes
}
