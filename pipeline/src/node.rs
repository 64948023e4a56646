//! The edge node: every camera of a site at once, counted, rolled up per building and published.
//!
//! Cameras are supervised each in its own thread (a failing camera never stops another); the
//! detector is shared and runs on this thread, taking the newest frame of each camera in turn,
//! so a slow box analyses fewer frames, it never builds a backlog. Each camera has its own
//! tracker and zone counter; crossings of zones with `aggregate = true` become entrance events,
//! which roll up into wall-clock intervals published over MQTT through the on-disk spool.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use lintel_calibration::site::{Camera, Site, ZoneShape};

use crate::count::{
    AggregatorState, BuildingSpec, CounterConfig, CrossingEvent, DedupConfig, EntranceDedup, EntranceSpec,
    IntervalAggregator, IntervalConfig, IntervalReport, ZoneCounter,
};
use crate::detection::{Detection, Embedding};
use crate::infer::{Detector, Embedder, MotionGate, MotionGateConfig};
use crate::ingest::{
    CameraConfig, CameraFrame, CameraState, CameraSupervisor, Credentials, Frame, LatestFrame, LiveOptions,
};
use crate::publish::CameraState as PublishedCameraState;
use crate::publish::{
    Alert, AlertKind, CameraStatus, Counts, EntranceSummary, IntervalBounds, NodeState, NodeStatus, Occupancy,
    OccupancySet, Publisher, Received, SPOOL_ALERT_RATIO, UtcTime,
};
use crate::track::{Tracker, TrackerConfig};
use crate::web::{CameraMetrics, NodeMetrics, Snapshot};

/// Settings of a node beyond the site file.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub interval: IntervalConfig,
    /// A camera without frames for this long raises `camera_offline`.
    pub offline_grace: Duration,
    /// How long a lost track waits to be found again.
    pub max_lost: Duration,
    /// Analysis rate of cameras whose site entry gives none.
    pub default_fps: f64,
    /// Stop after this long (tests, demos); `None` runs until `stop` is set.
    pub run_for: Option<Duration>,
    /// Where the intervals not yet published and the occupancy survive a restart.
    pub state_file: Option<PathBuf>,
    /// Updated every 250 ms for the metrics endpoint.
    pub metrics: Option<Arc<NodeMetrics>>,
    /// With a re-ID model: how much longer a lost person is searched by appearance.
    pub reid_memory: Duration,
    /// How crossings of one entrance seen by several cameras are merged.
    pub dedup: DedupConfig,
    /// A camera whose picture stays nearly uniform this long raises `camera_blinded`.
    pub blinded_after: Duration,
    /// Skip the detector on a camera's frames while nothing moves near its zones and nobody is
    /// tracked there (a camera's `motion_gate` and `motion_max_skip_s` in the site file override).
    pub motion_gate: Option<MotionGateConfig>,
}

/// Luma standard deviation (0..255) under which a picture counts as uniform: a covered lens or
/// a dark room measure 0 to 2, a lit scene tens.
const BLINDED_SPREAD: f64 = 4.0;

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            interval: IntervalConfig::default(),
            offline_grace: Duration::from_secs(30),
            max_lost: Duration::from_secs(3),
            default_fps: 10.0,
            run_for: None,
            state_file: None,
            metrics: None,
            reid_memory: crate::replay::DEFAULT_REID_MEMORY,
            dedup: DedupConfig::default(),
            blinded_after: Duration::from_secs(60),
            motion_gate: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("camera {camera}: {message}")]
    Camera { camera: String, message: String },
    #[error("the site has no camera")]
    NoCamera,
    #[error("{path}: {message}")]
    State { path: PathBuf, message: String },
}

/// What a node did, for its log line at exit.
#[derive(Debug, Default, Clone)]
pub struct NodeSummary {
    pub frames_analysed: u64,
    pub crossings: u64,
    /// Building intervals handed to the publisher (each a counts and an occupancy message).
    pub intervals_published: u64,
    /// Sums over the published intervals, to check against what a subscriber received.
    pub entries_published: u64,
    pub exits_published: u64,
    /// Crossings that another camera of the same entrance had already counted.
    pub duplicates: u64,
}

/// The state file: the aggregation's state and, per building, the id of the last occupancy
/// command applied (so a retained command is not applied again after a restart).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SavedState {
    #[serde(flatten)]
    aggregator: AggregatorState,
    #[serde(default)]
    occupancy_commands: BTreeMap<String, String>,
}

/// What the node keeps between loop rounds about the aggregation and its persistence.
struct Counting {
    aggregator: IntervalAggregator,
    occupancy_commands: BTreeMap<String, String>,
}

/// One camera's analysis state.
struct CameraWork {
    id: String,
    entrance: String,
    supervisor: CameraSupervisor,
    mailbox: LatestFrame,
    /// Zones in site order with whether they add into the entrance.
    zones: Vec<(lintel_calibration::site::Zone, bool)>,
    /// Built at the first frame of each connection (the frame size is known then).
    analysis: Option<(u64, Tracker, ZoneCounter)>,
    /// Rebuilt with `analysis` when the camera's detection is gated on motion (`gate_config`).
    gate: Option<MotionGate>,
    gate_config: Option<MotionGateConfig>,
    fps: f64,
    started: Instant,
    last_frame: Option<Instant>,
    offline: bool,
    published_state: Option<&'static str>,
    frames_analysed: u64,
    /// Frames of earlier connections the motion gate kept from the detector (the current
    /// connection's are in `gate`).
    frames_skipped: u64,
    crossings: u64,
    /// The highest connection number seen in a frame: connections after the first are reconnects.
    last_connection: u64,
    detector_time: Duration,
    /// Since when the picture has been uniform, and whether `camera_blinded` went out for it.
    uniform_since: Option<Instant>,
    blinded: bool,
}

/// Runs the node until `stop` is set (or `options.run_for` has passed).
pub fn run_node(
    site: &Site,
    detector: &mut Detector,
    mut embedder: Option<&mut Embedder>,
    publisher: &Publisher,
    options: &NodeOptions,
    stop: &AtomicBool,
) -> Result<NodeSummary, NodeError> {
    if site.cameras.is_empty() {
        return Err(NodeError::NoCamera);
    }
    let mut cameras = Vec::new();
    for camera in &site.cameras {
        cameras.push(start_camera(site, camera, detector, options)?);
    }
    let mut counting = Counting {
        aggregator: IntervalAggregator::new(building_specs(site), options.interval.clone()),
        occupancy_commands: BTreeMap::new(),
    };
    if let Some(path) = &options.state_file
        && let Some(state) = load_state(path)?
    {
        counting.aggregator.restore(state.aggregator);
        counting.occupancy_commands = state.occupancy_commands;
        tracing::info!(path = %path.display(), "resumed the intervals not yet published");
    }
    // Intervals that ended while the node was down were not watched: their entrances are unhealthy.
    let resumed_at = SystemTime::now();
    let mut summary = NodeSummary::default();
    let mut events: Vec<CrossingEvent> = Vec::new();
    let mut unhealthy_in_interval: HashMap<String, bool> = HashMap::new();
    let mut spool_alerted = false;
    let mut was_connected = false;
    let mut over_capacity: HashMap<String, bool> = HashMap::new();
    let started = Instant::now();
    let mut last_housekeeping = Instant::now() - Duration::from_secs(1);
    let mut dedup = EntranceDedup::new(options.dedup, shared_entrances(site));
    let mut appearance = AppearanceScratch::default();

    publish_status(site, publisher, &mut cameras, true);
    while !stop.load(Ordering::Relaxed) && options.run_for.is_none_or(|limit| started.elapsed() < limit) {
        // One round: the newest frame of every camera that has one. Frames the motion gate lets
        // through go to the detector together, in batches of the model's preferred size; then
        // each camera tracks and counts.
        let mut round: Vec<(usize, CameraFrame, SystemTime)> = Vec::new();
        let mut analysed = false;
        for (index, camera) in cameras.iter_mut().enumerate() {
            let Some(frame) = camera.mailbox.take() else { continue };
            analysed = true;
            summary.frames_analysed += 1;
            events.clear();
            let at = SystemTime::now() - frame.received_at.elapsed();
            watch_view(site, publisher, camera, &frame, options);
            if prepare(camera, &frame, detector.spec().letterboxed(), options, &mut events) {
                round.push((index, frame, at));
            }
            record(camera, &events, at, &mut dedup, &mut counting, &mut summary, options);
        }
        let batch = detector.preferred_batch();
        for chunk in round.chunks(batch) {
            let frames: Vec<&Frame> = chunk.iter().map(|(_, frame, _)| &frame.frame).collect();
            let started = Instant::now();
            let detected = detector.detect_each(&frames);
            let share = started.elapsed() / chunk.len() as u32;
            for ((index, frame, at), detections) in chunk.iter().zip(detected) {
                let camera = &mut cameras[*index];
                camera.detector_time += share;
                let detections = match detections {
                    Ok(detections) => detections,
                    Err(error) => {
                        tracing::error!(camera = %camera.id, "{error}");
                        continue;
                    }
                };
                events.clear();
                let letterboxed = detector.spec().letterboxed();
                let models = (embedder.as_deref_mut(), letterboxed);
                if let Err(error) = finish(camera, frame, detections, models, &mut appearance, &mut events) {
                    tracing::error!(camera = %camera.id, "{error}");
                    continue;
                }
                record(camera, &events, *at, &mut dedup, &mut counting, &mut summary, options);
            }
        }
        if last_housekeeping.elapsed() >= Duration::from_millis(250) {
            last_housekeeping = Instant::now();
            dedup.expire(SystemTime::now());
            let changed = watch_health(site, publisher, &mut cameras, options, &mut unhealthy_in_interval);
            // After a lost connection the broker has published our last will: say we are online.
            let connected = publisher.status().connected;
            let reconnected = connected && !was_connected;
            was_connected = connected;
            if changed || reconnected {
                publish_status(site, publisher, &mut cameras, true);
            }
            for command in publisher.received() {
                apply_command(site, publisher, options, &mut counting, command);
            }
            let reports = counting.aggregator.close_due(SystemTime::now());
            for report in &reports {
                if report.start < resumed_at {
                    for entrance in &report.entrances {
                        unhealthy_in_interval.insert(entrance.id.clone(), true);
                    }
                }
                publish_interval(site, publisher, report, &mut unhealthy_in_interval, &mut over_capacity);
                summary.intervals_published += 1;
                summary.entries_published += report.entries;
                summary.exits_published += report.exits;
            }
            // Published (spooled, fsynced) first, then marked done: a crash between the two
            // repeats an interval with the same counts rather than losing one.
            if !reports.is_empty() {
                save_state(options, &counting);
            }
            if let Some(metrics) = &options.metrics {
                metrics.update(snapshot(&cameras, publisher, &summary));
            }
            let status = publisher.status();
            if status.fill_ratio >= SPOOL_ALERT_RATIO && !spool_alerted {
                spool_alerted = true;
                alert(
                    site,
                    publisher,
                    AlertKind::SpoolFilling,
                    &site.node,
                    format!(
                        "the publishing spool is {:.0}% full ({} messages waiting for the broker)",
                        status.fill_ratio * 100.0,
                        status.spooled
                    ),
                );
            } else if status.fill_ratio < SPOOL_ALERT_RATIO / 2.0 {
                spool_alerted = false;
            }
        }
        if !analysed {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    publish_status(site, publisher, &mut cameras, false);
    for camera in cameras {
        camera.supervisor.stop();
    }
    Ok(summary)
}

/// The topic filters a node subscribes to: the occupancy commands of its site's buildings.
pub fn command_filters(site: &Site) -> Vec<String> {
    OccupancySet::filter(&site.id).into_iter().collect()
}

/// Applies an occupancy command once (by id, remembered in the state file) and publishes the new
/// occupancy at once. A bad command is a warning naming its topic, never a stop.
fn apply_command(
    site: &Site,
    publisher: &Publisher,
    options: &NodeOptions,
    counting: &mut Counting,
    command: Received,
) {
    let topic = &command.topic;
    // An empty retained payload is how a command is cleared from the broker: nothing to do.
    if command.payload.is_empty() {
        return;
    }
    let Some(building) = OccupancySet::building_of(&site.id, topic) else {
        tracing::warn!("ignored a message on {topic}: not an occupancy command of site {}", site.id);
        return;
    };
    let set = match OccupancySet::parse(&command.payload) {
        Ok(set) => set,
        Err(why) => {
            tracing::warn!("ignored the occupancy command on {topic}: {why}");
            return;
        }
    };
    if counting.occupancy_commands.get(building) == Some(&set.id) {
        tracing::info!("occupancy command {} for building {building} was applied before; ignored", set.id);
        return;
    }
    if !counting.aggregator.reset_occupancy(building, set.occupancy) {
        tracing::warn!("ignored the occupancy command on {topic}: building {building:?} is not in the site file");
        return;
    }
    tracing::info!(
        "occupancy of building {building} set to {} by command {} (issued {})",
        set.occupancy,
        set.id,
        set.issued_at
    );
    counting.occupancy_commands.insert(building.to_string(), set.id);
    save_state(options, counting);
    let capacity = site.building(building).and_then(|b| b.capacity).map(u64::from);
    send(
        publisher,
        Occupancy {
            site: site.id.clone(),
            building: building.to_string(),
            node: site.node.clone(),
            seq: Default::default(),
            at: UtcTime::now(),
            occupancy: set.occupancy,
            capacity,
        },
    );
}

fn start_camera(
    site: &Site,
    camera: &Camera,
    detector: &Detector,
    options: &NodeOptions,
) -> Result<CameraWork, NodeError> {
    let camera_error = |message: String| NodeError::Camera { camera: camera.id.clone(), message };
    let mut config = CameraConfig::new(camera.id.clone(), camera.url.clone());
    let fps = camera.analysis_fps.map_or(options.default_fps, f64::from);
    config.source.size = Some(detector.input_size());
    config.source.scale = detector.scale_mode();
    config.source.fps = Some(fps);
    config.live = LiveOptions { credentials: credentials_of(camera).map_err(camera_error)?, ..LiveOptions::default() };
    let (supervisor, mailbox) = CameraSupervisor::spawn_latest(config).map_err(|e| camera_error(e.to_string()))?;
    let zones = site.zones_for(&camera.id).map(|z| (z.clone(), z.aggregate)).collect();
    Ok(CameraWork {
        id: camera.id.clone(),
        entrance: camera.entrance.clone(),
        supervisor,
        mailbox,
        zones,
        analysis: None,
        gate: None,
        gate_config: MotionGateConfig::for_camera(options.motion_gate, camera),
        fps,
        started: Instant::now(),
        last_frame: None,
        offline: false,
        published_state: None,
        frames_analysed: 0,
        frames_skipped: 0,
        crossings: 0,
        last_connection: 0,
        detector_time: Duration::ZERO,
        uniform_since: None,
        blinded: false,
    })
}

/// A camera's login, read from the environment variables or file the site file names.
fn credentials_of(camera: &Camera) -> Result<Option<Credentials>, String> {
    let c = &camera.credentials;
    let user = match &c.username_env {
        Some(var) => Some(std::env::var(var).map_err(|_| format!("environment variable {var} (username) is not set"))?),
        None => None,
    };
    let password = match (&c.password_env, &c.password_file) {
        (Some(var), _) => {
            Some(std::env::var(var).map_err(|_| format!("environment variable {var} (password) is not set"))?)
        }
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| format!("{}: cannot read the password file: {e}", file.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
        (None, None) => None,
    };
    Ok(match (user, password) {
        (Some(user), Some(password)) => Some(Credentials::new(user, password)),
        (Some(user), None) => Some(Credentials::new(user, String::new())),
        (None, Some(password)) => Some(Credentials::new(String::new(), password)),
        (None, None) => None,
    })
}

/// Working memory of the appearance step, kept between frames.
#[derive(Default)]
struct AppearanceScratch {
    wanted: Vec<bool>,
    embeddings: Vec<Option<Embedding>>,
}

/// The entrances that more than one camera watches: their crossings are de-duplicated.
fn shared_entrances(site: &Site) -> Vec<String> {
    let mut cameras: BTreeMap<&str, usize> = BTreeMap::new();
    for camera in &site.cameras {
        *cameras.entry(camera.entrance.as_str()).or_default() += 1;
    }
    cameras.into_iter().filter(|(_, n)| *n > 1).map(|(e, _)| e.to_string()).collect()
}

/// The crossings a camera's frame gave: those of zones that add into the entrance, not seen by
/// another camera of the entrance already, go into the intervals (and the state file).
fn record(
    camera: &mut CameraWork,
    events: &[CrossingEvent],
    at: SystemTime,
    dedup: &mut EntranceDedup,
    counting: &mut Counting,
    summary: &mut NodeSummary,
    options: &NodeOptions,
) {
    let before = summary.crossings;
    for event in events {
        if !camera.zones.get(event.zone).is_some_and(|(_, aggregate)| *aggregate) {
            continue;
        }
        let looks = camera.analysis.as_ref().and_then(|(_, tracker, _)| tracker.embedding(event.track)).cloned();
        if !dedup.admit(&camera.entrance, &camera.id, event.direction, at, looks) {
            summary.duplicates += 1;
            continue;
        }
        counting.aggregator.record(&camera.entrance, event.direction, at);
        summary.crossings += 1;
        camera.crossings += 1;
    }
    if summary.crossings != before {
        save_state(options, counting);
    }
}

/// The first half of analysing a frame: (re)starts the camera's tracker and counter on a new
/// connection and asks the motion gate. Returns whether the frame needs the detector; a frame
/// it does not need is tracked and counted here, with no detections.
fn prepare(
    camera: &mut CameraWork,
    frame: &CameraFrame,
    letterboxed: bool,
    options: &NodeOptions,
    events: &mut Vec<CrossingEvent>,
) -> bool {
    camera.last_frame = Some(Instant::now());
    camera.frames_analysed += 1;
    let CameraFrame { connection, frame, .. } = frame;
    let connection = *connection;
    camera.last_connection = camera.last_connection.max(connection);
    // A new connection restarts timestamps and may show a moved camera: start tracking afresh
    // rather than bridge the gap.
    if camera.analysis.as_ref().is_none_or(|(c, _, _)| *c != connection) {
        let (w, h) = (frame.source_width, frame.source_height);
        let zones: Vec<(ZoneShape, f32)> = camera
            .zones
            .iter()
            .map(|(z, _)| (z.shape_in_pixels(w as f32, h as f32), z.min_distance_px(h as f32)))
            .collect();
        if let Some(config) = camera.gate_config {
            let shapes: Vec<_> = zones.iter().map(|(shape, _)| shape.clone()).collect();
            camera.frames_skipped += camera.gate.as_ref().map_or(0, MotionGate::skipped);
            camera.gate = Some(MotionGate::new(config, &shapes, (w, h), letterboxed));
        }
        let counter = ZoneCounter::new(zones, (w, h), CounterConfig::default());
        let config = TrackerConfig::default().at_fps(camera.fps, options.max_lost, options.reid_memory);
        if let Some((_, _, mut old)) = camera.analysis.take() {
            old.finish(events);
        }
        camera.analysis = Some((connection, Tracker::new(config), counter));
    }
    if let (Some(gate), Some((_, tracker, counter))) = (camera.gate.as_mut(), camera.analysis.as_mut()) {
        let tracking = tracker.tracks().iter().any(|t| gate.watches(&t.bbox));
        // A frame that cannot be mapped is left to the detector, which reports it.
        if gate.decide(frame, camera.started.elapsed(), tracking).is_ok_and(|d| !d.detect()) {
            let update = tracker.update_at(frame.pts, &[], &[]);
            counter.update(update.tracks, update.removed, frame.index, frame.pts, events);
            return false;
        }
    }
    true
}

/// The second half: embeds the people the tracker asks about (with a re-ID model), tracks and
/// counts the frame's detections.
fn finish(
    camera: &mut CameraWork,
    frame: &CameraFrame,
    detections: Vec<Detection>,
    (embedder, letterboxed): (Option<&mut Embedder>, bool),
    appearance: &mut AppearanceScratch,
    events: &mut Vec<CrossingEvent>,
) -> Result<(), crate::infer::InferError> {
    let frame = &frame.frame;
    if let Some((_, tracker, counter)) = camera.analysis.as_mut() {
        let AppearanceScratch { wanted, embeddings } = appearance;
        embeddings.clear();
        if let Some(embedder) = embedder {
            crate::replay::embed_wanted(tracker, embedder, frame, &detections, letterboxed, wanted, embeddings)?;
        }
        let update = tracker.update_at(frame.pts, &detections, embeddings);
        counter.update(update.tracks, update.removed, frame.index, frame.pts, events);
    }
    Ok(())
}

/// Raises `camera_blinded` once when a camera's picture has stayed uniform for
/// `options.blinded_after`; a picture with detail again re-arms it.
fn watch_view(site: &Site, publisher: &Publisher, camera: &mut CameraWork, frame: &CameraFrame, options: &NodeOptions) {
    let Ok(view) = frame.frame.rgb() else { return };
    let spread = view.luma_spread();
    if spread >= BLINDED_SPREAD {
        camera.uniform_since = None;
        if camera.blinded {
            camera.blinded = false;
            tracing::warn!(camera = %camera.id, "camera {} sees a scene again", camera.id);
        }
        return;
    }
    let since = *camera.uniform_since.get_or_insert_with(Instant::now);
    if !camera.blinded && since.elapsed() >= options.blinded_after {
        camera.blinded = true;
        alert(
            site,
            publisher,
            AlertKind::CameraBlinded,
            &camera.id,
            format!(
                "camera {} has seen a nearly uniform picture for {} s (covered, dark or turned away): it cannot count",
                camera.id,
                since.elapsed().as_secs()
            ),
        );
    }
}

/// Raises offline/back alerts; returns whether any camera's published state changed.
fn watch_health(
    site: &Site,
    publisher: &Publisher,
    cameras: &mut [CameraWork],
    options: &NodeOptions,
    unhealthy: &mut HashMap<String, bool>,
) -> bool {
    let mut changed = false;
    for camera in cameras.iter_mut() {
        let state = camera.supervisor.state();
        let silent = camera.last_frame.map_or(Duration::MAX, |t| t.elapsed());
        if state != CameraState::Live || silent > Duration::from_secs(2) {
            unhealthy.insert(camera.entrance.clone(), true);
        }
        // Without any frame yet, the grace counts from the camera's start.
        let since_start_or_frame = silent.min(camera.started.elapsed());
        if !camera.offline && since_start_or_frame >= options.offline_grace && state != CameraState::Live {
            camera.offline = true;
            let why = match &state {
                CameraState::Retrying { last_error, .. } => last_error.clone(),
                CameraState::Failed { error } => error.clone(),
                _ => "no frames".into(),
            };
            alert(
                site,
                publisher,
                AlertKind::CameraOffline,
                &camera.id,
                format!("camera {} is offline: {why}", camera.id),
            );
        } else if camera.offline && state == CameraState::Live && silent < Duration::from_secs(2) {
            camera.offline = false;
            alert(site, publisher, AlertKind::CameraBack, &camera.id, format!("camera {} is back", camera.id));
        }
        let name = state.name();
        if camera.published_state != Some(name) {
            changed = true;
        }
    }
    changed
}

fn publish_interval(
    site: &Site,
    publisher: &Publisher,
    report: &IntervalReport,
    unhealthy: &mut HashMap<String, bool>,
    over_capacity: &mut HashMap<String, bool>,
) {
    let entrances = report
        .entrances
        .iter()
        .map(|e| EntranceSummary {
            id: e.id.clone(),
            entries: e.entries,
            exits: e.exits,
            cameras: e.cameras.clone(),
            healthy: !unhealthy.remove(&e.id).unwrap_or(false),
        })
        .collect();
    let counts = Counts {
        site: site.id.clone(),
        building: report.building.clone(),
        node: site.node.clone(),
        seq: Default::default(),
        interval: IntervalBounds { start: UtcTime::from(report.start), end: UtcTime::from(report.end) },
        entries: report.entries,
        exits: report.exits,
        occupancy: report.occupancy,
        entrances,
    };
    send(publisher, counts);
    let capacity = site.building(&report.building).and_then(|b| b.capacity).map(u64::from);
    send(
        publisher,
        Occupancy {
            site: site.id.clone(),
            building: report.building.clone(),
            node: site.node.clone(),
            seq: Default::default(),
            at: UtcTime::from(report.end),
            occupancy: report.occupancy,
            capacity,
        },
    );
    let over = capacity.is_some_and(|c| report.occupancy > c);
    let was_over = over_capacity.insert(report.building.clone(), over).unwrap_or(false);
    if over && !was_over {
        alert(
            site,
            publisher,
            AlertKind::OverCapacity,
            &report.building,
            format!(
                "building {} holds an estimated {} people, above its capacity {}",
                report.building,
                report.occupancy,
                capacity.unwrap_or(0)
            ),
        );
    }
}

/// What the metrics endpoint shows now.
fn snapshot(cameras: &[CameraWork], publisher: &Publisher, summary: &NodeSummary) -> Snapshot {
    let status = publisher.status();
    let counters = publisher.metrics();
    Snapshot {
        cameras: cameras
            .iter()
            .map(|c| CameraMetrics {
                id: c.id.clone(),
                state: c.supervisor.state().name(),
                frames_received: c.supervisor.frames(),
                frames_analysed: c.frames_analysed,
                frames_skipped: c.frames_skipped + c.gate.as_ref().map_or(0, MotionGate::skipped),
                crossings: c.crossings,
                reconnects: c.last_connection.saturating_sub(1),
                detector_seconds: c.detector_time.as_secs_f64(),
            })
            .collect(),
        mqtt_connected: status.connected,
        spool_messages: status.spooled,
        spool_bytes: status.spool_bytes,
        messages_published: counters.sent,
        messages_spooled: counters.spooled,
        mqtt_connects: counters.connects,
        intervals_published: summary.intervals_published,
    }
}

fn publish_status(site: &Site, publisher: &Publisher, cameras: &mut [CameraWork], online: bool) {
    let statuses = cameras
        .iter_mut()
        .map(|camera| {
            let state = camera.supervisor.state();
            camera.published_state = Some(state.name());
            CameraStatus {
                id: camera.id.clone(),
                state: match state {
                    CameraState::Starting => PublishedCameraState::Starting,
                    CameraState::Live => PublishedCameraState::Live,
                    CameraState::Retrying { .. } => PublishedCameraState::Retrying,
                    CameraState::Failed { .. } => PublishedCameraState::Failed,
                },
            }
        })
        .collect();
    send(
        publisher,
        NodeStatus {
            site: site.id.clone(),
            node: site.node.clone(),
            seq: Default::default(),
            at: UtcTime::now(),
            state: if online { NodeState::Online } else { NodeState::Offline },
            cameras: statuses,
        },
    );
}

fn alert(site: &Site, publisher: &Publisher, kind: AlertKind, subject: &str, message: String) {
    tracing::warn!(subject, "{message}");
    send(
        publisher,
        Alert {
            site: site.id.clone(),
            node: site.node.clone(),
            seq: Default::default(),
            at: UtcTime::now(),
            kind,
            subject: subject.to_string(),
            message,
        },
    );
}

/// Spools a message; a full spool is logged, naming what is dropped (the spool-filling alert
/// went out before).
fn send(publisher: &Publisher, message: impl Into<crate::publish::Message>) {
    let message = message.into();
    let schema = message.schema();
    if let Err(error) = publisher.publish(message) {
        tracing::error!("{error}; a {schema} message is dropped");
    }
}

fn load_state(path: &Path) -> Result<Option<SavedState>, NodeError> {
    let state_error = |message: String| NodeError::State { path: path.to_path_buf(), message };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).map(Some).map_err(|e| state_error(format!("not a Lintel state file: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(state_error(format!("cannot read: {e}"))),
    }
}

/// Writes the aggregation state atomically (a temporary file renamed over the old one).
fn save_state(options: &NodeOptions, counting: &Counting) {
    let Some(path) = &options.state_file else { return };
    let write = || -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let state = SavedState {
            aggregator: counting.aggregator.snapshot(),
            occupancy_commands: counting.occupancy_commands.clone(),
        };
        let json = serde_json::to_vec(&state)?;
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, &json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    if let Err(error) = write() {
        tracing::error!(path = %path.display(), "cannot save the interval state: {error}");
    }
}

fn building_specs(site: &Site) -> Vec<BuildingSpec> {
    site.buildings
        .iter()
        .map(|b| BuildingSpec {
            id: b.id.clone(),
            initial_occupancy: u64::from(b.initial_occupancy),
            entrances: site
                .entrances_of_building(&b.id)
                .map(|e| EntranceSpec {
                    id: e.id.clone(),
                    cameras: site.cameras_of_entrance(&e.id).map(|c| c.id.clone()).collect(),
                })
                .collect(),
        })
        .collect()
}
