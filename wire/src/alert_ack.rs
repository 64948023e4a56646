//! `lintel.alert_ack/1`: a person acknowledged an incident (on a console, or later on a node's
//! own dashboard), so every other reader shows it acknowledged too.
//!
//! An incident is named by the node, the `kind` of the alert that started it and that alert's
//! `seq` (for a console's own `node_offline`: the seq of the node's last status heard, see
//! `lintel-city`'s console). The acknowledgement goes, retained and QoS 1, to
//! `lintel/v1/<site>/node/<node>/alert_ack/<kind>/<seq>`: one retained message per incident, so a
//! console or a node that connects later learns it; readers keep the earliest acknowledgement of
//! an incident when two arrive (`at` decides, not arrival order).
//!
//! Parsing is lenient about fields it does not know (a newer sender may add some) and strict
//! about the lengths and characters of what a page shows.
//!
//! ```
//! use lintel_wire::{AlertAck, UtcTime};
//!
//! let ack = AlertAck {
//!     site: "s1".into(),
//!     node: "edge-01".into(),
//!     kind: "camera_offline".into(),
//!     seq: 17,
//!     subject: Some("cam-07".into()),
//!     by: "王伟".into(),
//!     note: Some("cable replaced".into()),
//!     at: UtcTime::from_unix_seconds(1_795_600_800),
//!     source: Some("lintel-density".into()),
//! };
//! assert_eq!(ack.topic().unwrap(), "lintel/v1/s1/node/edge-01/alert_ack/camera_offline/17");
//! assert_eq!(AlertAck::parse(&ack.to_json()).unwrap(), ack);
//! assert!(AlertAck::parse(br#"{"schema":"lintel.alert_ack/1","by":""}"#).is_err());
//! ```

use serde::{Deserialize, Serialize};

use crate::messages::{MessageError, SeqNo, TOPIC_ROOT, UtcTime};

/// An acknowledgement of one incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertAck {
    pub site: String,
    /// The node whose incident it is.
    pub node: String,
    /// The kind of the alert that started the incident (`camera_offline`, …, or `node_offline`).
    pub kind: String,
    /// The `seq` of the alert that started the incident.
    pub seq: SeqNo,
    /// What the incident is about (a camera, a building, the node), for readers that never saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Who acknowledged: a person's name, 1 to [`AlertAck::MAX_NAME_CHARS`] characters.
    pub by: String,
    /// What they noted, up to [`AlertAck::MAX_NOTE_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at: UtcTime,
    /// Where it was acknowledged: a console's client id or a node's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The JSON form: `schema` first, then the fields.
#[derive(Serialize)]
struct Tagged<'a> {
    schema: &'static str,
    #[serde(flatten)]
    ack: &'a AlertAck,
}

#[derive(Deserialize)]
struct Untagged {
    schema: String,
    #[serde(flatten)]
    ack: AlertAck,
}

impl AlertAck {
    pub const SCHEMA: &'static str = "lintel.alert_ack/1";
    /// The longest name accepted.
    pub const MAX_NAME_CHARS: usize = 64;
    /// The longest note accepted.
    pub const MAX_NOTE_CHARS: usize = 500;
    /// The longest id (site, node, subject, source) accepted.
    pub const MAX_ID_CHARS: usize = 128;
    /// The longest kind accepted (`[a-z_]`).
    pub const MAX_KIND_CHARS: usize = 64;

    /// `lintel/v1/<site>/node/<node>/alert_ack/<kind>/<seq>`.
    pub fn topic(&self) -> Result<String, MessageError> {
        Ok(format!(
            "{TOPIC_ROOT}/{}/node/{}/alert_ack/{}/{}",
            level("site", &self.site)?,
            level("node", &self.node)?,
            level("kind", &self.kind)?,
            self.seq
        ))
    }

    /// The filter a console subscribes to: every node's acknowledgements.
    pub fn filter_all() -> String {
        format!("{TOPIC_ROOT}/+/node/+/alert_ack/+/+")
    }

    /// The filter a node subscribes to: the acknowledgements of its own incidents.
    pub fn filter_of(site: &str, node: &str) -> Result<String, MessageError> {
        Ok(format!("{TOPIC_ROOT}/{}/node/{}/alert_ack/+/+", level("site", site)?, level("node", node)?))
    }

    /// The payload, compact, `"schema"` first.
    pub fn to_json(&self) -> Vec<u8> {
        // Strings and numbers only: serialising cannot fail.
        serde_json::to_vec(&Tagged { schema: Self::SCHEMA, ack: self }).unwrap_or_default()
    }

    /// Reads and checks an acknowledgement; the error is one line saying what is wrong (never
    /// echoing the payload).
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        let json: Untagged = serde_json::from_slice(payload).map_err(|e| format!("not a {}: {e}", Self::SCHEMA))?;
        if json.schema != Self::SCHEMA {
            return Err(format!("schema {:?}, expected {:?}", json.schema, Self::SCHEMA));
        }
        json.ack.check()?;
        Ok(json.ack)
    }

    /// What the schema requires beyond types: ids usable as topic levels, bounded texts without
    /// control characters.
    pub fn check(&self) -> Result<(), String> {
        let text = |field: &str, value: &str, min: usize, max: usize| {
            let n = value.chars().count();
            if n < min || n > max || value.contains(char::is_control) {
                return Err(format!("{field} must have {min} to {max} characters, none a control character"));
            }
            Ok(())
        };
        for (field, value) in [("site", &self.site), ("node", &self.node)] {
            text(field, value, 1, Self::MAX_ID_CHARS)?;
            level("", value).map_err(|_| format!("{field} cannot be an MQTT topic level"))?;
        }
        let kind_ok = !self.kind.is_empty()
            && self.kind.len() <= Self::MAX_KIND_CHARS
            && self.kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        if !kind_ok {
            return Err(format!("kind must be 1 to {} of a-z and _", Self::MAX_KIND_CHARS));
        }
        if let Some(subject) = &self.subject {
            text("subject", subject, 1, Self::MAX_ID_CHARS)?;
        }
        text("by", &self.by, 1, Self::MAX_NAME_CHARS)?;
        if self.by.trim().is_empty() {
            return Err("by must name someone".into());
        }
        if let Some(note) = &self.note {
            text("note", note, 0, Self::MAX_NOTE_CHARS)?;
        }
        if let Some(source) = &self.source {
            text("source", source, 1, Self::MAX_ID_CHARS)?;
        }
        Ok(())
    }
}

fn level<'a>(field: &'static str, value: &'a str) -> Result<&'a str, MessageError> {
    if value.is_empty() || value.contains(['/', '+', '#', '\0']) {
        return Err(MessageError::BadTopicLevel { field, value: value.to_string() });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack() -> AlertAck {
        AlertAck {
            site: "s1".into(),
            node: "edge-01".into(),
            kind: "node_offline".into(),
            seq: 3,
            subject: None,
            by: "Li".into(),
            note: None,
            at: UtcTime::from_unix_seconds(1_795_600_800),
            source: None,
        }
    }

    #[test]
    fn the_json_has_the_schema_first_and_reads_back() {
        let json = String::from_utf8(ack().to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"schema":"lintel.alert_ack/1","site":"s1","node":"edge-01","kind":"node_offline","seq":3,"by":"Li","at":"2026-11-25T10:00:00Z"}"#
        );
        assert_eq!(AlertAck::parse(json.as_bytes()).unwrap(), ack());
        // A newer sender's extra field is read past.
        let newer = json.replace(r#""by""#, r#""extra":1,"by""#);
        assert_eq!(AlertAck::parse(newer.as_bytes()).unwrap(), ack());
        assert_eq!(AlertAck::filter_of("s1", "edge-01").unwrap(), "lintel/v1/s1/node/edge-01/alert_ack/+/+");
    }

    #[test]
    fn what_a_page_would_show_is_bounded() {
        let refused = |change: &dyn Fn(&mut AlertAck)| {
            let mut a = ack();
            change(&mut a);
            AlertAck::parse(&a.to_json()).unwrap_err()
        };
        assert!(refused(&|a| a.by = String::new()).starts_with("by"));
        assert!(refused(&|a| a.by = "   ".into()).starts_with("by"));
        assert!(refused(&|a| a.by = "x".repeat(65)).starts_with("by"));
        assert!(refused(&|a| a.note = Some("a\nb".into())).starts_with("note"));
        assert!(refused(&|a| a.note = Some("n".repeat(501))).starts_with("note"));
        assert!(refused(&|a| a.node = "a/b".into()).starts_with("node"));
        assert!(refused(&|a| a.kind = "Camera".into()).starts_with("kind"));
        let other = String::from_utf8(ack().to_json()).unwrap().replace("alert_ack/1", "alert_ack/9");
        assert!(AlertAck::parse(other.as_bytes()).unwrap_err().starts_with("schema"));
    }
}
