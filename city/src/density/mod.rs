//! The population-density layer (`lintel-city`): consumes the counts and occupancy of many
//! nodes, keeps every building's occupancy, rolls buildings up into the community's grid cells
//! (网格), and serves them as GeoJSON, a history, a map page and a picture, with a retained MQTT
//! topic per cell and an NGSI-LD export for other agencies.
//!
//! - [`grid`]: the grid file (cells and buildings, GeoJSON).
//! - [`ingest`]: one message in, one bounded outcome out (bad input counted, never fatal).
//! - [`store`]: SQLite or PostgreSQL, idempotent on `(node, seq)` and `(building, interval)`.
//! - [`snapshot`]: buildings and cells at one time, with freshness; GeoJSON.
//! - [`consumer`]: the MQTT 5 subscriber (shared subscriptions) feeding [`ingest`].
//! - [`jetstream`]: a worker of a durable JetStream consumer (a NATS cluster) feeding [`ingest`].
//! - [`web`]: `/density.geojson`, `/density/history`, the map page, `/ngsi-ld`, `/metrics`.
//! - [`basemap`]: the map page's basemap: an MBTiles file, a tile URL template, or none.
//! - [`i18n`]: the page's and the pictures' texts in Chinese and English.
//! - [`access`]: the two roles, viewer and analyst, by bearer token.
//! - [`suppress`]: small counts merged on fixed spans, for the export and the viewers' history.
//! - [`losses`]: gaps in each node's `seq`, counted as lost messages.
//! - [`legend`]: the colour classes the map page and the pictures share.
//! - [`render`]: the map as PNG or SVG, in either language.
//! - [`font`]: the pictures' text: the system's CJK font, or ASCII in a bitmap font.
//! - [`ngsi`]: FIWARE `Building` and `CrowdFlowObserved` entities, small counts suppressed.

pub mod access;
pub mod basemap;
pub mod consumer;
pub mod font;
pub mod grid;
pub mod i18n;
pub mod ingest;
pub mod jetstream;
pub mod legend;
pub mod losses;
pub mod ngsi;
pub mod render;
pub mod snapshot;
pub mod store;
pub mod suppress;
pub mod web;

pub use grid::{Grid, GridError};
pub use ingest::{BadInput, Ingest, IngestMetrics, Outcome};
pub use snapshot::Snapshot;
pub use store::{Recorder, Retention, Step, StoreError};
