//! Lintel's wire format: what an edge node says over MQTT and what the city server reads.
//!
//! Both sides build on this crate alone, so a message field, a topic or a schema version is
//! changed in one place: [`messages`] (the message types, their topics and JSON; `schemas/*.schema.json`
//! describe them and `pipeline/tests/publish_schemas.rs` holds the two together) and
//! [`CameraStateKind`] (a camera's state as messages, metrics and pages name it).
//!
//! No I/O here: the node's publisher, spool and the city's consumer live in their own crates.

mod alert_ack;
mod camera_state;
mod command_key;
pub mod messages;

pub use alert_ack::AlertAck;
pub use camera_state::CameraStateKind;
pub use command_key::{CommandKey, MIN_KEY_BYTES, WeakCommandKey};
pub use messages::{
    Alert, AlertKind, CameraState, CameraStatus, Counts, EntranceSummary, IntervalBounds, Message, MessageError,
    NodeState, NodeStatus, Occupancy, OccupancySet, SeqNo, TOPIC_ROOT, UtcTime,
};

/// The largest MQTT packet a Lintel client accepts from its broker: it bounds the memory one
/// incoming message takes. A bigger one makes rumqttc drop the connection (MQTT 5 tells the
/// broker, which then never sends it).
pub const MAX_INCOMING_PACKET: usize = 1 << 20;

/// `HOST:PORT` as `--mqtt` takes it (the port after the last colon), or `None`.
///
/// ```
/// assert_eq!(lintel_wire::split_host_port("broker.lan:1883"), Some(("broker.lan".to_string(), 1883)));
/// assert_eq!(lintel_wire::split_host_port("broker.lan"), None);
/// ```
pub fn split_host_port(text: &str) -> Option<(String, u16)> {
    text.rsplit_once(':').and_then(|(host, port)| Some((host.to_string(), port.parse::<u16>().ok()?)))
}
