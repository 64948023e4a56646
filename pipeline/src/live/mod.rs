//! What the running node shares, live, with whoever watches it: the newest analysed frame of
//! each camera ([`LiveFrames`], with its picture while a page looks), zones a technician saved for
//! the detection thread to take ([`ZoneReloads`]), and the node's metrics ([`NodeMetrics`], a
//! [`Snapshot`] every 250 ms, also Prometheus' collector), and the audit trail ([`AuditTrail`]: who
//! did what, from where), and [`Said`]: a text for a person as the pages' catalogues say it.
//!
//! It sits below both [`node`](crate::node), which writes here, and [`web`](crate::web), which
//! reads here: neither imports the other. Bounded and lossy by design: a slot per camera, the
//! newest replacing the oldest; counts never go this way.

pub mod audit;
pub mod frames;
pub mod metrics;
pub mod said;

pub use crate::privacy::Picture;
pub use audit::{AuditAction, AuditEntry, AuditKeeper, AuditTrail, DETAIL_CODES};
pub use frames::{LiveFrame, LiveFrames, LivePicture, ZoneReload, ZoneReloads, ZoneTallies};
pub use metrics::{BuildingMetrics, CameraMetrics, NodeMetrics, Snapshot};
pub use said::Said;
