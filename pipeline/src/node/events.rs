//! What reaches the node's state: the typed events of its loop.

use std::time::{Duration, Instant, SystemTime};

use crate::analysis::{FrameAnalysis, ViewSample};
use crate::ingest::CameraState;
use crate::publish::Received;

/// One event of the node's loop. Cameras are numbered in site-file order.
#[derive(Debug)]
pub enum NodeEvent {
    /// A camera's frame went through the analysis (or failed to).
    Frame(AnalysedFrame),
    /// A camera's ingest state changed.
    CameraState { camera: usize, state: CameraState },
    /// A message arrived on a subscribed topic (an occupancy command).
    Command(Received),
    /// Time passed: close due intervals, watch health, update metrics. `frames_received` are the
    /// cameras' frame counters (for the metrics).
    Tick { now: Instant, wall: SystemTime, frames_received: Vec<u64> },
    /// Stop: publish the node's offline status.
    Shutdown,
}

/// One frame of one camera, analysed on the detection thread.
#[derive(Debug)]
pub struct AnalysedFrame {
    pub camera: usize,
    /// The camera's connection the frame came from (1, 2, …: later ones are reconnections).
    pub connection: u64,
    /// When the frame arrived from the camera, on the wall clock (what intervals are dated by)
    /// and on the monotonic one (what health is timed by).
    pub wall: SystemTime,
    pub seen: Instant,
    /// The analysis; `None` when the detector or the embedder failed on the frame (logged there).
    pub analysis: Option<FrameAnalysis>,
    /// The picture's luma spread in its centre (0..255): near 0 for a covered lens. About once a
    /// second, with `view`.
    pub luma_spread: Option<f64>,
    /// The picture reduced for the tamper watch (defocused, moved), about once a second.
    pub view: Option<ViewSample>,
    /// This frame's share of the detector's run.
    pub detector_time: Duration,
    /// The motion gate let it through but the node was behind: the tracker predicted over it.
    pub shed: bool,
    /// Frames of the camera dropped before this one because the node was further behind than
    /// its mailbox holds.
    pub dropped_before: u64,
}
