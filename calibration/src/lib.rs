//! Lintel's zones and their geometry, and the site file that places them:
//! site → buildings → entrances → cameras → zones.
//!
//! Pure Rust with no I/O beyond reading the site file (OpenCV only to estimate a lens from
//! checkerboard views), so the pipeline, the web calibration page and the tests all share one
//! definition of "crossed the line", and one lens and floor.

pub mod camera_space;
pub mod checkerboard;
pub mod floor;
pub mod geometry;
pub mod lens;
pub mod site;
pub mod site_edit;

pub use camera_space::CameraSpace;
pub use checkerboard::{Board, BoardPose, CheckerboardError, CheckerboardViews, LensEstimate, Offer};
pub use floor::{Floor, FloorError};
pub use geometry::{CountingLine, Crossing, Point, Polygon, Side};
pub use lens::Lens;
pub use site::{
    Building, Camera, CameraGeometry, Credentials, Entrance, FloorSettings, Location, Site, SiteError, Zone, ZoneShape,
    ZoneSpace,
};
