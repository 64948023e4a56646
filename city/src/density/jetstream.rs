//! The consumer at city scale: a worker of one durable JetStream pull consumer (NATS), shared by
//! any number of workers, feeding [`Ingest`] exactly as the MQTT consumer does.
//!
//! Nodes keep speaking MQTT: they publish to any server of a NATS cluster through its MQTT
//! listener, which puts `lintel/v1/<site>/building/<b>/counts` on the NATS subject
//! `lintel.v1.<site>.building.<b>.counts`. One stream ([`JetStreamConfig::stream`], replicated)
//! keeps the counts and occupancy subjects; every worker pulls from the same durable consumer, so
//! the cluster hands each message to one worker at a time.
//!
//! - Messages are taken in batches: what is already waiting (up to [`JetStreamConfig::batch`])
//!   is written in one transaction ([`Ingest::take_batch`]).
//! - A message is acknowledged only after its batch was taken: stored, or counted as bad
//!   input (too large, malformed, … the same outcomes and counters as the MQTT path) and
//!   dropped. Bad input is never redelivered; a poisoned message cannot hold the consumer.
//! - A store that fails (down, busy) is retried with the MQTT path's backoff (1 s to 30 s); the
//!   message is kept in progress meanwhile (`+WPI`) so the server does not hand it to another
//!   worker that would only fail the same way.
//! - A worker that dies leaves its unacknowledged messages with the cluster, which hands them to
//!   another worker after [`JetStreamConfig::ack_wait`]. The store is idempotent on `(node,
//!   seq)`, so a message stored but not acknowledged is a `duplicate` the second time.
//! - A server that dies: the client reconnects to another of [`JetStreamConfig::servers`]; the
//!   stream and the consumer are replicated and live on.
//!
//! What this worker does not do (the MQTT consumer does): publish the retained cell summaries,
//! feed the operators' console, count the seqs that never arrive (every worker sees a share).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use futures_util::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::runtime::Runtime;

use super::consumer::{BATCH_LINGER, BATCH_WAIT_MAX, ConsumerStatus, SWEEP_EVERY, take_retrying};
use super::ingest::{Ingest, MAX_MESSAGE_BYTES};
use super::store::Retention;
use lintel_wire::UtcTime;

/// The subjects of the stream: the density layer's data (alerts and status are not in it).
pub const SUBJECTS: [&str; 2] = ["lintel.v1.*.building.*.counts", "lintel.v1.*.building.*.occupancy"];

/// Where and how to consume.
#[derive(Clone, Debug)]
pub struct JetStreamConfig {
    /// `nats://HOST:PORT` of the cluster's servers (any one is enough to start).
    pub servers: Vec<String>,
    /// The stream's name (created by the first worker if absent).
    pub stream: String,
    /// The durable consumer every worker shares.
    pub durable: String,
    /// Copies of the stream, and so of the consumer (3 in a three-server cluster; at most the
    /// servers).
    pub replicas: usize,
    /// How long the stream keeps a message (the longest outage of the store to ride out).
    pub keep: Duration,
    /// How long a worker may hold a message before the cluster gives it to another.
    pub ack_wait: Duration,
    /// Messages pulled at once per worker (each held unacknowledged until stored), and the most
    /// written in one store transaction; 1 writes each message on its own (as before batches).
    pub batch: usize,
    pub retention: Retention,
    pub metrics: Arc<JetStreamMetrics>,
}

impl JetStreamConfig {
    pub fn new(servers: Vec<String>) -> Self {
        Self {
            servers,
            stream: "LINTEL_DENSITY".into(),
            durable: "lintel-density".into(),
            replicas: 3,
            keep: Duration::from_secs(48 * 3600),
            ack_wait: Duration::from_secs(30),
            batch: 500,
            retention: Retention::default(),
            metrics: Arc::default(),
        }
    }

    fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: SUBJECTS.iter().map(|s| s.to_string()).collect(),
            num_replicas: self.replicas,
            max_age: self.keep,
            storage: stream::StorageType::File,
            // Bounded at the door: anything bigger is refused by the server (the ingest counts
            // what gets through over its own 64 KiB limit).
            max_message_size: 1 << 20,
            ..Default::default()
        }
    }

    fn consumer_config(&self) -> pull::Config {
        pull::Config {
            durable_name: Some(self.durable.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            // Every worker's batch outstanding at once, with room to spare.
            max_ack_pending: 20_000,
            // 0: as many copies as the stream has (a consumer cannot have more).
            num_replicas: 0,
            ..Default::default()
        }
    }
}

/// The MQTT topic a NATS subject came from (`lintel.v1.s.building.b.counts` →
/// `lintel/v1/s/building/b/counts`), which the ingest checks against the payload.
pub fn topic_of(subject: &str) -> String {
    subject.replace('.', "/")
}

/// The worker's own counters (the ingest's are [`super::IngestMetrics`]).
#[derive(Debug, Default)]
pub struct JetStreamMetrics {
    /// Messages delivered more than once: another worker died holding them, or an
    /// acknowledgement was lost (the store sees a duplicate when it had taken them).
    pub redelivered: Counter,
}

impl JetStreamMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "lintel_density_nats_redelivered",
            "Messages the NATS cluster delivered again (a worker died holding them, or an acknowledgement was lost).",
            self.redelivered.clone(),
        );
    }
}

/// What went wrong setting up the consumer (each is retried; these are for the log).
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error("cannot connect to {servers}: {reason}")]
    Connect { servers: String, reason: String },
    #[error("stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
    #[error("consumer {durable}: {reason}")]
    Consumer { durable: String, reason: String },
}

/// The worker's thread; dropping it stops it.
pub struct JetStreamConsumer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub status: Arc<ConsumerStatus>,
}

impl JetStreamConsumer {
    pub fn start(config: JetStreamConfig, ingest: Ingest) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(ConsumerStatus::default());
        // The client's connection lives on the runtime's own thread; the store (a blocking
        // client with a runtime of its own) runs in the worker's thread, outside the runtime,
        // so a slow write never holds the connection's heartbeats.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lintel-nats-io")
            .enable_all()
            .build()?;
        let thread = {
            let (stop, status) = (Arc::clone(&stop), Arc::clone(&status));
            std::thread::Builder::new()
                .name("lintel-density-js".into())
                .spawn(move || run(&runtime, config, ingest, &stop, &status))?
        };
        Ok(Self { stop, thread: Some(thread), status })
    }
}

impl Drop for JetStreamConsumer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(runtime: &Runtime, config: JetStreamConfig, mut ingest: Ingest, stop: &AtomicBool, status: &ConsumerStatus) {
    let mut backoff = Duration::from_millis(200);
    let mut last_sweep = Instant::now() - SWEEP_EVERY;
    let mut client = None;
    while !stop.load(Ordering::SeqCst) {
        let pulled = runtime.block_on(async {
            let consumer = setup(&config, &mut client).await?;
            consumer
                .stream()
                .max_messages_per_batch(config.batch)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(10))
                .messages()
                .await
                .map_err(|e| SetupError::Consumer { durable: config.durable.clone(), reason: e.to_string() })
        });
        let mut messages = match pulled {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!("density consumer (NATS): {error}; trying again in {} ms", backoff.as_millis());
                pause(backoff, stop);
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        status.connected.store(true, Ordering::SeqCst);
        status.connects.fetch_add(1, Ordering::SeqCst);
        tracing::info!(stream = %config.stream, durable = %config.durable, "density consumer (NATS) pulling");
        backoff = Duration::from_millis(200);
        while !stop.load(Ordering::SeqCst) {
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                match ingest.store.sweep(UtcTime::now().unix_seconds(), config.retention) {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "density store: swept rows past retention"),
                    Err(error) => tracing::warn!("density store: sweep failed: {error}"),
                }
            }
            // (The timer must be made inside the runtime.)
            let mut batch: Vec<jetstream::Message> = Vec::new();
            let mut pull_again = false;
            let mut since = Instant::now();
            while batch.len() < config.batch.max(1) {
                // The first message is waited for; then what is already waiting is gathered.
                let wait = if batch.is_empty() { Duration::from_millis(200) } else { BATCH_LINGER };
                let next = runtime.block_on(async { tokio::time::timeout(wait, messages.next()).await });
                match next {
                    Err(_) => break, // nothing within the timeout: look at `stop`, or write the batch
                    Ok(None) => {
                        pull_again = true;
                        break;
                    }
                    Ok(Some(Err(error))) => {
                        // A missed heartbeat or a failed pull (a server gone): the client
                        // reconnects by itself; pull again through a fresh handle.
                        tracing::warn!("density consumer (NATS): {error}; pulling again");
                        pull_again = true;
                        break;
                    }
                    Ok(Some(Ok(message))) => {
                        status.received.fetch_add(1, Ordering::SeqCst);
                        if message.info().is_ok_and(|info| info.delivered > 1) {
                            config.metrics.redelivered.inc();
                        }
                        if batch.is_empty() {
                            since = Instant::now();
                        }
                        batch.push(message);
                    }
                }
                if since.elapsed() >= BATCH_WAIT_MAX {
                    break;
                }
            }
            if !batch.is_empty() {
                if !take(runtime, &mut ingest, &batch, config.batch, stop) {
                    return; // stopping, messages not taken: the cluster gives them to another worker
                }
                // Lost on the way (a server dying now)? The cluster redelivers them after
                // `ack_wait` and the store sees duplicates.
                for message in &batch {
                    if let Err(error) = runtime.block_on(message.ack()) {
                        tracing::debug!("density consumer (NATS): acknowledgement not sent: {error}");
                    }
                }
            }
            if pull_again {
                break;
            }
        }
        status.connected.store(false, Ordering::SeqCst);
        pause(backoff, stop);
    }
}

/// Takes a batch, retrying while the store fails (keeping the messages ours meanwhile); `false`
/// if asked to stop before it was taken. `batch_max` 1: one message at a time.
fn take(
    runtime: &Runtime,
    ingest: &mut Ingest,
    batch: &[jetstream::Message],
    batch_max: usize,
    stop: &AtomicBool,
) -> bool {
    let topics: Vec<String> = batch.iter().map(|m| topic_of(m.subject.as_str())).collect();
    let data: Vec<(&str, &[u8])> = batch
        .iter()
        .zip(&topics)
        .map(|(m, topic)| (topic.as_str(), &m.payload[..m.payload.len().min(MAX_MESSAGE_BYTES + 1)]))
        .collect();
    take_retrying(ingest, &data, batch_max, |retry_in| {
        for message in batch {
            let _ = runtime.block_on(message.ack_with(AckKind::Progress));
        }
        pause(retry_in, stop)
    })
}

/// Connects (once; the client then reconnects by itself), makes sure the stream and the durable
/// consumer exist, and returns the consumer.
async fn setup(
    config: &JetStreamConfig,
    client: &mut Option<async_nats::Client>,
) -> Result<jetstream::consumer::PullConsumer, SetupError> {
    if client.is_none() {
        let connected = async_nats::ConnectOptions::new()
            .name("lintel-city")
            .connection_timeout(Duration::from_secs(5))
            // Never give up: a city worker waits for its cluster.
            .max_reconnects(None)
            .connect(config.servers.as_slice())
            .await
            .map_err(|e| SetupError::Connect { servers: config.servers.join(","), reason: e.to_string() })?;
        *client = Some(connected);
    }
    let Some(client) = client.as_ref() else { unreachable!("connected above") };
    let js = jetstream::new(client.clone());
    let stream = js
        .get_or_create_stream(config.stream_config())
        .await
        .map_err(|e| SetupError::Stream { stream: config.stream.clone(), reason: e.to_string() })?;
    stream
        .get_or_create_consumer(&config.durable, config.consumer_config())
        .await
        .map_err(|e| SetupError::Consumer { durable: config.durable.clone(), reason: e.to_string() })
}

/// Sleeps `how_long` in small steps; `false` if asked to stop meanwhile.
fn pause(how_long: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    !stop.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_map_back_to_the_topics_the_nodes_published() {
        assert_eq!(topic_of("lintel.v1.pets.building.hall.counts"), "lintel/v1/pets/building/hall/counts");
        // Every stored subject is a topic the ingest reads.
        for subject in SUBJECTS {
            let topic = topic_of(subject).replace('*', "x");
            assert!(topic.starts_with("lintel/v1/x/building/x/"), "{topic}");
        }
    }

    #[test]
    fn the_stream_and_the_consumer_are_replicated_and_acknowledged_one_by_one() {
        let config = JetStreamConfig::new(vec!["nats://127.0.0.1:4222".into()]);
        assert_eq!(config.stream_config().num_replicas, 3);
        let consumer = config.consumer_config();
        assert_eq!(consumer.ack_policy, jetstream::consumer::AckPolicy::Explicit);
        assert_eq!(consumer.durable_name.as_deref(), Some("lintel-density"));
    }
}
