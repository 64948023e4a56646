//! Motion gating: an idle door need not be analysed every frame.
//!
//! The detector is skipped while nothing moves in the watched area (the zones and a margin
//! around them) and no track is near it, but never for longer than `max_skip`, so someone who
//! came in without the motion test noticing is found within that time. Motion is measured on a
//! grid of cells (mean brightness of 8×8 pixels, every other pixel sampled) against the last
//! frame the detector saw, so slow movement adds up over skipped frames and a change of light
//! is absorbed as soon as the detector has looked once. How much a cell must change follows the
//! picture's contrast, so a flat night picture gates as well as daylight
//! (`pipeline/tests/motion_gate_light.rs`).

use std::time::Duration;

use lintel_calibration::site::{Camera, ZoneShape};

use crate::detection::BBox;
use crate::ingest::{Frame, MapError};

use super::Letterbox;

/// Side of a motion cell, in analysis-frame pixels.
const CELL: usize = 8;
/// A cell has changed when it moved by this share of the cells' mean deviation from their mean
/// brightness (the picture's contrast), up to `cell_change`.
const CONTRAST_SHARE: f32 = 0.4;
/// The least change that counts, whatever the contrast (8-bit levels).
const MIN_CELL_CHANGE: f32 = 1.0;

/// ... and more than this many times the median cell's change: most cells see no one, so the
/// median is the picture's noise (a grainy infrared picture changes every cell by a few levels)
/// or a change of light over the whole picture.
const NOISE_SHARE: f32 = 4.0;

/// The median of `values` (0 when empty).
fn median(values: &[f32]) -> f32 {
    let mut sorted = values.to_vec();
    if sorted.is_empty() {
        return 0.0;
    }
    let middle = sorted.len() / 2;
    *sorted.select_nth_unstable_by(middle, f32::total_cmp).1
}

/// Mean absolute deviation of `values` from their mean.
fn mean_deviation(values: &[f32]) -> f32 {
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    values.iter().map(|v| (v - mean).abs()).sum::<f32>() / values.len() as f32
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionGateConfig {
    /// The longest the detector is skipped, motion or not.
    pub max_skip: Duration,
    /// A cell has changed when its mean brightness moved by more than this (0..255) in a
    /// picture of daylight contrast; in a flatter one, by less (see [`CONTRAST_SHARE`]).
    pub cell_change: f32,
    /// Motion is this many changed cells or more in the watched area, each beside another
    /// changed cell: cells flicker here and there with sensor noise and compression, a person
    /// changes a patch of dozens.
    pub min_changed_cells: usize,
    /// Margin around the zones, as a fraction of the frame height, inside which motion and
    /// tracks count: a person is seen and tracked before reaching a line.
    pub margin: f32,
}

impl Default for MotionGateConfig {
    fn default() -> Self {
        Self { max_skip: Duration::from_secs(2), cell_change: 10.0, min_changed_cells: 3, margin: 0.15 }
    }
}

impl MotionGateConfig {
    /// The gate of `camera`: its site-file `motion_gate` and `motion_max_skip_s` over the node's
    /// (`node` is `Some` when the node gates by default). `None`: every frame goes to the detector.
    pub fn for_camera(node: Option<MotionGateConfig>, camera: &Camera) -> Option<MotionGateConfig> {
        if !camera.motion_gate.unwrap_or(node.is_some()) {
            return None;
        }
        let mut config = node.unwrap_or_default();
        if let Some(seconds) = camera.motion_max_skip_s {
            config.max_skip = Duration::from_secs_f32(seconds);
        }
        Some(config)
    }
}

/// The bounding box of `zones` (source pixels of a `width` × `height` frame) grown by `margin` ×
/// the frame height on every side, inside the frame; the whole frame when there is no zone.
pub fn watched_area(zones: &[ZoneShape], (width, height): (u32, u32), margin: f32) -> BBox {
    let (w, h) = (width as f32, height as f32);
    let points = zones.iter().flat_map(|zone| match zone {
        ZoneShape::Line(line) => vec![line.a, line.b],
        ZoneShape::Polygon(polygon) => polygon.points.clone(),
    });
    let (mut x1, mut y1, mut x2, mut y2) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        (x1, y1, x2, y2) = (x1.min(p.x), y1.min(p.y), x2.max(p.x), y2.max(p.y));
    }
    if x1 > x2 {
        return BBox::from_corners(0.0, 0.0, w, h);
    }
    let m = margin * h;
    BBox::from_corners((x1 - m).max(0.0), (y1 - m).max(0.0), (x2 + m).min(w), (y2 + m).min(h))
}

/// Why the gate let a frame through (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateDecision {
    /// The first frame, or the first after time went backwards (a new stream).
    Start,
    /// Something moved in the watched area.
    Motion,
    /// A track is in or near the watched area.
    Tracking,
    /// Nothing moved, but `max_skip` has passed since the detector last ran.
    MaxSkip,
    /// Skip the detector on this frame.
    Skip,
}

impl GateDecision {
    pub fn detect(self) -> bool {
        self != GateDecision::Skip
    }
}

/// One camera's motion gate. The watched area is fixed at construction, in frame (source) pixels.
#[derive(Debug)]
pub struct MotionGate {
    config: MotionGateConfig,
    watched: BBox,
    letterboxed: bool,
    /// Cell means at the last frame the detector saw, and the current frame's.
    reference: Vec<f32>,
    current: Vec<f32>,
    /// Cells per row of the watched area.
    columns: usize,
    last_detected: Option<Duration>,
    skipped: u64,
}

impl MotionGate {
    /// A gate watching `zones` (in source pixels of a `width` × `height` frame) and a margin
    /// around them; with no zone it watches the whole frame. `letterboxed` says how the source
    /// was scaled to the analysis size (as the detector's model wants).
    pub fn new(config: MotionGateConfig, zones: &[ZoneShape], size: (u32, u32), letterboxed: bool) -> Self {
        let watched = watched_area(zones, size, config.margin);
        Self {
            config,
            watched,
            letterboxed,
            reference: Vec::new(),
            current: Vec::new(),
            columns: 0,
            last_detected: None,
            skipped: 0,
        }
    }

    /// The watched area, in source pixels.
    pub fn watched(&self) -> BBox {
        self.watched
    }

    /// Frames skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Whether a person's box is in or touches the watched area.
    pub fn watches(&self, bbox: &BBox) -> bool {
        let w = &self.watched;
        bbox.left <= w.right() && bbox.right() >= w.left && bbox.top <= w.bottom() && bbox.bottom() >= w.top
    }

    /// Decides whether the detector should run on `frame`, shown at `at` (stream time);
    /// `tracking` says whether any track is in or near the watched area (see [`watches`](Self::watches)).
    pub fn decide(&mut self, frame: &Frame, at: Duration, tracking: bool) -> Result<GateDecision, MapError> {
        self.measure(frame)?;
        Ok(self.settle(at, tracking))
    }

    /// Decides on `frame` before the tracker has seen the frames before it (they are still with
    /// the detector): `Some` when the frame goes to the detector whatever the tracker will say (a
    /// start, motion, `max_skip`), decided as [`decide`](Self::decide) would; `None` when that
    /// depends on whether a track is near, and nothing is decided: call [`settle`](Self::settle)
    /// once the tracker knows.
    pub fn decide_ahead(&mut self, frame: &Frame, at: Duration) -> Result<Option<GateDecision>, MapError> {
        self.measure(frame)?;
        // A frame the gate sends to the detector without a track near changes the gate's state
        // as it would with one: only the label differs.
        let untracked = self.verdict(at, false);
        Ok(untracked.detect().then(|| self.settle(at, false)))
    }

    /// Decides on the frame [`decide_ahead`](Self::decide_ahead) measured and left undecided.
    pub fn settle(&mut self, at: Duration, tracking: bool) -> GateDecision {
        let decision = self.verdict(at, tracking);
        if decision.detect() {
            self.last_detected = Some(at);
            std::mem::swap(&mut self.reference, &mut self.current);
        } else {
            self.skipped += 1;
        }
        decision
    }

    /// What the gate decides on the frame measured last, shown at `at`, changing nothing.
    fn verdict(&self, at: Duration, tracking: bool) -> GateDecision {
        match self.last_detected {
            None => GateDecision::Start,
            Some(last) if at < last => GateDecision::Start,
            Some(_) if tracking => GateDecision::Tracking,
            Some(_) if self.reference.len() != self.current.len() => GateDecision::Start,
            Some(_) if self.changed_cells() >= self.config.min_changed_cells => GateDecision::Motion,
            Some(last) if at - last >= self.config.max_skip => GateDecision::MaxSkip,
            Some(_) => GateDecision::Skip,
        }
    }

    /// Changed cells with a changed neighbour: a person changes a patch of cells, while sensor
    /// noise and compression change cells here and there, which a low night threshold would
    /// otherwise count (measured on the night copy: 67% of an empty door's frames skipped when
    /// every changed cell counted, 90% as in daylight with this).
    fn changed_cells(&self) -> usize {
        let changes: Vec<f32> = self.current.iter().zip(&self.reference).map(|(c, r)| (c - r).abs()).collect();
        // The noise's share is capped at the daylight threshold: a person who covers most of a
        // small watched area and changes it by more than that still counts.
        let noise = (NOISE_SHARE * median(&changes)).min(self.config.cell_change);
        let threshold = self.cell_threshold().max(noise);
        let columns = self.columns.max(1);
        let changed_at = |row: Option<usize>, column: Option<usize>| match (row, column) {
            (Some(row), Some(column)) if column < columns => {
                changes.get(row * columns + column).is_some_and(|c| *c > threshold)
            }
            _ => false,
        };
        (0..changes.len())
            .filter(|&i| {
                let (row, column) = (Some(i / columns), i % columns);
                changed_at(row, Some(column))
                    && (changed_at(row.and_then(|r| r.checked_sub(1)), Some(column))
                        || changed_at(row.map(|r| r + 1), Some(column))
                        || changed_at(row, column.checked_sub(1))
                        || changed_at(row, Some(column + 1)))
            })
            .count()
    }

    /// How much a cell must change to count, in this picture's light: `cell_change` in a
    /// daylight picture, less in a flat dark one (a person in a 40-level night picture changes
    /// a cell by a few levels, not ten).
    fn cell_threshold(&self) -> f32 {
        let ceiling = self.config.cell_change;
        if self.reference.is_empty() {
            return ceiling;
        }
        (CONTRAST_SHARE * mean_deviation(&self.reference)).clamp(MIN_CELL_CHANGE.min(ceiling), ceiling)
    }

    /// Fills `current` with the mean brightness of the cells covering the watched area.
    fn measure(&mut self, frame: &Frame) -> Result<(), MapError> {
        let view = frame.rgb()?;
        let (width, height, stride, data) = (view.width(), view.height(), view.stride(), view.data());
        let letterbox =
            Letterbox::new((frame.source_width, frame.source_height), (width as u32, height as u32), self.letterboxed);
        let (x1, y1) = letterbox.to_input(self.watched.left, self.watched.top);
        let (x2, y2) = letterbox.to_input(self.watched.right(), self.watched.bottom());
        let clamp = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
        let (x1, x2) = (clamp(x1.floor(), width), clamp(x2.ceil(), width));
        let (y1, y2) = (clamp(y1.floor(), height), clamp(y2.ceil(), height));
        self.current.clear();
        self.columns = (x2.saturating_sub(x1)).div_ceil(CELL);
        for cell_top in (y1..y2).step_by(CELL) {
            for cell_left in (x1..x2).step_by(CELL) {
                let (mut sum, mut n) = (0u32, 0u32);
                for y in (cell_top..(cell_top + CELL).min(y2)).step_by(2) {
                    let row = &data[y * stride..];
                    for x in (cell_left..(cell_left + CELL).min(x2)).step_by(2) {
                        let p = &row[x * 3..x * 3 + 3];
                        // Luma to within a few percent: (R + 2G + B) / 4.
                        sum += u32::from(p[0]) + 2 * u32::from(p[1]) + u32::from(p[2]);
                        n += 4;
                    }
                }
                self.current.push(if n == 0 { 0.0 } else { sum as f32 / n as f32 });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use lintel_calibration::geometry::{CountingLine, Point, Side};

    use super::*;

    const W: u32 = 160;
    const H: u32 = 120;

    /// A grey frame with a dark `size`-pixel square at `at`.
    fn frame(at: Option<(usize, usize)>, size: usize, grey: u8) -> Frame {
        let mut rgb = vec![grey; (W * H * 3) as usize];
        if let Some((x0, y0)) = at {
            for y in y0..(y0 + size).min(H as usize) {
                for x in x0..(x0 + size).min(W as usize) {
                    let i = (y * W as usize + x) * 3;
                    rgb[i..i + 3].copy_from_slice(&[20, 20, 20]);
                }
            }
        }
        Frame::from_rgb(W, H, rgb, 0).unwrap()
    }

    fn gate() -> MotionGate {
        // A short line in the left part of the frame; margin 0.1 × 120 = 12 px.
        let line = CountingLine::new(Point::new(20.0, 40.0), Point::new(20.0, 80.0), Side::Right);
        let config = MotionGateConfig { margin: 0.1, ..MotionGateConfig::default() };
        MotionGate::new(config, &[ZoneShape::Line(line)], (W, H), false)
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_camera_of_the_site_file_overrides_the_node() {
        let camera = |gate: Option<bool>, max_skip: Option<f32>| Camera {
            id: "door".into(),
            entrance: "door".into(),
            url: "rtsp://cam/1".into(),
            analysis_fps: None,
            motion_gate: gate,
            motion_max_skip_s: max_skip,
            low_light: None,
            detector_region: None,
            tamper: Default::default(),
            credentials: Default::default(),
            auth: Default::default(),
            lens: None,
            floor: None,
        };
        let node = Some(MotionGateConfig { max_skip: ms(3000), ..MotionGateConfig::default() });
        assert_eq!(MotionGateConfig::for_camera(node, &camera(None, None)), node);
        assert_eq!(MotionGateConfig::for_camera(None, &camera(None, Some(1.0))), None);
        assert_eq!(MotionGateConfig::for_camera(node, &camera(Some(false), None)), None);
        let own = MotionGateConfig::for_camera(None, &camera(Some(true), Some(0.5))).unwrap();
        assert_eq!(own, MotionGateConfig { max_skip: ms(500), ..MotionGateConfig::default() });
        let longer = MotionGateConfig::for_camera(node, &camera(None, Some(4.0))).unwrap();
        assert_eq!(longer.max_skip, ms(4000));
    }

    #[test]
    fn the_watched_area_is_the_zones_with_a_margin_inside_the_frame() {
        let g = gate();
        assert_eq!(g.watched(), BBox::from_corners(8.0, 28.0, 32.0, 92.0));
        let whole = MotionGate::new(MotionGateConfig::default(), &[], (W, H), false);
        assert_eq!(whole.watched(), BBox::from_corners(0.0, 0.0, W as f32, H as f32));
        assert!(g.watches(&BBox::from_corners(30.0, 10.0, 50.0, 30.0)));
        assert!(!g.watches(&BBox::from_corners(40.0, 10.0, 60.0, 30.0)));
    }

    #[test]
    fn a_still_picture_is_skipped_until_the_maximum() {
        let mut g = gate();
        let still = frame(None, 0, 128);
        assert_eq!(g.decide(&still, ms(0), false).unwrap(), GateDecision::Start);
        assert_eq!(g.decide(&still, ms(100), false).unwrap(), GateDecision::Skip);
        assert_eq!(g.decide(&still, ms(1900), false).unwrap(), GateDecision::Skip);
        assert_eq!(g.decide(&still, ms(2000), false).unwrap(), GateDecision::MaxSkip);
        assert_eq!(g.decide(&still, ms(2100), false).unwrap(), GateDecision::Skip);
        assert_eq!(g.skipped(), 3);
    }

    #[test]
    fn motion_in_the_watched_area_is_analysed_and_motion_elsewhere_is_not() {
        let mut g = gate();
        g.decide(&frame(None, 0, 128), ms(0), false).unwrap();
        // A person-sized blob far right of the line: outside the area.
        assert_eq!(g.decide(&frame(Some((100, 50)), 20, 128), ms(100), false).unwrap(), GateDecision::Skip);
        // The same blob next to the line.
        assert_eq!(g.decide(&frame(Some((10, 50)), 20, 128), ms(200), false).unwrap(), GateDecision::Motion);
    }

    #[test]
    fn slow_change_adds_up_against_the_last_analysed_frame() {
        let mut g = gate();
        g.decide(&frame(None, 0, 128), ms(0), false).unwrap();
        // 4 grey levels a frame is under the threshold each time, not in sum.
        assert_eq!(g.decide(&frame(None, 0, 132), ms(100), false).unwrap(), GateDecision::Skip);
        assert_eq!(g.decide(&frame(None, 0, 136), ms(200), false).unwrap(), GateDecision::Skip);
        assert_eq!(g.decide(&frame(None, 0, 140), ms(300), false).unwrap(), GateDecision::Motion);
        // The new light is the reference now.
        assert_eq!(g.decide(&frame(None, 0, 140), ms(400), false).unwrap(), GateDecision::Skip);
    }

    #[test]
    fn a_track_near_the_zone_keeps_the_detector_running_and_a_new_stream_restarts() {
        let mut g = gate();
        let still = frame(None, 0, 128);
        g.decide(&still, ms(5000), false).unwrap();
        assert_eq!(g.decide(&still, ms(5100), true).unwrap(), GateDecision::Tracking);
        assert_eq!(g.decide(&still, ms(100), false).unwrap(), GateDecision::Start);
    }

    #[test]
    fn deciding_ahead_of_the_tracker_decides_as_the_gate_would_once_it_knows() {
        let still = frame(None, 0, 128);
        let moved = frame(Some((10, 50)), 20, 128);
        let mut ahead = gate();
        let mut plain = gate();
        assert_eq!(ahead.decide_ahead(&still, ms(0)).unwrap(), Some(GateDecision::Start));
        plain.decide(&still, ms(0), false).unwrap();
        // Motion needs no tracker: decided ahead, with the state decide leaves.
        assert_eq!(ahead.decide_ahead(&moved, ms(100)).unwrap(), Some(GateDecision::Motion));
        assert!(plain.decide(&moved, ms(100), true).unwrap().detect());
        // A still frame depends on the tracker: nothing decided until it is settled.
        assert_eq!(ahead.decide_ahead(&moved, ms(200)).unwrap(), None);
        assert_eq!(ahead.skipped(), 0);
        assert_eq!(ahead.settle(ms(200), true), GateDecision::Tracking);
        assert_eq!(plain.decide(&moved, ms(200), true).unwrap(), GateDecision::Tracking);
        assert_eq!(ahead.decide_ahead(&moved, ms(300)).unwrap(), None);
        assert_eq!(ahead.settle(ms(300), false), GateDecision::Skip);
        assert_eq!(plain.decide(&moved, ms(300), false).unwrap(), GateDecision::Skip);
        // max_skip is the gate's own clock: decided ahead.
        assert_eq!(ahead.decide_ahead(&moved, ms(2200)).unwrap(), Some(GateDecision::MaxSkip));
        assert_eq!(plain.decide(&moved, ms(2200), false).unwrap(), GateDecision::MaxSkip);
        assert_eq!(ahead.skipped(), plain.skipped());
    }
}
