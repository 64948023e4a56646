//! Proof that a loop makes progress, for the service watchdog: each of the node's loops (a
//! camera's, the detection thread's, the publisher's) beats as it goes round, and says how long
//! it means to be quiet before a wait it chose (a backoff, a bounded connect). The node thread
//! sends `WATCHDOG=1` only while no loop is overdue, so a wedged loop gets the node restarted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One loop's heartbeat. Cloning shares it: the loop beats, the node thread reads.
///
/// ```
/// use std::time::Duration;
/// let heartbeat = lintel::service::Heartbeat::new();
/// heartbeat.quiet_for(Duration::from_secs(30)); // a backoff wait
/// assert_eq!(heartbeat.overdue(), Duration::ZERO);
/// ```
#[derive(Clone, Debug)]
pub struct Heartbeat {
    origin: Instant,
    /// Until when (milliseconds after `origin`) the loop may be silent.
    quiet_until_ms: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

impl Heartbeat {
    pub fn new() -> Self {
        Self { origin: Instant::now(), quiet_until_ms: Arc::new(AtomicU64::new(0)) }
    }

    /// The loop went round.
    pub fn beat(&self) {
        self.quiet_for(Duration::ZERO);
    }

    /// The loop is about to wait (or block) for up to `wait` on purpose.
    pub fn quiet_for(&self, wait: Duration) {
        let until = self.origin.elapsed().saturating_add(wait).as_millis().min(u128::from(u64::MAX)) as u64;
        self.quiet_until_ms.store(until, Ordering::Relaxed);
    }

    /// How long past its last beat (and the wait it announced) the loop has been silent.
    pub fn overdue(&self) -> Duration {
        let until = Duration::from_millis(self.quiet_until_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(until)
    }
}

/// The node's loops by name, and how long one may be overdue before the node counts as wedged.
#[derive(Debug, Default)]
pub struct Progress {
    loops: Vec<(String, Heartbeat)>,
}

impl Progress {
    pub fn watch(&mut self, name: impl Into<String>, heartbeat: Heartbeat) {
        self.loops.push((name.into(), heartbeat));
    }

    /// The first loop overdue by more than `grace`, with how long it has been.
    pub fn stalled(&self, grace: Duration) -> Option<(&str, Duration)> {
        self.loops
            .iter()
            .map(|(name, heartbeat)| (name.as_str(), heartbeat.overdue()))
            .find(|(_, overdue)| *overdue > grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_is_overdue_only_past_its_beat_and_announced_wait() {
        let heartbeat = Heartbeat::new();
        let mut progress = Progress::default();
        progress.watch("detection", heartbeat.clone());
        heartbeat.beat();
        assert_eq!(progress.stalled(Duration::from_millis(50)), None);
        std::thread::sleep(Duration::from_millis(120));
        let (name, overdue) = progress.stalled(Duration::from_millis(50)).unwrap();
        assert_eq!(name, "detection");
        assert!(overdue >= Duration::from_millis(100), "{overdue:?}");
        heartbeat.quiet_for(Duration::from_secs(60));
        assert_eq!(progress.stalled(Duration::ZERO), None);
        heartbeat.beat();
        assert!(progress.stalled(Duration::from_millis(50)).is_none());
    }
}
