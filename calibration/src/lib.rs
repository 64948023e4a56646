//! Lintel's zones and their geometry, and the site file that places them:
//! site → buildings → entrances → cameras → zones.
//!
//! Pure Rust with no I/O beyond reading the site file, so the pipeline, the web calibration page
//! and the tests all share one definition of "crossed the line", and one lens and floor.
//!
//! Estimating a lens from checkerboard views needs OpenCV, and is behind the `checkerboard`
//! feature (off by default): the edge node (`lintel`) enables it; a crate that only reads site
//! files, such as a city server, builds and links without OpenCV. The checkerboard [`Board`] and
//! the renderer of boards seen through a lens are pure Rust and there either way.

pub mod camera_space;
pub mod checkerboard;
pub mod floor;
pub mod geometry;
pub mod lens;
pub mod site;
pub mod site_edit;

pub use camera_space::CameraSpace;
pub use checkerboard::{Board, BoardPose, CheckerboardError};
#[cfg(feature = "checkerboard")]
pub use checkerboard::{CheckerboardViews, LensEstimate, Offer};
pub use floor::{Floor, FloorError};
pub use geometry::{CountingLine, Crossing, Point, Polygon, Side};
pub use lens::Lens;
pub use site::{
    Building, Camera, CameraGeometry, Credentials, Entrance, FloorSettings, Location, Site, SiteError, Zone, ZoneShape,
    ZoneSpace,
};
