//! The newest analysis of each camera, for whoever watches live (pages: the overlay of boxes and
//! counts, the flow map). Bounded and lossy by design: one slot per camera, a new frame replaces
//! the old, and a reader that looks rarely sees only the newest. The detection thread never waits
//! on a reader. Counts do not go this way: they reach the node thread through its lossless channel.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::analysis::FrameAnalysis;

/// One camera's newest analysed frame.
#[derive(Debug, Clone)]
pub struct LiveFrame {
    /// When the frame arrived from the camera.
    pub wall: SystemTime,
    pub analysis: FrameAnalysis,
}

/// The newest [`LiveFrame`] of each camera (site-file order), shared by the node and its readers.
/// Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct LiveFrames {
    slots: Arc<Mutex<Vec<Option<Arc<LiveFrame>>>>>,
}

impl LiveFrames {
    /// Replaces camera `camera`'s newest frame.
    pub fn put(&self, camera: usize, frame: LiveFrame) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() <= camera {
            slots.resize(camera + 1, None);
        }
        slots[camera] = Some(Arc::new(frame));
    }

    /// Camera `camera`'s newest frame, if it had one.
    pub fn latest(&self, camera: usize) -> Option<Arc<LiveFrame>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).get(camera).cloned().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(index: u64) -> LiveFrame {
        LiveFrame {
            wall: SystemTime::UNIX_EPOCH,
            analysis: FrameAnalysis {
                index,
                pts: None,
                size: (4, 4),
                detected: true,
                detections: 0,
                embedded: 0,
                people: Vec::new(),
                events: Vec::new(),
            },
        }
    }

    #[test]
    fn a_reader_sees_the_newest_frame_of_each_camera_only() {
        let live = LiveFrames::default();
        assert!(live.latest(1).is_none());
        for index in 0..100 {
            live.put(1, frame(index));
        }
        live.put(0, frame(7));
        assert_eq!(live.latest(1).map(|f| f.analysis.index), Some(99));
        assert_eq!(live.latest(0).map(|f| f.analysis.index), Some(7));
        assert!(live.latest(2).is_none());
    }
}
