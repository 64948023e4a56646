//! Development aid: tracker + counter over detections cached by `dump_detections`, printing the
//! counts per zone of a site file, and writing tracks as MOTChallenge CSV.
//!
//! `cargo run --release --example replay_detections -- DETECTIONS SITE CAMERA WIDTH HEIGHT FPS [TRACKS_OUT]`
//! Tracker settings can be overridden with env vars, e.g. `MAX_LOST_S=4 LOST_BUFFER=0.08`.
//! With `REID=1` and a `DETECTIONS.emb` from `EMBED=1 dump_detections`, the tracker uses
//! appearance, given the cached embeddings of the detections it asks for (`REID_*` settings).

use std::collections::BTreeMap;

use lintel::analysis::{AnalysisConfig, Appearance, CameraAnalysis};
use lintel::count::Tally;
use lintel::detection::{BBox, Detection, Embedding};
use lintel::infer::InferError;
use lintel::ingest::Frame;
use lintel::replay::TracksOut;
use lintel::track::{TrackState, TrackerConfig};
use lintel_calibration::site::Site;

fn env(name: &str) -> Option<f32> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1])?;
    let site = Site::load(&args[2])?;
    let (width, height, fps): (u32, u32, f32) = (args[4].parse()?, args[5].parse()?, args[6].parse()?);
    let reid = env("REID").is_some_and(|v| v > 0.0);
    let cached = if reid { std::fs::read(format!("{}.emb", args[1]))? } else { Vec::new() };
    let lines = text.lines().count().max(1);
    let dim = cached.len() / 4 / lines;
    let mut frames: BTreeMap<u64, Vec<(Detection, Option<Embedding>)>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let v: Vec<f32> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let bbox = BBox { left: v[2], top: v[3], width: v[4], height: v[5] };
        let embedding = (dim > 0).then(|| {
            let bytes = &cached[i * dim * 4..(i + 1) * dim * 4];
            let values: Vec<f32> =
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            Embedding::normalised(&values)
        });
        frames.entry(v[0] as u64).or_default().push((Detection { bbox, score: v[1], class: 1 }, embedding.flatten()));
    }
    let last = frames.keys().last().copied().unwrap_or(0);
    let zones: Vec<_> = site.zones_for(&args[3]).collect();
    let mut config =
        TrackerConfig { max_lost_frames: (env("MAX_LOST_S").unwrap_or(3.0) * fps) as u32, ..Default::default() };
    if let Some(v) = env("LOST_BUFFER") {
        config.lost_buffer_per_frame = v;
    }
    if let Some(v) = env("MAX_BUFFER") {
        config.max_lost_buffer = v;
    }
    if let Some(v) = env("HIGH") {
        config.high_score = v;
    }
    if let Some(v) = env("NEW") {
        config.new_track_score = v;
    }
    if let Some(v) = env("FIRST_COST") {
        config.first_stage_max_cost = v;
    }
    if let Some(v) = env("FUSE") {
        config.fuse_score = v > 0.0;
    }
    let a = &mut config.appearance;
    for (name, slot) in [
        ("REID_WEIGHT", &mut a.weight),
        ("REID_MAX_DISTANCE", &mut a.max_distance),
        ("REID_DISTANCE", &mut a.reid_distance),
        ("REID_MAX_REACH", &mut a.max_reach),
        ("REID_KEEP", &mut a.keep),
    ] {
        if let Some(v) = env(name) {
            *slot = v;
        }
    }
    // No pixels are needed: the analysis sees the frame's size and index, and the cached
    // embeddings stand in for the re-ID model.
    let mut analysis = CameraAnalysis::new(
        zones.iter().map(|z| (*z).clone()).collect(),
        AnalysisConfig {
            tracker: config,
            max_lost: std::time::Duration::from_secs_f32(env("MAX_LOST_S").unwrap_or(3.0)),
            reid_memory: std::time::Duration::from_secs_f32(env("REID_MEMORY_S").unwrap_or(5.0)),
            ..AnalysisConfig::at_fps(f64::from(fps))
        },
        false,
    );
    let mut cache = Cache(&frames);
    let mut tally = Tally::new(zones.len());
    let mut events = Vec::new();
    let mut out = args.get(7).map(|p| TracksOut::create(std::path::Path::new(p))).transpose()?;
    let (mut ids, mut embedded) = (std::collections::HashSet::new(), 0);
    for index in 0..last {
        let mut frame = Frame::from_rgb(2, 2, vec![0; 12], index)?;
        (frame.source_width, frame.source_height) = (width, height);
        let detections: Vec<Detection> =
            frames.get(&(index + 1)).map_or(Vec::new(), |both| both.iter().map(|(d, _)| *d).collect());
        let appearance = if reid { Some(&mut cache as &mut dyn Appearance) } else { None };
        let result = analysis.analyse(&frame, Some(&detections), appearance)?;
        embedded += result.embedded;
        events.extend(result.events);
        ids.extend(analysis.tracks().iter().filter(|t| t.matched && t.state == TrackState::Confirmed).map(|t| t.id));
        if let Some(out) = out.as_mut() {
            out.write(index, analysis.tracks())?;
        }
    }
    events.extend(analysis.finish());
    if let Some(out) = out {
        out.flush()?;
    }
    events.iter().for_each(|e| tally.add(e.zone, e.direction));
    if let Ok(zone) = std::env::var("EVENTS") {
        for e in events.iter().filter(|e| zones[e.zone].name == zone) {
            eprintln!("{} {:?}", e.frame + 1, e.direction);
        }
    }
    println!("tracks {} embedded {embedded}", ids.len());
    for (z, t) in zones.iter().zip(&tally.zones) {
        println!("{} {} {}", z.name, t.entries, t.exits);
    }
    Ok(())
}

/// The cached embeddings of each frame's detections (1-based frame → detection and embedding),
/// found by their box.
struct Cache<'a>(&'a BTreeMap<u64, Vec<(Detection, Option<Embedding>)>>);

impl Appearance for Cache<'_> {
    fn embed(&mut self, frame: &Frame, boxes: &[BBox], _: bool) -> Result<Vec<Option<Embedding>>, InferError> {
        let cached = self.0.get(&(frame.index + 1)).map_or(&[][..], Vec::as_slice);
        Ok(boxes.iter().map(|b| cached.iter().find(|(d, _)| d.bbox == *b).and_then(|(_, e)| e.clone())).collect())
    }
}
