//! The console's side of the consumer ([`crate::density::consumer`]): every message it receives
//! goes through [`ConsoleFeed::take`] into the picture, whose changes are written to the store
//! (a failing store keeps them, up to [`MAX_PENDING`], and tries again each second), counted in
//! the metrics; acknowledgements made on the page wait in the [`AckOutbox`] until the consumer
//! publishes them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use lintel_wire::AlertAck;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::state::{Change, Counters, OperationsPicture};
use super::store::IncidentStore;
use super::webhooks::Webhooks;

/// Changes kept while the store fails; past that the oldest are dropped (and counted).
pub const MAX_PENDING: usize = 10_000;
/// Acknowledgements waiting to be published.
pub const MAX_OUTBOX: usize = 1_000;
/// Ended incidents are kept this long.
pub const RETENTION_MS: i64 = 90 * 86_400_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WhatLabel {
    what: String,
}

/// The console's counters on `/metrics`.
#[derive(Debug, Default)]
pub struct ConsoleMetrics {
    raised: Family<KindLabel, Counter>,
    open: Family<KindLabel, Gauge>,
    bad_input: Family<KindLabel, Counter>,
    dropped: Family<WhatLabel, Counter>,
    pub acks_published: Counter,
    pub store_errors: Counter,
}

impl ConsoleMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "lintel_console_incidents",
            "Incidents this console saw start, by kind (a one-off counts as one)",
            self.raised.clone(),
        );
        registry.register("lintel_console_incidents_open", "Incidents open now, by kind", self.open.clone());
        registry.register(
            "lintel_console_bad_input",
            "Messages on the status, alert and acknowledgement topics refused, by why",
            self.bad_input.clone(),
        );
        registry.register(
            "lintel_console_dropped",
            "What the console's picture had no room for (nodes, cameras, buildings, incidents, store writes)",
            self.dropped.clone(),
        );
        registry.register("lintel_console_acks_published", "Acknowledgements published", self.acks_published.clone());
        registry.register("lintel_console_store_errors", "Console store writes that failed", self.store_errors.clone());
    }
}

/// Acknowledgements made on the page, waiting for the consumer to publish them.
#[derive(Debug, Default)]
pub struct AckOutbox(Mutex<VecDeque<AlertAck>>);

impl AckOutbox {
    fn lock(&self) -> MutexGuard<'_, VecDeque<AlertAck>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `ack`; false when the outbox is full.
    pub fn push(&self, ack: AlertAck) -> bool {
        let mut queue = self.lock();
        if queue.len() >= MAX_OUTBOX {
            return false;
        }
        queue.push_back(ack);
        true
    }

    pub fn pop(&self) -> Option<AlertAck> {
        self.lock().pop_front()
    }

    /// Puts back one that could not be sent now, first in line.
    pub fn put_back(&self, ack: AlertAck) {
        self.lock().push_front(ack);
    }
}

/// What the consumer holds of the console.
pub struct ConsoleFeed {
    pub picture: Arc<Mutex<OperationsPicture>>,
    pub store: IncidentStore,
    pub metrics: Arc<ConsoleMetrics>,
    pub outbox: Arc<AckOutbox>,
    /// Told of every incident that starts or ends here.
    pub webhooks: Option<Arc<Webhooks>>,
    /// Bumped when the picture or the incidents change, for the live stream.
    pub changes: Arc<super::events::Changes>,
    pending: VecDeque<Change>,
    dropped_writes: u64,
    /// The picture's counters and `dropped_writes` as last added to the metrics.
    counted: (Counters, u64),
}

impl std::fmt::Debug for ConsoleFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleFeed").field("pending", &self.pending.len()).finish_non_exhaustive()
    }
}

impl ConsoleFeed {
    /// The feed; the incidents the store has open go back into the picture.
    pub fn new(
        picture: Arc<Mutex<OperationsPicture>>,
        mut store: IncidentStore,
        metrics: Arc<ConsoleMetrics>,
        outbox: Arc<AckOutbox>,
    ) -> Result<Self, crate::density::StoreError> {
        let open = store.open_incidents()?;
        lock(&picture).restore(open);
        let mut feed = Self {
            picture,
            store,
            metrics,
            outbox,
            webhooks: None,
            changes: Arc::default(),
            pending: VecDeque::new(),
            dropped_writes: 0,
            counted: (Counters::default(), 0),
        };
        feed.update_metrics();
        Ok(feed)
    }

    /// One received message.
    pub fn take(&mut self, topic: &str, payload: &[u8], retained: bool, now_ms: i64) {
        let changes = lock(&self.picture).take(topic, payload, retained, now_ms);
        self.apply(changes);
        // Any message may change the picture (a camera's state, a building's occupancy).
        self.changes.bump();
    }

    /// Each second or so: silences, and the writes that failed before.
    pub fn tick(&mut self, now_ms: i64, listening_since_ms: Option<i64>) {
        let changes = lock(&self.picture).tick(now_ms, listening_since_ms);
        self.apply(changes);
    }

    /// Once in a while: ended incidents past [`RETENTION_MS`] go.
    pub fn sweep(&mut self, now_ms: i64) {
        match self.store.sweep(now_ms - RETENTION_MS) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "console store: swept incidents past retention"),
            Err(error) => tracing::warn!("console store: sweep failed: {error}"),
        }
    }

    fn apply(&mut self, changes: Vec<Change>) {
        let now_ms = lintel_wire::UtcTime::now().unix_seconds() * 1000;
        for change in &changes {
            if let Change::Raised(incident) = change {
                self.metrics.raised.get_or_create(&KindLabel { kind: incident.kind.clone() }).inc();
                if let Some(hooks) = &self.webhooks {
                    hooks.notify(if incident.ended.is_some() { "event" } else { "started" }, incident, now_ms);
                }
            }
        }
        let ends: Vec<i64> =
            changes.iter().filter_map(|c| if let Change::Ended { id, .. } = c { Some(*id) } else { None }).collect();
        self.pending.extend(changes);
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_front();
            self.dropped_writes += 1;
        }
        while let Some(change) = self.pending.front() {
            match self.store.record(change) {
                Ok(()) => {
                    self.pending.pop_front();
                }
                Err(error) if error.is_refused() => {
                    tracing::warn!("console store refused a change: {error}");
                    self.pending.pop_front();
                    self.dropped_writes += 1;
                }
                Err(error) => {
                    tracing::warn!("console store: {error}; trying again in a second");
                    self.metrics.store_errors.inc();
                    break;
                }
            }
        }
        // An end is told with its incident, as the store now has it.
        if let Some(hooks) = &self.webhooks {
            for id in ends {
                match self.store.incident(id) {
                    Ok(Some(row)) => hooks.notify("ended", &row.incident, now_ms),
                    Ok(None) => {}
                    Err(error) => tracing::warn!("console store: {error}"),
                }
            }
        }
        self.update_metrics();
    }

    /// The open incidents by kind, and what the picture counted since the last time.
    fn update_metrics(&mut self) {
        let picture = lock(&self.picture);
        self.metrics.open.clear();
        for (kind, n) in picture.open_by_kind() {
            self.metrics.open.get_or_create(&KindLabel { kind }).set(n as i64);
        }
        let (now, (before, writes_before)) = (&picture.counters, &self.counted);
        for (kind, n) in &now.bad_input {
            let added = n - before.bad_input.get(kind).copied().unwrap_or(0);
            self.metrics.bad_input.get_or_create(&KindLabel { kind: kind.to_string() }).inc_by(added);
        }
        for (what, n, was) in [
            ("nodes", now.dropped_nodes, before.dropped_nodes),
            ("cameras", now.dropped_cameras, before.dropped_cameras),
            ("buildings", now.dropped_buildings, before.dropped_buildings),
            ("incidents", now.dropped_incidents, before.dropped_incidents),
            ("store_writes", self.dropped_writes, *writes_before),
        ] {
            self.metrics.dropped.get_or_create(&WhatLabel { what: what.into() }).inc_by(n - was);
        }
        self.counted = (now.clone(), self.dropped_writes);
    }
}

/// The picture, even if a thread panicked holding it (it is plain data, never half-updated in a
/// way that matters more than a crash would).
pub fn lock(picture: &Mutex<OperationsPicture>) -> MutexGuard<'_, OperationsPicture> {
    picture.lock().unwrap_or_else(|p| p.into_inner())
}
