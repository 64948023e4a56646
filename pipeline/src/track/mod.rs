//! Track stage: turns each frame's [`Detection`](crate::detection::Detection)s
//! into [`Track`]s that keep one identity per person across frames.
//!
//! [`Tracker`] is ByteTrack-style: a constant-velocity [`kalman`] filter
//! predicts each track, then detections are matched to tracks by box overlap
//! with optimal [`assignment`], high-confidence detections first and
//! low-confidence ones only to keep existing tracks alive. Births and deaths
//! have hysteresis (a track is [`Confirmed`](TrackState::Confirmed) after a few
//! matched frames, and survives a short occlusion as
//! [`Lost`](TrackState::Lost) with the same id), which is what keeps counts
//! right when people pass each other in a doorway.
//!
//! ```
//! use lintel::detection::{BBox, Detection};
//! use lintel::track::{TrackState, Tracker, TrackerConfig};
//!
//! let mut tracker = Tracker::new(TrackerConfig::default());
//! for frame in 0..5 {
//!     let bbox = BBox { left: 100.0 + 5.0 * frame as f32, top: 80.0, width: 60.0, height: 160.0 };
//!     let update = tracker.update(&[Detection { bbox, score: 0.9, class: 0 }]);
//!     // Hand `update.removed` to the counter so it forgets those ids.
//!     assert!(update.removed.is_empty());
//! }
//! let tracks = tracker.tracks();
//! assert_eq!(tracks.len(), 1);
//! assert_eq!(tracks[0].state, TrackState::Confirmed);
//! ```
//!
//! Tracks live in memory only; their ids are never published or logged.

pub mod assignment;
mod bytetrack;
pub mod kalman;

pub use bytetrack::{AppearanceConfig, MIN_STEPS_PER_SECOND, Tracker, TrackerConfig, TrackerUpdate};

use crate::detection::BBox;

/// Identity of a track within one [`Tracker`]: increasing from 1, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub u64);

/// Where a track is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackState {
    /// Newly born, not yet matched in enough consecutive frames to be trusted;
    /// removed as soon as it misses a frame.
    Tentative,
    /// A person being followed.
    Confirmed,
    /// A confirmed track that is not currently seen; it coasts on its motion
    /// model and keeps its id if it is found again in time.
    Lost,
}

/// One tracked person, as the tracker sees it after a frame: plain data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Track {
    /// Stable identity of the person across frames.
    pub id: TrackId,
    /// Filtered box estimate; for a track not matched this frame, the
    /// motion model's prediction.
    pub bbox: BBox,
    /// Score of the detection last matched to this track.
    pub score: f32,
    /// Life-cycle state.
    pub state: TrackState,
    /// Whether a detection was matched to this track in this frame (a new
    /// track counts as matched to the detection it was born from).
    pub matched: bool,
    /// Number of frames in which the track was matched, its birth included.
    pub hits: u32,
    /// Steps of the tracker's clock since the track was last matched (one
    /// per analysed frame when the analysis keeps up with the clock): 0 when
    /// `matched`.
    pub frames_since_seen: u32,
    /// Steps of the tracker's clock since the track was born: 1 in its first
    /// frame.
    pub age: u32,
}
