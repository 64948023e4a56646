//! Development aid: runs the detector over a video once and writes every detection as
//! `frame,score,left,top,width,height` (frames 1-based), so tracker and counter settings can be
//! tuned on cached detections in seconds (see `replay_detections`).
//!
//! `cargo run --release --example dump_detections -- VIDEO OUT [MODEL]`

use std::io::Write;

use lintel::infer::{Detector, Manifest, Runtime};
use lintel::ingest::{FrameSource, SourceOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (video, out) = (&args[1], &args[2]);
    let manifest = Manifest::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/models.toml")))?;
    let spec = manifest.detector(args.get(3).map(String::as_str))?;
    let runtime = Runtime::load()?;
    let mut detector = Detector::load(runtime, spec, &manifest.file_of(spec), 0)?;
    let options =
        SourceOptions { size: Some(detector.input_size()), scale: detector.scale_mode(), ..Default::default() };
    let mut source = FrameSource::open(video, &options)?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    while let Some(frame) = source.next_frame()? {
        for d in detector.detect(&frame)? {
            let b = d.bbox;
            writeln!(
                file,
                "{},{:.4},{:.2},{:.2},{:.2},{:.2}",
                frame.index + 1,
                d.score,
                b.left,
                b.top,
                b.width,
                b.height
            )?;
        }
    }
    Ok(())
}
