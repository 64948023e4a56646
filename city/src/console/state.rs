//! The operations picture: every node, camera and building the console has heard of, and the
//! incidents open now. Pure: messages and the time go in, [`Change`]s come out for the store;
//! no I/O.
//!
//! Rules:
//! - **Alerts are paired by the node's lifecycle** ([`AlertKind::ended_by`] / [`AlertKind::ends`],
//!   in the wire crate; never a second copy here): a condition (`camera_offline`, …) opens an
//!   incident for its node, subject and kind (a repeat while it is open changes nothing); a kind
//!   that ends one closes it, with its duration; one that ends nothing open here (its start came
//!   before this console listened) and every one-off event (`clock_jump`, a kind this console does
//!   not know, from a newer node) is an incident that is over when it starts: every alert shows.
//! - **`node_offline` is the console's own**: raised when a node's status says `offline` (its MQTT
//!   last will, or a stop) or when nothing was heard from it for [`ConsoleConfig::offline_after_ms`]
//!   while this console was listening (a console that was itself cut off blames no node); ended
//!   when the node says `online` again, or, after a silence, when it is heard again. Its `seq` is
//!   that of the node's last status heard, so consoles that heard the same agree on its name.
//! - **Bounded**: at most [`Limits`] nodes, cameras, buildings and open incidents; what does not
//!   fit is counted in [`Counters`] and otherwise ignored. Bad input is counted by kind.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use lintel_wire::{AlertAck, AlertKind, Message, NodeState, SeqNo, UtcTime};

/// The kind of the console's own incident: a node that is away.
pub const NODE_OFFLINE: &str = "node_offline";
/// The end of a [`NODE_OFFLINE`]: the node is heard again.
pub const NODE_BACK: &str = "node_back";
/// The largest payload read; larger ones are counted as `too_large`.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The most alert seqs remembered per node to drop redeliveries.
const RECENT_SEQS: usize = 64;

/// How much the picture holds at most.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub nodes: usize,
    /// Cameras of all nodes together.
    pub cameras: usize,
    pub cameras_per_node: usize,
    pub buildings: usize,
    /// Incidents open at once.
    pub open_incidents: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { nodes: 4096, cameras: 40_000, cameras_per_node: 256, buildings: 20_000, open_incidents: 100_000 }
    }
}

/// Settings of the picture.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleConfig {
    /// A node silent for longer is `node_offline`.
    pub offline_after_ms: i64,
    pub limits: Limits,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        // Three of the nodes' default 60 s intervals: every node sends counts each interval.
        Self { offline_after_ms: 180_000, limits: Limits::default() }
    }
}

/// Why a message was not taken (a label of `lintel_console_bad_input_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadInput {
    TooLarge,
    Malformed,
    UnknownSchema,
    BadId,
    TopicMismatch,
}

impl BadInput {
    pub const ALL: [BadInput; 5] =
        [BadInput::TooLarge, BadInput::Malformed, BadInput::UnknownSchema, BadInput::BadId, BadInput::TopicMismatch];

    pub fn as_str(self) -> &'static str {
        match self {
            BadInput::TooLarge => "too_large",
            BadInput::Malformed => "malformed",
            BadInput::UnknownSchema => "unknown_schema",
            BadInput::BadId => "bad_id",
            BadInput::TopicMismatch => "topic_mismatch",
        }
    }
}

/// What the picture could not take.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Messages on the status, alert and acknowledgement topics refused, by why.
    pub bad_input: BTreeMap<&'static str, u64>,
    pub dropped_nodes: u64,
    pub dropped_cameras: u64,
    pub dropped_buildings: u64,
    pub dropped_incidents: u64,
}

/// The end of an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentEnd {
    /// The kind that ended it (`camera_back`, …, [`NODE_BACK`]); for a one-off, its own kind.
    pub kind: String,
    pub seq: Option<SeqNo>,
    pub at_ms: i64,
    pub message: String,
}

/// A start and its end, as one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Derived from `(node, kind, seq)` ([`incident_id`]): the same on every console.
    pub id: i64,
    pub site: String,
    pub node: String,
    pub seq: SeqNo,
    pub kind: String,
    pub subject: String,
    /// `site/building`, when the subject is a building or a camera whose building is known.
    pub building: Option<String>,
    pub message: String,
    pub started_ms: i64,
    pub ended: Option<IncidentEnd>,
}

/// What the store must write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Raised(Incident),
    Ended { id: i64, end: IncidentEnd },
    Acked(AlertAck),
}

/// The id of the incident a node's alert `(node, kind, seq)` started: the first 53 bits of its
/// FNV-1a hash, so a page's JavaScript holds it exactly and every console names it alike.
pub fn incident_id(node: &str, kind: &str, seq: SeqNo) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in node.bytes().chain([0]).chain(kind.bytes()).chain([0]).chain(seq.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash >> 11) as i64
}

/// One camera as its node last said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CameraView {
    pub id: String,
    pub state: lintel_wire::CameraStateKind,
    /// `site/building` of the entrance it watches, from the node's counts.
    pub building: Option<String>,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeView {
    pub site: String,
    pub node: String,
    /// The last status: `online`, `offline`, or none heard.
    pub status: Option<NodeState>,
    pub status_at: Option<UtcTime>,
    pub status_seq: Option<SeqNo>,
    /// When this console last heard anything from it (its clock, Unix ms).
    pub heard_ms: i64,
    /// The software version, when its status says it.
    pub version: Option<String>,
    /// Its web address for technicians, when its status says it.
    pub web: Option<String>,
    pub cameras: Vec<CameraView>,
    /// Whether it is online: its status says so and it was heard within the threshold.
    pub online: bool,
    #[serde(skip)]
    recent_seqs: VecDeque<SeqNo>,
}

/// One building.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuildingView {
    pub site: String,
    pub building: String,
    pub node: String,
    pub occupancy: Option<u64>,
    pub capacity: Option<u64>,
    pub at: Option<UtcTime>,
    /// Whether the last interval's counts were complete (every camera of every entrance live).
    pub complete: Option<bool>,
}

/// The picture and the open incidents.
#[derive(Debug, Default)]
pub struct OperationsPicture {
    config: ConsoleConfig,
    nodes: BTreeMap<String, NodeView>,
    buildings: BTreeMap<String, BuildingView>,
    cameras: usize,
    /// `(node, camera)` → `site/building`.
    camera_building: HashMap<(String, String), String>,
    /// Open incidents by `(node, subject, kind)`.
    open: BTreeMap<(String, String, String), Incident>,
    pub counters: Counters,
}

/// An alert as any version of `lintel.alert/…` writes it, its kind as text.
#[derive(Deserialize)]
struct AnyAlert {
    schema: String,
    site: String,
    node: String,
    seq: SeqNo,
    at: UtcTime,
    kind: String,
    subject: String,
    #[serde(default)]
    message: String,
}

/// A status of any major version: the fields the picture reads, cameras in states this console
/// may not know.
#[derive(Deserialize)]
struct AnyStatus {
    schema: String,
    site: String,
    node: String,
    seq: SeqNo,
    at: UtcTime,
    state: NodeState,
    #[serde(default)]
    cameras: Vec<AnyCamera>,
}

#[derive(Deserialize)]
struct AnyCamera {
    id: String,
    state: String,
}

impl AnyCamera {
    /// The camera, its state read as this console names them (an unknown one as `failed`: it
    /// is not known to be live).
    fn known(self) -> lintel_wire::CameraStatus {
        let state = lintel_wire::CameraStateKind::ALL
            .into_iter()
            .find(|s| s.name() == self.state)
            .unwrap_or(lintel_wire::CameraStateKind::Failed);
        lintel_wire::CameraStatus { id: self.id, state }
    }
}

/// What a status may say beyond `lintel.node_status/1` (a newer node's additions).
#[derive(Deserialize, Default)]
struct StatusExtras {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    web: Option<String>,
}

impl OperationsPicture {
    pub fn new(config: ConsoleConfig) -> Self {
        Self { config, ..Self::default() }
    }

    pub fn config(&self) -> &ConsoleConfig {
        &self.config
    }

    /// Takes back the incidents the store has open (after a restart).
    pub fn restore(&mut self, open: Vec<Incident>) {
        for incident in open.into_iter().filter(|i| i.ended.is_none()) {
            if self.open.len() >= self.config.limits.open_incidents {
                self.counters.dropped_incidents += 1;
                continue;
            }
            self.open.insert((incident.node.clone(), incident.subject.clone(), incident.kind.clone()), incident);
        }
    }

    fn bad(&mut self, why: BadInput) {
        *self.counters.bad_input.entry(why.as_str()).or_default() += 1;
    }

    /// One MQTT message, received at `now_ms` (Unix ms, this console's clock). Counts and
    /// occupancy that are not well formed are the density layer's to count, not this one's.
    pub fn take(&mut self, topic: &str, payload: &[u8], retained: bool, now_ms: i64) -> Vec<Change> {
        let what = Topic::of(topic);
        if what == Topic::Other {
            return Vec::new();
        }
        let counted = matches!(what, Topic::Alert | Topic::Status | Topic::Ack);
        if payload.len() > MAX_MESSAGE_BYTES {
            if counted {
                self.bad(BadInput::TooLarge);
            }
            return Vec::new();
        }
        match what {
            Topic::Ack => match AlertAck::parse(payload) {
                Ok(ack) if ack.topic().ok().as_deref() == Some(topic) => vec![Change::Acked(ack)],
                Ok(_) => {
                    self.bad(BadInput::TopicMismatch);
                    Vec::new()
                }
                Err(_) => {
                    self.bad(schema_problem(payload, "lintel.alert_ack/"));
                    Vec::new()
                }
            },
            Topic::Alert => self.alert(topic, payload, now_ms),
            Topic::Status => self.status(topic, payload, retained, now_ms),
            Topic::Building => self.building(topic, payload, now_ms),
            Topic::Other => Vec::new(),
        }
    }

    fn alert(&mut self, topic: &str, payload: &[u8], now_ms: i64) -> Vec<Change> {
        let Ok(alert) = serde_json::from_slice::<AnyAlert>(payload) else {
            self.bad(schema_problem(payload, "lintel.alert/"));
            return Vec::new();
        };
        // Any major version is shown (a node on another version still has something to say);
        // only a message that is not an alert at all is refused.
        if !alert.schema.starts_with("lintel.alert/") {
            self.bad(BadInput::UnknownSchema);
            return Vec::new();
        }
        if [&alert.site, &alert.node, &alert.subject].iter().any(|id| id_problem(id)) || kind_problem(&alert.kind) {
            self.bad(BadInput::BadId);
            return Vec::new();
        }
        if topic != format!("{}/{}/alerts", lintel_wire::TOPIC_ROOT, alert.site) {
            self.bad(BadInput::TopicMismatch);
            return Vec::new();
        }
        let Some(node) = self.heard(&alert.site, &alert.node, now_ms) else { return Vec::new() };
        if node.recent_seqs.contains(&alert.seq) {
            return Vec::new(); // a redelivery
        }
        if node.recent_seqs.len() >= RECENT_SEQS {
            node.recent_seqs.pop_front();
        }
        node.recent_seqs.push_back(alert.seq);
        let mut changes = self.back_if_heard(&alert.node, now_ms);
        // As on the node's own dashboard: an operator never reads a camera's address (nor what
        // credentials it might hold).
        let message: String = without_addresses(&alert.message).chars().take(500).collect();
        let at_ms = alert.at.unix_seconds() * 1000;
        let kind = AlertKind::from_name(&alert.kind);
        // An end: close the open condition it ends, about the same subject.
        if let Some(end) = kind.filter(|k| !k.is_condition()) {
            let ended = AlertKind::ALL
                .into_iter()
                .filter(|c| end.ends(*c))
                .find_map(|c| self.open.remove(&(alert.node.clone(), alert.subject.clone(), c.name().to_string())));
            if let Some(incident) = ended {
                let end = IncidentEnd { kind: alert.kind.clone(), seq: Some(alert.seq), at_ms, message };
                changes.push(Change::Ended { id: incident.id, end });
                return changes;
            }
        }
        let building = self.building_of(&alert.site, &alert.node, &alert.subject, kind);
        let mut incident = Incident {
            id: incident_id(&alert.node, &alert.kind, alert.seq),
            site: alert.site.clone(),
            node: alert.node.clone(),
            seq: alert.seq,
            kind: alert.kind.clone(),
            subject: alert.subject.clone(),
            building,
            message: message.clone(),
            started_ms: at_ms,
            ended: None,
        };
        if kind.is_some_and(AlertKind::is_condition) {
            let key = (alert.node.clone(), alert.subject.clone(), alert.kind.clone());
            if self.open.contains_key(&key) {
                return changes; // still on
            }
            if self.open.len() >= self.config.limits.open_incidents {
                self.counters.dropped_incidents += 1;
                return changes;
            }
            self.open.insert(key, incident.clone());
        } else {
            // A one-off, an end of nothing open here, or a kind this console does not know.
            incident.ended = Some(IncidentEnd { kind: alert.kind, seq: Some(alert.seq), at_ms, message });
        }
        changes.push(Change::Raised(incident));
        changes
    }

    fn status(&mut self, topic: &str, payload: &[u8], retained: bool, now_ms: i64) -> Vec<Change> {
        let status = match serde_json::from_slice::<Message>(payload) {
            Ok(Message::NodeStatus(status)) => status,
            Ok(_) => {
                self.bad(BadInput::UnknownSchema);
                return Vec::new();
            }
            // Another major version (a node upgraded before or after this console): shown when
            // it still says what the picture needs.
            Err(_) => match serde_json::from_slice::<AnyStatus>(payload) {
                Ok(any) if any.schema.starts_with("lintel.node_status/") => lintel_wire::NodeStatus {
                    site: any.site,
                    node: any.node,
                    seq: any.seq,
                    at: any.at,
                    state: any.state,
                    cameras: any.cameras.into_iter().map(AnyCamera::known).collect(),
                    version: None,
                    web: None,
                },
                _ => {
                    self.bad(schema_problem(payload, "lintel.node_status/"));
                    return Vec::new();
                }
            },
        };
        if id_problem(&status.site) || id_problem(&status.node) || status.cameras.iter().any(|c| id_problem(&c.id)) {
            self.bad(BadInput::BadId);
            return Vec::new();
        }
        if Message::NodeStatus(status.clone()).topic().ok().as_deref() != Some(topic) {
            self.bad(BadInput::TopicMismatch);
            return Vec::new();
        }
        let extras: StatusExtras = serde_json::from_slice(payload).unwrap_or_default();
        let limits = self.config.limits;
        let Some(node) = self.heard(&status.site, &status.node, now_ms) else { return Vec::new() };
        // An older status (a retained one after a newer live one) does not undo a newer.
        if node.status_seq.is_some_and(|seq| seq > status.seq) && retained {
            return Vec::new();
        }
        node.status = Some(status.state);
        node.online = status.state == NodeState::Online;
        node.status_at = Some(status.at);
        node.status_seq = Some(status.seq);
        node.version = extras.version.filter(|v| !id_problem(v));
        node.web = extras.web.filter(|w| !id_problem(w) && (w.starts_with("http://") || w.starts_with("https://")));
        let before = node.cameras.len();
        let mut cameras: Vec<CameraView> = Vec::new();
        let mut dropped = 0;
        for camera in &status.cameras {
            if cameras.len() >= limits.cameras_per_node {
                dropped += 1;
                continue;
            }
            cameras.push(CameraView { id: camera.id.clone(), state: camera.state, building: None });
        }
        // The cameras of all nodes together stay under the limit.
        let room = limits.cameras.saturating_sub(self.cameras - before);
        if cameras.len() > room {
            dropped += cameras.len() - room;
            cameras.truncate(room);
        }
        self.counters.dropped_cameras += dropped as u64;
        self.cameras = self.cameras - before + cameras.len();
        for camera in &mut cameras {
            camera.building = self.camera_building.get(&(status.node.clone(), camera.id.clone())).cloned();
        }
        let Some(node) = self.nodes.get_mut(&status.node) else { return Vec::new() };
        node.cameras = cameras;
        match status.state {
            NodeState::Offline => self.raise_offline(&status.node, now_ms, "status offline"),
            NodeState::Online => self.back_if_heard(&status.node, now_ms),
        }
    }

    fn building(&mut self, topic: &str, payload: &[u8], now_ms: i64) -> Vec<Change> {
        let Ok(message) = serde_json::from_slice::<Message>(payload) else { return Vec::new() };
        if message.topic().ok().as_deref() != Some(topic) || id_problem(message.node()) {
            return Vec::new();
        }
        let (site, building, node) = match &message {
            Message::Counts(c) => (c.site.clone(), c.building.clone(), c.node.clone()),
            Message::Occupancy(o) => (o.site.clone(), o.building.clone(), o.node.clone()),
            _ => return Vec::new(),
        };
        if id_problem(&site) || id_problem(&building) || self.heard(&site, &node, now_ms).is_none() {
            return Vec::new();
        }
        let key = format!("{site}/{building}");
        if !self.buildings.contains_key(&key) && self.buildings.len() >= self.config.limits.buildings {
            self.counters.dropped_buildings += 1;
            return Vec::new();
        }
        let view = self.buildings.entry(key.clone()).or_insert_with(|| BuildingView {
            site,
            building,
            node: node.clone(),
            occupancy: None,
            capacity: None,
            at: None,
            complete: None,
        });
        view.node = node.clone();
        match message {
            Message::Occupancy(o) if view.at.is_none_or(|at| at <= o.at) => {
                view.occupancy = Some(o.occupancy);
                view.capacity = o.capacity;
                view.at = Some(o.at);
            }
            Message::Counts(c) => {
                if view.at.is_none_or(|at| at <= c.interval.end) {
                    view.occupancy = Some(c.occupancy);
                    view.at = Some(c.interval.end);
                    view.complete = Some(c.entrances.iter().all(|e| e.healthy));
                }
                // Which building each camera serves, for the cameras and the incidents' filter.
                for camera in c.entrances.iter().flat_map(|e| &e.cameras) {
                    if id_problem(camera) || self.camera_building.len() >= self.config.limits.cameras {
                        continue;
                    }
                    self.camera_building.insert((node.clone(), camera.clone()), key.clone());
                }
                if let Some(n) = self.nodes.get_mut(&node) {
                    for camera in &mut n.cameras {
                        if let Some(b) = self.camera_building.get(&(node.clone(), camera.id.clone())) {
                            camera.building = Some(b.clone());
                        }
                    }
                }
            }
            _ => {}
        }
        self.back_if_heard(&node, now_ms)
    }

    /// The node, noted as heard now (created if new and there is room).
    fn heard(&mut self, site: &str, node: &str, now_ms: i64) -> Option<&mut NodeView> {
        if !self.nodes.contains_key(node) {
            if self.nodes.len() >= self.config.limits.nodes {
                self.counters.dropped_nodes += 1;
                return None;
            }
            self.nodes.insert(
                node.to_string(),
                NodeView {
                    site: site.to_string(),
                    node: node.to_string(),
                    status: None,
                    status_at: None,
                    status_seq: None,
                    heard_ms: now_ms,
                    version: None,
                    web: None,
                    cameras: Vec::new(),
                    online: true,
                    recent_seqs: VecDeque::new(),
                },
            );
        }
        let view = self.nodes.get_mut(node)?;
        view.heard_ms = view.heard_ms.max(now_ms);
        view.site = site.to_string();
        view.online = view.status != Some(NodeState::Offline);
        Some(view)
    }

    /// Ends the node's `node_offline` if it is online now (heard, and its status not offline).
    fn back_if_heard(&mut self, node: &str, now_ms: i64) -> Vec<Change> {
        let online = self.nodes.get(node).is_some_and(|n| n.status != Some(NodeState::Offline));
        if !online {
            return Vec::new();
        }
        match self.open.remove(&(node.to_string(), node.to_string(), NODE_OFFLINE.to_string())) {
            Some(incident) => vec![Change::Ended {
                id: incident.id,
                end: IncidentEnd {
                    kind: NODE_BACK.into(),
                    seq: None,
                    at_ms: now_ms.max(incident.started_ms),
                    message: "heard again".into(),
                },
            }],
            None => Vec::new(),
        }
    }

    fn raise_offline(&mut self, node: &str, since_ms: i64, why: &str) -> Vec<Change> {
        let Some(view) = self.nodes.get_mut(node) else { return Vec::new() };
        view.online = false;
        let key = (node.to_string(), node.to_string(), NODE_OFFLINE.to_string());
        if self.open.contains_key(&key) {
            return Vec::new();
        }
        if self.open.len() >= self.config.limits.open_incidents {
            self.counters.dropped_incidents += 1;
            return Vec::new();
        }
        let seq = view.status_seq.unwrap_or(0);
        let incident = Incident {
            id: incident_id(node, NODE_OFFLINE, seq),
            site: view.site.clone(),
            node: node.to_string(),
            seq,
            kind: NODE_OFFLINE.into(),
            subject: node.to_string(),
            building: None,
            message: why.to_string(),
            started_ms: since_ms,
            ended: None,
        };
        self.open.insert(key, incident.clone());
        vec![Change::Raised(incident)]
    }

    /// The passing of time: nodes silent past the threshold go offline. `listening_since_ms` is
    /// when this console's connection to the broker began (`None`: not connected, so no silence
    /// is anyone's fault).
    pub fn tick(&mut self, now_ms: i64, listening_since_ms: Option<i64>) -> Vec<Change> {
        let Some(since) = listening_since_ms else { return Vec::new() };
        let limit = self.config.offline_after_ms;
        let silent: Vec<(String, i64)> = self
            .nodes
            .values()
            .filter(|n| n.status != Some(NodeState::Offline))
            .filter_map(|n| {
                let heard = n.heard_ms.max(since);
                (now_ms - heard > limit).then(|| (n.node.clone(), n.heard_ms))
            })
            .collect();
        let mut changes = Vec::new();
        for (node, heard_ms) in silent {
            let last = super::time_text(heard_ms);
            changes.extend(self.raise_offline(&node, heard_ms, &format!("silent since {last}")));
        }
        for node in self.nodes.values_mut() {
            node.online = node.status != Some(NodeState::Offline) && now_ms - node.heard_ms.max(since) <= limit;
        }
        changes
    }

    /// The building of an alert's subject: the building itself, or the camera's.
    fn building_of(&self, site: &str, node: &str, subject: &str, kind: Option<AlertKind>) -> Option<String> {
        match kind {
            Some(AlertKind::OverCapacity | AlertKind::BackUnderCapacity) => Some(format!("{site}/{subject}")),
            _ => self.camera_building.get(&(node.to_string(), subject.to_string())).cloned(),
        }
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeView> {
        self.nodes.values()
    }

    pub fn buildings(&self) -> impl Iterator<Item = &BuildingView> {
        self.buildings.values()
    }

    /// The open incidents.
    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    /// Open incidents by kind.
    pub fn open_by_kind(&self) -> BTreeMap<String, u64> {
        let mut by_kind = BTreeMap::new();
        for incident in self.open.values() {
            *by_kind.entry(incident.kind.clone()).or_default() += 1;
        }
        by_kind
    }
}

/// Which of the console's inputs a topic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Topic {
    Alert,
    Status,
    Ack,
    Building,
    Other,
}

impl Topic {
    fn of(topic: &str) -> Self {
        let Some(rest) = topic.strip_prefix(lintel_wire::TOPIC_ROOT).and_then(|r| r.strip_prefix('/')) else {
            return Topic::Other;
        };
        let levels: Vec<&str> = rest.split('/').collect();
        match levels.as_slice() {
            [_, "alerts"] => Topic::Alert,
            [_, "node", _, "status"] => Topic::Status,
            [_, "node", _, "alert_ack", _, _] => Topic::Ack,
            [_, "building", _, "counts" | "occupancy"] => Topic::Building,
            _ => Topic::Other,
        }
    }
}

/// `text` with every address (`rtsp://…`, any `scheme://…`) replaced by `[address hidden]`.
fn without_addresses(text: &str) -> String {
    text.split(' ')
        .map(|word| if word.contains("://") { "[address hidden]" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a payload that did not parse was refused: another message's schema, or not one at all.
fn schema_problem(payload: &[u8], expected_prefix: &str) -> BadInput {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(value) => match value.get("schema").and_then(|s| s.as_str()) {
            Some(schema) if !schema.starts_with(expected_prefix) => BadInput::UnknownSchema,
            _ => BadInput::Malformed,
        },
        Err(_) => BadInput::Malformed,
    }
}

/// An id unfit to show or to key by: empty, over 128 characters, or with a control character.
fn id_problem(id: &str) -> bool {
    crate::density::ingest::id_problem(id).is_some()
}

fn kind_problem(kind: &str) -> bool {
    kind.is_empty() || kind.len() > 64 || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALERTS: &str = "lintel/v1/s1/alerts";
    const STATUS: &str = "lintel/v1/s1/node/n1/status";

    fn alert(seq: u64, at_s: i64, kind: &str, subject: &str) -> Vec<u8> {
        json!({"schema": "lintel.alert/1", "site": "s1", "node": "n1", "seq": seq,
               "at": UtcTime::from_unix_seconds(at_s), "kind": kind, "subject": subject, "message": "m"})
        .to_string()
        .into_bytes()
    }

    fn status(seq: u64, state: &str, cameras: &[(&str, &str)]) -> Vec<u8> {
        let cameras: Vec<_> = cameras.iter().map(|(id, s)| json!({"id": id, "state": s})).collect();
        json!({"schema": "lintel.node_status/1", "site": "s1", "node": "n1", "seq": seq,
               "at": UtcTime::from_unix_seconds(1_000), "state": state, "cameras": cameras, "version": "0.1.0"})
        .to_string()
        .into_bytes()
    }

    fn picture() -> OperationsPicture {
        OperationsPicture::new(ConsoleConfig { offline_after_ms: 10_000, ..ConsoleConfig::default() })
    }

    #[test]
    fn a_start_and_its_end_are_one_incident_with_its_duration() {
        let mut p = picture();
        let raised = p.take(ALERTS, &alert(5, 1_000, "camera_offline", "cam-1"), false, 0);
        let [Change::Raised(incident)] = raised.as_slice() else { panic!("{raised:?}") };
        assert_eq!(
            (incident.kind.as_str(), incident.started_ms, incident.ended.is_none()),
            ("camera_offline", 1_000_000, true)
        );
        // Again (the node restarted with the camera still down), or redelivered: still one.
        assert!(p.take(ALERTS, &alert(6, 1_010, "camera_offline", "cam-1"), false, 0).is_empty());
        assert!(p.take(ALERTS, &alert(5, 1_000, "camera_offline", "cam-1"), false, 0).is_empty());
        // The end of another camera's condition ends nothing here: shown as an ended one-off.
        let other = p.take(ALERTS, &alert(7, 1_020, "camera_back", "cam-2"), false, 0);
        assert!(matches!(other.as_slice(), [Change::Raised(i)] if i.ended.is_some()), "{other:?}");
        let ended = p.take(ALERTS, &alert(8, 1_090, "camera_back", "cam-1"), false, 0);
        let [Change::Ended { id, end }] = ended.as_slice() else { panic!("{ended:?}") };
        assert_eq!((*id, end.kind.as_str(), end.at_ms - incident.started_ms), (incident.id, "camera_back", 90_000));
        assert_eq!(p.open().count(), 0);
        // Moved and defocused are both ended by a restored view (the wire's rule).
        p.take(ALERTS, &alert(9, 2_000, "camera_moved", "cam-1"), false, 0);
        let ended = p.take(ALERTS, &alert(10, 2_005, "camera_view_restored", "cam-1"), false, 0);
        assert!(matches!(ended.as_slice(), [Change::Ended { .. }]), "{ended:?}");
        // A one-off and a kind from a newer node are shown, over when they start.
        for kind in ["clock_jump", "camera_on_fire"] {
            let shown = p.take(ALERTS, &alert(20 + kind.len() as u64, 3_000, kind, "n1"), false, 0);
            assert!(
                matches!(shown.as_slice(), [Change::Raised(i)] if i.ended.is_some() && i.kind == kind),
                "{shown:?}"
            );
        }
    }

    #[test]
    fn a_will_or_a_silence_is_node_offline_until_the_node_is_heard_again() {
        let mut p = picture();
        p.take(STATUS, &status(3, "online", &[("cam-1", "live")]), false, 0);
        let node = p.nodes().next().unwrap();
        assert_eq!((node.online, node.version.as_deref(), node.cameras.len()), (true, Some("0.1.0"), 1));
        // The last will.
        let will = p.take(STATUS, &status(2, "offline", &[]), false, 1_000);
        let [Change::Raised(incident)] = will.as_slice() else { panic!("{will:?}") };
        assert_eq!((incident.kind.as_str(), incident.seq, incident.subject.as_str()), (NODE_OFFLINE, 2, "n1"));
        assert!(!p.nodes().next().unwrap().online);
        assert!(p.tick(60_000, Some(0)).is_empty(), "already offline");
        let back = p.take(STATUS, &status(4, "online", &[]), false, 61_000);
        assert!(matches!(back.as_slice(), [Change::Ended { end, .. }] if end.kind == NODE_BACK), "{back:?}");
        // Silence: nothing while the console itself is not listening, or not long enough.
        assert!(p.tick(200_000, None).is_empty());
        assert!(p.tick(70_000, Some(0)).is_empty());
        let silent = p.tick(72_000, Some(0));
        assert!(
            matches!(silent.as_slice(), [Change::Raised(i)] if i.kind == NODE_OFFLINE && i.started_ms == 61_000),
            "{silent:?}"
        );
        // A console that connected late measures from its connection.
        let mut late = picture();
        late.take(STATUS, &status(3, "online", &[]), true, 0);
        assert!(late.tick(15_000, Some(14_000)).is_empty());
        // Heard again (counts, say): back.
        let counts = json!({"schema": "lintel.counts/1", "site": "s1", "building": "hall", "node": "n1", "seq": 8,
            "interval": {"start": UtcTime::from_unix_seconds(0), "end": UtcTime::from_unix_seconds(60)},
            "entries": 0, "exits": 0, "occupancy": 0, "entrances": []});
        let heard = p.take("lintel/v1/s1/building/hall/counts", counts.to_string().as_bytes(), false, 73_000);
        assert!(matches!(heard.as_slice(), [Change::Ended { end, .. }] if end.kind == NODE_BACK), "{heard:?}");
        assert!(!p.tick(74_000, Some(0)).iter().any(|c| matches!(c, Change::Raised(_))));
        assert!(matches!(p.tick(84_000, Some(0)).as_slice(), [Change::Raised(_)]), "silent again");
        let heard = p.take(ALERTS, &alert(9, 80, "clock_jump", "n1"), false, 80_000);
        assert!(heard.iter().any(|c| matches!(c, Change::Ended { end, .. } if end.kind == NODE_BACK)), "{heard:?}");
    }

    #[test]
    fn garbage_is_counted_and_ignored_and_memory_is_bounded() {
        let mut p = OperationsPicture::new(ConsoleConfig {
            offline_after_ms: 10_000,
            limits: Limits { nodes: 2, cameras: 3, cameras_per_node: 2, buildings: 1, open_incidents: 1 },
        });
        assert!(p.take(ALERTS, b"not json", false, 0).is_empty());
        assert!(p.take(ALERTS, &vec![b' '; MAX_MESSAGE_BYTES + 1], false, 0).is_empty());
        assert!(p.take(STATUS, br#"{"schema":"lintel.counts/1"}"#, false, 0).is_empty());
        assert!(p.take("lintel/v1/s2/alerts", &alert(1, 0, "camera_offline", "c"), false, 0).is_empty());
        assert!(p.take(ALERTS, &alert(1, 0, "camera_offline", "bad\nid"), false, 0).is_empty());
        let c = &p.counters.bad_input;
        assert_eq!(
            (c["malformed"], c["too_large"], c["unknown_schema"], c["topic_mismatch"], c["bad_id"]),
            (1, 1, 1, 1, 1)
        );
        // Cameras: two a node, three in all.
        p.take(STATUS, &status(3, "online", &[("a", "live"), ("b", "live"), ("c", "failed")]), false, 0);
        assert_eq!(p.counters.dropped_cameras, 1);
        let other = String::from_utf8(status(3, "online", &[("d", "live"), ("e", "live")]).to_vec()).unwrap();
        p.take("lintel/v1/s1/node/n2/status", other.replace("\"n1\"", "\"n2\"").as_bytes(), false, 0);
        assert_eq!((p.counters.dropped_cameras, p.nodes().map(|n| n.cameras.len()).sum::<usize>()), (2, 3));
        let third = other.replace("\"n1\"", "\"n3\"");
        p.take("lintel/v1/s1/node/n3/status", third.as_bytes(), false, 0);
        assert_eq!((p.counters.dropped_nodes, p.nodes().count()), (1, 2));
        // One open incident at most.
        p.take(ALERTS, &alert(10, 0, "camera_offline", "a"), false, 0);
        p.take(ALERTS, &alert(11, 0, "camera_offline", "b"), false, 0);
        assert_eq!((p.open().count(), p.counters.dropped_incidents), (1, 1));
    }

    #[test]
    fn buildings_show_occupancy_capacity_completeness_and_their_cameras() {
        let mut p = picture();
        let occupancy = json!({"schema": "lintel.occupancy/1", "site": "s1", "building": "hall", "node": "n1", "seq": 1,
            "at": UtcTime::from_unix_seconds(100), "occupancy": 7, "capacity": 5});
        p.take("lintel/v1/s1/building/hall/occupancy", occupancy.to_string().as_bytes(), true, 0);
        let counts = json!({"schema": "lintel.counts/1", "site": "s1", "building": "hall", "node": "n1", "seq": 2,
            "interval": {"start": UtcTime::from_unix_seconds(60), "end": UtcTime::from_unix_seconds(120)},
            "entries": 1, "exits": 0, "occupancy": 8,
            "entrances": [{"id": "door", "entries": 1, "exits": 0, "cameras": ["cam-1"], "healthy": false}]});
        p.take("lintel/v1/s1/building/hall/counts", counts.to_string().as_bytes(), false, 0);
        let b = p.buildings().next().unwrap();
        assert_eq!((b.occupancy, b.capacity, b.complete), (Some(8), Some(5), Some(false)));
        let raised = p.take(ALERTS, &alert(3, 130, "camera_offline", "cam-1"), false, 0);
        assert!(
            matches!(raised.as_slice(), [Change::Raised(i)] if i.building.as_deref() == Some("s1/hall")),
            "{raised:?}"
        );
    }

    #[test]
    fn an_alert_message_shows_no_camera_address() {
        assert_eq!(
            without_addresses("camera walkway is offline: rtsp://u:p@10.0.0.7/s: cannot connect"),
            "camera walkway is offline: [address hidden] cannot connect"
        );
    }

    #[test]
    fn a_status_of_another_version_is_shown_not_dropped() {
        let mut p = picture();
        let newer = json!({"schema": "lintel.node_status/2", "site": "s1", "node": "n1", "seq": 4,
            "at": UtcTime::from_unix_seconds(1_000), "state": "online", "uptime_s": 5,
            "cameras": [{"id": "cam-1", "state": "live", "fps": 5}, {"id": "cam-2", "state": "sleeping"}]});
        p.take(STATUS, newer.to_string().as_bytes(), false, 0);
        let node = p.nodes().next().expect("shown");
        let states: Vec<_> = node.cameras.iter().map(|c| c.state.name()).collect();
        assert_eq!((node.status_seq, states), (Some(4), vec!["live", "failed"]));
        assert!(p.counters.bad_input.is_empty());
    }

    #[test]
    fn acknowledgements_are_read_from_their_own_topic_only() {
        let mut p = picture();
        let ack = AlertAck {
            site: "s1".into(),
            node: "n1".into(),
            kind: "camera_offline".into(),
            seq: 5,
            subject: None,
            by: "Li".into(),
            note: None,
            at: UtcTime::from_unix_seconds(5),
            source: None,
        };
        let topic = ack.topic().unwrap();
        assert_eq!(p.take(&topic, &ack.to_json(), true, 0), vec![Change::Acked(ack.clone())]);
        assert!(p.take("lintel/v1/s1/node/n1/alert_ack/camera_offline/6", &ack.to_json(), true, 0).is_empty());
        assert_eq!(p.counters.bad_input["topic_mismatch"], 1);
        assert_eq!(incident_id("n1", "camera_offline", 5), incident_id("n1", "camera_offline", 5));
        assert_ne!(incident_id("n1", "camera_offline", 5), incident_id("n1", "camera_offline", 6));
        assert!(incident_id("n1", "x", u64::MAX) < (1 << 53));
    }
}
