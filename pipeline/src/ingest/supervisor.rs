//! Keeps one camera's pipeline running, on its own thread, through drops, timeouts and restarts.
//!
//! ```text
//!            open ok, first frame                  error / end of stream / watchdog
//! Starting ───────────────────────► Live ──────────────────────────────────────► Retrying
//!     │                               ▲                                            │  │
//!     │ error                         └──────────── first frame ───────────────────┘  │ backoff, reopen
//!     └──────────────► Retrying                                                       ▼
//!                                                          login refused ──► Failed (until stopped)
//! ```
//!
//! Each camera has its own thread and its own GStreamer pipeline: nothing one camera does (hang,
//! fail, flap) can block another.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use lintel_wire::CameraStateKind;

use super::frame::Frame;
use super::live::LiveOptions;
use super::source::{FrameSource, IngestError, Pulled, SourceOptions};
use super::uri::redact_uri;

/// How long to wait before reopening a failed camera: exponential, capped, with jitter so that
/// the cameras of a site that failed together (a switch rebooted) do not all retry in step.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Wait before the first retry.
    pub initial: Duration,
    /// The wait never grows beyond this.
    pub max: Duration,
    /// Growth of the wait per failed attempt.
    pub factor: f64,
    /// Fraction of the wait that is random: the wait is drawn from `[(1 - jitter) · w, w]`.
    pub jitter: f64,
    /// A connection that delivered frames for this long counts as healthy: the next failure
    /// starts again from `initial`. Shorter ones keep growing the wait (a flapping camera).
    pub reset_after: Duration,
    /// Wait after a refused login before trying again: long, so a wrong password does not lock the
    /// camera's account or fill its log, yet a camera whose password is fixed (or that reboots
    /// out of a bad state) comes back without restarting Lintel.
    pub after_refusal: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 0.5,
            reset_after: Duration::from_secs(10),
            after_refusal: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (1 for the first retry), given `random` in `[0, 1)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let backoff = lintel::ingest::Backoff { jitter: 0.0, ..Default::default() };
    /// assert_eq!(backoff.delay(1, 0.7), Duration::from_millis(500));
    /// assert_eq!(backoff.delay(3, 0.7), Duration::from_secs(2));
    /// assert_eq!(backoff.delay(60, 0.7), Duration::from_secs(30));
    /// ```
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let ceiling = (self.initial.as_secs_f64() * self.factor.max(1.0).powi(exponent)).min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        Duration::from_secs_f64((ceiling * (1.0 - jitter)).max(0.0))
    }
}

/// One camera to supervise.
#[derive(Debug, Clone)]
pub struct CameraConfig {
    /// Names the camera in logs, spans and states.
    pub id: String,
    /// URI or path; may carry credentials, which never reach a log.
    pub input: String,
    pub source: SourceOptions,
    pub live: LiveOptions,
    pub backoff: Backoff,
}

impl CameraConfig {
    /// A camera with default options, read as a live source (newest frame only).
    pub fn new(id: impl Into<String>, input: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            input: input.into(),
            source: SourceOptions { live: true, ..Default::default() },
            live: LiveOptions::default(),
            backoff: Backoff::default(),
        }
    }
}

/// Health of a supervised camera.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraState {
    /// Opening for the first time; no frame yet.
    Starting,
    /// Frames are arriving.
    Live,
    /// The last connection failed; the supervisor waits `next_in` before attempt number `attempt`
    /// (and stays in this state while that attempt connects, until its first frame).
    Retrying { attempt: u32, next_in: Duration, last_error: String },
    /// Needs a person: a refused login ([`IngestError::is_permanent`]), tried again only after
    /// [`Backoff::after_refusal`] (retrying a wrong password quickly would fill the camera's log
    /// and may lock its account), or a camera that cannot be started at all (a credential that
    /// cannot be read), which stays failed until the site is fixed.
    Failed { error: String },
}

impl CameraState {
    /// The state without its details: what status messages, metrics and pages show.
    pub fn kind(&self) -> CameraStateKind {
        match self {
            CameraState::Starting => CameraStateKind::Starting,
            CameraState::Live => CameraStateKind::Live,
            CameraState::Retrying { .. } => CameraStateKind::Retrying,
            CameraState::Failed { .. } => CameraStateKind::Failed,
        }
    }

    /// `starting`, `live`, `retrying` or `failed`: for metrics labels and logs.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// A frame, with where and when it came from.
pub struct CameraFrame {
    /// The camera's id.
    pub camera: Arc<str>,
    /// Counts the camera's connections from 1: when it changes, the stream restarted, timestamps
    /// start again and a tracker should not bridge the gap.
    pub connection: u64,
    /// When the supervisor got the frame from GStreamer.
    pub received_at: Instant,
    pub frame: Frame,
}

/// A mailbox that holds only the newest frames: a consumer that is slower than the camera takes
/// recent pictures and older ones are dropped, so nothing piles up. With a depth of 1 (`new`) it
/// keeps the latest picture alone; a deeper one (`with_depth`) rides out a consumer's short
/// stall, oldest first, without losing a frame. Cheap to clone.
#[derive(Clone)]
pub struct LatestFrame {
    inner: Arc<(Mutex<VecDeque<CameraFrame>>, Condvar)>,
    depth: usize,
    replaced: Arc<AtomicU64>,
}

impl Default for LatestFrame {
    fn default() -> Self {
        Self::with_depth(1)
    }
}

impl LatestFrame {
    pub fn new() -> Self {
        Self::default()
    }

    /// A mailbox that holds the newest `depth` frames (at least one).
    pub fn with_depth(depth: usize) -> Self {
        Self { inner: Arc::default(), depth: depth.max(1), replaced: Arc::default() }
    }

    /// Puts a frame in; when the mailbox is full, the oldest one not yet taken is dropped.
    pub fn put(&self, frame: CameraFrame) {
        let (slot, arrived) = &*self.inner;
        let mut frames = lock(slot);
        frames.push_back(frame);
        while frames.len() > self.depth {
            frames.pop_front();
            self.replaced.fetch_add(1, Ordering::Relaxed);
        }
        drop(frames);
        arrived.notify_all();
    }

    /// The oldest frame held, if one arrived since the last take.
    pub fn take(&self) -> Option<CameraFrame> {
        lock(&self.inner.0).pop_front()
    }

    /// Frames held, not yet taken.
    pub fn waiting(&self) -> usize {
        lock(&self.inner.0).len()
    }

    /// Waits up to `timeout` for a frame.
    pub fn wait(&self, timeout: Duration) -> Option<CameraFrame> {
        let (slot, arrived) = &*self.inner;
        let deadline = Instant::now() + timeout;
        let mut guard = lock(slot);
        loop {
            if let Some(frame) = guard.pop_front() {
                return Some(frame);
            }
            let left = deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero())?;
            guard = arrived.wait_timeout(guard, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Frames dropped because newer ones arrived before the consumer took them.
    pub fn replaced(&self) -> u64 {
        self.replaced.load(Ordering::Relaxed)
    }
}

/// Runs one camera on its own thread: opens it, hands its frames to a consumer, reopens it with
/// [`Backoff`] when it fails, until [`stop`](Self::stop) (or drop).
///
/// ```no_run
/// use lintel::ingest::{CameraConfig, CameraSupervisor};
/// let (camera, frames) = CameraSupervisor::spawn_latest(CameraConfig::new("cam-07", "rtsp://10.0.0.7/live"))?;
/// while let Some(frame) = frames.wait(std::time::Duration::from_secs(1)) {
///     println!("{}: frame {} ({})", frame.camera, frame.frame.index, camera.state().name());
/// }
/// camera.stop();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct CameraSupervisor {
    id: Arc<str>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<CameraState>,
    stop: Mutex<bool>,
    wake: Condvar,
    frames: AtomicU64,
    /// Beats each poll of the stream; announces the open and backoff waits.
    heartbeat: crate::service::Heartbeat,
}

impl Shared {
    fn set(&self, state: CameraState) {
        *lock(&self.state) = state;
    }

    fn stopped(&self) -> bool {
        *lock(&self.stop)
    }

    /// Sleeps for `duration` unless stopped first; returns whether it was stopped.
    fn sleep(&self, duration: Duration) -> bool {
        self.heartbeat.quiet_for(duration);
        let deadline = Instant::now() + duration;
        let mut stop = lock(&self.stop);
        while !*stop {
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()) else {
                return false;
            };
            stop = self.wake.wait_timeout(stop, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

impl CameraSupervisor {
    /// Starts supervising `config`; `on_frame` runs on the camera's thread for every frame.
    ///
    /// A slow `on_frame` never builds a backlog: while it runs, the pipeline keeps only the newest
    /// frame. It should still return quickly; hand frames to [`LatestFrame`] to decouple fully.
    pub fn spawn<F>(config: CameraConfig, on_frame: F) -> std::io::Result<Self>
    where
        F: FnMut(CameraFrame) + Send + 'static,
    {
        let id: Arc<str> = Arc::from(config.id.as_str());
        let shared = Arc::new(Shared {
            state: Mutex::new(CameraState::Starting),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            frames: AtomicU64::new(0),
            heartbeat: crate::service::Heartbeat::new(),
        });
        let thread = {
            let (id, shared) = (Arc::clone(&id), Arc::clone(&shared));
            std::thread::Builder::new().name(format!("camera-{}", config.id)).spawn(move || {
                let span = tracing::info_span!("camera", camera = %id);
                let _entered = span.enter();
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| supervise(&config, &id, &shared, on_frame)));
                if outcome.is_err() {
                    tracing::error!("the camera thread panicked (in the frame consumer?)");
                    shared.set(CameraState::Failed { error: "the camera thread panicked".into() });
                }
            })?
        };
        Ok(Self { id, shared, thread: Some(thread) })
    }

    /// A camera that cannot be started (its credentials cannot be read, say): no thread, state
    /// [`CameraState::Failed`] with `error`, so the node reports it offline and the other cameras
    /// run on.
    pub fn failed(id: &str, error: String) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(CameraState::Failed { error }),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            frames: AtomicU64::new(0),
            heartbeat: crate::service::Heartbeat::new(),
        });
        // No thread to run: nothing for the watchdog to wait for.
        shared.heartbeat.quiet_for(Duration::MAX);
        Self { id: Arc::from(id), shared, thread: None }
    }

    /// Starts supervising `config`, with the frames going to a newest-only mailbox.
    pub fn spawn_latest(config: CameraConfig) -> std::io::Result<(Self, LatestFrame)> {
        let latest = LatestFrame::new();
        let mailbox = latest.clone();
        Self::spawn(config, move |frame| mailbox.put(frame)).map(|supervisor| (supervisor, latest))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The camera's current state (a lock and a clone).
    pub fn state(&self) -> CameraState {
        lock(&self.shared.state).clone()
    }

    /// The camera thread's heartbeat, for the service watchdog.
    pub fn heartbeat(&self) -> &crate::service::Heartbeat {
        &self.shared.heartbeat
    }

    /// Frames handed to the consumer so far, over all connections.
    pub fn frames(&self) -> u64 {
        self.shared.frames.load(Ordering::Relaxed)
    }

    /// Stops the camera: its pipeline goes to NULL and its thread is joined (within about 100 ms
    /// plus the pipeline's own shutdown).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for CameraSupervisor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Why one connection ended.
enum Ended {
    Stopped,
    Failed(IngestError),
}

/// The camera thread: connect, stream, back off, again, until stopped or failed for good.
fn supervise<F: FnMut(CameraFrame)>(config: &CameraConfig, id: &Arc<str>, shared: &Shared, mut on_frame: F) {
    let uri = redact_uri(&config.input);
    let mut attempt = 0u32;
    let mut connection = 0u64;
    loop {
        connection += 1;
        let started = Instant::now();
        let mut live_since = None;
        let ended = stream(config, id, shared, connection, &mut live_since, &mut on_frame);
        let error = match ended {
            Ended::Stopped => return,
            Ended::Failed(error) => error,
        };
        if error.is_permanent() {
            let next_in = config.backoff.after_refusal;
            tracing::error!(uri, %error, next_in_s = next_in.as_secs_f64(), "camera refused us; trying again later");
            shared.set(CameraState::Failed { error: error.to_string() });
            if shared.sleep(next_in) {
                return;
            }
            continue;
        }
        if live_since.is_some_and(|since: Instant| since.elapsed() >= config.backoff.reset_after) {
            attempt = 0;
        }
        attempt = attempt.saturating_add(1);
        let next_in = config.backoff.delay(attempt, fastrand::f64());
        tracing::warn!(
            uri,
            %error,
            attempt,
            next_in_s = next_in.as_secs_f64(),
            connected_s = started.elapsed().as_secs_f64(),
            "camera down; retrying"
        );
        shared.set(CameraState::Retrying { attempt, next_in, last_error: error.to_string() });
        if shared.sleep(next_in) {
            return;
        }
    }
}

/// One connection: open, then hand frames on until it fails or the supervisor stops.
fn stream<F: FnMut(CameraFrame)>(
    config: &CameraConfig,
    id: &Arc<str>,
    shared: &Shared,
    connection: u64,
    live_since: &mut Option<Instant>,
    on_frame: &mut F,
) -> Ended {
    tracing::debug!(connection, "opening camera");
    // Opening waits on the network; the source bounds it with the live timeout (or less).
    shared.heartbeat.quiet_for(config.live.timeout.saturating_mul(3));
    let mut source = match FrameSource::open_with(&config.input, &config.source, &config.live) {
        Ok(source) => source,
        Err(error) => return Ended::Failed(error),
    };
    loop {
        shared.heartbeat.beat();
        if shared.stopped() {
            return Ended::Stopped;
        }
        // Short waits keep the stop responsive; the source's watchdog bounds a silent camera.
        match source.poll_frame(Duration::from_millis(100)) {
            Ok(Pulled::Frame(frame)) => {
                if live_since.is_none() {
                    *live_since = Some(Instant::now());
                    tracing::info!(uri = source.uri(), connection, "camera live");
                    shared.set(CameraState::Live);
                }
                shared.frames.fetch_add(1, Ordering::Relaxed);
                on_frame(CameraFrame { camera: Arc::clone(id), connection, received_at: Instant::now(), frame });
            }
            Ok(Pulled::Waiting) => {}
            Ok(Pulled::Ended) => {
                // A camera does not end; a file used as a camera starts again, like a loop.
                let message = "the stream ended".to_string();
                return Ended::Failed(IngestError::Stream { uri: source.uri().to_string(), message });
            }
            Err(error) => return Ended::Failed(error),
        }
    }
}

/// Locks, ignoring poisoning: every value behind these locks is valid at any point.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_jitters_below_it() {
        let backoff = Backoff { max: Duration::from_secs(8), ..Default::default() };
        let mut last = Duration::ZERO;
        for attempt in 1..=6 {
            let ceiling = backoff.delay(attempt, 0.0);
            assert!(ceiling >= last && ceiling <= Duration::from_secs(8));
            let low = backoff.delay(attempt, 0.999);
            assert!(low >= ceiling / 2 && low <= ceiling);
            last = ceiling;
        }
        assert_eq!(backoff.delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff.delay(u32::MAX, 0.0), Duration::from_secs(8));
    }

    #[test]
    fn latest_frame_keeps_only_the_newest() {
        let latest = LatestFrame::new();
        for index in 0..3 {
            let frame = Frame::from_rgb(2, 2, vec![0; 12], index).unwrap();
            latest.put(CameraFrame { camera: Arc::from("c"), connection: 1, received_at: Instant::now(), frame });
        }
        assert_eq!(latest.take().map(|f| f.frame.index), Some(2));
        assert!(latest.take().is_none());
        assert_eq!(latest.replaced(), 2);
        assert!(latest.wait(Duration::from_millis(20)).is_none());
    }

    #[test]
    fn a_deeper_mailbox_hands_the_newest_frames_oldest_first() {
        let mailbox = LatestFrame::with_depth(3);
        for index in 0..5 {
            let frame = Frame::from_rgb(2, 2, vec![0; 12], index).unwrap();
            mailbox.put(CameraFrame { camera: Arc::from("c"), connection: 1, received_at: Instant::now(), frame });
        }
        let taken: Vec<u64> = std::iter::from_fn(|| mailbox.take()).map(|f| f.frame.index).collect();
        assert_eq!(taken, [2, 3, 4]);
        assert_eq!(mailbox.replaced(), 2);
    }
}
