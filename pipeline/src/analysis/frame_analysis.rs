//! The plain value each analysed frame yields.

use std::time::Duration;

use lintel_calibration::geometry::Crossing;

use crate::detection::{BBox, Embedding};
use crate::track::TrackState;

/// What one frame of one camera showed, once analysed. It names no person: boxes are anonymous
/// and in track order only, so a page may draw them and nothing can follow one person across
/// frames from it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameAnalysis {
    /// The frame's index in its stream (from 0).
    pub index: u64,
    /// The frame's timestamp in its stream, if it had one.
    pub pts: Option<Duration>,
    /// Width and height of the decoded picture, in the pixels the boxes use.
    pub size: (u32, u32),
    /// Whether the detector ran on the frame (`false`: the motion gate saw nothing move near the
    /// zones and nobody tracked there).
    pub detected: bool,
    /// People found by the detector in this frame (0 when it did not run).
    pub detections: usize,
    /// Boxes of those dropped because their implied height, on the camera's floor, is no person's.
    pub implausible: usize,
    /// People crops embedded by the re-ID model for this frame.
    pub embedded: u64,
    /// The people followed after this frame: tentative, confirmed and lost (predicted) tracks.
    pub people: Vec<PersonBox>,
    /// Crossings decided at this frame (and, on a new connection, those the previous stream left
    /// undecided).
    pub events: Vec<ZoneEvent>,
}

/// One person followed, without an identity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonBox {
    /// The tracker's box estimate, in source pixels.
    pub bbox: BBox,
    /// Where the feet are: the point the zones test.
    pub foot: (f32, f32),
    /// How far the feet moved since the previous analysed frame, in source pixels (`None` in the
    /// person's first frame): the flow map's directions, with no identity attached.
    pub step: Option<(f32, f32)>,
    pub state: TrackState,
    /// A detection was matched to the person in this frame (otherwise the box is a prediction).
    pub seen: bool,
    /// The score of the detection last matched.
    pub score: f32,
}

/// One counted passage through one zone of the camera.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneEvent {
    /// Index of the zone in the camera's zone list (site-file order).
    pub zone: usize,
    pub direction: Crossing,
    /// Whether the zone adds into its entrance (and building): `aggregate` in the site file.
    pub aggregate: bool,
    /// The entrance the zone counts for when it is not its camera's (`entrance` of the zone).
    pub entrance: Option<std::sync::Arc<str>>,
    /// Frame where the person was first seen clearly on the new side.
    pub frame: u64,
    pub pts: Option<Duration>,
    /// What the person looked like, when the re-ID model embedded them: lets the node tell
    /// whether two cameras of one entrance saw the same passage. In memory only; never published,
    /// written or logged (its `Debug` prints no values).
    pub looks: Option<Embedding>,
}
