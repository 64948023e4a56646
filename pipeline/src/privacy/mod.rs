//! What a picture shown to a person must hide, and hiding it. It fails closed: people are
//! pixelated where the tracker follows them, where the detector saw anyone at all (every box
//! above its floor score, those too short or tall to count included), and wherever the picture
//! differs from the camera's learned empty scene ([`scene`]), so someone the detector missed, or a
//! frame the motion gate kept from the detector, is hidden too. Until the scene is learned
//! everything is hidden.
//!
//! The node keeps one [`Hider`] per camera and asks it about every analysed frame while a page
//! watches; the picture served is [`hide`]n with what it said, before a pixel leaves the box.

pub mod scene;

use std::time::Duration;

pub use scene::{MotionMask, SceneModel};

use crate::analysis::FrameAnalysis;
use crate::detection::{BBox, Detection};
use crate::ingest::Frame;

/// A frame's pixels, packed RGB (rows `width * 3` bytes).
#[derive(Clone)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Picture {
    /// A copy of `frame`'s pixels, packed (`None` if they cannot be read).
    pub fn of_frame(frame: &Frame) -> Option<Picture> {
        let view = frame.rgb().ok()?;
        let (width, height, stride) = (view.width(), view.height(), view.stride());
        let mut rgb = Vec::with_capacity(width * height * 3);
        for row in view.data().chunks(stride).take(height) {
            rgb.extend_from_slice(&row[..width * 3]);
        }
        Some(Picture { width: width as u32, height: height as u32, rgb })
    }
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{})", self.width, self.height)
    }
}

/// What to hide in one picture.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hidden {
    /// People's boxes (tracks and raw detections), in picture pixels: left, top, width, height.
    pub boxes: Vec<[f32; 4]>,
    /// Cells that differ from the empty scene, or are not learned yet.
    pub mask: MotionMask,
}

impl Hidden {
    /// Everything in a `width` × `height` picture.
    pub fn everything(width: u32, height: u32) -> Self {
        Self { boxes: Vec::new(), mask: MotionMask::everything(width, height) }
    }

    /// What the page may be told: whether the whole picture is hidden while the scene is learned.
    pub fn learning(&self) -> bool {
        self.mask.unknown > 0.5
    }
}

/// One camera's memory of what to hide: its learned scene and the detector's last boxes (a frame
/// the detector skipped keeps the boxes of the last one it saw).
#[derive(Debug, Default)]
pub struct Hider {
    scene: SceneModel,
    last_detections: Vec<BBox>,
}

impl Hider {
    /// What to hide in `picture`, the picture of the frame `analysis` describes, seen at stream
    /// time `at`. `detections` are the detector's boxes for the frame (`None`: it did not run).
    pub fn observe(
        &mut self,
        picture: &Picture,
        analysis: &FrameAnalysis,
        detections: Option<&[Detection]>,
        at: Duration,
    ) -> Hidden {
        if let Some(detections) = detections {
            self.last_detections.clear();
            self.last_detections.extend(detections.iter().map(|d| d.bbox));
        }
        let people = analysis.people.iter().map(|p| &p.bbox).chain(&self.last_detections);
        let boxes = boxes_in_picture(people, analysis.size, (picture.width, picture.height));
        let mask = self.scene.observe(picture, &boxes, at);
        Hidden { boxes, mask }
    }
}

/// Boxes found in a frame analysed at `analysed` size, in the pixels of a `picture` size picture
/// of the same frame: left, top, width, height.
pub fn boxes_in_picture<'a>(
    boxes: impl IntoIterator<Item = &'a BBox>,
    analysed: (u32, u32),
    picture: (u32, u32),
) -> Vec<[f32; 4]> {
    let (w, h) = analysed;
    let (sx, sy) = (picture.0 as f32 / w.max(1) as f32, picture.1 as f32 / h.max(1) as f32);
    boxes.into_iter().map(|b| [b.left * sx, b.top * sy, b.width * sx, b.height * sy]).collect()
}

/// Pixelates what `hidden` says in `picture`: each box (grown by a margin) in blocks of a fifth
/// of its width, and each masked cell in blocks of [`mask_block`] pixels on a fixed grid.
pub fn hide(picture: &mut Picture, hidden: &Hidden) {
    let (width, height) = (picture.width as usize, picture.height as usize);
    let block = mask_block(picture.width);
    let cells_per_block = block / scene::CELL;
    for by in (0..height).step_by(block) {
        for bx in (0..width).step_by(block) {
            let (c0, r0) = (bx / scene::CELL, by / scene::CELL);
            let masked =
                (r0..r0 + cells_per_block).any(|r| (c0..c0 + cells_per_block).any(|c| hidden.mask.hides(c, r)));
            if masked {
                pixelate(picture, bx, by, (bx + block).min(width), (by + block).min(height));
            }
        }
    }
    for [left, top, w, h] in &hidden.boxes {
        if !(left.is_finite() && top.is_finite() && w.is_finite() && h.is_finite()) {
            continue;
        }
        let margin_x = w * 0.15;
        let margin_y = h * 0.1;
        let x0 = (left - margin_x).floor().clamp(0.0, width as f32) as usize;
        let y0 = (top - margin_y).floor().clamp(0.0, height as f32) as usize;
        let x1 = (left + w + margin_x).ceil().clamp(0.0, width as f32) as usize;
        let y1 = (top + h + margin_y).ceil().clamp(0.0, height as f32) as usize;
        // Blocks of a fifth of the box's width: about a whole head each.
        let block = ((x1.saturating_sub(x0)) / 5).max(8);
        for by in (y0..y1).step_by(block) {
            for bx in (x0..x1).step_by(block) {
                pixelate(picture, bx, by, (bx + block).min(x1), (by + block).min(y1));
            }
        }
    }
}

/// Side of the blocks that hide masked cells: at least two cells, and about a fortieth of the
/// picture's width (a head near a door camera spans a few blocks at most).
pub fn mask_block(width: u32) -> usize {
    let cells = (width as usize / 40).div_ceil(scene::CELL).max(2);
    cells * scene::CELL
}

/// Paints the block `x0..x1` × `y0..y1` with its mean colour.
fn pixelate(picture: &mut Picture, x0: usize, y0: usize, x1: usize, y1: usize) {
    let width = picture.width as usize;
    let mut sum = [0u64; 3];
    for y in y0..y1 {
        for pixel in picture.rgb[(y * width + x0) * 3..(y * width + x1) * 3].chunks_exact(3) {
            for (total, value) in sum.iter_mut().zip(pixel) {
                *total += u64::from(*value);
            }
        }
    }
    let n = ((x1 - x0) * (y1 - y0)).max(1) as u64;
    let mean = sum.map(|s| (s / n) as u8);
    for y in y0..y1 {
        for pixel in picture.rgb[(y * width + x0) * 3..(y * width + x1) * 3].chunks_exact_mut(3) {
            pixel.copy_from_slice(&mean);
        }
    }
}

/// Pictures for the tests of what shows them.
#[cfg(test)]
pub(crate) mod test_pictures {
    use super::Picture;

    /// A fine checkerboard: the most detail a picture can have.
    pub fn checkerboard(width: u32, height: u32) -> Picture {
        let rgb = (0..width * height)
            .flat_map(|i| {
                let v = if (i % width + i / width).is_multiple_of(2) { 0 } else { 255 };
                [v, v, v]
            })
            .collect();
        Picture { width, height, rgb }
    }

    /// The red value at (`x`, `y`).
    pub fn at(p: &Picture, x: usize, y: usize) -> u8 {
        p.rgb[(y * p.width as usize + x) * 3]
    }
}

#[cfg(test)]
mod tests {
    use super::test_pictures::{at, checkerboard};
    use super::*;

    fn boxes(boxes: &[[f32; 4]], picture: &Picture) -> Hidden {
        let (cols, rows) = (picture.width.div_ceil(8) as usize, picture.height.div_ceil(8) as usize);
        let mask = MotionMask { cols, rows, hidden: vec![false; cols * rows], unknown: 0.0 };
        Hidden { boxes: boxes.to_vec(), mask }
    }

    #[test]
    fn a_hidden_box_keeps_no_detail_and_the_rest_of_the_picture_is_untouched() {
        let original = checkerboard(64, 64);
        let mut picture = original.clone();
        hide(&mut picture, &boxes(&[[16.0, 16.0, 20.0, 30.0]], &original));
        // Inside: flat blocks (neighbours equal), mid-grey.
        for (x, y) in [(20, 20), (26, 30), (30, 40)] {
            assert_eq!(at(&picture, x, y), at(&picture, x + 1, y), "detail left at ({x}, {y})");
            assert!((100..=155).contains(&at(&picture, x, y)));
        }
        // Outside the box and its margin: as it was.
        for (x, y) in [(2, 2), (60, 60), (2, 60)] {
            assert_eq!(at(&picture, x, y), at(&original, x, y));
        }
    }

    #[test]
    fn the_box_is_hidden_with_a_margin_around_it() {
        let original = checkerboard(64, 64);
        let mut picture = original.clone();
        // Margins: 15 % of the width (1.5 px) each side, 10 % of the height (2 px) above and below.
        hide(&mut picture, &boxes(&[[20.0, 20.0, 10.0, 20.0]], &original));
        let changed = |x: usize, y: usize| at(&picture, x, y) != at(&original, x, y);
        assert!(changed(18, 30) && changed(31, 30), "the side margins are not hidden");
        assert!(changed(25, 18) && changed(25, 41), "the top and bottom margins are not hidden");
        assert!(
            !changed(17, 30) && !changed(32, 30) && !changed(25, 17) && !changed(25, 42),
            "hidden beyond the margin"
        );
    }

    #[test]
    fn a_box_reaching_out_of_the_picture_is_hidden_up_to_its_edge() {
        let original = checkerboard(32, 24);
        let mut picture = original.clone();
        let hostile = [[-10.0, 10.0, 20.0, 40.0], [500.0, 500.0, 10.0, 10.0], [f32::NAN, 0.0, 1.0, 1.0]];
        hide(&mut picture, &boxes(&hostile, &original));
        assert_ne!(at(&picture, 0, 20), at(&original, 0, 20));
        assert_eq!(at(&picture, 31, 0), at(&original, 31, 0));
    }

    #[test]
    fn a_masked_cell_is_hidden_in_its_whole_block_and_nothing_else() {
        let original = checkerboard(64, 48);
        let mut hidden = boxes(&[], &original);
        hidden.mask.hidden[hidden.mask.cols + 2] = true; // cell (2, 1): x 16..24, y 8..16
        let mut picture = original.clone();
        hide(&mut picture, &hidden);
        // The 16-pixel block holding it (x 16..32, y 0..16) is flat; the rest as it was.
        for (x, y) in [(16, 0), (20, 10), (30, 15)] {
            assert_eq!(at(&picture, x, y), at(&picture, x + 1, y), "detail left at ({x}, {y})");
        }
        for (x, y) in [(15, 10), (33, 10), (20, 17)] {
            assert_eq!(at(&picture, x, y), at(&original, x, y), "({x}, {y}) changed");
        }
    }

    #[test]
    fn everything_hides_the_whole_picture() {
        let original = checkerboard(50, 30);
        let mut picture = original.clone();
        let hidden = Hidden::everything(50, 30);
        assert!(hidden.learning());
        hide(&mut picture, &hidden);
        for y in 0..30 {
            for x in 0..49 {
                if (x + 1) % mask_block(50) != 0 {
                    assert_eq!(at(&picture, x, y), at(&picture, x + 1, y), "detail left at ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn boxes_are_scaled_from_the_analysed_frame_to_the_picture() {
        let boxes = [BBox { left: 10.0, top: 20.0, width: 30.0, height: 60.0 }];
        assert_eq!(boxes_in_picture(&boxes, (320, 240), (640, 480)), [[20.0, 40.0, 60.0, 120.0]]);
        assert_eq!(boxes_in_picture(&boxes, (0, 0), (1, 1)), [[10.0, 20.0, 30.0, 60.0]], "no division by zero");
    }

    #[test]
    fn mask_blocks_grow_with_the_picture() {
        assert_eq!(mask_block(64), 16);
        assert_eq!(mask_block(768), 24);
        assert_eq!(mask_block(1920), 48);
    }
}
