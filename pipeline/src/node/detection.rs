//! The detection thread: the newest frame of every camera, through the shared detector and each
//! camera's analysis, out as [`NodeEvent::Frame`]s.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lintel_calibration::site::{Camera, CameraAuth, Site};

use super::{AnalysedFrame, NodeError, NodeEvent, NodeOptions};
use crate::analysis::{Admitted, AnalysisConfig, Appearance, CameraAnalysis, FrameAnalysis, RegionConfig, ViewSample};
use crate::detection::Detection;
use crate::infer::{Detector, Detectors, Embedder, LowLightConfig, MotionGateConfig, detect_side_by_side};
use crate::ingest::{CameraConfig, CameraFrame, CameraSupervisor, Credentials, Frame, LatestFrame, LiveOptions};
use crate::live::{LiveFrame, LiveFrames, LivePicture, Picture, ZoneReloads};
use crate::privacy::Hider;

/// The cameras' side of the detection thread: one mailbox and one analysis per camera, and the
/// doorbell every camera rings when it puts a frame in its mailbox.
pub(super) struct DetectionLoop {
    feeds: Vec<CameraFeed>,
    doorbell: Arc<Doorbell>,
    /// Beats each round, for the service watchdog.
    pub(super) heartbeat: crate::service::Heartbeat,
}

struct CameraFeed {
    id: String,
    mailbox: LatestFrame,
    analysis: CameraAnalysis,
    /// The newest reduction of the picture for the tamper watch, made on the camera's thread.
    viewed: Arc<ViewSlot>,
    /// What to hide in the camera's picture while a page watches it.
    hider: Hider,
    /// The origin of the hider's clock.
    started: Instant,
    /// Whether the node sheds this camera's next frame from the detector.
    shedding: Shedding,
    /// The mailbox's dropped frames already reported.
    dropped_reported: u64,
}

/// Frames a camera's mailbox holds for the detection thread: a round slowed by a burst of
/// detector work (doors busy at once) costs no frame up to 4 frame times. Measured with
/// `benches/camera-scaling`, 32 door cameras at 10 frames/s: 8.6 frames/s each analysed against
/// 7.9 with the newest frame alone, for +3.7 MB per camera at peak (frames held are decoded RGB).
const MAILBOX_DEPTH: usize = 4;

/// Load shedding, per camera: a frame the motion gate lets through goes without the detector when
/// the node is behind on this camera (frames wait in its mailbox) and the detector saw its last
/// frame. The frame is passed over ([`CameraAnalysis::pass_over`]: the tracker is told nothing
/// and predicts over it at the next detected frame), so a busy camera is detected at half its
/// rate rather than losing frames; the clip detected so throughout still counts every zone within
/// its tolerance (`pipeline/tests/load_shedding.rs`). Further behind than the mailbox holds, its
/// oldest frames are dropped (`lintel_frames_dropped_total`). Passing the whole backlog over
/// instead, to drop nothing, was measured and not kept: with 32 doors busy at once each camera was
/// then detected once every 4 frames, evenly, and counted 1.2 of the 2.0 crossings a camera alone
/// counts; dropping, the node lags a few frames but detects frames two apart, and counted 2.0.
#[derive(Debug, Default)]
struct Shedding {
    detected_last: bool,
}

impl Shedding {
    /// Whether this frame (`admitted` by the gate; `waiting` frames behind it) is shed.
    fn sheds(&mut self, admitted: bool, waiting: usize) -> bool {
        let shed = admitted && self.detected_last && waiting > 0;
        self.detected_last = admitted && !shed;
        shed
    }
}

/// How often a camera's picture is reduced for the tamper watch and its luma spread measured
/// (`camera_blinded`): tampering is slow, and both read much of the frame (the spread 53 µs of a
/// 768×576 one, `benches/benches/preprocess.rs`; the reduction about 0.7 ms).
const VIEW_EVERY: Duration = Duration::from_secs(1);

/// A camera's picture reduced for the tamper watch, made on the camera's own thread as frames
/// arrive, so the detection thread, which every camera waits on, does not spend its time there
/// (1.8% of a 32-camera node's samples, 4% of that thread's).
#[derive(Default)]
struct ViewSlot {
    newest: std::sync::Mutex<Option<(f64, ViewSample)>>,
}

impl ViewSlot {
    /// On the camera's thread: reduces `frame` when the last reduction is `VIEW_EVERY` old.
    fn offer(&self, frame: &Frame, last: &mut Option<Instant>) {
        if last.is_some_and(|at| at.elapsed() < VIEW_EVERY) {
            return;
        }
        let Ok(rgb) = frame.rgb() else { return };
        *last = Some(Instant::now());
        let measured = (rgb.luma_spread(), ViewSample::measure(&rgb));
        *self.newest.lock().unwrap_or_else(|e| e.into_inner()) = Some(measured);
    }

    /// On the detection thread: the reduction made since the last take, if any.
    fn take(&self) -> Option<(f64, ViewSample)> {
        self.newest.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A frame waiting for the detector, with what was learnt of it on the way.
struct Waiting {
    camera: usize,
    frame: CameraFrame,
    wall: SystemTime,
    luma_spread: Option<f64>,
    view: Option<ViewSample>,
    shed: bool,
    /// Frames of the camera its full mailbox dropped since the last one taken.
    dropped: u64,
}

/// Starts every camera of the site, each supervised on its own thread.
pub(super) fn start_cameras(
    site: &Site,
    detector: &Detector,
    options: &NodeOptions,
) -> Result<(Vec<CameraSupervisor>, DetectionLoop), NodeError> {
    let doorbell = Arc::new(Doorbell::default());
    let (mut supervisors, mut feeds) = (Vec::new(), Vec::new());
    for camera in &site.cameras {
        let camera_error = |message: String| NodeError::Camera { camera: camera.id.clone(), message };
        let fps = camera.analysis_fps.map_or(options.default_fps, f64::from);
        let mut config = CameraConfig::new(camera.id.clone(), camera.url.clone());
        config.source.size = Some(detector.input_size());
        config.source.scale = detector.scale_mode();
        config.source.fps = Some(fps);
        let mailbox = LatestFrame::with_depth(MAILBOX_DEPTH);
        let viewed = Arc::new(ViewSlot::default());
        let supervisor = match credentials_of(camera) {
            Ok(credentials) => {
                let allow_basic = camera.auth == CameraAuth::Basic;
                config.live = LiveOptions { credentials, allow_basic, ..LiveOptions::default() };
                let (put, ring, view) = (mailbox.clone(), Arc::clone(&doorbell), Arc::clone(&viewed));
                let mut last_viewed = None;
                CameraSupervisor::spawn(config, move |frame| {
                    view.offer(&frame.frame, &mut last_viewed);
                    put.put(frame);
                    ring.ring();
                })
                .map_err(|e| camera_error(e.to_string()))?
            }
            // This camera alone fails (and is reported offline); the others run.
            Err(error) => {
                tracing::error!(camera = %camera.id, "camera {} cannot start: {error}", camera.id);
                CameraSupervisor::failed(&camera.id, error)
            }
        };
        let analysis = AnalysisConfig {
            max_lost: options.max_lost,
            reid_memory: options.reid_memory,
            motion_gate: MotionGateConfig::for_camera(options.motion_gate, camera),
            low_light: LowLightConfig::for_camera(options.low_light, camera),
            region: RegionConfig::for_camera(options.region.as_ref(), camera),
            ..AnalysisConfig::at_fps(fps)
        };
        let zones = site.zones_for(&camera.id).cloned().collect();
        supervisors.push(supervisor);
        feeds.push(CameraFeed {
            id: camera.id.clone(),
            mailbox,
            analysis: CameraAnalysis::new(zones, analysis, detector.spec().letterboxed())
                .with_geometry(camera.geometry()),
            viewed,
            hider: Hider::default(),
            started: Instant::now(),
            shedding: Shedding::default(),
            dropped_reported: 0,
        });
    }
    Ok((supervisors, DetectionLoop { feeds, doorbell, heartbeat: crate::service::Heartbeat::new() }))
}

impl DetectionLoop {
    /// Analyses frames while `running()`. Each round takes the newest frame of every camera that
    /// has one; those the motion gate lets through go to the detector together: side by side on
    /// the detector's lanes where it has two or more (frames of different cameras), else in
    /// batches of the model's preferred size, and a batch that fails is detected again frame by
    /// frame, so one camera's bad frame costs only that frame.
    pub(super) fn run(
        &mut self,
        detectors: Detectors<'_>,
        mut embedder: Option<&mut Embedder>,
        events: &Sender<NodeEvent>,
        live: Option<&LiveFrames>,
        reloads: Option<&ZoneReloads>,
        running: impl Fn() -> bool,
    ) {
        let Detectors { whole: detector, lanes } = detectors;
        let out = Out { events, live };
        let batch = detector.preferred_batch();
        // Frames of different cameras depend on nothing of each other: one per lane.
        let side_by_side = batch == 1 && lanes.len() >= 2;
        let mut round: Vec<(Waiting, Admitted)> = Vec::new();
        let wedge_at = wedge_on_purpose();
        while running() {
            if wedge_at.is_some_and(|at| Instant::now() >= at) {
                // Wedged on purpose (tests of the watchdog): no beat, no frame, until stopped.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            self.heartbeat.beat();
            for (camera, zones, geometry) in reloads.map(ZoneReloads::take).unwrap_or_default() {
                if let Some(feed) = self.feeds.get_mut(camera) {
                    tracing::info!(camera = %feed.id, zones = zones.len(), "counting on the zones saved");
                    feed.analysis.set_zones(zones, geometry);
                    if let Some(live) = live {
                        live.reset_tallies(camera);
                    }
                }
            }
            let mut took_any = false;
            for (camera, feed) in self.feeds.iter_mut().enumerate() {
                took_any |= feed.take_turn(camera, &out, &mut round);
            }
            while !round.is_empty() {
                let size = if side_by_side { lanes.len() } else { batch };
                let rest = round.split_off(size.clamp(1, round.len()));
                let chunk = std::mem::replace(&mut round, rest);
                let frames: Vec<&Frame> = chunk.iter().map(|(w, _)| &w.frame.frame).collect();
                let looks: Vec<_> = chunk.iter().map(|(_, a)| a.look()).collect();
                let started = Instant::now();
                let detected = if side_by_side && frames.len() >= 2 {
                    detect_side_by_side(lanes, &frames, &looks)
                } else {
                    detector.detect_each_looking(&frames, &looks)
                };
                let share = started.elapsed() / chunk.len() as u32;
                for ((waiting, _), detections) in chunk.into_iter().zip(detected) {
                    let feed = &mut self.feeds[waiting.camera];
                    let (analysis, detections) = match detections {
                        Ok(detections) => {
                            let appearance = embedder.as_deref_mut().map(|e| e as &mut dyn Appearance);
                            (
                                feed.analysis.analyse(&waiting.frame.frame, Some(&detections), appearance),
                                Some(detections),
                            )
                        }
                        Err(error) => (Err(error), None),
                    };
                    out.send(feed, waiting, analysis.map_err(|e| e.to_string()), detections.as_deref(), share);
                }
            }
            if !took_any {
                self.doorbell.wait(Duration::from_millis(100));
            }
        }
    }
}

impl CameraFeed {
    /// Takes this camera's oldest frame for a round: a frame for the detector goes into `round`,
    /// the others (skipped by the gate, or shed) are analysed and sent here. Returns whether
    /// there was one.
    fn take_turn(&mut self, camera: usize, out: &Out<'_>, round: &mut Vec<(Waiting, Admitted)>) -> bool {
        let Some(frame) = self.mailbox.take() else { return false };
        let dropped = self.mailbox.replaced().saturating_sub(self.dropped_reported);
        self.dropped_reported += dropped;
        // Checked: a box without a real-time clock may read a time near 1970.
        let wall = SystemTime::now().checked_sub(frame.received_at.elapsed()).unwrap_or(SystemTime::UNIX_EPOCH);
        let (luma_spread, view) = self.viewed.take().map_or((None, None), |(spread, view)| (Some(spread), Some(view)));
        let admitted = self.analysis.admit(&frame.frame, frame.connection);
        let shed = self.shedding.sheds(admitted.is_some(), self.mailbox.waiting());
        let waiting = Waiting { camera, frame, wall, luma_spread, view, shed, dropped };
        if shed {
            let analysis = self.analysis.pass_over(&waiting.frame.frame);
            out.send(self, waiting, Ok(analysis), None, Duration::ZERO);
        } else if let Some(admitted) = admitted {
            round.push((waiting, admitted));
        } else {
            let analysis = self.analysis.analyse(&waiting.frame.frame, None, None);
            out.send(self, waiting, analysis.map_err(|e| e.to_string()), None, Duration::ZERO);
        }
        true
    }
}

/// Fault injection, to see the watchdog restart a wedged node (the tests do, on the release build
/// CI runs, and a technician may on an installed box): `LINTEL_TEST_WEDGE_DETECTION_AFTER_S=N`
/// stops the detection loop after N seconds. Said loudly, so it is never on unnoticed.
fn wedge_on_purpose() -> Option<Instant> {
    let value = std::env::var("LINTEL_TEST_WEDGE_DETECTION_AFTER_S").ok()?;
    let Some(after) = value.parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()) else {
        tracing::error!("LINTEL_TEST_WEDGE_DETECTION_AFTER_S={value:?} is not a number of seconds: ignored");
        return None;
    };
    tracing::error!("LINTEL_TEST_WEDGE_DETECTION_AFTER_S is set: detection stops on purpose after {after:?}");
    Some(Instant::now() + after)
}

/// Where analysed frames go: the node thread (every one) and the live readers (the newest).
struct Out<'a> {
    events: &'a Sender<NodeEvent>,
    live: Option<&'a LiveFrames>,
}

impl Out<'_> {
    /// Hands one analysed frame on (errors are logged here, naming the camera). `detections`: the
    /// detector's boxes for the frame, when it ran (what the picture hides besides the tracks).
    fn send(
        &self,
        feed: &mut CameraFeed,
        waiting: Waiting,
        analysis: Result<FrameAnalysis, String>,
        detections: Option<&[Detection]>,
        detector_time: Duration,
    ) {
        let analysis = analysis.map_err(|error| tracing::error!(camera = %feed.id, "{error}")).ok();
        if let (Some(live), Some(analysis)) = (self.live, &analysis) {
            let picture = live.watched(waiting.camera).then(|| Picture::of_frame(&waiting.frame.frame)).flatten();
            // Stream time for the learned scene: the frame's arrival on the box's monotonic clock.
            let at = waiting.frame.received_at.saturating_duration_since(feed.started);
            let picture = picture.map(|pixels| {
                let hidden = feed.hider.observe(&pixels, analysis, detections, at);
                Arc::new(LivePicture { pixels, hidden })
            });
            live.put(waiting.camera, LiveFrame { wall: waiting.wall, analysis: analysis.clone(), picture });
        }
        // The node thread ends only after Shutdown, which is sent after this loop: a send cannot
        // fail short of a panic there, which the join reports.
        let _ = self.events.send(NodeEvent::Frame(AnalysedFrame {
            camera: waiting.camera,
            connection: waiting.frame.connection,
            wall: waiting.wall,
            seen: waiting.frame.received_at,
            analysis,
            luma_spread: waiting.luma_spread,
            view: waiting.view,
            detector_time,
            shed: waiting.shed,
            dropped_before: waiting.dropped,
        }));
    }
}

/// Wakes the detection thread when any camera has a frame, so an idle node sleeps instead of
/// polling. The flag is sticky: a frame that arrives just before the wait is not missed.
#[derive(Default)]
struct Doorbell {
    rung: Mutex<bool>,
    wake: Condvar,
}

impl Doorbell {
    fn ring(&self) {
        *self.rung.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_one();
    }

    fn wait(&self, timeout: Duration) {
        let rung = self.rung.lock().unwrap_or_else(|p| p.into_inner());
        let (mut rung, _) =
            self.wake.wait_timeout_while(rung, timeout, |rung| !*rung).unwrap_or_else(|p| p.into_inner());
        *rung = false;
    }
}

/// A camera's login, read from the environment variables or file the site file names.
pub fn credentials_of(camera: &Camera) -> Result<Option<Credentials>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_behind_is_detected_every_other_frame_and_every_frame_once_caught_up() {
        let mut shedding = Shedding::default();
        let behind: Vec<bool> = (0..6).map(|_| shedding.sheds(true, 1)).collect();
        assert_eq!(behind, [false, true, false, true, false, true]);
        // Caught up: every frame to the detector.
        assert!((0..4).all(|_| !shedding.sheds(true, 0)));
        // A frame the gate skipped is not detected: the next one is, one frame behind.
        assert!(!shedding.sheds(false, 1));
        assert!(!shedding.sheds(true, 1));
        assert!(shedding.sheds(true, 1));
    }

    #[test]
    fn frames_a_full_mailbox_dropped_are_reported_with_the_next_frame_taken() {
        let mailbox = LatestFrame::with_depth(MAILBOX_DEPTH);
        let put = |index: u64| {
            let frame = Frame::from_rgb(64, 48, vec![90; 64 * 48 * 3], index).unwrap();
            mailbox.put(CameraFrame { camera: "door".into(), connection: 1, received_at: Instant::now(), frame });
        };
        (0..MAILBOX_DEPTH as u64 + 2).for_each(put);
        let mut feed = CameraFeed {
            id: "door".into(),
            mailbox: mailbox.clone(),
            // No motion gate: every frame is one for the detector unless it is shed.
            analysis: CameraAnalysis::new(Vec::new(), AnalysisConfig::at_fps(10.0), false),
            viewed: Arc::default(),
            hider: Hider::default(),
            started: Instant::now(),
            shedding: Shedding::default(),
            dropped_reported: 0,
        };
        let (events, sent) = std::sync::mpsc::channel();
        let out = Out { events: &events, live: None };
        let mut round = Vec::new();
        // The two oldest were dropped: the first frame taken is 2, for the detector, and says so.
        assert!(feed.take_turn(0, &out, &mut round));
        let (waiting, _) = round.pop().unwrap();
        assert_eq!((waiting.frame.frame.index, waiting.dropped, waiting.shed), (2, 2, false));
        // Behind (three wait) and the last was detected: the next is shed, and nothing more dropped.
        assert!(feed.take_turn(0, &out, &mut round));
        match sent.try_recv().unwrap() {
            NodeEvent::Frame(frame) => {
                assert_eq!((frame.analysis.unwrap().index, frame.shed, frame.dropped_before), (3, true, 0))
            }
            _ => panic!("only frames are sent"),
        }
        put(6);
        put(7);
        put(8);
        assert!(feed.take_turn(0, &out, &mut round));
        let (waiting, _) = round.pop().unwrap();
        assert_eq!((waiting.frame.frame.index, waiting.dropped), (5, 1), "frame 4 was dropped for 8");
    }
}
