//! Prometheus metrics of a running node: the node hands over a [`Snapshot`] of its counters
//! every 250 ms ([`NodeMetrics::update`]); a scrape renders the latest one in the OpenMetrics
//! text format through `prometheus-client` ([`NodeMetrics`] is its collector). The HTTP side is
//! [`web::server`](crate::web::server).
//!
//! Cameras are labelled by their id from the site file, never by their URL (which may carry a
//! host or a user an operator would rather not spread).
//!
//! ```
//! use lintel::ingest::CameraStateKind;
//! use lintel::web::{CameraMetrics, Snapshot};
//!
//! let snapshot = Snapshot {
//!     cameras: vec![CameraMetrics { id: "cam-07".into(), state: CameraStateKind::Live, frames_analysed: 12, ..Default::default() }],
//!     ..Default::default()
//! };
//! let text = snapshot.render();
//! assert!(text.contains("lintel_camera_state{camera=\"cam-07\",state=\"live\"} 1\n"));
//! assert!(text.contains("lintel_camera_state{camera=\"cam-07\",state=\"failed\"} 0\n"));
//! assert!(text.contains("# TYPE lintel_frames_analysed counter\n"));
//! assert!(text.contains("lintel_frames_analysed_total{camera=\"cam-07\"} 12\n"));
//! assert!(text.ends_with("# EOF\n"));
//! ```

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::ingest::CameraStateKind;
use crate::publish::AlertKind;

/// The content type of [`Snapshot::render`]'s text, for the HTTP answer.
pub use lintel_http::OPENMETRICS_CONTENT_TYPE as CONTENT_TYPE;

/// One camera's counters since the node started.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CameraMetrics {
    pub id: String,
    /// One of the four states, each a label value of `lintel_camera_state`.
    pub state: CameraStateKind,
    pub frames_received: u64,
    pub frames_analysed: u64,
    /// Frames analysed without the detector: the motion gate saw nothing move near the zones.
    pub frames_skipped: u64,
    /// Frames the tracker predicted over without the detector because the node was behind.
    pub frames_shed: u64,
    /// Frames dropped before analysis because the node was further behind than a camera's
    /// mailbox holds.
    pub frames_dropped: u64,
    /// Crossings of the zones that add into an entrance.
    pub crossings: u64,
    /// Connections after the first that delivered frames.
    pub reconnects: u64,
    /// Time spent in the detector on this camera's frames.
    pub detector_seconds: f64,
    /// Tamper: the picture is nearly uniform (covered), out of focus, or not the set-up view.
    pub blinded: bool,
    pub defocused: bool,
    pub moved: bool,
    /// Seconds since its last frame arrived; `None` before the first.
    pub last_frame_age_s: Option<f64>,
}

/// One building's occupancy, as of its last closed interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuildingMetrics {
    pub id: String,
    pub occupancy: u64,
    pub capacity: Option<u64>,
}

/// Everything the endpoint shows, as of the node's last update (every 250 ms).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub cameras: Vec<CameraMetrics>,
    pub buildings: Vec<BuildingMetrics>,
    pub mqtt_connected: bool,
    /// Messages in the spool, waiting for the broker.
    pub spool_messages: usize,
    pub spool_bytes: u64,
    /// How full the spool is, 0..1 of its bound.
    pub spool_fill: f64,
    /// Messages the broker acknowledged.
    pub messages_published: u64,
    /// Messages written to the spool.
    pub messages_spooled: u64,
    pub mqtt_connects: u64,
    /// Building intervals closed and handed to the publisher.
    pub intervals_published: u64,
    /// Messages the spool refused for now (full, or a disk fault), held in memory until it
    /// takes them.
    pub messages_held: usize,
    /// Held messages dropped because too many were held.
    pub messages_dropped: u64,
    /// The alert conditions the node raised and has not ended (kind, subject), as its alerts
    /// said over MQTT.
    pub alerts_on: Vec<(AlertKind, String)>,
}

impl Snapshot {
    /// The OpenMetrics text exposition (what `GET /metrics` answers), ending in `# EOF`.
    /// Counters' samples carry the `_total` suffix; their `# TYPE` lines name the family without it.
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        render(&registry)
    }

    /// Writes every family, in a fixed order, from this snapshot's absolute values: the node
    /// counts, this only reports, so counters are constants of the scrape.
    fn encode_families(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "lintel_camera_state",
            "Camera ingest state: 1 for the state it is in.",
            None,
            MetricType::Gauge,
        )?;
        for camera in &self.cameras {
            for state in CameraStateKind::ALL {
                let labels = [("camera", camera.id.as_str()), ("state", state.name())];
                ConstGauge::new(i64::from(camera.state == state)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "lintel_camera_tamper",
            "Camera tamper: 1 while the view is blinded (nearly uniform), defocused or moved.",
            None,
            MetricType::Gauge,
        )?;
        for camera in &self.cameras {
            for (kind, on) in [("blinded", camera.blinded), ("defocused", camera.defocused), ("moved", camera.moved)] {
                let labels = [("camera", camera.id.as_str()), ("kind", kind)];
                ConstGauge::new(i64::from(on)).encode(family.encode_family(&labels)?)?;
            }
        }

        type Count = fn(&CameraMetrics) -> u64;
        let per_camera: [(&str, &str, Count); 7] = [
            ("lintel_frames_received", "Frames delivered by the camera (before dropping).", |c| c.frames_received),
            ("lintel_frames_analysed", "Frames tracked and counted.", |c| c.frames_analysed),
            ("lintel_frames_skipped", "Frames analysed without the detector (nothing moved near the zones).", |c| {
                c.frames_skipped
            }),
            (
                "lintel_frames_shed",
                "Frames the tracker predicted over without the detector because the node was behind (at most every other frame of a camera).",
                |c| c.frames_shed,
            ),
            (
                "lintel_frames_dropped",
                "Frames dropped unanalysed because the node was further behind on the camera than its mailbox holds (4 frames).",
                |c| c.frames_dropped,
            ),
            ("lintel_crossings", "Entrance crossings counted (entries and exits).", |c| c.crossings),
            ("lintel_camera_reconnects", "Connections after the first that delivered frames.", |c| c.reconnects),
        ];
        for (name, help, count) in per_camera {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for camera in &self.cameras {
                ConstCounter::new(count(camera)).encode(family.encode_family(&[("camera", camera.id.as_str())])?)?;
            }
        }
        // The unit makes the name `lintel_detector_seconds` (and adds a `# UNIT` line).
        let mut family = encoder.encode_descriptor(
            "lintel_detector",
            "Time spent in the detector.",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        for camera in &self.cameras {
            ConstCounter::new(camera.detector_seconds)
                .encode(family.encode_family(&[("camera", camera.id.as_str())])?)?;
        }

        let mut family = encoder.encode_descriptor(
            "lintel_building_occupancy",
            "People estimated inside a building, as of its last closed interval.",
            None,
            MetricType::Gauge,
        )?;
        for building in &self.buildings {
            ConstGauge::new(building.occupancy).encode(family.encode_family(&[("building", building.id.as_str())])?)?;
        }

        let mut family = encoder.encode_descriptor(
            "lintel_alert_active",
            "1 for each alert condition the node raised and has not ended (kind, subject).",
            None,
            MetricType::Gauge,
        )?;
        for (kind, subject) in &self.alerts_on {
            let labels = [("kind", kind.name()), ("subject", subject.as_str())];
            ConstGauge::new(1).encode(family.encode_family(&labels)?)?;
        }

        let gauges = [
            ("lintel_mqtt_connected", "1 while connected to the MQTT broker.", u64::from(self.mqtt_connected)),
            ("lintel_spool_messages", "Messages in the spool, waiting for the broker.", self.spool_messages as u64),
            ("lintel_spool_bytes", "Bytes of the messages in the spool.", self.spool_bytes),
            (
                "lintel_messages_held",
                "Messages the spool refused for now (full, disk fault), held in memory.",
                self.messages_held as u64,
            ),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        let counters = [
            ("lintel_messages_published", "Messages the broker acknowledged.", self.messages_published),
            ("lintel_messages_spooled", "Messages written to the spool.", self.messages_spooled),
            ("lintel_mqtt_connects", "Successful connections to the broker.", self.mqtt_connects),
            ("lintel_intervals_published", "Building intervals closed and published.", self.intervals_published),
            ("lintel_messages_dropped", "Held messages dropped because too many were held.", self.messages_dropped),
        ];
        for (name, help, value) in counters {
            ConstCounter::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        Ok(())
    }
}

impl Collector for Snapshot {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.encode_families(encoder)
    }
}

/// The OpenMetrics text of everything in `registry`.
pub(crate) fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail, and our collectors return no errors of their own.
    if let Err(error) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::error!("metrics exposition: {error}");
    }
    out
}

/// The node's metrics, updated by the node, read at each scrape: register it (in an [`Arc`])
/// with a `prometheus-client` [`Registry`] as a collector.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    snapshot: Mutex<Snapshot>,
}

impl NodeMetrics {
    /// Replaces what the next scrape shows.
    pub fn update(&self, snapshot: Snapshot) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = snapshot;
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Collector for NodeMetrics {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A copy, so the node's next update never waits for a scrape to finish writing.
        self.snapshot().encode_families(encoder)
    }
}

/// A registry holding the node's metrics: what `GET /metrics` renders.
pub(crate) fn registry(metrics: Arc<NodeMetrics>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(metrics));
    registry
}
