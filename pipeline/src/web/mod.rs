//! HTTP at the edge of the node: [`WebServer`] (axum on its own tokio runtime) and the
//! Prometheus metrics it serves on `GET /metrics`.

pub mod api_error;
pub mod auth;
pub mod board;
pub mod calibrate;
pub mod cross_site;
pub mod dashboard;
pub mod history;
pub mod i18n;
pub mod limits;
pub mod login;
pub mod pages;
pub mod server;
pub mod stills;

pub use crate::live::metrics::{self, BuildingMetrics, CameraMetrics, NodeMetrics, Snapshot};
pub use api_error::ApiError;
pub use auth::{Access, Role};
pub use board::OperatorBoard;
pub use calibrate::CalibrateView;
pub use history::History;
pub use limits::{LoginBackoff, Peer, StreamSlots};
pub use server::{WebServer, WebState};
