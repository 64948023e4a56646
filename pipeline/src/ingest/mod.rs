//! Ingest: GStreamer pipelines that decode a camera or a file and hand RGB frames to Rust.

mod frame;
mod source;
mod uri;

pub use frame::{Frame, FrameError, MapError, RgbView};
pub use source::{FrameSource, IngestError, ScaleMode, SourceOptions};
pub use uri::redact_uri;
