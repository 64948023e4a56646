//! Synthetic views of a checkerboard through a distorting lens, in pure Rust: the tests' ground
//! truth, and a way to try the calibration route without a printed board.
//!
//! Pixel coordinates follow OpenCV: the centre of pixel `(i, j)` is at `(i, j)`, so a lens
//! estimated from these pictures is directly comparable with the one that drew them.

use super::Board;
use crate::Lens;

/// Where a board is, as OpenCV's extrinsics put it: a board point `X` (millimetres, `x` along its
/// rows of corners, `y` down its columns, `z = 0` on the board, the first inner corner at the
/// origin) is at `R(rotation) · X + translation_mm` in the camera's frame (`x` right, `y` down,
/// `z` forwards).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardPose {
    /// Rodrigues vector (OpenCV's `rvec`): the axis of rotation scaled by its angle in radians.
    /// Zero faces the board squarely to the camera, upright.
    pub rotation: [f64; 3],
    /// Where the board's first inner corner is, in millimetres from the camera.
    pub translation_mm: [f64; 3],
}

impl BoardPose {
    /// A pose from angles in degrees: `yaw` turns the board about the picture's vertical axis,
    /// `pitch` about its horizontal axis, `roll` in the picture's plane (applied first).
    pub fn from_angles(yaw_deg: f64, pitch_deg: f64, roll_deg: f64, translation_mm: [f64; 3]) -> Self {
        let r = mat_mul(
            &rotation_y(yaw_deg.to_radians()),
            &mat_mul(&rotation_x(pitch_deg.to_radians()), &rotation_z(roll_deg.to_radians())),
        );
        BoardPose { rotation: matrix_to_rodrigues(&r), translation_mm }
    }

    /// The rotation as a matrix.
    pub fn matrix(&self) -> [[f64; 3]; 3] {
        rodrigues_to_matrix(self.rotation)
    }

    /// Where a board point (millimetres) is in the camera's frame.
    pub fn to_camera(&self, board_mm: [f64; 3]) -> [f64; 3] {
        let r = self.matrix();
        add(mat_vec(&r, board_mm), self.translation_mm)
    }
}

/// Grey levels of the rendering: a print under even light, on a mid-grey wall.
const BLACK: f64 = 30.0;
const WHITE: f64 = 225.0;
const BACKGROUND: f64 = 128.0;
/// Samples per pixel along each axis (anti-aliasing).
const SUPERSAMPLE: usize = 3;

/// What `lens` sees of `board` (printed with a white margin of one square around its squares) in
/// `pose`, on a mid-grey background: a grey picture of `lens.size`, row by row, anti-aliased by
/// 3 × 3 supersampling. Each sample is traced back through the lens ([`Lens::undistort`]) to a ray
/// and coloured by where the ray meets the board's plane.
///
/// Tracing the rays is most of the work (about a second for 768 × 576): to draw several views of
/// one lens, trace them once with a [`ViewRenderer`].
pub fn render_view(lens: &Lens, board: &Board, pose: &BoardPose) -> Vec<u8> {
    ViewRenderer::new(lens).render(board, pose)
}

/// [`render_view`] for many views of one lens: the rays of its pixels traced once.
pub struct ViewRenderer {
    size: (usize, usize),
    /// Each sample's ray through the lens, as (x, y) on the plane z = 1, pixel by pixel.
    rays: Vec<[f32; 2]>,
}

impl ViewRenderer {
    /// Traces the rays of every sample of `lens`'s picture.
    pub fn new(lens: &Lens) -> Self {
        let size = (lens.size.0 as usize, lens.size.1 as usize);
        let step = 1.0 / SUPERSAMPLE as f64;
        let first = -0.5 + step / 2.0;
        let mut rays = Vec::with_capacity(size.0 * size.1 * SUPERSAMPLE * SUPERSAMPLE);
        for v in 0..size.1 {
            for u in 0..size.0 {
                for sy in 0..SUPERSAMPLE {
                    for sx in 0..SUPERSAMPLE {
                        let p = (u as f64 + first + sx as f64 * step, v as f64 + first + sy as f64 * step);
                        let [x, y, _] = ray_of(lens, lens.undistort(p));
                        rays.push([x as f32, y as f32]);
                    }
                }
            }
        }
        Self { size, rays }
    }

    /// The picture of `board` in `pose` (see [`render_view`]).
    pub fn render(&self, board: &Board, pose: &BoardPose) -> Vec<u8> {
        let r = pose.matrix();
        let normal = [r[0][2], r[1][2], r[2][2]];
        let t = pose.translation_mm;
        let plane_distance = dot(normal, t);
        let samples = SUPERSAMPLE * SUPERSAMPLE;
        self.rays
            .chunks_exact(samples)
            .map(|pixel| {
                let sum: f64 = pixel
                    .iter()
                    .map(|&[x, y]| {
                        let ray = [f64::from(x), f64::from(y), 1.0];
                        let along = dot(normal, ray);
                        let s = plane_distance / along;
                        if along.abs() < 1e-12 || s.is_nan() || s <= 0.0 {
                            return BACKGROUND;
                        }
                        let on_plane = [ray[0] * s - t[0], ray[1] * s - t[1], ray[2] * s - t[2]];
                        // Rᵀ · (P − t): back into the board's frame.
                        let bx = r[0][0] * on_plane[0] + r[1][0] * on_plane[1] + r[2][0] * on_plane[2];
                        let by = r[0][1] * on_plane[0] + r[1][1] * on_plane[1] + r[2][1] * on_plane[2];
                        shade(board, bx, by)
                    })
                    .sum();
                (sum / samples as f64).round() as u8
            })
            .collect()
    }

    /// Width and height of the pictures drawn.
    pub fn size(&self) -> (u32, u32) {
        (self.size.0 as u32, self.size.1 as u32)
    }
}

/// The grey of the board's point `(x, y)` (millimetres), or the background's off the board.
fn shade(board: &Board, x: f64, y: f64) -> f64 {
    let i = (x / board.square_mm).floor() as i64;
    let j = (y / board.square_mm).floor() as i64;
    let (columns, rows) = (i64::from(board.columns), i64::from(board.rows));
    // Squares -1..columns across and -1..rows down (the inner corners sit between them); the
    // white margin is one more square each side.
    if !(-2..=columns).contains(&i) || !(-2..=rows).contains(&j) {
        BACKGROUND
    } else if !(-1..columns).contains(&i) || !(-1..rows).contains(&j) || (i + j).rem_euclid(2) == 1 {
        WHITE
    } else {
        BLACK
    }
}

/// `count` poses that move the board across the whole picture (its corners and edges first, then
/// between), each tilted by 20° to 40° in a different direction and rolled a little, at a few
/// distances: the views a technician should show. Every pose keeps the board and its margin in the
/// picture. The same arguments always give the same poses.
pub fn sweep_poses(lens: &Lens, board: &Board, count: usize) -> Vec<BoardPose> {
    // Where the board's centre goes, as fractions of the picture: the corners (strongest
    // distortion) and the edges come before the centre; later rounds fill the gaps.
    // Places off the picture are pulled in until the board fits: into the corner, against the edge.
    const PLACES: [(f64, f64); 13] = [
        (0.0, 0.0),
        (1.0, 1.0),
        (1.0, 0.0),
        (0.0, 1.0),
        (0.5, 0.5),
        (0.5, 0.0),
        (1.0, 0.5),
        (0.5, 1.0),
        (0.0, 0.5),
        (0.35, 0.35),
        (0.65, 0.65),
        (0.65, 0.35),
        (0.35, 0.65),
    ];
    // (yaw, pitch) in degrees: every tilt between 20° and 40° away from facing the camera.
    const TILTS: [(f64, f64); 8] = [
        (30.0, 0.0),
        (0.0, -30.0),
        (-25.0, 20.0),
        (20.0, 25.0),
        (-35.0, 0.0),
        (0.0, 35.0),
        (25.0, -25.0),
        (-20.0, -20.0),
    ];
    const ROLLS: [f64; 5] = [0.0, 6.0, -5.0, 8.0, -7.0];
    const NEARNESS: [f64; 3] = [1.0, 1.2, 0.85];

    let (w, h) = (f64::from(lens.size.0), f64::from(lens.size.1));
    let sq = board.square_mm;
    let board_width_mm = (f64::from(board.columns) + 3.0) * sq;
    let centre_mm = [(f64::from(board.columns) - 1.0) * sq / 2.0, (f64::from(board.rows) - 1.0) * sq / 2.0, 0.0];
    // At nearness 1 the board with its margin spans about 45 % of the picture's width.
    let base_distance = lens.focal.0 * board_width_mm / (0.45 * w);
    (0..count)
        .map(|i| {
            let (fx, fy) = PLACES[i % PLACES.len()];
            let (yaw, pitch) = TILTS[(i + i / PLACES.len()) % TILTS.len()];
            let roll = ROLLS[i % ROLLS.len()];
            let mut place = (fx * w, fy * h);
            // Near an edge the camera already sees the board at a slant: turned further away it
            // shows squares too thin to find (a technician turns it towards the camera).
            let ray = ray_of(lens, lens.undistort(place));
            let slant = |(yaw, pitch): (f64, f64)| {
                let m = BoardPose::from_angles(yaw, pitch, roll, [0.0; 3]).matrix();
                (dot([m[0][2], m[1][2], m[2][2]], ray).abs() / dot(ray, ray).sqrt()).acos()
            };
            let (yaw, pitch) = [(yaw, pitch), (-yaw, pitch), (yaw, -pitch), (-yaw, -pitch)]
                .into_iter()
                .find(|&tilt| slant(tilt) <= 40f64.to_radians())
                .unwrap_or((yaw, pitch));
            let mut distance = base_distance / NEARNESS[(i / 2) % NEARNESS.len()];
            loop {
                let ray = ray_of(lens, lens.undistort(place));
                let rotated = mat_vec(&BoardPose::from_angles(yaw, pitch, roll, [0.0; 3]).matrix(), centre_mm);
                let translation =
                    [ray[0] * distance - rotated[0], ray[1] * distance - rotated[1], distance - rotated[2]];
                let pose = BoardPose::from_angles(yaw, pitch, roll, translation);
                if distance > 10.0 * base_distance || fits(lens, board, &pose) {
                    return pose;
                }
                // Towards the centre (and a little further away, for a board too large for the picture)
                // until it fits.
                place = (w / 2.0 + (place.0 - w / 2.0) * 0.97, h / 2.0 + (place.1 - h / 2.0) * 0.97);
                distance *= 1.002;
            }
        })
        .collect()
}

/// Whether the board with its margin is wholly in the picture, 1 % in from its edges.
fn fits(lens: &Lens, board: &Board, pose: &BoardPose) -> bool {
    let (w, h) = (f64::from(lens.size.0), f64::from(lens.size.1));
    let inset = 0.01 * w;
    let sq = board.square_mm;
    let (x0, x1) = (-2.0 * sq, (f64::from(board.columns) + 1.0) * sq);
    let (y0, y1) = (-2.0 * sq, (f64::from(board.rows) + 1.0) * sq);
    const STEPS: usize = 16;
    (0..=STEPS).all(|k| {
        let f = k as f64 / STEPS as f64;
        let x = x0 + (x1 - x0) * f;
        let y = y0 + (y1 - y0) * f;
        [[x, y0], [x, y1], [x0, y], [x1, y]].iter().all(|&[bx, by]| {
            let c = pose.to_camera([bx, by, 0.0]);
            if c[2] <= 0.0 {
                return false;
            }
            let pinhole = (lens.focal.0 * c[0] / c[2] + lens.centre.0, lens.focal.1 * c[1] / c[2] + lens.centre.1);
            let seen = lens.distort(pinhole);
            // Far outside the picture a lens's polynomial can fold back in: not a real view.
            let back = lens.undistort(seen);
            (back.0 - pinhole.0).hypot(back.1 - pinhole.1) < 0.5
                && (inset..=w - 1.0 - inset).contains(&seen.0)
                && (inset..=h - 1.0 - inset).contains(&seen.1)
        })
    })
}

/// The ray (z = 1) through a point of the undistorted (pinhole) picture.
fn ray_of(lens: &Lens, (u, v): (f64, f64)) -> [f64; 3] {
    [(u - lens.centre.0) / lens.focal.0, (v - lens.centre.1) / lens.focal.1, 1.0]
}

type Mat3 = [[f64; 3]; 3];

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn mat_vec(m: &Mat3, v: [f64; 3]) -> [f64; 3] {
    [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
}

fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

fn rotation_x(a: f64) -> Mat3 {
    let (s, c) = a.sin_cos();
    [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]
}

fn rotation_y(a: f64) -> Mat3 {
    let (s, c) = a.sin_cos();
    [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]
}

fn rotation_z(a: f64) -> Mat3 {
    let (s, c) = a.sin_cos();
    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
}

/// Rodrigues' formula: R = cos θ I + (1 − cos θ) k kᵀ + sin θ [k]ₓ.
fn rodrigues_to_matrix(r: [f64; 3]) -> Mat3 {
    let theta = dot(r, r).sqrt();
    if theta < 1e-15 {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let k = [r[0] / theta, r[1] / theta, r[2] / theta];
    let (s, c) = theta.sin_cos();
    let cross = [[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]];
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let identity = if i == j { 1.0 } else { 0.0 };
            m[i][j] = c * identity + (1.0 - c) * k[i] * k[j] + s * cross[i][j];
        }
    }
    m
}

/// The inverse of [`rodrigues_to_matrix`] for a rotation matrix.
fn matrix_to_rodrigues(m: &Mat3) -> [f64; 3] {
    let cos = ((m[0][0] + m[1][1] + m[2][2] - 1.0) / 2.0).clamp(-1.0, 1.0);
    let theta = cos.acos();
    let axis = [m[2][1] - m[1][2], m[0][2] - m[2][0], m[1][0] - m[0][1]];
    let sin2 = dot(axis, axis).sqrt(); // 2 sin θ
    if theta < 1e-12 {
        return [axis[0] / 2.0, axis[1] / 2.0, axis[2] / 2.0];
    }
    if sin2 > 1e-6 {
        let f = theta / sin2;
        return [axis[0] * f, axis[1] * f, axis[2] * f];
    }
    // θ near π: the axis from the diagonal of (R + I) / 2 = k kᵀ.
    let mut k = [
        ((m[0][0] + 1.0) / 2.0).max(0.0).sqrt(),
        ((m[1][1] + 1.0) / 2.0).max(0.0).sqrt(),
        ((m[2][2] + 1.0) / 2.0).max(0.0).sqrt(),
    ];
    if m[0][1] + m[1][0] < 0.0 {
        k[1] = -k[1];
    }
    if m[0][2] + m[2][0] < 0.0 {
        k[2] = -k[2];
    }
    [k[0] * theta, k[1] * theta, k[2] * theta]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkerboard::fixtures::{board, wide_angle_lens};

    #[test]
    fn rodrigues_round_trips() {
        for (yaw, pitch, roll) in [(0.0, 0.0, 0.0), (30.0, -20.0, 10.0), (-40.0, 35.0, -12.0), (170.0, 5.0, 3.0)] {
            let pose = BoardPose::from_angles(yaw, pitch, roll, [0.0; 3]);
            let m = pose.matrix();
            let back = rodrigues_to_matrix(matrix_to_rodrigues(&m));
            for i in 0..3 {
                for j in 0..3 {
                    assert!((m[i][j] - back[i][j]).abs() < 1e-9, "{yaw} {pitch} {roll}");
                }
            }
        }
    }

    #[test]
    fn a_board_facing_the_camera_shows_its_squares_where_the_pinhole_puts_them() {
        let lens = Lens::pinhole((320, 240), 300.0);
        let board = board();
        // The board's centre on the optical axis, 1 m away: squares of 9 px.
        let pose = BoardPose { rotation: [0.0; 3], translation_mm: [-120.0, -75.0, 1000.0] };
        let picture = render_view(&lens, &board, &pose);
        assert_eq!(picture.len(), 320 * 240);
        let at = |x: f64, y: f64| {
            let u = (lens.centre.0 + 300.0 * (x - 120.0) / 1000.0).round() as usize;
            let v = (lens.centre.1 + 300.0 * (y - 75.0) / 1000.0).round() as usize;
            picture[v * 320 + u]
        };
        // Middle of the first square (top-left, black), of its neighbour (white), of the margin.
        assert_eq!(at(-15.0, -15.0), BLACK as u8);
        assert_eq!(at(15.0, -15.0), WHITE as u8);
        assert_eq!(at(-45.0, 100.0), WHITE as u8);
        // The last square (black: nine squares right of the first, six down), the margin beyond.
        assert_eq!(at(255.0, 135.0), BLACK as u8);
        assert_eq!(at(255.0, 165.0), WHITE as u8);
        assert_eq!(at(285.0, 100.0), WHITE as u8);
        assert_eq!(at(315.0, 100.0), BACKGROUND as u8);
        assert_eq!(picture[0], BACKGROUND as u8);
    }

    #[test]
    fn sweep_poses_keep_the_board_in_the_picture_and_reach_its_corners() {
        let lens = wide_angle_lens();
        let board = board();
        let poses = sweep_poses(&lens, &board, 26);
        assert_eq!(poses.len(), 26);
        assert_eq!(poses, sweep_poses(&lens, &board, 26), "deterministic");
        let mut reach = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for pose in &poses {
            assert!(fits(&lens, &board, pose), "{pose:?}");
            let tilt = matrix_to_rodrigues(&pose.matrix());
            let m = pose.matrix();
            // Angle between the board's normal and the optical axis.
            let tilt_deg = m[2][2].acos().to_degrees();
            assert!((19.0..=41.0).contains(&tilt_deg), "tilt {tilt_deg}° ({tilt:?})");
            for (x, y) in [(0.0, 0.0), (240.0, 150.0)] {
                let c = pose.to_camera([x, y, 0.0]);
                let p = lens.distort((560.0 * c[0] / c[2] + 380.0, 560.0 * c[1] / c[2] + 292.0));
                reach = [reach[0].min(p.0), reach[1].min(p.1), reach[2].max(p.0), reach[3].max(p.1)];
            }
        }
        // Corners of the board reach the outer sixth of the picture on every side.
        assert!(reach[0] < 128.0 && reach[1] < 96.0 && reach[2] > 640.0 && reach[3] > 480.0, "{reach:?}");
    }
}
