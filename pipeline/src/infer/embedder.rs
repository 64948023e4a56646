//! The re-identification model: an appearance embedding for each person crop it is asked about.
//!
//! Crops are cut from the analysed frame, resized with bilinear sampling straight into the
//! model's input tensor (no intermediate image), batched, and the outputs L2-normalised. Nothing
//! here is kept after the call: the embeddings go to the tracker, which owns them.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::detection::{BBox, Embedding};
use crate::ingest::{Frame, RgbView};

use super::detector::first_line;
use super::manifest::{InputDtype, InputLayout, ModelSpec, OutputFormat};
use super::preprocess::Letterbox;
use super::{InferError, Runtime};

/// Crops per inference run when the model's batch dimension is dynamic.
const MAX_BATCH: usize = 16;
/// Boxes smaller than this (pixels of the analysed frame, either side) carry too little to embed.
const MIN_CROP_SIDE: f32 = 4.0;

/// Runs an appearance model on person crops.
pub struct Embedder {
    session: Session,
    spec: ModelSpec,
    path: PathBuf,
    output_name: String,
    /// Crops per run: 1 when the model's batch dimension is fixed.
    max_batch: usize,
    /// `value = pixel × scale + offset` per RGB channel: `(pixel / 255 − mean) / std`.
    scale: [f32; 3],
    offset: [f32; 3],
    input: Vec<f32>,
    columns: Vec<Tap>,
}

/// One output column or row of a bilinear resize: the two source indices and the second's weight.
#[derive(Debug, Clone, Copy)]
struct Tap {
    first: usize,
    second: usize,
    weight: f32,
}

impl Embedder {
    /// Loads `file` and checks its input and output against `spec`.
    pub fn load(runtime: &Runtime, spec: &ModelSpec, file: &Path, threads: usize) -> Result<Self, InferError> {
        if !file.exists() {
            return Err(InferError::ModelMissing { path: file.to_path_buf() });
        }
        let mismatch = |message: String| InferError::ModelMismatch { path: file.to_path_buf(), message };
        if spec.format != OutputFormat::Embedding {
            return Err(mismatch(format!("model {:?} is not a re-ID model (format = \"embedding\")", spec.name)));
        }
        if spec.input_dtype != InputDtype::Float32 {
            return Err(mismatch("a re-ID model's input must be float32 (input_dtype)".into()));
        }
        let load_error = |message: String| InferError::ModelLoad { path: file.to_path_buf(), message };
        let session = runtime.session(file, threads).map_err(|e| load_error(first_line(&e.to_string())))?;
        let max_batch = check_input(&session, spec).map_err(mismatch)?;
        let output_name = check_output(&session, spec).map_err(mismatch)?;
        let scale = std::array::from_fn(|c| 1.0 / (255.0 * spec.std[c]));
        let offset = std::array::from_fn(|c| -spec.mean[c] / spec.std[c]);
        Ok(Self {
            session,
            spec: spec.clone(),
            path: file.to_path_buf(),
            output_name,
            max_batch,
            scale,
            offset,
            input: Vec::new(),
            columns: Vec::new(),
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Embeds the people in `boxes` (source pixels, as detections give them) seen in `frame`.
    /// `letterboxed` says how ingest scaled the frame (as the detector's model wants it). A box
    /// with (almost) no pixels inside the frame gets `None`.
    pub fn embed(
        &mut self,
        frame: &Frame,
        boxes: &[BBox],
        letterboxed: bool,
    ) -> Result<Vec<Option<Embedding>>, InferError> {
        let run_error = |message: String| InferError::Run { model: self.path.display().to_string(), message };
        let view = frame.rgb().map_err(|e| run_error(e.to_string()))?;
        let to_frame =
            Letterbox::new((frame.source_width, frame.source_height), (frame.width(), frame.height()), letterboxed);
        let crops: Vec<Option<[f32; 4]>> = boxes.iter().map(|b| crop_in_frame(b, &to_frame, &view)).collect();
        let wanted: Vec<usize> = (0..boxes.len()).filter(|&i| crops[i].is_some()).collect();
        let mut embeddings = vec![None; boxes.len()];
        let (w, h) = (self.spec.input_width as usize, self.spec.input_height as usize);
        let per_crop = 3 * w * h;
        for batch in wanted.chunks(self.max_batch) {
            self.input.resize(per_crop * batch.len(), 0.0);
            for (slot, &i) in batch.iter().enumerate() {
                let Some(rect) = crops[i] else { continue };
                let out = &mut self.input[slot * per_crop..(slot + 1) * per_crop];
                resample(
                    &view,
                    rect,
                    (w, h),
                    self.spec.input_layout,
                    (self.scale, self.offset),
                    &mut self.columns,
                    out,
                );
            }
            self.run(batch, &mut embeddings)?;
        }
        Ok(embeddings)
    }

    /// Runs the model on the first `boxes.len()` crops of the input buffer and stores the
    /// normalised features of crop `slot` as `embeddings[boxes[slot]]`.
    fn run(&mut self, boxes: &[usize], embeddings: &mut [Option<Embedding>]) -> Result<(), InferError> {
        let batch = boxes.len();
        let path = &self.path;
        let run_error = |e: ort::Error| InferError::Run { model: path.display().to_string(), message: e.to_string() };
        let (w, h) = (self.spec.input_width as usize, self.spec.input_height as usize);
        let shape = self.spec.input_layout.shape(batch, w, h);
        let input = TensorRef::from_array_view((shape, self.input.as_slice())).map_err(run_error)?;
        let outputs = self.session.run(ort::inputs![self.spec.input_name.as_str() => input]).map_err(run_error)?;
        let value = outputs.get(&self.output_name).ok_or_else(|| InferError::Run {
            model: path.display().to_string(),
            message: format!("no output named {:?}", self.output_name),
        })?;
        let features = value.try_extract_array::<f32>().map_err(run_error)?;
        // One row per crop, whatever trailing dimensions an export keeps (`[B, dim, 1, 1]`).
        let shape = features.shape().to_vec();
        let dim = features.len() / batch.max(1);
        let features = features.into_shape_with_order((batch, dim)).map_err(|_| InferError::Run {
            model: path.display().to_string(),
            message: format!("output {:?} has shape {shape:?}, not one row per crop of {batch}", self.output_name),
        })?;
        for (row, &i) in features.outer_iter().zip(boxes) {
            // ORT's rows are contiguous: this borrows, it does not copy.
            let row = row.as_standard_layout();
            embeddings[i] = row.as_slice().and_then(Embedding::normalised);
        }
        Ok(())
    }
}

/// The part of the frame a source-pixel box covers, as `[x0, y0, x1, y1]` in frame pixels,
/// clipped to the frame; `None` when too little of it is inside.
fn crop_in_frame(b: &BBox, to_frame: &Letterbox, view: &RgbView<'_>) -> Option<[f32; 4]> {
    let (fw, fh) = (view.width() as f32, view.height() as f32);
    let (x0, y0) = to_frame.to_input(b.left, b.top);
    let (x1, y1) = to_frame.to_input(b.right(), b.bottom());
    let [x0, x1] = [x0.clamp(0.0, fw), x1.clamp(0.0, fw)];
    let [y0, y1] = [y0.clamp(0.0, fh), y1.clamp(0.0, fh)];
    let finite = [x0, y0, x1, y1].iter().all(|v| v.is_finite());
    (finite && x1 - x0 >= MIN_CROP_SIDE && y1 - y0 >= MIN_CROP_SIDE).then_some([x0, y0, x1, y1])
}

/// Bilinear taps mapping `out` samples onto the source span `[start, end)` of a `len`-pixel axis
/// (pixel centres aligned, as OpenCV's and PIL's resize do), never reading outside the pixels the
/// span covers: the same as cutting the crop out first, then resizing it.
fn taps(start: f32, end: f32, out: usize, len: usize, into: &mut Vec<Tap>) {
    into.clear();
    let step = (end - start) / out as f32;
    let lo = start.floor().max(0.0);
    let hi = (end.ceil() - 1.0).min(len.saturating_sub(1) as f32).max(lo);
    into.extend((0..out).map(|o| {
        let at = (start + (o as f32 + 0.5) * step - 0.5).clamp(lo, hi);
        let first = at.floor();
        Tap { first: first as usize, second: (first + 1.0).min(hi) as usize, weight: at - first }
    }));
}

/// Resizes the crop `rect` of `view` to `size` and writes it, normalised, into `out`.
fn resample(
    view: &RgbView<'_>,
    rect: [f32; 4],
    size: (usize, usize),
    layout: InputLayout,
    (scale, offset): ([f32; 3], [f32; 3]),
    columns: &mut Vec<Tap>,
    out: &mut [f32],
) {
    let (w, h) = size;
    let (data, stride) = (view.data(), view.stride());
    taps(rect[0], rect[2], w, view.width(), columns);
    let mut rows = Vec::with_capacity(h);
    taps(rect[1], rect[3], h, view.height(), &mut rows);
    for (oy, row) in rows.iter().enumerate() {
        let (top, bottom) = (&data[row.first * stride..], &data[row.second * stride..]);
        for (ox, col) in columns.iter().enumerate() {
            for c in 0..3 {
                let (a, b) = (col.first * 3 + c, col.second * 3 + c);
                let upper = top[a] as f32 + (top[b] as f32 - top[a] as f32) * col.weight;
                let lower = bottom[a] as f32 + (bottom[b] as f32 - bottom[a] as f32) * col.weight;
                let value = (upper + (lower - upper) * row.weight) * scale[c] + offset[c];
                out[layout.offset(ox, oy, c, w, h)] = value;
            }
        }
    }
}

/// The input must be `[N, 3, h, w]` (or NHWC) float32; returns how many crops one run may take.
fn check_input(session: &Session, spec: &ModelSpec) -> Result<usize, String> {
    let Some(input) = session.inputs().iter().find(|i| i.name() == spec.input_name) else {
        let found = session.inputs().iter().map(|i| format!("{:?}", i.name())).collect::<Vec<_>>().join(", ");
        return Err(format!("no input named {:?} as models.toml says (inputs: {found})", spec.input_name));
    };
    let (w, h) = (spec.input_width as i64, spec.input_height as i64);
    let [_, expected @ ..] = spec.input_layout.shape(1, w as usize, h as usize).map(|d| d as i64);
    let ValueType::Tensor { ty, shape, .. } = input.dtype() else {
        return Err(format!("input {:?} is not a tensor", spec.input_name));
    };
    let fits = shape.len() == 4 && shape[1..].iter().zip(expected).all(|(&d, e)| d == -1 || d == e);
    if *ty != TensorElementType::Float32 || !fits {
        return Err(format!(
            "input {:?} is {ty:?} {:?}, models.toml says Float32 [N, {}]",
            spec.input_name,
            shape.iter().collect::<Vec<_>>(),
            expected.map(|d| d.to_string()).join(", ")
        ));
    }
    Ok(if shape[0] > 0 { shape[0] as usize } else { MAX_BATCH })
}

/// The output must be `[N, embedding_dim]`; returns its name.
fn check_output(session: &Session, spec: &ModelSpec) -> Result<String, String> {
    let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let name = spec.outputs.first().map(String::as_str).or(names.first().copied()).unwrap_or("output0");
    let Some(output) = session.outputs().iter().find(|o| o.name() == name) else {
        return Err(format!("no output named {name:?} as models.toml says (outputs: {})", names.join(", ")));
    };
    if let (ValueType::Tensor { shape, .. }, Some(dim)) = (output.dtype(), spec.embedding_dim) {
        let last = shape.last().copied().unwrap_or(-1);
        if shape.len() != 2 || (last != -1 && last != dim as i64) {
            return Err(format!(
                "output {name:?} has shape {:?}, models.toml says [N, {dim}] (embedding_dim)",
                shape.iter().collect::<Vec<_>>()
            ));
        }
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_cover_the_span_with_centres_aligned() {
        let mut t = Vec::new();
        // Halving 4 pixels: each output sits between two inputs.
        taps(0.0, 4.0, 2, 4, &mut t);
        assert_eq!((t[0].first, t[0].second), (0, 1));
        assert!((t[0].weight - 0.5).abs() < 1e-6);
        assert_eq!((t[1].first, t[1].second), (2, 3));
        // Doubling: samples clamp at the edges instead of reading outside.
        taps(0.0, 2.0, 4, 2, &mut t);
        assert_eq!((t[0].first, t[0].weight), (0, 0.0));
        assert_eq!((t[3].first, t[3].second), (1, 1));
        // A crop starting at pixel 2 never reads pixel 1 (as if it had been cut out first).
        taps(2.0, 4.0, 8, 6, &mut t);
        assert!(t.iter().all(|t| t.first >= 2 && t.second <= 3), "{t:?}");
    }

    #[test]
    fn a_crop_is_resampled_and_normalised_per_channel() {
        // 4×2 frame: left half red (200, 0, 0), right half blue (0, 0, 100).
        let mut rgb = Vec::new();
        for _ in 0..2 {
            for x in 0..4 {
                rgb.extend_from_slice(if x < 2 { &[200, 0, 0] } else { &[0, 0, 100] });
            }
        }
        let frame = Frame::from_rgb(4, 2, rgb, 0).unwrap();
        let view = frame.rgb().unwrap();
        let scale = [1.0 / 255.0; 3];
        let mut out = vec![0.0; 3 * 2 * 2];
        let mut columns = Vec::new();
        // The right half only, to 2×2, planar: red plane 0, blue plane 100/255.
        resample(&view, [2.0, 0.0, 4.0, 2.0], (2, 2), InputLayout::Nchw, (scale, [0.0; 3]), &mut columns, &mut out);
        assert!(out[..4].iter().all(|v| v.abs() < 1e-6), "{out:?}");
        assert!(out[8..].iter().all(|v| (v - 100.0 / 255.0).abs() < 1e-6), "{out:?}");
        // The left half with mean 0.5: red (200/255 − 0.5) in packed order.
        resample(&view, [0.0, 0.0, 2.0, 2.0], (2, 2), InputLayout::Nhwc, (scale, [-0.5; 3]), &mut columns, &mut out);
        assert!((out[0] - (200.0 / 255.0 - 0.5)).abs() < 1e-6 && (out[2] + 0.5).abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn boxes_outside_the_frame_are_not_cropped() {
        let frame = Frame::from_rgb(8, 8, vec![0; 8 * 8 * 3], 0).unwrap();
        let view = frame.rgb().unwrap();
        let same = Letterbox::new((8, 8), (8, 8), false);
        let inside = BBox { left: 1.0, top: 1.0, width: 6.0, height: 6.0 };
        assert_eq!(crop_in_frame(&inside, &same, &view), Some([1.0, 1.0, 7.0, 7.0]));
        let outside = BBox { left: 20.0, top: 1.0, width: 6.0, height: 6.0 };
        assert_eq!(crop_in_frame(&outside, &same, &view), None);
        // A source twice the size of the analysed frame.
        let half = Letterbox::new((16, 16), (8, 8), false);
        let big = BBox { left: 2.0, top: 2.0, width: 12.0, height: 20.0 };
        assert_eq!(crop_in_frame(&big, &half, &view), Some([1.0, 1.0, 7.0, 8.0]));
    }
}
