//! [`CameraAnalysis`]: one camera's gate, tracker and zone counter, and the one place where the
//! per-frame sequence is written.

use std::time::Duration;

use lintel_calibration::CameraSpace;
use lintel_calibration::site::{CameraGeometry, Zone, ZoneShape};

use super::region::{RegionConfig, RegionPlan};
use super::{FrameAnalysis, PersonBox, ZoneEvent};
use crate::count::{CounterConfig, CrossingEvent, ZoneCounter};
use crate::detection::{BBox, Detection, Embedding, Sighting};
use crate::infer::{
    Embedder, InferError, Look, LowLight, LowLightConfig, MotionGate, MotionGateConfig, Orientation, ToneCurve, Window,
};
use crate::ingest::Frame;
use crate::track::{Track, Tracker, TrackerConfig};

/// Default time a lost track waits to be found again: people at a door are hidden for seconds.
pub const DEFAULT_MAX_LOST: Duration = Duration::from_secs(3);
/// Default time a lost track whose appearance is known is searched by appearance afterwards.
pub const DEFAULT_REID_MEMORY: Duration = Duration::from_secs(5);

/// How a camera's frames are analysed (plain data).
#[derive(Debug, Clone)]
pub struct AnalysisConfig {
    /// Frames analysed per second: the tracker's clock runs at this rate (at least 10 steps/s).
    pub fps: f64,
    /// Tracker tuning before it is converted to `fps` ([`TrackerConfig::at_fps`]).
    pub tracker: TrackerConfig,
    /// How long a lost track waits to be found again by motion.
    pub max_lost: Duration,
    /// How much longer a lost track whose appearance is known is searched by appearance.
    pub reid_memory: Duration,
    /// Skip the detector on frames where nothing moves near the zones and nobody is tracked
    /// there; `None` sends every frame to the detector.
    pub motion_gate: Option<MotionGateConfig>,
    /// When the camera's pictures are stretched for the detector (dark or flat ones by default).
    pub low_light: LowLightConfig,
    pub counter: CounterConfig,
    /// How the detector's handedness is met ([`DetectorMirror`]).
    pub mirror: DetectorMirror,
    /// The detector looks at the zones' region through a smaller network where one fits, the whole
    /// frame every so often ([`RegionConfig`]); `None`: always the whole frame.
    pub region: Option<RegionConfig>,
}

/// How a camera's frames are turned for the detector, whose network is not mirror-symmetric
/// ([`Orientation`]; README, "Which way the street runs").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DetectorMirror {
    /// As they are.
    #[default]
    Off,
    /// Every other frame mirrored: the handedness evens out along each person's track, at no
    /// cost, but the box jitter it adds cost crossings on the clip at 5 frames/s.
    Alternate,
    /// Every frame both ways, the boxes fused: no handedness, at twice the detector's cost.
    Both,
}

impl std::str::FromStr for DetectorMirror {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "alternate" => Ok(Self::Alternate),
            "both" => Ok(Self::Both),
            other => Err(format!("{other:?}: expected off, alternate or both")),
        }
    }
}

impl AnalysisConfig {
    /// The defaults at an analysis rate of `fps` frames a second.
    pub fn at_fps(fps: f64) -> Self {
        Self {
            fps,
            tracker: TrackerConfig::default(),
            max_lost: DEFAULT_MAX_LOST,
            reid_memory: DEFAULT_REID_MEMORY,
            motion_gate: None,
            low_light: LowLightConfig::default(),
            counter: CounterConfig::default(),
            mirror: DetectorMirror::Off,
            region: None,
        }
    }
}

/// One camera's analysis: its zones (normalised, as the site file gives them), and per stream its
/// motion gate, tracker and zone counter. A new stream (a reconnection: timestamps start again,
/// the camera may have moved) starts tracking afresh rather than bridge the gap.
///
/// ```no_run
/// # use lintel::analysis::{AnalysisConfig, CameraAnalysis};
/// # fn demo(zones: Vec<lintel_calibration::site::Zone>, detector: &mut lintel::infer::Detector,
/// #         frame: &lintel::ingest::Frame) -> Result<(), lintel::infer::InferError> {
/// let mut camera = CameraAnalysis::new(zones, AnalysisConfig::at_fps(10.0), detector.spec().letterboxed());
/// let detections = match camera.admit(frame, 1) {
///     Some(admitted) => Some(detector.detect_batch_looking(&[frame], &[admitted.look()])?.remove(0)),
///     None => None,
/// };
/// let analysis = camera.analyse(frame, detections.as_deref(), None)?;
/// println!("{} people, {} crossings", analysis.people.len(), analysis.events.len());
/// # Ok(()) }
/// ```
pub struct CameraAnalysis {
    zones: Vec<Zone>,
    /// The camera's lens and floor, as the site file gives them.
    geometry: CameraGeometry,
    config: AnalysisConfig,
    /// How ingest scaled frames for the detector (the gate and the embedder map boxes through it).
    letterboxed: bool,
    stream: Option<Stream>,
    /// Frames the gate kept from the detector in earlier streams.
    skipped_earlier: u64,
    /// Crossings a finished stream left, handed out with the next frame's analysis.
    carried: Vec<ZoneEvent>,
    scratch: Scratch,
}

/// The state of one stream (one connection of a camera, or one file).
struct Stream {
    connection: u64,
    /// The stream's picture size, in source pixels.
    size: (u32, u32),
    /// The frames' size, in analysis pixels.
    frame_size: (u32, u32),
    /// The lens and floor for this stream's picture size.
    space: CameraSpace,
    tracker: Tracker,
    counter: ZoneCounter,
    gate: Option<MotionGate>,
    region: Option<RegionPlan>,
    low_light: LowLight,
    /// Each track's foot point in the previous frame, for the anonymous step of each person.
    feet: std::collections::HashMap<crate::track::TrackId, (f32, f32)>,
    /// Frames sent to the detector so far: every other one is seen mirrored.
    detected: u64,
    /// The low-light tracker thresholds the frame being analysed was admitted in, when the next
    /// frame was admitted before it was analysed ([`CameraAnalysis::admit_ahead`]).
    light_before: Option<Option<(f32, f32)>>,
    /// How to take back the admission of a frame admitted `Ahead::Likely`.
    undo: Option<Undo>,
}

impl Stream {
    /// The tracker's score thresholds for the light of the frames the detector sees now: lower
    /// while the low-light curve is on, lower still while the picture is very flat. The curve
    /// turns on and off slowly (smoothed levels, hysteresis), so following its state rather than
    /// each frame's is the same but for a batch's few frames at a change of light.
    fn follow_light(&mut self, config: &AnalysisConfig) {
        let scores = self.light_before.take().unwrap_or_else(|| self.low_light.tracker_scores());
        let (high, new_track) = scores.unwrap_or((config.tracker.high_score, config.tracker.new_track_score));
        let current = self.tracker.config();
        if (current.high_score, current.new_track_score) != (high, new_track) {
            self.tracker.set_score_thresholds(high, new_track);
        }
    }
}

/// A frame [`CameraAnalysis::admit`] sends to the detector, and how the detector should see it.
#[derive(Debug, Clone, Default)]
pub struct Admitted {
    /// The camera's low-light curve for this frame; `None`: as it is.
    pub tone: Option<ToneCurve>,
    /// Which way round the detector sees this frame.
    pub orientation: Orientation,
    /// The rectangle the detector sees ([`Look::window`]); `None`: the whole frame.
    pub window: Option<Window>,
}

impl Admitted {
    /// How the detector should see the frame ([`Detector::detect_batch_looking`]).
    ///
    /// [`Detector::detect_batch_looking`]: crate::infer::Detector::detect_batch_looking
    pub fn look(&self) -> Look<'_> {
        Look { tone: self.tone.as_ref(), orientation: self.orientation, window: self.window }
    }
}

/// What [`CameraAnalysis::admit_ahead`] decided.
#[derive(Debug)]
pub enum Ahead {
    /// The frame goes to the detector, seen so.
    Detect(Admitted),
    /// It goes to the detector if a track is still near once the frame before is analysed, as
    /// one is now: detect it, analyse the frame before, then [`CameraAnalysis::confirm`] it.
    Likely(Admitted),
    /// It depends on the tracker: analyse the frame before, then [`CameraAnalysis::settle`].
    Undecided,
}

/// What admitting a frame `Ahead::Likely` changed, to take it back.
struct Undo {
    low_light: LowLight,
    region: Option<RegionPlan>,
    detected: u64,
}

/// Working memory kept between frames, so a steady scene allocates little.
#[derive(Default)]
struct Scratch {
    /// The detections of a person's height (all of them without a floor).
    plausible: Vec<Detection>,
    wanted: Vec<bool>,
    sightings: Vec<Sighting>,
    crossings: Vec<CrossingEvent>,
}

impl CameraAnalysis {
    pub fn new(zones: Vec<Zone>, config: AnalysisConfig, letterboxed: bool) -> Self {
        Self {
            zones,
            geometry: CameraGeometry::default(),
            config,
            letterboxed,
            stream: None,
            skipped_earlier: 0,
            carried: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// The same analysis through the camera's lens and onto its floor: foot points are undistorted
    /// before they meet the zones, and boxes of no person's height are dropped.
    pub fn with_geometry(mut self, geometry: CameraGeometry) -> Self {
        self.geometry = geometry;
        self
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    pub fn geometry(&self) -> &CameraGeometry {
        &self.geometry
    }

    /// The lens and floor for the current stream's pictures (`None` before its first frame).
    pub fn space(&self) -> Option<&CameraSpace> {
        self.stream.as_ref().map(|s| &s.space)
    }

    /// Counts on `zones`, through `geometry`, from the next frame on (a technician saved new ones):
    /// the people being followed stay followed, the zones are new. A crossing the old zones had not
    /// decided yet is dropped with them; the crossings already made are the node's and stay counted.
    pub fn set_zones(&mut self, zones: Vec<Zone>, geometry: CameraGeometry) {
        self.zones = zones;
        self.geometry = geometry;
        if let Some(stream) = self.stream.as_mut() {
            let (w, h) = stream.size;
            stream.space = camera_space(&self.geometry, (w, h));
            stream.counter = ZoneCounter::new(&self.zones, stream.space.clone(), self.config.counter);
            let shapes = gate_shapes(&self.zones, &stream.space);
            if let Some(config) = self.config.motion_gate {
                stream.gate = Some(MotionGate::new(config, &shapes, (w, h), self.letterboxed));
            }
            stream.region = self
                .config
                .region
                .as_ref()
                .map(|config| RegionPlan::new(config, &shapes, (w, h), stream.frame_size, self.letterboxed));
        }
    }

    pub fn config(&self) -> &AnalysisConfig {
        &self.config
    }

    /// The first step for a frame of connection `connection` (a file is one connection): starts a
    /// new stream when the connection changed, and asks the motion gate. Returns `None` when the
    /// frame does not need the detector, else how the detector should see it (the camera's
    /// low-light curve, measured on the frames the detector sees); either way, hand the frame to
    /// [`analyse`](Self::analyse) next.
    pub fn admit(&mut self, frame: &Frame, connection: u64) -> Option<Admitted> {
        match self.admit_gated(frame, connection, false) {
            // (Likely is only an answer ahead of the tracker.)
            Ahead::Detect(admitted) | Ahead::Likely(admitted) => Some(admitted),
            Ahead::Undecided => self.settle(frame),
        }
    }

    /// [`admit`](Self::admit) for the frame after one still with the detector (admitted, not yet
    /// analysed), so that both are detected at once: `Ahead::Detect` when the gate sends it to the
    /// detector whatever the tracker will say of the frame before; `Ahead::Likely` when it would
    /// not but for a track near now: detect it, then [`confirm`](Self::confirm) it once the frame
    /// before is analysed; `Ahead::Undecided` otherwise: analyse the frame before, then
    /// [`settle`](Self::settle) this one. Every way the frames are admitted and analysed as
    /// [`admit`](Self::admit) frame by frame would: the same frames detected, seen the same way,
    /// tracked with the same thresholds.
    pub fn admit_ahead(&mut self, frame: &Frame, connection: u64) -> Ahead {
        self.admit_gated(frame, connection, true)
    }

    /// Admits the frame [`admit_ahead`](Self::admit_ahead) left undecided, now that the frames
    /// before it are analysed.
    pub fn settle(&mut self, frame: &Frame) -> Option<Admitted> {
        let stream = self.stream.as_mut()?;
        let at = stream_time(frame, self.config.fps);
        if let Some(gate) = stream.gate.as_mut() {
            let tracking = tracked_near(&stream.tracker, gate);
            if !gate.settle(at, tracking).detect() {
                return None;
            }
        }
        Some(self.admitted(frame, false))
    }

    fn admit_gated(&mut self, frame: &Frame, connection: u64, ahead: bool) -> Ahead {
        if self.stream.as_ref().is_none_or(|s| s.connection != connection) {
            self.start_stream(frame, connection);
        }
        let Some(stream) = self.stream.as_mut() else { return Ahead::Detect(Admitted::default()) };
        let at = stream_time(frame, self.config.fps);
        if let Some(gate) = stream.gate.as_mut() {
            // A frame that cannot be mapped is left to the detector, which reports it.
            if let Ok(None) = gate.decide_ahead(frame, at) {
                // A track near now is most likely still near after the frame before: the frame
                // is seen as if it were, and taken back if it is not.
                if !ahead || !tracked_near(&stream.tracker, gate) {
                    return Ahead::Undecided;
                }
                stream.undo = Some(Undo {
                    low_light: stream.low_light.clone(),
                    region: stream.region.clone(),
                    detected: stream.detected,
                });
                return Ahead::Likely(self.admitted(frame, ahead));
            }
        }
        Ahead::Detect(self.admitted(frame, ahead))
    }

    /// Whether the frame [`admit_ahead`](Self::admit_ahead) found `Ahead::Likely` goes to the
    /// detector after all, now that the frames before it are analysed: `false` takes its
    /// admission back (analyse it without detections, as a frame the gate skipped).
    pub fn confirm(&mut self, frame: &Frame) -> bool {
        let Some(stream) = self.stream.as_mut() else { return false };
        let undo = stream.undo.take();
        let at = stream_time(frame, self.config.fps);
        let Some(gate) = stream.gate.as_mut() else { return true };
        let tracking = tracked_near(&stream.tracker, gate);
        if gate.settle(at, tracking).detect() {
            return true;
        }
        if let Some(undo) = undo {
            stream.low_light = undo.low_light;
            stream.region = undo.region;
            stream.detected = undo.detected;
        }
        false
    }

    /// How the detector sees a frame the gate let through. `ahead`: the frame before is still to
    /// be analysed, with the tracker's thresholds of the light it was admitted in.
    fn admitted(&mut self, frame: &Frame, ahead: bool) -> Admitted {
        let Some(stream) = self.stream.as_mut() else { return Admitted::default() };
        if ahead {
            stream.light_before = Some(stream.low_light.tracker_scores());
        }
        let at = stream_time(frame, self.config.fps);
        let tone = frame.rgb().ok().and_then(|view| stream.low_light.update(&view).cloned());
        let orientation = match self.config.mirror {
            DetectorMirror::Off => Orientation::AsIs,
            DetectorMirror::Alternate if stream.detected % 2 == 1 => Orientation::Mirrored,
            DetectorMirror::Alternate => Orientation::AsIs,
            DetectorMirror::Both => Orientation::BothWays,
        };
        stream.detected += 1;
        let window = stream.region.as_mut().and_then(|plan| plan.window_at(at));
        Admitted { tone, orientation, window }
    }

    /// The rectangle the detector looks at between whole-frame looks (`None`: always the whole
    /// frame, or before the first frame).
    pub fn region_window(&self) -> Option<Window> {
        self.stream.as_ref().and_then(|s| s.region.as_ref()).and_then(RegionPlan::window)
    }

    /// Whether the detector saw the last admitted frame through the low-light curve.
    pub fn low_light_active(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.low_light.active())
    }

    /// The second step: embeds the people the tracker asks about (with `appearance`, the re-ID
    /// model), tracks and
    /// counts. `detections` is `None` when the detector did not run on the frame (the gate skipped
    /// it): the tracker then predicts over it.
    pub fn analyse(
        &mut self,
        frame: &Frame,
        detections: Option<&[Detection]>,
        appearance: Option<&mut dyn Appearance>,
    ) -> Result<FrameAnalysis, InferError> {
        if self.stream.is_none() {
            self.start_stream(frame, 0);
        }
        let Some(stream) = self.stream.as_mut() else { unreachable!("a stream was just started") };
        let Scratch { plausible, wanted, sightings, crossings } = &mut self.scratch;
        let found = detections.map_or(0, <[_]>::len);
        // Only a camera whose heights are measured filters (and copies) its detections.
        let filtered = stream.space.height_range().is_some();
        let detections = detections.map(|all| {
            if !filtered {
                return all;
            }
            plausible.clear();
            plausible.extend(all.iter().filter(|d| {
                let b = &d.bbox;
                stream.space.plausible(b.left, b.top, b.right(), b.bottom())
            }));
            plausible.as_slice()
        });
        let implausible = found - detections.map_or(0, <[_]>::len);
        sightings.clear();
        sightings.extend(detections.unwrap_or_default().iter().map(|&d| Sighting::from(d)));
        let mut embedded = 0;
        if let (Some(appearance), Some(detections)) = (appearance, detections) {
            embedded =
                embed_wanted(&stream.tracker, appearance, frame, detections, self.letterboxed, wanted, sightings)?;
        }
        stream.follow_light(&self.config);
        let update = stream.tracker.update_at(frame.pts, sightings);
        crossings.clear();
        stream.counter.update(update.tracks, update.removed, frame.index, frame.pts, crossings);
        let mut events = std::mem::take(&mut self.carried);
        events.extend(crossings.iter().map(|c| zone_event(&self.zones, &stream.tracker, c)));
        let tracks = stream.tracker.tracks();
        let people = tracks.iter().map(|t| person_box(t, stream.feet.get(&t.id).copied())).collect();
        // Only this frame's tracks are kept: the map never outlives a person's track.
        stream.feet.clear();
        stream.feet.extend(tracks.iter().map(|t| (t.id, t.bbox.bottom_centre())));
        Ok(FrameAnalysis {
            index: frame.index,
            pts: frame.pts,
            size: (frame.source_width, frame.source_height),
            detected: detections.is_some(),
            detections: found,
            implausible,
            embedded,
            people,
            events,
        })
    }

    /// A frame [`admit`](Self::admit) let through that goes without the detector all the same (the
    /// node sheds load): not a look that found nobody, so the tracker is not told anything and
    /// predicts over it at the next detected frame (its clock counts time), as over a frame of a
    /// lower analysis rate. The people are where the tracker last put them.
    pub fn pass_over(&mut self, frame: &Frame) -> FrameAnalysis {
        if self.stream.is_none() {
            self.start_stream(frame, 0);
        }
        let events = std::mem::take(&mut self.carried);
        let people = match self.stream.as_ref() {
            Some(stream) => {
                // No new position: no step either.
                stream.tracker.tracks().iter().map(|t| person_box(t, None)).collect()
            }
            None => Vec::new(),
        };
        FrameAnalysis {
            index: frame.index,
            pts: frame.pts,
            size: (frame.source_width, frame.source_height),
            detected: false,
            detections: 0,
            implausible: 0,
            embedded: 0,
            people,
            events,
        }
    }

    /// End of the stream (a file's end): crossings seen for too few frames still count, since the
    /// video stopped, not the person.
    pub fn finish(&mut self) -> Vec<ZoneEvent> {
        let mut events = std::mem::take(&mut self.carried);
        if let Some(mut stream) = self.stream.take() {
            self.skipped_earlier += stream.gate.as_ref().map_or(0, MotionGate::skipped);
            let crossings = &mut self.scratch.crossings;
            crossings.clear();
            stream.counter.finish(crossings);
            events.extend(crossings.iter().map(|c| zone_event(&self.zones, &stream.tracker, c)));
        }
        events
    }

    /// The people tracked now, with their track ids: for the MOTChallenge output of `lintel count`
    /// only. Ids stay in memory and out of [`FrameAnalysis`].
    pub fn tracks(&self) -> &[Track] {
        self.stream.as_ref().map_or(&[], |s| s.tracker.tracks())
    }

    /// Frames the motion gate kept from the detector, over every stream.
    pub fn skipped(&self) -> u64 {
        self.skipped_earlier + self.stream.as_ref().and_then(|s| s.gate.as_ref()).map_or(0, MotionGate::skipped)
    }

    /// A new stream: zones in this stream's pixels, a fresh tracker, counter and gate. What the
    /// previous stream had not decided is decided now and handed out with the next frame.
    fn start_stream(&mut self, frame: &Frame, connection: u64) {
        self.carried = self.finish();
        let (w, h) = (frame.source_width, frame.source_height);
        let space = camera_space(&self.geometry, (w, h));
        let shapes = gate_shapes(&self.zones, &space);
        let gate = self.config.motion_gate.map(|config| MotionGate::new(config, &shapes, (w, h), self.letterboxed));
        let frame_size = (frame.width(), frame.height());
        let region = self
            .config
            .region
            .as_ref()
            .map(|config| RegionPlan::new(config, &shapes, (w, h), frame_size, self.letterboxed));
        let tracker =
            self.config.tracker.clone().at_fps(self.config.fps, self.config.max_lost, self.config.reid_memory);
        self.stream = Some(Stream {
            connection,
            size: (w, h),
            frame_size,
            tracker: Tracker::new(tracker),
            counter: ZoneCounter::new(&self.zones, space.clone(), self.config.counter),
            space,
            gate,
            region,
            low_light: LowLight::new(self.config.low_light),
            feet: std::collections::HashMap::new(),
            detected: 0,
            light_before: None,
            undo: None,
        });
    }
}

/// What tells what a person looks like: the re-ID model ([`Embedder`]), or, in development tools,
/// a cache of its answers.
pub trait Appearance {
    /// Embeds the people in `boxes` (source pixels) seen in `frame`; `None` for a box it cannot
    /// embed. `letterboxed` says how ingest scaled the frame.
    fn embed(&mut self, frame: &Frame, boxes: &[BBox], letterboxed: bool)
    -> Result<Vec<Option<Embedding>>, InferError>;
}

impl Appearance for Embedder {
    fn embed(
        &mut self,
        frame: &Frame,
        boxes: &[BBox],
        letterboxed: bool,
    ) -> Result<Vec<Option<Embedding>>, InferError> {
        Embedder::embed(self, frame, boxes, letterboxed)
    }
}

/// When `frame` shows in its stream: its timestamp, or its index at `fps` without one.
pub(crate) fn stream_time(frame: &Frame, fps: f64) -> Duration {
    frame.pts.unwrap_or_else(|| Duration::from_secs_f64(frame.index as f64 / fps))
}

/// The camera's lens and floor for pictures of `size`; a floor that does not fit them is left out,
/// and said why.
fn camera_space(geometry: &CameraGeometry, size: (u32, u32)) -> CameraSpace {
    let (space, error) = CameraSpace::new(geometry, size);
    if let Some(error) = error {
        tracing::warn!("the camera's floor is left out for {}×{} pictures: {error}", size.0, size.1);
    }
    space
}

/// Whether a track of `tracker` is in or near the area `gate` watches.
fn tracked_near(tracker: &Tracker, gate: &MotionGate) -> bool {
    tracker.tracks().iter().any(|t| gate.watches(&t.bbox))
}

/// The zones where the motion gate watches, on the camera's picture.
fn gate_shapes(zones: &[Zone], space: &CameraSpace) -> Vec<ZoneShape> {
    zones.iter().filter_map(|z| space.zone_in_picture(z)).collect()
}

fn zone_event(zones: &[Zone], tracker: &Tracker, crossing: &CrossingEvent) -> ZoneEvent {
    let zone = zones.get(crossing.zone);
    ZoneEvent {
        zone: crossing.zone,
        direction: crossing.direction,
        aggregate: zone.is_some_and(|z| z.aggregate),
        entrance: zone.and_then(|z| z.entrance.as_deref()).map(std::sync::Arc::from),
        frame: crossing.frame,
        pts: crossing.pts,
        looks: tracker.embedding(crossing.track).cloned(),
    }
}

fn person_box(track: &Track, previous_foot: Option<(f32, f32)>) -> PersonBox {
    let foot = track.bbox.bottom_centre();
    PersonBox {
        bbox: track.bbox,
        foot,
        step: previous_foot.map(|(x, y)| (foot.0 - x, foot.1 - y)),
        state: track.state,
        seen: track.matched,
        score: track.score,
    }
}

/// Embeds the people the tracker wants an appearance for (batched in one run) into their
/// `sightings`. Returns how many were embedded.
fn embed_wanted(
    tracker: &Tracker,
    appearance: &mut dyn Appearance,
    frame: &Frame,
    detections: &[Detection],
    letterboxed: bool,
    wanted: &mut Vec<bool>,
    sightings: &mut [Sighting],
) -> Result<u64, InferError> {
    tracker.wants_appearance(detections, wanted);
    let boxes: Vec<BBox> = detections.iter().zip(wanted.iter()).filter(|(_, w)| **w).map(|(d, _)| d.bbox).collect();
    if boxes.is_empty() {
        return Ok(0);
    }
    let mut found = appearance.embed(frame, &boxes, letterboxed)?.into_iter();
    for (sighting, _) in sightings.iter_mut().zip(wanted.iter()).filter(|(_, w)| **w) {
        sighting.looks = found.next().flatten();
    }
    Ok(boxes.len() as u64)
}
