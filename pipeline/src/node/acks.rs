//! Acknowledgements of this node's incidents made elsewhere (an operators' console), read from
//! MQTT: [`AckReader`] checks each one and hands the good ones to the dashboard ([`AckSink`]).
//!
//! The node subscribes to `lintel/v1/<site>/node/<node>/alert_ack/+/+`
//! ([`AlertAck::filter_of`]): one retained message per incident, so acknowledgements made while
//! the node was away arrive at its next connection. Anyone who can publish to the broker can
//! publish there, so what arrives is bounded and checked: over [`MAX_ACK_BYTES`], not a
//! `lintel.alert_ack/1`, or naming another site, node or incident than its topic says, it is
//! refused, counted and logged once (never echoed). An empty payload is how a retained
//! acknowledgement is cleared from the broker: nothing to do.

use std::sync::Arc;

use lintel_wire::AlertAck;

use crate::publish::Received;

/// The largest acknowledgement read: a name of 64 and a note of 500 characters with the ids fit
/// in well under this.
pub const MAX_ACK_BYTES: usize = 4096;

/// Where acknowledgements read from MQTT go (the operators' dashboard).
#[derive(Clone)]
pub struct AckSink(pub Arc<dyn Fn(AlertAck) + Send + Sync>);

impl std::fmt::Debug for AckSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AckSink")
    }
}

/// The topic filter of this node's acknowledgements, `None` when the site or node id cannot be
/// a topic level (the site file's check refuses those before).
pub fn ack_filter(site: &str, node: &str) -> Option<String> {
    AlertAck::filter_of(site, node).ok()
}

/// Reads the acknowledgements arriving for one node (see the module).
#[derive(Debug)]
pub struct AckReader {
    site: String,
    node: String,
    /// The filter without its `+/+`: a topic starting with it is an acknowledgement's.
    prefix: String,
    refused: u64,
    logged: bool,
}

impl AckReader {
    pub fn new(site: &str, node: &str) -> Option<Self> {
        let filter = ack_filter(site, node)?;
        let prefix = filter.trim_end_matches("+/+").to_string();
        Some(Self { site: site.into(), node: node.into(), prefix, refused: 0, logged: false })
    }

    /// Whether `topic` is one of this node's acknowledgement topics (else it is a command's).
    pub fn is_ack_topic(&self, topic: &str) -> bool {
        topic.starts_with(&self.prefix)
    }

    /// Acknowledgements refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The acknowledgement `received` carries, if it is a good one of this node.
    pub fn read(&mut self, received: &Received) -> Option<AlertAck> {
        if received.payload.is_empty() {
            return None;
        }
        match self.check(received) {
            Ok(ack) => Some(ack),
            Err(why) => {
                self.refused += 1;
                if !std::mem::replace(&mut self.logged, true) {
                    tracing::warn!(
                        "refused an acknowledgement on {}: {why} (logged once; later ones are only counted)",
                        received.topic
                    );
                }
                None
            }
        }
    }

    fn check(&self, received: &Received) -> Result<AlertAck, String> {
        if received.payload.len() > MAX_ACK_BYTES {
            return Err(format!(
                "{} bytes, over the {MAX_ACK_BYTES} a acknowledgement may have",
                received.payload.len()
            ));
        }
        let ack = AlertAck::parse(&received.payload)?;
        if ack.site != self.site || ack.node != self.node {
            return Err(format!("it names node {:?} of site {:?}, not this node", ack.node, ack.site));
        }
        if ack.topic().ok().as_deref() != Some(received.topic.as_str()) {
            return Err(format!("its kind {} and seq {} are not those of its topic", ack.kind, ack.seq));
        }
        Ok(ack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lintel_wire::UtcTime;

    fn ack() -> AlertAck {
        AlertAck {
            site: "s1".into(),
            node: "edge-01".into(),
            kind: "camera_offline".into(),
            seq: 12,
            subject: Some("cam-1".into()),
            by: "Li Wei".into(),
            note: Some("cable".into()),
            at: UtcTime::from_unix_seconds(1_795_600_800),
            source: Some("console-1".into()),
        }
    }

    fn on(topic: &str, payload: Vec<u8>) -> Received {
        Received { topic: topic.into(), payload, retained: true }
    }

    #[test]
    fn a_good_acknowledgement_is_read_and_hostile_ones_are_refused_and_counted() {
        let mut reader = AckReader::new("s1", "edge-01").unwrap();
        let topic = ack().topic().unwrap();
        assert!(reader.is_ack_topic(&topic));
        assert!(!reader.is_ack_topic("lintel/v1/s1/building/b7/occupancy/set"));
        assert!(!reader.is_ack_topic("lintel/v1/s1/node/edge-02/alert_ack/camera_offline/12"));
        assert_eq!(reader.read(&on(&topic, ack().to_json())), Some(ack()));
        assert_eq!(reader.read(&on(&topic, Vec::new())), None, "a cleared retained message");
        assert_eq!(reader.refused(), 0);

        let mut huge = ack();
        huge.note = Some("n".repeat(400));
        let mut payload = huge.to_json();
        payload.extend(std::iter::repeat_n(b' ', MAX_ACK_BYTES));
        let other_node = AlertAck { node: "edge-02".into(), ..ack() };
        let other_seq = AlertAck { seq: 13, ..ack() };
        for bad in [
            payload,
            b"{not json".to_vec(),
            br#"{"schema":"lintel.alert/1"}"#.to_vec(),
            AlertAck { by: " ".into(), ..ack() }.to_json(),
            other_node.to_json(),
            other_seq.to_json(),
        ] {
            assert_eq!(reader.read(&on(&topic, bad)), None);
        }
        assert_eq!(reader.refused(), 6);
    }
}
