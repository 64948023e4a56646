//! The learned empty scene of one camera, and what differs from it: the motion mask.
//!
//! The picture is cut into cells of [`CELL`] pixels. A cell's background is learned only where
//! nobody is known to be (outside every box to hide) and only once the cell has held still for
//! [`ABSORB_AFTER`]: until then the cell is *unknown*, and unknown counts as foreground. So a new
//! camera, a change of light or a crowd that never stops shows blurred, never sharp: the mask
//! errs towards hiding. A learned background follows slow changes of light on cells that match it.
//!
//! What it cannot see: a person the detector misses who stands still for longer than
//! [`ABSORB_AFTER`] in a place they were never seen arriving (they become background).

use std::time::Duration;

use super::Picture;

/// Side of a cell, in picture pixels.
pub const CELL: usize = 8;
/// How long a cell must hold still, outside every box, before it is taken as background.
pub const ABSORB_AFTER: Duration = Duration::from_secs(3);
/// A cell unseen for longer than this is judged afresh: its stillness starts again.
const FORGET_STILLNESS_AFTER: Duration = Duration::from_secs(2);
/// Share of a learned background that each matching frame moves towards the picture (slow light).
const FOLLOW_LIGHT: f32 = 0.05;

/// One camera's learned empty scene.
#[derive(Debug, Default)]
pub struct SceneModel {
    cols: usize,
    rows: usize,
    size: (u32, u32),
    cells: Vec<Cell>,
    /// Stream time of the last picture seen.
    last_at: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    /// The empty scene's mean colour here, once learned.
    background: Option<[f32; 3]>,
    /// The colour the cell has held since `still_since`.
    anchor: [f32; 3],
    still_since: Duration,
}

/// Which cells of a picture differ from the empty scene (or are not learned yet), grown by one
/// cell all round: an edge of a person is never left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MotionMask {
    pub cols: usize,
    pub rows: usize,
    /// Row by row, one per cell.
    pub hidden: Vec<bool>,
    /// Cells whose background is not learned yet (a share, 0 to 1).
    pub unknown: f32,
}

impl MotionMask {
    /// A mask that hides all of a `width` × `height` picture.
    pub fn everything(width: u32, height: u32) -> Self {
        let (cols, rows) = grid(width, height);
        Self { cols, rows, hidden: vec![true; cols * rows], unknown: 1.0 }
    }

    /// Whether cell (`col`, `row`) is hidden.
    pub fn hides(&self, col: usize, row: usize) -> bool {
        col < self.cols && row < self.rows && self.hidden[row * self.cols + col]
    }

    /// Share of the picture hidden, 0 to 1.
    pub fn share(&self) -> f32 {
        self.hidden.iter().filter(|h| **h).count() as f32 / self.hidden.len().max(1) as f32
    }
}

fn grid(width: u32, height: u32) -> (usize, usize) {
    ((width as usize).div_ceil(CELL), (height as usize).div_ceil(CELL))
}

impl SceneModel {
    /// Looks at `picture`, seen at stream time `at`; `people` (left, top, width, height, picture
    /// pixels) are where someone is known to be: nothing is learned there. Returns the mask of
    /// what differs from the empty scene.
    pub fn observe(&mut self, picture: &Picture, people: &[[f32; 4]], at: Duration) -> MotionMask {
        let size = (picture.width, picture.height);
        if size != self.size {
            let (cols, rows) = grid(picture.width, picture.height);
            *self = Self { cols, rows, size, cells: vec![Cell::default(); cols * rows], last_at: None };
        }
        let means = cell_means(picture, self.cols, self.rows);
        let occupied = occupied_cells(people, self.cols, self.rows);
        let threshold = difference_threshold(&means);
        // Stillness needs an unbroken look: after a gap (nobody watched, a stalled camera) or
        // time going backwards (a new stream), every cell starts again.
        let unbroken = self.last_at.is_some_and(|last| at >= last && at.saturating_sub(last) <= FORGET_STILLNESS_AFTER);
        self.last_at = Some(at);
        let mut differs = vec![false; self.cells.len()];
        let mut unknown = 0usize;
        for (i, (cell, mean)) in self.cells.iter_mut().zip(&means).enumerate() {
            if !unbroken || difference(mean, &cell.anchor) > threshold {
                cell.anchor = *mean;
                cell.still_since = at;
            }
            let still = at.saturating_sub(cell.still_since) >= ABSORB_AFTER;
            let matches = cell.background.is_some_and(|b| difference(mean, &b) <= threshold);
            if !occupied[i] {
                match &mut cell.background {
                    Some(b) if matches => {
                        for (b, m) in b.iter_mut().zip(mean) {
                            *b += (m - *b) * FOLLOW_LIGHT;
                        }
                    }
                    _ if still => cell.background = Some(*mean),
                    _ => {}
                }
            }
            if cell.background.is_none() {
                unknown += 1;
            }
            differs[i] = cell.background.is_none_or(|b| difference(mean, &b) > threshold);
        }
        MotionMask {
            cols: self.cols,
            rows: self.rows,
            hidden: grown(&differs, self.cols, self.rows),
            unknown: unknown as f32 / self.cells.len().max(1) as f32,
        }
    }
}

/// The largest difference of the three channels' means.
fn difference(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

/// How much a cell must change to count: a fraction of the picture's contrast (the spread of
/// its cells' brightness), so a dark, flat night picture, where a person differs from the ground
/// by a few levels only, is judged as finely as a bright one; never below the noise of a cell.
fn difference_threshold(means: &[[f32; 3]]) -> f32 {
    let n = means.len().max(1) as f32;
    let luma = |m: &[f32; 3]| (m[0] + 2.0 * m[1] + m[2]) / 4.0;
    let mean = means.iter().map(luma).sum::<f32>() / n;
    let spread = (means.iter().map(|m| (luma(m) - mean).powi(2)).sum::<f32>() / n).sqrt();
    (spread * 0.2).clamp(2.5, 10.0)
}

/// Mean colour of each cell, row by row.
fn cell_means(picture: &Picture, cols: usize, rows: usize) -> Vec<[f32; 3]> {
    let (width, height) = (picture.width as usize, picture.height as usize);
    let mut sums = vec![[0u32; 3]; cols * rows];
    for y in 0..height {
        let row = &picture.rgb[y * width * 3..(y + 1) * width * 3];
        let cells = &mut sums[(y / CELL) * cols..(y / CELL + 1) * cols];
        for (x, pixel) in row.chunks_exact(3).enumerate() {
            let sum = &mut cells[x / CELL];
            for (s, v) in sum.iter_mut().zip(pixel) {
                *s += u32::from(*v);
            }
        }
    }
    sums.iter()
        .enumerate()
        .map(|(i, sum)| {
            let (col, row) = (i % cols, i / cols);
            let w = (width - col * CELL).min(CELL);
            let h = (height - row * CELL).min(CELL);
            let n = (w * h).max(1) as f32;
            sum.map(|s| s as f32 / n)
        })
        .collect()
}

/// The cells any of `boxes` touches.
fn occupied_cells(boxes: &[[f32; 4]], cols: usize, rows: usize) -> Vec<bool> {
    let mut occupied = vec![false; cols * rows];
    let cell = CELL as f32;
    for [left, top, w, h] in boxes {
        if !(left.is_finite() && top.is_finite() && w.is_finite() && h.is_finite()) {
            continue;
        }
        let c0 = (left / cell).floor().clamp(0.0, cols as f32) as usize;
        let r0 = (top / cell).floor().clamp(0.0, rows as f32) as usize;
        let c1 = ((left + w) / cell).ceil().clamp(0.0, cols as f32) as usize;
        let r1 = ((top + h) / cell).ceil().clamp(0.0, rows as f32) as usize;
        for r in r0..r1 {
            occupied[r * cols + c0..r * cols + c1].fill(true);
        }
    }
    occupied
}

/// `cells` with every neighbour (eight around) of a set cell set too.
fn grown(cells: &[bool], cols: usize, rows: usize) -> Vec<bool> {
    let mut out = vec![false; cells.len()];
    for r in 0..rows {
        for c in 0..cols {
            if cells[r * cols + c] {
                for rr in r.saturating_sub(1)..(r + 2).min(rows) {
                    out[rr * cols + c.saturating_sub(1)..rr * cols + (c + 2).min(cols)].fill(true);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 64;
    const H: u32 = 48;

    /// A textured grey scene with a dark square (a person) at `person`.
    fn scene(person: Option<(usize, usize)>) -> Picture {
        let mut rgb = Vec::with_capacity((W * H * 3) as usize);
        for y in 0..H as usize {
            for x in 0..W as usize {
                let v = 100 + ((x * 7 + y * 13) % 40) as u8;
                rgb.extend_from_slice(&[v, v, v]);
            }
        }
        if let Some((px, py)) = person {
            for y in py..(py + 12).min(H as usize) {
                for x in px..(px + 6).min(W as usize) {
                    let i = (y * W as usize + x) * 3;
                    rgb[i..i + 3].copy_from_slice(&[20, 30, 40]);
                }
            }
        }
        Picture { width: W, height: H, rgb }
    }

    fn secs(s: f32) -> Duration {
        Duration::from_secs_f32(s)
    }

    #[test]
    fn everything_is_hidden_until_the_scene_held_still_long_enough() {
        let mut model = SceneModel::default();
        let empty = scene(None);
        let mut t = 0.0;
        while t < ABSORB_AFTER.as_secs_f32() - 0.2 {
            let mask = model.observe(&empty, &[], secs(t));
            assert!(mask.hidden.iter().all(|h| *h), "a cell shown at {t} s, before it was learned");
            assert_eq!(mask.unknown, 1.0);
            t += 0.1;
        }
        let mask = model.observe(&empty, &[], secs(ABSORB_AFTER.as_secs_f32() + 0.1));
        assert!(mask.hidden.iter().all(|h| !*h), "the still, empty scene stays hidden");
        assert_eq!(mask.unknown, 0.0);
    }

    fn learned() -> (SceneModel, f32) {
        let mut model = SceneModel::default();
        let empty = scene(None);
        let mut t = 0.0;
        while t <= ABSORB_AFTER.as_secs_f32() + 0.5 {
            model.observe(&empty, &[], secs(t));
            t += 0.1;
        }
        (model, t)
    }

    #[test]
    fn a_person_no_box_covers_is_hidden_with_a_cell_all_round() {
        let (mut model, t) = learned();
        let mask = model.observe(&scene(Some((24, 16))), &[], secs(t));
        // The square covers columns 3..=3 (x 24..30) and rows 2..=3 (y 16..28).
        for (c, r) in [(3, 2), (3, 3), (2, 1), (4, 4)] {
            assert!(mask.hides(c, r), "cell ({c}, {r}) shown");
        }
        assert!(!mask.hides(0, 0) && !mask.hides(7, 5), "cells far from the person hidden");
    }

    #[test]
    fn someone_standing_inside_a_box_is_never_learned_as_background() {
        let (mut model, mut t) = learned();
        let person = scene(Some((24, 16)));
        let boxes = [[24.0, 16.0, 6.0, 12.0]];
        for _ in 0..100 {
            t += 0.1;
            let mask = model.observe(&person, &boxes, secs(t));
            assert!(mask.hides(3, 2), "the person standing in their box became background at {t} s");
        }
    }

    #[test]
    fn a_change_of_light_hides_everything_until_it_is_learned_again() {
        let (mut model, mut t) = learned();
        let mut dark = scene(None);
        dark.rgb.iter_mut().for_each(|v| *v /= 2);
        let mask = model.observe(&dark, &[], secs(t));
        assert!(mask.share() > 0.95, "a sudden change of light showed {:.0} % unhidden", 100.0 * (1.0 - mask.share()));
        for _ in 0..40 {
            t += 0.1;
            model.observe(&dark, &[], secs(t));
        }
        assert_eq!(model.observe(&dark, &[], secs(t + 0.1)).share(), 0.0);
    }

    #[test]
    fn after_a_gap_stillness_starts_again() {
        let (mut model, t) = learned();
        let person = scene(Some((24, 16)));
        // The person arrived while nobody watched: seen again after a gap, they are not still yet.
        let after_gap = t + 60.0;
        assert!(model.observe(&person, &[], secs(after_gap)).hides(3, 2));
        assert!(model.observe(&person, &[], secs(after_gap + 1.0)).hides(3, 2));
    }

    #[test]
    fn odd_sizes_and_hostile_boxes_are_bounded() {
        let mut model = SceneModel::default();
        let picture = Picture { width: 13, height: 7, rgb: vec![50; 13 * 7 * 3] };
        let boxes = [[f32::NAN, 0.0, 5.0, 5.0], [-1e30, -1e30, 1e30, 1e30], [f32::INFINITY, 0.0, 1.0, 1.0]];
        let mask = model.observe(&picture, &boxes, Duration::ZERO);
        assert_eq!((mask.cols, mask.rows), (2, 1));
        assert_eq!(mask.hidden.len(), 2);
    }
}
