//! The person detector: an ONNX model, its pre-processing and its decoder.

use std::path::{Path, PathBuf};

use ndarray::{ArrayView2, ArrayView3, ArrayViewD, Axis};
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::detection::{BBox, Detection};
use crate::ingest::{Frame, ScaleMode};

use super::decode::{self, Candidate};
use super::low_light::ToneCurve;
use super::manifest::{InputDtype, ModelSpec, OutputFormat};
use super::preprocess::{InputBuffer, Letterbox};
use super::{InferError, Runtime};

/// Boxes below this score are dropped before tracking (the tracker's low stage starts at 0.1).
const DEFAULT_MIN_SCORE: f32 = 0.1;
const NMS_IOU: f32 = 0.45;
/// What the TensorFlow SSD exports keep after NMS; a cut one ([`OutputFormat::SsdBoxes`]) keeps the same.
const SSD_MAX_DETECTIONS: usize = 100;

/// How the detector sees one frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct Look<'a> {
    /// The camera's low-light curve; `None`: the picture as it is.
    pub tone: Option<&'a ToneCurve>,
    /// Which way round ([`Orientation`]).
    pub orientation: Orientation,
    /// Only this rectangle of the frame, at its own scale, through the region network of its
    /// size ([`Detector::with_regions`]); `None`: the whole frame. Boxes still come back in the
    /// frame's source pixels, and those cut by the rectangle's edge come back cut.
    pub window: Option<Window>,
}

/// Which way round the detector sees a frame. The network is not mirror-symmetric: the same
/// people, mirrored, are found in slightly other boxes and scores, which is why a mirrored camera
/// counted differently ([`crate::analysis::DetectorMirror`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Orientation {
    #[default]
    AsIs,
    /// Mirrored left to right (boxes still come back in the frame's orientation).
    Mirrored,
    /// As it is and mirrored, in two runs of the network, the two views' boxes fused
    /// ([`decode::fuse_views`]): a detector without a handedness, at twice the cost.
    BothWays,
}

/// Boxes of the two views of [`Orientation::BothWays`] that overlap more than this are one person.
const FUSE_IOU: f32 = 0.55;

/// A rectangle of a frame, in the frame's (analysis) pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

impl Window {
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

/// One network: the whole-frame one, or a region one (the same weights at a smaller input).
struct Net {
    session: Session,
    spec: ModelSpec,
    path: PathBuf,
    input: InputBuffer,
    /// Whether the model's batch dimension is dynamic (several frames per run).
    batches: bool,
}

impl Net {
    fn load(runtime: &Runtime, spec: &ModelSpec, file: &Path, threads: usize) -> Result<Self, InferError> {
        if !file.exists() {
            return Err(InferError::ModelMissing { path: file.to_path_buf() });
        }
        if spec.format == OutputFormat::Embedding {
            return Err(InferError::ModelMismatch {
                path: file.to_path_buf(),
                message: format!("model {:?} is a re-ID model, not a detector", spec.name),
            });
        }
        let load_error = |message: String| InferError::ModelLoad { path: file.to_path_buf(), message };
        let session = runtime.session(file, threads).map_err(|e| load_error(first_line(&e.to_string())))?;
        let batches = check_input(&session, spec, file)?;
        check_outputs(&session, spec, file)?;
        Ok(Self { session, spec: spec.clone(), path: file.to_path_buf(), input: InputBuffer::new(spec), batches })
    }

    fn input_size(&self) -> (u32, u32) {
        (self.spec.input_width, self.spec.input_height)
    }
}

/// Runs a person-detection model on frames; boxes come back in frame pixels.
pub struct Detector {
    whole: Net,
    /// The same network at smaller inputs, for a rectangle of the frame ([`Look::window`]).
    regions: Vec<Net>,
    /// Per frame of the last run, its candidates (one entry per batch slot).
    candidates: Vec<Vec<Candidate>>,
    /// The same for the mirrored view of frames seen both ways.
    mirrored_candidates: Vec<Vec<Candidate>>,
    /// Where two views' boxes are fused.
    fused: Vec<Candidate>,
    min_score: f32,
}

impl Detector {
    /// Loads `file` and checks that its input matches what `spec` says.
    pub fn load(runtime: &Runtime, spec: &ModelSpec, file: &Path, threads: usize) -> Result<Self, InferError> {
        Ok(Self {
            whole: Net::load(runtime, spec, file, threads)?,
            regions: Vec::new(),
            candidates: vec![Vec::with_capacity(256)],
            mirrored_candidates: Vec::new(),
            fused: Vec::with_capacity(256),
            min_score: DEFAULT_MIN_SCORE,
        })
    }

    /// Adds region networks: the same network at smaller inputs (`(spec, file)` each, as the
    /// whole-frame model's `regions` in models.toml name them), which see a rectangle of the frame
    /// of exactly their input size ([`Look::window`]) at less cost than the whole frame.
    pub fn with_regions(
        mut self,
        runtime: &Runtime,
        regions: &[(ModelSpec, PathBuf)],
        threads: usize,
    ) -> Result<Self, InferError> {
        for (spec, file) in regions {
            let net = Net::load(runtime, spec, file, threads)?;
            let (w, h) = net.input_size();
            let (frame_w, frame_h) = self.input_size();
            if w > frame_w || h > frame_h || spec.format != self.whole.spec.format || spec.letterboxed() {
                return Err(InferError::ModelMismatch {
                    path: file.clone(),
                    message: format!(
                        "region model {:?} ({w}×{h}) must be the whole-frame model's format, unletterboxed, \
                         and fit inside its {frame_w}×{frame_h} input",
                        spec.name
                    ),
                });
            }
            self.regions.push(net);
        }
        Ok(self)
    }

    /// Whether region networks are loaded ([`with_regions`](Self::with_regions)).
    pub fn has_regions(&self) -> bool {
        !self.regions.is_empty()
    }

    /// The input sizes of the region networks, in models.toml's order.
    pub fn region_sizes(&self) -> Vec<(u32, u32)> {
        self.regions.iter().map(Net::input_size).collect()
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.whole.spec
    }

    /// The frame size this model wants from ingest.
    pub fn input_size(&self) -> (u32, u32) {
        self.whole.input_size()
    }

    pub fn scale_mode(&self) -> ScaleMode {
        if self.whole.spec.letterboxed() { ScaleMode::Letterbox } else { ScaleMode::Stretch }
    }

    pub fn set_min_score(&mut self, min_score: f32) {
        self.min_score = min_score;
    }

    /// Whether the model takes several frames in one run ([`detect_batch`](Self::detect_batch)
    /// with more than one frame); models exported with a fixed batch of 1 do not.
    pub fn batches(&self) -> bool {
        self.whole.batches
    }

    /// Frames per run that pay off for this model: batches save the per-run costs of a small
    /// input (300×300: 1.2–1.65× the frame rate at 4–8 frames on 2 cores) but only multiply the
    /// memory of a large one (768×576: 1.5 GB at 8 frames against 0.3 GB, no faster). Up to 4
    /// frames of 300×300 pixels' worth; 1 for models that do not batch.
    pub fn preferred_batch(&self) -> usize {
        if !self.whole.batches {
            return 1;
        }
        let pixels = self.whole.spec.input_width as usize * self.whole.spec.input_height as usize;
        (4 * 300 * 300 / pixels.max(1)).clamp(1, 4)
    }

    /// Detects people in a frame already scaled to [`Detector::input_size`].
    pub fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, InferError> {
        Ok(self.detect_batch(&[frame])?.pop().unwrap_or_default())
    }

    /// Detects people in several frames (of one camera or several) in one run of the model:
    /// on a CPU a batch takes less time per frame than frames one by one. One list per frame.
    pub fn detect_batch(&mut self, frames: &[&Frame]) -> Result<Vec<Vec<Detection>>, InferError> {
        self.detect_batch_toned(frames, &[])
    }

    /// Like [`detect_batch`](Self::detect_batch), frame `i` seen through `tones[i]` (its camera's
    /// low-light curve, [`crate::infer::LowLight`]) where there is one; `tones` may be shorter
    /// than `frames` (an empty slice: every frame as it is).
    pub fn detect_batch_toned(
        &mut self,
        frames: &[&Frame],
        tones: &[Option<&ToneCurve>],
    ) -> Result<Vec<Vec<Detection>>, InferError> {
        let looks: Vec<Look<'_>> = tones.iter().map(|&tone| Look { tone, ..Look::default() }).collect();
        self.detect_batch_looking(frames, &looks)
    }

    /// Like [`detect_batch`](Self::detect_batch), frame `i` seen as `looks[i]` says: through its
    /// camera's low-light curve, and mirrored or not (its boxes come back in the frame's own
    /// orientation either way). `looks` may be shorter than `frames` (the rest: as they are).
    pub fn detect_batch_looking(
        &mut self,
        frames: &[&Frame],
        looks: &[Look<'_>],
    ) -> Result<Vec<Vec<Detection>>, InferError> {
        if looks.iter().any(|look| look.window.is_some()) {
            // Frames through different networks: one run each.
            return frames
                .iter()
                .enumerate()
                .map(|(i, frame)| {
                    let look = looks.get(i).copied().unwrap_or_default();
                    Ok(self.detect_looking(&[frame], &[look])?.pop().unwrap_or_default())
                })
                .collect();
        }
        self.detect_looking(frames, looks)
    }

    /// Frames that all go through the same network: the whole-frame one, or (one frame) the
    /// region network of its look's window.
    fn detect_looking(&mut self, frames: &[&Frame], looks: &[Look<'_>]) -> Result<Vec<Vec<Detection>>, InferError> {
        let window = looks.first().and_then(|look| look.window);
        let whole_size = self.whole.input_size();
        let letterboxed = self.whole.spec.letterboxed();
        let letterbox_of =
            |frame: &Frame| Letterbox::new((frame.source_width, frame.source_height), whole_size, letterboxed);
        let net = match window {
            None => &mut self.whole,
            Some(window) => match self.regions.iter_mut().find(|net| net.input_size() == window.size()) {
                Some(net) => net,
                None => {
                    return Err(InferError::Run {
                        model: self.whole.path.display().to_string(),
                        message: format!("no region network of {}×{} is loaded", window.width, window.height),
                    });
                }
            },
        };
        let run_error = |message: String| InferError::Run { model: net.path.display().to_string(), message };
        if frames.len() > 1 && (!net.batches || window.is_some()) {
            return Err(run_error(format!("{} frames in one run, the model takes one at a time", frames.len())));
        }
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        if net.input.slots(&net.spec) != frames.len() {
            net.input.set_slots(&net.spec, frames.len());
        }
        let (input_width, input_height) = net.input_size();
        for (slot, frame) in frames.iter().enumerate() {
            if (frame.width(), frame.height()) != whole_size {
                return Err(run_error(format!(
                    "frame is {}×{}, the model takes {}×{}",
                    frame.width(),
                    frame.height(),
                    whole_size.0,
                    whole_size.1
                )));
            }
            let view = frame.rgb().map_err(|e| run_error(e.to_string()))?;
            let view = match window {
                None => view,
                Some(w) => view.crop(w.left as usize, w.top as usize, w.width as usize, w.height as usize).ok_or_else(
                    || run_error(format!("window {w:?} is not inside the {}×{} frame", frame.width(), frame.height())),
                )?,
            };
            let look = looks.get(slot).copied().unwrap_or_default();
            net.input.fill_slot_toned(slot, &view, look.tone);
            if look.orientation == Orientation::Mirrored {
                net.input.mirror_slot(slot, input_width as usize, input_height as usize);
            }
        }
        run(net, &mut self.candidates, self.min_score, frames.len())?;
        let both_ways = |slot: usize| looks.get(slot).is_some_and(|l| l.orientation == Orientation::BothWays);
        if (0..frames.len()).any(both_ways) {
            // The second view runs the whole batch again (mirroring every slot in place is cheaper
            // than refilling); only the slots seen both ways read its answer.
            for slot in 0..frames.len() {
                net.input.mirror_slot(slot, input_width as usize, input_height as usize);
            }
            run(net, &mut self.mirrored_candidates, self.min_score, frames.len())?;
            let nms_iou = net.spec.nms_iou.unwrap_or(NMS_IOU);
            for slot in (0..frames.len()).filter(|&slot| both_ways(slot)) {
                let mirrored = &mut self.mirrored_candidates[slot];
                for c in mirrored.iter_mut() {
                    (c.x1, c.x2) = (input_width as f32 - c.x2, input_width as f32 - c.x1);
                }
                decode::fuse_views(&self.candidates[slot], mirrored, FUSE_IOU, &mut self.fused);
                decode::non_max_suppression(&mut self.fused, nms_iou);
                std::mem::swap(&mut self.candidates[slot], &mut self.fused);
            }
        }
        let (offset_x, offset_y) = window.map_or((0.0, 0.0), |w| (w.left as f32, w.top as f32));
        let input_width = input_width as f32;
        let person_class = net.spec.person_class;
        Ok(frames
            .iter()
            .zip(&self.candidates)
            .enumerate()
            .map(|(slot, (frame, candidates))| {
                let letterbox = letterbox_of(frame);
                let mirrored = looks.get(slot).is_some_and(|l| l.orientation == Orientation::Mirrored);
                candidates
                    .iter()
                    .map(|c| {
                        // A box on the mirrored input, mirrored back (padding and all).
                        let c = if mirrored {
                            Candidate { x1: input_width - c.x2, x2: input_width - c.x1, ..*c }
                        } else {
                            *c
                        };
                        // From the window's pixels to the frame's.
                        let c = Candidate {
                            x1: c.x1 + offset_x,
                            x2: c.x2 + offset_x,
                            y1: c.y1 + offset_y,
                            y2: c.y2 + offset_y,
                            ..c
                        };
                        to_detection(&c, &letterbox, person_class)
                    })
                    .collect()
            })
            .collect())
    }

    /// Like [`detect_batch`](Self::detect_batch), one result per frame: when the batch fails, its
    /// frames are detected one by one, so a bad frame (of one camera) costs only itself.
    pub fn detect_each(&mut self, frames: &[&Frame]) -> Vec<Result<Vec<Detection>, InferError>> {
        self.detect_each_looking(frames, &[])
    }

    /// [`detect_each`](Self::detect_each) with each frame's look, as in
    /// [`detect_batch_looking`](Self::detect_batch_looking).
    pub fn detect_each_looking(
        &mut self,
        frames: &[&Frame],
        looks: &[Look<'_>],
    ) -> Vec<Result<Vec<Detection>, InferError>> {
        match self.detect_batch_looking(frames, looks) {
            Ok(detected) => detected.into_iter().map(Ok).collect(),
            Err(error) if frames.len() == 1 => vec![Err(error)],
            Err(error) => {
                tracing::warn!("a batch of {} frames failed ({error}); detecting them one by one", frames.len());
                let look = |i: usize| looks.get(i).copied().unwrap_or_default();
                frames
                    .iter()
                    .enumerate()
                    .map(|(i, frame)| Ok(self.detect_batch_looking(&[frame], &[look(i)])?.pop().unwrap_or_default()))
                    .collect()
            }
        }
    }
}

/// Runs `net` on its filled input buffer (`batch` frames) and decodes into `candidates`, one list
/// per frame.
fn run(net: &mut Net, candidates: &mut Vec<Vec<Candidate>>, min_score: f32, batch: usize) -> Result<(), InferError> {
    let path = &net.path;
    let run_error = |e: ort::Error| InferError::Run { model: path.display().to_string(), message: e.to_string() };
    let (w, h) = (net.spec.input_width as usize, net.spec.input_height as usize);
    let shape = net.spec.input_layout.shape(batch, w, h);
    let input = match &net.input {
        InputBuffer::Bytes { data, .. } => {
            TensorRef::from_array_view((shape, data.as_slice())).map_err(run_error)?.into_dyn()
        }
        InputBuffer::Floats { data, .. } => {
            TensorRef::from_array_view((shape, data.as_slice())).map_err(run_error)?.into_dyn()
        }
    };
    let outputs = net.session.run(ort::inputs![net.spec.input_name.as_str() => input]).map_err(run_error)?;
    let params = decode::DecodeParams {
        input_size: (net.spec.input_width, net.spec.input_height),
        person_class: net.spec.person_class,
        min_score,
    };
    candidates.resize_with(batch, || Vec::with_capacity(256));
    let spec = &net.spec;
    // Each output read once as an array; frame `i` of the batch is its index `i` on axis 0.
    let output = |name: &str| -> Result<ArrayViewD<'_, f32>, InferError> {
        let value = outputs.get(name).ok_or_else(|| InferError::Run {
            model: path.display().to_string(),
            message: format!("no output named {name:?}"),
        })?;
        value.try_extract_array::<f32>().map_err(run_error)
    };
    let shape_error = |message: String| InferError::Run { model: path.display().to_string(), message };
    let first = spec.outputs.first().map(String::as_str).unwrap_or("output0");
    match spec.format {
        OutputFormat::SsdTf => {
            let [boxes, scores, classes, num] = ssd_outputs(spec);
            let boxes = rows_per_frame(boxes, output(boxes)?, batch, 4).map_err(shape_error)?;
            let scores = per_frame(scores, output(scores)?, batch).map_err(shape_error)?;
            let classes = per_frame(classes, output(classes)?, batch).map_err(shape_error)?;
            let num = per_frame(num, output(num)?, batch).map_err(shape_error)?;
            for (i, out) in candidates.iter_mut().enumerate() {
                out.clear();
                let scores = scores.row(i);
                let valid = num.row(i).first().map_or(scores.len(), |n| *n as usize);
                let (boxes, classes) = (boxes.index_axis(Axis(0), i), classes.row(i));
                decode::decode_ssd_tf(boxes, scores, classes, valid, &params, out);
                // The graph already ran NMS per class; nothing to add.
            }
        }
        OutputFormat::SsdBoxes => {
            let [boxes_name, scores_name] = ssd_boxes_outputs(spec);
            // `[B, anchors, 1, 4]` and `[B, anchors, 1]` as the cut graphs write them.
            let boxes = rows_per_frame(boxes_name, output(boxes_name)?, batch, 4).map_err(shape_error)?;
            let scores = output(scores_name)?;
            let anchors = boxes.len_of(Axis(1));
            let classes = (scores.len() / batch).checked_div(anchors).unwrap_or(0);
            let scores = rows_per_frame(scores_name, scores, batch, classes).map_err(shape_error)?;
            for (i, out) in candidates.iter_mut().enumerate() {
                out.clear();
                let (boxes, scores) = (boxes.index_axis(Axis(0), i), scores.index_axis(Axis(0), i));
                decode::decode_ssd_boxes(boxes, scores, &params, out);
                decode::non_max_suppression(out, spec.nms_iou.unwrap_or(NMS_IOU));
                out.truncate(SSD_MAX_DETECTIONS);
                decode::clip_to_input(out, params.input_size);
            }
        }
        OutputFormat::Yolov8 | OutputFormat::Yolov5 | OutputFormat::Yolox => {
            let data = output(first)?;
            let columns = data.shape().last().copied().unwrap_or(0);
            let data = rows_per_frame(first, data, batch, columns).map_err(shape_error)?;
            for (data, out) in data.outer_iter().zip(candidates.iter_mut()) {
                out.clear();
                match spec.format {
                    OutputFormat::Yolov8 => decode::decode_yolov8(data, &params, out),
                    OutputFormat::Yolov5 => decode::decode_yolov5(data, &params, out),
                    _ => decode::decode_yolox(data, &params, out),
                }
                decode::non_max_suppression(out, spec.nms_iou.unwrap_or(NMS_IOU));
            }
        }
        // Refused by `load`.
        OutputFormat::Embedding => {}
    }
    Ok(())
}

fn to_detection(c: &Candidate, letterbox: &Letterbox, class: u32) -> Detection {
    let (x1, y1) = letterbox.to_source(c.x1, c.y1);
    let (x2, y2) = letterbox.to_source(c.x2, c.y2);
    Detection { bbox: BBox::from_corners(x1, y1, x2, y2), score: c.score, class }
}

fn ssd_outputs(spec: &ModelSpec) -> [&str; 4] {
    let name = |i: usize, default: &'static str| spec.outputs.get(i).map(String::as_str).unwrap_or(default);
    [
        name(0, "detection_boxes:0"),
        name(1, "detection_scores:0"),
        name(2, "detection_classes:0"),
        name(3, "num_detections:0"),
    ]
}

fn ssd_boxes_outputs(spec: &ModelSpec) -> [&str; 2] {
    let name = |i: usize, default: &'static str| spec.outputs.get(i).map(String::as_str).unwrap_or(default);
    [name(0, "boxes"), name(1, "scores")]
}

/// Output `name` as one row of values per frame, `[batch, values]` (scores `[B, N]`, counts `[B]`).
fn per_frame<'a>(name: &str, output: ArrayViewD<'a, f32>, batch: usize) -> Result<ArrayView2<'a, f32>, String> {
    let shape = output.shape().to_vec();
    let values = output.len() / batch.max(1);
    output
        .into_shape_with_order((batch, values))
        .map_err(|_| format!("output {name:?} has shape {shape:?}, which does not split into {batch} frame(s)"))
}

/// Output `name` as one matrix per frame, rows of `columns` values: `[batch, rows, columns]`. The
/// values are read in order whatever dimensions the model puts between (a cut SSD's boxes are
/// `[B, anchors, 1, 4]`).
fn rows_per_frame<'a>(
    name: &str,
    output: ArrayViewD<'a, f32>,
    batch: usize,
    columns: usize,
) -> Result<ArrayView3<'a, f32>, String> {
    let shape = output.shape().to_vec();
    let rows = output.len().checked_div(batch * columns).unwrap_or(0);
    output.into_shape_with_order((batch, rows, columns)).map_err(|_| {
        format!("output {name:?} has shape {shape:?}, which does not split into {batch} frame(s) of rows of {columns}")
    })
}

pub(super) fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// The model's single image input must have the name, element type and shape the manifest gives;
/// returns whether its batch dimension is dynamic.
fn check_input(session: &Session, spec: &ModelSpec, file: &Path) -> Result<bool, InferError> {
    let expected_shape =
        spec.input_layout.shape(1, spec.input_width as usize, spec.input_height as usize).map(|d| d as i64);
    let expected_type = match spec.input_dtype {
        InputDtype::Uint8 => TensorElementType::Uint8,
        InputDtype::Float32 => TensorElementType::Float32,
    };
    let describe_expected = format!("{:?} {:?} {:?}", spec.input_name, expected_type, expected_shape);
    let mismatch = |found: String| InferError::ModelMismatch {
        path: file.to_path_buf(),
        message: format!("input {found} does not match models.toml (expects {describe_expected})"),
    };
    let Some(input) = session.inputs().iter().find(|i| i.name() == spec.input_name) else {
        let found = session.inputs().iter().map(|i| format!("{:?}", i.name())).collect::<Vec<_>>().join(", ");
        return Err(mismatch(format!("named {found}")));
    };
    let ValueType::Tensor { ty, shape, .. } = input.dtype() else {
        return Err(mismatch(format!("{:?} is not a tensor", input.name())));
    };
    // -1 is a dynamic dimension: any size fits.
    let shape_fits = shape.len() == 4 && shape.iter().zip(expected_shape).all(|(&d, e)| d == -1 || d == e);
    if *ty != expected_type || !shape_fits {
        return Err(mismatch(format!("{:?} {:?} {:?}", input.name(), ty, shape.iter().collect::<Vec<_>>())));
    }
    Ok(shape[0] == -1)
}

fn check_outputs(session: &Session, spec: &ModelSpec, file: &Path) -> Result<(), InferError> {
    let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let wanted: Vec<&str> = match spec.format {
        OutputFormat::SsdTf => ssd_outputs(spec).to_vec(),
        OutputFormat::SsdBoxes => ssd_boxes_outputs(spec).to_vec(),
        _ => spec.outputs.first().map(String::as_str).into_iter().collect(),
    };
    let wanted = if wanted.is_empty() { vec![names.first().copied().unwrap_or("output0")] } else { wanted };
    match wanted.iter().find(|w| !names.contains(w)) {
        Some(missing) => Err(InferError::ModelMismatch {
            path: file.to_path_buf(),
            message: format!("no output named {missing:?} as models.toml says (outputs: {})", names.join(", ")),
        }),
        None => Ok(()),
    }
}
