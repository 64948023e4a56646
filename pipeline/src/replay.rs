//! Replay: a recorded video through the whole pipeline (ingest → detect → track → count).
//!
//! This is what `lintel count` runs: every frame of the file is analysed, as fast as the box
//! can, so the same file always gives the same counts.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lintel_calibration::site::ZoneShape;

use crate::count::{CounterConfig, CrossingEvent, Tally, ZoneCounter, ZoneTally};
use crate::detection::{BBox, Detection, Embedding};
use crate::infer::{Detector, Embedder, InferError, MotionGate, MotionGateConfig};
use crate::ingest::{Frame, FrameSource, IngestError, SourceOptions};
use crate::track::{TrackState, Tracker, TrackerConfig};

/// A zone to count on, with what it belongs to (for the report).
#[derive(Debug, Clone)]
pub struct ReplayZone {
    pub name: String,
    pub entrance: Option<String>,
    pub building: Option<String>,
    pub shape: ZoneShape,
    pub units: ZoneUnits,
    /// Whether the zone's counts add up into its entrance and building.
    pub aggregate: bool,
    /// Hysteresis distance each side of the boundary, as a fraction of the frame height.
    pub min_distance: f32,
}

/// The coordinate system of a [`ReplayZone`]'s shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneUnits {
    /// 0..1 of the frame width and height (site files).
    Normalised,
    /// Pixels of the decoded video (ad-hoc `--line`).
    Pixels,
}

impl ReplayZone {
    fn in_pixels(&self, width: u32, height: u32) -> (ZoneShape, f32) {
        let shape = match self.units {
            ZoneUnits::Pixels => self.shape.clone(),
            ZoneUnits::Normalised => self.shape.scale(width as f32, height as f32),
        };
        (shape, self.min_distance * height as f32)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Analysis frame rate; `None` analyses every frame.
    pub fps: Option<f64>,
    /// Write the tracks as MOTChallenge CSV here.
    pub tracks_out: Option<PathBuf>,
    /// Show a progress bar on the terminal.
    pub progress: bool,
    pub tracker: Option<TrackerConfig>,
    /// How long a lost track is kept for re-identification by motion.
    pub max_lost: Option<Duration>,
    /// How much longer a lost track whose appearance is known is searched by appearance.
    pub reid_memory: Option<Duration>,
    /// Skip the detector on frames where nothing moves near the zones and nobody is tracked there.
    pub motion_gate: Option<MotionGateConfig>,
    /// Stop at this point of the video (stream time).
    pub until: Option<Duration>,
    /// Frames per run of the detector (0 or 1: one at a time). Ignored with the motion gate,
    /// which decides frame by frame, and for models with a fixed batch of 1.
    pub batch: usize,
}

/// What a replay counted.
#[derive(Debug)]
pub struct ReplayReport {
    pub frames: u64,
    /// Frames the motion gate kept from the detector (0 without one).
    pub skipped: u64,
    pub source_size: (u32, u32),
    pub source_fps: Option<f64>,
    pub elapsed: Duration,
    pub zones: Vec<ZoneTally>,
    /// Distinct confirmed tracks seen.
    pub tracks: u64,
    /// Person crops embedded by the re-ID model (0 without one).
    pub embeddings: u64,
    /// Detections of the frames analysed (what embedding every box would have cost).
    pub detections: u64,
    /// Where the time went, stage by stage.
    pub timings: StageTimings,
    /// The stream failed part-way: the counts above are what was made before it did.
    pub interrupted: Option<ReplayError>,
}

/// Wall time spent in each stage over a replay, measured frame by frame in the same run, so
/// their ratios hold on a busy machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimings {
    /// Waiting for the next decoded, scaled, converted frame from GStreamer.
    pub ingest: Duration,
    /// Pre-processing, inference and decoding of the detector.
    pub detect: Duration,
    /// Cropping and embedding the people the tracker asked about.
    pub reid: Duration,
    /// Tracking, counting and writing tracks.
    pub track_and_count: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Infer(#[from] InferError),
    #[error("{path}: cannot write tracks: {error}")]
    TracksOut { path: PathBuf, error: std::io::Error },
}

/// Default time a lost track waits to be found again: people at a door are hidden for seconds.
pub const DEFAULT_MAX_LOST: Duration = Duration::from_secs(3);
/// Default time a lost track whose appearance is known is searched by appearance afterwards.
pub const DEFAULT_REID_MEMORY: Duration = Duration::from_secs(5);

/// Runs the pipeline over a video file and counts crossings of `zones`; with an `embedder`,
/// the tracker also uses appearance, embedding the people it asks about.
///
/// Errors that stop the stream part-way are returned inside the report (`interrupted`), with the
/// counts made until then: nothing counted is lost.
pub fn replay(
    detector: &mut Detector,
    mut embedder: Option<&mut Embedder>,
    video: &str,
    zones: &[ReplayZone],
    options: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let started = Instant::now();
    let source_options = SourceOptions {
        size: Some(detector.input_size()),
        scale: detector.scale_mode(),
        fps: options.fps,
        live: false,
    };
    let mut source = FrameSource::open(video, &source_options)?;
    let mut tracks_out = match &options.tracks_out {
        Some(path) => Some((
            std::io::BufWriter::new(
                std::fs::File::create(path).map_err(|error| ReplayError::TracksOut { path: path.clone(), error })?,
            ),
            path.clone(),
        )),
        None => None,
    };
    let mut tracker: Option<Tracker> = None;
    let mut counter: Option<ZoneCounter> = None;
    let mut gate: Option<MotionGate> = None;
    // The source's rate is known once its first frame is out.
    let mut fps = options.fps.unwrap_or(10.0);
    let mut tally = Tally::new(zones.len());
    let mut events: Vec<CrossingEvent> = Vec::new();
    let mut frames = 0u64;
    let mut source_size = (0, 0);
    let mut confirmed_ids = std::collections::HashSet::new();
    let mut progress = None;
    let mut timings = StageTimings::default();
    let letterboxed = detector.spec().letterboxed();
    let (mut wanted, mut embeddings) = (Vec::new(), Vec::new());
    let (mut embedded, mut detection_count) = (0u64, 0u64);

    // Frames are detected `batch` at a time (one run of the model), then tracked one by one.
    // The motion gate decides frame by frame from the tracker's state, so it takes one at a time.
    let batch = if options.motion_gate.is_some() || !detector.batches() { 1 } else { options.batch.max(1) };
    let mut pending: Vec<Frame> = Vec::with_capacity(batch);
    let interrupted = 'stream: loop {
        pending.clear();
        let mut ended = None;
        while pending.len() < batch {
            let waited = Instant::now();
            let next = source.next_frame();
            timings.ingest += waited.elapsed();
            match next {
                Ok(Some(frame)) => {
                    if tracker.is_none() && pending.is_empty() {
                        fps = options.fps.or(source.source_fps()).unwrap_or(10.0);
                    }
                    if options.until.is_some_and(|until| stream_time(&frame, fps) >= until) {
                        ended = Some(None);
                        break;
                    }
                    pending.push(frame);
                }
                Ok(None) => {
                    ended = Some(None);
                    break;
                }
                Err(error) => {
                    ended = Some(Some(ReplayError::Ingest(error)));
                    break;
                }
            }
        }
        if pending.is_empty() {
            break ended.flatten();
        }
        if counter.is_none() {
            let frame = &pending[0];
            source_size = (frame.source_width, frame.source_height);
            let pixel_zones: Vec<_> =
                zones.iter().map(|z| z.in_pixels(frame.source_width, frame.source_height)).collect();
            if let Some(config) = options.motion_gate {
                let shapes: Vec<ZoneShape> = pixel_zones.iter().map(|(shape, _)| shape.clone()).collect();
                gate = Some(MotionGate::new(config, &shapes, source_size, letterboxed));
            }
            counter = Some(ZoneCounter::new(pixel_zones, source_size, CounterConfig::default()));
            let config = options.tracker.clone().unwrap_or_default().at_fps(
                fps,
                options.max_lost.unwrap_or(DEFAULT_MAX_LOST),
                options.reid_memory.unwrap_or(DEFAULT_REID_MEMORY),
            );
            tracker = Some(Tracker::new(config));
            if options.progress {
                progress = Some(progress_bar(&source, fps));
            }
        }
        let (Some(tracker), Some(counter)) = (tracker.as_mut(), counter.as_mut()) else { unreachable!() };
        let detecting = Instant::now();
        let wanted_detector = match gate.as_mut() {
            Some(gate) => {
                let frame = &pending[0];
                let tracking = tracker.tracks().iter().any(|t| gate.watches(&t.bbox));
                // A frame that cannot be mapped is left to the detector, which reports it.
                gate.decide(frame, stream_time(frame, fps), tracking).map_or(true, |decision| decision.detect())
            }
            None => true,
        };
        let detected = if wanted_detector {
            let frames: Vec<&Frame> = pending.iter().collect();
            match detector.detect_batch(&frames) {
                Ok(d) => d,
                Err(error) => break Some(ReplayError::Infer(error)),
            }
        } else {
            vec![Vec::new()]
        };
        timings.detect += detecting.elapsed();
        for (frame, detections) in pending.iter().zip(detected) {
            let embedding = Instant::now();
            detection_count += detections.len() as u64;
            embeddings.clear();
            if let Some(embedder) = embedder.as_deref_mut().filter(|_| wanted_detector) {
                match embed_wanted(tracker, embedder, frame, &detections, letterboxed, &mut wanted, &mut embeddings) {
                    Ok(n) => embedded += n,
                    Err(error) => break 'stream Some(ReplayError::Infer(error)),
                }
            }
            let tracking = Instant::now();
            timings.reid += tracking - embedding;
            let update = tracker.update_at(frame.pts, &detections, &embeddings);
            events.clear();
            counter.update(update.tracks, update.removed, frame.index, frame.pts, &mut events);
            events.iter().for_each(|e| tally.add(e));
            for track in update.tracks.iter().filter(|t| t.matched && t.state == TrackState::Confirmed) {
                confirmed_ids.insert(track.id);
                if let Some((out, path)) = tracks_out.as_mut() {
                    let b = track.bbox;
                    let written = writeln!(
                        out,
                        "{},{},{:.2},{:.2},{:.2},{:.2},{:.3},-1,-1,-1",
                        frame.index + 1,
                        track.id.0,
                        b.left,
                        b.top,
                        b.width,
                        b.height,
                        track.score
                    );
                    if let Err(error) = written {
                        return Err(ReplayError::TracksOut { path: path.clone(), error });
                    }
                }
            }
            timings.track_and_count += tracking.elapsed();
            frames += 1;
            if let Some(bar) = &progress {
                bar.set_position(frame.index + 1);
            }
        }
        if let Some(end) = ended {
            break end;
        }
    };
    if let Some(counter) = counter.as_mut() {
        events.clear();
        counter.finish(&mut events);
        events.iter().for_each(|e| tally.add(e));
    }
    if let Some((mut out, path)) = tracks_out {
        out.flush().map_err(|error| ReplayError::TracksOut { path, error })?;
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(ReplayReport {
        frames,
        skipped: gate.as_ref().map_or(0, MotionGate::skipped),
        source_size,
        source_fps: source.source_fps(),
        elapsed: started.elapsed(),
        zones: tally.zones,
        tracks: confirmed_ids.len() as u64,
        embeddings: embedded,
        detections: detection_count,
        timings,
        interrupted,
    })
}

/// When `frame` shows in the stream: its timestamp, or its index at `fps` without one.
fn stream_time(frame: &Frame, fps: f64) -> Duration {
    frame.pts.unwrap_or_else(|| Duration::from_secs_f64(frame.index as f64 / fps))
}

/// Embeds the detections the tracker wants an appearance for (batched in one run); the others
/// get `None`. Returns how many were embedded.
pub fn embed_wanted(
    tracker: &Tracker,
    embedder: &mut Embedder,
    frame: &Frame,
    detections: &[Detection],
    letterboxed: bool,
    wanted: &mut Vec<bool>,
    embeddings: &mut Vec<Option<Embedding>>,
) -> Result<u64, InferError> {
    tracker.wants_appearance(detections, wanted);
    let boxes: Vec<BBox> = detections.iter().zip(wanted.iter()).filter(|(_, w)| **w).map(|(d, _)| d.bbox).collect();
    embeddings.clear();
    embeddings.resize(detections.len(), None);
    if boxes.is_empty() {
        return Ok(0);
    }
    let mut found = embedder.embed(frame, &boxes, letterboxed)?.into_iter();
    for (slot, _) in embeddings.iter_mut().zip(wanted.iter()).filter(|(_, w)| **w) {
        *slot = found.next().flatten();
    }
    Ok(boxes.len() as u64)
}

fn progress_bar(source: &FrameSource, fps: f64) -> indicatif::ProgressBar {
    // Containers give a duration, not a frame count; without one, a spinner.
    let total = source.duration().map(|d| (d.as_secs_f64() * fps).round() as u64);
    let bar = match total {
        Some(total) => indicatif::ProgressBar::new(total),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} frames {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
