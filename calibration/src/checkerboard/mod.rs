//! Estimating a camera's [`Lens`] from views of a printed checkerboard, with OpenCV's calib3d.
//!
//! A technician holds a board of known size in front of the camera and moves it slowly across the
//! picture, tilted this way and that, corners of the picture included (distortion is strongest
//! there). Each frame is offered to `CheckerboardViews`: frames without the board are rejected
//! cheaply, frames where the board barely moved are not kept, and from the kept views it solves for
//! the intrinsics and distortion.
//!
//! The estimation (`CheckerboardViews` and what it returns) needs OpenCV and is behind the crate's
//! `checkerboard` feature. The [`Board`], its [`CheckerboardError`]s and the renderer are pure
//! Rust and always there: [`render_view`] draws what such a camera would see of a board in a
//! [`BoardPose`]; the tests check the estimate against a known lens with it, and a technician can
//! try the route without a printed board.

mod render;
#[cfg(feature = "checkerboard")]
mod views;

pub use render::{BoardPose, ViewRenderer, render_view, sweep_poses};
#[cfg(feature = "checkerboard")]
pub use views::{CheckerboardViews, DistortionTerms, LensEstimate, MAX_VIEWS, MIN_VIEWS, Offer};

#[cfg(doc)]
use crate::Lens;

/// A printed checkerboard, counted by its **inner** corners (where four squares meet): a board of
/// 10 × 7 squares has 9 × 6 inner corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Board {
    /// Inner corners along a row (across the board).
    pub columns: u32,
    /// Inner corners along a column (down the board).
    pub rows: u32,
    /// Side of one printed square, in millimetres (measure it: printers scale).
    pub square_mm: f64,
}

impl Board {
    /// A board from `COLUMNSxROWS` inner corners (`9x6`, also `9×6`) and the side of a square.
    ///
    /// ```
    /// use lintel_calibration::checkerboard::Board;
    /// let board = Board::parse("9x6", 30.0).unwrap();
    /// assert_eq!((board.columns, board.rows), (9, 6));
    /// assert!(Board::parse("9", 30.0).is_err());
    /// ```
    pub fn parse(corners: &str, square_mm: f64) -> Result<Board, CheckerboardError> {
        let bad = || CheckerboardError::BadBoard(corners.to_string());
        let (columns, rows) = corners.trim().split_once(['x', 'X', '×']).ok_or_else(bad)?;
        let columns: u32 = columns.trim().parse().map_err(|_| bad())?;
        let rows: u32 = rows.trim().parse().map_err(|_| bad())?;
        // OpenCV needs at least 3 × 3 inner corners; more than 100 is a miscount, not a board.
        if !(3..=100).contains(&columns) || !(3..=100).contains(&rows) {
            return Err(bad());
        }
        if !(square_mm.is_finite() && square_mm > 0.0) {
            return Err(CheckerboardError::BadSquare(square_mm));
        }
        Ok(Board { columns, rows, square_mm })
    }

    /// Number of inner corners.
    pub fn corners(&self) -> usize {
        self.columns as usize * self.rows as usize
    }
}

impl std::fmt::Display for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{} inner corners of {} mm", self.columns, self.rows, self.square_mm)
    }
}

/// Why a board, a frame or an estimate was refused: one line that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CheckerboardError {
    #[error(
        "board {0:?}: give its inner corners as COLUMNSxROWS, e.g. 9x6 (count where four squares meet, not the squares; 3 to 100 each way)"
    )]
    BadBoard(String),
    #[error("square size {0} mm: measure the side of one printed square in millimetres")]
    BadSquare(f64),
    #[error("a {width}×{height} grey frame has {} bytes, this one has {bytes}", *width as usize * *height as usize)]
    FrameBytes { width: u32, height: u32, bytes: usize },
    #[error(
        "this frame is {}×{} but the first was {}×{}: offer frames of one stream at one size (start again to change it)",
        got.0, got.1, expected.0, expected.1
    )]
    FrameSize { expected: (u32, u32), got: (u32, u32) },
    #[error(
        "the board ({board}) was not found in any of {frames} frames: check the inner-corner count, that the whole board and a white margin around it are in the picture, and that it is lit evenly and sharp"
    )]
    NotFound { board: String, frames: u64 },
    #[error(
        "the board was found in {found} views; at least {needed} are needed: show it at more places and angles, corners of the picture included"
    )]
    TooFewViews { found: usize, needed: usize },
    #[error(
        "the estimate did not fit the views (reprojection error {rms_px:.2} px): hold the board flat, still and sharp, at more places and angles"
    )]
    PoorFit { rms_px: f64 },
    /// Kept without the `checkerboard` feature too, so that a match on the error is the same
    /// whichever crates enable it.
    #[error("OpenCV failed: {0}")]
    OpenCv(String),
}

#[cfg(feature = "checkerboard")]
impl From<opencv::Error> for CheckerboardError {
    fn from(e: opencv::Error) -> Self {
        CheckerboardError::OpenCv(e.message)
    }
}

/// What the checkerboard tests draw and find: a wide-angle lens with strong barrel distortion at
/// 768×576, and a 9×6 board of 30 mm squares.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::Board;
    use crate::Lens;

    pub fn wide_angle_lens() -> Lens {
        Lens {
            size: (768, 576),
            focal: (560.0, 560.0),
            centre: (380.0, 292.0),
            distortion: [-0.28, 0.09, 0.0, 0.0, 0.0],
        }
    }

    pub fn board() -> Board {
        Board { columns: 9, rows: 6, square_mm: 30.0 }
    }
}
