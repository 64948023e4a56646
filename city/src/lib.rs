//! Lintel's city server: what serves a community (and later a city) from the messages of many
//! edge nodes, with no GStreamer, ONNX Runtime or OpenCV in it.
//!
//! - [`density`]: the population-density layer: consumer, store, grid roll-ups, map, exports.
//! - [`console`]: the operators' console: every node, camera and alert, incidents and their
//!   acknowledgements.
//!
//! Its inputs are the wire messages of `lintel_wire`; its HTTP server is `lintel_http`'s. The
//! `lintel-city` binary (`src/main.rs`, `src/cli.rs`) is its command line.

pub mod console;
pub mod density;
