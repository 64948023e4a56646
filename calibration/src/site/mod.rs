//! The site file: site → buildings → entrances → cameras → zones, and its
//! validation.
//!
//! The file is TOML with flat arrays of tables that refer to each other by
//! id, so each can be checked on its own line:
//!
//! ```toml
//! [site]
//! id = "pets"
//!
//! [[building]]
//! id = "hall"
//!
//! [[entrance]]
//! id = "walkway"
//! building = "hall"
//!
//! [[camera]]
//! id = "walkway"
//! entrance = "walkway"
//! url = "rtsp://10.0.0.7:554/stream1"
//! username_env = "CAM_USER"
//! password_env = "CAM_PASS"
//!
//! [[zone]]
//! camera = "walkway"
//! name = "north"
//! kind = "line"
//! points = [[0.0, 0.52], [1.0, 0.52]]
//! entry_side = "right"
//! ```
//!
//! Every error is one line, `file:line: field: what is wrong`, for example
//! `fixtures/pets.toml:27: zone[1].camera: unknown camera "gate" (cameras:
//! walkway)`. Array indices in field names count from 0, in file order.
//!
//! Which file holds what, in the order a site file goes through them:
//!
//! - `raw.rs`: the file as written, every checked value with its span in the text;
//! - `validate.rs`: the checks that turn the raw file into a [`Site`], with the tolerances they
//!   allow;
//! - `defaults.rs`: what a key the file leaves out stands for;
//! - `mod.rs` (this file): the validated model ([`Site`], [`Building`], [`Camera`], [`Zone`],
//!   …), loading it, and the lookups between its parts;
//! - `error.rs`: [`SiteError`], and the text and path every error is reported against;
//! - `locate.rs`: which field of the file a byte offset falls in, for the errors the TOML parser
//!   reports with a span only;
//! - `redact.rs`: [`redact_urls`], masking credentials in URLs so that no error or log line
//!   carries a secret;
//! - `fixtures.rs` (tests only): the site files the tests build their cases from.
//!
//! Rewriting a camera's zones, lens and floor in a file is [`crate::site_edit`].

mod defaults;
mod error;
mod locate;
mod raw;
mod redact;
mod validate;

#[cfg(test)]
mod fixtures;

use std::path::{Path, PathBuf};

use crate::floor::Floor;
use crate::geometry::{CountingLine, Polygon};
use crate::lens::Lens;

pub use defaults::{DEFAULT_FLOOR_MIN_DISTANCE, DEFAULT_HEIGHT_RANGE_M, DEFAULT_MIN_DISTANCE, DEFAULT_NODE};
pub use error::{Problem, SiteError};
pub use redact::redact_urls;

use error::Source;
use raw::RawFile;

/// A validated site: what one Lintel node counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// Site id, used in MQTT topics.
    pub id: String,
    /// Human-readable name.
    pub name: Option<String>,
    /// Id of this edge node, used in MQTT topics ([`DEFAULT_NODE`] if not given).
    pub node: String,
    /// Whether the site file named the node. Two boxes that both fall back on [`DEFAULT_NODE`]
    /// would share an id, so `lintel run` derives one of its own instead.
    pub node_named: bool,
    /// The site's time zone (an IANA name, e.g. `Asia/Shanghai`): the time pages show people.
    /// `None`: the reader's browser's. Messages stay in UTC.
    pub time_zone: Option<String>,
    /// Buildings, in file order.
    pub buildings: Vec<Building>,
    /// Entrances, in file order.
    pub entrances: Vec<Entrance>,
    /// Cameras, in file order.
    pub cameras: Vec<Camera>,
    /// Zones of all cameras, in file order.
    pub zones: Vec<Zone>,
}

/// A building whose occupancy is counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Building {
    /// Building id, unique in the site, used in MQTT topics.
    pub id: String,
    /// Human-readable name.
    pub name: Option<String>,
    /// How many people it may hold; above this Lintel raises an alert.
    pub capacity: Option<u32>,
    /// Occupancy when counting starts (0 if not given).
    pub initial_occupancy: u32,
    /// The community grid cell it rolls up to in the density layer.
    pub cell: Option<String>,
    /// Where it is.
    pub location: Option<Location>,
}

/// A position in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    /// Latitude, −90..=90.
    pub lat: f64,
    /// Longitude, −180..=180.
    pub lon: f64,
}

/// A door of a building.
#[derive(Debug, Clone, PartialEq)]
pub struct Entrance {
    /// Entrance id, unique in the site.
    pub id: String,
    /// Human-readable name.
    pub name: Option<String>,
    /// Id of the building it belongs to.
    pub building: String,
}

/// A camera watching an entrance.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Camera id, unique in the site.
    pub id: String,
    /// Id of the entrance it watches.
    pub entrance: String,
    /// Source URI (`rtsp://…`, `file://…`), never with credentials in it.
    pub url: String,
    /// Frames per second to analyse; the pipeline's default if `None`.
    pub analysis_fps: Option<f32>,
    /// Whether the detector may skip this camera's frames while nothing moves near its zones;
    /// `None` follows the node's `--motion-gate`.
    pub motion_gate: Option<bool>,
    /// The longest the motion gate skips the detector on this camera, in seconds; `None` follows
    /// the node.
    pub motion_max_skip_s: Option<f32>,
    /// Whether the detector sees this camera's pictures stretched to their full range of
    /// brightness: `Some(true)` always, `Some(false)` never, `None` (`"auto"`, the default) while
    /// they are dark or flat (dusk, night, an infrared night mode).
    pub low_light: Option<bool>,
    /// Whether the detector may look at this camera's zones only, through a smaller network
    /// (`detector_region`); `None` follows the node's `--detector-region`, `Some(false)` always
    /// shows it the whole frame.
    pub detector_region: Option<bool>,
    /// The tamper watch's thresholds for this camera; `None` fields follow the node's defaults.
    pub tamper: TamperSettings,
    /// Where to find the credentials for `url`.
    pub credentials: Credentials,
    /// Which RTSP authentication the credentials may go out with (`auth`, default Digest).
    pub auth: CameraAuth,
    /// The lens's intrinsics and distortion: foot points are undistorted before they meet the
    /// zones, and zones are drawn on the undistorted picture.
    pub lens: Option<Lens>,
    /// Four floor points with their positions in metres: zones may be placed in metres, and boxes
    /// whose implied height is no person's are dropped.
    pub floor: Option<FloorSettings>,
}

/// A camera's lens and floor (`None`: not calibrated; in an edit, removed from the file).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CameraGeometry {
    pub lens: Option<Lens>,
    pub floor: Option<FloorSettings>,
}

impl Camera {
    /// The camera's lens and floor.
    pub fn geometry(&self) -> CameraGeometry {
        CameraGeometry { lens: self.lens, floor: self.floor }
    }
}

/// A camera's floor calibration (`floor = { … }` of its `[[camera]]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloorSettings {
    /// Four points on the floor, normalised (0..1) in the undistorted picture.
    pub points: [(f64, f64); 4],
    /// Where each of them is on the floor, in metres (any origin and axes the technician chose).
    pub metres: [(f64, f64); 4],
    /// The heights kept, in metres; `None` keeps every box (`height_filter = false`).
    pub height_range_m: Option<(f32, f32)>,
}

impl FloorSettings {
    /// The floor plane in the undistorted pixels of a `size` picture, with the lens's intrinsics
    /// when there is a lens.
    pub fn floor(&self, lens: Option<&Lens>, size: (u32, u32)) -> Result<Floor, crate::FloorError> {
        let (w, h) = (size.0 as f64, size.1 as f64);
        let picture = self.points.map(|(x, y)| (x * w, y * h));
        let intrinsics = lens.map(|l| l.scaled_to(size)).map(|l| (l.focal, l.centre));
        Floor::new(picture, self.metres, intrinsics, size)
    }
}

/// A camera's own tamper thresholds (`tamper_*` keys of its `[[camera]]`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TamperSettings {
    /// Defocused below this fraction of the camera's baseline sharpness (0..1).
    pub defocus_ratio: Option<f32>,
    /// …for this many seconds.
    pub defocus_grace_s: Option<f32>,
    /// Moved when the view correlates with the reference below this (0..1).
    pub moved_below: Option<f32>,
    /// …for this many seconds.
    pub moved_grace_s: Option<f32>,
}

/// Credentials of a camera, by reference only: the site file names where
/// they are, never what they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Environment variable holding the user name.
    pub username_env: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password.
    pub password_file: Option<PathBuf>,
}

/// The RTSP authentication a camera's credentials may be sent with (`auth = "digest"` or
/// `"basic"` of its `[[camera]]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CameraAuth {
    /// Digest only: the password never leaves the node; a device that asks for Basic gets nothing.
    #[default]
    Digest,
    /// Basic allowed too: the password goes out in clear (base64) to whoever answers at the
    /// camera's address. Only for a camera that cannot do Digest, on a network no one else reaches.
    Basic,
}

/// Where a zone's points are: in the (undistorted) picture or on the floor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ZoneSpace {
    /// Normalised picture coordinates (0..1); hysteresis a fraction of the picture's height.
    #[default]
    Picture,
    /// Metres on the camera's floor; hysteresis in metres.
    Floor,
}

/// A counting zone of a camera, in normalised image coordinates (0..1), or in metres on its floor.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Id of the camera whose image the zone is drawn on.
    pub camera: String,
    /// Zone name, unique per camera.
    pub name: String,
    /// The line or polygon, normalised.
    pub shape: ZoneShape,
    /// Hysteresis: how far past the line or boundary a track must be before
    /// its side counts, as a fraction of the image height.
    pub min_distance: f32,
    /// Whether the zone's counts add up into its entrance and building (default). A zone with
    /// `aggregate = false` is counted and reported on its own: a trial line, or a second zone
    /// that measures the same passage.
    pub aggregate: bool,
    /// Where the points are.
    pub space: ZoneSpace,
    /// The entrance the zone counts for when it is not its camera's: a camera that sees two doors.
    pub entrance: Option<String>,
}

impl Zone {
    /// The shape in pixels of a `width` × `height` image (a zone in the picture).
    pub fn shape_in_pixels(&self, width: f32, height: f32) -> ZoneShape {
        self.shape.scale(width, height)
    }

    /// The hysteresis distance in pixels of an image `height` pixels high.
    pub fn min_distance_px(&self, height: f32) -> f32 {
        self.min_distance * height
    }
}

/// The geometry of a zone.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneShape {
    /// A directional counting line.
    Line(CountingLine),
    /// A door polygon: entering it is an entry.
    Polygon(Polygon),
}

impl ZoneShape {
    /// Scales a normalised shape to a `width` × `height` image.
    pub fn scale(&self, width: f32, height: f32) -> Self {
        match self {
            ZoneShape::Line(line) => ZoneShape::Line(line.scale(width, height)),
            ZoneShape::Polygon(polygon) => ZoneShape::Polygon(polygon.scale(width, height)),
        }
    }
}

impl Site {
    /// Reads and validates the site file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Site, SiteError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|error| SiteError::Read { path: path.to_path_buf(), error })?;
        Site::parse(&text, path)
    }

    /// Parses and validates site-file `text`; `path` is only used in error
    /// messages.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Site, SiteError> {
        let source = Source { path: path.as_ref(), text };
        let raw: RawFile = toml::from_str(text).map_err(|e| source.toml_error(&e))?;
        source.validate(raw)
    }

    /// The building with this id.
    pub fn building(&self, id: &str) -> Option<&Building> {
        self.buildings.iter().find(|b| b.id == id)
    }

    /// The entrance with this id.
    pub fn entrance(&self, id: &str) -> Option<&Entrance> {
        self.entrances.iter().find(|e| e.id == id)
    }

    /// The camera with this id.
    pub fn camera(&self, id: &str) -> Option<&Camera> {
        self.cameras.iter().find(|c| c.id == id)
    }

    /// The zones drawn on a camera, in file order.
    pub fn zones_for<'a>(&'a self, camera_id: &'a str) -> impl Iterator<Item = &'a Zone> + 'a {
        self.zones.iter().filter(move |z| z.camera == camera_id)
    }

    /// The entrance a zone counts for: its own, or its camera's.
    pub fn entrance_of_zone(&self, zone: &Zone) -> Option<&Entrance> {
        match &zone.entrance {
            Some(id) => self.entrance(id),
            None => self.entrance_of(&zone.camera),
        }
    }

    /// The entrance a camera watches.
    pub fn entrance_of(&self, camera_id: &str) -> Option<&Entrance> {
        self.entrance(&self.camera(camera_id)?.entrance)
    }

    /// The building an entrance belongs to.
    pub fn building_of_entrance(&self, entrance_id: &str) -> Option<&Building> {
        self.building(&self.entrance(entrance_id)?.building)
    }

    /// The building a camera's entrance belongs to.
    pub fn building_of_camera(&self, camera_id: &str) -> Option<&Building> {
        self.building(&self.entrance_of(camera_id)?.building)
    }

    /// The cameras watching an entrance (several when a door is seen twice).
    pub fn cameras_of_entrance<'a>(&'a self, entrance_id: &'a str) -> impl Iterator<Item = &'a Camera> + 'a {
        self.cameras.iter().filter(move |c| c.entrance == entrance_id)
    }

    /// The entrances of a building.
    pub fn entrances_of_building<'a>(&'a self, building_id: &'a str) -> impl Iterator<Item = &'a Entrance> + 'a {
        self.entrances.iter().filter(move |e| e.building == building_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Point, Side};
    use crate::site::fixtures::{FULL, MINIMAL};

    #[test]
    fn full_example_parses() {
        let site = Site::parse(FULL, "pets.toml").unwrap();
        assert_eq!(site.id, "pets");
        assert_eq!(site.name.as_deref(), Some("PETS 2009 campus"));
        assert_eq!(site.node, "edge-07");
        assert_eq!(
            site.buildings,
            vec![Building {
                id: "hall".into(),
                name: Some("Campus hall".into()),
                capacity: Some(300),
                initial_occupancy: 12,
                cell: Some("grid-12".into()),
                location: Some(Location { lat: 51.43, lon: -0.94 }),
            }]
        );
        assert_eq!(site.entrances.len(), 1);
        let camera = site.camera("walkway").unwrap();
        assert_eq!(camera.analysis_fps, Some(7.0));
        assert_eq!((camera.motion_gate, camera.motion_max_skip_s), (Some(true), Some(1.5)));
        assert_eq!(camera.low_light, Some(false));
        assert_eq!(
            camera.credentials,
            Credentials {
                username_env: Some("CAM_USER".into()),
                password_env: Some("CAM_PASS".into()),
                password_file: None,
            }
        );
        let zones: Vec<_> = site.zones_for("walkway").collect();
        assert_eq!(zones.len(), 2);
        assert_eq!(zones[0].name, "north");
        assert_eq!(zones[0].min_distance, 0.02);
        assert_eq!(
            zones[0].shape,
            ZoneShape::Line(CountingLine::new(Point::new(0.0, 0.52), Point::new(1.0, 0.52), Side::Left))
        );
        assert_eq!(zones[1].min_distance, DEFAULT_MIN_DISTANCE);
        let ZoneShape::Polygon(door) = &zones[1].shape else {
            panic!("door is a polygon");
        };
        assert_eq!(door.points.len(), 4);
        assert!((zones[1].min_distance_px(480.0) - 4.8).abs() < 1e-5);
    }

    #[test]
    fn lookups_follow_the_references() {
        let text = format!(
            "{MINIMAL}\n[[building]]\nid = \"b2\"\n\n[[entrance]]\nid = \"e2\"\nbuilding = \"b2\"\n\n\
             [[camera]]\nid = \"c2\"\nentrance = \"e2\"\nurl = \"file:///a.mp4\"\n\n\
             [[camera]]\nid = \"c3\"\nentrance = \"e2\"\nurl = \"file:///b.mp4\"\n"
        );
        let site = Site::parse(&text, "m.toml").unwrap();
        assert_eq!(site.entrance_of("c2").unwrap().id, "e2");
        assert_eq!(site.building_of_entrance("e2").unwrap().id, "b2");
        assert_eq!(site.building_of_camera("c").unwrap().id, "b");
        assert_eq!(site.cameras_of_entrance("e2").map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c2", "c3"]);
        assert_eq!(site.entrances_of_building("b").map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e"]);
        assert_eq!(site.zones_for("c2").count(), 0);
        assert!(site.camera("nope").is_none());
        assert!(site.entrance_of("nope").is_none());
        assert!(site.building_of_entrance("nope").is_none());
    }

    #[test]
    fn zone_in_pixels() {
        let site = Site::parse(MINIMAL, "m.toml").unwrap();
        let ZoneShape::Line(line) = site.zones[0].shape_in_pixels(640.0, 480.0) else {
            panic!("a line");
        };
        assert_eq!(line.a, Point::new(0.0, 240.0));
        assert_eq!(line.b, Point::new(640.0, 240.0));
    }
}
