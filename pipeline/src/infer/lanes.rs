//! Frames detected side by side: each frame on its own [`Detector`] (its own ONNX Runtime
//! session, with its share of the cores), all at once, each on its own thread.
//!
//! A session's threads meet at the end of every layer and wait there for each other (and for
//! whatever else the box runs, such as the decoder); sessions of one thread each, each with its
//! own frame, never do. On 2 cores two such lanes detect 1.055× the frames a second of one session
//! of two threads (the graph alone), 1.108× in `lintel count` (README, "Two frames side by
//! side"). A lane costs a session's memory, and a frame the latency of a one-thread run.

use std::thread;

use crate::detection::Detection;
use crate::ingest::Frame;

use super::{Detector, InferError, Look};

/// The detectors a replay or a node runs: one for frames detected one at a time, and optionally
/// lanes that detect frames side by side ([`detect_side_by_side`]).
pub struct Detectors<'a> {
    /// Detects frames one at a time (with all the cores its session was given).
    pub whole: &'a mut Detector,
    /// Sessions of the same model with a share of the cores each; two or more: consecutive
    /// frames the gate sends to the detector are detected side by side, two at a time.
    pub lanes: &'a mut [Detector],
}

impl<'a> From<&'a mut Detector> for Detectors<'a> {
    fn from(whole: &'a mut Detector) -> Self {
        Self { whole, lanes: &mut [] }
    }
}

/// Detects `frames[i]` seen as `looks[i]` on `lanes[i]`, all at once; one result per frame, in
/// order. Frame 0 is detected on the calling thread. There must be a lane for every frame.
pub fn detect_side_by_side(
    lanes: &mut [Detector],
    frames: &[&Frame],
    looks: &[Look<'_>],
) -> Vec<Result<Vec<Detection>, InferError>> {
    assert!(frames.len() <= lanes.len(), "{} frames for {} lanes", frames.len(), lanes.len());
    let look = |i: usize| looks.get(i).copied().unwrap_or_default();
    let detect = |detector: &mut Detector, i: usize| -> Result<Vec<Detection>, InferError> {
        Ok(detector.detect_batch_looking(&[frames[i]], &[look(i)])?.pop().unwrap_or_default())
    };
    let Some((first, others)) = lanes[..frames.len()].split_first_mut() else { return Vec::new() };
    thread::scope(|scope| {
        let running: Vec<_> =
            others.iter_mut().enumerate().map(|(i, lane)| scope.spawn(move || detect(lane, i + 1))).collect();
        let mut results = vec![detect(first, 0)];
        results.extend(running.into_iter().map(|handle| match handle.join() {
            Ok(result) => result,
            // A panic inside a lane is a bug; it is raised here, on the caller's thread.
            Err(panic) => std::panic::resume_unwind(panic),
        }));
        results
    })
}
