//! Low light: a tone curve for a camera's dark or flat pictures (dusk, night, an infrared night
//! mode, a dirty dome), applied while the frame is copied into the detector's input, so it costs a
//! table lookup per byte and nothing else sees a changed picture.
//!
//! Per camera ([`LowLight`]), each frame sent to the detector is measured (a luma histogram of
//! every fourth pixel each way); the levels are smoothed over about a second, so a person walking
//! past does not change the curve. When the smoothed picture is dark (mean luma below
//! [`LowLightConfig::dark_below`]) or flat (the luma of 98% of it within
//! [`LowLightConfig::flat_below`] levels), its levels are stretched to the full range; a good
//! picture is passed on untouched, byte for byte.

use crate::ingest::RgbView;

/// Whether a camera's pictures are stretched before the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LowLightMode {
    /// Only while the picture is dark or flat.
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

/// When a picture counts as dark or flat (luma levels, 0..255).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowLightConfig {
    pub mode: LowLightMode,
    /// Dark: mean luma below this.
    pub dark_below: f32,
    /// Flat: the 1st to 99th percentile of luma span fewer levels than this.
    pub flat_below: f32,
}

impl Default for LowLightConfig {
    /// Measured on the PETS clip and its degraded copies (`benches/degraded`): the daylight clip
    /// has mean luma 120 and a 1–99% span of about 210 levels, re-encoded, scaled or noisy;
    /// dusk 30 / 90, night 28 / 45, an infrared night mode 80 / 95.
    fn default() -> Self {
        Self { mode: LowLightMode::Auto, dark_below: 70.0, flat_below: 140.0 }
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

/// A 256-entry table applied to each of R, G and B: the same curve for the three keeps the hues.
#[derive(Clone, PartialEq, Eq)]
pub struct ToneCurve {
    table: [u8; 256],
}

impl std::fmt::Debug for ToneCurve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ToneCurve(0→{}, 64→{}, 128→{}, 255→{})",
            self.table[0], self.table[64], self.table[128], self.table[255]
        )
    }
}

impl ToneCurve {
    /// Stretches `low..=high` to `0..=255`, clipping outside, with a gamma that brings `mean` to
    /// mid-grey: a dark picture is lifted, not only spread.
    pub fn stretch(low: f32, high: f32, mean: f32) -> Self {
        // At least 16 levels: a nearly uniform picture is not blown up into pure noise.
        let high = high.max(low + 16.0);
        let position = ((mean - low) / (high - low)).clamp(0.05, 0.95);
        // The gamma puts `mean` at MID_GREY, within bounds so a skewed histogram is not overdone.
        let gamma = (MID_GREY.ln() / position.ln()).clamp(0.5, 1.0);
        let mut table = [0u8; 256];
        for (v, out) in table.iter_mut().enumerate() {
            let t = ((v as f32 - low) / (high - low)).clamp(0.0, 1.0);
            *out = (t.powf(gamma) * 255.0).round() as u8;
        }
        Self { table }
    }

    pub fn table(&self) -> &[u8; 256] {
        &self.table
    }

    pub fn apply(&self, value: u8) -> u8 {
        self.table[value as usize]
    }

    /// One RGB pixel through the curve.
    #[inline]
    pub fn pixel(&self, [r, g, b]: [u8; 3]) -> [u8; 3] {
        [self.table[r as usize], self.table[g as usize], self.table[b as usize]]
    }
}

/// Where the stretched mean lands (0..1).
const MID_GREY: f32 = 0.45;
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
}

impl LumaLevels {
    /// Every fourth pixel of every fourth row (1/16 of the picture), BT.601 luma in integers.
    pub fn measure(view: &RgbView<'_>) -> Option<Self> {
        let (width, height, stride, data) = (view.width(), view.height(), view.stride(), view.data());
        let mut histogram = [0u32; 256];
        let mut total = 0u32;
        let mut sum = 0u64;
        for row in (0..height).step_by(4).filter_map(|y| data.get(y * stride..y * stride + width * 3)) {
            for p in row.chunks_exact(12) {
                // (77 R + 150 G + 29 B) / 256 ≈ 0.299 R + 0.587 G + 0.114 B.
                let luma = (77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])) >> 8;
                histogram[luma as usize] += 1;
                sum += u64::from(luma);
                total += 1;
            }
        }
        if total == 0 {
            return None;
        }
        let percentile = |q: f32| {
            let wanted = (q * total as f32).ceil().max(1.0) as u32;
            let mut seen = 0;
            histogram.iter().position(|&n| {
                seen += n;
                seen >= wanted
            })
        };
        Some(Self { low: percentile(0.01)? as f32, high: percentile(0.99)? as f32, mean: sum as f32 / total as f32 })
    }

    pub fn span(&self) -> f32 {
        self.high - self.low
    }

    fn blend(&mut self, new: &Self, weight: f32) {
        self.low += (new.low - self.low) * weight;
        self.high += (new.high - self.high) * weight;
        self.mean += (new.mean - self.mean) * weight;
    }
}

/// One camera's low-light state: its smoothed levels and whether its pictures are stretched now.
#[derive(Debug, Clone)]
pub struct LowLight {
    config: LowLightConfig,
    levels: Option<LumaLevels>,
    active: bool,
    curve: Option<ToneCurve>,
}

impl LowLight {
    pub fn new(config: LowLightConfig) -> Self {
        Self { config, levels: None, active: false, curve: None }
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
                levels.mean < self.config.dark_below * margin || levels.span() < self.config.flat_below * margin
            }
        };
        self.curve = self.active.then(|| ToneCurve::stretch(levels.low, levels.high, levels.mean));
        self.curve.as_ref()
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
    fn the_curve_spreads_the_levels_and_lifts_the_mean() {
        let curve = ToneCurve::stretch(20.0, 60.0, 30.0);
        assert_eq!(curve.apply(10), 0);
        assert_eq!(curve.apply(20), 0);
        assert_eq!(curve.apply(60), 255);
        assert_eq!(curve.apply(200), 255);
        assert!(curve.table().windows(2).all(|w| w[0] <= w[1]), "monotonic");
        // The mean, a quarter of the way up, lands near mid-grey.
        let mid = curve.apply(30) as f32 / 255.0;
        assert!((mid - MID_GREY).abs() < 0.05, "{mid}");
        // A nearly uniform picture is not blown up: at most 16 levels become the full range.
        let flat = ToneCurve::stretch(100.0, 101.0, 100.5);
        assert_eq!(flat.apply(100), 0);
        assert!(flat.apply(108) < 200);
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
