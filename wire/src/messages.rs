//! The versioned JSON messages Lintel publishes, and the MQTT topics they go to.
//!
//! Every message is one variant of [`Message`]; serialised, it carries `"schema"` (name and major
//! version, e.g. `"lintel.counts/1"`) and a per-node `seq`. The JSON Schemas in `schemas/` describe
//! exactly these shapes and forbid any other field, so nothing about a single person (track id,
//! embedding, image) can slip into a message.
//!
//! ```
//! use lintel_wire::{Alert, AlertKind, Message, UtcTime};
//!
//! let alert = Message::from(Alert {
//!     site: "s1".into(),
//!     node: "edge-01".into(),
//!     seq: 0, // assigned when the message is spooled
//!     at: UtcTime::from_unix_seconds(1_795_600_800),
//!     kind: AlertKind::CameraOffline,
//!     subject: "cam-07".into(),
//!     message: "no frame for 30 s".into(),
//! });
//! assert_eq!(alert.topic().unwrap(), "lintel/v1/s1/alerts");
//! let json = String::from_utf8(alert.to_json().unwrap()).unwrap();
//! assert!(json.starts_with(r#"{"schema":"lintel.alert/1","site":"s1""#));
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::CommandKey;

/// A node's message sequence number: strictly increasing over the node's whole life (it survives
/// restarts through the spool), so consumers can order and de-duplicate by `(node, seq)`.
pub type SeqNo = u64;

/// The first part of every topic; the version changes only with an incompatible topic layout.
pub const TOPIC_ROOT: &str = "lintel/v1";

/// What is wrong with a message, before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// An id used as a topic level is empty or holds a character MQTT reserves.
    #[error("{field} {value:?} cannot be part of an MQTT topic (empty, or contains '/', '+', '#' or NUL)")]
    BadTopicLevel { field: &'static str, value: String },
    /// An id that names an entrance, a camera or an alert's subject is empty.
    #[error("{schema} message: {field} is empty")]
    EmptyId { schema: &'static str, field: &'static str },
    /// The message could not be written as JSON.
    #[error("cannot write {schema} message as JSON: {reason}")]
    Json { schema: &'static str, reason: String },
}

/// A point in time, always written as RFC 3339 in UTC with a `Z` (e.g. `2026-11-25T10:00:00Z`,
/// milliseconds when they are not zero).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(OffsetDateTime);

impl UtcTime {
    /// The wall clock now.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// Whole seconds since 1970-01-01T00:00:00Z, clamped to the years 1970..=9999 that RFC 3339 can write.
    pub fn from_unix_seconds(seconds: i64) -> Self {
        Self::from_unix_millis(i128::from(seconds) * 1000)
    }

    /// Seconds since 1970-01-01T00:00:00Z (negative never occurs: earlier times are clamped).
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

    fn from_unix_millis(millis: i128) -> Self {
        // RFC 3339 has four-digit years; clamping keeps formatting total, and no clock of a
        // running box is anywhere near either end.
        let max = OffsetDateTime::from_unix_timestamp(253_402_300_799).expect("9999-12-31T23:59:59Z is in range");
        let millis = millis.clamp(0, i128::from(max.unix_timestamp()) * 1000 + 999);
        let time = OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).unwrap_or(max);
        Self(time)
    }
}

impl From<SystemTime> for UtcTime {
    /// Truncates to milliseconds; times before 1970 or after 9999 are clamped.
    fn from(time: SystemTime) -> Self {
        let millis = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i128::try_from(after.as_millis()).unwrap_or(i128::MAX),
            Err(_) => 0,
        };
        Self::from_unix_millis(millis)
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In range by construction (years 1970..=9999, UTC), so formatting cannot fail.
        let text = self.0.format(&Rfc3339).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl fmt::Debug for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for UtcTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UtcTime {
    /// Accepts any RFC 3339 time (any offset) and keeps it as UTC, truncated to milliseconds.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let time = OffsetDateTime::parse(&text, &Rfc3339)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time: {e}")))?;
        Ok(Self::from_unix_millis(time.unix_timestamp_nanos() / 1_000_000))
    }
}

/// The wall-clock interval a counts message covers: `start` inclusive, `end` exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalBounds {
    pub start: UtcTime,
    pub end: UtcTime,
}

/// One entrance's part of a building's counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntranceSummary {
    /// Entrance id from the site file.
    pub id: String,
    pub entries: u64,
    pub exits: u64,
    /// Ids of the cameras that watch this entrance.
    pub cameras: Vec<String>,
    /// False when a camera of this entrance was not live for the whole interval: the counts may be low.
    pub healthy: bool,
}

/// `lintel.counts/1`: entries, exits and occupancy of one building over one interval.
/// Topic `lintel/v1/<site>/building/<building>/counts`, not retained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub site: String,
    pub building: String,
    pub node: String,
    /// Assigned by the spool; whatever the caller puts here is replaced.
    pub seq: SeqNo,
    pub interval: IntervalBounds,
    pub entries: u64,
    pub exits: u64,
    /// Estimated people inside at the end of the interval.
    pub occupancy: u64,
    pub entrances: Vec<EntranceSummary>,
}

/// `lintel.occupancy/1`: the latest occupancy estimate of one building.
/// Topic `lintel/v1/<site>/building/<building>/occupancy`, retained, so a new subscriber gets it at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupancy {
    pub site: String,
    pub building: String,
    pub node: String,
    /// Assigned by the spool; whatever the caller puts here is replaced.
    pub seq: SeqNo,
    pub at: UtcTime,
    pub occupancy: u64,
    /// The building's capacity from the site file, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A camera gave no frame for longer than its grace period; `subject` is the camera id.
    CameraOffline,
    /// A camera that was offline delivers frames again; `subject` is the camera id.
    CameraBack,
    /// A camera's view is covered, dark or moved; `subject` is the camera id.
    CameraBlinded,
    /// The publishing spool passed its alert threshold (the broker is away); `subject` is the node id.
    SpoolFilling,
    /// A building's occupancy is above its capacity; `subject` is the building id.
    OverCapacity,
    /// The wall clock jumped (forward past the catch-up limit, or back past the interval being
    /// filled); the gap went out as one `healthy: false` span. `subject` is the node id.
    ClockJump,
    /// The spool cannot take messages (it is full, or its disk is full, read-only or failing);
    /// they are held in memory until it can. `subject` is the node id.
    SpoolFailing,
    /// A camera's picture is far less sharp than its own baseline (knocked out of focus, a
    /// smeared or fogged lens); `subject` is the camera id.
    CameraDefocused,
    /// A camera no longer sees the view it was set up on (turned away, shifted); `subject` is the
    /// camera id.
    CameraMoved,
    /// A defocused or moved camera sees its set-up view again; `subject` is the camera id.
    CameraViewRestored,
    /// Another MQTT client took over this node's session: two nodes may share one node id, and
    /// their `(node, seq)` collide. `subject` is the node id.
    NodeIdConflict,
    /// A blinded camera sees a picture with detail again; `subject` is the camera id.
    CameraSeesAgain,
    /// The publishing spool drained below half its alert threshold; `subject` is the node id.
    SpoolDrained,
    /// The spool takes messages again, and those held in memory went into it; `subject` is the node id.
    SpoolRecovered,
    /// A building's occupancy is at or below its capacity again; `subject` is the building id.
    BackUnderCapacity,
}

impl AlertKind {
    /// Every kind, for tests and documentation.
    pub const ALL: [AlertKind; 15] = [
        AlertKind::CameraOffline,
        AlertKind::CameraBack,
        AlertKind::CameraBlinded,
        AlertKind::SpoolFilling,
        AlertKind::OverCapacity,
        AlertKind::ClockJump,
        AlertKind::SpoolFailing,
        AlertKind::CameraDefocused,
        AlertKind::CameraMoved,
        AlertKind::CameraViewRestored,
        AlertKind::NodeIdConflict,
        AlertKind::CameraSeesAgain,
        AlertKind::SpoolDrained,
        AlertKind::SpoolRecovered,
        AlertKind::BackUnderCapacity,
    ];

    /// As written in messages (`camera_offline`).
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::CameraOffline => "camera_offline",
            AlertKind::CameraBack => "camera_back",
            AlertKind::CameraBlinded => "camera_blinded",
            AlertKind::SpoolFilling => "spool_filling",
            AlertKind::OverCapacity => "over_capacity",
            AlertKind::ClockJump => "clock_jump",
            AlertKind::SpoolFailing => "spool_failing",
            AlertKind::CameraDefocused => "camera_defocused",
            AlertKind::CameraMoved => "camera_moved",
            AlertKind::CameraViewRestored => "camera_view_restored",
            AlertKind::NodeIdConflict => "node_id_conflict",
            AlertKind::CameraSeesAgain => "camera_sees_again",
            AlertKind::SpoolDrained => "spool_drained",
            AlertKind::SpoolRecovered => "spool_recovered",
            AlertKind::BackUnderCapacity => "back_under_capacity",
        }
    }

    /// The kind written `name` in messages.
    pub fn from_name(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The alert lifecycle, the same for every reader (the node's dashboard, a console): a
    /// *condition* (`camera_offline`, …) stays on until the node sends one of the kinds that end
    /// it, about the same subject; every other kind is an *end* or a one-off *event*
    /// (`clock_jump`, `node_id_conflict`), over when it is sent. The node alone decides when a
    /// condition starts and ends; readers only pair what it sent.
    ///
    /// ```
    /// use lintel_wire::AlertKind;
    ///
    /// assert_eq!(AlertKind::CameraOffline.ended_by(), [AlertKind::CameraBack]);
    /// assert!(AlertKind::CameraViewRestored.ends(AlertKind::CameraMoved));
    /// assert!(!AlertKind::ClockJump.is_condition());
    /// ```
    pub fn ended_by(self) -> &'static [AlertKind] {
        match self {
            AlertKind::CameraOffline => &[AlertKind::CameraBack],
            AlertKind::CameraBlinded => &[AlertKind::CameraSeesAgain],
            AlertKind::CameraDefocused | AlertKind::CameraMoved => &[AlertKind::CameraViewRestored],
            AlertKind::SpoolFilling => &[AlertKind::SpoolDrained],
            AlertKind::SpoolFailing => &[AlertKind::SpoolRecovered],
            AlertKind::OverCapacity => &[AlertKind::BackUnderCapacity],
            AlertKind::CameraBack
            | AlertKind::CameraViewRestored
            | AlertKind::CameraSeesAgain
            | AlertKind::SpoolDrained
            | AlertKind::SpoolRecovered
            | AlertKind::BackUnderCapacity
            | AlertKind::ClockJump
            | AlertKind::NodeIdConflict => &[],
        }
    }

    /// Whether an alert of this kind stays on until the node ends it.
    pub fn is_condition(self) -> bool {
        !self.ended_by().is_empty()
    }

    /// Whether this kind ends an alert of kind `condition` about the same subject.
    pub fn ends(self, condition: AlertKind) -> bool {
        condition.ended_by().contains(&self)
    }
}

/// `lintel.alert/1`: something an operator should know about. Topic `lintel/v1/<site>/alerts`, not retained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub site: String,
    pub node: String,
    /// Assigned by the spool; whatever the caller puts here is replaced.
    pub seq: SeqNo,
    pub at: UtcTime,
    pub kind: AlertKind,
    /// The id of what the alert is about: a camera, a building or the node.
    pub subject: String,
    /// One line for a person to read; line breaks are written as spaces.
    #[serde(serialize_with = "one_line")]
    pub message: String,
}

/// Whether a node is running and connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Online,
    /// Sent as the MQTT last will when the connection drops, or by a node that stops.
    Offline,
}

/// A camera's ingest state in a status message: the supervisor's state without its details.
pub use crate::CameraStateKind as CameraState;

/// One camera in a node status message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraStatus {
    pub id: String,
    pub state: CameraState,
}

/// `lintel.node_status/1`: whether a node is online and how its cameras are.
/// Topic `lintel/v1/<site>/node/<node>/status`, retained; the offline variant is also the MQTT last will.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub site: String,
    pub node: String,
    /// Assigned by the spool (or by the publisher for the last will); whatever the caller puts here is replaced.
    pub seq: SeqNo,
    pub at: UtcTime,
    pub state: NodeState,
    pub cameras: Vec<CameraStatus>,
    /// The node's software version (e.g. `0.1.0`). Optional, added within `/1`: readers of
    /// `lintel.node_status/1` that predate it skip it, statuses without it still read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where the node serves its pages (`http://…/`), for a console's link to its set-up page;
    /// absent when it serves none or listens on no address a person could reach by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
}

/// Any message Lintel publishes. Serialised with its `"schema"` tag first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "schema")]
pub enum Message {
    #[serde(rename = "lintel.counts/1")]
    Counts(Counts),
    #[serde(rename = "lintel.occupancy/1")]
    Occupancy(Occupancy),
    #[serde(rename = "lintel.alert/1")]
    Alert(Alert),
    #[serde(rename = "lintel.node_status/1")]
    NodeStatus(NodeStatus),
}

impl Message {
    /// The `"schema"` value this message carries, e.g. `"lintel.counts/1"`.
    pub fn schema(&self) -> &'static str {
        match self {
            Message::Counts(_) => "lintel.counts/1",
            Message::Occupancy(_) => "lintel.occupancy/1",
            Message::Alert(_) => "lintel.alert/1",
            Message::NodeStatus(_) => "lintel.node_status/1",
        }
    }

    /// The node that sends this message.
    pub fn node(&self) -> &str {
        match self {
            Message::Counts(m) => &m.node,
            Message::Occupancy(m) => &m.node,
            Message::Alert(m) => &m.node,
            Message::NodeStatus(m) => &m.node,
        }
    }

    /// The per-node sequence number.
    pub fn seq(&self) -> SeqNo {
        match self {
            Message::Counts(m) => m.seq,
            Message::Occupancy(m) => m.seq,
            Message::Alert(m) => m.seq,
            Message::NodeStatus(m) => m.seq,
        }
    }

    /// Sets the sequence number; the spool does this, callers need not.
    pub fn set_seq(&mut self, seq: SeqNo) {
        match self {
            Message::Counts(m) => m.seq = seq,
            Message::Occupancy(m) => m.seq = seq,
            Message::Alert(m) => m.seq = seq,
            Message::NodeStatus(m) => m.seq = seq,
        }
    }

    /// Whether the broker keeps the last message of this topic for new subscribers
    /// (occupancy and node status: they are states; counts and alerts are events).
    pub fn retained(&self) -> bool {
        matches!(self, Message::Occupancy(_) | Message::NodeStatus(_))
    }

    /// The MQTT topic, e.g. `lintel/v1/s1/building/b7/counts`. Fails when an id cannot be a topic level.
    pub fn topic(&self) -> Result<String, MessageError> {
        match self {
            Message::Counts(m) => Ok(format!(
                "{TOPIC_ROOT}/{}/building/{}/counts",
                level("site", &m.site)?,
                level("building", &m.building)?
            )),
            Message::Occupancy(m) => Ok(format!(
                "{TOPIC_ROOT}/{}/building/{}/occupancy",
                level("site", &m.site)?,
                level("building", &m.building)?
            )),
            Message::Alert(m) => Ok(format!("{TOPIC_ROOT}/{}/alerts", level("site", &m.site)?)),
            Message::NodeStatus(m) => {
                Ok(format!("{TOPIC_ROOT}/{}/node/{}/status", level("site", &m.site)?, level("node", &m.node)?))
            }
        }
    }

    /// Checks what the JSON Schema requires beyond types: ids usable as topic levels, no empty id.
    /// The node's spool calls this before it keeps a message; a message that passes is valid against its schema.
    pub fn validate(&self) -> Result<(), MessageError> {
        self.topic()?;
        let schema = self.schema();
        let empty = |field| Err(MessageError::EmptyId { schema, field });
        match self {
            Message::Counts(m) => {
                for entrance in &m.entrances {
                    if entrance.id.is_empty() {
                        return empty("an entrance id");
                    }
                    if entrance.cameras.iter().any(String::is_empty) {
                        return empty("a camera id");
                    }
                }
            }
            Message::Occupancy(_) => {}
            Message::Alert(m) => {
                if m.subject.is_empty() {
                    return empty("subject");
                }
            }
            Message::NodeStatus(m) => {
                if m.cameras.iter().any(|c| c.id.is_empty()) {
                    return empty("a camera id");
                }
            }
        }
        Ok(())
    }

    /// The JSON payload, compact, `"schema"` first.
    pub fn to_json(&self) -> Result<Vec<u8>, MessageError> {
        serde_json::to_vec(self).map_err(|e| MessageError::Json { schema: self.schema(), reason: e.to_string() })
    }
}

impl From<Counts> for Message {
    fn from(message: Counts) -> Self {
        Message::Counts(message)
    }
}

impl From<Occupancy> for Message {
    fn from(message: Occupancy) -> Self {
        Message::Occupancy(message)
    }
}

impl From<Alert> for Message {
    fn from(message: Alert) -> Self {
        Message::Alert(message)
    }
}

impl From<NodeStatus> for Message {
    fn from(message: NodeStatus) -> Self {
        Message::NodeStatus(message)
    }
}

/// `lintel.occupancy_set/2`: a command to the node, setting a building's occupancy to what a
/// person counted. Topic `lintel/v1/<site>/building/<building>/occupancy/set`, QoS 1, retained, so
/// a node that is away gets it when it connects. Signed: `mac` is an HMAC-SHA256 with the
/// operators' [`CommandKey`] over the site and building of the topic and every other field, so
/// only a holder of the key can command a node, and only for the building it signed for. A node
/// applies each `id` once and only commands newer than the last applied for the building. Sent by
/// `lintel occupancy set` or any MQTT client that signs (`schemas/occupancy_set.schema.json`).
///
/// ```
/// use lintel_wire::{CommandKey, OccupancySet};
///
/// let key = CommandKey::new("a key of at least sixteen bytes").unwrap();
/// let set = OccupancySet::new(42).signed(&key, "s1", "b7");
/// let json = set.to_json();
/// assert_eq!(OccupancySet::parse(&json).unwrap(), set);
/// assert!(set.verify(&key, "s1", "b7"));
/// assert!(!set.verify(&key, "s1", "b8"), "signed for b7 only");
/// assert_eq!(OccupancySet::topic("s1", "b7").unwrap(), "lintel/v1/s1/building/b7/occupancy/set");
/// assert_eq!(OccupancySet::building_of("s1", "lintel/v1/s1/building/b7/occupancy/set"), Some("b7"));
/// assert!(OccupancySet::parse(br#"{"schema":"lintel.occupancy_set/2","occupancy":-1}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OccupancySet {
    pub occupancy: u64,
    /// Unique per command: a node ignores an id it has applied already.
    pub id: String,
    pub issued_at: UtcTime,
    /// Who issued it (an operator's name), for the node's audit trail; covered by the MAC.
    pub issued_by: Option<String>,
    /// HMAC-SHA256, lowercase hex; `None` until [`OccupancySet::signed`].
    pub mac: Option<String>,
}

/// The JSON form of [`OccupancySet`]; no field beyond these allowed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OccupancySetJson {
    schema: String,
    occupancy: u64,
    id: String,
    issued_at: UtcTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued_by: Option<String>,
    mac: String,
}

impl OccupancySet {
    pub const SCHEMA: &'static str = "lintel.occupancy_set/2";
    /// The longest id accepted (the schema's `maxLength`).
    pub const MAX_ID_CHARS: usize = 128;
    /// The longest `issued_by` accepted.
    pub const MAX_ISSUER_CHARS: usize = 64;

    /// A command issued now, its id made of the time and the process id; unsigned.
    pub fn new(occupancy: u64) -> Self {
        let issued_at = UtcTime::now();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        OccupancySet {
            occupancy,
            id: format!("{nanos:x}-{}", std::process::id()),
            issued_at,
            issued_by: None,
            mac: None,
        }
    }

    /// The command signed with `key` for `building` of `site` (the levels of its topic).
    pub fn signed(mut self, key: &CommandKey, site: &str, building: &str) -> Self {
        let fields = self.signed_fields(site, building);
        self.mac = Some(key.sign(&fields.each_ref().map(String::as_str)));
        self
    }

    /// Whether the command carries a MAC by `key` for `building` of `site` (constant-time).
    pub fn verify(&self, key: &CommandKey, site: &str, building: &str) -> bool {
        let fields = self.signed_fields(site, building);
        self.mac.as_deref().is_some_and(|mac| key.verify(&fields.each_ref().map(String::as_str), mac))
    }

    /// What the MAC covers, in a fixed order: the schema (a MAC of another version never
    /// verifies), the topic's site and building, and every field of the payload but the MAC.
    fn signed_fields(&self, site: &str, building: &str) -> [String; 7] {
        [
            Self::SCHEMA.to_string(),
            site.to_string(),
            building.to_string(),
            self.occupancy.to_string(),
            self.id.clone(),
            self.issued_at.to_string(),
            self.issued_by.clone().unwrap_or_default(),
        ]
    }

    /// `lintel/v1/<site>/building/<building>/occupancy/set`.
    pub fn topic(site: &str, building: &str) -> Result<String, MessageError> {
        Ok(format!("{TOPIC_ROOT}/{}/building/{}/occupancy/set", level("site", site)?, level("building", building)?))
    }

    /// The filter a node of `site` subscribes to for the commands of all its buildings.
    pub fn filter(site: &str) -> Result<String, MessageError> {
        Ok(format!("{TOPIC_ROOT}/{}/building/+/occupancy/set", level("site", site)?))
    }

    /// The building a command topic of `site` names, or `None` for another topic.
    pub fn building_of<'a>(site: &str, topic: &'a str) -> Option<&'a str> {
        let rest = topic.strip_prefix(TOPIC_ROOT)?.strip_prefix('/')?.strip_prefix(site)?.strip_prefix("/building/")?;
        rest.strip_suffix("/occupancy/set").filter(|b| !b.is_empty() && !b.contains('/'))
    }

    /// The payload, compact, `"schema"` first; an unsigned command has an empty `mac`, which
    /// no node accepts.
    pub fn to_json(&self) -> Vec<u8> {
        let json = OccupancySetJson {
            schema: Self::SCHEMA.to_string(),
            occupancy: self.occupancy,
            id: self.id.clone(),
            issued_at: self.issued_at,
            issued_by: self.issued_by.clone(),
            mac: self.mac.clone().unwrap_or_default(),
        };
        // Plain strings and numbers: serialising cannot fail.
        serde_json::to_vec(&json).unwrap_or_default()
    }

    /// Reads a command; the error is one line saying what is wrong (never echoing the payload).
    /// Whether it is signed by the right key is [`OccupancySet::verify`]'s question.
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        let json: OccupancySetJson =
            serde_json::from_slice(payload).map_err(|e| format!("not a {}: {e}", Self::SCHEMA))?;
        if json.schema != Self::SCHEMA {
            return Err(format!("schema {:?}, expected {:?}", json.schema, Self::SCHEMA));
        }
        if json.id.is_empty() || json.id.chars().count() > Self::MAX_ID_CHARS || json.id.contains(char::is_control) {
            return Err(format!("the id must have 1 to {} characters, none a control character", Self::MAX_ID_CHARS));
        }
        if let Some(by) = &json.issued_by
            && (by.is_empty() || by.chars().count() > Self::MAX_ISSUER_CHARS || by.contains(char::is_control))
        {
            return Err(format!(
                "issued_by must have 1 to {} characters, none a control character",
                Self::MAX_ISSUER_CHARS
            ));
        }
        if json.mac.len() != 64 || !json.mac.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err("the mac must be 64 lowercase hex digits (HMAC-SHA256)".into());
        }
        Ok(OccupancySet {
            occupancy: json.occupancy,
            id: json.id,
            issued_at: json.issued_at,
            issued_by: json.issued_by,
            mac: Some(json.mac),
        })
    }
}

/// Checks that an id can be one level of a topic: a `/` would add levels, `+` and `#` are
/// subscription wildcards that MQTT forbids in a published topic.
fn level<'a>(field: &'static str, value: &'a str) -> Result<&'a str, MessageError> {
    if value.is_empty() || value.contains(['/', '+', '#', '\0']) {
        return Err(MessageError::BadTopicLevel { field, value: value.to_string() });
    }
    Ok(value)
}

/// Writes text as one line: an alert's message may quote an error that spans lines, and a
/// consumer shows it in one row.
fn one_line<T: AsRef<str>, S: Serializer>(text: &T, serializer: S) -> Result<S::Ok, S::Error> {
    let text = text.as_ref();
    if text.contains(['\n', '\r']) {
        serializer.serialize_str(&text.replace("\r\n", " ").replace(['\n', '\r'], " "))
    } else {
        serializer.serialize_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> Counts {
        Counts {
            site: "s1".into(),
            building: "b7".into(),
            node: "edge-01".into(),
            seq: 1042,
            interval: IntervalBounds {
                start: UtcTime::from_unix_seconds(1_795_600_800),
                end: UtcTime::from_unix_seconds(1_795_600_860),
            },
            entries: 4,
            exits: 2,
            occupancy: 37,
            entrances: vec![EntranceSummary {
                id: "north".into(),
                entries: 3,
                exits: 1,
                cameras: vec!["cam-07".into()],
                healthy: true,
            }],
        }
    }

    #[test]
    fn counts_serialise_as_in_the_design() {
        let json = Message::from(counts()).to_json().unwrap();
        let expected = r#"{"schema":"lintel.counts/1","site":"s1","building":"b7","node":"edge-01","seq":1042,"interval":{"start":"2026-11-25T10:00:00Z","end":"2026-11-25T10:01:00Z"},"entries":4,"exits":2,"occupancy":37,"entrances":[{"id":"north","entries":3,"exits":1,"cameras":["cam-07"],"healthy":true}]}"#;
        assert_eq!(String::from_utf8(json).unwrap(), expected);
    }

    #[test]
    fn messages_read_back_equal() {
        let message = Message::from(counts());
        let back: Message = serde_json::from_slice(&message.to_json().unwrap()).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn topics_follow_the_design() {
        let mut message = Message::from(counts());
        assert_eq!(message.topic().unwrap(), "lintel/v1/s1/building/b7/counts");
        assert!(!message.retained());
        message.set_seq(7);
        assert_eq!(message.seq(), 7);
        let status = Message::from(NodeStatus {
            site: "s1".into(),
            node: "edge-01".into(),
            seq: 0,
            at: UtcTime::now(),
            state: NodeState::Offline,
            cameras: vec![],
            version: None,
            web: None,
        });
        assert_eq!(status.topic().unwrap(), "lintel/v1/s1/node/edge-01/status");
        assert!(status.retained());
    }

    #[test]
    fn ids_that_would_break_the_topic_are_refused() {
        for bad in ["", "a/b", "b+", "#"] {
            let mut c = counts();
            c.building = bad.into();
            let error = Message::from(c).topic().unwrap_err().to_string();
            assert!(error.starts_with("building"), "{error}");
        }
    }

    #[test]
    fn empty_ids_are_refused_and_alert_text_is_one_line() {
        let mut c = counts();
        c.entrances[0].cameras.push(String::new());
        assert!(matches!(Message::from(c).validate(), Err(MessageError::EmptyId { .. })));
        let alert = Message::from(Alert {
            site: "s1".into(),
            node: "n".into(),
            seq: 1,
            at: UtcTime::from_unix_seconds(0),
            kind: AlertKind::SpoolFilling,
            subject: "n".into(),
            message: "first\r\nsecond\nthird".into(),
        });
        assert!(alert.validate().is_ok());
        let json: serde_json::Value = serde_json::from_slice(&alert.to_json().unwrap()).unwrap();
        assert_eq!(json["message"], "first second third");
    }

    #[test]
    fn times_are_utc_with_z_and_millisecond_precision() {
        let t = UtcTime::from(UNIX_EPOCH + std::time::Duration::from_nanos(1_795_600_800_123_456_789));
        assert_eq!(t.to_string(), "2026-11-25T10:00:00.123Z");
        let parsed: UtcTime = serde_json::from_str(r#""2026-11-25T11:00:00.123+01:00""#).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(UtcTime::from_unix_seconds(-5).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(UtcTime::from_unix_seconds(i64::MAX).to_string(), "9999-12-31T23:59:59.999Z");
    }
}
