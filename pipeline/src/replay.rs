//! Replay: a recorded video through the whole pipeline (ingest → detect → track → count).
//!
//! This is what `lintel count` runs: every frame of the file (or `fps` of them a second) is
//! analysed, as fast as the box can, so the same file always gives the same counts. The analysis
//! itself is [`CameraAnalysis`], the same as a live camera's in `lintel run`; this module only
//! reads the frames, batches them for the detector and sums what the analysis found.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lintel_calibration::site::Zone;

use crate::analysis::{
    Admitted, Ahead, AnalysisConfig, Appearance, CameraAnalysis, DetectorMirror, FrameAnalysis, RegionConfig, ZoneEvent,
};
use crate::count::{Tally, ZoneTally};
use crate::detection::Detection;
use crate::infer::{
    Detector, Detectors, Embedder, InferError, LowLightConfig, MotionGateConfig, Window, detect_side_by_side,
};
use crate::ingest::{Frame, FrameSource, IngestError, SourceOptions};
use crate::track::{Track, TrackId, TrackState, TrackerConfig};

pub use crate::analysis::{DEFAULT_MAX_LOST, DEFAULT_REID_MEMORY};

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
    /// When frames are stretched for the detector (dark or flat pictures by default).
    pub low_light: LowLightConfig,
    /// The camera's lens and floor (the site file's), if any.
    pub geometry: lintel_calibration::site::CameraGeometry,
    /// How frames are turned for the detector ([`AnalysisConfig::mirror`]).
    pub mirror: DetectorMirror,
    /// The detector looks at the zones' region through a smaller network ([`AnalysisConfig::region`]).
    pub region: Option<RegionConfig>,
}

impl ReplayOptions {
    /// Frames per run of `detector`: `batch`, but one at a time with the motion gate, which
    /// decides frame by frame from the tracker's state (two side by side on lanes where the
    /// second goes to the detector whatever the tracker says), and for a model that does not batch.
    pub fn batch_for(&self, detector: &Detector) -> usize {
        if self.motion_gate.is_some() || !detector.batches() { 1 } else { self.batch.max(1) }
    }
}

/// What a replay counted.
#[derive(Debug)]
pub struct ReplayReport {
    pub frames: u64,
    /// Frames the motion gate kept from the detector (0 without one).
    pub skipped: u64,
    /// Frames the detector saw through the camera's low-light curve.
    pub low_light: u64,
    /// Frames the detector saw only the zones' region of ([`ReplayOptions::region`]).
    pub regional: u64,
    pub source_size: (u32, u32),
    pub source_fps: Option<f64>,
    pub elapsed: Duration,
    /// Entries and exits of each zone, in the order of the zones given.
    pub zones: Vec<ZoneTally>,
    /// Distinct confirmed tracks seen.
    pub tracks: u64,
    /// Person crops embedded by the re-ID model (0 without one).
    pub embeddings: u64,
    /// Detections of the frames analysed (what embedding every box would have cost).
    pub detections: u64,
    /// Frames detected side by side with another ([`Detectors::lanes`]).
    pub side_by_side: u64,
    /// Of those, frames seen on a track likely to be near that was not, and so skipped after all.
    pub taken_back: u64,
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
    /// Embedding, tracking, counting and writing tracks: the analysis after the detector.
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

/// Runs the pipeline over a video file and counts crossings of the zones that `zones` gives for
/// the video's frame size (normalised, as in a site file); with an `embedder`, the tracker also
/// uses appearance, embedding the people it asks about.
///
/// Errors that stop the stream part-way are returned inside the report (`interrupted`), with the
/// counts made until then: nothing counted is lost.
pub fn replay<'a>(
    detectors: impl Into<Detectors<'a>>,
    embedder: Option<&mut Embedder>,
    video: &str,
    zones: impl FnOnce((u32, u32)) -> Vec<Zone>,
    options: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    replay_watched(detectors, embedder, video, zones, options, |_| {})
}

/// One frame as the replay saw it, for whoever watches a replay ([`replay_watched`]).
pub struct SeenFrame<'a> {
    pub frame: &'a Frame,
    /// The detector's boxes for the frame (`None`: the motion gate kept it from the detector).
    pub detections: Option<&'a [Detection]>,
    pub analysis: &'a FrameAnalysis,
    /// The frame's stream time.
    pub at: Duration,
    /// The rectangle the detector saw (`None`: the whole frame, or no detector).
    pub window: Option<Window>,
}

/// [`replay`], showing each frame to `watch` once analysed (a test of what a page would see).
pub fn replay_watched<'a>(
    detectors: impl Into<Detectors<'a>>,
    embedder: Option<&mut Embedder>,
    video: &str,
    zones: impl FnOnce((u32, u32)) -> Vec<Zone>,
    options: &ReplayOptions,
    watch: impl FnMut(SeenFrame<'_>),
) -> Result<ReplayReport, ReplayError> {
    let Detectors { whole: detector, lanes } = detectors.into();
    let started = Instant::now();
    let source_options = SourceOptions {
        size: Some(detector.input_size()),
        scale: detector.scale_mode(),
        fps: options.fps,
        live: false,
    };
    let mut source = FrameSource::open(video, &source_options)?;
    let tracks_out = options.tracks_out.as_deref().map(TracksOut::create).transpose()?;
    let mut timings = StageTimings::default();
    let mut reader = Reader { source: &mut source, until: options.until, fps: options.fps.unwrap_or(10.0) };
    let first = reader.next(&mut timings);
    // The source's size and rate are known once its first frame is out.
    let source_size = match &first {
        Ok(Some(frame)) => (frame.source_width, frame.source_height),
        _ => (0, 0),
    };
    reader.fps = options.fps.or(reader.source.source_fps()).unwrap_or(10.0);
    let zones = zones(source_size);
    let config = AnalysisConfig {
        tracker: options.tracker.clone().unwrap_or_default(),
        max_lost: options.max_lost.unwrap_or(DEFAULT_MAX_LOST),
        reid_memory: options.reid_memory.unwrap_or(DEFAULT_REID_MEMORY),
        motion_gate: options.motion_gate,
        low_light: options.low_light,
        mirror: options.mirror,
        region: options.region.clone(),
        ..AnalysisConfig::at_fps(reader.fps)
    };
    let tally = Tally::new(zones.len());
    let analysis = CameraAnalysis::new(zones, config, detector.spec().letterboxed()).with_geometry(options.geometry);
    let mut run = Run {
        tally,
        analysis,
        embedder,
        watch,
        sums: Sums::default(),
        tracks_out,
        progress: options.progress.then(|| progress_bar(reader.source, reader.fps)),
        fps: reader.fps,
        timings: StageTimings::default(),
    };
    let batch = options.batch_for(detector);
    let interrupted = if batch == 1 && lanes.len() >= 2 {
        run.in_pairs(detector, lanes, &mut reader, first)
    } else {
        run.in_batches(detector, batch, &mut reader, first)
    };
    let Run { mut tally, mut analysis, sums, tracks_out, progress, timings: run_timings, .. } = run;
    timings.ingest += run_timings.ingest;
    timings.detect += run_timings.detect;
    timings.track_and_count += run_timings.track_and_count;
    tally_events(&analysis.finish(), &mut tally);
    if let Some(out) = tracks_out {
        out.flush()?;
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(ReplayReport {
        frames: sums.frames,
        skipped: analysis.skipped(),
        low_light: sums.low_light,
        regional: sums.regional,
        source_size,
        source_fps: source.source_fps(),
        elapsed: started.elapsed(),
        zones: tally.zones,
        tracks: sums.confirmed.len() as u64,
        embeddings: sums.embedded,
        detections: sums.detections,
        side_by_side: sums.side_by_side,
        taken_back: sums.taken_back,
        timings,
        interrupted,
    })
}

/// A replay under way: the camera's analysis and what the frames analysed add up to.
struct Run<'e, W> {
    analysis: CameraAnalysis,
    embedder: Option<&'e mut Embedder>,
    watch: W,
    tally: Tally,
    sums: Sums,
    tracks_out: Option<TracksOut>,
    progress: Option<indicatif::ProgressBar>,
    fps: f64,
    timings: StageTimings,
}

impl<W: FnMut(SeenFrame<'_>)> Run<'_, W> {
    /// Frames detected `batch` at a time (one run of the model), then analysed one by one.
    /// Returns the error that stopped the stream, if one did.
    fn in_batches(
        &mut self,
        detector: &mut Detector,
        batch: usize,
        reader: &mut Reader<'_>,
        first: Result<Option<Frame>, ReplayError>,
    ) -> Option<ReplayError> {
        let mut pending: Vec<Frame> = Vec::with_capacity(batch);
        let mut next = first;
        loop {
            pending.clear();
            let ended = loop {
                match next {
                    Ok(Some(frame)) => pending.push(frame),
                    Ok(None) => break Some(None),
                    Err(error) => break Some(Some(error)),
                }
                if pending.len() == batch {
                    break None;
                }
                next = reader.next(&mut self.timings);
            };
            if !pending.is_empty() {
                let detecting = Instant::now();
                let admitted: Vec<Option<Admitted>> =
                    pending.iter().map(|frame| self.analysis.admit(frame, 1)).collect();
                let to_detect: Vec<&Frame> =
                    pending.iter().zip(&admitted).filter(|(_, a)| a.is_some()).map(|(f, _)| f).collect();
                let looks: Vec<_> = admitted.iter().flatten().map(Admitted::look).collect();
                let detected = if to_detect.is_empty() {
                    Ok(Vec::new())
                } else {
                    detector.detect_batch_looking(&to_detect, &looks)
                };
                self.timings.detect += detecting.elapsed();
                let mut detected = match detected {
                    Ok(detected) => detected.into_iter(),
                    Err(error) => return Some(ReplayError::Infer(error)),
                };
                for (frame, admitted) in pending.iter().zip(&admitted) {
                    let detections = if admitted.is_some() { detected.next() } else { None };
                    if let Err(error) = self.analysed(frame, admitted.as_ref(), detections.as_deref()) {
                        return Some(error);
                    }
                }
            }
            match ended {
                Some(end) => return end,
                None => next = reader.next(&mut self.timings),
            }
        }
    }

    /// Frames one at a time on `detector`, except that when a frame goes to the detector and so
    /// does the next, whatever the tracker makes of the first ([`CameraAnalysis::admit_ahead`]),
    /// the two are detected side by side on two `lanes`. Frames are analysed in order, with what
    /// frame-by-frame detection gives them.
    fn in_pairs(
        &mut self,
        detector: &mut Detector,
        lanes: &mut [Detector],
        reader: &mut Reader<'_>,
        first: Result<Option<Frame>, ReplayError>,
    ) -> Option<ReplayError> {
        // A frame read ahead and admitted once the frame before it was analysed.
        let mut settled: Option<(Frame, Option<Admitted>)> = None;
        let mut next = first;
        loop {
            let (frame, admitted) = match settled.take() {
                Some(settled) => settled,
                None => match next {
                    Ok(Some(frame)) => {
                        let admitted = self.analysis.admit(&frame, 1);
                        (frame, admitted)
                    }
                    Ok(None) => return None,
                    Err(error) => return Some(error),
                },
            };
            let Some(admitted) = admitted else {
                if let Err(error) = self.analysed(&frame, None, None) {
                    return Some(error);
                }
                next = reader.next(&mut self.timings);
                continue;
            };
            next = reader.next(&mut self.timings);
            let ahead = match &next {
                Ok(Some(second)) => Some(self.analysis.admit_ahead(second, 1)),
                _ => None,
            };
            let detecting = Instant::now();
            if let (Some(Ahead::Detect(second_admitted) | Ahead::Likely(second_admitted)), Ok(Some(second))) =
                (&ahead, &next)
            {
                let detected =
                    detect_side_by_side(lanes, &[&frame, second], &[admitted.look(), second_admitted.look()]);
                self.timings.detect += detecting.elapsed();
                let mut detected = detected.into_iter().map(|d| d.map_err(ReplayError::Infer));
                let first = detected.next().unwrap_or(Ok(Vec::new()));
                if let Err(error) = first.and_then(|d| self.analysed(&frame, Some(&admitted), Some(&d))) {
                    return Some(error);
                }
                // A frame seen on a likely track near that turned out not to be: skipped after all.
                let confirmed = matches!(ahead, Some(Ahead::Detect(_))) || self.analysis.confirm(second);
                self.sums.side_by_side += 2;
                self.sums.taken_back += u64::from(!confirmed);
                let second_detected = detected.next().unwrap_or(Ok(Vec::new()));
                let analysed = if confirmed {
                    second_detected.and_then(|d| self.analysed(second, Some(second_admitted), Some(&d)))
                } else {
                    self.analysed(second, None, None)
                };
                if let Err(error) = analysed {
                    return Some(error);
                }
                next = reader.next(&mut self.timings);
                continue;
            }
            let detected = detector.detect_batch_looking(&[&frame], &[admitted.look()]);
            self.timings.detect += detecting.elapsed();
            let analysed = detected
                .map_err(ReplayError::Infer)
                .and_then(|mut d| self.analysed(&frame, Some(&admitted), Some(&d.pop().unwrap_or_default())));
            if let Err(error) = analysed {
                return Some(error);
            }
            // The frame read ahead waited for the tracker: admitted now.
            if let (Some(Ahead::Undecided), Ok(Some(second))) = (ahead, &next) {
                let admitted = self.analysis.settle(second);
                if let Ok(Some(second)) = std::mem::replace(&mut next, Ok(None)) {
                    settled = Some((second, admitted));
                }
            }
        }
    }

    /// Tracks and counts `frame` with `detections` (`None`: the gate kept it from the detector),
    /// and shows it to the watcher.
    fn analysed(
        &mut self,
        frame: &Frame,
        admitted: Option<&Admitted>,
        detections: Option<&[Detection]>,
    ) -> Result<(), ReplayError> {
        let analysing = Instant::now();
        let appearance = self.embedder.as_deref_mut().map(|e| e as &mut dyn Appearance);
        let result = self.analysis.analyse(frame, detections, appearance)?;
        if let Some(look) = admitted.map(Admitted::look) {
            self.sums.low_light += u64::from(look.tone.is_some());
            self.sums.regional += u64::from(look.window.is_some());
        }
        let at = crate::analysis::stream_time(frame, self.fps);
        let window = admitted.and_then(|a| a.window);
        (self.watch)(SeenFrame { frame, detections, analysis: &result, at, window });
        self.sums.add(&result, &mut self.tally);
        if let Some(out) = self.tracks_out.as_mut() {
            out.write(frame.index, self.analysis.tracks())?;
        }
        self.sums.confirmed.extend(confirmed_seen(self.analysis.tracks()));
        if let Some(bar) = &self.progress {
            bar.set_position(frame.index + 1);
        }
        self.timings.track_and_count += analysing.elapsed();
        Ok(())
    }
}

/// The frames of the video, until its end or `until`, timed.
struct Reader<'a> {
    source: &'a mut FrameSource,
    until: Option<Duration>,
    fps: f64,
}

impl Reader<'_> {
    fn next(&mut self, timings: &mut StageTimings) -> Result<Option<Frame>, ReplayError> {
        let waited = Instant::now();
        let next = self.source.next_frame();
        timings.ingest += waited.elapsed();
        match next? {
            Some(frame) if self.until.is_some_and(|until| crate::analysis::stream_time(&frame, self.fps) >= until) => {
                Ok(None)
            }
            frame => Ok(frame),
        }
    }
}

/// What the frames analysed add up to.
#[derive(Default)]
struct Sums {
    frames: u64,
    detections: u64,
    embedded: u64,
    low_light: u64,
    regional: u64,
    side_by_side: u64,
    taken_back: u64,
    confirmed: std::collections::HashSet<TrackId>,
}

impl Sums {
    fn add(&mut self, result: &FrameAnalysis, tally: &mut Tally) {
        self.frames += 1;
        self.detections += result.detections as u64;
        self.embedded += result.embedded;
        tally_events(&result.events, tally);
    }
}

fn tally_events(events: &[ZoneEvent], tally: &mut Tally) {
    events.iter().for_each(|e| tally.add(e.zone, e.direction));
}

/// The confirmed people seen in this frame.
fn confirmed_seen(tracks: &[Track]) -> impl Iterator<Item = TrackId> + '_ {
    tracks.iter().filter(|t| t.matched && t.state == TrackState::Confirmed).map(|t| t.id)
}

/// Tracks in MOTChallenge CSV, `frame,id,left,top,width,height,score,-1,-1,-1` (frames from 1),
/// for standard scorers: the confirmed tracks seen in each frame.
pub struct TracksOut {
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
}

impl TracksOut {
    pub fn create(path: &Path) -> Result<Self, ReplayError> {
        let file = std::fs::File::create(path).map_err(|error| ReplayError::TracksOut { path: path.into(), error })?;
        Ok(Self { out: std::io::BufWriter::new(file), path: path.into() })
    }

    /// The confirmed tracks seen in frame `index` (0-based).
    pub fn write(&mut self, index: u64, tracks: &[Track]) -> Result<(), ReplayError> {
        for track in tracks.iter().filter(|t| t.matched && t.state == TrackState::Confirmed) {
            let b = track.bbox;
            writeln!(
                self.out,
                "{},{},{:.2},{:.2},{:.2},{:.2},{:.3},-1,-1,-1",
                index + 1,
                track.id.0,
                b.left,
                b.top,
                b.width,
                b.height,
                track.score
            )
            .map_err(|error| ReplayError::TracksOut { path: self.path.clone(), error })?;
        }
        Ok(())
    }

    pub fn flush(mut self) -> Result<(), ReplayError> {
        self.out.flush().map_err(|error| ReplayError::TracksOut { path: self.path, error })
    }
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
