//! Inference: ONNX models through ONNX Runtime (`ort`): the person detector and the re-ID model.

mod decode;
mod detector;
mod embedder;
mod error;
mod lanes;
mod low_light;
mod manifest;
mod motion_gate;
mod preprocess;
mod runtime;

pub use decode::{
    Candidate, DecodeParams, clip_to_input, decode_ssd_boxes, decode_ssd_tf, decode_yolov5, decode_yolov8,
    decode_yolox, non_max_suppression,
};
pub use detector::{Detector, Look, Orientation, Window};
pub use embedder::Embedder;
pub use error::InferError;
pub use lanes::{Detectors, detect_side_by_side};
pub use low_light::{LowLight, LowLightConfig, LowLightMode, LumaLevels, ToneCurve};
pub use manifest::{InputDtype, InputLayout, Manifest, ModelSpec, OutputFormat};
pub use motion_gate::{GateDecision, MotionGate, MotionGateConfig, watched_area};
pub use preprocess::{InputBuffer, Letterbox};
pub use runtime::Runtime;
