//! Ingest: one MQTT message in, one bounded outcome out. Every payload, hostile or broken, ends
//! as [`Outcome::Applied`] or one [`BadInput`] kind, counted in a metric and logged once per kind
//! and source; none can panic the consumer or make a building's occupancy wrong.
//!
//! | input | outcome |
//! | --- | --- |
//! | over [`MAX_MESSAGE_BYTES`] | `too_large`, dropped |
//! | not JSON, or not the message's shape | `malformed`, dropped |
//! | `schema` not `lintel.counts/1` or `lintel.occupancy/1` | `unknown_schema`, dropped |
//! | an id (site, building, node, entrance, camera) empty, over [`MAX_ID_CHARS`] or with a control character | `bad_id`, dropped |
//! | a topic that does not name the payload's site, building and kind | `topic_mismatch`, dropped (a node allowed one site's topics cannot write another's) |
//! | a building not in the grid | `unknown_building`, dropped (the grid is the community) |
//! | occupancy over [`MAX_OCCUPANCY`] (or [`CAPACITY_FACTOR`] × the building's capacity), entries or exits faster than [`MAX_PEOPLE_PER_S`] | `implausible`, dropped |
//! | an interval ending more than [`FUTURE_TOLERANCE_S`] from now, or empty | `future_interval` / `bad_interval`, dropped |
//! | `(node, seq)` already stored | `duplicate`, dropped |
//! | data the store refuses for good (a value out of its range, a constraint) | `store_refused`, dropped and acknowledged, never retried |
//! | a `seq` below the node's highest | `seq_backwards`, kept in the history; it changes the current occupancy only if its data is newer |
//! | occupancy ≠ previous + entries − exits on consecutive intervals | `occupancy_reset`, applied: the node's value is the truth (an operator set it, or the node lost its state) |
//!
//! A batch ([`Ingest::take_batch`], one store transaction) gives every message the outcome it
//! would have had alone; a store that refuses one message's data gets the batch again one
//! message at a time, so that message alone is `store_refused`.
//!
//! A node that restarts continues its `seq` and is nothing special. Whether data is newer is
//! decided by its time, never by arrival order, so consumers may see messages in any order.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::Value;

use super::grid::Grid;
use super::store::{Recorded, Recorder, StoreError, Write};
use lintel_wire::{Counts, Occupancy, TOPIC_ROOT, UtcTime};

/// The largest payload read; a counts message of a building with many entrances is a few KiB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// How far in the future an interval may end: clocks of nodes and consumer differ a little.
pub const FUTURE_TOLERANCE_S: i64 = 120;

/// The longest interval accepted: a node's catch-up span after a clock jump is at most this.
pub const MAX_INTERVAL_S: i64 = 86_400;

/// The longest id accepted (the schemas' `maxLength`).
pub const MAX_ID_CHARS: usize = 128;

/// The most people a building may hold without a capacity: a city block's tower, not a typo or
/// an attack (the node bounds an operator's occupancy command the same way).
pub const MAX_OCCUPANCY: u64 = 100_000;
/// With a capacity, occupancy may reach this many times it (a festival in a small hall), no more.
pub const CAPACITY_FACTOR: u64 = 4;
/// The most people one building's doors pass per second, all entrances together: far above a
/// station's gates, so only nonsense is refused. Every count is then far from overflowing a sum.
pub const MAX_PEOPLE_PER_S: u64 = 50;

/// Ways a message can be wrong. The label value of `lintel_density_bad_input_total{kind}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BadInput {
    TooLarge,
    Malformed,
    UnknownSchema,
    UnknownBuilding,
    FutureInterval,
    BadInterval,
    Duplicate,
    SeqBackwards,
    OccupancyReset,
    BadId,
    TopicMismatch,
    Implausible,
    StoreRefused,
}

impl BadInput {
    pub const ALL: [BadInput; 13] = [
        BadInput::TooLarge,
        BadInput::Malformed,
        BadInput::UnknownSchema,
        BadInput::UnknownBuilding,
        BadInput::FutureInterval,
        BadInput::BadInterval,
        BadInput::Duplicate,
        BadInput::SeqBackwards,
        BadInput::OccupancyReset,
        BadInput::BadId,
        BadInput::TopicMismatch,
        BadInput::Implausible,
        BadInput::StoreRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BadInput::TooLarge => "too_large",
            BadInput::Malformed => "malformed",
            BadInput::UnknownSchema => "unknown_schema",
            BadInput::UnknownBuilding => "unknown_building",
            BadInput::FutureInterval => "future_interval",
            BadInput::BadInterval => "bad_interval",
            BadInput::Duplicate => "duplicate",
            BadInput::SeqBackwards => "seq_backwards",
            BadInput::OccupancyReset => "occupancy_reset",
            BadInput::BadId => "bad_id",
            BadInput::TopicMismatch => "topic_mismatch",
            BadInput::Implausible => "implausible",
            BadInput::StoreRefused => "store_refused",
        }
    }
}

/// What became of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored; `notes` are anomalies that did not stop it (`seq_backwards`, `occupancy_reset`).
    Applied { building: String, notes: Vec<BadInput> },
    /// Dropped, for this reason.
    Dropped(BadInput),
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// The consumer's counters, registered in a Prometheus registry.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    pub applied: Counter,
    bad: Family<KindLabel, Counter>,
    pub store_errors: Counter,
}

impl IngestMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("lintel_density_messages_applied", "Messages stored.", self.applied.clone());
        registry.register(
            "lintel_density_bad_input",
            "Messages dropped or noted, by kind (see the density README).",
            self.bad.clone(),
        );
        registry.register(
            "lintel_density_store_errors",
            "Messages the store failed to take.",
            self.store_errors.clone(),
        );
        // Every kind at zero from the start, so a dashboard sees the series before the first fault.
        for kind in BadInput::ALL {
            let _ = self.bad.get_or_create(&KindLabel { kind: kind.as_str() });
        }
    }

    /// How many messages of this kind were seen.
    pub fn bad(&self, kind: BadInput) -> u64 {
        self.bad.get_or_create(&KindLabel { kind: kind.as_str() }).get()
    }
}

/// Log lines once per (kind, source), up to a bound: a flood of bad messages cannot flood the log.
#[derive(Debug, Default)]
struct LogOnce {
    seen: Mutex<HashSet<(BadInput, String)>>,
}

const LOG_ONCE_KEYS: usize = 10_000;

impl LogOnce {
    fn warn(&self, kind: BadInput, source: &str, detail: &str) {
        let Ok(mut seen) = self.seen.lock() else { return };
        if seen.len() >= LOG_ONCE_KEYS || !seen.insert((kind, source.to_string())) {
            return;
        }
        drop(seen);
        tracing::warn!(
            kind = kind.as_str(),
            source,
            "density input: {detail} (logged once; counted in lintel_density_bad_input_total)"
        );
    }
}

/// The consumer's core: checks a message against the grid and writes it to the store.
pub struct Ingest {
    pub grid: std::sync::Arc<Grid>,
    pub store: Recorder,
    pub metrics: std::sync::Arc<IngestMetrics>,
    log: LogOnce,
}

impl Ingest {
    pub fn new(grid: std::sync::Arc<Grid>, store: Recorder, metrics: std::sync::Arc<IngestMetrics>) -> Self {
        Self { grid, store, metrics, log: LogOnce::default() }
    }

    /// Takes one message received on `topic` at `now`. An `Err` is the store failing (the
    /// message was not taken and may be tried again); everything about the message itself is
    /// an [`Outcome`], a store refusing its data ([`BadInput::StoreRefused`]) included.
    pub fn take(&mut self, topic: &str, payload: &[u8], now: UtcTime) -> Result<Outcome, StoreError> {
        let source = topic.to_string();
        let outcome = match self.check(topic, payload, now) {
            Err((kind, detail)) => Outcome::Dropped(self.note(kind, &source, &detail)),
            Ok(message) => match self.write(message) {
                Ok(outcome) => outcome,
                // The data, not the store: retrying would hold every message behind it for good.
                Err(error) if error.is_refused() => {
                    self.metrics.store_errors.inc();
                    Outcome::Dropped(self.note(BadInput::StoreRefused, &source, &error.to_string()))
                }
                Err(error) => {
                    self.metrics.store_errors.inc();
                    return Err(error);
                }
            },
        };
        self.count_applied(&outcome);
        Ok(outcome)
    }

    /// Takes a batch of messages (`(topic, payload)`) in one store transaction; one [`Outcome`]
    /// per message, in order, the same as [`Ingest::take`] one after the other would give. An
    /// `Err` is the store failing: none of the batch was taken (nothing is counted either), and
    /// all of it may be tried again. When the store refuses some message's data, the batch is
    /// written one message at a time instead, so that message alone is refused.
    pub fn take_batch(&mut self, batch: &[(&str, &[u8])], now: UtcTime) -> Result<Vec<Outcome>, StoreError> {
        let checked: Vec<Result<Message, (BadInput, String)>> =
            batch.iter().map(|(topic, payload)| self.check(topic, payload, now)).collect();
        let writes: Vec<Write> = checked.iter().filter_map(|c| c.as_ref().ok()).map(Message::write).collect();
        let recorded: Vec<Result<Recorded, StoreError>> = match self.store.record_batch(&writes) {
            Ok(recorded) => recorded.into_iter().map(Ok).collect(),
            Err(error) if error.is_refused() => {
                tracing::debug!("density store refused a batch ({error}): writing it one message at a time");
                let mut one_by_one = Vec::with_capacity(writes.len());
                for write in &writes {
                    // The per-message path, so each message ends exactly as `take` would end it.
                    let done = match write {
                        Write::Counts { building, counts } => self.store.record_counts(building, counts),
                        Write::Occupancy { building, occupancy } => self.store.record_occupancy(building, occupancy),
                    };
                    match done {
                        Err(error) if !error.is_refused() => {
                            self.metrics.store_errors.inc();
                            return Err(error);
                        }
                        done => one_by_one.push(done),
                    }
                }
                one_by_one
            }
            Err(error) => {
                self.metrics.store_errors.inc();
                return Err(error);
            }
        };
        let mut recorded = recorded.into_iter();
        let mut outcomes = Vec::with_capacity(batch.len());
        for ((topic, _), checked) in batch.iter().zip(checked) {
            let outcome = match checked {
                Err((kind, detail)) => Outcome::Dropped(self.note(kind, topic, &detail)),
                Ok(message) => match recorded.next() {
                    Some(Ok(recorded)) => self.outcome(&message, recorded),
                    Some(Err(error)) => {
                        self.metrics.store_errors.inc();
                        Outcome::Dropped(self.note(BadInput::StoreRefused, topic, &error.to_string()))
                    }
                    None => unreachable!("one record per write"),
                },
            };
            self.count_applied(&outcome);
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn count_applied(&self, outcome: &Outcome) {
        if let Outcome::Applied { building, notes } = outcome {
            self.metrics.applied.inc();
            for &note in notes {
                self.note(note, building, note.as_str());
            }
        }
    }

    fn note(&self, kind: BadInput, source: &str, detail: &str) -> BadInput {
        self.metrics.bad.get_or_create(&KindLabel { kind: kind.as_str() }).inc();
        self.log.warn(kind, source, detail);
        kind
    }

    fn check(&self, topic: &str, payload: &[u8], now: UtcTime) -> Result<Message, (BadInput, String)> {
        if payload.len() > MAX_MESSAGE_BYTES {
            return Err((BadInput::TooLarge, format!("{} bytes, over {MAX_MESSAGE_BYTES}", payload.len())));
        }
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| (BadInput::Malformed, format!("not JSON: {e}")))?;
        let schema = value.get("schema").and_then(Value::as_str).unwrap_or("");
        let message = match schema {
            "lintel.counts/1" => Message::Counts(
                serde_json::from_value::<Counts>(value).map_err(|e| (BadInput::Malformed, format!("counts: {e}")))?,
            ),
            "lintel.occupancy/1" => Message::Occupancy(
                serde_json::from_value::<Occupancy>(value)
                    .map_err(|e| (BadInput::Malformed, format!("occupancy: {e}")))?,
            ),
            other => {
                // At most 64 characters of it in the log.
                let shown: String = other.chars().take(64).collect();
                return Err((BadInput::UnknownSchema, format!("schema {shown:?} is not one this consumer reads")));
            }
        };
        for (field, id) in message.ids() {
            if let Some(problem) = id_problem(id) {
                return Err((BadInput::BadId, format!("{field} {problem}")));
            }
        }
        let expected = message.topic();
        if topic != expected {
            return Err((BadInput::TopicMismatch, format!("the payload belongs on {expected}")));
        }
        let (site, building) = message.building();
        let Some(known) = self.grid.building(site, building) else {
            return Err((BadInput::UnknownBuilding, format!("{site}/{building} is not in the grid file")));
        };
        implausible(&message, known.capacity).map_or(Ok(()), |why| Err((BadInput::Implausible, why)))?;
        let latest = now.unix_seconds() + FUTURE_TOLERANCE_S;
        match &message {
            Message::Counts(c) => {
                let (start, end) = (c.interval.start.unix_seconds(), c.interval.end.unix_seconds());
                if end <= start || end - start > MAX_INTERVAL_S {
                    return Err((BadInput::BadInterval, format!("interval {start}..{end} is empty or too long")));
                }
                if end > latest {
                    return Err((
                        BadInput::FutureInterval,
                        format!("interval ends at {}, in the future", c.interval.end),
                    ));
                }
            }
            Message::Occupancy(o) if o.at.unix_seconds() > latest => {
                return Err((BadInput::FutureInterval, format!("occupancy at {}, in the future", o.at)));
            }
            Message::Occupancy(_) => {}
        }
        Ok(message)
    }

    fn write(&mut self, message: Message) -> Result<Outcome, StoreError> {
        let (site, building) = message.building();
        let key = super::grid::building_key(site, building);
        let recorded = match &message {
            Message::Counts(c) => self.store.record_counts(&key, c)?,
            Message::Occupancy(o) => self.store.record_occupancy(&key, o)?,
        };
        Ok(self.outcome(&message, recorded))
    }

    /// What storing `message` came to.
    fn outcome(&self, message: &Message, recorded: Recorded) -> Outcome {
        let (site, building) = message.building();
        let key = super::grid::building_key(site, building);
        let (seq_backwards, previous, became_latest) = match recorded {
            Recorded::Duplicate => {
                return Outcome::Dropped(self.note(BadInput::Duplicate, &key, "duplicate (node, seq)"));
            }
            Recorded::New { seq_backwards, previous, became_latest } => (seq_backwards, previous, became_latest),
        };
        let mut notes = Vec::new();
        if seq_backwards {
            notes.push(BadInput::SeqBackwards);
        }
        // A reset: consecutive intervals whose occupancy does not follow from the counts.
        if let (Message::Counts(c), Some(prev), true) = (message, &previous, became_latest)
            && let Some(last) = prev.interval
            && last.end_s == c.interval.start.unix_seconds()
            && (prev.occupancy + c.entries).saturating_sub(c.exits) != c.occupancy
        {
            notes.push(BadInput::OccupancyReset);
        }
        Outcome::Applied { building: key, notes }
    }
}

enum Message {
    Counts(Counts),
    Occupancy(Occupancy),
}

/// Why `id` is no id: empty, too long, or holding a control character (a NUL ends a C string in
/// PostgreSQL; a newline forges a log line).
pub(crate) fn id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("is empty")
    } else if id.chars().count() > MAX_ID_CHARS {
        Some("is too long")
    } else if id.chars().any(char::is_control) {
        Some("holds a control character")
    } else {
        None
    }
}

/// Why the counts are not a building's: more people than it can hold, or passing faster than any
/// doors let them. `None` when they are plausible.
fn implausible(message: &Message, capacity: Option<u64>) -> Option<String> {
    let most = capacity.map_or(MAX_OCCUPANCY, |c| c.saturating_mul(CAPACITY_FACTOR).min(MAX_OCCUPANCY));
    let occupancy = match message {
        Message::Counts(c) => c.occupancy,
        Message::Occupancy(o) => o.occupancy,
    };
    if occupancy > most {
        return Some(format!("occupancy {occupancy} is over the {most} this building can hold"));
    }
    let Message::Counts(c) = message else { return None };
    let seconds = (c.interval.end.unix_seconds() - c.interval.start.unix_seconds()).max(1) as u64;
    let fastest = seconds.saturating_mul(MAX_PEOPLE_PER_S);
    let passages = std::iter::once((c.entries, c.exits)).chain(c.entrances.iter().map(|e| (e.entries, e.exits)));
    for (entries, exits) in passages {
        if entries.max(exits) > fastest {
            return Some(format!("{} passages in {seconds} s is faster than any doors", entries.max(exits)));
        }
    }
    None
}

impl Message {
    /// The store's write of it.
    fn write(&self) -> Write {
        let (site, building) = self.building();
        let building = super::grid::building_key(site, building);
        match self {
            Message::Counts(c) => Write::Counts { building, counts: c.clone() },
            Message::Occupancy(o) => Write::Occupancy { building, occupancy: o.clone() },
        }
    }

    /// Every id the message carries, with the field it is in.
    fn ids(&self) -> Vec<(&'static str, &str)> {
        let mut ids = Vec::new();
        match self {
            Message::Counts(c) => {
                ids.extend([("site", c.site.as_str()), ("building", &c.building), ("node", &c.node)]);
                for entrance in &c.entrances {
                    ids.push(("entrance", &entrance.id));
                    ids.extend(entrance.cameras.iter().map(|camera| ("camera", camera.as_str())));
                }
            }
            Message::Occupancy(o) => {
                ids.extend([("site", o.site.as_str()), ("building", &o.building), ("node", &o.node)])
            }
        }
        ids
    }

    /// The topic a node publishes it on.
    fn topic(&self) -> String {
        let (site, building) = self.building();
        let kind = match self {
            Message::Counts(_) => "counts",
            Message::Occupancy(_) => "occupancy",
        };
        format!("{TOPIC_ROOT}/{site}/building/{building}/{kind}")
    }

    fn building(&self) -> (&str, &str) {
        match self {
            Message::Counts(c) => (&c.site, &c.building),
            Message::Occupancy(o) => (&o.site, &o.building),
        }
    }
}
