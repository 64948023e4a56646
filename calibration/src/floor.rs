//! The floor a camera looks at: a homography from four floor points whose positions are known in
//! metres, and from it (with the lens's focal length, given or estimated) the camera's pose, so a
//! box's foot point becomes a position in metres and its top an implied height.
//!
//! Pixels here are *undistorted* pixels (see [`crate::Lens::undistort`]).

/// Why four points do not make a floor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FloorError {
    /// Three of the points (in the picture or on the floor) lie on one line.
    #[error("three of the four {0} points lie on one line: spread them over a quadrilateral")]
    Collinear(&'static str),
    /// The pose cannot be found from a floor seen straight on without a focal length.
    #[error(
        "the floor is seen straight on, so the focal length cannot be told from it: enter the lens (focal length) to filter by height"
    )]
    NoFocalLength,
    /// The camera would be below the floor or the floor behind it.
    #[error("the four floor points do not match a floor in front of the camera: check their order and distances")]
    Implausible,
}

/// A 3×3 matrix, row-major.
pub type Matrix3 = [[f64; 3]; 3];

/// The floor plane of one camera: picture (undistorted pixels) ↔ floor (metres), and, when the
/// pose is known, heights.
#[derive(Debug, Clone, PartialEq)]
pub struct Floor {
    /// Floor (metres, z = 0) → picture (pixels).
    to_picture: Matrix3,
    /// Picture → floor.
    to_floor: Matrix3,
    /// The camera's projection `K [r1 r2 r3 t]` with z up (metres → pixels), when it could be
    /// found.
    projection: Option<[[f64; 4]; 3]>,
}

impl Floor {
    /// A floor from four picture points (undistorted pixels) and where they are on the floor
    /// (metres). `focal` and `centre` are the lens's, in pixels, when known; without them the
    /// focal length is estimated from the floor (square pixels, principal point at `size`'s
    /// centre), which a floor seen nearly straight on does not allow: then heights are unknown.
    pub fn new(
        picture: [(f64, f64); 4],
        floor: [(f64, f64); 4],
        focal: Option<((f64, f64), (f64, f64))>,
        size: (u32, u32),
    ) -> Result<Self, FloorError> {
        if collinear_triple(&picture) {
            return Err(FloorError::Collinear("picture"));
        }
        if collinear_triple(&floor) {
            return Err(FloorError::Collinear("floor"));
        }
        let mut to_picture = homography(&floor, &picture).ok_or(FloorError::Collinear("floor"))?;
        // Every floor point must map in front of the camera: the same sign of w for all four, made
        // positive (H and −H are the same homography; h33 = 1 fixed it by the floor's origin).
        let signs: Vec<bool> = floor.iter().map(|&p| apply_w(&to_picture, p) > 0.0).collect();
        if signs.iter().any(|&s| s != signs[0]) {
            return Err(FloorError::Implausible);
        }
        if !signs[0] {
            to_picture = to_picture.map(|row| row.map(|v| -v));
        }
        let to_floor = invert(&to_picture).ok_or(FloorError::Collinear("picture"))?;
        let centre = focal.map_or((size.0 as f64 / 2.0, size.1 as f64 / 2.0), |(_, c)| c);
        let focal = focal.map(|(f, _)| f).or_else(|| focal_from_floor(&to_picture, centre).map(|f| (f, f)));
        let projection = match focal {
            Some(f) => Some(pose(&to_picture, f, centre).ok_or(FloorError::Implausible)?),
            None => None,
        };
        Ok(Self { to_picture, to_floor, projection })
    }

    /// Where on the floor (metres) the picture point `p` (undistorted pixels) is; `None` above the
    /// horizon.
    pub fn to_floor(&self, p: (f64, f64)) -> Option<(f64, f64)> {
        project(&self.to_floor, p)
    }

    /// Where the floor point `p` (metres) is in the picture (undistorted pixels); `None` behind the
    /// camera.
    pub fn to_picture(&self, p: (f64, f64)) -> Option<(f64, f64)> {
        project(&self.to_picture, p)
    }

    /// The homography floor (metres) → picture (undistorted pixels), row-major.
    pub fn to_picture_matrix(&self) -> &Matrix3 {
        &self.to_picture
    }

    /// The homography picture (undistorted pixels) → floor (metres), row-major.
    pub fn to_floor_matrix(&self) -> &Matrix3 {
        &self.to_floor
    }

    /// Whether heights can be measured (the pose is known).
    pub fn measures_height(&self) -> bool {
        self.projection.is_some()
    }

    /// The height in metres of someone standing at the picture point `foot` whose head shows at
    /// `head` (both undistorted pixels): the height whose projection, above the foot's floor
    /// position, comes closest to `head`. `None` without a pose, or for a foot above the horizon.
    pub fn implied_height(&self, foot: (f64, f64), head: (f64, f64)) -> Option<f64> {
        let p = self.projection.as_ref()?;
        let (x, y) = self.to_floor(foot)?;
        // The head at height z projects to (a + z·b) in homogeneous pixels.
        let a: [f64; 3] = std::array::from_fn(|r| p[r][0] * x + p[r][1] * y + p[r][3]);
        let b: [f64; 3] = std::array::from_fn(|r| p[r][2]);
        // Least squares over both coordinates of (a + z b) − head·(a_z + z b_z) = 0.
        let (mut num, mut den) = (0.0, 0.0);
        for (r, q) in [(0, head.0), (1, head.1)] {
            let c = a[r] - q * a[2];
            let d = b[r] - q * b[2];
            num -= c * d;
            den += d * d;
        }
        (den > 1e-12).then(|| num / den)
    }
}

/// The homography mapping `from[i]` to `to[i]` (h33 = 1), by solving the 8×8 linear system on
/// points normalised for conditioning.
pub fn homography(from: &[(f64, f64); 4], to: &[(f64, f64); 4]) -> Option<Matrix3> {
    let (nf, tf) = normaliser(from);
    let (nt, tt) = normaliser(to);
    let mut a = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = nf[i];
        let (u, v) = nt[i];
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    let h = solve8(a)?;
    let hn = [[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], 1.0]];
    // Undo the normalisations: H = Tto⁻¹ · Hn · Tfrom.
    let h = multiply(&multiply(&invert(&tt)?, &hn), &tf);
    let scale = h[2][2];
    (scale.abs() > 1e-12).then(|| h.map(|row| row.map(|v| v / scale)))
}

/// Points moved to their centroid and scaled to a mean distance of √2 (Hartley), with the matrix
/// that does it.
fn normaliser(points: &[(f64, f64); 4]) -> ([(f64, f64); 4], Matrix3) {
    let cx = points.iter().map(|p| p.0).sum::<f64>() / 4.0;
    let cy = points.iter().map(|p| p.1).sum::<f64>() / 4.0;
    let mean = points.iter().map(|p| ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()).sum::<f64>() / 4.0;
    let s = if mean > 1e-12 { std::f64::consts::SQRT_2 / mean } else { 1.0 };
    (points.map(|p| ((p.0 - cx) * s, (p.1 - cy) * s)), [[s, 0.0, -s * cx], [0.0, s, -s * cy], [0.0, 0.0, 1.0]])
}

/// Solves the 8 equations `a[i][..8] · h = a[i][8]` by Gaussian elimination with partial pivoting.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-10 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (row, values) in a.iter_mut().enumerate() {
            if row != col {
                let f = values[col] / pivot_row[col];
                for (value, p) in values.iter_mut().zip(pivot_row.iter()).skip(col) {
                    *value -= f * p;
                }
            }
        }
    }
    Some(std::array::from_fn(|i| a[i][8] / a[i][i]))
}

fn multiply(a: &Matrix3, b: &Matrix3) -> Matrix3 {
    std::array::from_fn(|r| std::array::from_fn(|c| (0..3).map(|k| a[r][k] * b[k][c]).sum()))
}

/// The inverse of a 3×3 matrix, `None` when singular.
pub fn invert(m: &Matrix3) -> Option<Matrix3> {
    let c = |r: usize, k: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (k1, k2) = ((k + 1) % 3, (k + 2) % 3);
        m[r1][k1] * m[r2][k2] - m[r1][k2] * m[r2][k1]
    };
    let det = m[0][0] * c(0, 0) + m[0][1] * c(0, 1) + m[0][2] * c(0, 2);
    if det.abs() < 1e-15 {
        return None;
    }
    Some(std::array::from_fn(|r| std::array::from_fn(|k| c(k, r) / det)))
}

fn apply_w(m: &Matrix3, p: (f64, f64)) -> f64 {
    m[2][0] * p.0 + m[2][1] * p.1 + m[2][2]
}

fn project(m: &Matrix3, p: (f64, f64)) -> Option<(f64, f64)> {
    let w = apply_w(m, p);
    // The sign of w is fixed by the four points: their side of the horizon is the floor's.
    (w.abs() > 1e-12 && w > 0.0)
        .then(|| ((m[0][0] * p.0 + m[0][1] * p.1 + m[0][2]) / w, (m[1][0] * p.0 + m[1][1] * p.1 + m[1][2]) / w))
}

fn collinear_triple(p: &[(f64, f64); 4]) -> bool {
    let spread = p.iter().flat_map(|a| p.iter().map(move |b| (a.0 - b.0).hypot(a.1 - b.1))).fold(0.0, f64::max);
    let area =
        |a: (f64, f64), b: (f64, f64), c: (f64, f64)| ((b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)).abs();
    [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]
        .iter()
        .any(|&(i, j, k)| area(p[i], p[j], p[k]) < 1e-3 * spread * spread)
}

/// The focal length (pixels) that makes the floor's two axes, seen through `h`, perpendicular and
/// equally long (Zhang's constraints with square pixels and the principal point at `centre`).
fn focal_from_floor(h: &Matrix3, centre: (f64, f64)) -> Option<f64> {
    // Move the principal point to the origin.
    let shift = [[1.0, 0.0, -centre.0], [0.0, 1.0, -centre.1], [0.0, 0.0, 1.0]];
    let h = multiply(&shift, h);
    let col = |c: usize| [h[0][c], h[1][c], h[2][c]];
    let (a, b) = (col(0), col(1));
    // Orthogonal axes: (a0 b0 + a1 b1)/f² + a2 b2 = 0.
    let orthogonal = (a[2] * b[2]).abs() > 1e-12 * (a[0] * b[0] + a[1] * b[1]).abs().max(1e-300)
        && (-(a[0] * b[0] + a[1] * b[1]) / (a[2] * b[2])) > 0.0;
    // Equal lengths: (a0² + a1² − b0² − b1²)/f² + a2² − b2² = 0.
    let ea = a[0] * a[0] + a[1] * a[1] - b[0] * b[0] - b[1] * b[1];
    let eb = a[2] * a[2] - b[2] * b[2];
    let candidates = [
        orthogonal.then(|| (-(a[0] * b[0] + a[1] * b[1]) / (a[2] * b[2])).sqrt()),
        (eb.abs() > 1e-18 && -ea / eb > 0.0).then(|| (-ea / eb).sqrt()),
    ];
    // Each constraint is well posed only when the floor is seen at an angle: prefer the one whose
    // denominator is larger relative to the picture.
    let weights = [(a[2] * b[2]).abs(), eb.abs()];
    let best = (0..2).filter(|&i| candidates[i].is_some()).max_by(|&i, &j| weights[i].total_cmp(&weights[j]))?;
    let f = candidates[best]?;
    // A focal length outside 0.1–20 picture widths is a near-degenerate view, not a lens.
    let width = 2.0 * centre.0;
    (f.is_finite() && f > 0.1 * width && f < 20.0 * width).then_some(f)
}

/// The projection `K [r1 r2 r3 t]` (metres → pixels) with z pointing up from the floor towards
/// the camera.
fn pose(h: &Matrix3, focal: (f64, f64), centre: (f64, f64)) -> Option<[[f64; 4]; 3]> {
    let k = [[focal.0, 0.0, centre.0], [0.0, focal.1, centre.1], [0.0, 0.0, 1.0]];
    let b = multiply(&invert(&k)?, h);
    let col = |c: usize| [b[0][c], b[1][c], b[2][c]];
    let norm = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let (b1, b2, b3) = (col(0), col(1), col(2));
    let mut lambda = 2.0 / (norm(b1) + norm(b2));
    // The floor is in front of the camera: t_z > 0.
    if b3[2] * lambda < 0.0 {
        lambda = -lambda;
    }
    let r1 = b1.map(|v| v * lambda);
    let r2 = b2.map(|v| v * lambda);
    let t = b3.map(|v| v * lambda);
    let mut r3 = [r1[1] * r2[2] - r1[2] * r2[1], r1[2] * r2[0] - r1[0] * r2[2], r1[0] * r2[1] - r1[1] * r2[0]];
    // The camera is above the floor: its centre C = −Rᵀt has z > 0 (z up). Rᵀt's z is r3·t.
    if -(r3[0] * t[0] + r3[1] * t[1] + r3[2] * t[2]) < 0.0 {
        r3 = r3.map(|v| -v);
    }
    let columns = [r1, r2, r3, t];
    let camera: [[f64; 4]; 3] = std::array::from_fn(|r| std::array::from_fn(|c| columns[c][r]));
    let projection = std::array::from_fn(|r| std::array::from_fn(|c| (0..3).map(|m| k[r][m] * camera[m][c]).sum()));
    Some(projection)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A camera 3 m up, looking down at 40° towards +y, f = 600 px, 768×576.
    fn camera() -> impl Fn([f64; 3]) -> (f64, f64) {
        let (f, cx, cy) = (600.0, 384.0, 288.0);
        let tilt = 40f64.to_radians();
        let height = 3.0;
        move |[x, y, z]: [f64; 3]| {
            // Camera frame: x right, y down, z forward. World: x right, y forward on the floor, z up.
            let (dx, dy, dz) = (x, y, z - height);
            let xc = dx;
            let yc = -dz * tilt.cos() - dy * tilt.sin();
            let zc = dy * tilt.cos() - dz * tilt.sin();
            (f * xc / zc + cx, f * yc / zc + cy)
        }
    }

    fn floor_of(project: &impl Fn([f64; 3]) -> (f64, f64), focal: bool) -> Floor {
        let metres = [(-1.0, 2.0), (1.5, 2.0), (1.5, 5.0), (-1.0, 5.0)];
        let picture = metres.map(|(x, y)| project([x, y, 0.0]));
        let lens = focal.then_some(((600.0, 600.0), (384.0, 288.0)));
        Floor::new(picture, metres, lens, (768, 576)).expect("a floor")
    }

    #[test]
    fn picture_points_map_to_metres_and_back() {
        let project = camera();
        let floor = floor_of(&project, true);
        for (x, y) in [(0.0, 3.0), (-2.0, 6.0), (0.7, 1.2)] {
            let (u, v) = project([x, y, 0.0]);
            let (fx, fy) = floor.to_floor((u, v)).unwrap();
            assert!((fx - x).abs() < 1e-6 && (fy - y).abs() < 1e-6, "({x},{y}) → ({fx},{fy})");
            let (pu, pv) = floor.to_picture((x, y)).unwrap();
            assert!((pu - u).abs() < 1e-6 && (pv - v).abs() < 1e-6);
        }
    }

    #[test]
    fn heights_are_measured_with_and_without_a_focal_length() {
        let project = camera();
        for focal in [true, false] {
            let floor = floor_of(&project, focal);
            assert!(floor.measures_height());
            for (x, y, h) in [(0.0, 3.0, 1.75), (1.0, 4.5, 1.1), (-0.5, 2.2, 0.5)] {
                let foot = project([x, y, 0.0]);
                let head = project([x, y, h]);
                let measured = floor.implied_height(foot, head).unwrap();
                assert!((measured - h).abs() < 0.01, "focal {focal}: {h} m measured {measured}");
            }
        }
    }

    #[test]
    fn a_floor_seen_straight_on_needs_a_focal_length_for_heights() {
        // An overhead camera: the picture is the floor scaled, no perspective.
        let metres = [(0.0, 0.0), (2.0, 0.0), (2.0, 3.0), (0.0, 3.0)];
        let picture = metres.map(|(x, y)| (100.0 + 100.0 * x, 50.0 + 100.0 * y));
        let floor = Floor::new(picture, metres, None, (768, 576)).unwrap();
        assert!(!floor.measures_height());
        assert_eq!(floor.implied_height((200.0, 200.0), (200.0, 100.0)), None);
        let (x, y) = floor.to_floor((300.0, 250.0)).unwrap();
        assert!((x - 2.0).abs() < 1e-9 && (y - 2.0).abs() < 1e-9);
    }

    #[test]
    fn collinear_points_are_refused() {
        let metres = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (0.0, 3.0)];
        let picture = [(10.0, 10.0), (100.0, 12.0), (100.0, 200.0), (12.0, 190.0)];
        assert_eq!(Floor::new(picture, metres, None, (768, 576)), Err(FloorError::Collinear("floor")));
    }
}
