//! Analysis: what one camera's frames mean. This is "the pipeline" of `DESIGN.md` for one camera —
//! motion gate → detector → re-ID embedder → tracker → zone counter — written once, in
//! [`CameraAnalysis`], and driven by both `lintel count` ([`crate::replay`], frames from a file)
//! and `lintel run` ([`crate::node`], frames from live cameras). A file and a camera differ only in
//! where frames come from and where the results go.
//!
//! Each analysed frame yields one plain value, a [`FrameAnalysis`]: its time, the anonymous boxes
//! of the people followed (no track id), the zone crossings, and whether the detector ran.
//!
//! The detector is not owned here: the node batches the frames of several cameras into one run of
//! the model and a replay batches consecutive frames, so a frame is analysed in two steps,
//! [`CameraAnalysis::admit`] (does it need the detector?) then [`CameraAnalysis::analyse`] (with
//! its detections, or none when the gate skipped it).

mod camera;
pub mod flow;
mod frame_analysis;
mod region;
mod view;

pub(crate) use camera::stream_time;
pub use camera::{
    Admitted, Ahead, AnalysisConfig, Appearance, CameraAnalysis, DEFAULT_MAX_LOST, DEFAULT_REID_MEMORY, DetectorMirror,
};
pub use frame_analysis::{FrameAnalysis, PersonBox, ZoneEvent};
pub use region::{DEFAULT_MARGIN, DEFAULT_WHOLE_EVERY, RegionConfig, window_for};
pub use view::{ViewChange, ViewSample, ViewWatch, ViewWatchConfig};
