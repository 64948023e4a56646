//! The operators' board: what the dashboard shows, fed by the node.
//!
//! The node shows it every message it makes ([`OperatorBoard::record`]): building intervals go to
//! the [`History`], alerts become board alerts that stay *active* until the node sends the alert
//! that ends them (`AlertKind::ended_by`: the same pairing any reader of MQTT makes) and
//! *unacknowledged* until an operator acknowledges them. The board decides nothing about alerts:
//! the node alone says when one starts and ends, so the dashboard shows what MQTT says. A
//! watcher thread measures each camera's analysed frame rate from the node's metrics once a
//! second. Changes go out to live pages through a broadcast channel.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use lintel_calibration::site::Site;
use serde::Serialize;
use tokio::sync::broadcast;

use super::history::{AlertRow, History, HistoryError, IntervalRow, now_unix};
use crate::ingest::CameraStateKind;
use crate::live::metrics::{NodeMetrics, Snapshot};
use crate::live::{AuditEntry, AuditKeeper};
use crate::publish::{AlertKind, Message, RetainedSender, UtcTime};
use lintel_wire::AlertAck;

/// How often the watcher measures frame rates.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How many alerts a page gets.
pub const ALERTS_SHOWN: usize = 200;
/// How many changes a slow live page may lag before it is told to reload the list.
const EVENTS_BUFFERED: usize = 256;

/// A change a live page shows.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BoardEvent {
    /// A new alert, or one cleared or acknowledged.
    Alert(AlertRow),
    /// A building interval closed.
    Interval { building: String, interval: IntervalRow },
}

/// What the board knows of the site.
#[derive(Clone, Debug, Serialize)]
pub struct SiteView {
    pub site: String,
    pub site_name: Option<String>,
    pub node: String,
    /// The IANA time zone the pages show times in (`None`: the browser's).
    pub time_zone: Option<String>,
    /// Whether operators may see a blurred still of each camera (`--operator-stills`).
    pub stills: bool,
    pub buildings: Vec<BuildingView>,
    pub cameras: Vec<CameraView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BuildingView {
    pub id: String,
    pub name: Option<String>,
    pub capacity: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CameraView {
    pub id: String,
    pub entrance: String,
    pub building: Option<String>,
}

impl SiteView {
    pub fn of(site: &Site) -> Self {
        Self {
            site: site.id.clone(),
            site_name: site.name.clone(),
            node: site.node.clone(),
            time_zone: site.time_zone.clone(),
            stills: false,
            buildings: site
                .buildings
                .iter()
                .map(|b| BuildingView { id: b.id.clone(), name: b.name.clone(), capacity: b.capacity.map(u64::from) })
                .collect(),
            cameras: site
                .cameras
                .iter()
                .map(|c| CameraView {
                    id: c.id.clone(),
                    entrance: c.entrance.clone(),
                    building: site.entrances.iter().find(|e| e.id == c.entrance).map(|e| e.building.clone()),
                })
                .collect(),
        }
    }
}

/// A camera's health as the dashboard shows it: one word, tamper before "live".
#[derive(Clone, Debug, Serialize)]
pub struct CameraHealth {
    pub id: String,
    pub entrance: String,
    pub building: Option<String>,
    /// `starting`, `live`, `retrying`, `offline`, `failed`, `blinded`, `defocused` or `moved`.
    /// `offline`: the node said so (its `camera_offline` alert is on: no frame for its grace);
    /// before that a camera whose stream broke reads `retrying`.
    pub health: &'static str,
    /// Since when (unix seconds) it is offline, or without frames.
    pub since: Option<i64>,
    pub last_frame_age_s: Option<f64>,
    /// Frames analysed per second over the last few seconds.
    pub analysed_fps: f64,
}

/// A building's current numbers.
#[derive(Clone, Debug, Serialize)]
pub struct BuildingNow {
    pub id: String,
    pub name: Option<String>,
    pub capacity: Option<u64>,
    pub occupancy: u64,
    pub over_capacity: bool,
    /// The last closed interval.
    pub last_interval: Option<IntervalRow>,
    /// Its numbers miss what some entrance saw: one of its cameras is not counting, or its last
    /// interval was published `healthy: false`.
    pub incomplete: bool,
    /// Its cameras that are not counting now.
    pub unhealthy_cameras: Vec<String>,
}

/// The broker link and the spool.
#[derive(Clone, Debug, Serialize)]
pub struct LinkNow {
    pub mqtt_connected: bool,
    pub spool_messages: usize,
    pub spool_bytes: u64,
    pub spool_fill: f64,
    pub messages_held: usize,
}

/// Everything the dashboard's top half shows, now.
#[derive(Clone, Debug, Serialize)]
pub struct Overview {
    pub site: String,
    pub site_name: Option<String>,
    pub node: String,
    /// Unix seconds.
    pub now: i64,
    pub buildings: Vec<BuildingNow>,
    pub cameras: Vec<CameraHealth>,
    pub link: LinkNow,
}

/// One bucket of a building's chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bucket {
    pub start: i64,
    pub entries: u64,
    pub exits: u64,
    /// Occupancy at the end of the bucket's last interval.
    pub occupancy: u64,
    /// Every interval in it was published `healthy: true`.
    pub healthy: bool,
}

/// The board; shared by the node (writer) and the pages (readers).
pub struct OperatorBoard {
    site: SiteView,
    metrics: Arc<NodeMetrics>,
    history: Mutex<History>,
    /// The last interval of each building, for the overview without a query.
    last_intervals: Mutex<HashMap<String, IntervalRow>>,
    /// Each camera's analysed frame rate, with the count and time it was measured from.
    rates: Mutex<HashMap<String, FrameRate>>,
    events: broadcast::Sender<BoardEvent>,
    /// A history write failed: logged once until one succeeds.
    failing: std::sync::atomic::AtomicBool,
    /// Where acknowledgements made here are published for consoles (none: they stay here).
    acks_out: Mutex<Option<RetainedSender>>,
    /// The pages offer blurred stills (`--operator-stills`).
    stills: std::sync::atomic::AtomicBool,
}

/// The role an acknowledgement made on a console is recorded with.
pub const CONSOLE_ROLE: &str = "console";

#[derive(Clone, Copy, Debug)]
struct FrameRate {
    frames: u64,
    at: Instant,
    fps: f64,
}

impl std::fmt::Debug for OperatorBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorBoard").field("site", &self.site.site).finish_non_exhaustive()
    }
}

impl OperatorBoard {
    /// A board for `site`, keeping its history in `history` (SQLite), reading the node's
    /// `metrics`. Starts the watcher thread, which ends when the board is dropped.
    pub fn open(
        site: &Site,
        metrics: Arc<NodeMetrics>,
        history: &Path,
        retention: Duration,
    ) -> Result<Arc<Self>, HistoryError> {
        Ok(Self::with_history(site, metrics, History::open(history, retention)?))
    }

    pub fn with_history(site: &Site, metrics: Arc<NodeMetrics>, history: History) -> Arc<Self> {
        let site = SiteView::of(site);
        let mut last_intervals = HashMap::new();
        let now = now_unix();
        for building in &site.buildings {
            let since = now - history.retention().as_secs() as i64;
            if let Ok(rows) = history.intervals(&building.id, since, i64::MAX)
                && let Some(last) = rows.last()
            {
                last_intervals.insert(building.id.clone(), last.clone());
            }
        }
        let board = Arc::new(Self {
            site,
            metrics,
            history: Mutex::new(history),
            last_intervals: Mutex::new(last_intervals),
            rates: Mutex::new(HashMap::new()),
            events: broadcast::channel(EVENTS_BUFFERED).0,
            failing: Default::default(),
            acks_out: Mutex::new(None),
            stills: Default::default(),
        });
        let weak = Arc::downgrade(&board);
        if let Err(error) = std::thread::Builder::new().name("lintel-board".into()).spawn(move || watch(weak)) {
            tracing::error!("cannot start the dashboard's watcher: {error}; alerts clear only when acknowledged");
        }
        board
    }

    /// The site as the pages read it, with whether stills are offered.
    pub fn site(&self) -> SiteView {
        SiteView { stills: self.stills.load(std::sync::atomic::Ordering::Relaxed), ..self.site.clone() }
    }

    /// Tells the pages that blurred stills are served (`--operator-stills`).
    pub fn offer_stills(&self) {
        self.stills.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Live changes, for a page's event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<BoardEvent> {
        self.events.subscribe()
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs a failed history write once until one succeeds; the node goes on without it.
    fn wrote<T>(&self, result: Result<T, HistoryError>) -> Option<T> {
        use std::sync::atomic::Ordering;
        match result {
            Ok(value) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the dashboard's history is written again");
                }
                Some(value)
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!("{error}; the dashboard misses what happens until it can write again");
                }
                None
            }
        }
    }

    /// Takes in a message the node made.
    pub fn record(&self, message: &Message) {
        match message {
            Message::Counts(counts) => {
                let row = IntervalRow {
                    start: counts.interval.start.unix_seconds(),
                    end: counts.interval.end.unix_seconds(),
                    entries: counts.entries,
                    exits: counts.exits,
                    occupancy: counts.occupancy,
                    healthy: counts.entrances.iter().all(|e| e.healthy),
                };
                let written = self.history().record_interval(&counts.building, &row);
                self.wrote(written);
                self.last_intervals
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(counts.building.clone(), row.clone());
                let _ = self.events.send(BoardEvent::Interval { building: counts.building.clone(), interval: row });
            }
            Message::Alert(alert) => self.raise(alert.kind, &alert.subject, &alert.message, alert.at.unix_seconds()),
            Message::Occupancy(_) | Message::NodeStatus(_) => {}
        }
    }

    fn raise(&self, kind: AlertKind, subject: &str, message: &str, at: i64) {
        let name = kind.name();
        let message = without_addresses(message);
        let mut changed = Vec::new();
        let mut ended_id = None;
        {
            let mut history = self.history();
            let active = self.wrote(history.active_alerts()).unwrap_or_default();
            // The alerts this one ends.
            let ends = |row: &AlertRow| AlertKind::from_name(&row.kind).is_some_and(|on| kind.ends(on));
            for ended in active.iter().filter(|a| a.subject == subject && ends(a)) {
                if self.wrote(history.clear_alert(ended.id, at)).is_some()
                    && let Some(Some(row)) = self.wrote(history.alert(ended.id))
                {
                    ended_id.get_or_insert(row.id);
                    changed.push(row);
                }
            }
            // Already on (a node restarted while it was): one alert, not two.
            let repeated = active.iter().any(|a| a.kind == name && a.subject == subject);
            if !repeated {
                // An end, or a one-off event, has no condition to wait for.
                let cleared = !kind.is_condition();
                if let Some(row) = self.wrote(history.record_alert(name, subject, &message, at, cleared, ended_id)) {
                    changed.push(row);
                }
            }
        }
        for row in changed {
            let _ = self.events.send(BoardEvent::Alert(row));
        }
    }

    /// Records an operator's acknowledgement with their `note`; `None` if there is no such alert.
    /// Published for consoles (retained, on the incident's topic) once the alert's `seq` is known.
    pub fn acknowledge(&self, id: i64, by: &str, role: &str, note: &str) -> Result<Option<AlertRow>, HistoryError> {
        let row = self.history().acknowledge(id, by, role, note, now_unix())?;
        if let Some(row) = &row {
            tracing::info!(alert = id, kind = %row.kind, subject = %row.subject, role, "alert acknowledged by {by}");
            let _ = self.events.send(BoardEvent::Alert(row.clone()));
            self.publish_ack(row);
        }
        Ok(row)
    }

    /// Publishes the acknowledgements made on this node through `sender` from now on, and again
    /// those of the recent alerts (retained and idempotent: a restart loses none that was queued).
    pub fn publish_acks_with(&self, sender: RetainedSender) {
        *self.acks_out.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
        for row in self.wrote(self.history().recent_alerts(ALERTS_SHOWN)).unwrap_or_default() {
            self.publish_ack(&row);
        }
    }

    /// Takes in a message the spool took, with its `seq`: an alert's row learns the incident's name.
    pub fn record_spooled(&self, message: &Message) {
        let Message::Alert(alert) = message else { return };
        let Ok(seq) = i64::try_from(alert.seq) else { return };
        let set = self.history().set_seq(alert.kind.name(), &alert.subject, alert.at.unix_seconds(), seq);
        // Acknowledged before the spool took it (a spool that refused for a while): published now.
        if let Some(Some(row)) = self.wrote(set) {
            self.publish_ack(&row);
        }
    }

    /// Shows an acknowledgement made on a console (checked by the node's reader): the earliest
    /// one of an incident stands, as on every console. One of an incident this node does not
    /// know (its history was lost, or the console's own `node_offline`) is ignored. Returns the
    /// alert when this changed it (for the audit trail).
    pub fn record_remote_ack(&self, ack: &AlertAck) -> Option<AlertRow> {
        if ack.source.as_deref() == Some(self.site.node.as_str()) {
            return None;
        }
        let Ok(seq) = i64::try_from(ack.seq) else { return None };
        let changed = {
            let mut history = self.history();
            match self.wrote(history.alert_by_seq(&ack.kind, seq)) {
                Some(Some(row)) => {
                    let note = ack.note.as_deref().unwrap_or("");
                    self.wrote(history.acknowledge_earliest(row.id, &ack.by, CONSOLE_ROLE, note, ack.at.unix_seconds()))
                        .flatten()
                }
                _ => {
                    tracing::debug!(kind = %ack.kind, seq = ack.seq, "an acknowledgement of an incident this node does not know");
                    None
                }
            }
        };
        if let Some(row) = &changed {
            let _ = self.events.send(BoardEvent::Alert(row.clone()));
        }
        changed
    }

    /// Publishes `row`'s acknowledgement if it was made here and its `seq` is known.
    fn publish_ack(&self, row: &AlertRow) {
        let (Some(seq), Some(by), Some(at)) = (row.seq, &row.acked_by, row.acked_at) else { return };
        if row.acked_role.as_deref() == Some(CONSOLE_ROLE) {
            return;
        }
        let Some(sender) = self.acks_out.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let ack = AlertAck {
            site: self.site.site.clone(),
            node: self.site.node.clone(),
            kind: row.kind.clone(),
            seq: seq as u64,
            subject: Some(row.subject.clone()),
            by: by.clone(),
            note: row.acked_note.clone().filter(|n| !n.is_empty()),
            at: UtcTime::from_unix_seconds(at),
            source: Some(self.site.node.clone()),
        };
        match (ack.check(), ack.topic()) {
            (Ok(()), Ok(topic)) => sender.send(topic, ack.to_json()),
            (Err(why), _) => tracing::warn!(alert = row.id, "the acknowledgement cannot be published: {why}"),
            (_, Err(why)) => tracing::warn!(alert = row.id, "the acknowledgement cannot be published: {why}"),
        }
    }

    /// The newest alerts, newest first.
    pub fn alerts(&self) -> Result<Vec<AlertRow>, HistoryError> {
        self.history().recent_alerts(ALERTS_SHOWN)
    }

    /// The dashboard's numbers now.
    pub fn overview(&self) -> Overview {
        let snapshot = self.metrics.snapshot();
        let last = self.last_intervals.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let rates = self.rates.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let now = now_unix();
        // The node says when a camera is offline (its alert): the board only shows it.
        let active = self.wrote(self.history().active_alerts()).unwrap_or_default();
        let offline_since = |camera: &str| {
            active.iter().find(|a| a.kind == AlertKind::CameraOffline.name() && a.subject == camera).map(|a| a.at)
        };
        let cameras: Vec<CameraHealth> = self
            .site
            .cameras
            .iter()
            .map(|c| {
                let metrics = snapshot.cameras.iter().find(|m| m.id == c.id);
                let last_frame_age_s = metrics.and_then(|m| m.last_frame_age_s);
                let without_frames_since = last_frame_age_s.map(|age| now - age.round() as i64);
                let (health, since) = match (offline_since(&c.id), metrics) {
                    (Some(at), _) => ("offline", Some(at)),
                    (None, None) => ("starting", None),
                    (None, Some(m)) => match m.state {
                        CameraStateKind::Live if m.blinded => ("blinded", None),
                        CameraStateKind::Live if m.moved => ("moved", None),
                        CameraStateKind::Live if m.defocused => ("defocused", None),
                        CameraStateKind::Live => ("live", None),
                        state => (state.name(), without_frames_since),
                    },
                };
                CameraHealth {
                    id: c.id.clone(),
                    entrance: c.entrance.clone(),
                    building: c.building.clone(),
                    health,
                    since,
                    last_frame_age_s,
                    analysed_fps: rates.get(&c.id).map_or(0.0, |r| r.fps),
                }
            })
            .collect();
        let buildings = self
            .site
            .buildings
            .iter()
            .map(|b| {
                let unhealthy_cameras: Vec<String> = cameras
                    .iter()
                    .filter(|c| c.building.as_deref() == Some(&b.id) && !counting(c.health))
                    .map(|c| c.id.clone())
                    .collect();
                let last_interval = last.get(&b.id).cloned();
                let incomplete = !unhealthy_cameras.is_empty() || last_interval.as_ref().is_some_and(|r| !r.healthy);
                let occupancy = snapshot
                    .buildings
                    .iter()
                    .find(|m| m.id == b.id)
                    .map(|m| m.occupancy)
                    .or_else(|| last.get(&b.id).map(|r| r.occupancy))
                    .unwrap_or(0);
                BuildingNow {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    capacity: b.capacity,
                    occupancy,
                    over_capacity: b.capacity.is_some_and(|c| occupancy > c),
                    last_interval,
                    incomplete,
                    unhealthy_cameras,
                }
            })
            .collect();
        Overview {
            site: self.site.site.clone(),
            site_name: self.site.site_name.clone(),
            node: self.site.node.clone(),
            now,
            buildings,
            cameras,
            link: LinkNow {
                mqtt_connected: snapshot.mqtt_connected,
                spool_messages: snapshot.spool_messages,
                spool_bytes: snapshot.spool_bytes,
                spool_fill: snapshot.spool_fill,
                messages_held: snapshot.messages_held,
            },
        }
    }

    /// Each building's intervals from `from` (unix seconds) to now, summed into buckets of
    /// `bucket_s` seconds, oldest first.
    pub fn history_buckets(&self, from: i64, bucket_s: i64) -> Result<Vec<(String, Vec<Bucket>)>, HistoryError> {
        let bucket_s = bucket_s.max(60);
        let history = self.history();
        self.site
            .buildings
            .iter()
            .map(|b| {
                let rows = history.intervals(&b.id, from, i64::MAX)?;
                let mut buckets: Vec<Bucket> = Vec::new();
                for row in rows {
                    let start = row.start.div_euclid(bucket_s) * bucket_s;
                    match buckets.last_mut() {
                        Some(bucket) if bucket.start == start => {
                            bucket.entries += row.entries;
                            bucket.exits += row.exits;
                            bucket.occupancy = row.occupancy;
                            bucket.healthy &= row.healthy;
                        }
                        _ => buckets.push(Bucket {
                            start,
                            entries: row.entries,
                            exits: row.exits,
                            occupancy: row.occupancy,
                            healthy: row.healthy,
                        }),
                    }
                }
                Ok((b.id.clone(), buckets))
            })
            .collect()
    }

    /// Measures each camera's analysed frame rate from the node's frame counters.
    pub fn measure_rates(&self, snapshot: &Snapshot) {
        let now = Instant::now();
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        for camera in &snapshot.cameras {
            let rate = rates.entry(camera.id.clone()).or_insert(FrameRate {
                frames: camera.frames_analysed,
                at: now,
                fps: 0.0,
            });
            let elapsed = now.saturating_duration_since(rate.at).as_secs_f64();
            // Measured over at least 3 s, smoothed: a steady number, not a jittery one.
            if elapsed >= 3.0 {
                let fps = camera.frames_analysed.saturating_sub(rate.frames) as f64 / elapsed;
                rate.fps = if rate.fps == 0.0 { fps } else { 0.5 * rate.fps + 0.5 * fps };
                rate.frames = camera.frames_analysed;
                rate.at = now;
            }
        }
    }
}

/// Whether a camera in `health` counts what passes (a defocused one still does, less well).
fn counting(health: &str) -> bool {
    matches!(health, "live" | "defocused")
}

/// An alert's text with every address (`rtsp://user:pass@host/…`, any `scheme://…`) replaced:
/// an operator never reads a camera's URL or the credentials in it.
pub fn without_addresses(text: &str) -> String {
    text.split(' ')
        .map(|word| if word.contains("://") { "[address hidden]" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The watcher: every second while the board lives.
fn watch(board: Weak<OperatorBoard>) {
    loop {
        std::thread::sleep(WATCH_EVERY);
        let Some(board) = board.upgrade() else { return };
        let snapshot = board.metrics.snapshot();
        board.measure_rates(&snapshot);
    }
}

/// The audit trail kept in the board's history file, so it survives restarts.
impl AuditKeeper for OperatorBoard {
    fn keep(&self, entry: &AuditEntry) {
        let result = self.history().record_audit(entry);
        self.wrote(result);
    }

    fn recent(&self, n: usize) -> Vec<AuditEntry> {
        let result = self.history().recent_audit(n);
        self.wrote(result).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{BuildingMetrics, CameraMetrics};
    use crate::publish::{Alert, UtcTime};

    const SITE: &str = r#"
        [site]
        id = "s1"
        node = "edge-01"
        [[building]]
        id = "hall"
        capacity = 5
        [[entrance]]
        id = "door"
        building = "hall"
        [[camera]]
        id = "cam-1"
        entrance = "door"
        url = "rtsp://127.0.0.1:8554/x"
    "#;

    fn board() -> Arc<OperatorBoard> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.toml");
        std::fs::write(&path, SITE).unwrap();
        let site = Site::load(&path).unwrap();
        OperatorBoard::with_history(
            &site,
            Arc::new(NodeMetrics::default()),
            History::in_memory(Duration::from_secs(86_400)).unwrap(),
        )
    }

    fn alert(kind: AlertKind, subject: &str, at: i64) -> Message {
        Message::from(Alert {
            site: "s1".into(),
            node: "edge-01".into(),
            seq: Default::default(),
            at: UtcTime::from_unix_seconds(at),
            kind,
            subject: subject.into(),
            message: format!("{kind:?}"),
        })
    }

    fn live_camera(blinded: bool) -> CameraMetrics {
        CameraMetrics {
            id: "cam-1".into(),
            state: CameraStateKind::Live,
            blinded,
            last_frame_age_s: Some(0.1),
            ..Default::default()
        }
    }

    #[test]
    fn camera_back_clears_camera_offline_and_a_repeat_does_not_make_a_second_alert() {
        let board = board();
        let mut events = board.subscribe();
        let t = now_unix();
        board.record(&alert(AlertKind::CameraOffline, "cam-1", t));
        board.record(&alert(AlertKind::CameraOffline, "cam-1", t + 1));
        let alerts = board.alerts().unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].cleared_at, None);
        board.record(&alert(AlertKind::CameraBack, "cam-1", t + 9));
        let alerts = board.alerts().unwrap();
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert_eq!(alerts[1].kind, "camera_offline");
        assert_eq!(alerts[1].cleared_at, Some(t + 9));
        assert_eq!(alerts[0].kind, "camera_back");
        assert!(alerts[0].cleared_at.is_some(), "a return to normal is shown cleared");
        // One incident: the end names the alert it ended, which has its end and duration.
        assert_eq!(alerts[0].ends, Some(alerts[1].id));
        assert_eq!((alerts[1].ended_at, alerts[1].duration_s), (Some(t + 9), Some(9)));
        assert_eq!((alerts[0].ended_at, alerts[0].duration_s), (None, None));
        let mut seen = Vec::new();
        while let Ok(BoardEvent::Alert(row)) = events.try_recv() {
            seen.push((row.kind, row.cleared_at.is_some()));
        }
        assert_eq!(
            seen,
            [("camera_offline".to_string(), false), ("camera_offline".into(), true), ("camera_back".into(), true)]
        );
    }

    #[test]
    fn blinded_and_over_capacity_clear_when_the_node_says_their_condition_is_over() {
        let board = board();
        let t = now_unix() - 10;
        board.record(&alert(AlertKind::CameraBlinded, "cam-1", t));
        board.record(&alert(AlertKind::OverCapacity, "hall", t));
        // What the metrics say does not end an alert: the node does (the board decides nothing).
        let back = Snapshot {
            cameras: vec![live_camera(false)],
            buildings: vec![BuildingMetrics { id: "hall".into(), occupancy: 5, capacity: Some(5) }],
            ..Default::default()
        };
        board.measure_rates(&back);
        assert!(board.alerts().unwrap().iter().all(|a| a.cleared_at.is_none()));
        // An end about another subject ends nothing.
        board.record(&alert(AlertKind::CameraSeesAgain, "cam-2", t + 1));
        assert_eq!(board.alerts().unwrap().iter().filter(|a| a.cleared_at.is_none()).count(), 2);
        board.record(&alert(AlertKind::CameraSeesAgain, "cam-1", t + 2));
        board.record(&alert(AlertKind::BackUnderCapacity, "hall", t + 3));
        let alerts = board.alerts().unwrap();
        let blinded = alerts.iter().find(|a| a.kind == "camera_blinded").unwrap();
        let over = alerts.iter().find(|a| a.kind == "over_capacity").unwrap();
        assert_eq!((blinded.cleared_at, over.cleared_at), (Some(t + 2), Some(t + 3)));
        assert!(alerts.iter().all(|a| a.cleared_at.is_some()), "{alerts:?}");
    }

    #[test]
    fn an_acknowledgement_says_who_and_is_sent_to_live_pages() {
        let board = board();
        board.record(&alert(AlertKind::ClockJump, "edge-01", now_unix()));
        let id = board.alerts().unwrap()[0].id;
        let mut events = board.subscribe();
        let row = board.acknowledge(id, "Li Wei", "operator", "clock fixed").unwrap().unwrap();
        assert_eq!(row.acked_by.as_deref(), Some("Li Wei"));
        assert_eq!(row.acked_note.as_deref(), Some("clock fixed"));
        assert!(matches!(events.try_recv(), Ok(BoardEvent::Alert(r)) if r.id == id && r.acked_at.is_some()));
        assert!(board.acknowledge(id + 100, "x", "operator", "").unwrap().is_none());
    }

    #[test]
    fn a_console_acknowledgement_finds_its_alert_by_seq_and_the_earliest_stands() {
        let board = board();
        let at = now_unix();
        let raised = alert(AlertKind::CameraOffline, "cam-1", at);
        board.record(&raised);
        let console_ack = |seq: u64, by: &str, at_s: i64, source: &str| AlertAck {
            site: "s1".into(),
            node: "edge-01".into(),
            kind: "camera_offline".into(),
            seq,
            subject: Some("cam-1".into()),
            by: by.into(),
            note: Some("cable".into()),
            at: UtcTime::from_unix_seconds(at_s),
            source: Some(source.into()),
        };
        // Before the spool gave the alert its seq, nothing names it.
        assert!(board.record_remote_ack(&console_ack(41, "Li", at + 5, "console-1")).is_none());
        let mut spooled = raised.clone();
        spooled.set_seq(41);
        board.record_spooled(&spooled);
        assert_eq!(board.alerts().unwrap()[0].seq, Some(41));
        assert!(board.record_remote_ack(&console_ack(40, "Li", at + 5, "console-1")).is_none(), "another seq");
        assert!(board.record_remote_ack(&console_ack(41, "Self", at, "edge-01")).is_none(), "its own, echoed");
        let row = board.record_remote_ack(&console_ack(41, "Li", at + 5, "console-1")).unwrap();
        assert_eq!(
            (row.acked_by.as_deref(), row.acked_role.as_deref(), row.acked_note.as_deref(), row.acked_at),
            (Some("Li"), Some(CONSOLE_ROLE), Some("cable"), Some(at + 5))
        );
        assert!(board.record_remote_ack(&console_ack(41, "Later", at + 9, "console-2")).is_none(), "a later one");
        let row = board.record_remote_ack(&console_ack(41, "Earlier", at + 1, "console-2")).unwrap();
        assert_eq!(row.acked_by.as_deref(), Some("Earlier"));
    }

    #[test]
    fn intervals_are_summed_into_chart_buckets_and_an_unhealthy_one_marks_its_bucket() {
        let board = board();
        let base = (now_unix() / 900) * 900 - 1800;
        for (offset, entries) in [(0, 1), (60, 2), (900, 4)] {
            let healthy = offset != 60;
            board.record(&Message::from(crate::publish::Counts {
                site: "s1".into(),
                building: "hall".into(),
                node: "edge-01".into(),
                seq: Default::default(),
                interval: crate::publish::IntervalBounds {
                    start: UtcTime::from_unix_seconds(base + offset),
                    end: UtcTime::from_unix_seconds(base + offset + 60),
                },
                entries,
                exits: 1,
                occupancy: entries,
                entrances: vec![crate::publish::EntranceSummary {
                    id: "door".into(),
                    entries,
                    exits: 1,
                    cameras: vec!["cam-1".into()],
                    healthy,
                }],
            }));
        }
        let buckets = board.history_buckets(base - 3600, 900).unwrap();
        assert_eq!(
            buckets[0].1,
            [
                Bucket { start: base, entries: 3, exits: 2, occupancy: 2, healthy: false },
                Bucket { start: base + 900, entries: 4, exits: 1, occupancy: 4, healthy: true }
            ]
        );
        assert_eq!(board.overview().buildings[0].last_interval.as_ref().map(|r| r.entries), Some(4));
    }

    #[test]
    fn a_camera_the_node_said_offline_reads_offline_since_then_and_its_building_incomplete() {
        let board = board();
        let overview = board.overview();
        assert_eq!(overview.cameras[0].health, "starting");
        assert!(overview.buildings[0].incomplete, "a camera not yet counting leaves its building incomplete");
        let t = now_unix() - 40;
        board.record(&alert(AlertKind::CameraOffline, "cam-1", t));
        let overview = board.overview();
        assert_eq!((overview.cameras[0].health, overview.cameras[0].since), ("offline", Some(t)));
        assert_eq!(overview.buildings[0].unhealthy_cameras, ["cam-1"]);
        board.record(&alert(AlertKind::CameraBack, "cam-1", t + 30));
        assert_ne!(board.overview().cameras[0].health, "offline");
    }

    #[test]
    fn an_alert_never_carries_an_address() {
        let board = board();
        let message = Message::from(Alert {
            site: "s1".into(),
            node: "edge-01".into(),
            seq: Default::default(),
            at: UtcTime::from_unix_seconds(now_unix()),
            kind: AlertKind::CameraOffline,
            subject: "cam-1".into(),
            message: "no frame from rtsp://admin:secret@10.0.0.7/live for 30 s (Could not open resource)".into(),
        });
        board.record(&message);
        let text = &board.alerts().unwrap()[0].message;
        assert!(!text.contains("rtsp") && !text.contains("secret"), "{text}");
        assert!(text.contains("[address hidden]"), "{text}");
    }
}
