//! Lintel: count people entering and leaving buildings from the cameras at their doors.
//!
//! The modules follow the data flow of `DESIGN.md`:
//! [`ingest`] → [`infer`] → [`track`] → [`count`] → [`publish`], with [`analysis`] the one place
//! where a camera's frames go through detect → track → count, driven by [`replay`] (`lintel count`)
//! and [`node`] (`lintel run`).

pub mod analysis;
pub mod count;
pub mod detection;
pub mod infer;
pub mod ingest;
pub mod live;
pub mod node;
pub mod publish;
pub mod replay;
pub mod setup;
pub mod track;
pub mod web;
