//! The flow map of a camera: where feet passed over the last minutes and which way, as a coarse
//! grid that forgets (each cell's weight halves every [`HALF_LIFE`]). Only sums per cell are
//! kept: never a person, a trail or an identity. From it, a suggested counting line across the
//! dominant flow, where people actually walk.

use std::time::{Duration, Instant};

use super::FrameAnalysis;

/// Grid size: coarse enough that a cell holds many people's steps, fine enough to place a line.
pub const COLUMNS: usize = 32;
pub const ROWS: usize = 24;
/// How fast the map forgets.
pub const HALF_LIFE: Duration = Duration::from_secs(120);

/// The map of one camera.
#[derive(Clone, Debug)]
pub struct FlowMap {
    /// Feet seen per cell (decayed), row by row.
    heat: Vec<f32>,
    /// Sum of the steps of those feet per cell, normalised to the picture (decayed).
    motion: Vec<(f32, f32)>,
    /// The picture's width over its height, for directions as a person sees them.
    aspect: f32,
    updated: Option<Instant>,
}

impl Default for FlowMap {
    fn default() -> Self {
        Self {
            heat: vec![0.0; COLUMNS * ROWS],
            motion: vec![(0.0, 0.0); COLUMNS * ROWS],
            aspect: 4.0 / 3.0,
            updated: None,
        }
    }
}

/// A line across the dominant flow, normalised, as a site-file line would be.
#[derive(Clone, Debug, PartialEq)]
pub struct SuggestedLine {
    pub a: (f32, f32),
    pub b: (f32, f32),
    /// The share of the steps that go along the dominant axis (1: everyone walks that way or back).
    pub agreement: f32,
}

impl FlowMap {
    /// Adds the feet of the people seen in `analysis`, at `now`.
    pub fn add(&mut self, analysis: &FrameAnalysis, now: Instant) {
        if let Some(then) = self.updated {
            let elapsed = now.saturating_duration_since(then).as_secs_f32();
            let keep = 0.5f32.powf(elapsed / HALF_LIFE.as_secs_f32());
            self.heat.iter_mut().for_each(|h| *h *= keep);
            self.motion.iter_mut().for_each(|m| *m = (m.0 * keep, m.1 * keep));
        }
        self.updated = Some(now);
        let (width, height) = (analysis.size.0.max(1) as f32, analysis.size.1.max(1) as f32);
        self.aspect = width / height;
        for person in analysis.people.iter().filter(|p| p.seen) {
            let (x, y) = (person.foot.0 / width, person.foot.1 / height);
            let Some(cell) = cell_of(x, y) else { continue };
            self.heat[cell] += 1.0;
            if let Some((dx, dy)) = person.step {
                self.motion[cell].0 += dx / width;
                self.motion[cell].1 += dy / height;
            }
        }
    }

    /// Feet per cell, row by row, scaled so the busiest cell is 1.
    pub fn heat(&self) -> Vec<f32> {
        let top = self.heat.iter().copied().fold(0.0f32, f32::max);
        self.heat.iter().map(|h| if top > 0.0 { h / top } else { 0.0 }).collect()
    }

    /// The mean step per cell (normalised picture units per frame), row by row.
    pub fn directions(&self) -> Vec<(f32, f32)> {
        self.heat
            .iter()
            .zip(&self.motion)
            .map(|(h, m)| if *h > 0.0 { (m.0 / h, m.1 / h) } else { (0.0, 0.0) })
            .collect()
    }

    /// A line across the dominant flow through where most feet pass, spanning the busy cells;
    /// `None` until enough people moved.
    pub fn suggested_line(&self) -> Option<SuggestedLine> {
        // Directions as a person sees them: x stretched by the aspect, so a diagonal is 45°.
        // Steps in both senses of one axis agree: angles are doubled before they are summed.
        let (mut c2, mut s2, mut total) = (0.0f64, 0.0f64, 0.0f64);
        for (dx, dy) in &self.motion {
            let (x, y) = (f64::from(dx * self.aspect), f64::from(*dy));
            let length = x.hypot(y);
            if length == 0.0 {
                continue;
            }
            let angle = y.atan2(x);
            c2 += length * (2.0 * angle).cos();
            s2 += length * (2.0 * angle).sin();
            total += length;
        }
        let heat_total: f32 = self.heat.iter().sum();
        if total == 0.0 || heat_total < 20.0 {
            return None;
        }
        let axis = s2.atan2(c2) / 2.0;
        let agreement = (c2.hypot(s2) / total) as f32;
        // The line is perpendicular to the flow, through the heat's centroid.
        let (mut cx, mut cy) = (0.0f32, 0.0f32);
        for (cell, h) in self.heat.iter().enumerate() {
            let (x, y) = centre_of(cell);
            cx += h * x * self.aspect;
            cy += h * y;
        }
        let (cx, cy) = (cx / heat_total, cy / heat_total);
        let (ux, uy) =
            ((axis + std::f64::consts::FRAC_PI_2).cos() as f32, (axis + std::f64::consts::FRAC_PI_2).sin() as f32);
        // Its extent: where the busy cells project along it (5th to 95th percentile of the feet).
        let mut along: Vec<(f32, f32)> = self
            .heat
            .iter()
            .enumerate()
            .filter(|(_, h)| **h > 0.0)
            .map(|(cell, h)| {
                let (x, y) = centre_of(cell);
                ((x * self.aspect - cx) * ux + (y - cy) * uy, *h)
            })
            .collect();
        along.sort_by(|a, b| a.0.total_cmp(&b.0));
        let quantile = |q: f32| {
            let mut seen = 0.0;
            along
                .iter()
                .find(|(_, h)| {
                    seen += h;
                    seen >= q * heat_total
                })
                .map_or(0.0, |(t, _)| *t)
        };
        let margin = 1.5 / COLUMNS as f32 * self.aspect;
        let (from, to) = (quantile(0.05) - margin, quantile(0.95) + margin);
        let point = |t: f32| (((cx + t * ux) / self.aspect).clamp(0.0, 1.0), (cy + t * uy).clamp(0.0, 1.0));
        Some(SuggestedLine { a: point(from), b: point(to), agreement })
    }
}

fn cell_of(x: f32, y: f32) -> Option<usize> {
    if !(0.0..1.0).contains(&x) || !(0.0..1.0).contains(&y) {
        return None;
    }
    Some((y * ROWS as f32) as usize * COLUMNS + (x * COLUMNS as f32) as usize)
}

fn centre_of(cell: usize) -> (f32, f32) {
    (((cell % COLUMNS) as f32 + 0.5) / COLUMNS as f32, ((cell / COLUMNS) as f32 + 0.5) / ROWS as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::PersonBox;
    use crate::detection::BBox;
    use crate::track::TrackState;

    /// A person's foot point and step, in pixels.
    type Walker = ((f32, f32), (f32, f32));

    fn frame(people: &[Walker]) -> FrameAnalysis {
        FrameAnalysis {
            index: 0,
            pts: None,
            size: (800, 600),
            detected: true,
            detections: people.len(),
            implausible: 0,
            embedded: 0,
            people: people
                .iter()
                .map(|&(foot, step)| PersonBox {
                    bbox: BBox { left: foot.0 - 10.0, top: foot.1 - 60.0, width: 20.0, height: 60.0 },
                    foot,
                    step: Some(step),
                    state: TrackState::Confirmed,
                    seen: true,
                    score: 0.9,
                })
                .collect(),
            events: Vec::new(),
        }
    }

    #[test]
    fn people_walking_up_and_down_a_path_suggest_a_level_line_across_it() {
        let mut map = FlowMap::default();
        let start = Instant::now();
        // A path down the middle of the picture, x from 360 to 440 px: some walk down, some up.
        for step in 0..200u32 {
            let y = 50.0 + (step % 50) as f32 * 10.0;
            let x = 360.0 + (step % 5) as f32 * 20.0;
            let dy = if step % 3 == 0 { -10.0 } else { 10.0 };
            map.add(&frame(&[((x, y), (0.5, dy))]), start + Duration::from_millis(100 * u64::from(step)));
        }
        let line = map.suggested_line().expect("a suggestion");
        assert!((line.a.1 - line.b.1).abs() < 0.05, "not level: {line:?}");
        let (left, right) = (line.a.0.min(line.b.0), line.a.0.max(line.b.0));
        assert!(left < 0.45 && right > 0.55, "does not span the path: {line:?}");
        assert!(left > 0.3 && right < 0.7, "spans far beyond the path: {line:?}");
        assert!(line.agreement > 0.9, "{line:?}");
        // The busiest cells are on the path.
        let heat = map.heat();
        let hottest = heat.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        let column = hottest % COLUMNS;
        assert!((14..=17).contains(&column), "hottest column {column}");
    }

    #[test]
    fn the_map_forgets_and_suggests_nothing_without_people() {
        let mut map = FlowMap::default();
        assert!(map.suggested_line().is_none());
        let start = Instant::now();
        map.add(&frame(&[((400.0, 300.0), (0.0, 5.0))]), start);
        map.add(&frame(&[]), start + HALF_LIFE);
        let cell = cell_of(0.5, 0.5).unwrap();
        assert!((map.heat[cell] - 0.5).abs() < 1e-3, "{}", map.heat[cell]);
    }
}
