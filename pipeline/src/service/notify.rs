//! `sd_notify(3)` for the node: `READY=1` once its cameras and broker link are set up, then
//! `WATCHDOG=1` from the node's own loop at half the interval systemd asked for, so a node whose
//! loop is wedged (or frozen) stops sending it and is restarted.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Tells the service manager how the node is doing. Cloning shares the keep-alive clock.
///
/// ```
/// // Outside systemd (no $NOTIFY_SOCKET) every call is a no-op.
/// let notifier = lintel::service::ServiceNotifier::from_env();
/// notifier.ready("test");
/// notifier.alive();
/// ```
#[derive(Clone, Debug)]
pub struct ServiceNotifier {
    /// How often `WATCHDOG=1` is sent: half of `$WATCHDOG_USEC`; `None` when no watchdog is set.
    every: Option<Duration>,
    last: Arc<Mutex<Option<Instant>>>,
}

impl ServiceNotifier {
    /// The watchdog interval systemd set for this process (`$WATCHDOG_USEC`, `$WATCHDOG_PID`).
    pub fn from_env() -> Self {
        let every = sd_notify::watchdog_enabled().map(|usec| usec / 2).filter(|d| !d.is_zero());
        Self { every, last: Arc::new(Mutex::new(None)) }
    }

    /// Whether systemd expects keep-alives, and at which interval they are sent.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.every
    }

    /// `READY=1` with a status line (shown by `systemctl status`), and the first keep-alive.
    pub fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
        self.alive();
    }

    /// `WATCHDOG=1`, when half of the watchdog interval has passed since the last one; call it
    /// from the loop whose progress it vouches for, as often as you like.
    pub fn alive(&self) {
        let Some(every) = self.every else { return };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| at.elapsed() >= every) {
            *last = Some(Instant::now());
            send(&[NotifyState::Watchdog]);
        }
    }

    /// `STOPPING=1`: the node is shutting down on purpose.
    pub fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }
}

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        // Once per failure kind would be nicer; the socket is local and failures are rare.
        tracing::warn!("cannot notify the service manager: {error}");
    }
}
