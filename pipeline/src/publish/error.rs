//! The publish stage's error.

use super::messages::MessageError;
use super::spool::SpoolError;

/// Why a publisher could not start or a message could not be accepted. One line; never a password.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("MQTT broker {broker}: {problem}")]
    Config { broker: String, problem: String },
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("the MQTT last will: {0}")]
    LastWill(MessageError),
    #[error("cannot start the MQTT publishing thread: {0}")]
    Thread(std::io::Error),
    /// A one-shot publish ([`publish_once`](super::publish_once)) did not complete.
    #[error("MQTT broker {broker}: {problem}")]
    Send { broker: String, problem: String },
}
