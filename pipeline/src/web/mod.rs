//! HTTP at the edge of the node: the Prometheus metrics endpoint.

pub mod metrics;

pub use metrics::{CameraMetrics, MetricsServer, NodeMetrics, Snapshot};
