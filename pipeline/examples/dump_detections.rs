//! Development aid: runs the detector over a video once and writes every detection as
//! `frame,score,left,top,width,height` (frames 1-based), so tracker and counter settings can be
//! tuned on cached detections in seconds (see `replay_detections`).
//!
//! `cargo run --release --example dump_detections -- VIDEO OUT [MODEL]`
//!
//! With `EMBED=1`, also writes `OUT.emb`: for every detection line, in order, the re-ID model's
//! embedding (little-endian f32, L2-normalised; zeros where the crop was unusable), so
//! appearance settings can be tuned the same way.

use std::io::Write;

use lintel::infer::{Detector, Embedder, Manifest, Runtime};
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
    let mut embeddings = match std::env::var("EMBED").is_ok_and(|v| v == "1") {
        true => {
            let spec = manifest.reid(None)?;
            let embedder = Embedder::load(runtime, spec, &manifest.file_of(spec), 0)?;
            let file = std::io::BufWriter::new(std::fs::File::create(format!("{out}.emb"))?);
            Some((embedder, file, spec.embedding_dim.unwrap_or(0)))
        }
        false => None,
    };
    while let Some(frame) = source.next_frame()? {
        let detections = detector.detect(&frame)?;
        if let Some((embedder, file, dim)) = embeddings.as_mut() {
            let boxes: Vec<_> = detections.iter().map(|d| d.bbox).collect();
            for embedding in embedder.embed(&frame, &boxes, detector.spec().letterboxed())? {
                let zeros = vec![0.0; *dim];
                let values = embedding.as_ref().map_or(&zeros[..], |e| e.values());
                values.iter().try_for_each(|v| file.write_all(&v.to_le_bytes()))?;
            }
        }
        for d in detections {
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
