//! Detector output decoders: plain functions from output tensors to candidate boxes.
//!
//! Every decoder returns boxes in the pixel coordinates of the model's input and keeps only the
//! person class; [`non_max_suppression`] then removes duplicates where the graph did not. Each takes
//! one frame's share of the outputs as `ndarray` views, in the layout the model writes them.

use ndarray::{ArrayView1, ArrayView2, s};

/// A box in model-input pixels, before it is mapped back to the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
}

impl Candidate {
    fn from_centre(cx: f32, cy: f32, w: f32, h: f32, score: f32) -> Self {
        Self { x1: cx - w / 2.0, y1: cy - h / 2.0, x2: cx + w / 2.0, y2: cy + h / 2.0, score }
    }

    /// A TensorFlow box, normalised (ymin, xmin, ymax, xmax), in pixels of a `w` × `h` input.
    fn from_normalised_yxyx(b: ArrayView1<'_, f32>, (w, h): (f32, f32), score: f32) -> Self {
        Self { x1: b[1] * w, y1: b[0] * h, x2: b[3] * w, y2: b[2] * h, score }
    }

    fn iou(&self, other: &Candidate) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let area = |c: &Candidate| (c.x2 - c.x1).max(0.0) * (c.y2 - c.y1).max(0.0);
        let union = area(self) + area(other) - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// What every decoder needs besides the tensor.
#[derive(Debug, Clone, Copy)]
pub struct DecodeParams {
    /// Width and height of the model input, in pixels.
    pub input_size: (u32, u32),
    /// The class index that means "person".
    pub person_class: u32,
    /// Candidates scoring less are dropped.
    pub min_score: f32,
}

/// TensorFlow Object Detection API outputs: `boxes` `[N, 4]` as normalised (ymin, xmin, ymax, xmax),
/// `scores` `[N]`, `classes` `[N]` (as floats), and the number of valid rows.
pub fn decode_ssd_tf(
    boxes: ArrayView2<'_, f32>,
    scores: ArrayView1<'_, f32>,
    classes: ArrayView1<'_, f32>,
    valid: usize,
    params: &DecodeParams,
    out: &mut Vec<Candidate>,
) {
    let DecodeParams { input_size, person_class, min_score } = *params;
    let size = (input_size.0 as f32, input_size.1 as f32);
    if boxes.ncols() < 4 {
        return;
    }
    let rows = boxes.outer_iter().zip(scores).zip(classes).take(valid);
    for ((b, &score), &class) in rows {
        if class.round() as u32 != person_class || score < min_score {
            continue;
        }
        out.push(Candidate::from_normalised_yxyx(b, size, score));
    }
}

/// An SSD's anchors before NMS: `boxes` `[anchors, 4]`, normalised (ymin, xmin, ymax, xmax), already
/// decoded from the anchors; `scores` `[anchors, classes]`. Boxes are not clipped: NMS compares them
/// whole, as the TensorFlow graph does, and [`clip_to_input`] clips the survivors.
pub fn decode_ssd_boxes(
    boxes: ArrayView2<'_, f32>,
    scores: ArrayView2<'_, f32>,
    params: &DecodeParams,
    out: &mut Vec<Candidate>,
) {
    let DecodeParams { input_size, person_class, min_score } = *params;
    let size = (input_size.0 as f32, input_size.1 as f32);
    let column = person_class as usize;
    if column >= scores.ncols() || boxes.ncols() < 4 {
        return;
    }
    // Only the person column is scanned; a box is read for the few anchors that pass.
    let anchors = boxes.nrows().min(scores.nrows());
    scores.column(column).slice_move(s![..anchors]).iter().enumerate().for_each(|(i, &score)| {
        if score >= min_score {
            out.push(Candidate::from_normalised_yxyx(boxes.row(i), size, score));
        }
    });
}

/// Clips boxes to the model input (`width` × `height` pixels).
pub fn clip_to_input(candidates: &mut [Candidate], (width, height): (u32, u32)) {
    let (w, h) = (width as f32, height as f32);
    for c in candidates {
        c.x1 = c.x1.clamp(0.0, w);
        c.x2 = c.x2.clamp(0.0, w);
        c.y1 = c.y1.clamp(0.0, h);
        c.y2 = c.y2.clamp(0.0, h);
    }
}

/// YOLOv8 / YOLO11 layout `[4 + classes, N]` (the batch dimension dropped): one column per candidate.
pub fn decode_yolov8(data: ArrayView2<'_, f32>, params: &DecodeParams, out: &mut Vec<Candidate>) {
    let DecodeParams { person_class, min_score, .. } = *params;
    let class_row = 4 + person_class as usize;
    if class_row >= data.nrows() {
        return;
    }
    let (cx, cy, w, h) = (data.row(0), data.row(1), data.row(2), data.row(3));
    // Only the score row is scanned; the box rows are read for the few candidates that pass.
    data.row(class_row).iter().enumerate().for_each(|(i, &score)| {
        if score >= min_score {
            out.push(Candidate::from_centre(cx[i], cy[i], w[i], h[i], score));
        }
    });
}

/// YOLOv5 / YOLOv7 layout `[N, 5 + classes]`: cx, cy, w, h, objectness, class scores.
pub fn decode_yolov5(data: ArrayView2<'_, f32>, params: &DecodeParams, out: &mut Vec<Candidate>) {
    let DecodeParams { person_class, min_score, .. } = *params;
    let class_col = 5 + person_class as usize;
    if class_col >= data.ncols() {
        return;
    }
    for r in data.outer_iter() {
        let score = r[4] * r[class_col];
        if score >= min_score {
            out.push(Candidate::from_centre(r[0], r[1], r[2], r[3], score));
        }
    }
}

/// YOLOX exported without in-graph decoding: `[N, 5 + classes]` rows of grid offsets and log sizes,
/// for strides 8, 16 and 32 in that order, each grid row-major. Objectness and class scores are
/// already probabilities.
pub fn decode_yolox(data: ArrayView2<'_, f32>, params: &DecodeParams, out: &mut Vec<Candidate>) {
    let DecodeParams { input_size, person_class, min_score } = *params;
    let class_col = 5 + person_class as usize;
    if class_col >= data.ncols() {
        return;
    }
    let mut rows = data.outer_iter();
    for stride in [8u32, 16, 32] {
        let (gw, gh) = (input_size.0 / stride, input_size.1 / stride);
        for gy in 0..gh {
            for gx in 0..gw {
                let Some(r) = rows.next() else { return };
                let score = r[4] * r[class_col];
                if score < min_score {
                    continue;
                }
                let s = stride as f32;
                let cx = (r[0] + gx as f32) * s;
                let cy = (r[1] + gy as f32) * s;
                out.push(Candidate::from_centre(cx, cy, r[2].exp() * s, r[3].exp() * s, score));
            }
        }
    }
}

/// Greedy non-maximum suppression: keeps the best box of every group overlapping more than `iou`.
pub fn non_max_suppression(candidates: &mut Vec<Candidate>, iou: f32) {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = 0;
    for i in 0..candidates.len() {
        let candidate = candidates[i];
        if candidates[..kept].iter().all(|k| k.iou(&candidate) <= iou) {
            candidates[kept] = candidate;
            kept += 1;
        }
    }
    candidates.truncate(kept);
}

/// Fuses the boxes of two views of one frame (the frame and its mirror image, boxes mirrored
/// back), as weighted box fusion does for two models. From the surest box of either view down,
/// a box and the box of the other view it overlaps most, over `iou`, are one person, placed at
/// their score-weighted mean with the mean of their scores; a box one view alone found keeps half
/// its score (the other view scored it 0), so what only one handedness of the network sees weighs
/// less. The views play the same part: swapped, they give the same boxes. `out` is sorted by score.
pub fn fuse_views(a: &[Candidate], b: &[Candidate], iou: f32, out: &mut Vec<Candidate>) {
    out.clear();
    let views = [a, b];
    let mut paired = [vec![false; a.len()], vec![false; b.len()]];
    let mut order: Vec<(usize, usize)> = (0..a.len()).map(|i| (0, i)).chain((0..b.len()).map(|j| (1, j))).collect();
    order.sort_by(|&(v, i), &(w, j)| views[w][j].score.total_cmp(&views[v][i].score));
    for (view, i) in order {
        if paired[view][i] {
            continue;
        }
        paired[view][i] = true;
        let (x, other) = (&views[view][i], 1 - view);
        let best = views[other]
            .iter()
            .enumerate()
            .filter(|&(j, _)| !paired[other][j])
            .map(|(j, y)| (j, x.iou(y)))
            .filter(|&(_, overlap)| overlap > iou)
            .max_by(|p, q| p.1.total_cmp(&q.1));
        let Some((j, _)) = best else {
            out.push(Candidate { score: x.score / 2.0, ..*x });
            continue;
        };
        paired[other][j] = true;
        let y = &views[other][j];
        let total = (x.score + y.score).max(f32::EPSILON);
        let mean = |p: f32, q: f32| (p * x.score + q * y.score) / total;
        out.push(Candidate {
            x1: mean(x.x1, y.x1),
            y1: mean(x.y1, y.y1),
            x2: mean(x.x2, y.x2),
            y2: mean(x.y2, y.y2),
            score: (x.score + y.score) / 2.0,
        });
    }
    out.sort_by(|p, q| q.score.total_cmp(&p.score));
}

#[cfg(test)]
mod tests {
    use ndarray::{aview1, aview2};

    use super::*;

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let mut c = vec![
            Candidate { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0, score: 0.5 },
            Candidate { x1: 1.0, y1: 1.0, x2: 11.0, y2: 11.0, score: 0.9 },
            Candidate { x1: 50.0, y1: 50.0, x2: 60.0, y2: 60.0, score: 0.3 },
        ];
        non_max_suppression(&mut c, 0.45);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].score, 0.9);
        assert_eq!(c[1].score, 0.3);
    }

    #[test]
    fn two_views_fuse_into_weighted_boxes_and_a_box_of_one_view_weighs_half() {
        let box_at = |x: f32, score: f32| Candidate { x1: x, y1: 0.0, x2: x + 10.0, y2: 20.0, score };
        let plain = [box_at(0.0, 0.6), box_at(100.0, 0.4)];
        let mirrored = [box_at(2.0, 0.2), box_at(50.0, 0.9)];
        let mut out = Vec::new();
        fuse_views(&plain, &mirrored, 0.55, &mut out);
        assert_eq!(out.len(), 3);
        // Found by one view each: half their scores.
        assert_eq!(out[0], box_at(50.0, 0.45));
        assert_eq!(out[2], box_at(100.0, 0.2));
        // The person both views found: between the two boxes, nearer the surer one.
        let both = out[1];
        assert!((both.x1 - 0.5).abs() < 1e-5 && (both.x2 - 10.5).abs() < 1e-5, "{both:?}");
        assert!((both.score - 0.4).abs() < 1e-6 && both.y1 == 0.0 && both.y2 == 20.0, "{both:?}");
        // Symmetric: the views the other way round give the same boxes.
        let mut swapped = Vec::new();
        fuse_views(&mirrored, &plain, 0.55, &mut swapped);
        assert_eq!(swapped, out);
    }

    #[test]
    fn ssd_boxes_keep_the_person_column_above_the_threshold_unclipped_until_asked() {
        // Three anchors, two score columns; the person is column 1.
        let boxes = [[0.125, 0.25, 0.5, 0.375], [-0.125, 0.875, 0.25, 1.25], [0.0, 0.0, 0.125, 0.125]];
        let scores = [[0.9, 0.2], [0.1, 0.8], [0.05, 0.7]];
        let params = DecodeParams { input_size: (100, 200), person_class: 1, min_score: 0.5 };
        let mut out = Vec::new();
        decode_ssd_boxes(aview2(&boxes), aview2(&scores), &params, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], Candidate { x1: 87.5, y1: -25.0, x2: 125.0, y2: 50.0, score: 0.8 });
        assert_eq!(out[1].score, 0.7);
        clip_to_input(&mut out, params.input_size);
        assert_eq!(out[0], Candidate { x1: 87.5, y1: 0.0, x2: 100.0, y2: 50.0, score: 0.8 });
    }

    #[test]
    fn ssd_tf_keeps_the_valid_person_rows_above_the_threshold() {
        let boxes = [[0.125, 0.25, 0.5, 0.375], [0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.75, 0.75], [0.0, 0.0, 0.5, 0.5]];
        let scores = [0.9, 0.95, 0.2, 0.9];
        let classes = [1.0, 3.0, 1.0, 1.0];
        let params = DecodeParams { input_size: (100, 200), person_class: 1, min_score: 0.5 };
        let mut out = Vec::new();
        // Row 1 is another class, row 2 scores too low, row 3 is past the valid count.
        decode_ssd_tf(aview2(&boxes), aview1(&scores), aview1(&classes), 3, &params, &mut out);
        assert_eq!(out, vec![Candidate { x1: 25.0, y1: 25.0, x2: 37.5, y2: 100.0, score: 0.9 }]);
    }

    #[test]
    fn yolov8_reads_columns() {
        // two candidates, 1 class
        let data = [[10.0, 20.0], [10.0, 20.0], [4.0, 4.0], [6.0, 6.0], [0.9, 0.1]];
        let mut out = Vec::new();
        let params = DecodeParams { input_size: (20, 20), person_class: 0, min_score: 0.5 };
        decode_yolov8(aview2(&data), &params, &mut out);
        assert_eq!(out, vec![Candidate { x1: 8.0, y1: 7.0, x2: 12.0, y2: 13.0, score: 0.9 }]);
    }
}
