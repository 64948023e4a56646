use std::path::PathBuf;

/// What went wrong loading or running a model; every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(
        "ONNX Runtime library not found (looked in {searched}); run scripts/setup, or set ORT_DYLIB_PATH to libonnxruntime.so"
    )]
    RuntimeMissing { searched: String },
    #[error("ONNX Runtime library {path}: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Manifest { path: PathBuf, line: usize, message: String },
    #[error("{path}: model file not found (run scripts/setup to install the models)")]
    ModelMissing { path: PathBuf },
    #[error("{path}: {message}")]
    ModelLoad { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    ModelMismatch { path: PathBuf, message: String },
    #[error("{model}: inference failed: {message}")]
    Run { model: String, message: String },
}
