//! Camera tamper: is the picture still the one the technician set up? Three classes, as camera
//! makers name them: covered or blinded (a nearly uniform picture), defocused (sharpness far below
//! the camera's own baseline), moved or redirected (the scene's structure no longer matches the
//! reference view).
//!
//! Each frame is reduced once to a small luma grid ([`ViewSample::measure`], a few microseconds);
//! [`ViewWatch`] learns the camera's baseline from its first minute and then compares. Both
//! measures are built to ignore what a door camera sees every day:
//! - **sharpness** is the fine-scale gradient energy over the picture's contrast (its luma
//!   standard deviation), so a light switched on or off changes neither, while a blur removes the
//!   fine scale and keeps most of the contrast;
//! - **structure** is the normalised correlation of the coarse gradient map with the reference,
//!   which a few people walking through lower a little, a brightness step not at all, and a
//!   camera turned away or shifted a lot; the reference follows slow daylight change.

use std::time::Duration;

use crate::ingest::RgbView;

/// Cells of the coarse grid (structure).
const COARSE: (usize, usize) = (48, 36);

/// One frame, reduced: what the tamper watch compares.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewSample {
    /// Luma standard deviation (0..255) of the picture's centre: near 0 for a covered lens.
    pub spread: f64,
    /// Fine-scale gradient energy over the picture's contrast: falls when the picture blurs.
    pub sharpness: f64,
    /// Gradient magnitude of the coarse grid, normalised to zero mean and unit variance (empty for
    /// a uniform picture).
    pub structure: Vec<f32>,
}

impl ViewSample {
    /// Measures `view`: its central 90% (letterbox bars stay out), every other pixel.
    pub fn measure(view: &RgbView<'_>) -> Self {
        let coarse = luma_grid(view, COARSE);
        // Pixel-scale gradient over the picture's contrast: a light switched on or off scales
        // both, a blur of a few pixels removes the first and keeps most of the second.
        let (gradient, contrast) = pixel_gradient_and_contrast(view);
        let sharpness = if contrast > 1e-3 { gradient / contrast } else { 0.0 };
        Self { spread: view.luma_spread(), sharpness, structure: normalised(&gradient_map(&coarse, COARSE)) }
    }
}

/// Settings of the tamper watch (plain data; per camera in the site file).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewWatchConfig {
    /// How long the baseline is learned from a camera's first frames.
    pub learn: Duration,
    /// Defocused: sharpness under this fraction of the baseline…
    pub defocus_ratio: f64,
    /// …for this long.
    pub defocus_grace: Duration,
    /// Moved: correlation with the reference under this…
    pub moved_below: f64,
    /// …for this long.
    pub moved_grace: Duration,
    /// How fast the reference and the baseline follow a view that still matches (per second):
    /// slow daylight change is absorbed, a moved camera is not.
    pub follow_per_s: f64,
}

impl Default for ViewWatchConfig {
    fn default() -> Self {
        Self {
            learn: Duration::from_secs(30),
            defocus_ratio: 0.6,
            defocus_grace: Duration::from_secs(20),
            moved_below: 0.5,
            moved_grace: Duration::from_secs(10),
            follow_per_s: 0.002,
        }
    }
}

impl ViewWatchConfig {
    /// The node's settings with a camera's own thresholds from the site file over them.
    pub fn for_camera(self, camera: &lintel_calibration::site::Camera) -> Self {
        let t = camera.tamper;
        let seconds = |s: Option<f32>, default: Duration| s.map_or(default, Duration::from_secs_f32);
        Self {
            defocus_ratio: t.defocus_ratio.map_or(self.defocus_ratio, f64::from),
            defocus_grace: seconds(t.defocus_grace_s, self.defocus_grace),
            moved_below: t.moved_below.map_or(self.moved_below, f64::from),
            moved_grace: seconds(t.moved_grace_s, self.moved_grace),
            ..self
        }
    }
}

/// A change in what the watch concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewChange {
    Defocused,
    Refocused,
    Moved,
    Back,
}

/// One camera's tamper watch: a baseline learned at start, then a state per class.
#[derive(Debug, Clone)]
pub struct ViewWatch {
    config: ViewWatchConfig,
    /// Stream time of the first sample, and of the previous one.
    first: Option<Duration>,
    last: Option<Duration>,
    /// Baseline sharpness and reference structure (sums while learning, then running values).
    sharpness: f64,
    reference: Vec<f32>,
    learned: u32,
    learning: bool,
    /// Since when the view has looked defocused / moved, and whether it was reported.
    blurred_since: Option<Duration>,
    defocused: bool,
    moved_since: Option<Duration>,
    moved: bool,
    /// The last correlation with the reference (for metrics and tests).
    pub similarity: f64,
}

impl ViewWatch {
    pub fn new(config: ViewWatchConfig) -> Self {
        Self {
            config,
            first: None,
            last: None,
            sharpness: 0.0,
            reference: Vec::new(),
            learned: 0,
            learning: true,
            blurred_since: None,
            defocused: false,
            moved_since: None,
            moved: false,
            similarity: 1.0,
        }
    }

    /// Whether the view is reported defocused now.
    pub fn defocused(&self) -> bool {
        self.defocused
    }

    /// Whether the view is reported moved now.
    pub fn moved(&self) -> bool {
        self.moved
    }

    /// Whether the baseline is still being learned.
    pub fn learning(&self) -> bool {
        self.learning
    }

    /// Takes a sample seen at `at` (any monotonic clock); returns what changed, if anything.
    /// A uniform picture (covered, dark) is the blinded watch's business and is skipped here.
    pub fn observe(&mut self, sample: &ViewSample, at: Duration) -> Option<ViewChange> {
        if sample.structure.is_empty() || sample.spread < 4.0 {
            return None;
        }
        let since_last = self.last.map_or(Duration::ZERO, |last| at.saturating_sub(last));
        self.last = Some(at);
        let first = *self.first.get_or_insert(at);
        if self.learning {
            self.learned += 1;
            self.sharpness += sample.sharpness;
            if self.reference.is_empty() {
                self.reference = sample.structure.clone();
            } else {
                self.reference.iter_mut().zip(&sample.structure).for_each(|(r, s)| *r += s);
            }
            if at.saturating_sub(first) >= self.config.learn && self.learned >= 10 {
                let n = self.learned as f64;
                self.sharpness /= n;
                self.reference = normalised(&self.reference);
                self.learning = false;
            }
            return None;
        }
        self.similarity = correlation(&self.reference, &sample.structure);
        let defocus_now = sample.sharpness < self.sharpness * self.config.defocus_ratio;
        let moved_now = self.similarity < self.config.moved_below;
        if !defocus_now && !moved_now {
            // The view still matches: follow slow change (daylight, a parked car).
            let rate = (self.config.follow_per_s * since_last.as_secs_f64()).clamp(0.0, 1.0);
            self.sharpness += (sample.sharpness - self.sharpness) * rate;
            let rate = rate as f32;
            self.reference.iter_mut().zip(&sample.structure).for_each(|(r, s)| *r += (s - *r) * rate);
        }
        let (grace_blur, grace_moved) = (self.config.defocus_grace, self.config.moved_grace);
        // A moved camera also changes its sharpness: report it as moved, not as defocused.
        if let Some(change) = step(&mut self.moved_since, &mut self.moved, moved_now, at, grace_moved) {
            return Some(if change { ViewChange::Moved } else { ViewChange::Back });
        }
        let blurred = defocus_now && !moved_now;
        step(&mut self.blurred_since, &mut self.defocused, blurred, at, grace_blur)
            .map(|change| if change { ViewChange::Defocused } else { ViewChange::Refocused })
    }
}

/// One class's state machine: `true` once the condition held for `grace`, `false` once it clears.
fn step(since: &mut Option<Duration>, raised: &mut bool, now: bool, at: Duration, grace: Duration) -> Option<bool> {
    if now {
        let start = *since.get_or_insert(at);
        if !*raised && at.saturating_sub(start) >= grace {
            *raised = true;
            return Some(true);
        }
    } else {
        *since = None;
        if *raised {
            *raised = false;
            return Some(false);
        }
    }
    None
}

/// Mean luma of each cell of a `cols` × `rows` grid over the central 90% of the picture, sampling
/// every other pixel.
fn luma_grid(view: &RgbView<'_>, (cols, rows): (usize, usize)) -> Vec<f32> {
    let (width, height, stride, data) = (view.width(), view.height(), view.stride(), view.data());
    let (x0, y0) = (width / 20, height / 20);
    let (w, h) = (width - 2 * x0, height - 2 * y0);
    let mut sums = vec![0f32; cols * rows];
    let mut counts = vec![0u32; cols * rows];
    for y in (0..h).step_by(2) {
        let row = (y * rows / h).min(rows - 1);
        let line = (y0 + y) * stride;
        for x in (0..w).step_by(2) {
            let at = line + (x0 + x) * 3;
            let Some(p) = data.get(at..at + 3) else { continue };
            let luma = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            let cell = row * cols + (x * cols / w).min(cols - 1);
            sums[cell] += luma;
            counts[cell] += 1;
        }
    }
    sums.iter().zip(&counts).map(|(s, &n)| if n > 0 { s / n as f32 } else { 0.0 }).collect()
}

/// Gradient magnitude per cell (central differences, zero at the border).
fn gradient_map(grid: &[f32], (cols, rows): (usize, usize)) -> Vec<f32> {
    let mut out = vec![0f32; cols * rows];
    for y in 1..rows.saturating_sub(1) {
        for x in 1..cols.saturating_sub(1) {
            let gx = grid[y * cols + x + 1] - grid[y * cols + x - 1];
            let gy = grid[(y + 1) * cols + x] - grid[(y - 1) * cols + x];
            out[y * cols + x] = (gx * gx + gy * gy).sqrt() / 2.0;
        }
    }
    out
}

/// Over the central 90%, every other pixel: the mean absolute luma difference to the pixels two
/// to the right and two below, and the luma standard deviation.
fn pixel_gradient_and_contrast(view: &RgbView<'_>) -> (f64, f64) {
    let (width, height, stride, data) = (view.width(), view.height(), view.stride(), view.data());
    let luma = |x: usize, y: usize| -> Option<f64> {
        let at = y * stride + x * 3;
        let p = data.get(at..at + 3)?;
        Some(0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
    };
    let (x0, y0) = (width / 20, height / 20);
    let (mut n, mut gradient, mut sum, mut sum_sq) = (0.0, 0.0, 0.0, 0.0);
    for y in (y0..height.saturating_sub(y0 + 2)).step_by(2) {
        for x in (x0..width.saturating_sub(x0 + 2)).step_by(2) {
            let (Some(here), Some(right), Some(below)) = (luma(x, y), luma(x + 2, y), luma(x, y + 2)) else { continue };
            gradient += (right - here).abs() + (below - here).abs();
            sum += here;
            sum_sq += here * here;
            n += 1.0;
        }
    }
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = sum / n;
    (gradient / n, (sum_sq / n - mean * mean).max(0.0).sqrt())
}

/// Zero mean, unit variance; empty when there is no variance (a uniform picture).
fn normalised(values: &[f32]) -> Vec<f32> {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    if var < 1e-9 {
        return Vec::new();
    }
    let sd = var.sqrt();
    values.iter().map(|&v| ((f64::from(v) - mean) / sd) as f32).collect()
}

/// Pearson correlation of two normalised vectors of the same length (0 when they differ).
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>() / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Frame;

    /// A textured scene (stripes of several widths), shifted by `dx` pixels, scaled in contrast.
    fn scene(dx: usize, contrast: f32, blur: usize) -> Frame {
        let (w, h) = (320usize, 240usize);
        let mut luma = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let u = x + dx;
                let v = ((u / 7) % 2 * 60 + (u / 23) % 2 * 70 + (y / 11) % 2 * 50 + ((u + y) / 31) % 2 * 40) as f32;
                luma[y * w + x] = v;
            }
        }
        for _ in 0..blur {
            let copy = luma.clone();
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    let s: f32 = [-1isize, 0, 1]
                        .iter()
                        .flat_map(|dy| [-1isize, 0, 1].map(|dx| (dx, *dy)))
                        .map(|(dx, dy)| copy[(y as isize + dy) as usize * w + (x as isize + dx) as usize])
                        .sum();
                    luma[y * w + x] = s / 9.0;
                }
            }
        }
        let rgb = luma.iter().flat_map(|v| [((v * contrast) + 20.0).clamp(0.0, 255.0) as u8; 3]).collect();
        Frame::from_rgb(w as u32, h as u32, rgb, 0).unwrap()
    }

    fn sample(frame: &Frame) -> ViewSample {
        ViewSample::measure(&frame.rgb().unwrap())
    }

    fn learnt(watch: &mut ViewWatch, frame: &Frame) -> Duration {
        let s = sample(frame);
        let mut t = Duration::ZERO;
        while watch.learning() {
            assert_eq!(watch.observe(&s, t), None);
            t += Duration::from_millis(500);
        }
        t
    }

    #[test]
    fn sharpness_ignores_contrast_and_falls_with_blur() {
        let sharp = sample(&scene(0, 1.0, 0)).sharpness;
        let dim = sample(&scene(0, 0.4, 0)).sharpness;
        let blurred = sample(&scene(0, 1.0, 40)).sharpness;
        assert!((dim / sharp - 1.0).abs() < 0.1, "{sharp} vs {dim}");
        assert!(blurred < sharp * 0.6, "{sharp} vs {blurred}");
    }

    #[test]
    fn a_blurred_view_is_defocused_after_the_grace_and_clears_when_sharp() {
        let mut watch = ViewWatch::new(ViewWatchConfig::default());
        let mut t = learnt(&mut watch, &scene(0, 1.0, 0));
        let (blurred, sharp) = (sample(&scene(0, 1.0, 40)), sample(&scene(0, 1.0, 0)));
        let mut changes = Vec::new();
        for _ in 0..60 {
            t += Duration::from_millis(500);
            changes.extend(watch.observe(&blurred, t));
        }
        for _ in 0..4 {
            t += Duration::from_millis(500);
            changes.extend(watch.observe(&sharp, t));
        }
        assert_eq!(changes, [ViewChange::Defocused, ViewChange::Refocused]);
    }

    #[test]
    fn a_shifted_view_is_moved_a_darker_one_is_not() {
        let mut watch = ViewWatch::new(ViewWatchConfig::default());
        let mut t = learnt(&mut watch, &scene(0, 1.0, 0));
        let mut changes = Vec::new();
        for _ in 0..40 {
            t += Duration::from_millis(500);
            changes.extend(watch.observe(&sample(&scene(0, 0.35, 0)), t));
        }
        assert!(changes.is_empty(), "a light switched off is no tamper: {changes:?}");
        for _ in 0..40 {
            t += Duration::from_millis(500);
            changes.extend(watch.observe(&sample(&scene(40, 1.0, 0)), t));
        }
        assert_eq!(changes, [ViewChange::Moved]);
    }
}
