//! The edge node: every camera of a site at once, counted, rolled up per building and published.
//!
//! Two threads, joined by one channel of typed [`NodeEvent`]s:
//!
//! ```text
//!  camera threads ──► newest-frame mailboxes ──► detection thread ──┐ frames (lossless)
//!  (supervised, one per camera; a failing            (this thread:   │
//!   camera never stops another)                       gate, detector, ▼
//!                                                     tracker, zones) node thread: NodeCore
//!  camera states, MQTT commands, timer ticks ─────────────────────► (intervals, alerts, status,
//!                                                                     metrics; spool and state
//!                                                                     file writes)
//! ```
//!
//! - The **detection thread** ([`detection`]) takes the newest frame of every camera that has one,
//!   runs the shared detector on them in batches, and analyses each with the camera's
//!   [`CameraAnalysis`](crate::analysis::CameraAnalysis). A slow box analyses fewer frames; it never
//!   builds a backlog, and no disk write happens on it.
//! - The **node thread** runs [`NodeCore`], the node's state in one struct, over the events: it
//!   de-duplicates crossings of shared entrances, rolls them into wall-clock intervals, raises
//!   alerts, and publishes through the on-disk spool. It talks to the world only through
//!   [`NodeOutput`], so it is unit-tested without GStreamer or a broker.

mod acks;
mod commands;
mod core;
mod detection;
mod events;
mod identity;
mod output;
mod state_file;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use lintel_calibration::site::Site;
use lintel_wire::CommandKey;

pub use self::acks::{AckReader, AckSink, MAX_ACK_BYTES, ack_filter};
pub use self::core::{BLINDED_SPREAD, NodeCore};
pub use self::detection::credentials_of;
pub use self::events::{AnalysedFrame, NodeEvent};
pub use self::identity::{derived_node_id, node_id_from};
pub use self::output::{NodeOutput, PublishingOutput, Refused, ShowMessage};
pub use self::state_file::SavedState;
use crate::count::{DedupConfig, IntervalConfig};
use crate::infer::{Detectors, Embedder, MotionGateConfig};
use crate::live::{AuditTrail, LiveFrames, NodeMetrics, ZoneReloads};
use crate::publish::{OccupancySet, Publisher};
use crate::service::{Progress, ServiceNotifier};

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
    /// When cameras' pictures are stretched for the detector (a camera's `low_light` in the site
    /// file overrides): by default while they are dark or flat.
    pub low_light: crate::infer::LowLightMode,
    /// Where the detector looks on each camera ([`crate::analysis::AnalysisConfig::region`]).
    pub region: Option<crate::analysis::RegionConfig>,
    /// Where each camera's newest analysed frame is kept for live readers (pages), if anyone
    /// watches.
    pub live: Option<LiveFrames>,
    /// The tamper watch of every camera: defocused and moved views.
    pub view_watch: crate::analysis::ViewWatchConfig,
    /// Zones a technician saved, for the cameras to count on without a restart.
    pub zone_reloads: Option<ZoneReloads>,
    /// Where every message the node makes is shown besides MQTT (the operators' board).
    pub show: Option<ShowMessage>,
    /// Who did what to the node: applied and refused occupancy commands are recorded here.
    pub audit: Option<AuditTrail>,
    /// The operators' key that occupancy commands must be signed with; without one the node
    /// refuses every command.
    pub command_key: Option<CommandKey>,
    /// The service manager: told `READY=1` once the cameras are started and the broker link is
    /// set up, then `WATCHDOG=1` from the node thread's tick while every camera's loop, the
    /// detection thread and the publisher make progress (a wedged one stops it).
    pub service: Option<crate::service::ServiceNotifier>,
    /// Where the node serves its pages (`http://host:port/`), said in its status.
    pub web_address: Option<String>,
    /// Where acknowledgements of the node's incidents made elsewhere (a console) go: the
    /// dashboard. Without one the node does not subscribe to them.
    pub acks: Option<AckSink>,
    /// Told every message once the spool took it, with its `seq` (the dashboard names its
    /// alerts' incidents by it, as consoles do).
    pub spooled: Option<ShowMessage>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            interval: IntervalConfig::default(),
            offline_grace: Duration::from_secs(30),
            max_lost: crate::analysis::DEFAULT_MAX_LOST,
            default_fps: 10.0,
            run_for: None,
            state_file: None,
            metrics: None,
            reid_memory: crate::analysis::DEFAULT_REID_MEMORY,
            dedup: DedupConfig::default(),
            blinded_after: Duration::from_secs(60),
            motion_gate: None,
            low_light: crate::infer::LowLightMode::Auto,
            region: None,
            live: None,
            view_watch: crate::analysis::ViewWatchConfig::default(),
            show: None,
            zone_reloads: None,
            audit: None,
            command_key: None,
            service: None,
            web_address: None,
            acks: None,
            spooled: None,
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
    #[error(transparent)]
    NewerFormat(#[from] crate::disk_format::NewerFormat),
    #[error("cannot start the node thread: {0}")]
    Thread(std::io::Error),
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

/// How often the node thread looks at the cameras, the broker and the clock.
const TICK: Duration = Duration::from_millis(250);

/// Runs the node until `stop` is set (or `options.run_for` has passed).
pub fn run_node<'d>(
    site: &Site,
    detectors: impl Into<Detectors<'d>>,
    embedder: Option<&mut Embedder>,
    publisher: &Publisher,
    options: &NodeOptions,
    stop: &AtomicBool,
) -> Result<NodeSummary, NodeError> {
    if site.cameras.is_empty() {
        return Err(NodeError::NoCamera);
    }
    // Held until the node returns: a second node on the same state file is refused.
    let _lock = options.state_file.as_deref().map(state_file::lock).transpose()?;
    let restored = match &options.state_file {
        Some(path) => state_file::load(path)?,
        None => None,
    };
    let Detectors { whole: detector, lanes } = detectors.into();
    let (cameras, mut detection) = detection::start_cameras(site, detector, options)?;
    let (events, inbox) = mpsc::channel();
    let core = NodeCore::new(site, options, restored, Instant::now(), SystemTime::now());
    let mut output = PublishingOutput::new(publisher, options.state_file.clone(), options.show.clone())
        .with_spooled(options.spooled.clone());
    let acks = options.acks.clone().and_then(|sink| Some((AckReader::new(&site.id, &site.node)?, sink)));
    let service = options.service.clone();
    let mut progress = Progress::default();
    progress.watch("detection", detection.heartbeat.clone());
    progress.watch("publisher", publisher.heartbeat().clone());
    for camera in &cameras {
        progress.watch(format!("camera {}", camera.id()), camera.heartbeat().clone());
    }
    let watch = service.map(|service| Watch { service, progress, logged: false });
    std::thread::scope(|scope| {
        let node = std::thread::Builder::new()
            .name("lintel-node".into())
            .spawn_scoped(scope, move || node_thread(core, inbox, cameras, publisher, &mut output, watch, acks))
            .map_err(NodeError::Thread)?;
        let started = Instant::now();
        let running = || !stop.load(Ordering::Relaxed) && options.run_for.is_none_or(|limit| started.elapsed() < limit);
        let detectors = Detectors { whole: detector, lanes };
        detection.run(detectors, embedder, &events, options.live.as_ref(), options.zone_reloads.as_ref(), running);
        // The node thread may have ended already (it never does before Shutdown, short of a
        // panic, which the join below reports).
        let _ = events.send(NodeEvent::Shutdown);
        node.join().map_err(|_| NodeError::Thread(std::io::Error::other("the node thread panicked")))
    })
}

/// Refuses a state file that a newer Lintel wrote, reading only: called before anything else is
/// written, so a downgraded node changes nothing. Any other problem with it (unreadable, not a
/// state file) is left to the node's start, which names it where it belongs.
pub fn check_state_file(path: &std::path::Path) -> Result<(), NodeError> {
    match state_file::load(path) {
        Err(newer @ NodeError::NewerFormat(_)) => Err(newer),
        _ => Ok(()),
    }
}

/// The topics a node subscribes to: the occupancy command topic of each building of its site.
/// One per building, not a wildcard, so a huge retained message on one building's topic pauses
/// that building's commands only (see `publish/subscriptions.rs`).
pub fn command_filters(site: &Site) -> Vec<String> {
    site.buildings.iter().filter_map(|b| OccupancySet::topic(&site.id, &b.id).ok()).collect()
}

/// The service manager and the loops whose progress `WATCHDOG=1` vouches for.
struct Watch {
    service: ServiceNotifier,
    progress: Progress,
    /// A stall was logged (once per stall).
    logged: bool,
}

/// A loop may be overdue this long at least before the node counts as wedged: a slow box's
/// detection round, or a camera's first frame, must not get it restarted.
const MIN_STALL: Duration = Duration::from_secs(10);

impl Watch {
    /// `WATCHDOG=1` when every loop is progressing; nothing (and one log line) when one is not,
    /// so systemd restarts the node. The node thread calls it, so it vouches for itself too.
    fn tick(&mut self) {
        let Some(every) = self.service.watchdog_every() else { return };
        // Past the whole watchdog interval (twice the keep-alive period), or MIN_STALL.
        match self.progress.stalled((every * 2).max(MIN_STALL)) {
            None => {
                self.logged = false;
                self.service.alive();
            }
            Some((name, overdue)) => {
                if !self.logged {
                    self.logged = true;
                    tracing::error!(
                        "the {name} loop has made no progress for {:.0} s: the node no longer tells systemd it is alive, so it is restarted",
                        overdue.as_secs_f64()
                    );
                }
            }
        }
    }
}

/// The node thread: events as they come, and every [`TICK`] the cameras' states, the commands
/// received and a tick. State is saved once per batch of events, not once per crossing.
fn node_thread(
    mut core: NodeCore,
    inbox: mpsc::Receiver<NodeEvent>,
    cameras: Vec<crate::ingest::CameraSupervisor>,
    publisher: &Publisher,
    output: &mut PublishingOutput<'_>,
    mut watch: Option<Watch>,
    mut acks: Option<(AckReader, AckSink)>,
) -> NodeSummary {
    let mut next_tick = Instant::now();
    let mut states: Vec<Option<crate::ingest::CameraState>> = vec![None; cameras.len()];
    core.start(output);
    if let Some(watch) = &watch {
        watch.service.ready(&format!("counting on {} cameras", cameras.len()));
    }
    loop {
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + TICK;
            // This loop vouches for the node, and for the other loops' progress: a wedged or
            // frozen one stops the keep-alives, and systemd restarts the node.
            if let Some(watch) = &mut watch {
                watch.tick();
            }
            for (camera, (supervisor, known)) in cameras.iter().zip(states.iter_mut()).enumerate() {
                let state = supervisor.state();
                if known.as_ref() != Some(&state) {
                    *known = Some(state.clone());
                    core.handle(NodeEvent::CameraState { camera, state }, output);
                }
            }
            for received in publisher.received() {
                // Acknowledgements are the dashboard's, not the node's state: they skip the core.
                if let Some((reader, AckSink(sink))) = acks.as_mut()
                    && reader.is_ack_topic(&received.topic)
                {
                    if let Some(ack) = reader.read(&received) {
                        sink(ack);
                    }
                    continue;
                }
                core.handle(NodeEvent::Command(received), output);
            }
            let frames_received = cameras.iter().map(|c| c.frames()).collect();
            core.handle(NodeEvent::Tick { now: Instant::now(), wall: SystemTime::now(), frames_received }, output);
        }
        let event = match inbox.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => NodeEvent::Shutdown,
        };
        let mut shutdown = matches!(event, NodeEvent::Shutdown);
        core.handle(event, output);
        while !shutdown && let Ok(event) = inbox.try_recv() {
            shutdown = matches!(event, NodeEvent::Shutdown);
            core.handle(event, output);
        }
        core.save_if_changed(output);
        if shutdown {
            break;
        }
    }
    if let Some(watch) = &watch {
        watch.service.stopping();
    }
    for camera in cameras {
        camera.stop();
    }
    core.summary().clone()
}
