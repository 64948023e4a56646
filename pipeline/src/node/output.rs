//! The seam between the node's state and the world: messages to publish, the broker link's state,
//! and the state file.

use std::path::PathBuf;
use std::sync::Arc;

use super::state_file::{self, SavedState};
use crate::publish::{Message, PublishError, Publisher, PublisherMetrics, PublisherStatus, SpoolError};

/// Where the node shows each message it makes besides publishing it: the operators' board, which
/// records what it is told (the node decides every alert's start and end).
#[derive(Clone)]
pub struct ShowMessage(pub Arc<dyn Fn(&Message) + Send + Sync>);

impl std::fmt::Debug for ShowMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShowMessage")
    }
}

/// Where the node's decisions go. [`PublishingOutput`] is the real one (the MQTT publisher and its
/// spool, the state file); tests use a recording fake.
pub trait NodeOutput {
    /// Hands a message to the publisher (its spool).
    fn publish(&mut self, message: &Message) -> Result<(), Refused>;
    /// The broker link and the spool, now.
    fn link(&self) -> PublisherStatus;
    /// The publisher's counters, for the metrics.
    fn counters(&self) -> PublisherMetrics;
    /// Makes `state` durable (the intervals not yet published, occupancy, commands applied).
    fn save(&mut self, state: &SavedState);
    /// Shows a message on the node's own pages (the operators' board), once, when the node makes
    /// it: before the spool takes it, so a failing spool does not hide its own alert.
    fn show(&mut self, _message: &Message) {}
}

/// Why the publisher did not take a message; one line each, never a secret.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// Not now: the spool is full, or its disk is full, read-only or failing. Try again later.
    Later(String),
    /// Never: the message itself cannot be sent (too large, a bad id for a topic).
    Never(String),
}

/// The real output: the MQTT publisher, and the state file written atomically.
pub struct PublishingOutput<'a> {
    publisher: &'a Publisher,
    state_file: Option<PathBuf>,
    show: Option<ShowMessage>,
    spooled: Option<ShowMessage>,
}

impl<'a> PublishingOutput<'a> {
    pub fn new(publisher: &'a Publisher, state_file: Option<PathBuf>, show: Option<ShowMessage>) -> Self {
        Self { publisher, state_file, show, spooled: None }
    }

    /// Also tells `spooled` each message the spool took, with the `seq` it was given.
    pub fn with_spooled(mut self, spooled: Option<ShowMessage>) -> Self {
        self.spooled = spooled;
        self
    }
}

impl NodeOutput for PublishingOutput<'_> {
    fn publish(&mut self, message: &Message) -> Result<(), Refused> {
        match self.publisher.publish(message.clone()) {
            Ok(seq) => {
                if let Some(ShowMessage(spooled)) = &self.spooled {
                    let mut message = message.clone();
                    message.set_seq(seq);
                    spooled(&message);
                }
                Ok(())
            }
            Err(error @ PublishError::Spool(SpoolError::Io { .. } | SpoolError::Full { .. })) => {
                Err(Refused::Later(error.to_string()))
            }
            Err(error) => Err(Refused::Never(error.to_string())),
        }
    }

    fn link(&self) -> PublisherStatus {
        self.publisher.status()
    }

    fn counters(&self) -> PublisherMetrics {
        self.publisher.metrics()
    }

    fn show(&mut self, message: &Message) {
        if let Some(ShowMessage(show)) = &self.show {
            show(message);
        }
    }

    fn save(&mut self, state: &SavedState) {
        let Some(path) = &self.state_file else { return };
        if let Err(error) = state_file::save(path, state) {
            tracing::error!(path = %path.display(), "cannot save the interval state: {error}");
        }
    }
}
