//! [`NodeCore`]: the node's state in one struct, driven by [`NodeEvent`]s, talking to the world
//! through [`NodeOutput`]. No thread, no clock, no disk, no broker of its own: time comes in with
//! the events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lintel_calibration::site::Site;

use super::commands::{COMMANDS_PER_MINUTE, CommandGuard, Refusal};
use super::{AnalysedFrame, NodeEvent, NodeOptions, NodeOutput, NodeSummary, Refused, SavedState};
use crate::analysis::{ViewChange, ViewSample, ViewWatch};
use crate::count::{BuildingSpec, EntranceDedup, EntranceSpec, IntervalAggregator, IntervalReport};
use crate::ingest::CameraState;
use crate::live::{AuditAction, AuditTrail, BuildingMetrics, CameraMetrics, NodeMetrics, Said, Snapshot};
use crate::publish::{
    Alert, AlertKind, CameraStatus, Counts, EntranceSummary, IntervalBounds, Message, NodeState, NodeStatus, Occupancy,
    OccupancySet, Received, SPOOL_ALERT_RATIO, UtcTime,
};

/// Luma spread (0..255, [`RgbView::luma_spread`](crate::ingest::RgbView::luma_spread): of
/// 4×4-pixel block means, so sensor noise averages out) under which a picture counts as uniform: a
/// covered lens measures 0 to 2 (1.8 with noise of 8 levels), a darker night than
/// `benches/degraded`'s night 3.4–3.7 (Lintel counts 88% of its crossings: not blinded), its
/// night 8.8–9.1, a lit scene tens. It was 4 on the spread of single pixels, which the darker
/// night fell under.
pub const BLINDED_SPREAD: f64 = 2.5;

/// A camera that has sent no frame for this long makes its entrance's interval unhealthy.
const SILENT: Duration = Duration::from_secs(2);

/// The settings the core needs (from [`NodeOptions`]).
#[derive(Debug, Clone)]
struct Settings {
    offline_grace: Duration,
    blinded_after: Duration,
}

/// Everything the node knows between events.
pub struct NodeCore {
    site: Site,
    settings: Settings,
    metrics: Option<Arc<NodeMetrics>>,
    cameras: Vec<CameraWatch>,
    aggregator: IntervalAggregator,
    dedup: EntranceDedup,
    /// Entrances that had a camera down (or the node down) in the interval being filled.
    unhealthy: HashMap<String, bool>,
    over_capacity: HashMap<String, bool>,
    spool_alerted: bool,
    /// The alert conditions raised and not ended, by kind and subject: the node alone decides
    /// when an alert starts and ends (its outputs, the board among them, only record what it
    /// sends); saved with the state.
    raised: BTreeSet<(AlertKind, String)>,
    was_connected: bool,
    /// Session take-overs the publisher had counted at the last tick, and when
    /// `node_id_conflict` last went out.
    take_overs: u64,
    conflict_alerted: Option<SystemTime>,
    /// When the node (re)started: intervals that began before it were not fully watched.
    resumed_at: SystemTime,
    /// The newest wall-clock time an event brought.
    wall: SystemTime,
    /// When the node started, on the monotonic clock.
    started: Instant,
    /// The state changed since it was last saved.
    unsaved: bool,
    commands: CommandGuard,
    /// Where applied and refused commands are recorded.
    audit: Option<AuditTrail>,
    held: Held,
    summary: NodeSummary,
    /// Where the node serves its pages, said in its status for a console's link.
    web_address: Option<String>,
}

/// What the node knows of one camera.
struct CameraWatch {
    id: String,
    entrance: String,
    state: CameraState,
    started: Instant,
    last_frame: Option<Instant>,
    offline: bool,
    /// The state last published in the node status.
    published_state: Option<&'static str>,
    frames_received: u64,
    frames_analysed: u64,
    frames_skipped: u64,
    frames_shed: u64,
    frames_dropped: u64,
    crossings: u64,
    /// The highest connection number seen in a frame: connections after the first are reconnects.
    last_connection: u64,
    detector_time: Duration,
    /// Since when the picture has been uniform, and whether `camera_blinded` went out for it.
    uniform_since: Option<Instant>,
    blinded: bool,
    /// Defocused and moved views.
    view: ViewWatch,
}

impl NodeCore {
    /// A node for `site`, resuming from `restored` (the state file), started at `now` / `wall`.
    pub fn new(
        site: &Site,
        options: &NodeOptions,
        restored: Option<SavedState>,
        now: Instant,
        wall: SystemTime,
    ) -> Self {
        let mut aggregator = IntervalAggregator::new(building_specs(site), options.interval.clone());
        let mut raised = BTreeSet::new();
        let commands = CommandGuard::new(options.command_key.clone(), restored.as_ref());
        if !commands.has_key() {
            tracing::warn!("no command key (lintel run --command-key-env): occupancy commands are refused");
        }
        if let Some(state) = restored {
            aggregator.restore(state.aggregator);
            raised = state.raised_alerts;
            tracing::info!("resumed the intervals not yet published");
        }
        let is_raised = |kind: AlertKind, subject: &str| raised.contains(&(kind, subject.to_string()));
        let cameras = site
            .cameras
            .iter()
            .map(|camera| CameraWatch {
                id: camera.id.clone(),
                entrance: camera.entrance.clone(),
                state: CameraState::Starting,
                started: now,
                last_frame: None,
                offline: is_raised(AlertKind::CameraOffline, &camera.id),
                published_state: None,
                frames_received: 0,
                frames_analysed: 0,
                frames_skipped: 0,
                frames_shed: 0,
                frames_dropped: 0,
                crossings: 0,
                last_connection: 0,
                detector_time: Duration::ZERO,
                uniform_since: None,
                blinded: is_raised(AlertKind::CameraBlinded, &camera.id),
                view: ViewWatch::new(options.view_watch.for_camera(camera)),
            })
            .collect();
        Self {
            settings: Settings { offline_grace: options.offline_grace, blinded_after: options.blinded_after },
            metrics: options.metrics.clone(),
            cameras,
            aggregator,
            dedup: EntranceDedup::new(options.dedup, shared_entrances(site)),
            unhealthy: HashMap::new(),
            over_capacity: site
                .buildings
                .iter()
                .map(|b| (b.id.clone(), is_raised(AlertKind::OverCapacity, &b.id)))
                .collect(),
            spool_alerted: is_raised(AlertKind::SpoolFilling, &site.node),
            was_connected: false,
            take_overs: 0,
            conflict_alerted: None,
            resumed_at: wall,
            wall,
            started: now,
            unsaved: false,
            commands,
            audit: options.audit.clone(),
            held: Held { alerted: is_raised(AlertKind::SpoolFailing, &site.node), ..Held::default() },
            summary: NodeSummary::default(),
            web_address: options.web_address.clone(),
            raised,
            site: site.clone(),
        }
    }

    pub fn summary(&self) -> &NodeSummary {
        &self.summary
    }

    /// Occupancy per building now.
    pub fn occupancy(&self) -> impl Iterator<Item = (&str, u64)> {
        self.aggregator.occupancy()
    }

    /// Announces the node: its status, online.
    pub fn start(&mut self, out: &mut dyn NodeOutput) {
        self.publish_status(out, true);
    }

    pub fn handle(&mut self, event: NodeEvent, out: &mut dyn NodeOutput) {
        match event {
            NodeEvent::Frame(frame) => self.frame(frame, out),
            NodeEvent::CameraState { camera, state } => {
                if let Some(watch) = self.cameras.get_mut(camera) {
                    watch.state = state;
                }
            }
            NodeEvent::Command(command) => self.apply_command(command, out),
            NodeEvent::Tick { now, wall, frames_received } => {
                self.wall = wall;
                for (watch, frames) in self.cameras.iter_mut().zip(frames_received) {
                    watch.frames_received = frames;
                }
                self.tick(now, out);
            }
            NodeEvent::Shutdown => {
                self.save_if_changed(out);
                self.publish_status(out, false);
                self.retry_held(out);
                if !self.held.messages.is_empty() {
                    // After a disk fault their intervals are still open in the last state the disk
                    // took, so a restart publishes them again; held behind a full spool they are lost.
                    tracing::error!(
                        "stopping with {} messages the spool never took (its disk is full or failing)",
                        self.held.messages.len()
                    );
                }
            }
        }
    }

    /// Saves the state if an event changed it. The node thread calls this once per batch of
    /// events, so a burst of crossings costs one write, not one each.
    pub fn save_if_changed(&mut self, out: &mut dyn NodeOutput) {
        if std::mem::take(&mut self.unsaved) {
            out.save(&self.saved_state());
        }
    }

    fn saved_state(&self) -> SavedState {
        let mut state = SavedState {
            aggregator: self.aggregator.snapshot(),
            raised_alerts: self.raised.clone(),
            ..SavedState::default()
        };
        self.commands.save_into(&mut state);
        state
    }

    /// A camera's analysed frame: its crossings of zones that add into the entrance, not seen by
    /// another camera of the entrance already, go into the intervals.
    fn frame(&mut self, frame: AnalysedFrame, out: &mut dyn NodeOutput) {
        self.summary.frames_analysed += 1;
        self.wall = self.wall.max(frame.wall);
        let Some(camera) = self.cameras.get_mut(frame.camera) else { return };
        camera.last_frame = Some(frame.seen);
        camera.frames_analysed += 1;
        camera.frames_dropped += frame.dropped_before;
        camera.last_connection = camera.last_connection.max(frame.connection);
        camera.detector_time += frame.detector_time;
        if let Some(spread) = frame.luma_spread {
            self.watch_view(frame.camera, spread, frame.seen, out);
        }
        if let Some(sample) = &frame.view {
            self.watch_tamper(frame.camera, sample, frame.seen, out);
        }
        let Some(analysis) = frame.analysis else { return };
        let camera = &mut self.cameras[frame.camera];
        if frame.shed {
            camera.frames_shed += 1;
        } else if !analysis.detected {
            camera.frames_skipped += 1;
        }
        for event in analysis.events.into_iter().filter(|e| e.aggregate) {
            // A zone may count for another entrance than its camera's (a camera that sees two doors).
            let entrance = event.entrance.as_deref().unwrap_or(&camera.entrance);
            if !self.dedup.admit(entrance, &camera.id, event.direction, frame.wall, event.looks) {
                self.summary.duplicates += 1;
                continue;
            }
            self.aggregator.record(entrance, event.direction, frame.wall);
            self.summary.crossings += 1;
            camera.crossings += 1;
            self.unsaved = true;
        }
    }

    /// Raises `camera_blinded` once when a camera's picture has stayed uniform for
    /// `blinded_after`; a picture with detail again ends it (`camera_sees_again`) and re-arms it.
    fn watch_view(&mut self, camera: usize, spread: f64, now: Instant, out: &mut dyn NodeOutput) {
        let blinded_after = self.settings.blinded_after;
        let watch = &mut self.cameras[camera];
        if spread >= BLINDED_SPREAD {
            watch.uniform_since = None;
            if watch.blinded {
                watch.blinded = false;
                let (id, message) = (watch.id.clone(), format!("camera {} sees a picture with detail again", watch.id));
                self.alert(out, AlertKind::CameraSeesAgain, &id, message);
            }
            return;
        }
        let since = *watch.uniform_since.get_or_insert(now);
        let uniform_for = now.saturating_duration_since(since);
        if !watch.blinded && uniform_for >= blinded_after {
            watch.blinded = true;
            let (id, message) = (
                watch.id.clone(),
                format!(
                    "camera {} has seen a nearly uniform picture for {} s (covered, dark or turned away): it cannot count",
                    watch.id,
                    uniform_for.as_secs()
                ),
            );
            self.alert(out, AlertKind::CameraBlinded, &id, message);
        }
    }

    /// Raises `camera_defocused` or `camera_moved` once the view has been so for its grace, and
    /// `camera_view_restored` when it returns.
    fn watch_tamper(&mut self, camera: usize, sample: &ViewSample, seen: Instant, out: &mut dyn NodeOutput) {
        let at = seen.saturating_duration_since(self.started);
        let watch = &mut self.cameras[camera];
        let change = watch.view.observe(sample, at);
        let id = watch.id.clone();
        let Some(change) = change else {
            // Raised before a restart: the new baseline is the view now, and it is neither
            // defocused nor moved against it, so the condition the node knew of is over.
            let carried = [AlertKind::CameraDefocused, AlertKind::CameraMoved]
                .iter()
                .any(|kind| self.raised.contains(&(*kind, id.clone())));
            let watch = &self.cameras[camera];
            if carried && !watch.view.learning() && !watch.view.defocused() && !watch.view.moved() {
                let message =
                    format!("camera {id} was restarted with a new view baseline: its view is watched from here");
                self.alert(out, AlertKind::CameraViewRestored, &id, message);
            }
            return;
        };
        let (kind, message) = match change {
            ViewChange::Defocused => (
                AlertKind::CameraDefocused,
                format!("camera {id} is out of focus (sharpness far below its own baseline): it counts badly"),
            ),
            ViewChange::Moved => (
                AlertKind::CameraMoved,
                format!(
                    "camera {id} no longer sees the view it was set up on (moved or turned, similarity {:.2}): its zones are off",
                    watch.view.similarity
                ),
            ),
            ViewChange::Refocused => (AlertKind::CameraViewRestored, format!("camera {id} is in focus again")),
            ViewChange::Back => (AlertKind::CameraViewRestored, format!("camera {id} sees its set-up view again")),
        };
        self.alert(out, kind, &id, message);
    }

    /// Every tick: cameras' health, the node status, due intervals, the spool, the metrics.
    fn tick(&mut self, now: Instant, out: &mut dyn NodeOutput) {
        self.retry_held(out);
        self.dedup.expire(self.wall);
        let changed = self.watch_health(now, out);
        // After a lost connection the broker has published our last will: say we are online.
        let link = out.link();
        let reconnected = link.connected && !self.was_connected;
        self.was_connected = link.connected;
        if link.take_overs > self.take_overs {
            // At most every 10 minutes: the count goes on rising while the other node runs.
            let quiet = self
                .conflict_alerted
                .is_none_or(|at| self.wall.duration_since(at).map_or(true, |d| d >= Duration::from_secs(600)));
            if quiet {
                self.conflict_alerted = Some(self.wall);
                let message = format!(
                    "another client took over this node's MQTT session ({} times): two nodes may share the node id {}",
                    link.take_overs, self.site.node
                );
                let node = self.site.node.clone();
                self.alert(out, AlertKind::NodeIdConflict, &node, message);
            }
            self.take_overs = link.take_overs;
        }
        if changed || reconnected {
            self.publish_status(out, true);
        }
        // One interval at a time, each published (spooled, fsynced) and then marked done: a crash
        // between the two repeats that interval with the same counts rather than losing it, and
        // a crash in a long catch-up repeats one interval, not the whole burst.
        loop {
            let reports = self.aggregator.close_next_due(self.wall);
            if reports.is_empty() {
                break;
            }
            self.publish_reports(&reports, out);
            self.unsaved = false;
            out.save(&self.saved_state());
        }
        if let Some(metrics) = &self.metrics {
            metrics.update(self.snapshot(out, now));
        }
        if link.fill_ratio >= SPOOL_ALERT_RATIO && !self.spool_alerted {
            self.spool_alerted = true;
            let message = format!(
                "the publishing spool is {:.0}% full ({} messages waiting for the broker)",
                link.fill_ratio * 100.0,
                link.spooled
            );
            let node = self.site.node.clone();
            self.alert(out, AlertKind::SpoolFilling, &node, message);
        } else if link.fill_ratio < SPOOL_ALERT_RATIO / 2.0 && self.spool_alerted {
            self.spool_alerted = false;
            let message = format!("the publishing spool drained to {:.0}% full", link.fill_ratio * 100.0);
            let node = self.site.node.clone();
            self.alert(out, AlertKind::SpoolDrained, &node, message);
        }
    }

    fn publish_reports(&mut self, reports: &[IntervalReport], out: &mut dyn NodeOutput) {
        if let Some(span) = reports.iter().find(|r| r.span) {
            let message = format!(
                "the wall clock jumped: the intervals from {} to {} go out as one span, marked unhealthy",
                UtcTime::from(span.start),
                UtcTime::from(span.end)
            );
            let node = self.site.node.clone();
            self.alert(out, AlertKind::ClockJump, &node, message);
        }
        for report in reports {
            if report.start < self.resumed_at || report.span {
                for entrance in &report.entrances {
                    self.unhealthy.insert(entrance.id.clone(), true);
                }
            }
            self.publish_interval(report, out);
            self.summary.intervals_published += 1;
            self.summary.entries_published += report.entries;
            self.summary.exits_published += report.exits;
        }
    }

    /// Hands a message to the spool. One it cannot take now (full, or a disk that is full, read-only
    /// or failing) is held in memory, in order, with everything after it, and handed over again at
    /// every tick: an interval that has left the aggregator is not lost to a disk fault.
    fn send(&mut self, out: &mut dyn NodeOutput, message: Message) {
        // The node's own pages see it now, even when the spool must hold it.
        out.show(&message);
        if !self.held.messages.is_empty() {
            self.held.push(message);
            return;
        }
        match out.publish(&message) {
            Ok(()) => {}
            Err(Refused::Later(why)) => {
                tracing::error!("{why}; holding messages in memory until the spool takes them");
                self.held.push(message);
            }
            Err(Refused::Never(why)) => tracing::error!("{why}; a {} message is dropped", message.schema()),
        }
    }

    /// Hands the held messages to the spool again, oldest first, until it refuses one.
    fn retry_held(&mut self, out: &mut dyn NodeOutput) {
        let held = self.held.messages.len();
        while let Some(message) = self.held.messages.front() {
            match out.publish(message) {
                Ok(()) => {}
                Err(Refused::Later(_)) => break,
                Err(Refused::Never(why)) => tracing::error!("{why}; a {} message is dropped", message.schema()),
            }
            self.held.messages.pop_front();
        }
        if self.held.messages.is_empty() && self.held.alerted {
            self.held.alerted = false;
            let message = format!("the spool takes messages again: the {held} held in memory are spooled");
            let node = self.site.node.clone();
            self.alert(out, AlertKind::SpoolRecovered, &node, message);
        } else if !self.held.messages.is_empty() && !self.held.alerted {
            self.held.alerted = true;
            let message = format!(
                "the spool cannot take messages (full, or its disk is full, read-only or failing): {} held in memory",
                self.held.messages.len()
            );
            let node = self.site.node.clone();
            // The spool refuses it too: it is held with the rest and goes out when the spool
            // takes messages again.
            self.alert(out, AlertKind::SpoolFailing, &node, message);
        }
    }

    /// Raises offline/back alerts; returns whether any camera's published state changed.
    fn watch_health(&mut self, now: Instant, out: &mut dyn NodeOutput) -> bool {
        let mut changed = false;
        let mut alerts = Vec::new();
        for camera in &mut self.cameras {
            let silent = camera.last_frame.map_or(Duration::MAX, |t| now.saturating_duration_since(t));
            let live = camera.state == CameraState::Live;
            if !live || silent > SILENT {
                self.unhealthy.insert(camera.entrance.clone(), true);
            }
            // Without any frame yet, the grace counts from the camera's start.
            let since_start_or_frame = silent.min(now.saturating_duration_since(camera.started));
            // By the frame age, not the state alone: a pipeline that stalls without an error
            // still says live.
            if !camera.offline && since_start_or_frame >= self.settings.offline_grace {
                camera.offline = true;
                let why = match &camera.state {
                    CameraState::Retrying { last_error, .. } => last_error.clone(),
                    CameraState::Failed { error } => error.clone(),
                    _ if camera.last_frame.is_some() => format!("no frame for {} s", silent.as_secs()),
                    _ => "no frames".into(),
                };
                alerts.push((
                    AlertKind::CameraOffline,
                    camera.id.clone(),
                    format!("camera {} is offline: {why}", camera.id),
                ));
            } else if camera.offline && live && silent < SILENT {
                camera.offline = false;
                alerts.push((AlertKind::CameraBack, camera.id.clone(), format!("camera {} is back", camera.id)));
            }
            if camera.published_state != Some(camera.state.name()) {
                changed = true;
            }
        }
        for (kind, subject, message) in alerts {
            self.alert(out, kind, &subject, message);
        }
        changed
    }

    /// Applies an occupancy command if [`CommandGuard`] admits it, and publishes the new
    /// occupancy at once; applied and refused commands go to the audit trail. A bad command is
    /// never a stop.
    fn apply_command(&mut self, command: Received, out: &mut dyn NodeOutput) {
        let topic = &command.topic;
        // An empty retained payload is how a command is cleared from the broker: nothing to do.
        if command.payload.is_empty() {
            return;
        }
        let Some(building) = OccupancySet::building_of(&self.site.id, topic) else {
            tracing::warn!("ignored a message on {topic}: not an occupancy command of site {}", self.site.id);
            return;
        };
        let set = match OccupancySet::parse(&command.payload) {
            Ok(set) => set,
            Err(why) => return self.refuse_command(None, building, &why),
        };
        let Some(site_building) = self.site.building(building) else {
            return self.refuse_command(Some(&set), building, "the building is not in the site file");
        };
        let capacity = site_building.capacity.map(u64::from);
        match self.commands.admit(&self.site.id, building, &set, capacity, self.wall) {
            Ok(()) => {}
            Err(Refusal::Again) => {
                tracing::info!(
                    building,
                    "occupancy command {} for building {building} was applied before; ignored",
                    set.id
                );
                return;
            }
            Err(Refusal::Invalid(why)) => return self.refuse_command(Some(&set), building, &why),
            // Logged once per minute of flood, not once per command.
            Err(Refusal::RateLimited { first }) => {
                if first {
                    tracing::warn!(
                        "more than {COMMANDS_PER_MINUTE} occupancy commands applied in a minute: the rest of this minute's are refused"
                    );
                }
                return;
            }
        }
        if !self.aggregator.reset_occupancy(building, set.occupancy) {
            tracing::warn!(
                building,
                "ignored the occupancy command on {topic}: building {building:?} is not in the site file"
            );
            return;
        }
        let detail = format!("occupancy set to {} by command {} (issued {})", set.occupancy, set.id, set.issued_at);
        let said = Said::new(
            "audit.occupancy_applied",
            &[("occupancy", &set.occupancy), ("command", &set.id), ("issued", &set.issued_at)],
        );
        self.audit_command(AuditAction::OccupancyApplied, set.issued_by.as_deref(), building, &detail, said);
        // Remembered before it is announced: a restart between the two must not apply it again.
        self.unsaved = false;
        out.save(&self.saved_state());
        self.send(
            out,
            Message::from(Occupancy {
                site: self.site.id.clone(),
                building: building.to_string(),
                node: self.site.node.clone(),
                seq: Default::default(),
                at: UtcTime::from(self.wall),
                occupancy: set.occupancy,
                capacity,
            }),
        );
    }

    /// Reports a refused command (once per id, a bounded number a minute).
    fn refuse_command(&mut self, set: Option<&OccupancySet>, building: &str, why: &str) {
        if !self.commands.report_refusal(set.map(|s| s.id.as_str()), self.wall) {
            return;
        }
        // Who a refused command names is a claim no one vouched for: in the detail, not as who.
        // The page says which command was refused; why (the verifier's English) stays in the detail.
        let (detail, said) = match set {
            Some(set) => {
                let claimed = set.issued_by.as_ref().map(|by| format!(", claims issued_by {by:?}")).unwrap_or_default();
                (
                    format!("command {} (occupancy {}{claimed}) refused: {why}", set.id, set.occupancy),
                    Said::new("audit.occupancy_refused", &[("command", &set.id), ("occupancy", &set.occupancy)]),
                )
            }
            None => (format!("command refused: {why}"), Said::new("audit.occupancy_refused_unread", &[])),
        };
        self.audit_command(AuditAction::OccupancyRefused, None, building, &detail, said);
    }

    /// Records a command in the audit trail (who: the `issued_by` of an applied, so authenticated,
    /// command, else `unknown`; from: `mqtt`), or in the log at WARN without a trail.
    fn audit_command(&self, action: AuditAction, issued_by: Option<&str>, building: &str, detail: &str, said: Said) {
        let who = issued_by.unwrap_or("unknown");
        match &self.audit {
            Some(trail) => trail.record_said(action, who, "mqtt", building, detail, Some(said)),
            None => tracing::warn!(action = action.name(), who, building, "{detail}"),
        }
    }

    fn publish_interval(&mut self, report: &IntervalReport, out: &mut dyn NodeOutput) {
        let entrances = report
            .entrances
            .iter()
            .map(|e| EntranceSummary {
                id: e.id.clone(),
                entries: e.entries,
                exits: e.exits,
                cameras: e.cameras.clone(),
                healthy: !self.unhealthy.remove(&e.id).unwrap_or(false),
            })
            .collect();
        let site = self.site.clone();
        self.send(
            out,
            Message::from(Counts {
                site: site.id.clone(),
                building: report.building.clone(),
                node: site.node.clone(),
                seq: Default::default(),
                interval: IntervalBounds { start: UtcTime::from(report.start), end: UtcTime::from(report.end) },
                entries: report.entries,
                exits: report.exits,
                occupancy: report.occupancy,
                entrances,
            }),
        );
        let capacity = site.building(&report.building).and_then(|b| b.capacity).map(u64::from);
        self.send(
            out,
            Message::from(Occupancy {
                site: site.id.clone(),
                building: report.building.clone(),
                node: site.node.clone(),
                seq: Default::default(),
                at: UtcTime::from(report.end),
                occupancy: report.occupancy,
                capacity,
            }),
        );
        let over = capacity.is_some_and(|c| report.occupancy > c);
        let was_over = self.over_capacity.insert(report.building.clone(), over).unwrap_or(false);
        if over && !was_over {
            let message = format!(
                "building {} holds an estimated {} people, above its capacity {}",
                report.building,
                report.occupancy,
                capacity.unwrap_or(0)
            );
            self.alert(out, AlertKind::OverCapacity, &report.building, message);
        } else if !over && was_over {
            let message = format!(
                "building {} holds an estimated {} people, within its capacity {} again",
                report.building,
                report.occupancy,
                capacity.map_or_else(|| "(none now)".to_string(), |c| c.to_string())
            );
            self.alert(out, AlertKind::BackUnderCapacity, &report.building, message);
        }
    }

    /// What the metrics endpoint shows now.
    fn snapshot(&self, out: &dyn NodeOutput, now: Instant) -> Snapshot {
        let status = out.link();
        let counters = out.counters();
        Snapshot {
            cameras: self
                .cameras
                .iter()
                .map(|c| CameraMetrics {
                    id: c.id.clone(),
                    state: c.state.kind(),
                    frames_received: c.frames_received,
                    frames_analysed: c.frames_analysed,
                    frames_skipped: c.frames_skipped,
                    frames_shed: c.frames_shed,
                    frames_dropped: c.frames_dropped,
                    crossings: c.crossings,
                    reconnects: c.last_connection.saturating_sub(1),
                    detector_seconds: c.detector_time.as_secs_f64(),
                    blinded: c.blinded,
                    defocused: c.view.defocused(),
                    moved: c.view.moved(),
                    last_frame_age_s: c.last_frame.map(|t| now.saturating_duration_since(t).as_secs_f64()),
                })
                .collect(),
            buildings: self
                .aggregator
                .occupancy()
                .map(|(id, occupancy)| BuildingMetrics {
                    id: id.to_string(),
                    occupancy,
                    capacity: self.site.building(id).and_then(|b| b.capacity).map(u64::from),
                })
                .collect(),
            mqtt_connected: status.connected,
            spool_messages: status.spooled,
            spool_bytes: status.spool_bytes,
            spool_fill: status.fill_ratio,
            messages_published: counters.sent,
            messages_spooled: counters.spooled,
            mqtt_connects: counters.connects,
            intervals_published: self.summary.intervals_published,
            messages_held: self.held.messages.len(),
            messages_dropped: self.held.dropped,
            alerts_on: self.raised.iter().cloned().collect(),
        }
    }

    fn publish_status(&mut self, out: &mut dyn NodeOutput, online: bool) {
        let cameras = self
            .cameras
            .iter_mut()
            .map(|camera| {
                camera.published_state = Some(camera.state.name());
                CameraStatus { id: camera.id.clone(), state: camera.state.kind() }
            })
            .collect();
        self.send(
            out,
            Message::from(NodeStatus {
                site: self.site.id.clone(),
                node: self.site.node.clone(),
                seq: Default::default(),
                at: UtcTime::from(self.wall),
                state: if online { NodeState::Online } else { NodeState::Offline },
                cameras,
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
                web: self.web_address.clone(),
            }),
        );
    }

    /// Sends an alert, and keeps [`NodeCore::raised`] to what was sent: a condition is on until
    /// the node sends the kind that ends it (`AlertKind::ended_by`).
    fn alert(&mut self, out: &mut dyn NodeOutput, kind: AlertKind, subject: &str, message: String) {
        tracing::warn!(subject, "{message}");
        let before = self.raised.len();
        if kind.is_condition() {
            self.raised.insert((kind, subject.to_string()));
        } else {
            self.raised.retain(|(on, about)| !(about == subject && kind.ends(*on)));
        }
        self.unsaved |= self.raised.len() != before;
        self.send(
            out,
            Message::from(Alert {
                site: self.site.id.clone(),
                node: self.site.node.clone(),
                seq: Default::default(),
                at: UtcTime::from(self.wall),
                kind,
                subject: subject.to_string(),
                message,
            }),
        );
    }
}

/// The most messages held in memory while the spool refuses them: at 60 s intervals, about a
/// day of a few buildings. Past it the oldest are dropped, counted.
const MAX_HELD: usize = 10_000;

/// Messages the spool refused for now, oldest first.
#[derive(Default)]
struct Held {
    messages: std::collections::VecDeque<Message>,
    /// `spool_failing` went out (is held) for this episode.
    alerted: bool,
    /// Dropped because more than [`MAX_HELD`] were held.
    dropped: u64,
}

impl Held {
    fn push(&mut self, message: Message) {
        if self.messages.len() >= MAX_HELD {
            self.messages.pop_front();
            if self.dropped == 0 {
                tracing::error!("{MAX_HELD} messages held in memory: the oldest are dropped from now on");
            }
            self.dropped += 1;
        }
        self.messages.push_back(message);
    }
}

/// The entrances that more than one camera watches: their crossings are de-duplicated.
fn shared_entrances(site: &Site) -> Vec<String> {
    let mut cameras: BTreeMap<&str, usize> = BTreeMap::new();
    for camera in &site.cameras {
        *cameras.entry(camera.entrance.as_str()).or_default() += 1;
    }
    cameras.into_iter().filter(|(_, n)| *n > 1).map(|(e, _)| e.to_string()).collect()
}

/// The site's roll-up: which entrances (and their cameras) add into which building.
fn building_specs(site: &Site) -> Vec<BuildingSpec> {
    site.buildings
        .iter()
        .map(|b| BuildingSpec {
            id: b.id.clone(),
            initial_occupancy: u64::from(b.initial_occupancy),
            entrances: site
                .entrances_of_building(&b.id)
                .map(|e| EntranceSpec {
                    id: e.id.clone(),
                    cameras: site.cameras_of_entrance(&e.id).map(|c| c.id.clone()).collect(),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use lintel_calibration::geometry::Crossing;
    use lintel_wire::CommandKey;

    use super::*;
    use crate::analysis::{FrameAnalysis, ZoneEvent};
    use crate::publish::{PublisherMetrics, PublisherStatus, SeqNo};

    /// Records what the core decided, in order; the link's state is set by the test.
    #[derive(Default)]
    struct Recorder {
        messages: Vec<Message>,
        saves: Vec<SavedState>,
        connected: bool,
        fill_ratio: f64,
        disk_full: bool,
        take_overs: u64,
    }

    impl NodeOutput for Recorder {
        fn publish(&mut self, message: &Message) -> Result<(), Refused> {
            if self.disk_full {
                return Err(Refused::Later("spool: cannot write: No space left on device".into()));
            }
            self.messages.push(message.clone());
            Ok(())
        }
        fn link(&self) -> PublisherStatus {
            PublisherStatus {
                connected: self.connected,
                broker: "127.0.0.1:1883".into(),
                spooled: 0,
                spool_bytes: 0,
                fill_ratio: self.fill_ratio,
                last_error: None,
                last_seq: SeqNo::default(),
                take_overs: self.take_overs,
            }
        }
        fn counters(&self) -> PublisherMetrics {
            PublisherMetrics::default()
        }
        fn save(&mut self, state: &SavedState) {
            self.saves.push(state.clone());
        }
    }

    impl Recorder {
        fn alerts(&self, kind: AlertKind) -> Vec<&Alert> {
            self.messages
                .iter()
                .filter_map(|m| if let Message::Alert(a) = m { Some(a) } else { None })
                .filter(|a| a.kind == kind)
                .collect()
        }
        fn counts(&self) -> Vec<&Counts> {
            self.messages.iter().filter_map(|m| if let Message::Counts(c) = m { Some(c) } else { None }).collect()
        }
    }

    const SITE: &str = r#"
[site]
id = "s1"
node = "edge-01"

[[building]]
id = "b7"
capacity = 1

[[building]]
id = "b8"

[[entrance]]
id = "north"
building = "b7"

[[entrance]]
id = "south"
building = "b8"

[[camera]]
id = "cam-1"
entrance = "north"
url = "rtsp://127.0.0.1:1/a"

[[camera]]
id = "cam-2"
entrance = "north"
url = "rtsp://127.0.0.1:1/b"

[[camera]]
id = "cam-3"
entrance = "south"
url = "rtsp://127.0.0.1:1/c"

[[zone]]
camera = "cam-1"
name = "door"
kind = "line"
points = [[0.0, 0.5], [1.0, 0.5]]
entry_side = "right"
"#;

    /// A node started at 10:00:00 on the wall clock, with 60 s intervals, holding [`key`].
    fn node() -> (NodeCore, Instant, SystemTime) {
        let site = Site::parse(SITE, "site.toml").expect("test site");
        let (now, wall) = (Instant::now(), UNIX_EPOCH + Duration::from_secs(1_764_064_800));
        (NodeCore::new(&site, &keyed(), None, now, wall), now, wall)
    }

    /// The operators' command key of the tests.
    fn key() -> CommandKey {
        CommandKey::new("the operators' test key, 32 bytes").expect("key")
    }

    fn keyed() -> NodeOptions {
        NodeOptions { command_key: Some(key()), ..NodeOptions::default() }
    }

    /// A command for `building` of site s1 setting `occupancy`, issued at `issued`, signed with [`key`].
    fn signed(building: &str, occupancy: u64, issued: SystemTime) -> (OccupancySet, Received) {
        let set = OccupancySet { issued_at: UtcTime::from(issued), ..OccupancySet::new(occupancy) }.signed(
            &key(),
            "s1",
            building,
        );
        let received = on(building, &set);
        (set, received)
    }

    /// `set` received on the command topic of `building`.
    fn on(building: &str, set: &OccupancySet) -> Received {
        Received { topic: OccupancySet::topic("s1", building).expect("topic"), payload: set.to_json(), retained: true }
    }

    fn occupancy_of(core: &NodeCore, building: &str) -> u64 {
        core.occupancy().find(|(b, _)| *b == building).map(|(_, n)| n).expect("building")
    }

    fn frame(camera: usize, at: Duration, (now, wall): (Instant, SystemTime), crossings: &[Crossing]) -> NodeEvent {
        let events = crossings
            .iter()
            .map(|&direction| ZoneEvent {
                zone: 0,
                direction,
                aggregate: true,
                entrance: None,
                frame: 0,
                pts: None,
                looks: None,
            })
            .collect();
        NodeEvent::Frame(AnalysedFrame {
            camera,
            connection: 1,
            wall: wall + at,
            seen: now + at,
            analysis: Some(FrameAnalysis {
                index: 0,
                pts: None,
                size: (768, 576),
                detected: true,
                detections: 0,
                implausible: 0,
                embedded: 0,
                people: Vec::new(),
                events,
            }),
            luma_spread: Some(40.0),
            view: None,
            detector_time: Duration::ZERO,
            shed: false,
            dropped_before: 0,
        })
    }

    fn tick(at: Duration, (now, wall): (Instant, SystemTime)) -> NodeEvent {
        NodeEvent::Tick { now: now + at, wall: wall + at, frames_received: vec![0, 0, 0] }
    }

    #[test]
    fn crossings_become_one_counts_message_per_building_when_the_interval_closes() {
        let (mut core, now, wall) = node();
        let mut out = Recorder { connected: true, ..Recorder::default() };
        core.start(&mut out);
        for (second, direction) in [(1, Crossing::Entry), (10, Crossing::Entry), (20, Crossing::Exit)] {
            core.handle(frame(2, Duration::from_secs(second), (now, wall), &[]), &mut out);
            core.handle(frame(0, Duration::from_secs(second), (now, wall), &[direction]), &mut out);
        }
        core.save_if_changed(&mut out);
        assert_eq!(out.saves.len(), 1, "a batch of crossings is saved once");
        core.handle(tick(Duration::from_secs(30), (now, wall)), &mut out);
        assert!(out.counts().is_empty(), "the interval is still open");
        core.handle(tick(Duration::from_secs(66), (now, wall)), &mut out);
        let counts = out.counts();
        assert_eq!(counts.len(), 2, "one per building, the quiet one too");
        let b7 = counts.iter().find(|c| c.building == "b7").expect("b7");
        assert_eq!((b7.entries, b7.exits, b7.occupancy), (2, 1, 1));
        let b8 = counts.iter().find(|c| c.building == "b8").expect("b8");
        assert_eq!((b8.entries, b8.exits), (0, 0));
        assert_eq!(out.saves.len(), 2, "the state is saved after the interval is published");
        assert_eq!(core.summary().crossings, 3);
    }

    #[test]
    fn two_cameras_of_one_entrance_count_a_passage_once() {
        let (mut core, now, wall) = node();
        let mut out = Recorder::default();
        core.handle(frame(0, Duration::from_secs(5), (now, wall), &[Crossing::Entry]), &mut out);
        core.handle(frame(1, Duration::from_millis(5_500), (now, wall), &[Crossing::Entry]), &mut out);
        // Far enough apart to be two people.
        core.handle(frame(1, Duration::from_secs(30), (now, wall), &[Crossing::Entry]), &mut out);
        assert_eq!((core.summary().crossings, core.summary().duplicates), (2, 1));
    }

    #[test]
    fn a_camera_that_stays_away_past_the_grace_raises_offline_once_and_back_when_it_returns() {
        let (mut core, now, wall) = node();
        let mut out = Recorder::default();
        let retrying =
            CameraState::Retrying { attempt: 2, next_in: Duration::from_secs(1), last_error: "refused".into() };
        core.handle(NodeEvent::CameraState { camera: 2, state: retrying }, &mut out);
        core.handle(tick(Duration::from_secs(10), (now, wall)), &mut out);
        assert!(out.alerts(AlertKind::CameraOffline).is_empty(), "inside the grace");
        for second in [31, 32, 33] {
            core.handle(tick(Duration::from_secs(second), (now, wall)), &mut out);
        }
        // Once each: cam-3 with why, the two that never sent a frame with "no frames".
        let offline = out.alerts(AlertKind::CameraOffline);
        let subjects: Vec<&str> = offline.iter().map(|a| a.subject.as_str()).collect();
        assert_eq!(subjects, ["cam-1", "cam-2", "cam-3"]);
        assert!(offline[2].message.contains("refused"), "{}", offline[2].message);
        assert!(offline[0].message.contains("no frames"), "{}", offline[0].message);
        core.handle(NodeEvent::CameraState { camera: 2, state: CameraState::Live }, &mut out);
        core.handle(frame(2, Duration::from_secs(40), (now, wall), &[]), &mut out);
        core.handle(tick(Duration::from_secs(40), (now, wall)), &mut out);
        assert_eq!(out.alerts(AlertKind::CameraBack).len(), 1);
    }

    #[test]
    fn an_occupancy_command_is_applied_once_and_remembered_before_it_is_announced() {
        let (mut core, _, wall) = node();
        let mut out = Recorder::default();
        let (set, command) = signed("b8", 12, wall);
        core.handle(NodeEvent::Command(command.clone()), &mut out);
        core.handle(NodeEvent::Command(command.clone()), &mut out);
        let occupancies: Vec<_> =
            out.messages.iter().filter_map(|m| if let Message::Occupancy(o) = m { Some(o) } else { None }).collect();
        assert_eq!(occupancies.len(), 1, "the same command id is applied once");
        assert_eq!((occupancies[0].building.as_str(), occupancies[0].occupancy), ("b8", 12));
        assert_eq!(out.saves.len(), 1);
        assert_eq!(out.saves[0].occupancy_commands.get("b8"), Some(&set.id));
        assert_eq!(out.saves[0].occupancy_issued_at.get("b8"), Some(&set.issued_at));
        assert!(out.saves[0].applied_command_ids.contains(&set.id));
        assert_eq!(occupancy_of(&core, "b8"), 12);
        // Hostile or foreign payloads are ignored, never applied.
        let junk = Received { topic: command.topic, payload: b"{\"occupancy\": -1}".to_vec(), retained: false };
        core.handle(NodeEvent::Command(junk), &mut out);
        assert_eq!(out.saves.len(), 1);
    }

    #[test]
    fn commands_without_a_valid_mac_are_refused_audited_and_never_use_the_budget() {
        let site = Site::parse(SITE, "site.toml").expect("test site");
        let (now, wall) = (Instant::now(), UNIX_EPOCH + Duration::from_secs(1_764_064_800));
        let audit = AuditTrail::default();
        let options = NodeOptions { audit: Some(audit.clone()), ..keyed() };
        let mut core = NodeCore::new(&site, &options, None, now, wall);
        let mut out = Recorder::default();
        let other_key = CommandKey::new("another key, also long enough").expect("key");
        for i in 0..50u64 {
            let fresh = OccupancySet { issued_at: UtcTime::from(wall), ..OccupancySet::new(i) };
            let junk = match i % 5 {
                // Unsigned.
                0 => on("b8", &fresh),
                // Signed with another key.
                1 => on("b8", &fresh.clone().signed(&other_key, "s1", "b8")),
                // Signed for b7, sent to b8.
                2 => on("b8", &fresh.clone().signed(&key(), "s1", "b7")),
                // Signed, then the value changed.
                3 => on("b8", &OccupancySet { occupancy: 99, ..fresh.clone().signed(&key(), "s1", "b8") }),
                // Not a command at all.
                _ => Received {
                    topic: OccupancySet::topic("s1", "b8").unwrap(),
                    payload: b"{}".to_vec(),
                    retained: false,
                },
            };
            core.handle(NodeEvent::Command(junk), &mut out);
        }
        assert!(out.saves.is_empty() && out.messages.is_empty(), "nothing applied");
        assert_eq!(occupancy_of(&core, "b8"), 0);
        // The operator's genuine command still gets through, in the same minute.
        let genuine =
            OccupancySet { issued_by: Some("ops-li".into()), issued_at: UtcTime::from(wall), ..OccupancySet::new(42) }
                .signed(&key(), "s1", "b8");
        core.handle(NodeEvent::Command(on("b8", &genuine)), &mut out);
        assert_eq!(occupancy_of(&core, "b8"), 42);
        let entries = audit.recent(100);
        assert_eq!(entries[0].action, AuditAction::OccupancyApplied);
        assert_eq!(
            (entries[0].who.as_str(), entries[0].from.as_str(), entries[0].subject.as_str()),
            ("ops-li", "mqtt", "b8")
        );
        let refused: Vec<_> = entries.iter().filter(|e| e.action == AuditAction::OccupancyRefused).collect();
        assert_eq!(refused.len(), 20, "a bounded number of refusals a minute is itemised");
        assert!(refused.iter().any(|e| e.detail.contains("MAC does not verify")), "{refused:?}");
        assert!(refused.iter().all(|e| !e.detail.contains("operators' test key")));
        assert!(refused.iter().all(|e| e.who == "unknown"), "a refused command's issued_by is only a claim");
    }

    #[test]
    fn a_node_without_a_command_key_refuses_every_command() {
        let site = Site::parse(SITE, "site.toml").expect("test site");
        let (now, wall) = (Instant::now(), UNIX_EPOCH + Duration::from_secs(1_764_064_800));
        let audit = AuditTrail::default();
        let options = NodeOptions { audit: Some(audit.clone()), ..NodeOptions::default() };
        let mut core = NodeCore::new(&site, &options, None, now, wall);
        let mut out = Recorder::default();
        core.handle(NodeEvent::Command(signed("b8", 5, wall).1), &mut out);
        assert!(out.saves.is_empty());
        assert_eq!(occupancy_of(&core, "b8"), 0);
        let entries = audit.recent(10);
        assert_eq!(entries.len(), 1);
        assert!(entries[0].detail.contains("no command key"), "{}", entries[0].detail);
    }

    #[test]
    fn replays_are_refused_by_id_and_by_issued_at_per_building_also_after_a_restart() {
        let (mut core, now, wall) = node();
        let mut out = Recorder::default();
        let s = Duration::from_secs;
        let (_, first) = signed("b8", 3, wall);
        let (_, second) = signed("b8", 4, wall + s(10));
        core.handle(NodeEvent::Command(first.clone()), &mut out);
        core.handle(NodeEvent::Command(second.clone()), &mut out);
        assert_eq!(occupancy_of(&core, "b8"), 4);
        // The first again: its id was applied.
        core.handle(NodeEvent::Command(first.clone()), &mut out);
        // A new id issued before the last applied one.
        core.handle(NodeEvent::Command(signed("b8", 9, wall + s(5)).1), &mut out);
        assert_eq!(occupancy_of(&core, "b8"), 4);
        assert_eq!(out.saves.len(), 2);
        // The order is per building: b7 takes an earlier one.
        core.handle(NodeEvent::Command(signed("b7", 1, wall + s(1)).1), &mut out);
        assert_eq!(occupancy_of(&core, "b7"), 1);

        // After a restart from the state file the same holds.
        let saved = out.saves.last().cloned().expect("saved");
        let site = Site::parse(SITE, "site.toml").expect("test site");
        let mut core = NodeCore::new(&site, &keyed(), Some(saved), now, wall + s(20));
        let mut out = Recorder::default();
        for replay in [first, second, signed("b8", 9, wall + s(5)).1] {
            core.handle(NodeEvent::Command(replay), &mut out);
        }
        assert!(out.saves.is_empty(), "nothing applied again");
        core.handle(NodeEvent::Command(signed("b8", 11, wall + s(30)).1), &mut out);
        assert_eq!(occupancy_of(&core, "b8"), 11);
    }

    #[test]
    fn a_uniform_picture_raises_blinded_once_after_the_delay() {
        let (mut core, now, wall) = node();
        let mut out = Recorder::default();
        for second in 0..=61 {
            let NodeEvent::Frame(mut dark) = frame(0, Duration::from_secs(second), (now, wall), &[]) else {
                unreachable!()
            };
            dark.luma_spread = Some(1.0);
            core.handle(NodeEvent::Frame(dark), &mut out);
        }
        assert_eq!(out.alerts(AlertKind::CameraBlinded).len(), 1);
    }

    #[test]
    fn a_filling_spool_raises_one_alert_and_stopping_says_offline() {
        let (mut core, now, wall) = node();
        let mut out = Recorder { connected: true, fill_ratio: 0.9, ..Recorder::default() };
        core.handle(tick(Duration::from_secs(1), (now, wall)), &mut out);
        core.handle(tick(Duration::from_secs(2), (now, wall)), &mut out);
        assert_eq!(out.alerts(AlertKind::SpoolFilling).len(), 1);
        core.handle(NodeEvent::Shutdown, &mut out);
        let Some(Message::NodeStatus(last)) = out.messages.last() else { panic!("no status at the end") };
        assert_eq!(last.state, NodeState::Offline);
        assert_eq!(last.cameras.len(), 3);
    }

    #[test]
    fn a_box_that_starts_in_1970_and_then_gets_ntp_publishes_one_unhealthy_span_and_an_alert() {
        let site = Site::parse(SITE, "site.toml").expect("test site");
        let (now, wall) = (Instant::now(), UNIX_EPOCH + Duration::from_secs(100));
        let mut core = NodeCore::new(&site, &NodeOptions::default(), None, now, wall);
        let mut out = Recorder::default();
        core.handle(frame(0, Duration::from_secs(30), (now, wall), &[Crossing::Entry]), &mut out);
        core.handle(tick(Duration::from_secs(31), (now, wall)), &mut out);
        // NTP: the wall clock moves 56 years ahead between two ticks.
        let ntp = UNIX_EPOCH + Duration::from_secs(1_764_064_800 + 20);
        core.handle(
            NodeEvent::Tick { now: now + Duration::from_secs(32), wall: ntp, frames_received: vec![0; 3] },
            &mut out,
        );
        let counts = out.counts();
        assert_eq!(counts.len(), 2, "one span per building, not one interval per minute since 1970");
        let b7 = counts.iter().find(|c| c.building == "b7").expect("b7");
        assert_eq!(b7.entries, 1, "the crossing made before NTP is published");
        assert!(b7.entrances.iter().all(|e| !e.healthy));
        assert_eq!(out.alerts(AlertKind::ClockJump).len(), 1);
        assert_eq!(out.alerts(AlertKind::ClockJump)[0].subject, "edge-01");
        // Then one normal interval a minute.
        core.handle(
            NodeEvent::Tick {
                now: now + Duration::from_secs(92),
                wall: ntp + Duration::from_secs(60),
                frames_received: vec![0; 3],
            },
            &mut out,
        );
        assert_eq!(out.counts().len(), 4);
        assert_eq!(out.alerts(AlertKind::ClockJump).len(), 1);
    }

    #[test]
    fn hostile_occupancy_commands_are_refused_without_touching_the_occupancy() {
        let (mut core, now, wall) = node();
        let mut out = Recorder::default();
        let command = |building: &str, occupancy: u64, issued: SystemTime| signed(building, occupancy, issued).1;
        let hour = Duration::from_secs(3600);
        // Signed, but b7 has capacity 1: 4 is the most; b8 has none: 100 000.
        for hostile in [
            command("b7", 5, wall),
            command("b8", u64::MAX, wall),
            command("b8", 100_001, wall),
            command("b8", 3, wall - hour),
            command("b8", 3, wall + hour),
        ] {
            core.handle(NodeEvent::Command(hostile), &mut out);
        }
        assert!(out.messages.is_empty() && out.saves.is_empty(), "nothing applied");
        assert!(core.occupancy().all(|(_, n)| n == 0));
        // A flood of valid commands, each issued after the last: ten a minute are applied.
        for i in 0..1000 {
            core.handle(NodeEvent::Command(command("b8", i % 50, wall + Duration::from_millis(i))), &mut out);
        }
        assert_eq!(out.saves.len(), 10);
        // The next minute takes commands again.
        core.handle(tick(Duration::from_secs(61), (now, wall)), &mut out);
        core.handle(NodeEvent::Command(command("b8", 7, wall + Duration::from_secs(61))), &mut out);
        assert_eq!(out.saves.len(), 11);
        assert_eq!(occupancy_of(&core, "b8"), 7);
        // Arithmetic stays bounded after the largest value allowed.
        core.handle(NodeEvent::Command(command("b8", 100_000, wall + Duration::from_secs(62))), &mut out);
        core.handle(frame(2, Duration::from_secs(63), (now, wall), &[Crossing::Entry]), &mut out);
        assert_eq!(occupancy_of(&core, "b8"), 100_000);
    }

    #[test]
    fn a_camera_that_says_live_but_sends_no_frame_goes_offline_by_its_frame_age() {
        let (mut core, now, wall) = node();
        let mut out = Recorder::default();
        for camera in 0..3 {
            core.handle(NodeEvent::CameraState { camera, state: CameraState::Live }, &mut out);
        }
        for second in 0..40 {
            for camera in [0, 1] {
                core.handle(frame(camera, Duration::from_secs(second), (now, wall), &[]), &mut out);
            }
            if second < 5 {
                core.handle(frame(2, Duration::from_secs(second), (now, wall), &[]), &mut out);
            }
            core.handle(tick(Duration::from_secs(second), (now, wall)), &mut out);
        }
        let offline = out.alerts(AlertKind::CameraOffline);
        assert_eq!(offline.len(), 1, "the stalled camera only");
        assert_eq!(offline[0].subject, "cam-3");
        assert!(offline[0].message.contains("no frame for 3"), "{}", offline[0].message);
    }

    #[test]
    fn intervals_the_disk_refuses_are_held_in_order_and_published_when_it_takes_them_again() {
        let (mut core, now, wall) = node();
        let mut out = Recorder { connected: true, ..Recorder::default() };
        core.handle(frame(0, Duration::from_secs(10), (now, wall), &[Crossing::Entry]), &mut out);
        out.disk_full = true;
        for minute in 1..=3 {
            core.handle(tick(Duration::from_secs(60 * minute + 6), (now, wall)), &mut out);
        }
        assert!(out.counts().is_empty(), "the disk took nothing");
        out.disk_full = false;
        core.handle(tick(Duration::from_secs(4 * 60), (now, wall)), &mut out);
        let starts: Vec<String> =
            out.counts().iter().filter(|c| c.building == "b7").map(|c| c.interval.start.to_string()).collect();
        assert_eq!(
            starts,
            ["2025-11-25T10:00:00Z", "2025-11-25T10:01:00Z", "2025-11-25T10:02:00Z"],
            "none lost, in order"
        );
        let b7 = out.counts().into_iter().find(|c| c.building == "b7").expect("b7");
        assert_eq!(b7.entries, 1);
        assert_eq!(out.alerts(AlertKind::SpoolFailing).len(), 1);
    }

    #[test]
    fn a_session_taken_over_by_another_node_raises_node_id_conflict_once() {
        let (mut core, now, wall) = node();
        let mut out = Recorder { connected: true, ..Recorder::default() };
        for (second, take_overs) in [(1, 0), (2, 3), (3, 5), (4, 6)] {
            out.take_overs = take_overs;
            core.handle(tick(Duration::from_secs(second), (now, wall)), &mut out);
        }
        let alerts = out.alerts(AlertKind::NodeIdConflict);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].message.contains("edge-01"), "{}", alerts[0].message);
    }

    #[test]
    fn a_catch_up_saves_after_each_interval_so_a_crash_repeats_one_not_the_burst() {
        let (mut core, now, wall) = node();
        let mut out = Recorder { connected: true, ..Recorder::default() };
        core.handle(frame(0, Duration::from_secs(10), (now, wall), &[Crossing::Entry]), &mut out);
        // The node thread was held up for five minutes (a slow disk, a suspended box).
        core.handle(tick(Duration::from_secs(5 * 60 + 6), (now, wall)), &mut out);
        assert_eq!(out.counts().len(), 2 * 5, "five intervals of two buildings");
        assert_eq!(out.saves.len(), 5, "one save per interval, each after its messages");
        let next: Vec<Option<u64>> = out.saves.iter().map(|s| s.aggregator.next_to_close).collect();
        assert!(next.windows(2).all(|w| w[0] < w[1]), "{next:?}");
    }

    /// A frame of camera 0 at `at` with a luma `spread` (the blinded watch's measure), whose view
    /// has `sharpness` (the tamper watch's) over a fixed structure.
    fn view_frame(at: Duration, clocks: (Instant, SystemTime), sharpness: f64, spread: f64) -> NodeEvent {
        let NodeEvent::Frame(mut seen) = frame(0, at, clocks, &[]) else { unreachable!() };
        let raw: Vec<f32> = (0..64).map(|i| ((i * 7 % 13) as f32).sin()).collect();
        let mean = raw.iter().sum::<f32>() / raw.len() as f32;
        let sd = (raw.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / raw.len() as f32).sqrt();
        let structure = raw.iter().map(|v| (v - mean) / sd).collect();
        seen.luma_spread = Some(spread);
        seen.view = Some(ViewSample { spread: 40.0, sharpness, structure });
        NodeEvent::Frame(seen)
    }

    /// The kinds of the alerts sent, in order.
    fn kinds(out: &Recorder) -> Vec<AlertKind> {
        out.messages.iter().filter_map(|m| if let Message::Alert(a) = m { Some(a.kind) } else { None }).collect()
    }

    /// Each condition's start and end, pinned: the node sends the start once while it holds and
    /// the end once when it is over, and keeps what is on (the state file, the metrics) to what
    /// it sent. The board and any MQTT reader pair them by `AlertKind::ended_by`.
    #[test]
    fn each_alert_condition_starts_once_and_ends_once() {
        let (mut core, now, wall) = node();
        let clocks = (now, wall);
        let s = Duration::from_secs;
        let mut out = Recorder { connected: true, ..Recorder::default() };
        core.start(&mut out);
        // Every camera live and seen, so only the conditions made below go off.
        let live = |core: &mut NodeCore, out: &mut Recorder, at: Duration| {
            for camera in 0..3 {
                core.handle(NodeEvent::CameraState { camera, state: CameraState::Live }, out);
                if camera > 0 {
                    core.handle(frame(camera, at, clocks, &[]), out);
                }
            }
        };

        // From here on camera 0 sends plain frames too.
        let everyone_live = |core: &mut NodeCore, out: &mut Recorder, at: Duration| {
            live(core, out, at);
            core.handle(frame(0, at, clocks, &[]), out);
        };

        // camera_blinded → camera_sees_again; camera_defocused → camera_view_restored (camera 0).
        for second in 0..=61 {
            live(&mut core, &mut out, s(second));
            let sharpness = if second < 31 { 1.0 } else { 0.2 };
            core.handle(view_frame(s(second), clocks, sharpness, 1.0), &mut out);
            core.handle(tick(s(second), clocks), &mut out);
        }
        assert_eq!(kinds(&out), [AlertKind::CameraDefocused, AlertKind::CameraBlinded]);
        assert!(core.snapshot(&out, now + s(61)).alerts_on.contains(&(AlertKind::CameraBlinded, "cam-1".into())));
        for second in 62..=64 {
            live(&mut core, &mut out, s(second));
            core.handle(view_frame(s(second), clocks, 1.0, 40.0), &mut out);
        }
        assert_eq!(
            kinds(&out)[2..],
            [AlertKind::CameraSeesAgain, AlertKind::CameraViewRestored],
            "each ends once, however many frames say so"
        );

        // over_capacity → back_under_capacity (b7 holds 1).
        core.handle(frame(0, s(70), clocks, &[Crossing::Entry]), &mut out);
        core.handle(frame(0, s(80), clocks, &[Crossing::Entry]), &mut out);
        everyone_live(&mut core, &mut out, s(121));
        core.handle(tick(s(121), clocks), &mut out);
        everyone_live(&mut core, &mut out, s(150));
        core.handle(frame(0, s(150), clocks, &[Crossing::Exit]), &mut out);
        core.handle(frame(0, s(160), clocks, &[Crossing::Exit]), &mut out);
        everyone_live(&mut core, &mut out, s(181));
        core.handle(tick(s(181), clocks), &mut out);
        everyone_live(&mut core, &mut out, s(241));
        core.handle(tick(s(241), clocks), &mut out);
        assert_eq!(kinds(&out)[4..], [AlertKind::OverCapacity, AlertKind::BackUnderCapacity]);

        // spool_filling → spool_drained: ends below half the threshold, not at it.
        for (second, fill) in [(242, 0.9), (243, 0.9), (244, 0.5), (245, 0.1), (246, 0.1)] {
            out.fill_ratio = fill;
            everyone_live(&mut core, &mut out, s(second));
            core.handle(tick(s(second), clocks), &mut out);
        }
        assert_eq!(kinds(&out)[6..], [AlertKind::SpoolFilling, AlertKind::SpoolDrained]);

        // spool_failing → spool_recovered: the alert is held with the interval and goes out first.
        out.disk_full = true;
        // An interval closes its grace (5 s) after its end: [240, 300) at 305.
        for second in [306, 307, 308] {
            everyone_live(&mut core, &mut out, s(second));
            core.handle(tick(s(second), clocks), &mut out);
        }
        out.disk_full = false;
        for second in [309, 310] {
            everyone_live(&mut core, &mut out, s(second));
            core.handle(tick(s(second), clocks), &mut out);
        }
        assert_eq!(kinds(&out)[8..], [AlertKind::SpoolFailing, AlertKind::SpoolRecovered]);

        // camera_offline → camera_back is pinned by its own test above; nothing is on now.
        assert!(core.snapshot(&out, now + s(310)).alerts_on.is_empty());
        core.save_if_changed(&mut out);
        assert!(out.saves.last().is_some_and(|saved| saved.raised_alerts.is_empty()));
    }

    /// After a restart the node still owns what it raised: a condition that still holds is not
    /// raised twice, one that cleared while it was away is ended.
    #[test]
    fn a_restart_ends_what_cleared_while_away_and_raises_nothing_twice() {
        let (mut core, now, wall) = node();
        let clocks = (now, wall);
        let s = Duration::from_secs;
        let mut out = Recorder { connected: true, fill_ratio: 0.9, ..Recorder::default() };
        for second in 0..=61 {
            core.handle(view_frame(s(second), clocks, 1.0, 1.0), &mut out);
            core.handle(tick(s(second), clocks), &mut out);
        }
        core.save_if_changed(&mut out);
        let saved = out.saves.last().cloned().expect("saved");
        let raised: Vec<AlertKind> = saved.raised_alerts.iter().map(|(kind, _)| *kind).collect();
        assert!(raised.contains(&AlertKind::CameraBlinded) && raised.contains(&AlertKind::SpoolFilling), "{raised:?}");
        assert!(raised.contains(&AlertKind::CameraOffline), "cam-2 and cam-3 never sent a frame: {raised:?}");

        let site = Site::parse(SITE, "site.toml").expect("test site");
        let (now, wall) = (now + s(100), wall + s(100));
        let clocks = (now, wall);
        // Moved before the restart: the new baseline is the view now, so it is over.
        let mut saved = saved;
        saved.raised_alerts.insert((AlertKind::CameraMoved, "cam-1".into()));
        let mut core = NodeCore::new(&site, &keyed(), Some(saved), now, wall);
        let mut out = Recorder { connected: true, fill_ratio: 0.1, ..Recorder::default() };
        core.start(&mut out);
        for second in 0..=35 {
            // Still dark; cam-3 back.
            core.handle(NodeEvent::CameraState { camera: 2, state: CameraState::Live }, &mut out);
            core.handle(frame(2, s(second), clocks, &[]), &mut out);
            core.handle(view_frame(s(second), clocks, 1.0, 1.0), &mut out);
            core.handle(tick(s(second), clocks), &mut out);
        }
        let sent = kinds(&out);
        assert!(!sent.contains(&AlertKind::CameraBlinded), "still blinded: not raised again ({sent:?})");
        assert!(sent.contains(&AlertKind::SpoolDrained), "{sent:?}");
        let back: Vec<&str> = out.alerts(AlertKind::CameraBack).iter().map(|a| a.subject.as_str()).collect();
        assert_eq!(back, ["cam-3"]);
        assert!(out.alerts(AlertKind::CameraOffline).is_empty(), "cam-2 is still away: {sent:?}");
        assert_eq!(out.alerts(AlertKind::CameraViewRestored).len(), 1, "{sent:?}");
        let on: Vec<AlertKind> = core.snapshot(&out, now + s(35)).alerts_on.into_iter().map(|(k, _)| k).collect();
        assert_eq!(on, [AlertKind::CameraOffline, AlertKind::CameraBlinded], "cam-2 away, cam-1 dark");
    }
}
