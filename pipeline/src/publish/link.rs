//! One MQTT connection, seen the same way whether it speaks MQTT 3.1.1 or 5: rumqttc has a client
//! per protocol version with its own types, and the publisher needs only a few of their events.

use std::time::Duration;

use rumqttc::{Outgoing, QoS, TlsConfiguration, Transport};

use super::broker::{BrokerConfig, MqttVersion, Received};
use super::error::PublishError;

/// What the connection reports, in the publisher's terms.
pub(super) enum LinkEvent {
    /// The broker accepted the connection.
    Connected,
    /// rumqttc wrote a PUBLISH with this packet id.
    Sent(u16),
    /// The broker answered the PUBLISH with this packet id; `Some(reason)` when it refused it
    /// (MQTT 5 only: a 3.1.1 broker cannot refuse a message it acknowledges).
    Acked {
        pkid: u16,
        refused: Option<String>,
    },
    /// A message arrived on a subscription.
    Message(Received),
    /// rumqttc wrote the DISCONNECT asked for by [`Link::close`].
    DisconnectSent,
    Other,
}

/// Why the connection failed, in the publisher's terms.
pub(super) enum LinkError {
    /// The broker refused the connection; `login` when the code says the login is wrong.
    Refused {
        login: bool,
        code: String,
    },
    Io(String),
    Timeout,
    Tls(String),
    /// The broker closed a working connection (end of stream or reset): a broker that stops, or
    /// another client that connected with the same client id (MQTT 3.1.1 says nothing more).
    ClosedByBroker(String),
    /// MQTT 5: the broker ended the session because another client connected with the same id.
    TakenOver,
    /// The broker sent a packet over the incoming limit (a huge retained message on a subscribed
    /// topic, say): rumqttc cannot skip it and drops the connection.
    TooLarge(String),
    Other(String),
}

/// The connection's event channel is gone: the publisher thread must end.
pub(super) struct Closed;

/// One per publisher or command: boxed, as the two connections differ much in size.
pub(super) enum Link {
    V311(Box<(rumqttc::Client, rumqttc::Connection)>),
    V5(Box<(rumqttc::v5::Client, rumqttc::v5::Connection)>),
}

/// The last will: topic and payload (QoS 1, retained).
pub(super) type Will = (String, Vec<u8>);

impl Link {
    /// The client and its connection (not yet made: it is made by the first `recv`).
    /// `max_incoming` bounds the memory one packet from the broker may take (MQTT 5 also tells the
    /// broker, which then never sends a bigger one); `max_outgoing` is the largest PUBLISH we send.
    pub(super) fn new(
        config: &BrokerConfig,
        will: Option<Will>,
        max_incoming: usize,
        max_outgoing: usize,
    ) -> Result<Link, PublishError> {
        let transport = transport(config)?;
        let timeout = config.connect_timeout.as_secs_f64().ceil().max(1.0) as u64;
        // Few slots suffice: the publisher queues one publish at a time.
        Ok(match config.version {
            MqttVersion::V311 => {
                let mut options = rumqttc::MqttOptions::new(config.client_id.clone(), config.host.clone(), config.port);
                options.set_keep_alive(config.keep_alive).set_clean_session(true).set_transport(transport);
                options.set_max_packet_size(max_incoming, max_outgoing);
                if let Some(username) = &config.username {
                    options.set_credentials(username.clone(), config.password.clone().unwrap_or_default());
                }
                if let Some((topic, payload)) = will {
                    options.set_last_will(rumqttc::LastWill::new(topic, payload, QoS::AtLeastOnce, true));
                }
                let (client, mut connection) = rumqttc::Client::new(options, 4);
                let mut network = rumqttc::NetworkOptions::new();
                network.set_tcp_nodelay(true);
                network.set_connection_timeout(timeout);
                connection.eventloop.set_network_options(network);
                Link::V311(Box::new((client, connection)))
            }
            MqttVersion::V5 => {
                use rumqttc::v5::mqttbytes::QoS as QoS5;
                let mut options =
                    rumqttc::v5::MqttOptions::new(config.client_id.clone(), config.host.clone(), config.port);
                options.set_keep_alive(config.keep_alive).set_clean_start(true).set_transport(transport);
                options.set_max_packet_size(Some(max_incoming as u32)).set_connection_timeout(timeout);
                if let Some(username) = &config.username {
                    options.set_credentials(username.clone(), config.password.clone().unwrap_or_default());
                }
                if let Some((topic, payload)) = will {
                    options.set_last_will(rumqttc::v5::mqttbytes::v5::LastWill::new(
                        topic,
                        payload,
                        QoS5::AtLeastOnce,
                        true,
                        None,
                    ));
                }
                let (client, connection) = rumqttc::v5::Client::new(options, 4);
                Link::V5(Box::new((client, connection)))
            }
        })
    }

    /// Waits for the next event (a connection attempt, when not connected, is bounded by the
    /// connect timeout).
    pub(super) fn recv(&mut self) -> Result<Result<LinkEvent, LinkError>, Closed> {
        match self {
            Link::V311(link) => link.1.recv().map(v311).map_err(|_| Closed),
            Link::V5(link) => link.1.recv().map(v5).map_err(|_| Closed),
        }
    }

    /// Like `recv`, `Ok(None)` when nothing happened within `timeout`.
    pub(super) fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Result<LinkEvent, LinkError>>, Closed> {
        match self {
            Link::V311(link) => match link.1.recv_timeout(timeout) {
                Ok(event) => Ok(Some(v311(event))),
                Err(rumqttc::RecvTimeoutError::Timeout) => Ok(None),
                Err(rumqttc::RecvTimeoutError::Disconnected) => Err(Closed),
            },
            Link::V5(link) => match link.1.recv_timeout(timeout) {
                Ok(event) => Ok(Some(v5(event))),
                Err(rumqttc::v5::RecvTimeoutError::Timeout) => Ok(None),
                Err(rumqttc::v5::RecvTimeoutError::Disconnected) => Err(Closed),
            },
        }
    }

    /// Queues a QoS 1 PUBLISH; false when the connection's channel is gone.
    pub(super) fn publish(&self, topic: String, payload: Vec<u8>, retained: bool) -> bool {
        match self {
            Link::V311(link) => link.0.try_publish(topic, QoS::AtLeastOnce, retained, payload).is_ok(),
            Link::V5(link) => {
                link.0.try_publish(topic, rumqttc::v5::mqttbytes::QoS::AtLeastOnce, retained, payload).is_ok()
            }
        }
    }

    /// Queues a QoS 1 SUBSCRIBE.
    pub(super) fn subscribe(&self, filter: String) -> bool {
        match self {
            Link::V311(link) => link.0.try_subscribe(filter, QoS::AtLeastOnce).is_ok(),
            Link::V5(link) => link.0.try_subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce).is_ok(),
        }
    }

    /// Sends a DISCONNECT (a clean end: the broker discards the last will) and waits up to
    /// `timeout` until it is written; true when it was. Only on a connected link: on another,
    /// waiting for the DISCONNECT would make a new connection first.
    pub(super) fn close(&mut self, timeout: Duration) -> bool {
        let queued = match self {
            Link::V311(link) => link.0.try_disconnect().is_ok(),
            Link::V5(link) => link.0.try_disconnect().is_ok(),
        };
        if !queued {
            return false;
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.recv_timeout(left) {
                Ok(Some(Ok(LinkEvent::DisconnectSent))) => return true,
                Ok(Some(Ok(_))) if !left.is_zero() => {}
                _ => return false,
            }
        }
    }
}

fn transport(config: &BrokerConfig) -> Result<Transport, PublishError> {
    let Some(tls) = &config.tls else { return Ok(Transport::Tcp) };
    let read = |path: &std::path::PathBuf, what: &str, marker: &str| -> Result<Vec<u8>, PublishError> {
        let problem = |why: String| PublishError::Config {
            broker: config.broker(),
            problem: format!("{}: {why}", path.display()),
        };
        let pem = std::fs::read(path).map_err(|e| problem(format!("cannot read the {what}: {e}")))?;
        if !pem.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            return Err(problem(format!("not a PEM {what} (no {marker} line)")));
        }
        Ok(pem)
    };
    let ca = read(&tls.ca, "CA certificate", "-----BEGIN CERTIFICATE-----")?;
    let client_auth = match &tls.client {
        Some((cert, key)) => Some((
            read(cert, "client certificate", "-----BEGIN CERTIFICATE-----")?,
            read(key, "client key", "PRIVATE KEY-----")?,
        )),
        None => None,
    };
    Ok(Transport::Tls(TlsConfiguration::Simple { ca, alpn: None, client_auth }))
}

/// An I/O error that means the peer closed the connection (rather than could not be reached).
fn closed_by_peer(io: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(io.kind(), ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe)
}

fn v311(event: Result<rumqttc::Event, rumqttc::ConnectionError>) -> Result<LinkEvent, LinkError> {
    use rumqttc::{ConnectReturnCode, ConnectionError, Event, Packet, StateError};
    match event {
        Ok(Event::Incoming(Packet::ConnAck(_))) => Ok(LinkEvent::Connected),
        Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Ok(LinkEvent::Sent(pkid)),
        Ok(Event::Outgoing(Outgoing::Disconnect)) => Ok(LinkEvent::DisconnectSent),
        Ok(Event::Incoming(Packet::PubAck(ack))) => Ok(LinkEvent::Acked { pkid: ack.pkid, refused: None }),
        Ok(Event::Incoming(Packet::Publish(p))) => {
            Ok(LinkEvent::Message(Received { topic: p.topic, payload: p.payload.to_vec(), retained: p.retain }))
        }
        Ok(_) => Ok(LinkEvent::Other),
        Err(ConnectionError::ConnectionRefused(code)) => Err(LinkError::Refused {
            login: matches!(code, ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
            code: format!("{code:?}"),
        }),
        Err(ConnectionError::MqttState(StateError::Deserialization(rumqttc::Error::PayloadSizeLimitExceeded(
            size,
        )))) => Err(LinkError::TooLarge(format!("{size} bytes"))),
        Err(ConnectionError::MqttState(StateError::ConnectionAborted)) => {
            Err(LinkError::ClosedByBroker("end of stream".into()))
        }
        Err(ConnectionError::MqttState(StateError::Io(io)) | ConnectionError::Io(io)) if closed_by_peer(&io) => {
            Err(LinkError::ClosedByBroker(io.to_string()))
        }
        Err(ConnectionError::Io(io)) => Err(LinkError::Io(io.to_string())),
        Err(ConnectionError::NetworkTimeout) => Err(LinkError::Timeout),
        Err(ConnectionError::Tls(tls)) => Err(LinkError::Tls(tls.to_string())),
        Err(other) => Err(LinkError::Other(other.to_string())),
    }
}

fn v5(event: Result<rumqttc::v5::Event, rumqttc::v5::ConnectionError>) -> Result<LinkEvent, LinkError> {
    use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, DisconnectReasonCode, Packet, PubAckReason};
    use rumqttc::v5::{ConnectionError, Event, StateError};
    match event {
        Ok(Event::Incoming(Packet::ConnAck(_))) => Ok(LinkEvent::Connected),
        Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Ok(LinkEvent::Sent(pkid)),
        Ok(Event::Outgoing(Outgoing::Disconnect)) => Ok(LinkEvent::DisconnectSent),
        Ok(Event::Incoming(Packet::PubAck(ack))) => {
            let refused = match ack.reason {
                PubAckReason::Success | PubAckReason::NoMatchingSubscribers => None,
                reason => Some(format!("{reason:?}")),
            };
            Ok(LinkEvent::Acked { pkid: ack.pkid, refused })
        }
        Ok(Event::Incoming(Packet::Publish(p))) => Ok(LinkEvent::Message(Received {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload.to_vec(),
            retained: p.retain,
        })),
        Ok(_) => Ok(LinkEvent::Other),
        Err(ConnectionError::ConnectionRefused(code)) => Err(LinkError::Refused {
            login: matches!(code, ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
            code: format!("{code:?}"),
        }),
        Err(ConnectionError::MqttState(StateError::ServerDisconnect {
            reason_code: DisconnectReasonCode::SessionTakenOver,
            ..
        })) => Err(LinkError::TakenOver),
        Err(ConnectionError::MqttState(
            StateError::IncomingPacketTooLarge { pkt_size, .. }
            | StateError::Deserialization(rumqttc::v5::mqttbytes::Error::PayloadSizeLimitExceeded { pkt_size, .. }),
        )) => Err(LinkError::TooLarge(format!("{pkt_size} bytes"))),
        Err(ConnectionError::MqttState(StateError::ConnectionAborted)) => {
            Err(LinkError::ClosedByBroker("end of stream".into()))
        }
        Err(ConnectionError::MqttState(StateError::Io(io)) | ConnectionError::Io(io)) if closed_by_peer(&io) => {
            Err(LinkError::ClosedByBroker(io.to_string()))
        }
        Err(ConnectionError::Io(io)) => Err(LinkError::Io(io.to_string())),
        Err(ConnectionError::Timeout(_)) => Err(LinkError::Timeout),
        Err(ConnectionError::Tls(tls)) => Err(LinkError::Tls(tls.to_string())),
        Err(other) => Err(LinkError::Other(other.to_string())),
    }
}
