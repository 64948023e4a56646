//! The newest analysis of each camera, for whoever watches live (pages: the overlay of boxes and
//! counts, the flow map). Bounded and lossy by design: one slot per camera, a new frame replaces
//! the old, and a reader that looks rarely sees only the newest. The detection thread never waits
//! on a reader. Counts do not go this way: they reach the node thread through its lossless channel.
//!
//! The picture itself is copied only while someone watches the camera ([`LiveFrames::watch`]):
//! a node nobody looks at copies no pixel. It stays in memory, replaced by the next one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::analysis::FrameAnalysis;
use crate::analysis::flow::FlowMap;
use crate::privacy::{Hidden, Picture};
use lintel_calibration::geometry::Crossing;
use lintel_calibration::site::{CameraGeometry, Zone};

/// How long a page's last look keeps its camera's pictures coming.
const WATCH_FOR: Duration = Duration::from_secs(10);

/// One camera's newest analysed frame.
#[derive(Debug, Clone)]
pub struct LiveFrame {
    /// When the frame arrived from the camera.
    pub wall: SystemTime,
    pub analysis: FrameAnalysis,
    /// The frame's pixels, while someone watches the camera.
    pub picture: Option<Arc<LivePicture>>,
}

/// A frame's pixels and what must be hidden in them before a person sees them.
#[derive(Debug)]
pub struct LivePicture {
    pub pixels: Picture,
    pub hidden: Hidden,
}

/// New zones for cameras, saved by a technician, waiting for the detection thread to take them
/// (it looks before each round of frames). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ZoneReloads {
    pending: Arc<Mutex<Vec<ZoneReload>>>,
}

/// A camera (site-file order), its new zones, and its lens and floor.
pub type ZoneReload = (usize, Vec<Zone>, CameraGeometry);

impl ZoneReloads {
    /// Camera `camera` counts on `zones`, through `geometry`, from its next frame.
    pub fn push(&self, camera: usize, zones: Vec<Zone>, geometry: CameraGeometry) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).push((camera, zones, geometry));
    }

    /// What was saved since the last look, oldest first.
    pub fn take(&self) -> Vec<ZoneReload> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Entries and exits of each of a camera's zones (site-file order) since the node started.
pub type ZoneTallies = Vec<(u64, u64)>;

#[derive(Debug, Default)]
struct Slot {
    newest: Option<Arc<LiveFrame>>,
    watched_until: Option<Instant>,
    tallies: ZoneTallies,
    flow: FlowMap,
}

/// The newest [`LiveFrame`] of each camera (site-file order), shared by the node and its readers.
/// Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct LiveFrames {
    slots: Arc<Mutex<Vec<Slot>>>,
}

impl LiveFrames {
    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces camera `camera`'s newest frame, and adds its crossings to the zones' tallies.
    pub fn put(&self, camera: usize, frame: LiveFrame) {
        let mut slots = self.slots();
        if slots.len() <= camera {
            slots.resize_with(camera + 1, Slot::default);
        }
        let slot = &mut slots[camera];
        for event in &frame.analysis.events {
            if slot.tallies.len() <= event.zone {
                slot.tallies.resize(event.zone + 1, (0, 0));
            }
            match event.direction {
                Crossing::Entry => slot.tallies[event.zone].0 += 1,
                Crossing::Exit => slot.tallies[event.zone].1 += 1,
            }
        }
        slot.flow.add(&frame.analysis, Instant::now());
        slot.newest = Some(Arc::new(frame));
    }

    /// Camera `camera`'s newest frame, if it had one.
    pub fn latest(&self, camera: usize) -> Option<Arc<LiveFrame>> {
        self.slots().get(camera).and_then(|slot| slot.newest.clone())
    }

    /// Camera `camera`'s zone tallies.
    pub fn tallies(&self, camera: usize) -> ZoneTallies {
        self.slots().get(camera).map(|slot| slot.tallies.clone()).unwrap_or_default()
    }

    /// Camera `camera`'s flow map (where feet passed lately, and which way).
    pub fn flow(&self, camera: usize) -> FlowMap {
        self.slots().get(camera).map(|slot| slot.flow.clone()).unwrap_or_default()
    }

    /// Forgets camera `camera`'s zone tallies (its zones changed).
    pub fn reset_tallies(&self, camera: usize) {
        if let Some(slot) = self.slots().get_mut(camera) {
            slot.tallies.clear();
        }
    }

    /// Someone looks at camera `camera`: its pictures are kept for the next few seconds.
    pub fn watch(&self, camera: usize) {
        let mut slots = self.slots();
        if slots.len() <= camera {
            slots.resize_with(camera + 1, Slot::default);
        }
        slots[camera].watched_until = Some(Instant::now() + WATCH_FOR);
    }

    /// Whether camera `camera`'s pictures are wanted now.
    pub fn watched(&self, camera: usize) -> bool {
        self.slots().get(camera).and_then(|slot| slot.watched_until).is_some_and(|until| Instant::now() < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(index: u64) -> LiveFrame {
        LiveFrame {
            picture: None,
            wall: SystemTime::UNIX_EPOCH,
            analysis: FrameAnalysis {
                index,
                pts: None,
                size: (4, 4),
                detected: true,
                detections: 0,
                implausible: 0,
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

    #[test]
    fn pictures_are_wanted_only_while_someone_watches() {
        let live = LiveFrames::default();
        assert!(!live.watched(0));
        live.watch(0);
        assert!(live.watched(0));
        assert!(!live.watched(1));
    }
}
