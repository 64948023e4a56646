//! Running under a service manager (systemd): readiness and liveness notifications, and the
//! credentials it hands over (`LoadCredential=`).
//!
//! Everything here is a no-op outside systemd: without `$NOTIFY_SOCKET` nothing is sent, without
//! `$WATCHDOG_USEC` no keep-alive is due.

mod heartbeat;
mod notify;

pub use self::heartbeat::{Heartbeat, Progress};
pub use self::notify::ServiceNotifier;
pub use lintel_settings::credentials::{CredentialError, credential, credentials_directory};
pub use lintel_settings::logs::{LogTarget, journald_layer};
