//! Lintel's edge node: count people entering and leaving buildings from the cameras at their
//! doors, on the box at the door (GStreamer, ONNX Runtime, OpenCV for lens estimation).
//!
//! The modules follow the data flow of `DESIGN.md`:
//! [`ingest`] → [`infer`] → [`track`] → [`count`] → [`publish`], with [`analysis`] the one place
//! where a camera's frames go through detect → track → count, driven by [`replay`] (`lintel count`)
//! and [`node`] (`lintel run`). [`live`] holds what the running node shares with its pages (the
//! newest frames, zone reloads, metrics); [`setup`] is the technicians' set-up domain (zones,
//! lens estimation, validation, the picture they see), and [`web`] serves the pages over both and
//! never imports [`node`]. [`test_camera`] is test support (a clip served as an RTSP camera).
//!
//! Where things go: a new alert kind is a variant of `lintel_wire::AlertKind` (with what ends it),
//! raised and ended in [`node`]'s core; a new message field goes in `lintel_wire::messages` and
//! `schemas/`; a new page is an asset under `web/assets/` and a route in [`web`]. The city server
//! (density layer, map, exports) is the `lintel-city` crate, which shares only the wire format.

pub mod analysis;
pub mod count;
pub mod detection;
pub mod disk_format;
pub mod infer;
pub mod ingest;
pub mod live;
pub mod node;
pub mod privacy;
pub mod publish;
pub mod replay;
pub mod service;
pub mod setup;
pub mod test_camera;
pub mod track;
pub mod web;
