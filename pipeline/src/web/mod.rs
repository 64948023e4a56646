//! HTTP at the edge of the node: [`WebServer`] (axum on its own tokio runtime) and the
//! Prometheus metrics it serves on `GET /metrics`.

pub mod metrics;
pub mod server;

pub use metrics::{CameraMetrics, NodeMetrics, Snapshot};
pub use server::{WebServer, WebState};
