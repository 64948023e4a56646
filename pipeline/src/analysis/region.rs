//! The detector's region of interest: a camera whose zones cover part of its picture is detected
//! on that part only, through a smaller network ([`crate::infer::Detector::with_regions`]), with a
//! whole-frame look now and then for what watches the whole picture (tamper, the flow map, the
//! set-up page's tracks).
//!
//! The region is the zones' bounding box on the picture (undistorted, as the counter sees them)
//! grown by about a person's height, so that someone is found, whole, before reaching a line. The
//! window the detector sees is the smallest region network's input that holds it, centred on it and
//! moved inside the frame, at the frame's own scale: people keep the size in pixels the network
//! sees them at on the whole frame, and their boxes map back by an offset alone.

use std::time::Duration;

use lintel_calibration::site::{Camera, ZoneShape};

use crate::infer::{Letterbox, Window, watched_area};

/// How a camera uses the detector's region networks (plain data).
#[derive(Debug, Clone, PartialEq)]
pub struct RegionConfig {
    /// Margin around the zones, as a share of the picture's height: about a person's height.
    pub margin: f32,
    /// The longest time between two whole-frame looks.
    pub whole_every: Duration,
    /// The region networks' input sizes, in analysis pixels ([`crate::infer::Detector::region_sizes`]).
    pub sizes: Vec<(u32, u32)>,
}

impl RegionConfig {
    /// The defaults for a detector whose region networks take `sizes`.
    pub fn with_sizes(sizes: Vec<(u32, u32)>) -> Self {
        Self { margin: DEFAULT_MARGIN, whole_every: DEFAULT_WHOLE_EVERY, sizes }
    }

    /// The region of `camera`: the node's (`node`, `None` when it looks at whole frames), unless
    /// the site file's `detector_region = false` says the whole frame always.
    pub fn for_camera(node: Option<&RegionConfig>, camera: &Camera) -> Option<RegionConfig> {
        if camera.detector_region == Some(false) {
            return None;
        }
        node.cloned()
    }
}

/// A person at the far edge of the clip's walkway is about a fifth of the picture high, a near one
/// a quarter.
pub const DEFAULT_MARGIN: f32 = 0.25;
/// Once every 2 s the detector sees the whole frame.
pub const DEFAULT_WHOLE_EVERY: Duration = Duration::from_secs(2);

/// One stream's region plan: its window (none when no region network fits) and when the detector
/// last saw the whole frame.
#[derive(Debug, Clone)]
pub(super) struct RegionPlan {
    window: Option<Window>,
    whole_every: Duration,
    last_whole: Option<Duration>,
}

impl RegionPlan {
    /// The plan for `zones` (source pixels of a `source` picture) on frames of `frame` pixels,
    /// scaled as `letterboxed` says.
    pub(super) fn new(
        config: &RegionConfig,
        zones: &[ZoneShape],
        source: (u32, u32),
        frame: (u32, u32),
        letterboxed: bool,
    ) -> Self {
        let area = watched_area(zones, source, config.margin);
        let letterbox = Letterbox::new(source, frame, letterboxed);
        let (x1, y1) = letterbox.to_input(area.left, area.top);
        let (x2, y2) = letterbox.to_input(area.right(), area.bottom());
        let window = if zones.is_empty() { None } else { window_for((x1, y1, x2, y2), frame, &config.sizes) };
        Self { window, whole_every: config.whole_every, last_whole: None }
    }

    pub(super) fn window(&self) -> Option<Window> {
        self.window
    }

    /// The window for a frame the detector sees at stream time `at`: `None` (the whole frame) when
    /// the last whole look is `whole_every` old, or the stream started again.
    pub(super) fn window_at(&mut self, at: Duration) -> Option<Window> {
        let window = self.window?;
        match self.last_whole {
            Some(last) if at >= last && at - last < self.whole_every => Some(window),
            _ => {
                self.last_whole = Some(at);
                None
            }
        }
    }
}

/// The window holding the area `(x1, y1, x2, y2)` (frame pixels) of the smallest of `sizes` that
/// holds it and is smaller than the frame, centred on the area and moved inside the frame.
pub fn window_for(
    (x1, y1, x2, y2): (f32, f32, f32, f32),
    (frame_w, frame_h): (u32, u32),
    sizes: &[(u32, u32)],
) -> Option<Window> {
    let (x1, y1) = (x1.floor().max(0.0), y1.floor().max(0.0));
    let (x2, y2) = (x2.ceil().min(frame_w as f32), y2.ceil().min(frame_h as f32));
    let (need_w, need_h) = ((x2 - x1).max(0.0) as u32, (y2 - y1).max(0.0) as u32);
    let &(width, height) = sizes
        .iter()
        .filter(|&&(w, h)| w >= need_w && h >= need_h && w <= frame_w && h <= frame_h)
        .filter(|&&(w, h)| u64::from(w) * u64::from(h) < u64::from(frame_w) * u64::from(frame_h))
        .min_by_key(|&&(w, h)| u64::from(w) * u64::from(h))?;
    let centred = |low: f32, high: f32, size: u32, frame: u32| {
        let start = ((low + high) / 2.0 - size as f32 / 2.0).round().max(0.0) as u32;
        start.min(frame - size)
    };
    Some(Window { left: centred(x1, x2, width, frame_w), top: centred(y1, y2, height, frame_h), width, height })
}

#[cfg(test)]
mod tests {
    use lintel_calibration::geometry::{CountingLine, Point, Side};

    use super::*;

    const SIZES: [(u32, u32); 2] = [(384, 576), (512, 384)];

    #[test]
    fn the_smallest_network_that_holds_the_area_centred_and_inside_the_frame() {
        // A tall area at the left: the portrait network, pushed right to the frame's edge.
        let window = window_for((0.0, 29.0, 316.0, 576.0), (768, 576), &SIZES).unwrap();
        assert_eq!(window, Window { left: 0, top: 0, width: 384, height: 576 });
        // A wide one in the middle: the landscape network, centred.
        let window = window_for((200.0, 100.0, 600.0, 400.0), (768, 576), &SIZES).unwrap();
        assert_eq!(window, Window { left: 144, top: 58, width: 512, height: 384 });
        // A small one near the bottom right: the smaller of the two, inside the frame.
        let window = window_for((700.0, 500.0, 760.0, 570.0), (768, 576), &SIZES).unwrap();
        assert_eq!(window, Window { left: 256, top: 192, width: 512, height: 384 });
        // Too big for both: the whole frame.
        assert_eq!(window_for((0.0, 0.0, 600.0, 500.0), (768, 576), &SIZES), None);
        // A network as big as the frame saves nothing.
        assert_eq!(window_for((0.0, 0.0, 10.0, 10.0), (384, 576), &SIZES), None);
        assert_eq!(window_for((0.0, 0.0, 10.0, 10.0), (768, 576), &[]), None);
    }

    #[test]
    fn the_whole_frame_is_looked_at_every_so_often_and_at_a_new_stream() {
        let line = CountingLine::new(Point::new(100.0, 200.0), Point::new(100.0, 400.0), Side::Right);
        let config = RegionConfig::with_sizes(SIZES.to_vec());
        let mut plan = RegionPlan::new(&config, &[ZoneShape::Line(line)], (768, 576), (768, 576), false);
        let window = plan.window().expect("a short line fits the portrait network");
        assert_eq!(window.size(), (384, 576));
        let ms = Duration::from_millis;
        assert_eq!(plan.window_at(ms(0)), None);
        assert_eq!(plan.window_at(ms(100)), Some(window));
        assert_eq!(plan.window_at(ms(1900)), Some(window));
        assert_eq!(plan.window_at(ms(2000)), None);
        assert_eq!(plan.window_at(ms(2100)), Some(window));
        // Time went back: a new stream looks at the whole frame first.
        assert_eq!(plan.window_at(ms(50)), None);
        // No zone: the whole frame always.
        let mut none = RegionPlan::new(&config, &[], (768, 576), (768, 576), false);
        assert_eq!(none.window_at(ms(100)), None);
        assert_eq!(none.window_at(ms(200)), None);
    }

    #[test]
    fn a_camera_of_the_site_file_can_keep_the_whole_frame() {
        let site = lintel_calibration::site::Site::parse(
            "[site]\nid = \"s\"\nnode = \"n\"\n[[building]]\nid = \"b\"\n[[entrance]]\nid = \"e\"\nbuilding = \"b\"\n\
             [[camera]]\nid = \"c\"\nentrance = \"e\"\nurl = \"rtsp://h/1\"\ndetector_region = false\n\
             [[camera]]\nid = \"d\"\nentrance = \"e\"\nurl = \"rtsp://h/2\"\n",
            "site.toml",
        )
        .unwrap();
        let node = RegionConfig::with_sizes(SIZES.to_vec());
        assert_eq!(RegionConfig::for_camera(Some(&node), &site.cameras[0]), None);
        assert_eq!(RegionConfig::for_camera(Some(&node), &site.cameras[1]), Some(node.clone()));
        assert_eq!(RegionConfig::for_camera(None, &site.cameras[1]), None);
    }

    #[test]
    fn a_source_scaled_to_the_network_is_planned_in_the_networks_pixels() {
        // A 1536×1152 camera stretched to 768×576: the area halves.
        let line = CountingLine::new(Point::new(200.0, 400.0), Point::new(200.0, 800.0), Side::Right);
        let config = RegionConfig { margin: 0.0, ..RegionConfig::with_sizes(SIZES.to_vec()) };
        let plan = RegionPlan::new(&config, &[ZoneShape::Line(line)], (1536, 1152), (768, 576), false);
        // The line at x = 100, y 200..400 of the frame: the landscape window centred on it, moved in.
        assert_eq!(plan.window(), Some(Window { left: 0, top: 108, width: 512, height: 384 }));
    }
}
