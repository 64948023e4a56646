//! [`CommandGuard`]: which occupancy commands a node applies. Pure: no clock, no disk, no log of
//! its own; the node core asks, applies, audits and saves.
//!
//! A command is applied only if, in this order:
//! 1. the node holds the operators' command key (`lintel run --command-key-env`): without one
//!    every command is refused, so a node is never commandable by whoever can publish to its
//!    broker (a fresh install's loopback broker included);
//! 2. its MAC verifies with that key for the building of its topic;
//! 3. its id was never applied (the ids of the last [`IDS_KEPT`] applied are kept: at
//!    [`COMMANDS_PER_MINUTE`] that is longer than [`COMMAND_AGE`], after which a command is
//!    stale anyway);
//! 4. its `issued_at` is later than that of the last command applied for the building;
//! 5. its value is plausible and its `issued_at` within [`COMMAND_AGE`] before and
//!    [`COMMAND_AHEAD`] after the node's clock;
//! 6. fewer than [`COMMANDS_PER_MINUTE`] were applied in this minute, node-wide. Only applied
//!    commands count: refused ones never use up the operator's budget.
//!
//! The last applied command of each building and the applied ids are saved in the state file, so
//! a restart neither applies a retained command again nor accepts an older one.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use lintel_wire::CommandKey;

use super::SavedState;
use crate::publish::{OccupancySet, UtcTime};

/// The most a building may be set to is its capacity times this, or [`MAX_OCCUPANCY`] without a
/// capacity (a person's count, not a typo or an attack).
const CAPACITY_FACTOR: u64 = 4;
const MAX_OCCUPANCY: u64 = 100_000;
/// A command issued longer ago than this (by the node's clock) is stale; one from further in the
/// future than [`COMMAND_AHEAD`] comes from a wrong clock.
pub(super) const COMMAND_AGE: Duration = Duration::from_secs(15 * 60);
const COMMAND_AHEAD: Duration = Duration::from_secs(5 * 60);
/// At most this many occupancy commands are applied a minute, node-wide.
pub(super) const COMMANDS_PER_MINUTE: u32 = 10;
/// Applied ids remembered (and saved): 256 at 10 a minute span 25 minutes, more than [`COMMAND_AGE`].
const IDS_KEPT: usize = 256;
/// Refused commands reported (logged and audited) a minute; the rest are counted in one line.
const REFUSALS_REPORTED_PER_MINUTE: u32 = 20;

/// Why an occupancy command was not applied.
#[derive(Debug, PartialEq)]
pub(super) enum Refusal {
    /// The building's last applied command, delivered again (a retained command comes back at
    /// every reconnection): not an attack, nothing to report.
    Again,
    /// The command is not authentic, a replay, or unreasonable (value, time).
    Invalid(String),
    /// Too many commands applied this minute; `first` for the first refused this minute.
    RateLimited { first: bool },
}

/// The last command applied to a building.
#[derive(Debug, Clone, PartialEq)]
struct Applied {
    id: String,
    issued_at: UtcTime,
}

/// What keeps occupancy commands authentic, fresh, in order and within reason (see the module).
#[derive(Default)]
pub(super) struct CommandGuard {
    key: Option<CommandKey>,
    last: BTreeMap<String, Applied>,
    /// Ids applied lately, oldest first.
    applied_ids: VecDeque<String>,
    /// Start of the current minute, the commands applied in it, refused for the rate, and
    /// refusals reported and not reported.
    minute: Option<SystemTime>,
    applied: u32,
    limited: u32,
    reported: u32,
    unreported: u32,
    /// Ids refused lately (bounded), so a retained command is reported once, not at every
    /// reconnection.
    refused: VecDeque<String>,
}

impl CommandGuard {
    /// A guard checking MACs with `key` (none: every command is refused), remembering what
    /// `restored` says was applied.
    pub(super) fn new(key: Option<CommandKey>, restored: Option<&SavedState>) -> Self {
        let mut guard = Self { key, ..Self::default() };
        if let Some(state) = restored {
            for (building, id) in &state.occupancy_commands {
                // A state file from before `issued_at` was saved: only later commands than any
                // the node would still take.
                let issued_at =
                    state.occupancy_issued_at.get(building).copied().unwrap_or(UtcTime::from_unix_seconds(0));
                guard.last.insert(building.clone(), Applied { id: id.clone(), issued_at });
            }
            guard.applied_ids = state.applied_command_ids.clone();
        }
        guard
    }

    pub(super) fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Whether `set`, received on the topic of `building` of `site`, may be applied to a building
    /// of `capacity` at `now`; remembers it as applied if so.
    pub(super) fn admit(
        &mut self,
        site: &str,
        building: &str,
        set: &OccupancySet,
        capacity: Option<u64>,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        self.roll_minute(now);
        let Some(key) = &self.key else {
            return Err(Refusal::Invalid(
                "the node has no command key (lintel run --command-key-env): it takes no commands".into(),
            ));
        };
        if !set.verify(key, site, building) {
            return Err(Refusal::Invalid(format!(
                "its MAC does not verify with the node's command key for building {building} \
                 (unsigned, altered, signed with another key or for another building)"
            )));
        }
        let last = self.last.get(building);
        if last.is_some_and(|last| last.id == set.id) {
            return Err(Refusal::Again);
        }
        if self.applied_ids.contains(&set.id) {
            return Err(Refusal::Invalid(format!("its id {} was applied before: a replay", set.id)));
        }
        if let Some(last) = last.filter(|last| set.issued_at <= last.issued_at) {
            return Err(Refusal::Invalid(format!(
                "issued at {}, not after the last command applied for building {building} (issued {}): \
                 a replay or out of order",
                set.issued_at, last.issued_at
            )));
        }
        let most = capacity.map_or(MAX_OCCUPANCY, |c| c.saturating_mul(CAPACITY_FACTOR));
        if set.occupancy > most {
            return Err(Refusal::Invalid(match capacity {
                Some(c) => format!("occupancy {} is over {CAPACITY_FACTOR} times the capacity {c}", set.occupancy),
                None => format!("occupancy {} is over {MAX_OCCUPANCY} (the building has no capacity)", set.occupancy),
            }));
        }
        let issued =
            std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(set.issued_at.unix_seconds()).unwrap_or(0));
        if issued + COMMAND_AGE < now {
            return Err(Refusal::Invalid(format!(
                "issued at {}, over {} min before the node's clock",
                set.issued_at,
                COMMAND_AGE.as_secs() / 60
            )));
        }
        if issued > now + COMMAND_AHEAD {
            return Err(Refusal::Invalid(format!(
                "issued at {}, ahead of the node's clock {}",
                set.issued_at,
                UtcTime::from(now)
            )));
        }
        if self.applied >= COMMANDS_PER_MINUTE {
            self.limited += 1;
            return Err(Refusal::RateLimited { first: self.limited == 1 });
        }
        self.applied += 1;
        self.last.insert(building.to_string(), Applied { id: set.id.clone(), issued_at: set.issued_at });
        if self.applied_ids.len() == IDS_KEPT {
            self.applied_ids.pop_front();
        }
        self.applied_ids.push_back(set.id.clone());
        Ok(())
    }

    /// Whether a refusal of the command `id` should be reported (logged and audited): once per
    /// id lately, and at most [`REFUSALS_REPORTED_PER_MINUTE`] a minute, so a flood of junk
    /// neither floods the log nor pushes the operators' entries out of the audit trail.
    pub(super) fn report_refusal(&mut self, id: Option<&str>, now: SystemTime) -> bool {
        self.roll_minute(now);
        if let Some(id) = id {
            if self.refused.iter().any(|r| r == id) {
                return false;
            }
            if self.refused.len() == 256 {
                self.refused.pop_front();
            }
            self.refused.push_back(id.to_string());
        }
        if self.reported >= REFUSALS_REPORTED_PER_MINUTE {
            self.unreported += 1;
            return false;
        }
        self.reported += 1;
        true
    }

    /// What the state file keeps of the commands.
    pub(super) fn save_into(&self, state: &mut SavedState) {
        state.occupancy_commands = self.last.iter().map(|(b, a)| (b.clone(), a.id.clone())).collect();
        state.occupancy_issued_at = self.last.iter().map(|(b, a)| (b.clone(), a.issued_at)).collect();
        state.applied_command_ids = self.applied_ids.clone();
    }

    fn minute_over(&self, now: SystemTime) -> bool {
        self.minute.is_none_or(|m| now.duration_since(m).map_or(true, |d| d >= Duration::from_secs(60)))
    }

    fn roll_minute(&mut self, now: SystemTime) {
        if !self.minute_over(now) {
            return;
        }
        if self.limited > 1 {
            tracing::warn!("{} occupancy commands were refused in a minute (rate limit)", self.limited);
        }
        if self.unreported > 0 {
            tracing::warn!("{} more occupancy commands were refused in a minute (not itemised)", self.unreported);
        }
        (self.minute, self.applied, self.limited, self.reported, self.unreported) = (Some(now), 0, 0, 0, 0);
    }
}
