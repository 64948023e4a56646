//! Constant-velocity Kalman filter of one box, in the parametrisation that
//! DeepSORT and ByteTrack use: state `(cx, cy, a, h, vcx, vcy, va, vh)` where
//! `(cx, cy)` is the centre, `a = width / height` the aspect ratio and `h` the
//! height, all in pixels per frame. The noise of the position and velocity of
//! `cx`, `cy` and `h` is proportional to the box height, so near (large) people
//! may move more pixels per frame than far (small) ones; the aspect ratio has
//! small constant noise because a person's shape changes slowly.
//!
//! With these motion and noise models the four coordinates never mix: the
//! transition, process noise, measurement and measurement noise matrices are
//! all block-diagonal per coordinate. Starting from a diagonal covariance, the
//! 8×8 covariance therefore stays made of four independent 2×2 blocks
//! (position, velocity) and the filter is exactly four scalar filters. That is
//! what is stored and computed here: a few dozen flops per step instead of
//! 8×8 products and a 4×4 inverse. [`BoxFilter::covariance`] gives the dense
//! matrix for whoever needs it; the tests check the result against the dense
//! textbook equations.

use crate::detection::BBox;

/// Standard deviation of the position, as a fraction of the box height.
const POSITION_WEIGHT: f32 = 1.0 / 20.0;
/// Standard deviation of the velocity (per frame), as a fraction of the box height.
const VELOCITY_WEIGHT: f32 = 1.0 / 160.0;
/// Aspect-ratio noise: initial and process (position, velocity), measurement.
const ASPECT_INIT_STD: f32 = 1e-2;
const ASPECT_VELOCITY_INIT_STD: f32 = 1e-5;
const ASPECT_PROCESS_STD: f32 = 1e-2;
const ASPECT_VELOCITY_PROCESS_STD: f32 = 1e-5;
const ASPECT_MEASUREMENT_STD: f32 = 1e-1;
/// Height below which the noise stops shrinking, so that a degenerate box
/// cannot drive the covariance to zero.
const MIN_NOISE_HEIGHT: f32 = 1.0;

/// Index of each coordinate in the measurement `(cx, cy, a, h)`; the matching
/// velocity sits at `index + 4` of the state.
const ASPECT: usize = 2;
const HEIGHT: usize = 3;

/// Covariance block of one coordinate: `[[pp, pv], [pv, vv]]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AxisCovariance {
    pp: f32,
    pv: f32,
    vv: f32,
}

/// A measurement `(cx, cy, a, h)` from a box.
fn measure(bbox: &BBox) -> [f32; 4] {
    [bbox.left + bbox.width / 2.0, bbox.top + bbox.height / 2.0, bbox.width / bbox.height, bbox.height]
}

/// The predicted measurement and its covariance (the innovation covariance
/// `H P Hᵀ + R`, diagonal for this model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// Expected `(cx, cy, a, h)`.
    pub mean: [f32; 4],
    /// Variance of each component of `mean`, measurement noise included.
    pub variance: [f32; 4],
}

impl Projection {
    /// Squared Mahalanobis distance of a box from this projection; a gate on
    /// it (the χ² 95 % quantile with 4 degrees of freedom is 9.4877) rejects
    /// physically implausible matches.
    pub fn mahalanobis_sq(&self, bbox: &BBox) -> f32 {
        let z = measure(bbox);
        (0..4)
            .map(|d| {
                let e = z[d] - self.mean[d];
                e * e / self.variance[d]
            })
            .sum()
    }
}

/// Kalman state of one tracked box. Time is counted in analysed frames: one
/// [`predict`](Self::predict) per frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxFilter {
    /// `(cx, cy, a, h, vcx, vcy, va, vh)`.
    mean: [f32; 8],
    cov: [AxisCovariance; 4],
}

impl BoxFilter {
    /// Starts a filter at a detected box with zero velocity and a velocity
    /// uncertainty wide enough to accept any plausible motion.
    ///
    /// The box should have a positive, finite width and height.
    pub fn new(bbox: &BBox) -> Self {
        let z = measure(bbox);
        let h = z[HEIGHT].max(MIN_NOISE_HEIGHT);
        let mut mean = [0.0; 8];
        mean[..4].copy_from_slice(&z);
        let cov = std::array::from_fn(|d| {
            let (p, v) = if d == ASPECT {
                (ASPECT_INIT_STD, ASPECT_VELOCITY_INIT_STD)
            } else {
                (2.0 * POSITION_WEIGHT * h, 10.0 * VELOCITY_WEIGHT * h)
            };
            AxisCovariance { pp: p * p, pv: 0.0, vv: v * v }
        });
        Self { mean, cov }
    }

    /// The state mean `(cx, cy, a, h, vcx, vcy, va, vh)`.
    pub fn mean(&self) -> [f32; 8] {
        self.mean
    }

    /// The full 8×8 state covariance (zero outside the per-coordinate blocks).
    pub fn covariance(&self) -> [[f32; 8]; 8] {
        let mut p = [[0.0; 8]; 8];
        for (d, c) in self.cov.iter().enumerate() {
            p[d][d] = c.pp;
            p[d][d + 4] = c.pv;
            p[d + 4][d] = c.pv;
            p[d + 4][d + 4] = c.vv;
        }
        p
    }

    /// The estimated box. A degenerate estimate (negative height or aspect)
    /// comes out with zero size rather than a negative one.
    pub fn bbox(&self) -> BBox {
        let [cx, cy, a, h, ..] = self.mean;
        let h = h.max(0.0);
        let w = (a * h).max(0.0);
        BBox { left: cx - w / 2.0, top: cy - h / 2.0, width: w, height: h }
    }

    /// Stops the height from changing. ByteTrack does this for tracks that
    /// are not being seen, so that a box coasting through an occlusion keeps
    /// its size instead of shrinking or growing without evidence.
    pub fn freeze_height(&mut self) {
        self.mean[HEIGHT + 4] = 0.0;
    }

    /// Advances the state by one frame: `x ← F x`, `P ← F P Fᵀ + Q`.
    pub fn predict(&mut self) {
        let h = self.noise_height();
        for (d, c) in self.cov.iter_mut().enumerate() {
            let (qp, qv) = if d == ASPECT {
                (ASPECT_PROCESS_STD, ASPECT_VELOCITY_PROCESS_STD)
            } else {
                (POSITION_WEIGHT * h, VELOCITY_WEIGHT * h)
            };
            self.mean[d] += self.mean[d + 4];
            *c = AxisCovariance { pp: c.pp + 2.0 * c.pv + c.vv + qp * qp, pv: c.pv + c.vv, vv: c.vv + qv * qv };
        }
    }

    /// The measurement this state predicts, with its covariance.
    pub fn project(&self) -> Projection {
        let h = self.noise_height();
        let mut mean = [0.0; 4];
        let mut variance = [0.0; 4];
        for d in 0..4 {
            let r = if d == ASPECT { ASPECT_MEASUREMENT_STD } else { POSITION_WEIGHT * h };
            mean[d] = self.mean[d];
            variance[d] = self.cov[d].pp + r * r;
        }
        Projection { mean, variance }
    }

    /// Corrects the state with a detected box.
    ///
    /// The box should have a positive, finite width and height.
    pub fn update(&mut self, bbox: &BBox) {
        let z = measure(bbox);
        let projection = self.project();
        for (d, c) in self.cov.iter_mut().enumerate() {
            let s = projection.variance[d];
            let (kp, kv) = (c.pp / s, c.pv / s);
            let innovation = z[d] - self.mean[d];
            self.mean[d] += kp * innovation;
            self.mean[d + 4] += kv * innovation;
            // P − K S Kᵀ, written so that the position variance stays
            // positive in floating point: pp − pp²/s = pp·r/s with r = s − pp.
            let r = s - c.pp;
            *c = AxisCovariance { pp: c.pp * r / s, pv: c.pv * r / s, vv: c.vv - kv * c.pv };
        }
    }

    fn noise_height(&self) -> f32 {
        self.mean[HEIGHT].max(MIN_NOISE_HEIGHT)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop, reason = "matrix maths reads best with indices")]
mod tests {
    use super::*;

    type Mat8 = [[f64; 8]; 8];

    fn mat_mul<const N: usize, const K: usize, const M: usize>(a: &[[f64; K]; N], b: &[[f64; M]; K]) -> [[f64; M]; N] {
        let mut out = [[0.0; M]; N];
        for i in 0..N {
            for j in 0..M {
                out[i][j] = (0..K).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        out
    }

    fn transpose<const N: usize, const M: usize>(a: &[[f64; M]; N]) -> [[f64; N]; M] {
        let mut out = [[0.0; N]; M];
        for i in 0..N {
            for j in 0..M {
                out[j][i] = a[i][j];
            }
        }
        out
    }

    /// Gauss–Jordan inverse with partial pivoting.
    fn inverse4(a: &[[f64; 4]; 4]) -> [[f64; 4]; 4] {
        let mut m = *a;
        let mut inv = [[0.0; 4]; 4];
        for (i, row) in inv.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        for col in 0..4 {
            let pivot = (col..4).max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs())).unwrap();
            m.swap(col, pivot);
            inv.swap(col, pivot);
            let p = m[col][col];
            for j in 0..4 {
                m[col][j] /= p;
                inv[col][j] /= p;
            }
            for row in 0..4 {
                if row != col {
                    let f = m[row][col];
                    for j in 0..4 {
                        m[row][j] -= f * m[col][j];
                        inv[row][j] -= f * inv[col][j];
                    }
                }
            }
        }
        inv
    }

    fn diag<const N: usize>(std: [f64; N]) -> [[f64; N]; N] {
        let mut out = [[0.0; N]; N];
        for i in 0..N {
            out[i][i] = std[i] * std[i];
        }
        out
    }

    /// The textbook dense filter, in f64, as the reference.
    #[derive(Clone, Copy)]
    struct Dense {
        x: [f64; 8],
        p: Mat8,
    }

    impl Dense {
        fn of(f: &BoxFilter) -> Self {
            let c = f.covariance();
            Self { x: f.mean().map(f64::from), p: std::array::from_fn(|i| std::array::from_fn(|j| f64::from(c[i][j]))) }
        }

        fn predict(&mut self) {
            let h = self.x[3].max(1.0);
            let (wp, wv) = (1.0 / 20.0, 1.0 / 160.0);
            let mut f: Mat8 = diag([1.0; 8]);
            for d in 0..4 {
                f[d][d + 4] = 1.0;
            }
            let q = diag([wp * h, wp * h, 1e-2, wp * h, wv * h, wv * h, 1e-5, wv * h]);
            let x = mat_mul(&f, &self.x.map(|v| [v]));
            self.x = x.map(|r| r[0]);
            let fp = mat_mul(&f, &self.p);
            let fpf = mat_mul(&fp, &transpose(&f));
            self.p = std::array::from_fn(|i| std::array::from_fn(|j| fpf[i][j] + q[i][j]));
        }

        fn update(&mut self, z: [f64; 4]) {
            let h_std = self.x[3].max(1.0) / 20.0;
            let mut hm = [[0.0; 8]; 4];
            for (d, row) in hm.iter_mut().enumerate() {
                row[d] = 1.0;
            }
            let r = diag([h_std, h_std, 1e-1, h_std]);
            let hp = mat_mul(&hm, &self.p);
            let hph = mat_mul(&hp, &transpose(&hm));
            let s: [[f64; 4]; 4] = std::array::from_fn(|i| std::array::from_fn(|j| hph[i][j] + r[i][j]));
            let k = mat_mul(&mat_mul(&self.p, &transpose(&hm)), &inverse4(&s));
            let y: [f64; 4] = std::array::from_fn(|d| z[d] - self.x[d]);
            for i in 0..8 {
                self.x[i] += (0..4).map(|d| k[i][d] * y[d]).sum::<f64>();
            }
            let ksk = mat_mul(&mat_mul(&k, &s), &transpose(&k));
            for i in 0..8 {
                for j in 0..8 {
                    self.p[i][j] -= ksk[i][j];
                }
            }
        }

        fn assert_close(&self, f: &BoxFilter) {
            let (x, p) = (f.mean(), f.covariance());
            for i in 0..8 {
                let tol = 1e-4 * self.x[i].abs().max(1.0);
                assert!((f64::from(x[i]) - self.x[i]).abs() < tol, "mean[{i}]: {} vs {}", x[i], self.x[i]);
                for j in 0..8 {
                    let tol = 1e-4 * self.p[i][j].abs().max(1e-6);
                    assert!(
                        (f64::from(p[i][j]) - self.p[i][j]).abs() < tol,
                        "cov[{i}][{j}]: {} vs {}",
                        p[i][j],
                        self.p[i][j]
                    );
                }
            }
        }
    }

    fn bbox(left: f32, top: f32, width: f32, height: f32) -> BBox {
        BBox { left, top, width, height }
    }

    #[test]
    fn new_starts_at_the_measurement_with_the_bytetrack_covariance() {
        let f = BoxFilter::new(&bbox(100.0, 50.0, 40.0, 200.0));
        assert_eq!(f.mean(), [120.0, 150.0, 0.2, 200.0, 0.0, 0.0, 0.0, 0.0]);
        let p = f.covariance();
        let expected_std = [20.0, 20.0, 1e-2, 20.0, 12.5, 12.5, 1e-5, 12.5];
        for i in 0..8 {
            for j in 0..8 {
                let want = if i == j { expected_std[i] * expected_std[i] } else { 0.0 };
                assert!((p[i][j] - want).abs() <= 1e-6 * want.max(1e-9), "[{i}][{j}] {} vs {want}", p[i][j]);
            }
        }
        let b = f.bbox();
        assert!((b.left - 100.0).abs() < 1e-4 && (b.top - 50.0).abs() < 1e-4);
        assert!((b.width - 40.0).abs() < 1e-4 && (b.height - 200.0).abs() < 1e-4);
    }

    #[test]
    fn predict_moves_by_the_velocity_and_matches_the_dense_equations() {
        let mut f = BoxFilter::new(&bbox(100.0, 50.0, 40.0, 200.0));
        f.mean[4] = 3.0;
        f.mean[7] = -1.0;
        let mut dense = Dense::of(&f);
        f.predict();
        dense.predict();
        dense.assert_close(&f);
        assert_eq!(f.mean()[0], 123.0);
        assert_eq!(f.mean()[3], 199.0);
    }

    #[test]
    fn update_matches_the_dense_equations_over_a_sequence() {
        let mut f = BoxFilter::new(&bbox(100.0, 50.0, 40.0, 200.0));
        let mut dense = Dense::of(&f);
        for t in 1..=12 {
            let t = t as f32;
            let z = bbox(100.0 + 4.0 * t, 50.0 - t, 40.0 + 0.1 * t, 200.0 + 0.5 * t);
            f.predict();
            dense.predict();
            dense.assert_close(&f);
            f.update(&z);
            dense.update(measure(&z).map(f64::from));
            dense.assert_close(&f);
        }
    }

    #[test]
    fn update_pulls_towards_the_measurement_and_shrinks_the_variance() {
        let mut f = BoxFilter::new(&bbox(0.0, 0.0, 50.0, 100.0));
        f.predict();
        let before = f.project();
        f.update(&bbox(10.0, 0.0, 50.0, 100.0));
        let after = f.project();
        let cx = f.mean()[0];
        assert!(25.0 < cx && cx < 35.0, "cx {cx} between prediction 25 and measurement 35");
        assert!(f.mean()[4] > 0.0, "velocity learns the direction");
        assert!(after.variance[0] < before.variance[0]);
    }

    #[test]
    fn learns_a_constant_velocity() {
        let mut f = BoxFilter::new(&bbox(0.0, 300.0, 60.0, 150.0));
        for t in 1..=40 {
            f.predict();
            f.update(&bbox(6.0 * t as f32, 300.0 - 2.0 * t as f32, 60.0, 150.0));
        }
        let m = f.mean();
        assert!((m[4] - 6.0).abs() < 0.1, "vcx {}", m[4]);
        assert!((m[5] + 2.0).abs() < 0.1, "vcy {}", m[5]);
        f.predict();
        let b = f.bbox();
        assert!((b.left - 246.0).abs() < 1.0, "left {}", b.left);
        assert!((b.top - 218.0).abs() < 1.0, "top {}", b.top);
    }

    #[test]
    fn mahalanobis_is_zero_at_the_projection_and_grows_away_from_it() {
        let f = BoxFilter::new(&bbox(0.0, 0.0, 50.0, 100.0));
        let p = f.project();
        assert!(p.mahalanobis_sq(&f.bbox()) < 1e-6);
        assert!(p.mahalanobis_sq(&bbox(40.0, 0.0, 50.0, 100.0)) > 9.4877);
    }

    #[test]
    fn freeze_height_keeps_the_size_while_coasting() {
        let mut f = BoxFilter::new(&bbox(0.0, 0.0, 50.0, 100.0));
        f.mean[7] = 5.0;
        f.freeze_height();
        for _ in 0..10 {
            f.predict();
        }
        assert_eq!(f.bbox().height, 100.0);
    }
}
