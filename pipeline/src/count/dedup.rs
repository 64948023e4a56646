//! One passage through an entrance watched by several cameras counts once.
//!
//! A crossing seen on one camera is held for a short window. The same crossing seen on another
//! camera of the same entrance — same direction, within the window, and, where both have an
//! appearance, looking like the same person — is the same passage: it does not count again.
//! Each held crossing absorbs at most one crossing from each other camera. Appearances are kept
//! only for the window, in memory.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use lintel_calibration::geometry::Crossing;

use crate::detection::Embedding;

/// How crossings of one entrance on several cameras are merged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupConfig {
    /// Two cameras see one passage within this much time of each other.
    pub window: Duration,
    /// Largest appearance distance (cosine) between the two sightings of one person.
    pub max_distance: f32,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self { window: Duration::from_secs(2), max_distance: 0.3 }
    }
}

#[derive(Debug)]
struct Held {
    camera: String,
    direction: Crossing,
    at: SystemTime,
    appearance: Option<Embedding>,
    /// Cameras whose sighting this one already absorbed.
    absorbed: Vec<String>,
}

/// De-duplicates the crossings of the entrances that more than one camera watches.
#[derive(Debug, Default)]
pub struct EntranceDedup {
    config: DedupConfig,
    /// Recent crossings per entrance watched by several cameras.
    held: HashMap<String, Vec<Held>>,
}

impl EntranceDedup {
    /// `shared` are the entrances that more than one camera watches; the others pass untouched.
    pub fn new(config: DedupConfig, shared: impl IntoIterator<Item = String>) -> Self {
        Self { config, held: shared.into_iter().map(|e| (e, Vec::new())).collect() }
    }

    /// Whether a crossing of `entrance` seen by `camera` at `at` is a new passage (it counts) or
    /// another camera's view of one already counted.
    pub fn admit(
        &mut self,
        entrance: &str,
        camera: &str,
        direction: Crossing,
        at: SystemTime,
        appearance: Option<Embedding>,
    ) -> bool {
        let config = self.config;
        let Some(held) = self.held.get_mut(entrance) else { return true };
        let apart = |a: SystemTime, b: SystemTime| a.duration_since(b).unwrap_or_else(|e| e.duration());
        held.retain(|h| apart(at, h.at) <= config.window || h.at > at);
        let candidates = held.iter_mut().filter(|h| {
            h.camera != camera
                && h.direction == direction
                && apart(at, h.at) <= config.window
                && !h.absorbed.iter().any(|c| c == camera)
        });
        // Where both sightings have an appearance it must match; the closest match wins, then the
        // closest in time.
        let score = |h: &Held| match (&h.appearance, &appearance) {
            (Some(a), Some(b)) => {
                let distance = a.distance(b);
                (distance <= config.max_distance).then_some((distance, apart(at, h.at)))
            }
            _ => Some((config.max_distance, apart(at, h.at))),
        };
        let best = candidates
            .filter_map(|h| score(h).map(|s| (s, h)))
            .min_by(|(a, _), (b, _)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, h)| h);
        match best {
            Some(h) => {
                h.absorbed.push(camera.to_string());
                false
            }
            None => {
                held.push(Held { camera: camera.to_string(), direction, at, appearance, absorbed: Vec::new() });
                true
            }
        }
    }

    /// Forgets crossings older than the window (their appearances with them).
    pub fn expire(&mut self, now: SystemTime) {
        let window = self.config.window;
        for held in self.held.values_mut() {
            held.retain(|h| now.duration_since(h.at).map_or(true, |d| d <= window));
        }
    }

    /// Crossings held now, over all entrances.
    pub fn held(&self) -> usize {
        self.held.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(seed: f32) -> Option<Embedding> {
        Embedding::normalised(&(0..16).map(|i| (seed * (i as f32 + 1.0)).sin()).collect::<Vec<_>>())
    }

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000) + Duration::from_millis(ms)
    }

    fn dedup() -> EntranceDedup {
        EntranceDedup::new(DedupConfig::default(), ["door".to_string()])
    }

    #[test]
    fn one_person_seen_by_two_cameras_counts_once() {
        let mut d = dedup();
        assert!(d.admit("door", "left", Crossing::Entry, at(0), look(1.0)));
        assert!(!d.admit("door", "right", Crossing::Entry, at(300), look(1.0)));
        // A third camera of the same entrance is absorbed too, but the same camera again is a
        // second person.
        assert!(!d.admit("door", "top", Crossing::Entry, at(400), look(1.0)));
        assert!(d.admit("door", "left", Crossing::Entry, at(500), look(1.0)));
    }

    #[test]
    fn different_people_directions_or_times_count_separately() {
        let mut d = dedup();
        assert!(d.admit("door", "left", Crossing::Entry, at(0), look(1.0)));
        assert!(d.admit("door", "right", Crossing::Entry, at(100), look(5.0)), "someone else");
        assert!(d.admit("door", "right", Crossing::Exit, at(200), look(1.0)), "the other way");
        assert!(d.admit("door", "right", Crossing::Entry, at(2_500), look(1.0)), "too late");
        // Two people side by side seen by both cameras: two passages.
        let mut d = dedup();
        assert!(d.admit("door", "left", Crossing::Entry, at(0), look(1.0)));
        assert!(d.admit("door", "left", Crossing::Entry, at(50), look(5.0)));
        assert!(!d.admit("door", "right", Crossing::Entry, at(200), look(5.0)));
        assert!(!d.admit("door", "right", Crossing::Entry, at(250), look(1.0)));
        assert!(d.admit("door", "right", Crossing::Entry, at(300), look(1.0)), "each absorbs one");
    }

    #[test]
    fn without_appearance_the_window_alone_pairs_them() {
        let mut d = dedup();
        assert!(d.admit("door", "left", Crossing::Entry, at(0), None));
        assert!(!d.admit("door", "right", Crossing::Entry, at(900), look(1.0)));
        // The right camera may see its crossing first.
        assert!(d.admit("door", "right", Crossing::Exit, at(5_000), None));
        assert!(!d.admit("door", "left", Crossing::Exit, at(4_800), None));
    }

    #[test]
    fn entrances_with_one_camera_pass_and_nothing_is_kept_past_the_window() {
        let mut d = dedup();
        assert!(d.admit("gate", "g", Crossing::Entry, at(0), look(1.0)));
        assert!(d.admit("gate", "h", Crossing::Entry, at(0), look(1.0)));
        d.admit("door", "left", Crossing::Entry, at(0), look(1.0));
        assert_eq!(d.held(), 1);
        d.expire(at(2_001));
        assert_eq!(d.held(), 0);
    }
}
