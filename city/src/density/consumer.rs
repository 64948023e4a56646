//! The consumer: an MQTT 5 client on its own thread that subscribes to the counts and occupancy
//! of every node (through a shared subscription when given a group, so stateless workers split
//! the load), hands each message to [`Ingest`], and acknowledges it only once stored: a worker
//! killed half-way leaves its unacknowledged messages with the broker, which sends them again
//! when the worker's session comes back (same `--consumer-id`).
//!
//! It also keeps the retained `lintel/v1/density/cell/<cell>` topics up to date (every
//! [`CELL_PUBLISH_EVERY`], only cells whose summary changed) and applies the retention.
//!
//! Counting losses ([`super::losses`]) needs every seq of a node, and alerts and node status take
//! seqs too: a consumer that counts also subscribes to `+/alerts` and `+/node/+/status`, reads
//! only their `node` and `seq` (they are a trickle next to the counts) and acknowledges them. A
//! worker of a share group sees only a share of each node's seqs, so it does not count.
//!
//! With a [`ConsoleFeed`] (the operators' console, [`crate::console`]), every message also goes
//! to the console's picture; the consumer then subscribes to every node's alerts, status and
//! acknowledgements without sharing them (each worker needs them all; the console's store is
//! idempotent), publishes the acknowledgements made on the page, and tells the console each
//! second how long it has been listening (a consumer cut off from the broker blames no node).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet, Publish};
use rumqttc::v5::{Client, Event, MqttOptions};

use super::ingest::{Ingest, MAX_MESSAGE_BYTES, id_problem};
use super::losses::{LossMetrics, Seen, SeqTracker};
use super::snapshot::{Snapshot, cell_topic};
use super::store::Retention;
use crate::console::ConsoleFeed;
use lintel_wire::UtcTime;

/// How often the retained cell summaries are refreshed.
pub const CELL_PUBLISH_EVERY: Duration = Duration::from_secs(2);
/// How often the cell summaries are recomputed without new messages (freshness changes).
const STALE_RECHECK: Duration = Duration::from_secs(30);
/// How often old data is swept.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// The longest wait between two tries of a store that fails.
pub(crate) const STORE_RETRY_MAX: Duration = Duration::from_secs(30);
/// A batch is written when no message came for this long (what is waiting has been taken)…
pub(crate) const BATCH_LINGER: Duration = Duration::from_millis(2);
/// …or when its first message has waited this long, whatever keeps arriving.
pub(crate) const BATCH_WAIT_MAX: Duration = Duration::from_millis(50);

/// Where and how to subscribe.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    pub host: String,
    pub port: u16,
    /// The MQTT client id; a restarted worker with the same id gets its session back.
    pub client_id: String,
    /// `Some(group)`: `$share/<group>/…` subscriptions, the load split between the group's workers.
    pub share_group: Option<String>,
    /// How long the broker keeps the session (and queues messages) of a worker that is away.
    pub session_expiry_s: u32,
    /// Messages the broker may send before earlier ones are acknowledged (also the most a
    /// batch can gather: the broker sends no more until the batch is stored and acknowledged).
    pub receive_maximum: u16,
    /// The most messages written in one store transaction; 1 writes each message on its own
    /// (as before batches, kept for comparison).
    pub batch: usize,
    /// Buildings whose data is older than this are stale (for the cell summaries).
    pub stale_after_s: i64,
    pub retention: Retention,
    /// Publish the retained cell summaries.
    pub publish_cells: bool,
    /// Count the seqs that never arrive here (ignored with a share group: see the module).
    pub losses: Option<Arc<LossMetrics>>,
    /// The operators' console, fed every message.
    pub console: Option<Arc<std::sync::Mutex<Option<ConsoleFeed>>>>,
    /// The broker's login (user, password); never logged.
    pub login: Option<(String, String)>,
}

impl ConsumerConfig {
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            client_id: client_id.into(),
            share_group: None,
            session_expiry_s: 3600,
            receive_maximum: 512,
            batch: 500,
            stale_after_s: 300,
            retention: Retention::default(),
            publish_cells: true,
            losses: None,
            console: None,
            login: None,
        }
    }

    /// Where the seqs are counted: a consumer asked to that sees every message.
    fn losses(&self) -> Option<&Arc<LossMetrics>> {
        self.losses.as_ref().filter(|_| self.share_group.is_none())
    }

    /// The topic filters: counts and occupancy of every site's buildings (and, when counting
    /// losses, every node's alerts and status).
    pub fn filters(&self) -> Vec<String> {
        let root = lintel_wire::TOPIC_ROOT;
        let mut filters: Vec<String> = ["counts", "occupancy"]
            .iter()
            .map(|what| {
                let filter = format!("{root}/+/building/+/{what}");
                match &self.share_group {
                    Some(group) => format!("$share/{group}/{filter}"),
                    None => filter,
                }
            })
            .collect();
        if self.losses().is_some() || self.console.is_some() {
            filters.extend([format!("{root}/+/alerts"), format!("{root}/+/node/+/status")]);
        }
        if self.console.is_some() {
            filters.push(lintel_wire::AlertAck::filter_all());
        }
        filters
    }
}

/// What a running consumer has done, for tests and logs.
#[derive(Debug, Default)]
pub struct ConsumerStatus {
    pub received: AtomicU64,
    pub connected: AtomicBool,
    pub connects: AtomicU64,
}

/// The consumer thread; dropping it stops it.
pub struct Consumer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub status: Arc<ConsumerStatus>,
}

impl Consumer {
    pub fn start(config: ConsumerConfig, ingest: Ingest) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(ConsumerStatus::default());
        let thread = {
            let (stop, status) = (Arc::clone(&stop), Arc::clone(&status));
            std::thread::Builder::new()
                .name("lintel-density".into())
                .spawn(move || run(config, ingest, &stop, &status))?
        };
        Ok(Self { stop, thread: Some(thread), status })
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(config: ConsumerConfig, mut ingest: Ingest, stop: &AtomicBool, status: &ConsumerStatus) {
    let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_start(false)
        .set_session_expiry_interval(Some(config.session_expiry_s))
        .set_receive_maximum(Some(config.receive_maximum))
        .set_max_packet_size(Some(lintel_wire::MAX_INCOMING_PACKET as u32))
        .set_manual_acks(true);
    if let Some((user, password)) = &config.login {
        options.set_credentials(user.clone(), password.clone());
    }
    let (client, mut connection) = Client::new(options, 256);
    let filters: Vec<Filter> = config.filters().into_iter().map(|f| Filter::new(f, QoS::AtLeastOnce)).collect();
    let mut published: HashMap<String, serde_json::Value> = HashMap::new();
    let mut dirty = true;
    let (mut last_cells, mut last_sweep) = (Instant::now() - CELL_PUBLISH_EVERY, Instant::now() - SWEEP_EVERY);
    let mut backoff = Duration::from_millis(200);
    let mut unacked: VecDeque<Publish> = VecDeque::new();
    let (mut seqs, mut last_settle) = (SeqTracker::default(), Instant::now());
    let mut console = config.console.as_ref().and_then(|c| c.lock().ok().and_then(|mut c| c.take()));
    let (mut listening_since_ms, mut last_console_tick) = (None, Instant::now());
    // Received, not yet stored: written together, then acknowledged together.
    let mut batch: Vec<Publish> = Vec::new();
    let mut batch_since = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let wait = if batch.is_empty() { Duration::from_millis(100) } else { BATCH_LINGER };
        let mut write_batch = batch_since.elapsed() >= BATCH_WAIT_MAX;
        match connection.recv_timeout(wait) {
            Err(_) => write_batch = true, // nothing within the timeout: what was waiting is in

            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                status.connected.store(true, Ordering::SeqCst);
                status.connects.fetch_add(1, Ordering::SeqCst);
                backoff = Duration::from_millis(200);
                listening_since_ms = Some(now_ms());
                tracing::info!(filters = ?config.filters(), "density consumer connected");
                if let Err(error) = client.try_subscribe_many(filters.clone()) {
                    tracing::warn!("density consumer: cannot subscribe: {error}");
                }
                dirty = true;
            }
            Ok(Ok(Event::Incoming(Packet::Publish(publish)))) => {
                status.received.fetch_add(1, Ordering::SeqCst);
                let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                let payload = &publish.payload[..publish.payload.len().min(MAX_MESSAGE_BYTES + 1)];
                if let Some(losses) = config.losses() {
                    note_seq(&mut seqs, losses, &topic, payload, publish.retain);
                }
                if let Some(console) = &mut console {
                    console.take(&topic, payload, publish.retain, now_ms());
                }
                if batch.is_empty() {
                    batch_since = Instant::now();
                }
                batch.push(publish);
                write_batch |= batch.len() >= config.batch.max(1);
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                // Their packet ids died with the connection; the broker sends them again.
                unacked.clear();
                batch.clear();
                listening_since_ms = None;
                if status.connected.swap(false, Ordering::SeqCst) {
                    tracing::warn!("density consumer: connection lost: {error}");
                } else {
                    tracing::debug!("density consumer: cannot connect: {error}");
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
        if write_batch && !batch.is_empty() {
            if !store_batch(&mut ingest, &batch, config.batch, stop) {
                return;
            }
            // Only this thread drives the connection: an acknowledgement the client's queue
            // cannot take now waits here and goes out after the next turn, never lost (a
            // lost one would hold the broker's window of unacknowledged messages for good).
            unacked.extend(batch.drain(..));
            dirty = true;
        }
        while let Some(publish) = unacked.front() {
            if client.try_ack(publish).is_err() {
                break;
            }
            unacked.pop_front();
        }
        if let Some(losses) = config.losses()
            && last_settle.elapsed() >= Duration::from_secs(1)
        {
            last_settle = Instant::now();
            seqs.settle(last_settle, losses);
        }
        if let Some(console) = &mut console {
            while let Some(ack) = console.outbox.pop() {
                let Ok(topic) = ack.topic() else { continue };
                if client.try_publish(topic, QoS::AtLeastOnce, true, ack.to_json()).is_err() {
                    console.outbox.put_back(ack);
                    break;
                }
                console.metrics.acks_published.inc();
            }
            if last_console_tick.elapsed() >= Duration::from_secs(1) {
                last_console_tick = Instant::now();
                console.tick(now_ms(), listening_since_ms);
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                console.sweep(now_ms());
            }
        }
        // Buildings go stale with time alone: look again now and then even without messages.
        dirty |= last_cells.elapsed() >= STALE_RECHECK;
        if config.publish_cells
            && dirty
            && last_cells.elapsed() >= CELL_PUBLISH_EVERY
            && status.connected.load(Ordering::SeqCst)
        {
            last_cells = Instant::now();
            dirty = false;
            publish_cells(&client, &mut ingest, &config, &mut published);
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            match ingest.store.sweep(UtcTime::now().unix_seconds(), config.retention) {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "density store: swept rows past retention"),
                Err(error) => tracing::warn!("density store: sweep failed: {error}"),
            }
        }
    }
    let _ = client.try_disconnect();
    // Let the DISCONNECT go out.
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        if connection.recv_timeout(Duration::from_millis(50)).is_ok_and(|e| e.is_err()) {
            break;
        }
    }
}

/// Stores the density layer's messages of `batch` (alerts, node status and acknowledgements are
/// not its own); `false` if asked to stop before they were stored.
fn store_batch(ingest: &mut Ingest, batch: &[Publish], batch_max: usize, stop: &AtomicBool) -> bool {
    let data: Vec<(String, &[u8])> = batch
        .iter()
        .map(|p| {
            (String::from_utf8_lossy(&p.topic).into_owned(), &p.payload[..p.payload.len().min(MAX_MESSAGE_BYTES + 1)])
        })
        .filter(|(topic, _)| topic.ends_with("/counts") || topic.ends_with("/occupancy"))
        .collect();
    let data: Vec<(&str, &[u8])> = data.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    take_retrying(ingest, &data, batch_max, |retry_in| {
        let until = Instant::now() + retry_in;
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    })
}

/// Takes `data` (`(topic, payload)`), in one transaction per `batch_max` messages, or one
/// message at a time when `batch_max` is 1. The store failing (down, busy, disk full) is the one
/// thing that holds messages: retried, backing off from 1 s to [`STORE_RETRY_MAX`], until it takes
/// them, so the broker keeps them rather than them being lost; `wait(how_long)` waits between
/// tries and answers `false` to give up (stopping), then this answers `false`. Data the store
/// refuses is not a failure: the ingest counts it and it is acknowledged like any bad input.
pub(crate) fn take_retrying(
    ingest: &mut Ingest,
    data: &[(&str, &[u8])],
    batch_max: usize,
    mut wait: impl FnMut(Duration) -> bool,
) -> bool {
    let mut retry_in = Duration::from_secs(1);
    let mut next = 0;
    while next < data.len() {
        let taken = if batch_max <= 1 {
            let (topic, payload) = data[next];
            ingest.take(topic, payload, UtcTime::now()).map(|_| 1)
        } else {
            let part = &data[next..(next + batch_max).min(data.len())];
            ingest.take_batch(part, UtcTime::now()).map(|_| part.len())
        };
        match taken {
            Ok(n) => next += n,
            Err(error) => {
                tracing::warn!("density store: {error}; retrying in {} s", retry_in.as_secs());
                if !wait(retry_in) {
                    return false;
                }
                retry_in = (retry_in * 2).min(STORE_RETRY_MAX);
            }
        }
    }
    true
}

/// The wall clock, Unix milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Notes the seq of a message that is a node's own: a Lintel message whose ids are sane and
/// whose topic is the one it belongs on (a node cannot spend another node's seqs by naming it in
/// a payload sent elsewhere). Anything else has no seq to count.
fn note_seq(seqs: &mut SeqTracker, losses: &LossMetrics, topic: &str, payload: &[u8], retained: bool) {
    if payload.len() > MAX_MESSAGE_BYTES {
        return;
    }
    let Ok(message) = serde_json::from_slice::<lintel_wire::Message>(payload) else { return };
    if id_problem(message.node()).is_some() || message.topic().ok().as_deref() != Some(topic) {
        return;
    }
    seqs.see(message.node(), message.seq(), Seen::of(&message, retained), Instant::now(), losses);
}

/// Publishes, retained, the summary of every cell that changed since it was last published.
fn publish_cells(
    client: &Client,
    ingest: &mut Ingest,
    config: &ConsumerConfig,
    published: &mut HashMap<String, serde_json::Value>,
) {
    let states = match ingest.store.latest() {
        Ok(states) => states,
        Err(error) => {
            tracing::warn!("density store: {error}");
            return;
        }
    };
    let snapshot = Snapshot::build(&ingest.grid, &states, UtcTime::now(), config.stale_after_s);
    for cell in &snapshot.cells {
        let summary = serde_json::to_value(cell).unwrap_or_default();
        if published.get(&cell.id) == Some(&summary) {
            continue;
        }
        let message = snapshot.cell_message(cell);
        let payload = serde_json::to_vec(&message).unwrap_or_default();
        match client.try_publish(cell_topic(&cell.id), QoS::AtLeastOnce, true, payload) {
            Ok(()) => {
                published.insert(cell.id.clone(), summary);
            }
            Err(error) => tracing::warn!(cell = %cell.id, "density consumer: cannot publish the cell summary: {error}"),
        }
    }
}
