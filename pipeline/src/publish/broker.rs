//! Where and how to reach the MQTT broker, and what arrives from it: the connection-level types
//! that both the connection ([`super::link`]) and the publisher ([`super::mqtt`]) use.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::PublishError;

/// How long a subscription pauses after the broker sent a packet over
/// [`MAX_INCOMING_PACKET`](lintel_wire::MAX_INCOMING_PACKET) on it (or all do, when it cannot be
/// placed): it is most likely retained, and would come again at every subscription (the default
/// of [`BrokerConfig::subscribe_hold_off`]).
pub const SUBSCRIBE_HOLD_OFF: Duration = Duration::from_secs(600);

/// The MQTT protocol version spoken to the broker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MqttVersion {
    /// MQTT 3.1.1, which every broker speaks.
    #[default]
    V311,
    /// MQTT 5: the broker may also refuse a single message (its PubAck reason is then logged and
    /// the message is sent again later, never dropped).
    V5,
}

/// TLS to the broker: the CA that signed its certificate and, when the broker asks for one, the
/// client's own certificate and key. All PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Where and how to connect. MQTT 3.1.1 or 5 over TCP or TLS, clean session (the spool, not the broker
/// session, keeps unsent messages).
#[derive(Clone)]
pub struct BrokerConfig {
    pub host: String,
    pub port: u16,
    /// Other servers of the same broker cluster (`host`, `port`), tried in turn after the current
    /// one is lost: the node moves to the next when a connection fails or ends, keeping its spool's
    /// order (the message in flight is sent again to the next one). Empty: `host:port` only.
    pub fallbacks: Vec<(String, u16)>,
    /// Unique per node: a broker disconnects the older of two clients with the same id.
    pub client_id: String,
    pub username: Option<String>,
    /// Already resolved from the environment or a file; never logged, never in an error.
    pub password: Option<String>,
    /// MQTT keep-alive: zero (off) or at least one second.
    pub keep_alive: Duration,
    /// TCP connect plus CONNACK, and any network write; rounded up to whole seconds (at least 1).
    pub connect_timeout: Duration,
    /// First wait after a failed connection; doubled at each failure up to `max_backoff` (±25 % jitter).
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a sent message may wait for the broker's PubAck before the connection is given up
    /// and made again (the message stays first in the spool and is sent again).
    pub ack_timeout: Duration,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    /// Topic filters subscribed with QoS 1 after every connection; what arrives on them is
    /// handed out by [`Publisher::received`](super::Publisher::received) (commands to the node).
    pub subscriptions: Vec<String>,
    /// How long a subscription pauses after the broker sent a message too large to read on it.
    pub subscribe_hold_off: Duration,
    /// `None`: plain TCP. The broker's certificate must name `host` (a DNS name or an IP address).
    pub tls: Option<TlsFiles>,
    pub version: MqttVersion,
}

impl BrokerConfig {
    /// A configuration with the defaults: no login, keep-alive 30 s, connect timeout 5 s, backoff
    /// 0.2 s to 30 s, PubAck timeout 30 s, a 64 MiB spool (about a week of per-minute counts for a dozen buildings).
    pub fn new(
        host: impl Into<String>,
        port: u16,
        client_id: impl Into<String>,
        spool_dir: impl Into<PathBuf>,
    ) -> Self {
        BrokerConfig {
            host: host.into(),
            port,
            fallbacks: Vec::new(),
            client_id: client_id.into(),
            username: None,
            password: None,
            keep_alive: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            ack_timeout: Duration::from_secs(30),
            spool_dir: spool_dir.into(),
            spool_max_bytes: 64 << 20,
            subscriptions: Vec::new(),
            subscribe_hold_off: SUBSCRIBE_HOLD_OFF,
            tls: None,
            version: MqttVersion::V311,
        }
    }

    /// `host:port`, for messages.
    pub fn broker(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Every server, `host:port` first, then the fallbacks.
    pub fn brokers(&self) -> Vec<(String, u16)> {
        std::iter::once((self.host.clone(), self.port)).chain(self.fallbacks.iter().cloned()).collect()
    }

    pub(super) fn validate(&self) -> Result<(), PublishError> {
        let problem = if self.host.is_empty() || self.fallbacks.iter().any(|(host, _)| host.is_empty()) {
            "the broker host is empty"
        } else if self.client_id.is_empty() {
            "the MQTT client id is empty"
        } else if !self.keep_alive.is_zero() && self.keep_alive < Duration::from_secs(1) {
            "the MQTT keep-alive must be 0 (off) or at least 1 s"
        } else if self.min_backoff.is_zero() || self.min_backoff > self.max_backoff {
            "the reconnect backoff must satisfy 0 < min_backoff <= max_backoff"
        } else if self.ack_timeout.is_zero() {
            "the MQTT acknowledgement timeout must be more than 0"
        } else if self.password.is_some() && self.username.is_none() {
            "an MQTT password is set without a username"
        } else {
            return Ok(());
        };
        Err(PublishError::Config { broker: self.broker(), problem: problem.into() })
    }
}

impl fmt::Debug for BrokerConfig {
    /// Like a derived `Debug`, with the password replaced: configs end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("fallbacks", &self.fallbacks)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("keep_alive", &self.keep_alive)
            .field("connect_timeout", &self.connect_timeout)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("ack_timeout", &self.ack_timeout)
            .field("spool_dir", &self.spool_dir)
            .field("spool_max_bytes", &self.spool_max_bytes)
            .field("subscriptions", &self.subscriptions)
            .field("subscribe_hold_off", &self.subscribe_hold_off)
            .field("tls", &self.tls)
            .field("version", &self.version)
            .finish()
    }
}

/// A message that arrived on one of [`BrokerConfig::subscriptions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Kept by the broker (delivered because we subscribed, not because it was just published).
    pub retained: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_of_a_cluster_are_tried_first_one_first_and_none_may_be_empty() {
        let mut config = BrokerConfig::new("n1", 1883, "lintel-s1-edge-01", "/tmp/spool");
        assert_eq!(config.brokers(), vec![("n1".to_string(), 1883)]);
        config.fallbacks = vec![("n2".into(), 1884), ("n3".into(), 1885)];
        assert_eq!(config.brokers().iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(), ["n1", "n2", "n3"]);
        assert!(config.validate().is_ok());
        config.fallbacks.push((String::new(), 1886));
        assert!(config.validate().is_err());
    }
}
