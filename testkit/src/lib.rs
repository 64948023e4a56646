//! Real services on 127.0.0.1 for the integration tests of every crate: a mosquitto broker and
//! subscriber, a NATS cluster (JetStream, MQTT), a PostgreSQL server, a headless Chromium, each a
//! child process stopped when dropped; and the small helpers around them (free ports, scratch directories, waiting).
//!
//! Nothing here needs GStreamer, ONNX Runtime or OpenCV, so the city server's tests use it too.
//! The edge node's own test camera (`lintel-rtsp-server`) stays with the edge crate's tests.

pub mod browser;
mod mosquitto;
pub mod nats;
pub mod postgres;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub use mosquitto::{Broker, Subscriber};
pub use nats::NatsCluster;
pub use postgres::Postgres;

/// `path` under the workspace's root.
pub fn workspace(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A port nothing listens on right now, never handed out twice in this process.
///
/// Ports come from below Linux's ephemeral range (32768–60999): a port the kernel picked
/// (`bind :0`) and we released can be taken again by any outgoing connection before our server
/// binds it, which happened in CI (a NATS server's route to a peer took the peer's cluster port).
/// Each process starts at its own place in the range, so test binaries running side by side
/// rarely try the same ports.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 15_000;
    const SPAN: u32 = 17_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN)
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lintel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends a signal to a child process (`kill -SIG PID`).
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success(), "kill -{name} {} failed", child.id());
}

/// Polls `condition` every 20 ms until it holds or `limit` has passed; whether it held.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !condition() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Everything logged through `tracing` in this test binary (tests tell their lines apart by the
/// site or client id in them); the first call installs the capture.
pub fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        struct Capture;
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                captured_logs().lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(|| Capture).finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        std::sync::Mutex::new(Vec::new())
    })
}
