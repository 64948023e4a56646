//! Ingest: GStreamer pipelines that decode and scale a camera or a file and hand its I420 frames
//! to Rust, which converts them to RGB (`to_rgb.rs`: the bytes `videoconvert` gave, at 0.61× the
//! CPU a frame).
//!
//! [`FrameSource`] is one pipeline; [`CameraSupervisor`] keeps one camera's pipeline running
//! (restarts with backoff) on its own thread. The fake camera of the tests is
//! [`test_camera`](crate::test_camera), not part of ingest.

mod auth_guard;
mod frame;
mod live;
mod source;
mod supervisor;
mod to_rgb;
mod uri;

pub use frame::{Frame, FrameError, MapError, RgbView, luma};
pub use live::{Credentials, LiveOptions, RtspTransport};
pub use source::{FrameSource, IngestError, Pulled, ScaleMode, SourceOptions};
pub use supervisor::{Backoff, CameraConfig, CameraFrame, CameraState, CameraStateKind, CameraSupervisor, LatestFrame};
pub use uri::redact_uri;
