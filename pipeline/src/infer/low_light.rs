//! Low light: a tone curve and a blur for a camera's dark, flat or noisy pictures (dusk, night, an
//! infrared night mode, a sensor at high gain), applied while the frame is copied into the
//! detector's input, so nothing else (motion gate, re-ID crops, tamper watch) sees a changed
//! picture; and lower score thresholds for the tracker meanwhile ([`LowLightConfig::tracker_scores`],
//! lower still for a very flat picture: [`LowLightConfig::very_flat_below`]).
//!
//! Per camera ([`LowLight`]), each frame sent to the detector is measured (a luma histogram of
//! every fourth pixel each way); the levels are smoothed over about a second, so a person walking
//! past does not change the curve. When the smoothed picture is dark (mean luma below
//! [`LowLightConfig::dark_below`]), flat (the luma of 98% of it within
//! [`LowLightConfig::flat_below`] levels) or noisy ([`LowLightConfig::noisy_above`]), its levels
//! are stretched and smoothed; a good picture is passed on untouched, byte for byte.

use crate::ingest::RgbView;

/// Whether a camera's pictures are stretched before the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LowLightMode {
    /// Only while the picture is dark, flat or noisy.
    #[default]
    Auto,
    /// Never.
    Off,
    /// Always (even a good picture is stretched to its own full range).
    On,
}

impl std::str::FromStr for LowLightMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            "on" => Ok(Self::On),
            other => Err(format!("{other:?}: expected auto, on or off")),
        }
    }
}

/// When a picture counts as dark, flat or noisy (luma levels, 0..255).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowLightConfig {
    pub mode: LowLightMode,
    /// Dark: mean luma below this.
    pub dark_below: f32,
    /// Flat: the 1st to 99th percentile of luma span fewer levels than this.
    pub flat_below: f32,
    /// Noisy: neighbouring pixels differ in luma by more than this, in the median.
    pub noisy_above: f32,
    /// While the curve is on, the tracker's `high_score` and `new_track_score`
    /// ([`crate::track::TrackerConfig`]): the detector gives the same people lower scores in a
    /// dark or flat picture, and keeps its precision.
    pub tracker_scores: (f32, f32),
    /// Very flat: the 1st to 99th percentile of luma span fewer levels than this (a dark camera
    /// with no infrared at night). The curve's gain is capped, so such a picture still reaches
    /// the detector flat, and its people score lower again: the tracker then takes
    /// [`very_flat_tracker_scores`](Self::very_flat_tracker_scores).
    pub very_flat_below: f32,
    pub very_flat_tracker_scores: (f32, f32),
}

impl Default for LowLightConfig {
    /// Measured on the PETS clip and its degraded copies (`benches/degraded`, mean luma / span of
    /// the 1st–99th percentile, every 50th frame): the clip as it is 119 / 232–251, re-encoded
    /// at 384×288 or 352×240 about the same, zoomed on a door 149 / 185–229, with heavy noise
    /// 121 / 177–188; dusk 30 / 84–88, night 28 / 41–47, an infrared night mode 80 / 83–92. As
    /// Lintel's ingest decodes them (GStreamer, which clips the copies' levels below black), every
    /// 50th frame: dusk 18 / 79–82, night 13 / 38–40, colour night 16 / 46, a darker night
    /// darkened in RGB 10 / 22–26.
    fn default() -> Self {
        // The scores (benches/degraded, line error of night, dusk, night with noise, infrared):
        // 21%, 14%, 21%, 67% with the daylight 0.5 / 0.6; 13.5%, 9.7%, 10.3%, 11.0% at 0.35 /
        // 0.45; 11.0%, 9.0%, 9.0%, 9.7% at 0.3 / 0.4. On the clip as it is (never stretched)
        // 0.35 / 0.45 would cost: 5 line errors of 155 to 9. Very flat (below 30 levels, off
        // again above 34.5 with the hysteresis): the darker night 34 line errors at 0.3 / 0.4, 18
        // at 0.25 / 0.35, 19 at 0.2 / 0.3; the same lower scores on every dark picture cost dusk
        // (13 → 21 at 0.2 / 0.3) and colour night (19 → 25), whose spans are 79 and 46.
        Self {
            mode: LowLightMode::Auto,
            dark_below: 70.0,
            flat_below: 140.0,
            noisy_above: 6.0,
            tracker_scores: (0.3, 0.4),
            very_flat_below: 30.0,
            very_flat_tracker_scores: (0.25, 0.35),
        }
    }
}

impl LowLightConfig {
    pub fn with_mode(mode: LowLightMode) -> Self {
        Self { mode, ..Self::default() }
    }

    /// A site-file camera's `low_light` (`"on"`, `"off"`) over `node`'s mode (`"auto"`: the node's).
    pub fn for_camera(node: LowLightMode, camera: &lintel_calibration::site::Camera) -> Self {
        Self::with_mode(match camera.low_light {
            Some(true) => LowLightMode::On,
            Some(false) => LowLightMode::Off,
            None => node,
        })
    }
}

/// How a dark camera's frame is shown to the detector: its levels stretched (one 256-entry table
/// for R, G and B alike, which keeps the hues), then smoothed by a 5×5 binomial blur.
///
/// Both halves were measured on the degraded copies (`benches/degraded`, 768×576 INT8 detector,
/// recall at score 0.3, every 10th frame): stretching alone made the night copy *worse* (0.42 →
/// 0.24 to 0.33: the gain brings out JPEG blocks and noise, which the detector takes for edges),
/// so the gain is held to [`MAX_GAIN`]; the blur hides the blocks (night 0.42 → 0.55, an infrared
/// night mode 0.20 → 0.62 with both). CLAHE did worse than either (infrared 0.13).
#[derive(Clone, PartialEq, Eq)]
pub struct ToneCurve {
    table: [u8; 256],
}

impl std::fmt::Debug for ToneCurve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.table;
        write!(f, "ToneCurve(0→{}, 64→{}, 128→{}, 255→{})", t[0], t[64], t[128], t[255])
    }
}

/// The most the levels are multiplied by: beyond it compression artefacts outweigh the people.
pub const MAX_GAIN: f32 = 2.0;

impl ToneCurve {
    /// Moves `low` to 0 and stretches the levels above it to fill `0..=255`, by at most
    /// [`MAX_GAIN`].
    pub fn stretch(low: f32, high: f32) -> Self {
        let gain = (255.0 / (high - low).max(1.0)).min(MAX_GAIN);
        let mut table = [0u8; 256];
        for (v, out) in table.iter_mut().enumerate() {
            *out = ((v as f32 - low) * gain).round().clamp(0.0, 255.0) as u8;
        }
        Self { table }
    }

    pub fn table(&self) -> &[u8; 256] {
        &self.table
    }

    pub fn apply(&self, value: u8) -> u8 {
        self.table[value as usize]
    }

    /// Writes `frame` through the curve and the blur into `out`, packed RGB rows of
    /// `width * 3` bytes (the uint8 NHWC input of a detector). One pass over the frame: each row is
    /// looked up and blurred across once into a ring of five, and each output row is the
    /// weighted sum of five of them.
    ///
    /// # Panics
    /// When `out` is not `width * height * 3` bytes.
    pub fn render(&self, frame: &RgbView<'_>, out: &mut [u8]) {
        let (width, height, stride, data) = (frame.width(), frame.height(), frame.stride(), frame.data());
        let row_len = width * 3;
        assert_eq!(out.len(), row_len * height, "output size");
        if width == 0 || height == 0 {
            return;
        }
        // Rows blurred across, times 16 (the binomial 1 4 6 4 1), for source rows y-2..=y+2.
        let mut ring = vec![0u16; row_len * 5];
        // One source row through the table, two pixels repeated at each end.
        let mut padded = vec![0u16; row_len + 12];
        let mut across = |y: usize, dst: &mut [u16]| {
            let src = &data[y * stride..y * stride + row_len];
            for (p, &v) in padded[6..6 + row_len].iter_mut().zip(src) {
                *p = u16::from(self.table[v as usize]);
            }
            for c in 0..6 {
                padded[c] = padded[6 + c % 3];
                padded[6 + row_len + c] = padded[6 + row_len - 3 + c % 3];
            }
            for (i, d) in dst.iter_mut().enumerate() {
                *d = padded[i] + 4 * padded[i + 3] + 6 * padded[i + 6] + 4 * padded[i + 9] + padded[i + 12];
            }
        };
        let clamp_row = |y: isize| y.clamp(0, height as isize - 1) as usize;
        for k in 0..5 {
            across(clamp_row(k as isize - 2), &mut ring[k * row_len..(k + 1) * row_len]);
        }
        for (y, dst) in out.chunks_exact_mut(row_len).enumerate() {
            // Ring slot k holds source row y - 2 + k, rotated: slot (y + k) % 5.
            let slot = |k: usize| &ring[((y + k) % 5) * row_len..((y + k) % 5 + 1) * row_len];
            let (r0, r1, r2, r3, r4) = (slot(0), slot(1), slot(2), slot(3), slot(4));
            for (i, d) in dst.iter_mut().enumerate() {
                let sum = u32::from(r0[i])
                    + 4 * u32::from(r1[i])
                    + 6 * u32::from(r2[i])
                    + 4 * u32::from(r3[i])
                    + u32::from(r4[i]);
                *d = ((sum + 128) >> 8) as u8;
            }
            // The slot of row y - 2 is done with: it takes row y + 3.
            let next = (y % 5) * row_len;
            across(clamp_row(y as isize + 3), &mut ring[next..next + row_len]);
        }
    }
}

/// Weight of a new frame in the smoothed levels: about a second at 10 frames/s.
const SMOOTHING: f32 = 0.1;
/// Once on, the picture must be this much better than the thresholds to turn it off (and back).
const HYSTERESIS: f32 = 1.15;

/// Luma levels of one picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LumaLevels {
    /// 1st percentile.
    pub low: f32,
    /// 99th percentile.
    pub high: f32,
    pub mean: f32,
    /// Median luma difference between a pixel and its right-hand neighbour: sensor noise (a
    /// sharp daylight picture 1.9, with heavy noise 13.8; scaled-up low-resolution ones 1.0).
    pub noise: f32,
}

impl LumaLevels {
    /// Every fourth pixel of every fourth row (1/16 of the picture) and its right-hand neighbour,
    /// BT.601 luma in integers.
    pub fn measure(view: &RgbView<'_>) -> Option<Self> {
        let (width, height, stride, data) = (view.width(), view.height(), view.stride(), view.data());
        let mut histogram = [0u32; 256];
        let mut differences = [0u32; 256];
        let mut total = 0u32;
        let mut sum = 0u64;
        // (77 R + 150 G + 29 B) / 256 ≈ 0.299 R + 0.587 G + 0.114 B.
        let luma = |p: &[u8]| (77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])) >> 8;
        for row in (0..height).step_by(4).filter_map(|y| data.get(y * stride..y * stride + width * 3)) {
            for p in row.chunks_exact(12) {
                let (here, right) = (luma(&p[..3]), luma(&p[3..6]));
                histogram[here as usize] += 1;
                differences[here.abs_diff(right) as usize] += 1;
                sum += u64::from(here);
                total += 1;
            }
        }
        if total == 0 {
            return None;
        }
        let percentile = |histogram: &[u32; 256], q: f32| {
            let wanted = (q * total as f32).ceil().max(1.0) as u32;
            let mut seen = 0;
            histogram.iter().position(|&n| {
                seen += n;
                seen >= wanted
            })
        };
        Some(Self {
            low: percentile(&histogram, 0.01)? as f32,
            high: percentile(&histogram, 0.99)? as f32,
            mean: sum as f32 / total as f32,
            noise: percentile(&differences, 0.5)? as f32,
        })
    }

    pub fn span(&self) -> f32 {
        self.high - self.low
    }

    fn blend(&mut self, new: &Self, weight: f32) {
        self.low += (new.low - self.low) * weight;
        self.high += (new.high - self.high) * weight;
        self.mean += (new.mean - self.mean) * weight;
        self.noise += (new.noise - self.noise) * weight;
    }
}

/// One camera's low-light state: its smoothed levels and whether its pictures are stretched now.
#[derive(Debug, Clone)]
pub struct LowLight {
    config: LowLightConfig,
    levels: Option<LumaLevels>,
    active: bool,
    very_flat: bool,
    curve: Option<ToneCurve>,
}

impl LowLight {
    pub fn new(config: LowLightConfig) -> Self {
        Self { config, levels: None, active: false, very_flat: false, curve: None }
    }

    /// Measures a frame that goes to the detector and returns the curve to apply to it, `None`
    /// for a picture to pass on untouched.
    pub fn update(&mut self, view: &RgbView<'_>) -> Option<&ToneCurve> {
        if self.config.mode == LowLightMode::Off {
            return None;
        }
        let Some(measured) = LumaLevels::measure(view) else { return self.curve.as_ref() };
        let levels = match self.levels.as_mut() {
            Some(levels) => {
                levels.blend(&measured, SMOOTHING);
                *levels
            }
            None => *self.levels.insert(measured),
        };
        self.active = match self.config.mode {
            LowLightMode::On => true,
            LowLightMode::Off => false,
            LowLightMode::Auto => {
                let margin = if self.active { HYSTERESIS } else { 1.0 };
                levels.mean < self.config.dark_below * margin
                    || levels.span() < self.config.flat_below * margin
                    || levels.noise > self.config.noisy_above / margin
            }
        };
        let margin = if self.very_flat { HYSTERESIS } else { 1.0 };
        self.very_flat = self.active && levels.span() < self.config.very_flat_below * margin;
        self.curve = self.active.then(|| ToneCurve::stretch(levels.low, levels.high));
        self.curve.as_ref()
    }

    /// The tracker's `high_score` and `new_track_score` for the last frame's light: `None` for a
    /// picture passed on untouched (the tracker's own), lower for a very flat one.
    pub fn tracker_scores(&self) -> Option<(f32, f32)> {
        match (self.active, self.very_flat) {
            (false, _) => None,
            (true, false) => Some(self.config.tracker_scores),
            (true, true) => Some(self.config.very_flat_tracker_scores),
        }
    }

    /// Whether the last frame was stretched.
    pub fn active(&self) -> bool {
        self.active
    }

    /// The smoothed levels of the frames measured so far.
    pub fn levels(&self) -> Option<LumaLevels> {
        self.levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Frame;

    /// A `w`×`h` picture whose luma ramps from `low` to `high` left to right (grey).
    fn ramp(w: u32, h: u32, low: u8, high: u8) -> Frame {
        let rgb = (0..h)
            .flat_map(|_| (0..w).flat_map(move |x| [(low as u32 + (high - low) as u32 * x / (w - 1)) as u8; 3]))
            .collect();
        Frame::from_rgb(w, h, rgb, 0).unwrap()
    }

    #[test]
    fn levels_of_a_ramp() {
        let frame = ramp(256, 16, 20, 60);
        let levels = LumaLevels::measure(&frame.rgb().unwrap()).unwrap();
        assert!((levels.low - 20.0).abs() <= 1.0, "{levels:?}");
        assert!((levels.high - 60.0).abs() <= 1.0, "{levels:?}");
        assert!((levels.mean - 40.0).abs() <= 1.0, "{levels:?}");
    }

    #[test]
    fn the_curve_spreads_the_levels_by_at_most_the_maximum_gain() {
        // 20..60 would need a gain of 6.4: it gets 2.
        let curve = ToneCurve::stretch(20.0, 60.0);
        assert_eq!((curve.apply(10), curve.apply(20), curve.apply(60), curve.apply(200)), (0, 0, 80, 255));
        assert!(curve.table().windows(2).all(|w| w[0] <= w[1]), "monotonic");
        // A wide but shifted range is stretched to exactly fill 0..=255.
        let curve = ToneCurve::stretch(50.0, 205.0);
        assert_eq!((curve.apply(50), curve.apply(205)), (0, 255));
    }

    /// The 5×5 binomial blur written plainly, edges repeated, for comparison.
    fn blurred_reference(rgb: &[u8], w: usize, h: usize, curve: &ToneCurve) -> Vec<u8> {
        const K: [u32; 5] = [1, 4, 6, 4, 1];
        let at = |x: isize, y: isize, c: usize| {
            let (x, y) = (x.clamp(0, w as isize - 1) as usize, y.clamp(0, h as isize - 1) as usize);
            u32::from(curve.apply(rgb[(y * w + x) * 3 + c]))
        };
        let mut out = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let mut sum = 0;
                    for (j, kj) in K.iter().enumerate() {
                        for (i, ki) in K.iter().enumerate() {
                            sum += kj * ki * at(x as isize + i as isize - 2, y as isize + j as isize - 2, c);
                        }
                    }
                    out[(y * w + x) * 3 + c] = ((sum + 128) >> 8) as u8;
                }
            }
        }
        out
    }

    #[test]
    fn render_is_the_curve_then_the_blur_edges_included() {
        // Odd sizes (GStreamer pads the rows) and sizes below the kernel's.
        for (w, h) in [(13usize, 9usize), (3, 2), (1, 1), (6, 7)] {
            let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i * 7919) % 97) as u8).collect();
            let frame = Frame::from_rgb(w as u32, h as u32, rgb.clone(), 0).unwrap();
            let curve = ToneCurve::stretch(10.0, 80.0);
            let mut out = vec![0u8; w * h * 3];
            curve.render(&frame.rgb().unwrap(), &mut out);
            assert_eq!(out, blurred_reference(&rgb, w, h, &curve), "{w}×{h}");
        }
        // A uniform picture stays uniform: only the curve moves it.
        let frame = Frame::from_rgb(8, 8, vec![40; 8 * 8 * 3], 0).unwrap();
        let mut out = vec![0u8; 8 * 8 * 3];
        ToneCurve::stretch(20.0, 60.0).render(&frame.rgb().unwrap(), &mut out);
        assert!(out.iter().all(|&v| v == 40), "{out:?}");
    }

    #[test]
    fn auto_stretches_dark_or_flat_pictures_only() {
        let good = ramp(256, 16, 0, 255);
        let dark = ramp(256, 16, 5, 90);
        let flat = ramp(256, 16, 90, 170);
        let mut camera = LowLight::new(LowLightConfig::default());
        assert!(camera.update(&good.rgb().unwrap()).is_none());
        for (frame, what) in [(&dark, "dark"), (&flat, "flat")] {
            let mut camera = LowLight::new(LowLightConfig::default());
            assert!(camera.update(&frame.rgb().unwrap()).is_some(), "{what}");
        }
        let mut off = LowLight::new(LowLightConfig::with_mode(LowLightMode::Off));
        assert!(off.update(&dark.rgb().unwrap()).is_none());
        let mut on = LowLight::new(LowLightConfig::with_mode(LowLightMode::On));
        assert!(on.update(&good.rgb().unwrap()).is_some());
    }

    #[test]
    fn a_very_flat_picture_gets_lower_tracker_scores_and_a_night_picture_does_not() {
        let config = LowLightConfig::default();
        let good = ramp(256, 16, 0, 255);
        let night = ramp(256, 16, 0, 40);
        let darker = ramp(256, 16, 0, 24);
        let mut camera = LowLight::new(config);
        camera.update(&good.rgb().unwrap());
        assert_eq!(camera.tracker_scores(), None);
        let mut camera = LowLight::new(config);
        camera.update(&night.rgb().unwrap());
        assert_eq!(camera.tracker_scores(), Some(config.tracker_scores));
        let mut camera = LowLight::new(config);
        camera.update(&darker.rgb().unwrap());
        assert_eq!(camera.tracker_scores(), Some(config.very_flat_tracker_scores));
        // Off only once the picture is clearly better (the hysteresis): 32 levels keep it, 40 do not.
        let (slightly, clearly) = (ramp(256, 16, 0, 32), ramp(256, 16, 0, 40));
        assert!((0..50).all(|_| {
            camera.update(&slightly.rgb().unwrap());
            camera.tracker_scores() == Some(config.very_flat_tracker_scores)
        }));
        let back_at = (1..=50).find(|_| {
            camera.update(&clearly.rgb().unwrap());
            camera.tracker_scores() == Some(config.tracker_scores)
        });
        assert!(back_at.is_some(), "the picture got better and the scores stayed down");
        // Forced on, a good picture is stretched but not very flat.
        let mut on = LowLight::new(LowLightConfig::with_mode(LowLightMode::On));
        on.update(&good.rgb().unwrap());
        assert_eq!(on.tracker_scores(), Some(config.tracker_scores));
    }

    #[test]
    fn a_noisy_picture_is_smoothed_and_a_sharp_one_is_not() {
        let (w, h) = (256u32, 64u32);
        // Full range, smooth left to right, with ±20 levels of pseudo-random noise on every pixel.
        let noisy: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let base = (i % w) as i32;
                let noise = ((i.wrapping_mul(2_654_435_761) >> 24) % 41) as i32 - 20;
                [(base + noise).clamp(0, 255) as u8; 3]
            })
            .collect();
        let noisy = Frame::from_rgb(w, h, noisy, 0).unwrap();
        let levels = LumaLevels::measure(&noisy.rgb().unwrap()).unwrap();
        assert!(levels.noise > 6.0 && levels.span() > 140.0 && levels.mean > 70.0, "{levels:?}");
        assert!(LowLight::new(LowLightConfig::default()).update(&noisy.rgb().unwrap()).is_some());
        let sharp = ramp(w, h, 0, 255);
        assert!(LumaLevels::measure(&sharp.rgb().unwrap()).unwrap().noise <= 1.0);
    }

    #[test]
    fn the_levels_follow_a_change_of_light_within_seconds_without_flicker() {
        let good = ramp(256, 16, 0, 255);
        let dark = ramp(256, 16, 5, 60);
        let mut camera = LowLight::new(LowLightConfig::default());
        camera.update(&good.rgb().unwrap());
        // One dark frame (a person in a dark coat filling the door) turns nothing on.
        assert!(camera.update(&dark.rgb().unwrap()).is_none());
        camera.update(&good.rgb().unwrap());
        assert!(!camera.active());
        // Dusk falls: within 3 s at 10 frames/s the camera is stretched, and stays so.
        let on_after = (1..=30).find(|_| camera.update(&dark.rgb().unwrap()).is_some());
        assert!(on_after.is_some_and(|n| n > 1), "{on_after:?}");
        assert!((0..30).all(|_| camera.update(&dark.rgb().unwrap()).is_some()));
        // Day breaks: it turns off again.
        assert!((0..60).any(|_| camera.update(&good.rgb().unwrap()).is_none()));
    }
}
