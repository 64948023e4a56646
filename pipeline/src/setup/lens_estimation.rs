//! Estimating a camera's lens from a checkerboard a technician shows it: for a few seconds every
//! new frame of the camera is searched for the board (in memory, on the box; nothing is kept but
//! the corners), then OpenCV's calibration gives the lens.
//!
//! Each camera's estimation goes: none → running (views and frames counted as they come) →
//! done, with a lens or the reason there is none. One runs at a time per camera; a finished one
//! is kept for the page to read until the next starts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lintel_calibration::{Board, CheckerboardError, CheckerboardViews};
use serde::Serialize;

use super::lens_and_floor::LensView;
use super::{Refusal, SetupError};
use crate::live::{LiveFrame, LiveFrames, Picture, Said};

/// The longest a technician may capture checkerboard views for.
pub const MAX_ESTIMATE_S: f64 = 120.0;
/// How often the capture looks for a new frame.
const POLL: Duration = Duration::from_millis(50);

/// What a technician asked to capture: a board, for a while.
#[derive(Clone, Debug)]
pub struct CaptureRequest {
    board: Board,
    seconds: f64,
}

impl CaptureRequest {
    /// A board of `corners` inner corners (`COLUMNSxROWS`, `9x6`) with squares of `square_mm`,
    /// captured for `seconds` (1 to [`MAX_ESTIMATE_S`]).
    pub fn new(corners: &str, square_mm: f64, seconds: f64) -> Result<Self, SetupError> {
        let board = Board::parse(corners, square_mm).map_err(|e| Refusal::Board {
            message: e.to_string(),
            corners: corners.chars().filter(|c| !c.is_control()).take(32).collect(),
            square_mm,
        })?;
        if !(seconds.is_finite() && (1.0..=MAX_ESTIMATE_S).contains(&seconds)) {
            return Err(Refusal::CaptureSeconds { max: MAX_ESTIMATE_S, seconds }.into());
        }
        Ok(Self { board, seconds })
    }
}

/// A camera's lens estimation: under way, or its answer.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Estimation {
    pub running: bool,
    /// Views of the board kept so far, and frames searched.
    pub views: usize,
    pub frames: u64,
    pub seconds_left: u64,
    /// The lens and its fit, once estimated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<EstimatedLens>,
    /// Why there is no lens, when the estimation failed (English), and as the page says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub said: Option<Said>,
}

/// Why an estimation gave no lens: in English (the log, scripts) and as the page says it.
#[derive(Clone, Debug, PartialEq)]
pub struct NoLens {
    pub message: String,
    pub said: Said,
}

impl NoLens {
    /// Every catalogue key a [`NoLens`] may have (the pages' catalogues must have each).
    pub const CODES: [&'static str; 4] =
        ["estimate.not_found", "estimate.too_few_views", "estimate.poor_fit", "estimate.failed"];

    /// A failure the technician cannot act on from the page (the log says more).
    pub fn failed(message: impl Into<String>) -> Self {
        Self { message: message.into(), said: Said::new(Self::CODES[3], &[]) }
    }
}

impl From<CheckerboardError> for NoLens {
    fn from(error: CheckerboardError) -> Self {
        let message = error.to_string();
        let said = match &error {
            CheckerboardError::NotFound { board, frames } => {
                Said::new(Self::CODES[0], &[("board", board), ("frames", frames)])
            }
            CheckerboardError::TooFewViews { found, needed } => {
                Said::new(Self::CODES[1], &[("found", found), ("needed", needed)])
            }
            CheckerboardError::PoorFit { rms_px } => Said::new(Self::CODES[2], &[("rms_px", &format!("{rms_px:.2}"))]),
            _ => return Self::failed(message),
        };
        Self { message, said }
    }
}

/// A lens estimated from the views captured, in the camera's own picture size.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EstimatedLens {
    pub lens: LensView,
    /// Root-mean-square reprojection error, in pixels of the frames searched.
    pub rms_px: f64,
    /// Views the estimate used, and frames searched.
    pub views: usize,
    pub frames: u64,
}

/// Each camera's last lens estimation (site-file order).
#[derive(Debug, Default)]
pub struct LensEstimations {
    by_camera: Mutex<HashMap<usize, Estimation>>,
}

impl LensEstimations {
    fn locked(&self) -> MutexGuard<'_, HashMap<usize, Estimation>> {
        self.by_camera.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts an estimation on camera `camera`, forgetting its last one; refused while one runs.
    pub fn start(&self, camera: usize) -> Result<(), SetupError> {
        let mut estimations = self.locked();
        if estimations.get(&camera).is_some_and(|e| e.running) {
            return Err(SetupError::EstimationUnderWay);
        }
        estimations.insert(camera, Estimation { running: true, ..Estimation::default() });
        Ok(())
    }

    /// How camera `camera`'s estimation goes: `views` kept of `frames` searched, `seconds_left`.
    pub fn progress(&self, camera: usize, views: usize, frames: u64, seconds_left: u64) {
        let mut estimations = self.locked();
        let estimation = estimations.entry(camera).or_default();
        estimation.views = views;
        estimation.frames = frames;
        estimation.seconds_left = seconds_left;
    }

    /// Camera `camera`'s estimation is over, with a lens or why there is none.
    pub fn finish(&self, camera: usize, outcome: Result<EstimatedLens, NoLens>) {
        let mut estimations = self.locked();
        let estimation = estimations.entry(camera).or_default();
        estimation.running = false;
        estimation.seconds_left = 0;
        match outcome {
            Ok(result) => estimation.result = Some(result),
            Err(NoLens { message, said }) => {
                estimation.error = Some(message);
                estimation.said = Some(said);
            }
        }
    }

    /// Camera `camera`'s estimation, under way or done.
    pub fn get(&self, camera: usize) -> Result<Estimation, SetupError> {
        self.locked().get(&camera).cloned().ok_or(SetupError::NoEstimation)
    }
}

/// Starts estimating camera `camera`'s lens from its `live` frames, as `request` asks, on a
/// thread of its own; the answer goes to `estimations`. Refused while one runs on the camera.
pub fn start_estimation(
    estimations: &Arc<LensEstimations>,
    live: &LiveFrames,
    camera: usize,
    request: CaptureRequest,
) -> Result<(), SetupError> {
    estimations.start(camera)?;
    let (job, live) = (estimations.clone(), live.clone());
    let spawned = std::thread::Builder::new().name(format!("lens-estimate-{camera}")).spawn(move || {
        let capture = || capture_and_estimate(&job, &live, camera, request);
        // OpenCV is foreign code: whatever happens, the estimation ends.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(capture))
            .unwrap_or_else(|_| Err(NoLens::failed("the estimation failed; see the node's log")));
        match &outcome {
            Ok(result) => tracing::info!(camera, views = result.views, "lens estimated from the checkerboard"),
            Err(error) => tracing::warn!(camera, "no lens from the checkerboard: {}", error.message),
        }
        job.finish(camera, outcome);
    });
    if let Err(error) = spawned {
        estimations.finish(camera, Err(NoLens::failed(format!("cannot start the estimation: {error}"))));
    }
    Ok(())
}

/// Searches camera `camera`'s new frames for the board until the time asked is over, counting
/// progress into `estimations`, then estimates the lens.
fn capture_and_estimate(
    estimations: &LensEstimations,
    live: &LiveFrames,
    camera: usize,
    request: CaptureRequest,
) -> Result<EstimatedLens, NoLens> {
    let deadline = Instant::now() + Duration::from_secs_f64(request.seconds);
    let mut capture = Capture::new(request.board);
    while Instant::now() < deadline {
        live.watch(camera);
        if let Some(frame) = live.latest(camera)
            && capture.offer(frame)?
        {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs();
            estimations.progress(camera, capture.views.views(), capture.views.frames(), left);
        }
        std::thread::sleep(POLL);
    }
    capture.estimate()
}

/// The views of the board found so far in one camera's frames.
struct Capture {
    views: CheckerboardViews,
    /// The frame offered last: each frame is searched once.
    last: Option<Arc<LiveFrame>>,
    /// The camera's own picture size: the lens is given in it, as a technician would enter it
    /// (the frames searched are the detector's, maybe smaller).
    source_size: Option<(u32, u32)>,
}

impl Capture {
    fn new(board: Board) -> Self {
        Self { views: CheckerboardViews::new(board), last: None, source_size: None }
    }

    /// Searches `frame` for the board unless it was offered already (then `false`).
    fn offer(&mut self, frame: Arc<LiveFrame>) -> Result<bool, NoLens> {
        if self.last.as_ref().is_some_and(|last| Arc::ptr_eq(last, &frame)) {
            return Ok(false);
        }
        let searched = match &frame.picture {
            Some(live) => {
                let picture = &live.pixels;
                self.views.offer(&grey_of(picture), picture.width, picture.height)?;
                true
            }
            None => false,
        };
        self.source_size = Some(frame.analysis.size);
        self.last = Some(frame);
        Ok(searched)
    }

    /// The lens the views give, scaled to the camera's picture.
    fn estimate(self) -> Result<EstimatedLens, NoLens> {
        let estimate = self.views.estimate()?;
        let lens = match self.source_size {
            Some(size @ (w, h)) if w > 0 && h > 0 => estimate.lens.scaled_to(size),
            _ => estimate.lens,
        };
        Ok(EstimatedLens {
            lens: LensView::from(&lens),
            rms_px: estimate.rms_px,
            views: estimate.views,
            frames: self.views.frames(),
        })
    }
}

/// A picture's luma, for the checkerboard search.
fn grey_of(picture: &Picture) -> Vec<u8> {
    picture.rgb.chunks_exact(3).map(crate::ingest::luma).collect()
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::analysis::FrameAnalysis;

    fn refusal(result: Result<CaptureRequest, SetupError>) -> String {
        match result {
            Err(SetupError::Refused(why)) => why.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    fn frame(picture_size: Option<(u32, u32)>) -> Arc<LiveFrame> {
        let picture = picture_size.map(|(width, height)| {
            let pixels = Picture { width, height, rgb: vec![128; width as usize * height as usize * 3] };
            Arc::new(crate::live::LivePicture { pixels, hidden: crate::privacy::Hidden::everything(width, height) })
        });
        Arc::new(LiveFrame {
            wall: SystemTime::now(),
            picture,
            analysis: FrameAnalysis {
                index: 0,
                pts: None,
                size: (64, 48),
                detected: true,
                detections: 0,
                implausible: 0,
                embedded: 0,
                people: Vec::new(),
                events: Vec::new(),
            },
        })
    }

    #[test]
    fn a_request_needs_a_board_and_a_sensible_duration() {
        assert!(CaptureRequest::new("9x6", 30.0, 5.0).is_ok());
        assert!(refusal(CaptureRequest::new("0x0", 30.0, 5.0)).contains("COLUMNSxROWS"));
        assert!(refusal(CaptureRequest::new("9x6", -1.0, 5.0)).contains("square size"));
        for seconds in [0.5, 121.0, f64::NAN, 1e9] {
            assert!(refusal(CaptureRequest::new("9x6", 30.0, seconds)).starts_with("capture for 1 to 120 seconds"));
        }
    }

    #[test]
    fn a_second_estimation_is_refused_while_one_runs_and_allowed_after() {
        let estimations = LensEstimations::default();
        assert!(matches!(estimations.get(0), Err(SetupError::NoEstimation)));
        estimations.start(0).unwrap();
        assert!(matches!(estimations.start(0), Err(SetupError::EstimationUnderWay)));
        estimations.start(1).unwrap();
        estimations.progress(0, 3, 40, 7);
        let running = estimations.get(0).unwrap();
        assert!(running.running);
        assert_eq!((running.views, running.frames, running.seconds_left), (3, 40, 7));
        let not_found = CheckerboardError::NotFound { board: "9x6".into(), frames: 40 };
        estimations.finish(0, Err(not_found.into()));
        let done = estimations.get(0).unwrap();
        assert!(!done.running);
        assert!(done.error.as_deref().is_some_and(|e| e.starts_with("the board (9x6) was not found")), "{done:?}");
        assert_eq!(done.said, Some(Said::new("estimate.not_found", &[("board", &"9x6"), ("frames", &40)])));
        let poor = NoLens::from(CheckerboardError::PoorFit { rms_px: 2.4567 });
        assert_eq!(poor.said, Said::new("estimate.poor_fit", &[("rms_px", &"2.46")]));
        assert_eq!(NoLens::from(CheckerboardError::OpenCv("x".into())).said.code, "estimate.failed");
        estimations.start(0).unwrap();
        assert_eq!(estimations.get(0).unwrap(), Estimation { running: true, ..Estimation::default() }, "not forgotten");
    }

    #[test]
    fn an_estimation_reads_as_the_page_expects() {
        let estimations = LensEstimations::default();
        estimations.start(0).unwrap();
        let lens = LensView { size: [768, 576], focal: [560.0, 560.0], centre: [380.0, 292.0], distortion: [0.0; 5] };
        estimations.finish(0, Ok(EstimatedLens { lens, rms_px: 0.25, views: 12, frames: 90 }));
        let json = serde_json::to_value(estimations.get(0).unwrap()).unwrap();
        assert_eq!(json["running"], false);
        assert_eq!(json["result"]["lens"]["focal"], serde_json::json!([560.0, 560.0]));
        assert_eq!((json["result"]["rms_px"].as_f64(), json["result"]["frames"].as_u64()), (Some(0.25), Some(90)));
        assert!(json.get("error").is_none(), "{json}");
    }

    #[test]
    fn each_frame_is_searched_once_and_one_of_another_size_is_refused() {
        let mut capture = Capture::new(Board::parse("9x6", 30.0).unwrap());
        let first = frame(Some((64, 48)));
        assert!(capture.offer(first.clone()).unwrap());
        assert!(!capture.offer(first).unwrap(), "the same frame searched twice");
        assert!(!capture.offer(frame(None)).unwrap(), "a frame without its picture searched");
        assert_eq!(capture.views.frames(), 1);
        let refused = capture.offer(frame(Some((32, 24)))).unwrap_err();
        assert!(refused.message.contains("the first was 64×48"), "{refused:?}");
        let none = capture.estimate().unwrap_err();
        assert!(none.message.contains("not found in any of 1 frames"), "{none:?}");
        assert_eq!(none.said.code, "estimate.not_found");
    }

    #[test]
    fn an_estimation_ends_when_its_time_is_over_with_the_reason_there_is_no_lens() {
        let live = LiveFrames::default();
        live.put(0, (*frame(Some((64, 48)))).clone());
        let estimations = Arc::new(LensEstimations::default());
        let request = CaptureRequest::new("9x6", 30.0, 1.0).unwrap();
        start_estimation(&estimations, &live, 0, request.clone()).unwrap();
        assert!(matches!(start_estimation(&estimations, &live, 0, request), Err(SetupError::EstimationUnderWay)));
        let deadline = Instant::now() + Duration::from_secs(20);
        while estimations.get(0).unwrap().running {
            assert!(Instant::now() < deadline, "still running: {:?}", estimations.get(0));
            std::thread::sleep(Duration::from_millis(50));
        }
        let done = estimations.get(0).unwrap();
        assert_eq!((done.frames, done.views, done.result), (1, 0, None));
        assert!(done.error.unwrap().contains("was not found"));
        assert!(live.watched(0), "the capture did not ask for pictures");
    }
}
