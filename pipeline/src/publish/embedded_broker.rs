//! The embedded MQTT broker: with no broker configured, `lintel run` starts this one (`rumqttd`) on
//! a loopback address, so a fresh install publishes somewhere any MQTT client on the box can
//! subscribe to.
//!
//! One MQTT 3.1.1 (v4) listener, plain TCP, anonymous; QoS 0 and 1, retained messages and last
//! wills. It is meant for one box: it listens on loopback only, takes at most
//! [`MAX_CONNECTIONS`] clients, and keeps messages in memory (what it holds is lost when the
//! process ends; Lintel's own messages are safe in the spool until the broker acknowledged them).
//!
//! The broker logs through `tracing` under the target `rumqttd`.
//!
//! ```no_run
//! use lintel::publish::embedded_broker::EmbeddedBroker;
//!
//! let broker = EmbeddedBroker::start("127.0.0.1:1883".parse().unwrap()).unwrap();
//! println!("MQTT broker on {}", broker.address());
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::spool::MAX_PAYLOAD_BYTES;

/// The most clients connected at once: Lintel itself, its dashboard and a few local consumers.
pub const MAX_CONNECTIONS: usize = 64;

/// The largest MQTT packet accepted, as the publisher's own limit: a payload up to
/// [`MAX_PAYLOAD_BYTES`] with its topic and headers.
pub const MAX_PACKET_BYTES: usize = 2 * MAX_PAYLOAD_BYTES;

/// How long [`EmbeddedBroker::start`] waits for the broker to answer an MQTT CONNECT.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the embedded broker did not start. One line each.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot start the embedded MQTT broker: {address} is already in use (is another MQTT broker running?)")]
    PortInUse { address: SocketAddr },
    #[error("cannot start the embedded MQTT broker on {address}: {source}")]
    Bind { address: SocketAddr, source: io::Error },
    #[error("the embedded MQTT broker listens on loopback only, not on {address}")]
    NotLoopback { address: SocketAddr },
    #[error("the embedded MQTT broker's configuration: {0}")]
    Config(String),
    #[error("cannot start the embedded MQTT broker's thread: {0}")]
    Thread(io::Error),
    #[error("the embedded MQTT broker on {address} stopped while starting")]
    Stopped { address: SocketAddr },
    #[error("the embedded MQTT broker on {address} did not answer within {} s", READY_TIMEOUT.as_secs())]
    NotReady { address: SocketAddr },
}

/// A running embedded broker. It runs until the process ends: `rumqttd` has no way to stop it,
/// so dropping this handle leaves it running.
#[derive(Debug)]
pub struct EmbeddedBroker {
    address: SocketAddr,
    thread: JoinHandle<()>,
}

impl EmbeddedBroker {
    /// Starts the broker on `address` (a loopback address; port 0 picks a free port) and returns
    /// once it answers an MQTT CONNECT, so clients can connect at once.
    pub fn start(address: SocketAddr) -> Result<EmbeddedBroker, BrokerError> {
        if !address.ip().is_loopback() {
            return Err(BrokerError::NotLoopback { address });
        }
        // rumqttd binds on its own thread and only logs a failure there: find out here, with a
        // clear error, whether the port is free (and which port 0 means).
        let address = match TcpListener::bind(address).and_then(|probe| probe.local_addr()) {
            Ok(bound) => bound,
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => return Err(BrokerError::PortInUse { address }),
            Err(source) => return Err(BrokerError::Bind { address, source }),
        };
        let config = config(address)?;
        let thread = std::thread::Builder::new()
            .name("lintel-broker".into())
            .spawn(move || {
                if let Err(error) = rumqttd::Broker::new(config).start() {
                    tracing::error!(%error, "the embedded MQTT broker stopped");
                }
            })
            .map_err(BrokerError::Thread)?;

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if thread.is_finished() {
                return Err(BrokerError::Stopped { address });
            }
            if handshake(address).is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(BrokerError::NotReady { address });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::debug!(%address, "embedded MQTT broker ready");
        Ok(EmbeddedBroker { address, thread })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// False once the broker's thread has ended (it should not while the process runs).
    pub fn is_running(&self) -> bool {
        !self.thread.is_finished()
    }
}

/// `rumqttd`'s configuration, built as its TOML.
fn config(address: SocketAddr) -> Result<rumqttd::Config, BrokerError> {
    let text = format!(
        r#"
id = 0

[router]
max_connections = {MAX_CONNECTIONS}
max_outgoing_packet_count = 200
# The in-memory log of each topic filter: at most 8 segments of 1 MiB.
max_segment_size = 1048576
max_segment_count = 8

[v4.1]
name = "lintel-embedded"
listen = "{address}"
next_connection_delay_ms = 1

[v4.1.connections]
connection_timeout_ms = 5000
max_payload_size = {MAX_PACKET_BYTES}
max_inflight_count = 100
dynamic_filters = true
"#
    );
    toml::from_str(&text).map_err(|error| BrokerError::Config(error.to_string()))
}

/// One MQTT 3.1.1 CONNECT, its CONNACK, and a DISCONNECT: the broker is up and speaks MQTT.
fn handshake(address: SocketAddr) -> io::Result<()> {
    const CLIENT_ID: &[u8] = b"lintel-embedded-probe";
    let timeout = Duration::from_millis(500);
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // Variable header: protocol name "MQTT", level 4, flags: clean session, keep-alive 10 s.
    let mut packet = vec![0x10, (12 + CLIENT_ID.len()) as u8, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10];
    packet.extend_from_slice(&(CLIENT_ID.len() as u16).to_be_bytes());
    packet.extend_from_slice(CLIENT_ID);
    stream.write_all(&packet)?;
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack)?;
    if connack != [0x20, 0x02, 0x00, 0x00] {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unexpected CONNACK {connack:02x?}")));
    }
    stream.write_all(&[0xe0, 0x00])?;
    // Wait for the broker to close the connection: closing first makes it log an error.
    let _ = stream.read(&mut connack);
    Ok(())
}
