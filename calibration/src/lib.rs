//! Lintel's zones and their geometry, and the site file that places them:
//! site → buildings → entrances → cameras → zones.
//!
//! Pure Rust with no I/O beyond reading the site file, so the pipeline, the
//! web calibration page and the tests all share one definition of "crossed
//! the line".

pub mod checkerboard;
pub mod geometry;
pub mod lens;
pub mod site;
pub mod site_edit;

pub use checkerboard::{Board, BoardPose, CheckerboardError, CheckerboardViews, LensEstimate, Offer};
pub use geometry::{CountingLine, Crossing, Point, Polygon, Side};
pub use lens::Lens;
pub use site::{Building, Camera, Credentials, Entrance, Location, Site, SiteError, Zone, ZoneShape};
