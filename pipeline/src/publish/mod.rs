//! Publish: counts, occupancy, alerts and node status go out over MQTT as versioned JSON, through
//! an on-disk spool, so that a broker outage or a restart loses nothing.
//!
//! - [`messages`]: the message types, their topics and JSON, from the wire crate (`lintel_wire`),
//!   which the city server shares.
//! - [`spool`]: the bounded, crash-safe on-disk queue, and the keeper of the per-node `seq`.
//! - [`mqtt`]: the [`Publisher`], which drains the spool to the broker in order with QoS 1.
//!
//! Guarantees, for consumers: every message carries `schema` and a per-node `seq` that only grows,
//! across restarts too. Messages of one node arrive in `seq` order (the last will excepted).
//! Delivery is at least once: after a reconnection the one message that was in flight may arrive
//! twice, with the same bytes, so de-duplicate by `(node, seq)`.

mod broker;
#[cfg(feature = "embedded-broker")]
pub mod embedded_broker;
mod error;
mod link;
pub mod mqtt;
pub mod spool;
mod subscriptions;

pub use broker::{BrokerConfig, MqttVersion, Received, TlsFiles};
pub use error::PublishError;
pub use lintel_wire::CommandKey;
pub use lintel_wire::messages;
pub use lintel_wire::messages::{
    Alert, AlertKind, CameraState, CameraStatus, Counts, EntranceSummary, IntervalBounds, Message, MessageError,
    NodeState, NodeStatus, Occupancy, OccupancySet, SeqNo, TOPIC_ROOT, UtcTime,
};
pub use mqtt::{
    MAX_INCOMING_PACKET, Publisher, PublisherMetrics, PublisherStatus, RECEIVED_QUEUE, RetainedSender, SIDE_QUEUE,
    SUBSCRIBE_HOLD_OFF, connect_once, publish_once,
};
pub use spool::{MAX_PAYLOAD_BYTES, SPOOL_ALERT_RATIO, Spool, SpoolError, SpooledMessage};
