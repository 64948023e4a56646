//! The audit trail: who did what to the node, from where and when (an unblur, a zone save, a
//! validation, an occupancy command, an acknowledgement). Always on: each entry is logged at WARN
//! under the target `audit` (the default level shows it) and kept, the newest
//! [`AUDIT_KEPT`] in memory, for the operators' dashboard, and with a [`AuditKeeper`] (the node's
//! history file) across restarts. Never an image, a track id or a secret.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use serde::Serialize;

use super::Said;

/// How many entries the trail keeps in memory.
pub const AUDIT_KEPT: usize = 500;

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A technician asked to see people unblurred on a camera.
    Unblur,
    /// A technician saved a camera's zones (or its lens and floor).
    ZonesSaved,
    /// A technician validated a camera's counting against a walk.
    Validation,
    /// An occupancy command was applied.
    OccupancyApplied,
    /// An occupancy command was refused.
    OccupancyRefused,
    /// An operator acknowledged an alert.
    AlertAcknowledged,
    /// Someone signed in.
    SignedIn,
    /// A sign-in failed.
    SignInFailed,
}

impl AuditAction {
    pub fn name(self) -> &'static str {
        match self {
            AuditAction::Unblur => "unblur",
            AuditAction::ZonesSaved => "zones_saved",
            AuditAction::Validation => "validation",
            AuditAction::OccupancyApplied => "occupancy_applied",
            AuditAction::OccupancyRefused => "occupancy_refused",
            AuditAction::AlertAcknowledged => "alert_acknowledged",
            AuditAction::SignedIn => "signed_in",
            AuditAction::SignInFailed => "sign_in_failed",
        }
    }

    /// The action [`AuditAction::name`] names.
    pub fn from_name(name: &str) -> Option<Self> {
        use AuditAction::*;
        [Unblur, ZonesSaved, Validation, OccupancyApplied, OccupancyRefused, AlertAcknowledged, SignedIn, SignInFailed]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// Where entries are kept beyond the process (the node's history file); it reports its own
/// failures, the trail goes on without it.
pub trait AuditKeeper: Send + Sync + std::fmt::Debug {
    /// Keeps `entry`.
    fn keep(&self, entry: &AuditEntry);
    /// The newest `n` entries kept, newest first.
    fn recent(&self, n: usize) -> Vec<AuditEntry>;
}

/// One thing done.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// When, seconds since the Unix epoch.
    pub at: i64,
    pub action: AuditAction,
    /// Who: a role (`technician`, `operator`), or for a command its `issued_by`.
    pub who: String,
    /// From where: the peer's address, or `mqtt` for a command.
    pub from: String,
    /// On what: a camera id, a building id, an alert.
    pub subject: String,
    /// Anything else worth reading (a command's value, why it was refused), in English.
    pub detail: String,
    /// The same as the pages say it, in their reader's language (one of [`DETAIL_CODES`]); none
    /// for an entry without detail, or one kept before details had codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub said: Option<Said>,
}

/// Every catalogue key an entry's [`AuditEntry::said`] may have (the pages' catalogues must have
/// each).
pub const DETAIL_CODES: [&str; 10] = [
    "audit.unblur",
    "audit.zones_saved",
    "audit.zones_saved_geometry",
    "audit.validation",
    "audit.sign_in_failed",
    "audit.sign_in_failed_wait",
    "audit.acknowledged",
    "audit.occupancy_applied",
    "audit.occupancy_refused",
    "audit.occupancy_refused_unread",
];

/// The node's audit trail. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct AuditTrail {
    kept: Arc<Mutex<VecDeque<AuditEntry>>>,
    keeper: Arc<OnceLock<Arc<dyn AuditKeeper>>>,
}

impl AuditTrail {
    /// Records that `who`, from `from`, did `action` on `subject` (logged at WARN, target `audit`).
    pub fn record(&self, action: AuditAction, who: &str, from: &str, subject: &str, detail: &str) {
        self.record_said(action, who, from, subject, detail, None);
    }

    /// As [`record`](Self::record), with the detail as the pages say it (`said`, one of
    /// [`DETAIL_CODES`]) beside its English.
    pub fn record_said(
        &self,
        action: AuditAction,
        who: &str,
        from: &str,
        subject: &str,
        detail: &str,
        said: Option<Said>,
    ) {
        debug_assert!(
            said.as_ref().is_none_or(|s| DETAIL_CODES.contains(&s.code.as_str())),
            "audit detail code {said:?} is not in DETAIL_CODES"
        );
        tracing::warn!(target: "audit", action = action.name(), who, from, subject, "{detail}");
        let at = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let entry = AuditEntry {
            at,
            action,
            who: who.to_string(),
            from: from.to_string(),
            subject: subject.to_string(),
            detail: detail.to_string(),
            said,
        };
        if let Some(keeper) = self.keeper.get() {
            keeper.keep(&entry);
        }
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == AUDIT_KEPT {
            kept.pop_front();
        }
        kept.push_back(entry);
    }

    /// From now on, every entry is also kept by `keeper`, whose newest entries (those of earlier
    /// runs) come before this run's in [`AuditTrail::recent`]. Once: a second keeper is ignored.
    pub fn keep_in(&self, keeper: Arc<dyn AuditKeeper>) {
        let earlier = keeper.recent(AUDIT_KEPT);
        if self.keeper.set(keeper).is_err() {
            tracing::warn!("the audit trail already has a keeper; another was ignored");
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        for entry in earlier.into_iter().take(AUDIT_KEPT - kept.len().min(AUDIT_KEPT)) {
            kept.push_front(entry);
        }
    }

    /// The newest `n` entries, newest first.
    pub fn recent(&self, n: usize) -> Vec<AuditEntry> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).iter().rev().take(n).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_found_by_its_name() {
        for action in [AuditAction::Unblur, AuditAction::OccupancyRefused, AuditAction::SignInFailed] {
            assert_eq!(AuditAction::from_name(action.name()), Some(action));
        }
        assert_eq!(AuditAction::from_name("nothing"), None);
    }

    #[derive(Debug, Default)]
    struct Kept(Mutex<Vec<AuditEntry>>);

    impl AuditKeeper for Kept {
        fn keep(&self, entry: &AuditEntry) {
            self.0.lock().unwrap().push(entry.clone());
        }
        fn recent(&self, n: usize) -> Vec<AuditEntry> {
            self.0.lock().unwrap().iter().rev().take(n).cloned().collect()
        }
    }

    #[test]
    fn a_keeper_gets_every_entry_and_gives_the_earlier_ones_back() {
        let keeper = Arc::new(Kept::default());
        let earlier = AuditTrail::default();
        earlier.keep_in(keeper.clone());
        earlier.record(AuditAction::Unblur, "technician", "10.0.0.1", "cam-1", "");
        earlier.record(AuditAction::ZonesSaved, "technician", "10.0.0.1", "cam-1", "");
        let now = AuditTrail::default();
        now.record(AuditAction::SignedIn, "operator", "10.0.0.2", "login", "");
        now.keep_in(keeper.clone());
        let actions: Vec<_> = now.recent(10).iter().map(|e| e.action).collect();
        assert_eq!(actions, [AuditAction::SignedIn, AuditAction::ZonesSaved, AuditAction::Unblur]);
        now.record(AuditAction::Validation, "technician", "10.0.0.1", "cam-1", "");
        assert_eq!(keeper.recent(1)[0].action, AuditAction::Validation);
    }

    #[test]
    fn the_trail_keeps_the_newest_entries_newest_first() {
        let trail = AuditTrail::default();
        for i in 0..AUDIT_KEPT + 3 {
            trail.record(AuditAction::Unblur, "technician", "127.0.0.1", &format!("cam-{i}"), "");
        }
        let recent = trail.recent(AUDIT_KEPT + 10);
        assert_eq!(recent.len(), AUDIT_KEPT);
        assert_eq!(recent[0].subject, format!("cam-{}", AUDIT_KEPT + 2));
        assert_eq!(recent.last().unwrap().subject, "cam-3");
    }
}
