//! Prometheus metrics of a running node, served as text on `GET /metrics` by a small
//! `std::net` server (one scrape at a time is plenty: Prometheus scrapes every few seconds).
//!
//! Cameras are labelled by their id from the site file, never by their URL (which may carry a
//! host or a user an operator would rather not spread).
//!
//! ```
//! use lintel::web::{CameraMetrics, Snapshot};
//!
//! let snapshot = Snapshot {
//!     cameras: vec![CameraMetrics { id: "cam-07".into(), state: "live", frames_analysed: 12, ..Default::default() }],
//!     ..Default::default()
//! };
//! let text = snapshot.render();
//! assert!(text.contains("lintel_camera_state{camera=\"cam-07\",state=\"live\"} 1\n"));
//! assert!(text.contains("lintel_frames_analysed_total{camera=\"cam-07\"} 12\n"));
//! ```

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The states a camera can be in, each a label value of `lintel_camera_state`.
const CAMERA_STATES: [&str; 4] = ["starting", "live", "retrying", "failed"];

/// One camera's counters since the node started.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CameraMetrics {
    pub id: String,
    /// `starting`, `live`, `retrying` or `failed`.
    pub state: &'static str,
    pub frames_received: u64,
    pub frames_analysed: u64,
    /// Frames analysed without the detector: the motion gate saw nothing move near the zones.
    pub frames_skipped: u64,
    /// Crossings of the zones that add into an entrance.
    pub crossings: u64,
    /// Connections after the first that delivered frames.
    pub reconnects: u64,
    /// Time spent in the detector on this camera's frames.
    pub detector_seconds: f64,
}

/// Everything the endpoint shows, as of the node's last update (every 250 ms).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub cameras: Vec<CameraMetrics>,
    pub mqtt_connected: bool,
    /// Messages in the spool, waiting for the broker.
    pub spool_messages: usize,
    pub spool_bytes: u64,
    /// Messages the broker acknowledged.
    pub messages_published: u64,
    /// Messages written to the spool.
    pub messages_spooled: u64,
    pub mqtt_connects: u64,
    /// Building intervals closed and handed to the publisher.
    pub intervals_published: u64,
}

impl Snapshot {
    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        family(&mut out, "lintel_camera_state", "gauge", "Camera ingest state: 1 for the state it is in.");
        for camera in &self.cameras {
            for state in CAMERA_STATES {
                let value = u8::from(camera.state == state);
                let _ =
                    writeln!(out, "lintel_camera_state{{camera=\"{}\",state=\"{state}\"}} {value}", escape(&camera.id));
            }
        }
        type Value = fn(&CameraMetrics) -> String;
        let per_camera: [(&str, &str, Value); 6] = [
            ("lintel_frames_received_total", "Frames delivered by the camera (before dropping).", |c| {
                c.frames_received.to_string()
            }),
            ("lintel_frames_analysed_total", "Frames tracked and counted.", |c| c.frames_analysed.to_string()),
            (
                "lintel_frames_skipped_total",
                "Frames analysed without the detector (nothing moved near the zones).",
                |c| c.frames_skipped.to_string(),
            ),
            ("lintel_crossings_total", "Entrance crossings counted (entries and exits).", |c| c.crossings.to_string()),
            ("lintel_camera_reconnects_total", "Connections after the first that delivered frames.", |c| {
                c.reconnects.to_string()
            }),
            ("lintel_detector_seconds_total", "Time spent in the detector.", |c| format!("{:.6}", c.detector_seconds)),
        ];
        for (name, help, value) in per_camera {
            family(&mut out, name, "counter", help);
            for camera in &self.cameras {
                let _ = writeln!(out, "{name}{{camera=\"{}\"}} {}", escape(&camera.id), value(camera));
            }
        }
        let node = [
            ("lintel_mqtt_connected", "gauge", "1 while connected to the MQTT broker.", u64::from(self.mqtt_connected)),
            (
                "lintel_spool_messages",
                "gauge",
                "Messages in the spool, waiting for the broker.",
                self.spool_messages as u64,
            ),
            ("lintel_spool_bytes", "gauge", "Bytes of the messages in the spool.", self.spool_bytes),
            (
                "lintel_messages_published_total",
                "counter",
                "Messages the broker acknowledged.",
                self.messages_published,
            ),
            ("lintel_messages_spooled_total", "counter", "Messages written to the spool.", self.messages_spooled),
            ("lintel_mqtt_connects_total", "counter", "Successful connections to the broker.", self.mqtt_connects),
            (
                "lintel_intervals_published_total",
                "counter",
                "Building intervals closed and published.",
                self.intervals_published,
            ),
        ];
        for (name, kind, help, value) in node {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The node's metrics, updated by the node, read by the server.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    snapshot: Mutex<Snapshot>,
}

impl NodeMetrics {
    pub fn update(&self, snapshot: Snapshot) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = snapshot;
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Serves `GET /metrics` on its own thread until dropped.
pub struct MetricsServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `address` (port 0: any free port, see [`MetricsServer::address`]).
    pub fn start(address: SocketAddr, metrics: Arc<NodeMetrics>) -> io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        // Non-blocking accept, so the thread notices the stop flag.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new().name("lintel-metrics".into()).spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(error) = answer(stream, &metrics) {
                            tracing::debug!("metrics request: {error}");
                        }
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(error) => {
                        tracing::warn!("metrics endpoint {address}: {error}");
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
            }
        })?;
        Ok(Self { address, stop, thread: Some(thread) })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request (head only) and answers it; the connection is closed after.
fn answer(mut stream: TcpStream, metrics: &NodeMetrics) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let request = String::from_utf8_lossy(&head);
    let mut words = request.split_whitespace();
    let (status, body) = match (words.next(), words.next()) {
        (Some("GET"), Some("/metrics")) => ("200 OK", metrics.snapshot().render()),
        (Some("GET"), _) => ("404 Not Found", "only /metrics is served here\n".to_string()),
        _ => ("405 Method Not Allowed", "GET /metrics\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())
}
