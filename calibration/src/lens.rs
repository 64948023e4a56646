//! A camera's lens: intrinsics and distortion in OpenCV's model (Brown–Conrady: radial k1, k2, k3
//! and tangential p1, p2), and the two maps between the picture the camera gives (distorted) and
//! the picture a pinhole camera would give (undistorted, same intrinsics).
//!
//! Pure Rust: the node undistorts a few foot points a frame and, while a page shows it, a picture;
//! OpenCV is needed only to estimate a lens ([`crate::checkerboard`], behind the `checkerboard`
//! feature).

/// Intrinsics and distortion, in the pixels of a picture of `size`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lens {
    /// Width and height of the pictures the intrinsics were measured on.
    pub size: (u32, u32),
    /// Focal lengths fx, fy in pixels.
    pub focal: (f64, f64),
    /// Principal point cx, cy in pixels.
    pub centre: (f64, f64),
    /// k1, k2, p1, p2, k3 (OpenCV's order).
    pub distortion: [f64; 5],
}

/// Iterations of the fixed-point inversion in [`Lens::undistort`]: OpenCV's default is 5, which
/// leaves a tenth of a pixel at the corners of a strong wide-angle lens; 20 leaves none that shows.
const UNDISTORT_ITERATIONS: usize = 20;

impl Lens {
    /// A lens without distortion whose focal length is `focal` pixels, centred in `size`.
    pub fn pinhole(size: (u32, u32), focal: f64) -> Self {
        Self { size, focal: (focal, focal), centre: (size.0 as f64 / 2.0, size.1 as f64 / 2.0), distortion: [0.0; 5] }
    }

    /// The same lens for pictures of `size` (a stream scaled from the one it was measured on).
    pub fn scaled_to(&self, size: (u32, u32)) -> Self {
        if size == self.size {
            return *self;
        }
        let sx = size.0 as f64 / self.size.0 as f64;
        let sy = size.1 as f64 / self.size.1 as f64;
        Self {
            size,
            focal: (self.focal.0 * sx, self.focal.1 * sy),
            centre: (self.centre.0 * sx, self.centre.1 * sy),
            distortion: self.distortion,
        }
    }

    /// Whether the lens distorts at all.
    pub fn distorts(&self) -> bool {
        self.distortion.iter().any(|&k| k != 0.0)
    }

    /// Where the camera shows the point that a pinhole camera with the same intrinsics would show
    /// at `p` (pixels).
    pub fn distort(&self, p: (f64, f64)) -> (f64, f64) {
        let (x, y) = self.normalise(p);
        let (xd, yd) = self.distort_normalised(x, y);
        self.pixels_of(xd, yd)
    }

    /// Where a pinhole camera with the same intrinsics would show the point the camera shows at `p`
    /// (pixels): the inverse of [`distort`](Self::distort), by fixed-point iteration as OpenCV's
    /// `undistortPoints` does.
    pub fn undistort(&self, p: (f64, f64)) -> (f64, f64) {
        if !self.distorts() {
            return p;
        }
        let (xd, yd) = self.normalise(p);
        let [k1, k2, p1, p2, k3] = self.distortion;
        let (mut x, mut y) = (xd, yd);
        for _ in 0..UNDISTORT_ITERATIONS {
            let r2 = x * x + y * y;
            let radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
            if !radial.is_finite() || radial.abs() < 1e-9 {
                break;
            }
            let dx = 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x);
            let dy = p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y;
            x = (xd - dx) / radial;
            y = (yd - dy) / radial;
        }
        self.pixels_of(x, y)
    }

    /// The most two lenses disagree on where a pixel of the picture goes once undistorted, over
    /// a grid across the picture (in pixels of `self.size`): how one says whether an estimate
    /// recovered a lens, since k1, k2 and k3 trade off against each other.
    pub fn max_difference_px(&self, other: &Lens) -> f64 {
        let other = other.scaled_to(self.size);
        let (w, h) = (self.size.0 as f64, self.size.1 as f64);
        let mut worst: f64 = 0.0;
        for i in 0..=16 {
            for j in 0..=12 {
                let p = (w * i as f64 / 16.0, h * j as f64 / 12.0);
                let (a, b) = (self.undistort(p), other.undistort(p));
                worst = worst.max(((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt());
            }
        }
        worst
    }

    /// A map for drawing the undistorted picture of `size`: for each of its pixels (row by row),
    /// where to sample the camera's picture.
    pub fn undistortion_map(&self, size: (u32, u32)) -> Vec<(f32, f32)> {
        let lens = self.scaled_to(size);
        let mut map = Vec::with_capacity(size.0 as usize * size.1 as usize);
        for y in 0..size.1 {
            for x in 0..size.0 {
                let (u, v) = lens.distort((x as f64 + 0.5, y as f64 + 0.5));
                map.push(((u - 0.5) as f32, (v - 0.5) as f32));
            }
        }
        map
    }

    fn normalise(&self, (u, v): (f64, f64)) -> (f64, f64) {
        ((u - self.centre.0) / self.focal.0, (v - self.centre.1) / self.focal.1)
    }

    fn pixels_of(&self, x: f64, y: f64) -> (f64, f64) {
        (x * self.focal.0 + self.centre.0, y * self.focal.1 + self.centre.1)
    }

    fn distort_normalised(&self, x: f64, y: f64) -> (f64, f64) {
        let [k1, k2, p1, p2, k3] = self.distortion;
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
        (
            x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
            y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide() -> Lens {
        Lens {
            size: (768, 576),
            focal: (600.0, 600.0),
            centre: (390.0, 280.0),
            distortion: [-0.3, 0.1, 0.001, -0.0005, 0.0],
        }
    }

    #[test]
    fn undistort_inverts_distort_across_the_picture() {
        let lens = wide();
        for i in 0..=8 {
            for j in 0..=6 {
                let p = (768.0 * i as f64 / 8.0, 576.0 * j as f64 / 6.0);
                let back = lens.distort(lens.undistort(p));
                assert!((back.0 - p.0).abs() < 1e-3 && (back.1 - p.1).abs() < 1e-3, "{p:?} → {back:?}");
            }
        }
    }

    #[test]
    fn barrel_distortion_pulls_corners_in() {
        let lens = wide();
        // A corner of the camera's picture lies further out once undistorted.
        let (u, v) = lens.undistort((0.0, 0.0));
        assert!(u < -20.0 && v < -20.0, "{u} {v}");
        // The principal point does not move.
        let c = lens.undistort(lens.centre);
        assert!((c.0 - lens.centre.0).abs() < 1e-9 && (c.1 - lens.centre.1).abs() < 1e-9);
    }

    #[test]
    fn a_scaled_lens_maps_scaled_points() {
        let lens = wide();
        let half = lens.scaled_to((384, 288));
        let a = lens.undistort((100.0, 80.0));
        let b = half.undistort((50.0, 40.0));
        assert!((a.0 / 2.0 - b.0).abs() < 1e-6 && (a.1 / 2.0 - b.1).abs() < 1e-6);
        assert!(lens.max_difference_px(&half) < 1e-6);
        assert!(lens.max_difference_px(&Lens::pinhole((768, 576), 600.0)) > 20.0);
    }
}
