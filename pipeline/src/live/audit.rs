//! The audit trail: who did what to the node, from where and when (an unblur, a zone save, a
//! validation, an occupancy command, an acknowledgement). Always on: each entry is logged at WARN
//! under the target `audit` (the default level shows it) and kept, the newest
//! [`AUDIT_KEPT`] in memory, for the operators' dashboard. Never an image, a track id or a secret.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

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
    /// Anything else worth reading (a command's value, why it was refused).
    pub detail: String,
}

/// The node's audit trail. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct AuditTrail {
    kept: Arc<Mutex<VecDeque<AuditEntry>>>,
}

impl AuditTrail {
    /// Records that `who`, from `from`, did `action` on `subject` (logged at WARN, target `audit`).
    pub fn record(&self, action: AuditAction, who: &str, from: &str, subject: &str, detail: &str) {
        tracing::warn!(target: "audit", action = action.name(), who, from, subject, "{detail}");
        let at = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let entry = AuditEntry {
            at,
            action,
            who: who.to_string(),
            from: from.to_string(),
            subject: subject.to_string(),
            detail: detail.to_string(),
        };
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == AUDIT_KEPT {
            kept.pop_front();
        }
        kept.push_back(entry);
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
