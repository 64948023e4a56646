//! Views of a checkerboard, collected frame by frame, and the lens OpenCV estimates from them.

use opencv::calib3d;
use opencv::core::{Mat, Point2f, Point3f, Size, TermCriteria, TermCriteria_Type, Vector};
use opencv::imgproc;
use opencv::prelude::*;

use super::{Board, CheckerboardError};
use crate::Lens;

/// Fewest views [`CheckerboardViews::estimate`] accepts: with fewer, the distortion terms trade
/// off against the focal length and the estimate wanders.
pub const MIN_VIEWS: usize = 8;
/// Most views kept: more add time to the estimate but little accuracy.
pub const MAX_VIEWS: usize = 30;
/// A view is kept when it differs from every kept view: its corners moved, on average, more than
/// this fraction of the picture's diagonal, or the board turned by [`MIN_TURN`] (a board held
/// still gives the same view many times).
pub const MIN_MOVE: f64 = 0.04;
/// … or the board turned: the logarithms of the ratios of its opposite edges (left to right, top
/// to bottom, as the picture shows them) changed by this much together, about 10° of turn for a
/// board that fills half the picture. Turns are what tell the focal length from the distance.
pub const MIN_TURN: f64 = 0.1;
/// Frames larger than this (either side, pixels) are searched for the board at this size, and the
/// corners refined at full size: the search costs with the picture's area.
const SEARCH_SIDE: u32 = 1280;
/// An estimate whose reprojection error exceeds this (pixels) is refused: a board found where it
/// is not, or one bent or blurred.
const MAX_RMS_PX: f64 = 2.0;

/// What happened to one offered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The board was found and the view kept.
    Kept,
    /// The board was found, but too close to a kept view to add anything.
    Similar,
    /// No board in this frame (or not all of its corners).
    NotFound,
}

/// The distortion terms [`CheckerboardViews::estimate_with`] solves for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DistortionTerms {
    /// k1, k2, p1, p2, with k3 = 0 (OpenCV's `CALIB_FIX_K3`): the default. Views a technician
    /// takes by hand seldom pin down a third radial term, which then trades off against k1 and k2
    /// and extrapolates badly beyond the views.
    #[default]
    FixK3,
    /// k1, k2, p1, p2, k3: for fisheye-like lenses, with many views reaching the picture's corners.
    WithK3,
}

/// A lens estimated from checkerboard views.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LensEstimate {
    /// The lens, for pictures of the size of the frames offered.
    pub lens: Lens,
    /// Root-mean-square distance between the corners found and those the lens puts back, in
    /// pixels: a few tenths for a good set of views.
    pub rms_px: f64,
    /// Views the estimate used.
    pub views: usize,
}

/// Views of one board in frames of one stream, kept as they differ (see [`Offer`]), and the lens
/// they give.
///
/// ```no_run
/// use lintel_calibration::checkerboard::{Board, CheckerboardViews, Offer};
/// # fn frames() -> Vec<Vec<u8>> { vec![] }
/// let mut views = CheckerboardViews::new(Board::parse("9x6", 30.0)?);
/// for grey in frames() {
///     if views.offer(&grey, 768, 576)? == Offer::Kept {
///         println!("{} views", views.views());
///     }
/// }
/// let estimate = views.estimate()?;
/// println!("{:?}, RMS {:.2} px over {} views", estimate.lens, estimate.rms_px, estimate.views);
/// # Ok::<(), lintel_calibration::checkerboard::CheckerboardError>(())
/// ```
///
/// Views are kept while they differ from every kept view ([`MIN_MOVE`], [`MIN_TURN`]); past
/// [`MAX_VIEWS`], a new view replaces the most crowded one (the closest to another) when it lies
/// further from the rest than that one does, so the views keep spreading out, to the picture's
/// corners where distortion is strongest.
#[derive(Debug, Clone)]
pub struct CheckerboardViews {
    board: Board,
    /// The first frame's size: every frame must have it.
    size: Option<(u32, u32)>,
    views: Vec<View>,
    frames: u64,
}

impl CheckerboardViews {
    /// No views yet of `board`.
    pub fn new(board: Board) -> Self {
        Self { board, size: None, views: Vec::new(), frames: 0 }
    }

    /// Looks for the board in one grey frame (8-bit, row-major, `width` × `height`, no padding)
    /// and keeps the view if it adds to the others.
    pub fn offer(&mut self, grey: &[u8], width: u32, height: u32) -> Result<Offer, CheckerboardError> {
        let pixels = (width as usize).checked_mul(height as usize);
        if width == 0 || height == 0 || pixels != Some(grey.len()) || width > i32::MAX as u32 {
            return Err(CheckerboardError::FrameBytes { width, height, bytes: grey.len() });
        }
        match self.size {
            Some(expected) if expected != (width, height) => {
                return Err(CheckerboardError::FrameSize { expected, got: (width, height) });
            }
            _ => self.size = Some((width, height)),
        }
        self.frames += 1;
        let Some(corners) = find_corners(&self.board, grey, width, height)? else {
            return Ok(Offer::NotFound);
        };
        let diagonal = f64::from(width).hypot(f64::from(height));
        Ok(self.keep(View::new(&self.board, corners), diagonal))
    }

    fn keep(&mut self, view: View, diagonal: f64) -> Offer {
        let nearest = self.views.iter().map(|kept| kept.difference(&view, diagonal)).fold(f64::INFINITY, f64::min);
        if nearest <= 1.0 {
            return Offer::Similar;
        }
        if self.views.len() < MAX_VIEWS {
            self.views.push(view);
            return Offer::Kept;
        }
        // Full: the most crowded view, and how far it is from its nearest.
        let gap = |i: usize, of: &View| {
            (0..self.views.len())
                .filter(|&j| j != i)
                .map(|j| self.views[j].difference(of, diagonal))
                .fold(f64::INFINITY, f64::min)
        };
        let (crowded, crowded_gap) = (0..self.views.len())
            .map(|i| (i, gap(i, &self.views[i])))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::INFINITY));
        if gap(crowded, &view) > crowded_gap {
            self.views[crowded] = view;
            Offer::Kept
        } else {
            Offer::Similar
        }
    }

    /// Views kept so far.
    pub fn views(&self) -> usize {
        self.views.len()
    }

    /// Frames offered so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The board looked for.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The lens that best explains the kept views, solving for k1, k2, p1 and p2 (k3 = 0; see
    /// [`DistortionTerms::FixK3`]).
    pub fn estimate(&self) -> Result<LensEstimate, CheckerboardError> {
        self.estimate_with(DistortionTerms::default())
    }

    /// The lens that best explains the kept views, solving for `terms`: OpenCV's
    /// `calibrateCamera`, with the board's corners in millimetres.
    pub fn estimate_with(&self, terms: DistortionTerms) -> Result<LensEstimate, CheckerboardError> {
        let size = match self.size {
            Some(size) if !self.views.is_empty() => size,
            Some(_) => return Err(CheckerboardError::NotFound { board: self.board.to_string(), frames: self.frames }),
            None => return Err(CheckerboardError::TooFewViews { found: 0, needed: MIN_VIEWS }),
        };
        if self.views.len() < MIN_VIEWS {
            return Err(CheckerboardError::TooFewViews { found: self.views.len(), needed: MIN_VIEWS });
        }
        let board: Vector<Point3f> = (0..self.board.rows)
            .flat_map(|j| (0..self.board.columns).map(move |i| (i, j)))
            .map(|(i, j)| {
                let sq = self.board.square_mm as f32;
                Point3f::new(i as f32 * sq, j as f32 * sq, 0.0)
            })
            .collect();
        let object_points: Vector<Vector<Point3f>> = self.views.iter().map(|_| board.clone()).collect();
        let image_points: Vector<Vector<Point2f>> =
            self.views.iter().map(|view| view.corners.iter().copied().collect::<Vector<Point2f>>()).collect();
        let mut camera = Mat::default();
        let mut distortion = Mat::default();
        let (mut rvecs, mut tvecs) = (Vector::<Mat>::new(), Vector::<Mat>::new());
        let flags = match terms {
            DistortionTerms::FixK3 => calib3d::CALIB_FIX_K3,
            DistortionTerms::WithK3 => 0,
        };
        let criteria =
            TermCriteria::new(TermCriteria_Type::COUNT as i32 + TermCriteria_Type::EPS as i32, 100, f64::EPSILON)?;
        let rms_px = calib3d::calibrate_camera(
            &object_points,
            &image_points,
            Size::new(size.0 as i32, size.1 as i32),
            &mut camera,
            &mut distortion,
            &mut rvecs,
            &mut tvecs,
            flags,
            criteria,
        )?;
        if !rms_px.is_finite() || rms_px > MAX_RMS_PX {
            return Err(CheckerboardError::PoorFit { rms_px });
        }
        let k = |row: i32, col: i32| camera.at_2d::<f64>(row, col).copied();
        let coefficients = distortion.data_typed::<f64>()?;
        let mut d = [0.0; 5];
        for (to, from) in d.iter_mut().zip(coefficients) {
            *to = *from;
        }
        let lens = Lens { size, focal: (k(0, 0)?, k(1, 1)?), centre: (k(0, 2)?, k(1, 2)?), distortion: d };
        if !(lens.focal.0 > 0.0 && lens.focal.1 > 0.0) {
            return Err(CheckerboardError::PoorFit { rms_px });
        }
        Ok(LensEstimate { lens, rms_px, views: self.views.len() })
    }
}

/// The board's inner corners in a grey frame, row by row, to a tenth of a pixel or better; `None`
/// when not all of them are found.
///
/// `findChessboardCorners` with the fast check, then `cornerSubPix`. The fast check is what makes
/// frames without the board affordable: on the PETS walkway clip (768 × 576, people, no board)
/// 19 ms a frame with it, 320 ms without; a frame with the board costs 3–5 ms. On the tests'
/// rendered views this recovered the lens to 0.76 px; `findChessboardCornersSB` (sector-based,
/// with `CALIB_CB_ACCURACY`) took 210 ms a frame and recovered it to 1.2 px.
fn find_corners(
    board: &Board,
    grey: &[u8],
    width: u32,
    height: u32,
) -> Result<Option<Vec<Point2f>>, CheckerboardError> {
    let image = Mat::new_rows_cols_with_data(height as i32, width as i32, grey)?;
    let pattern = Size::new(board.columns as i32, board.rows as i32);
    let mut corners = Vector::<Point2f>::new();
    let flags = calib3d::CALIB_CB_ADAPTIVE_THRESH | calib3d::CALIB_CB_NORMALIZE_IMAGE | calib3d::CALIB_CB_FAST_CHECK;
    let scale = f64::from(SEARCH_SIDE) / f64::from(width.max(height));
    let found = if scale < 1.0 {
        let mut small = Mat::default();
        imgproc::resize(&image, &mut small, Size::default(), scale, scale, imgproc::INTER_AREA)?;
        let found = calib3d::find_chessboard_corners(&small, pattern, &mut corners, flags)?;
        corners = corners.iter().map(|p| Point2f::new(p.x / scale as f32, p.y / scale as f32)).collect();
        found
    } else {
        calib3d::find_chessboard_corners(&image, pattern, &mut corners, flags)?
    };
    if !found || corners.len() != board.corners() {
        return Ok(None);
    }
    // The refining window must stay within a square: under half the distance between
    // neighbouring corners, at most OpenCV's usual 11 (a 23-pixel window).
    let half = (spacing(board, &corners) * 0.45).floor().clamp(2.0, 11.0) as i32;
    let criteria = TermCriteria::new(TermCriteria_Type::COUNT as i32 + TermCriteria_Type::EPS as i32, 40, 0.001)?;
    imgproc::corner_sub_pix(&image, &mut corners, Size::new(half, half), Size::new(-1, -1), criteria)?;
    Ok(Some(corners.to_vec()))
}

/// The shortest distance between neighbouring corners (pixels).
fn spacing(board: &Board, corners: &Vector<Point2f>) -> f64 {
    let (columns, rows) = (board.columns as usize, board.rows as usize);
    let at = |i: usize, j: usize| corners.get(j * columns + i).unwrap_or_default();
    let distance = |a: Point2f, b: Point2f| f64::from(a.x - b.x).hypot(f64::from(a.y - b.y));
    let mut shortest = f64::INFINITY;
    for j in 0..rows {
        for i in 0..columns {
            if i + 1 < columns {
                shortest = shortest.min(distance(at(i, j), at(i + 1, j)));
            }
            if j + 1 < rows {
                shortest = shortest.min(distance(at(i, j), at(i, j + 1)));
            }
        }
    }
    shortest
}

/// One kept view of the board.
#[derive(Debug, Clone)]
struct View {
    /// The inner corners, row by row of the board, in pixels.
    corners: Vec<Point2f>,
    /// How the board is turned, as the picture shows it: ln(left edge ÷ right edge) and
    /// ln(top edge ÷ bottom edge) of the corners' outline.
    turn: [f64; 2],
}

impl View {
    fn new(board: &Board, corners: Vec<Point2f>) -> Self {
        let (columns, rows) = (board.columns as usize, board.rows as usize);
        let at = |i: usize, j: usize| corners.get(j * columns + i).copied().unwrap_or_default();
        let length = |a: Point2f, b: Point2f| f64::from(a.x - b.x).hypot(f64::from(a.y - b.y)).max(1e-6);
        let (top_left, top_right) = (at(0, 0), at(columns - 1, 0));
        let (bottom_left, bottom_right) = (at(0, rows - 1), at(columns - 1, rows - 1));
        let turn = [
            (length(top_left, bottom_left) / length(top_right, bottom_right)).ln(),
            (length(top_left, top_right) / length(bottom_left, bottom_right)).ln(),
        ];
        Self { corners, turn }
    }

    /// How different two views are, in units of the smallest difference worth keeping: the
    /// larger of the corners' mean displacement over [`MIN_MOVE`] of the `diagonal` and the change
    /// of turn over [`MIN_TURN`]. OpenCV may number a board from either end (it looks the same
    /// turned half a turn), so both orders are compared.
    fn difference(&self, other: &View, diagonal: f64) -> f64 {
        let mean = |pairs: &mut dyn Iterator<Item = (&Point2f, &Point2f)>| {
            let (mut sum, mut n) = (0.0, 0usize);
            for (p, q) in pairs {
                sum += f64::from(p.x - q.x).hypot(f64::from(p.y - q.y));
                n += 1;
            }
            if n == 0 { f64::INFINITY } else { sum / n as f64 }
        };
        let turned =
            |sign: f64| (self.turn[0] - sign * other.turn[0]).abs() + (self.turn[1] - sign * other.turn[1]).abs();
        let same_order = mean(&mut self.corners.iter().zip(&other.corners)) / (MIN_MOVE * diagonal);
        // Numbered from the other end, left and right (top and bottom) swap places.
        let reversed = mean(&mut self.corners.iter().zip(other.corners.iter().rev())) / (MIN_MOVE * diagonal);
        same_order.max(turned(1.0) / MIN_TURN).min(reversed.max(turned(-1.0) / MIN_TURN))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::checkerboard::fixtures::{board, wide_angle_lens};
    use crate::checkerboard::{BoardPose, ViewRenderer, render_view, sweep_poses};

    fn rendered(lens: &Lens, board: &Board, count: usize) -> Vec<Vec<u8>> {
        let renderer = ViewRenderer::new(lens);
        sweep_poses(lens, board, count).iter().map(|pose| renderer.render(board, pose)).collect()
    }

    fn opencv_matrices(lens: &Lens) -> (Mat, Mat) {
        let camera = Mat::from_slice_2d(&[
            [lens.focal.0, 0.0, lens.centre.0],
            [0.0, lens.focal.1, lens.centre.1],
            [0.0, 0.0, 1.0],
        ])
        .unwrap();
        let distortion = Mat::from_slice(&lens.distortion).unwrap().try_clone().unwrap();
        (camera, distortion)
    }

    #[test]
    fn recovers_a_known_lens_from_rendered_views() {
        let lens = wide_angle_lens();
        let board = board();
        let frames = rendered(&lens, &board, 20);
        let mut views = CheckerboardViews::new(board);
        let started = Instant::now();
        let offers: Vec<Offer> = frames.iter().map(|f| views.offer(f, 768, 576).unwrap()).collect();
        let per_frame = started.elapsed() / frames.len() as u32;
        // Every view shows the board; a few may be too like another to keep.
        assert!(offers.iter().all(|&o| o != Offer::NotFound), "{offers:?}");
        assert!(views.views() >= 18, "{offers:?}");
        for terms in [DistortionTerms::FixK3, DistortionTerms::WithK3] {
            let estimate = views.estimate_with(terms).unwrap();
            let difference = lens.max_difference_px(&estimate.lens);
            let focal_error = (estimate.lens.focal.0 / lens.focal.0 - 1.0)
                .abs()
                .max((estimate.lens.focal.1 / lens.focal.1 - 1.0).abs());
            eprintln!(
                "{terms:?}: {} views, offer {per_frame:?}/frame, RMS {:.3} px, max difference {difference:.3} px, focal error {:.2} %, {:?}",
                estimate.views,
                estimate.rms_px,
                100.0 * focal_error,
                estimate.lens
            );
            // The default holds to the stated tolerance; solving for k3 too is printed for
            // comparison (it fits the views as well but extrapolates worse into the corners).
            if terms == DistortionTerms::FixK3 {
                assert!(difference < 1.0, "{terms:?}: {difference} px");
                assert!(focal_error < 0.02, "{terms:?}: focal {:?}", estimate.lens.focal);
            }
        }
    }

    #[test]
    fn a_frame_without_a_board_is_not_found_and_cheap() {
        // A smooth gradient with a few bars: structure, but no checkerboard.
        let (w, h) = (768u32, 576u32);
        let grey: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if (x / 40) % 5 == 0 { 20 } else { (60 + (x + y) / 10) as u8 }
            })
            .collect();
        let mut views = CheckerboardViews::new(board());
        let started = Instant::now();
        for _ in 0..10 {
            assert_eq!(views.offer(&grey, w, h).unwrap(), Offer::NotFound);
        }
        let per_frame = started.elapsed() / 10;
        eprintln!("no board: {per_frame:?}/frame");
        assert!(per_frame.as_millis() < 50, "{per_frame:?} per frame without a board");
        assert_eq!(views.views(), 0);
        let error = views.estimate().unwrap_err();
        assert!(matches!(error, CheckerboardError::NotFound { frames: 10, .. }), "{error}");
    }

    #[test]
    fn a_still_board_is_kept_once_and_too_few_views_are_refused() {
        let lens = wide_angle_lens();
        let board = board();
        let poses = sweep_poses(&lens, &board, 3);
        let mut views = CheckerboardViews::new(board);
        let first = render_view(&lens, &board, &poses[0]);
        assert_eq!(views.offer(&first, 768, 576).unwrap(), Offer::Kept);
        assert_eq!(views.offer(&first, 768, 576).unwrap(), Offer::Similar);
        // Moved by 1 mm: the same view for calibration.
        let nudged = BoardPose {
            translation_mm: [poses[0].translation_mm[0] + 1.0, poses[0].translation_mm[1], poses[0].translation_mm[2]],
            ..poses[0]
        };
        assert_eq!(views.offer(&render_view(&lens, &board, &nudged), 768, 576).unwrap(), Offer::Similar);
        for pose in &poses[1..] {
            assert_eq!(views.offer(&render_view(&lens, &board, pose), 768, 576).unwrap(), Offer::Kept);
        }
        let error = views.estimate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "the board was found in 3 views; at least 8 are needed: show it at more places and angles, corners of the picture included"
        );
    }

    #[test]
    fn a_large_frame_is_searched_smaller_and_refined_at_full_size() {
        let lens = wide_angle_lens();
        let board = board();
        let picture = render_view(&lens, &board, &sweep_poses(&lens, &board, 1)[0]);
        // The same picture at twice the size (each pixel four times): past SEARCH_SIDE.
        let (w, h) = (768 * 2, 576 * 2);
        let large: Vec<u8> = (0..w * h).map(|i| picture[(i / w / 2) * 768 + (i % w) / 2]).collect();
        let mut small_views = CheckerboardViews::new(board);
        let mut large_views = CheckerboardViews::new(board);
        assert_eq!(small_views.offer(&picture, 768, 576).unwrap(), Offer::Kept);
        assert_eq!(large_views.offer(&large, w as u32, h as u32).unwrap(), Offer::Kept);
        // Pixel i of the small picture covers pixels 2i and 2i + 1: its centre is at 2i + 0.5.
        // (The blocky copy moves edges by up to half a pixel, hence the tolerance.)
        let mut worst: f32 = 0.0;
        for (small, large) in small_views.views[0].corners.iter().zip(&large_views.views[0].corners) {
            worst = worst.max((large.x - 2.0 * small.x - 0.5).hypot(large.y - 2.0 * small.y - 0.5));
        }
        eprintln!("large frame: corners within {worst:.2} px of the small frame's, doubled");
        assert!(worst < 0.6, "{worst} px");
    }

    #[test]
    fn views_can_be_kept_across_threads() {
        // A web endpoint keeps them between requests.
        fn shared<T: Send + Sync + 'static>() {}
        shared::<CheckerboardViews>();
    }

    #[test]
    fn frames_must_keep_their_size_and_length() {
        let mut views = CheckerboardViews::new(board());
        views.offer(&vec![128; 64 * 48], 64, 48).unwrap();
        let error = views.offer(&vec![128; 32 * 24], 32, 24).unwrap_err();
        assert!(matches!(error, CheckerboardError::FrameSize { expected: (64, 48), got: (32, 24) }), "{error}");
        let error = views.offer(&[0; 10], 64, 48).unwrap_err();
        assert!(matches!(error, CheckerboardError::FrameBytes { .. }), "{error}");
    }

    #[test]
    fn past_the_limit_views_spread_out() {
        let board = board();
        let mut views = CheckerboardViews::new(board);
        let view = |dx: f32| {
            View::new(
                &board,
                (0..54).map(|i| Point2f::new(dx + (i % 9) as f32 * 10.0, (i / 9) as f32 * 10.0)).collect(),
            )
        };
        // Views must move 5 px to count.
        let diagonal = 5.0 / MIN_MOVE;
        for k in 0..MAX_VIEWS {
            assert_eq!(views.keep(view(k as f32 * 10.0), diagonal), Offer::Kept);
        }
        // Between two kept views: nothing gained.
        assert_eq!(views.keep(view(15.0), diagonal), Offer::Similar);
        // Far beyond them: it replaces a crowded one.
        assert_eq!(views.keep(view(1000.0), diagonal), Offer::Kept);
        assert_eq!(views.views(), MAX_VIEWS);
        assert!(views.views.iter().any(|v| v.corners[0].x == 1000.0));
    }

    /// The pure-Rust lens is OpenCV's: `Lens::undistort` agrees with `undistortPoints`, and
    /// `Lens::distort` with `projectPoints`, across the picture.
    #[test]
    fn the_rust_lens_model_is_opencvs() {
        let lens = Lens {
            size: (768, 576),
            focal: (560.0, 575.0),
            centre: (380.0, 292.0),
            distortion: [-0.28, 0.09, 0.001, -0.0008, -0.01],
        };
        let (camera, distortion) = opencv_matrices(&lens);
        let grid: Vec<(f64, f64)> =
            (0..=16).flat_map(|i| (0..=12).map(move |j| (768.0 * i as f64 / 16.0, 576.0 * j as f64 / 12.0))).collect();

        let seen: Vector<Point2f> = grid.iter().map(|&(u, v)| Point2f::new(u as f32, v as f32)).collect();
        let mut undistorted = Vector::<Point2f>::new();
        let criteria =
            TermCriteria::new(TermCriteria_Type::COUNT as i32 + TermCriteria_Type::EPS as i32, 100, 1e-12).unwrap();
        calib3d::undistort_points_iter(
            &seen,
            &mut undistorted,
            &camera,
            &distortion,
            &Mat::default(),
            &camera,
            criteria,
        )
        .unwrap();
        let mut worst: f64 = 0.0;
        for (&p, q) in grid.iter().zip(undistorted.iter()) {
            let ours = lens.undistort(p);
            worst = worst.max((ours.0 - f64::from(q.x)).hypot(ours.1 - f64::from(q.y)));
        }
        eprintln!("undistort vs undistortPoints: {worst:.4} px");
        assert!(worst < 0.05, "undistort differs from OpenCV's by {worst} px");

        // projectPoints of points on the plane z = 1 in front of the camera, at the pinhole
        // positions of the grid.
        let pinhole: Vec<(f64, f64)> = grid.iter().map(|&p| lens.undistort(p)).collect();
        let rays: Vector<Point3f> = pinhole
            .iter()
            .map(|&(u, v)| {
                Point3f::new(
                    ((u - lens.centre.0) / lens.focal.0) as f32,
                    ((v - lens.centre.1) / lens.focal.1) as f32,
                    1.0,
                )
            })
            .collect();
        let zero = Mat::from_slice(&[0.0f64; 3]).unwrap().try_clone().unwrap();
        let mut projected = Vector::<Point2f>::new();
        calib3d::project_points_def(&rays, &zero, &zero, &camera, &distortion, &mut projected).unwrap();
        let mut worst: f64 = 0.0;
        for (&p, q) in pinhole.iter().zip(projected.iter()) {
            let ours = lens.distort(p);
            worst = worst.max((ours.0 - f64::from(q.x)).hypot(ours.1 - f64::from(q.y)));
        }
        eprintln!("distort vs projectPoints: {worst:.4} px");
        assert!(worst < 0.05, "distort differs from OpenCV's by {worst} px");
    }
}
