//! The operators' console: one place for every node, camera and alert of a community, gathered
//! by `lintel-city` whenever it consumes from a broker (no flag of its own).
//!
//! - [`state`]: the operations picture and the incidents open now; pure, unit-tested.
//! - [`store`]: incidents and acknowledgements in the density store (SQLite or PostgreSQL).
//! - [`feed`]: what the consumer ([`crate::density::consumer`]) calls for each message; metrics;
//!   the outbox of acknowledgements to publish (`lintel.alert_ack/1`).
//! - [`webhooks`]: outgoing notifications of incidents that start and end (templates, retries,
//!   quiet hours, per-kind filters); [`webhook_queue`]: what they have not delivered, on disk.
//! - [`events`]: `/api/events`, the page's live stream (server-sent events).
//! - [`web`]: `/api/nodes`, `/api/alerts`, `POST /api/alerts/{id}/ack`, the `/console` page.

pub mod events;
pub mod feed;
pub mod state;
pub mod store;
pub mod web;
pub mod webhook_queue;
pub mod webhooks;

pub use feed::{AckOutbox, ConsoleFeed, ConsoleMetrics};
pub use state::{ConsoleConfig, OperationsPicture};
pub use store::IncidentStore;

/// Unix milliseconds as RFC 3339 UTC (whole seconds).
pub(crate) fn time_text(ms: i64) -> String {
    lintel_wire::UtcTime::from_unix_seconds(ms.div_euclid(1000)).to_string()
}
