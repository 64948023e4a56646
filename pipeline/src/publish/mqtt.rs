//! The MQTT publisher: a background thread that drains the [`Spool`] to a broker, in order, with QoS 1.
//!
//! [`Publisher::publish`] only writes the message to the spool (durably) and returns its `seq`;
//! the thread sends the oldest spooled message, waits for the broker's PubAck, removes it from the
//! spool, and goes on with the next. One message is in flight at a time, which keeps the order
//! strict at the price of one round trip per message (a few per minute are published).
//!
//! Delivery is *at least once*: if the connection drops after the broker got the in-flight message
//! but before its PubAck arrived, that one message is sent again after reconnecting (same bytes,
//! same `seq`). Consumers de-duplicate by `(node, seq)`; no other message can be duplicated, and
//! none is lost while it fits in the spool.
//!
//! Given the other servers of a broker cluster ([`BrokerConfig::fallbacks`]), the thread moves to
//! the next server when a connection fails or ends, or a PubAck does not come; the spool does not
//! change, so the order and the guarantees above hold across the move.
//!
//! The last will is a node status `offline`, retained. Its `seq` is reserved from the spool when the
//! publisher starts, so it is unique, but it is the one message that may arrive after messages with
//! a higher `seq`, and that may never arrive at all (if the node never reached the broker in that
//! run). Dropping the [`Publisher`] after it published an `offline` node status, once the broker
//! acknowledged everything spooled, ends the connection with an MQTT DISCONNECT, so the broker
//! discards the will and the retained status is that last one (the node's own, with its cameras).
//! In every other case (messages still spooled, the last one not an `offline` status, a crash) the
//! connection is dropped without it and the broker publishes the will: a node that stops is
//! reported offline either way.
//!
//! Hostile or broken brokers and peers (see the README's "Reliability"): a PubAck that never comes
//! ends the connection after [`BrokerConfig::ack_timeout`]; a connection that dies at once does not
//! reset the backoff; a message from the broker over [`MAX_INCOMING_PACKET`] bytes (which rumqttc
//! cannot skip) pauses the one subscription it came on for [`SUBSCRIBE_HOLD_OFF`] rather than
//! looping, the others going on, and after the pause that one is read again (`publish/subscriptions.rs`); received
//! messages over [`MAX_PAYLOAD_BYTES`] or beyond [`RECEIVED_QUEUE`] unread are dropped and counted;
//! another client with the same client id is detected and counted
//! ([`PublisherStatus::take_overs`]).
//!
//! ```no_run
//! use lintel::publish::{BrokerConfig, Message, NodeState, NodeStatus, Publisher, UtcTime};
//!
//! let config = BrokerConfig::new("127.0.0.1", 1883, "lintel-edge-01", "/var/lib/lintel/spool");
//! let offline = NodeStatus {
//!     site: "s1".into(), node: "edge-01".into(), seq: 0, at: UtcTime::now(),
//!     state: NodeState::Offline, cameras: vec![], version: None, web: None,
//! };
//! let publisher = Publisher::start(config, offline.clone()).unwrap();
//! let online = NodeStatus { state: NodeState::Online, ..offline };
//! let seq = publisher.publish(online).unwrap();
//! println!("spooled as {seq}; {:?}", publisher.status());
//! ```

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::broker::{BrokerConfig, Received};
use super::error::PublishError;
use super::link::{Closed, Link, LinkError, LinkEvent, Will};
use super::messages::{Message, NodeState, NodeStatus, SeqNo};
use super::spool::{MAX_PAYLOAD_BYTES, Spool};
use super::subscriptions::{Blamed, Subscriptions};

/// How long the thread waits for network events before it looks at the spool again: the most a
/// freshly published message waits before it is sent.
const IDLE_POLL: Duration = Duration::from_millis(50);

pub use lintel_wire::MAX_INCOMING_PACKET;

pub use super::broker::SUBSCRIBE_HOLD_OFF;

/// Received messages held for [`Publisher::received`]; more are dropped (and counted).
pub const RECEIVED_QUEUE: usize = 1024;

/// Retained messages waiting beside the spool ([`RetainedSender`]); past it the oldest is dropped.
pub const SIDE_QUEUE: usize = 256;

/// A connection that lived less than this does not count as healthy: the backoff goes on growing.
const HEALTHY_AFTER: Duration = Duration::from_secs(5);

/// MQTT 3.1.1 take-over heuristic: this many connections closed by the broker within
/// [`TAKE_OVER_WINDOW`], each less than a window old, look like a second client with our id.
const TAKE_OVER_CLOSES: usize = 3;
const TAKE_OVER_WINDOW: Duration = Duration::from_secs(60);

/// A snapshot of the publisher's state, for the dashboard, logs and health checks.
#[derive(Clone, Debug, PartialEq)]
pub struct PublisherStatus {
    /// Connected to the broker (CONNACK received, no error since).
    pub connected: bool,
    /// The server in use or being tried, `host:port` (one of a cluster's, with fallbacks).
    pub broker: String,
    /// Messages in the spool, not yet acknowledged by the broker.
    pub spooled: usize,
    pub spool_bytes: u64,
    /// 0.0 to 1.0; alert at [`super::SPOOL_ALERT_RATIO`].
    pub fill_ratio: f64,
    /// The problem that stands now, on one line (never the password); `None` once connected again.
    pub last_error: Option<String>,
    /// The last `seq` handed out.
    pub last_seq: SeqNo,
    /// Times the broker ended this client's session because another client connected with the
    /// same client id (MQTT 5 says so; over 3.1.1, inferred from the broker closing fresh
    /// connections repeatedly). Above zero, two nodes probably share a node id.
    pub take_overs: u64,
}

/// Counters since the publisher started, for Prometheus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublisherMetrics {
    /// Messages acknowledged by the broker (and removed from the spool).
    pub sent: u64,
    /// Messages accepted by [`Publisher::publish`] (written to the spool).
    pub spooled: u64,
    /// Successful connections (the first one and every reconnection).
    pub connects: u64,
    /// Received messages dropped because [`RECEIVED_QUEUE`] of them were waiting unread.
    pub received_dropped: u64,
    /// Received messages refused for a payload over [`MAX_PAYLOAD_BYTES`].
    pub received_refused: u64,
}

/// State shared between the [`Publisher`] handle and its thread.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    connected: AtomicBool,
    /// The server in use or being tried.
    broker: Mutex<String>,
    last_error: Mutex<Option<String>>,
    sent: AtomicU64,
    spooled: AtomicU64,
    connects: AtomicU64,
    take_overs: AtomicU64,
    received_dropped: AtomicU64,
    received_refused: AtomicU64,
    /// Retained messages to send beside the spool, oldest first.
    side: Mutex<VecDeque<(String, Vec<u8>)>>,
    side_sent: AtomicU64,
    side_dropped: AtomicU64,
    /// Beats each round of the thread; announces connect attempts and backoff waits.
    heartbeat: crate::service::Heartbeat,
}

/// Publishes retained messages that carry no node `seq` (acknowledgements: they name the
/// incident's seq, not one of their own) beside the spool, so the node's seq stays gapless.
/// Sent before the next spooled message while connected, and again after a reconnection until
/// the broker acknowledges one; kept in memory only (at most [`SIDE_QUEUE`], the oldest dropped
/// past it), so the sender sends again what must survive a restart.
#[derive(Clone)]
pub struct RetainedSender {
    shared: Arc<Shared>,
}

impl RetainedSender {
    /// Queues `payload` for `topic`, retained, QoS 1.
    pub fn send(&self, topic: String, payload: Vec<u8>) {
        let mut side = lock(&self.shared.side);
        if side.len() >= SIDE_QUEUE {
            side.pop_front();
            if self.shared.side_dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!("{SIDE_QUEUE} retained messages wait for the broker: the oldest are dropped");
            }
        }
        side.push_back((topic, payload));
    }

    /// Retained messages the broker acknowledged so far.
    pub fn sent(&self) -> u64 {
        self.shared.side_sent.load(Ordering::Relaxed)
    }
}

/// Publishes Lintel's messages to an MQTT broker through an on-disk spool; see the module docs for the guarantees.
pub struct Publisher {
    spool: Arc<Mutex<Spool>>,
    shared: Arc<Shared>,
    /// Dropped to wake the thread out of a backoff wait.
    wake: Option<mpsc::Sender<()>>,
    received: Mutex<mpsc::Receiver<Received>>,
    worker: Option<JoinHandle<()>>,
}

impl Publisher {
    /// Opens the spool, registers `last_will` (a node status, normally `offline`; its `seq` is
    /// assigned here) and starts the thread that connects and sends. Returns at once; the
    /// connection comes up in the background and [`Publisher::status`] tells how it goes.
    pub fn start(config: BrokerConfig, last_will: NodeStatus) -> Result<Publisher, PublishError> {
        config.validate()?;
        let mut spool = Spool::open(&config.spool_dir, config.spool_max_bytes)?;

        let mut will = Message::from(last_will);
        let will_topic = will.topic().map_err(PublishError::LastWill)?;
        will.set_seq(spool.reserve_seq()?);
        let will_payload = will.to_json().map_err(PublishError::LastWill)?;

        let will = (will_topic, will_payload);
        let link = Link::new(&config, Some(will.clone()), MAX_INCOMING_PACKET, 2 * MAX_PAYLOAD_BYTES)?;

        let spool = Arc::new(Mutex::new(spool));
        let shared = Arc::new(Shared { broker: Mutex::new(config.broker()), ..Shared::default() });
        let (wake, wait) = mpsc::channel();
        let (deliver, received) = mpsc::sync_channel(RECEIVED_QUEUE);
        let worker = Worker {
            link,
            brokers: config.brokers(),
            current: 0,
            config: config.clone(),
            will,
            spool: Arc::clone(&spool),
            shared: Arc::clone(&shared),
            wait,
            broker: config.broker(),
            username: config.username.clone(),
            password: config.password.clone().filter(|p| !p.is_empty()),
            min_backoff: config.min_backoff,
            max_backoff: config.max_backoff,
            jitter: RandomState::new(),
            waits: 0,
            logged: None,
            subscriptions: Subscriptions::new(&config.subscriptions, config.subscribe_hold_off),
            deliver,
            connected_at: None,
            closures: VecDeque::new(),
            take_over_logged: false,
            refused_logged: false,
            dropping: false,
            offline_acked: false,
        };
        let worker = std::thread::Builder::new()
            .name("lintel-mqtt".into())
            .spawn(move || worker.run())
            .map_err(PublishError::Thread)?;
        Ok(Publisher { spool, shared, wake: Some(wake), received: Mutex::new(received), worker: Some(worker) })
    }

    /// Assigns the message its `seq`, writes it to the spool (fsynced) and returns the `seq`; the
    /// thread sends it when the broker is there. Fails when the spool is full or unwritable.
    pub fn publish(&self, message: impl Into<Message>) -> Result<SeqNo, PublishError> {
        let seq = self.lock_spool().push(message)?;
        self.shared.spooled.fetch_add(1, Ordering::Relaxed);
        Ok(seq)
    }

    /// The sending thread's heartbeat, for the service watchdog.
    pub fn heartbeat(&self) -> &crate::service::Heartbeat {
        &self.shared.heartbeat
    }

    /// Connection state, spool fill and the standing error.
    pub fn status(&self) -> PublisherStatus {
        let (spooled, spool_bytes, fill_ratio, last_seq) = {
            let spool = self.lock_spool();
            (spool.len(), spool.bytes(), spool.fill_ratio(), spool.last_seq())
        };
        let mut last_error = lock(&self.shared.last_error).clone();
        if self.worker.as_ref().is_some_and(|w| w.is_finished()) {
            last_error = Some("the MQTT publishing thread stopped unexpectedly; messages only spool".into());
        }
        PublisherStatus {
            connected: self.shared.connected.load(Ordering::Relaxed),
            broker: lock(&self.shared.broker).clone(),
            spooled,
            spool_bytes,
            fill_ratio,
            last_error,
            last_seq,
            take_overs: self.shared.take_overs.load(Ordering::Relaxed),
        }
    }

    /// A handle that publishes retained messages beside the spool (see [`RetainedSender`]).
    pub fn retained_sender(&self) -> RetainedSender {
        RetainedSender { shared: Arc::clone(&self.shared) }
    }

    /// What arrived on the subscriptions since the last call, in arrival order (at most
    /// [`RECEIVED_QUEUE`] messages wait; what arrives beyond is dropped and counted in
    /// [`PublisherMetrics::received_dropped`]).
    pub fn received(&self) -> Vec<Received> {
        lock(&self.received).try_iter().collect()
    }

    /// Counters since start.
    pub fn metrics(&self) -> PublisherMetrics {
        PublisherMetrics {
            sent: self.shared.sent.load(Ordering::Relaxed),
            spooled: self.shared.spooled.load(Ordering::Relaxed),
            connects: self.shared.connects.load(Ordering::Relaxed),
            received_dropped: self.shared.received_dropped.load(Ordering::Relaxed),
            received_refused: self.shared.received_refused.load(Ordering::Relaxed),
        }
    }

    /// Waits until the spool is empty (everything acknowledged) or `timeout` passes; true if empty.
    /// For a clean shutdown, and for tests.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.lock_spool().is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lock_spool(&self) -> MutexGuard<'_, Spool> {
        lock(&self.spool)
    }
}

impl Drop for Publisher {
    /// Stops the thread (within one connect timeout at worst). The connection ends with a DISCONNECT
    /// when the spool is empty and the last message acknowledged was an `offline` node status (the
    /// broker then discards the will); otherwise without one, so the broker publishes the last will.
    /// Spooled messages stay for the next start.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        drop(self.wake.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Locks a mutex even if a panicking thread poisoned it: the spool's state is updated only after
/// each file operation succeeded, so it is consistent at every point a panic could happen.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The spooled message the broker has not acknowledged yet.
struct InFlight {
    seq: SeqNo,
    /// The MQTT packet id, known once rumqttc has written the PUBLISH.
    pkid: Option<u16>,
    /// When it was handed to rumqttc: the PubAck timeout runs from here.
    since: Instant,
    /// A node status `offline`: once acknowledged, a clean stop may end with a DISCONNECT.
    offline_status: bool,
    /// A retained message from beside the spool (`seq` means nothing then).
    side: Option<(String, Vec<u8>)>,
}

/// The background thread's state: the rumqttc connection and what it needs to report.
struct Worker {
    link: Link,
    /// The servers of the broker cluster (`config.host` first) and the one in use: on a lost or
    /// failed connection the next one is tried.
    brokers: Vec<(String, u16)>,
    current: usize,
    /// To make a new connection after a PubAck timeout (its host and port: the server in use).
    config: BrokerConfig,
    will: Will,
    spool: Arc<Mutex<Spool>>,
    shared: Arc<Shared>,
    /// Never receives anything; disconnects when the Publisher drops, which ends a backoff wait.
    wait: mpsc::Receiver<()>,
    broker: String,
    username: Option<String>,
    password: Option<String>,
    min_backoff: Duration,
    max_backoff: Duration,
    /// Randomly keyed: hashing a counter with it gives each wait its jitter without a random crate.
    jitter: RandomState,
    waits: u64,
    /// The last error written to the log, so a broker that stays away is logged once, not every retry.
    logged: Option<String>,
    subscriptions: Subscriptions,
    deliver: mpsc::SyncSender<Received>,
    /// `Some` while connected (CONNACK received, no error since).
    connected_at: Option<Instant>,
    /// When the broker closed recent, young connections (the MQTT 3.1.1 take-over heuristic).
    closures: VecDeque<Instant>,
    take_over_logged: bool,
    refused_logged: bool,
    /// Received messages are being dropped (the queue is full); logged once per burst.
    dropping: bool,
    /// The last message acknowledged was a node status `offline`.
    offline_acked: bool,
}

impl Worker {
    fn run(mut self) {
        let mut backoff = self.min_backoff;
        let mut in_flight: Option<InFlight> = None;
        while !self.shared.stop.load(Ordering::Relaxed) {
            self.shared.heartbeat.beat();
            let Some(connected_at) = self.connected_at else {
                // `recv` runs one connection attempt, bounded by the connect timeout.
                self.shared.heartbeat.quiet_for(self.config.connect_timeout.saturating_mul(2));
                match self.link.recv() {
                    Ok(Ok(LinkEvent::Connected)) => {
                        // Clean session: nothing of the old connection will be resent by rumqttc,
                        // so the spool's oldest message goes out again.
                        self.requeue(in_flight.take());
                        self.on_connected();
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => {
                        self.report(&error);
                        if !self.fail_over() {
                            break;
                        }
                        backoff = self.wait_backoff(backoff);
                    }
                    Err(Closed) => break,
                }
                continue;
            };

            self.subscribe_next();
            if in_flight.is_none() {
                let side = lock(&self.shared.side).pop_front();
                if let Some((topic, payload)) = side {
                    if !self.link.publish(topic.clone(), payload.clone(), true) {
                        break;
                    }
                    let since = Instant::now();
                    in_flight = Some(InFlight {
                        seq: 0,
                        pkid: None,
                        since,
                        offline_status: false,
                        side: Some((topic, payload)),
                    });
                }
            }
            if in_flight.is_none() {
                match self.send_oldest() {
                    Ok(sent) => in_flight = sent,
                    Err(stop) if stop.0 => break,
                    Err(_) => {}
                }
            }
            if let Some(flight) = in_flight.take_if(|f| f.since.elapsed() >= self.config.ack_timeout) {
                let seq = flight.seq;
                self.requeue(Some(flight));
                // A broker that answers pings but never acknowledges would hold the queue forever.
                self.set_error(
                    format!(
                        "MQTT broker {} did not acknowledge message seq {} within {} s; connecting again",
                        self.broker,
                        seq,
                        self.config.ack_timeout.as_secs_f64()
                    ),
                    false,
                );
                // The next server of the cluster, if any (this one may be the sick one).
                self.next_server();
                if !self.renew_link() {
                    break;
                }
                self.connection_lost(connected_at, &mut backoff);
                continue;
            }
            match self.link.recv_timeout(IDLE_POLL) {
                Ok(Some(Ok(LinkEvent::Sent(pkid)))) => {
                    if let Some(flight) = in_flight.as_mut().filter(|f| f.pkid.is_none()) {
                        flight.pkid = Some(pkid);
                    }
                }
                Ok(Some(Ok(LinkEvent::Message(received)))) => self.deliver(received),
                Ok(Some(Ok(LinkEvent::Acked { pkid, refused: Some(reason) }))) => {
                    // Kept in the spool: sent again after a pause, never dropped.
                    if let Some(flight) = in_flight.take_if(|f| f.pkid == Some(pkid)) {
                        if let Some((topic, _)) = flight.side {
                            // Not sent again: a broker that refuses it now (an ACL) refuses it each time.
                            tracing::warn!(
                                "MQTT broker {} refused the retained message on {topic}: {reason}",
                                self.broker
                            );
                            continue;
                        }
                        self.set_error(
                            format!("MQTT broker {} refused message seq {}: {reason}", self.broker, flight.seq),
                            false,
                        );
                        backoff = self.wait_backoff(backoff);
                    }
                }
                Ok(Some(Ok(LinkEvent::Acked { pkid, refused: None }))) => {
                    if let Some(flight) = in_flight.take_if(|f| f.pkid == Some(pkid)) {
                        if flight.side.is_some() {
                            self.shared.side_sent.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        self.shared.sent.fetch_add(1, Ordering::Relaxed);
                        self.offline_acked = flight.offline_status;
                        let acked = lock(&self.spool).ack(flight.seq);
                        if let Err(error) = acked {
                            self.set_error(error.to_string(), false);
                        }
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(error))) => {
                    self.requeue(in_flight.take());
                    self.on_connection_error(&error, connected_at.elapsed());
                    self.report(&error);
                    if !self.fail_over() {
                        break;
                    }
                    self.connection_lost(connected_at, &mut backoff);
                }
                Ok(None) => {}
                Err(Closed) => break,
            }
        }
        // A clean stop after the node said it is offline: DISCONNECT, so that the broker discards
        // the will (older, without the cameras) instead of publishing it over the node's status.
        if self.connected_at.is_some() && in_flight.is_none() && self.offline_acked && lock(&self.spool).is_empty() {
            if self.link.close(Duration::from_secs(2)) {
                tracing::info!(broker = %self.broker, "disconnected from the MQTT broker");
            } else {
                tracing::warn!(broker = %self.broker, "could not send the MQTT DISCONNECT; the broker will publish the last will");
            }
        }
        self.shared.connected.store(false, Ordering::Relaxed);
    }

    /// A retained message from beside the spool that was in flight when its connection ended goes
    /// first at the next one (a spooled one is still in the spool).
    fn requeue(&self, flight: Option<InFlight>) {
        if let Some(side) = flight.and_then(|f| f.side) {
            lock(&self.shared.side).push_front(side);
        }
    }

    fn on_connected(&mut self) {
        self.connected_at = Some(Instant::now());
        self.subscriptions.connected();
        self.shared.connected.store(true, Ordering::Relaxed);
        self.shared.connects.fetch_add(1, Ordering::Relaxed);
        *lock(&self.shared.last_error) = None;
        self.logged = None;
        tracing::info!(broker = %self.broker, "connected to the MQTT broker");
    }

    /// Clean session: subscribe again at every connection, one filter at a time.
    fn subscribe_next(&mut self) {
        if let Some(filter) = self.subscriptions.next(Instant::now())
            && !self.link.subscribe(filter.clone())
        {
            tracing::warn!(broker = %self.broker, "cannot subscribe to {filter}");
        }
    }

    /// After a connection that was up ends: a connection that lived less than [`HEALTHY_AFTER`]
    /// does not reset the backoff (a broker that kills every connection at once must not be
    /// hammered at the shortest backoff).
    fn connection_lost(&mut self, connected_at: Instant, backoff: &mut Duration) {
        self.connected_at = None;
        self.shared.connected.store(false, Ordering::Relaxed);
        if connected_at.elapsed() >= HEALTHY_AFTER {
            *backoff = self.min_backoff;
        }
        *backoff = self.wait_backoff(*backoff);
    }

    /// With other servers of the cluster configured, moves to the next one: a new connection, not
    /// yet made (the old one is dropped without a DISCONNECT: it is lost anyway). Nothing to do
    /// with one server: rumqttc connects to it again. False when the new connection cannot be
    /// made (only a TLS file that vanished since the start).
    fn fail_over(&mut self) -> bool {
        if !self.next_server() {
            return true;
        }
        match Link::new(&self.config, Some(self.will.clone()), MAX_INCOMING_PACKET, 2 * MAX_PAYLOAD_BYTES) {
            Ok(link) => {
                self.link = link;
                true
            }
            Err(error) => {
                self.set_error(error.to_string(), false);
                false
            }
        }
    }

    /// Points the configuration at the next server of the cluster; whether there is another.
    fn next_server(&mut self) -> bool {
        if self.brokers.len() < 2 {
            return false;
        }
        self.current = (self.current + 1) % self.brokers.len();
        (self.config.host, self.config.port) = self.brokers[self.current].clone();
        let from = std::mem::replace(&mut self.broker, self.config.broker());
        lock(&self.shared.broker).clone_from(&self.broker);
        tracing::info!(from = %from, to = %self.broker, "MQTT: trying the next server of the cluster");
        true
    }

    /// Replaces the connection by a new one (not yet made), ending the old one with a DISCONNECT
    /// so that the broker does not publish the will for a connection we chose to end.
    /// False when the new one cannot be made (only a TLS file that vanished since the start).
    fn renew_link(&mut self) -> bool {
        self.link.close(Duration::from_secs(1));
        match Link::new(&self.config, Some(self.will.clone()), MAX_INCOMING_PACKET, 2 * MAX_PAYLOAD_BYTES) {
            Ok(link) => {
                self.link = link;
                true
            }
            Err(error) => {
                self.set_error(error.to_string(), false);
                false
            }
        }
    }

    /// What a lost connection says about the broker or the other clients: a packet too large to
    /// read (pause the subscriptions) or another client with our id (count it, log it once).
    fn on_connection_error(&mut self, error: &LinkError, lived: Duration) {
        match error {
            LinkError::TooLarge(size) => {
                let pause = self.config.subscribe_hold_off.as_secs();
                let limit = MAX_INCOMING_PACKET >> 10;
                match self.subscriptions.too_large(Instant::now()) {
                    Blamed::Filter { topic, first: true } => tracing::error!(
                        "MQTT broker {} sent a message of {size}, over the {limit} KiB limit, right after the subscription \
                         to {topic} (probably retained there): it is ignored, {topic} pauses for {pause} s and is then \
                         read again; the other subscriptions and publishing go on",
                        self.broker,
                    ),
                    Blamed::All { first: true } => tracing::error!(
                        "MQTT broker {} sent a message of {size}, over the {limit} KiB limit, on one of {:?}: it is \
                         ignored and the subscriptions pause for {pause} s (commands do not arrive meanwhile; retained \
                         ones are read then); publishing goes on",
                        self.broker,
                        self.subscriptions.topics(),
                    ),
                    _ => {}
                }
            }
            LinkError::TakenOver => self.taken_over("the broker says another client took the session over"),
            LinkError::ClosedByBroker(_) if lived < TAKE_OVER_WINDOW => {
                let now = Instant::now();
                self.closures.retain(|at| now.duration_since(*at) < TAKE_OVER_WINDOW);
                self.closures.push_back(now);
                if self.closures.len() >= TAKE_OVER_CLOSES {
                    self.taken_over(&format!(
                        "the broker closed {} fresh connections within {} s",
                        self.closures.len(),
                        TAKE_OVER_WINDOW.as_secs()
                    ));
                }
            }
            _ => {}
        }
    }

    fn taken_over(&mut self, why: &str) {
        self.shared.take_overs.fetch_add(1, Ordering::Relaxed);
        if !self.take_over_logged {
            self.take_over_logged = true;
            tracing::error!(
                "MQTT client id {:?} is in use by another client of broker {} ({why}): two nodes may share a node id; \
                 give each box its own",
                self.config.client_id,
                self.broker
            );
        }
    }

    /// Hands a received message to [`Publisher::received`], never blocking this thread: a payload
    /// too large is refused, and what finds the queue full is dropped; each counted, logged once.
    fn deliver(&mut self, received: Received) {
        if received.payload.len() > MAX_PAYLOAD_BYTES {
            self.shared.received_refused.fetch_add(1, Ordering::Relaxed);
            if !self.refused_logged {
                self.refused_logged = true;
                tracing::warn!(
                    "MQTT message on {} refused: {} bytes, over the {} KiB limit (logged once; counted in received_refused)",
                    received.topic,
                    received.payload.len(),
                    MAX_PAYLOAD_BYTES >> 10
                );
            }
            return;
        }
        match self.deliver.try_send(received) {
            Ok(()) => self.dropping = false,
            Err(mpsc::TrySendError::Full(received)) => {
                self.shared.received_dropped.fetch_add(1, Ordering::Relaxed);
                if !self.dropping {
                    self.dropping = true;
                    tracing::warn!(
                        "{RECEIVED_QUEUE} received MQTT messages wait unread: dropping what arrives (first on {}) \
                         until they are read; counted in received_dropped",
                        received.topic
                    );
                }
            }
            // Nobody listening is no reason to stop publishing.
            Err(mpsc::TrySendError::Disconnected(_)) => {}
        }
    }

    /// Hands the oldest spooled message to rumqttc. `Err(Stop(true))` when rumqttc's channel is
    /// gone (the thread must end); spool errors are reported and retried on the next round.
    fn send_oldest(&mut self) -> Result<Option<InFlight>, Stop> {
        let oldest = lock(&self.spool).peek_oldest();
        match oldest {
            Ok(Some(message)) => {
                let offline_status = message.topic.ends_with("/status")
                    && matches!(
                        serde_json::from_slice::<Message>(&message.payload),
                        Ok(Message::NodeStatus(NodeStatus { state: NodeState::Offline, .. }))
                    );
                if !self.link.publish(message.topic, message.payload, message.retained) {
                    return Err(Stop(true));
                }
                Ok(Some(InFlight { seq: message.seq, pkid: None, since: Instant::now(), offline_status, side: None }))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.set_error(error.to_string(), false);
                Err(Stop(false))
            }
        }
    }

    /// Turns a connection error into one line for `status()` and the log.
    fn report(&mut self, error: &LinkError) {
        let broker = &self.broker;
        let (line, refused_login) = match error {
            LinkError::Refused { login: true, code } => {
                let user = self.username.as_deref().map(|u| format!(" as user {u:?}")).unwrap_or_default();
                (
                    format!(
                        "MQTT broker {broker} refused the login{user}: {code} (check the MQTT username and password)"
                    ),
                    true,
                )
            }
            LinkError::Refused { login: false, code } => {
                (format!("MQTT broker {broker} refused the connection: {code}"), false)
            }
            LinkError::Io(io) => (format!("cannot reach MQTT broker {broker}: {io}"), false),
            LinkError::Timeout => (format!("MQTT broker {broker} did not answer in time"), false),
            LinkError::Tls(tls) => (tls_problem(broker, tls), false),
            LinkError::ClosedByBroker(why) => (format!("MQTT broker {broker} closed the connection: {why}"), false),
            LinkError::TakenOver => (
                format!("MQTT broker {broker} ended the session: another client connected with the same client id"),
                false,
            ),
            LinkError::TooLarge(size) => {
                (format!("MQTT broker {broker} sent a packet of {size}, over the limit; connecting again"), false)
            }
            LinkError::Other(other) => (format!("connection to MQTT broker {broker} lost: {other}"), false),
        };
        self.set_error(line, refused_login);
    }

    /// Records the standing error; logs it once (an error for a refused login, a warning otherwise).
    fn set_error(&mut self, line: String, refused_login: bool) {
        // Defence in depth: no error text from below may ever show the password.
        let line = match &self.password {
            Some(password) => line.replace(password.as_str(), "<redacted>"),
            None => line,
        };
        let line = line.replace('\n', " ");
        if self.logged.as_deref() != Some(&line) {
            if refused_login {
                tracing::error!("{line}");
            } else {
                tracing::warn!("{line}; messages are kept in the spool");
            }
            self.logged = Some(line.clone());
        }
        *lock(&self.shared.last_error) = Some(line);
    }

    /// Waits about `backoff` (±25 %, so many nodes don't reconnect in lockstep after a broker
    /// restart), or less if the Publisher is dropped; returns the next backoff.
    fn wait_backoff(&mut self, backoff: Duration) -> Duration {
        self.waits += 1;
        let mut hasher = self.jitter.build_hasher();
        hasher.write_u64(self.waits);
        let factor = 0.75 + (hasher.finish() % 1000) as f64 / 2000.0;
        self.shared.heartbeat.quiet_for(backoff.mul_f64(factor));
        let _ = self.wait.recv_timeout(backoff.mul_f64(factor));
        (backoff * 2).min(self.max_backoff)
    }
}

/// A failed attempt to hand a message to rumqttc; `true` means the thread must stop.
struct Stop(bool);

/// One line for a failed TLS connection (an unknown CA, a certificate for another name, …).
fn tls_problem(broker: &str, error: &str) -> String {
    format!(
        "TLS with MQTT broker {broker} failed: {error} (check the CA file, and that the broker's certificate names the host)"
    )
}

/// Publishes one message with QoS 1 and waits for the broker's acknowledgement, without a spool:
/// for commands sent by a person (`lintel occupancy set`). Fails after `timeout`, or at once when
/// the broker refuses the login; the error is one line without the password.
pub fn publish_once(
    config: &BrokerConfig,
    topic: &str,
    payload: Vec<u8>,
    retained: bool,
    timeout: Duration,
) -> Result<(), PublishError> {
    config.validate()?;
    let broker = config.broker();
    let fail = |problem: String| PublishError::Send { broker: broker.clone(), problem };
    let mut link = Link::new(config, None, MAX_INCOMING_PACKET, 2 * MAX_PAYLOAD_BYTES)?;
    if !link.publish(topic.to_string(), payload, retained) {
        return Err(fail("the MQTT client stopped".into()));
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match link.recv_timeout(left) {
            Ok(Some(Ok(LinkEvent::Acked { refused: None, .. }))) => break,
            Ok(Some(Ok(LinkEvent::Acked { refused: Some(reason), .. }))) => {
                return Err(fail(format!("refused the message: {reason}")));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => return Err(link_failure(config, error)),
            Ok(None) => return Err(fail(format!("no acknowledgement within {} s", timeout.as_secs()))),
            Err(Closed) => return Err(fail("the MQTT client stopped".into())),
        }
    }
    // A clean DISCONNECT; the message is the broker's now whatever happens to it.
    link.close(Duration::from_secs(1));
    Ok(())
}

/// Connects to the broker with `config`'s login and TLS, and disconnects at once: whether it
/// accepts this node (`lintel check`). Nothing is published. Errors as [`publish_once`].
pub fn connect_once(config: &BrokerConfig, timeout: Duration) -> Result<(), PublishError> {
    config.validate()?;
    let broker = config.broker();
    let fail = |problem: String| PublishError::Send { broker: broker.clone(), problem };
    let mut link = Link::new(config, None, MAX_INCOMING_PACKET, 2 * MAX_PAYLOAD_BYTES)?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match link.recv_timeout(left) {
            Ok(Some(Ok(LinkEvent::Connected))) => break,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => return Err(connect_failure(config, error)),
            Ok(None) => return Err(fail(format!("no answer within {} s", timeout.as_secs()))),
            Err(Closed) => return Err(fail("the MQTT client stopped".into())),
        }
    }
    link.close(Duration::from_secs(1));
    Ok(())
}

/// [`link_failure`] of a connection made only to see whether the broker takes it.
fn connect_failure(config: &BrokerConfig, error: LinkError) -> PublishError {
    match link_failure(config, error) {
        PublishError::Send { broker, problem } => {
            PublishError::Send { broker, problem: problem.replacen("cannot publish: ", "cannot connect: ", 1) }
        }
        other => other,
    }
}

/// A failed connection as one line for a person, without the password.
fn link_failure(config: &BrokerConfig, error: LinkError) -> PublishError {
    let broker = config.broker();
    let problem = match error {
        LinkError::Refused { code, .. } => {
            let user = config.username.as_deref().map(|u| format!(" as user {u:?}")).unwrap_or_default();
            format!("refused the connection{user}: {code} (check the MQTT username and password)")
        }
        LinkError::Tls(tls) => tls_problem(&broker, &tls),
        error => {
            let line = match error {
                LinkError::Io(e) | LinkError::Other(e) | LinkError::ClosedByBroker(e) => e,
                LinkError::TooLarge(size) => format!("the broker sent a packet of {size}, over the limit"),
                LinkError::TakenOver => "another client connected with the same client id".into(),
                _ => "no answer in time".into(),
            };
            let line = match &config.password {
                Some(password) if !password.is_empty() => line.replace(password.as_str(), "<redacted>"),
                _ => line,
            };
            format!("cannot publish: {line}")
        }
    };
    PublishError::Send { broker, problem }
}
