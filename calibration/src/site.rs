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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::floor::Floor;
use crate::geometry::{CountingLine, Point, Polygon, Side};
use crate::lens::Lens;

/// The node id used when the site file names none.
pub const DEFAULT_NODE: &str = "edge-01";

/// The hysteresis of a zone when the site file gives none, as a fraction of
/// the image height.
pub const DEFAULT_MIN_DISTANCE: f32 = 0.01;

/// The hysteresis of a zone placed on the floor when the site file gives none, in metres.
pub const DEFAULT_FLOOR_MIN_DISTANCE: f32 = 0.25;

/// The heights of people a camera with a floor keeps when the site file gives no range, in metres:
/// children from about four years old to tall adults, with room for the detector's boxes, which
/// reach a little above the head and below the feet.
pub const DEFAULT_HEIGHT_RANGE_M: (f32, f32) = (0.8, 2.5);

/// How far outside 0..1 a normalised coordinate may stray (rounding in an
/// editor) before it is an error; such values are clamped into 0..1.
const COORDINATE_TOLERANCE: f64 = 1e-4;

/// How far beyond 0..1 a zone's normalised point may go on a camera with a lens (its undistorted
/// picture reaches beyond the frame).
const LENS_MARGIN: f64 = 0.5;

/// The smallest line length and polygon area (normalised) that still counts
/// as distinct points and a non-zero area.
const MIN_EXTENT: f64 = 1e-6;

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
    /// The tamper watch's thresholds for this camera; `None` fields follow the node's defaults.
    pub tamper: TamperSettings,
    /// Where to find the credentials for `url`.
    pub credentials: Credentials,
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

/// Why a site file could not be used. Displays as one line that names the
/// file, and the line and field where there is one.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The file could not be read.
    #[error("{}: cannot read site file: {error}", path.display())]
    Read {
        /// The site file.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file is not valid TOML, does not have the expected shape, or
    /// fails validation.
    #[error("{}:{line}: {field}: {message}", path.display())]
    Invalid {
        /// The site file.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// Dotted path of the field, e.g. `zone[1].camera`.
        field: String,
        /// What is wrong, without any secret from the file.
        message: String,
    },
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

/// Replaces the user information of every URL in `text` (`rtsp://user:pass@host`), and the
/// values of query parameters that carry secrets (`?user=…&password=…`, tokens, keys), with
/// `***`, so the text can be logged or shown.
///
/// ```
/// use lintel_calibration::site::redact_urls;
/// assert_eq!(
///     redact_urls("rtsp://admin:hunter2@10.0.0.7:554/live"),
///     "rtsp://***@10.0.0.7:554/live"
/// );
/// assert_eq!(
///     redact_urls("rtsp://10.0.0.7/live?channel=1&user=admin&password=hunter2"),
///     "rtsp://10.0.0.7/live?channel=1&user=***&password=***"
/// );
/// ```
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(&redact_query_secrets(before));
        let authority_end = after
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`') || c.is_whitespace())
            .unwrap_or(after.len());
        match after[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                rest = &after[userinfo_end..];
            }
            None => rest = after,
        }
    }
    out.push_str(&redact_query_secrets(rest));
    out
}

/// Whether a URL query parameter named `name` carries a secret (or a user name, which is half of
/// one).
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "user" | "username" | "login" | "u" | "p")
        || ["pass", "pwd", "token", "secret", "auth", "key", "sig", "credential"].iter().any(|s| name.contains(s))
}

/// Masks the values of secret query parameters (`?name=value` or `&name=value`) in `text`.
fn redact_query_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(['?', '&', ';']) {
        let (before, after) = rest.split_at(start + 1);
        out.push_str(before);
        let name_end =
            after.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))).unwrap_or(after.len());
        let (name, tail) = after.split_at(name_end);
        out.push_str(name);
        match tail.strip_prefix('=') {
            Some(value) if is_secret_param(name) => {
                let value_end = value
                    .find(|c: char| matches!(c, '&' | '#' | ';' | '"' | '\'' | '`') || c.is_whitespace())
                    .unwrap_or(value.len());
                out.push_str("=***");
                rest = &value[value_end..];
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Whether a URL's query names a secret parameter (see [`redact_urls`]).
fn query_has_secret(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else { return false };
    let query = query.split('#').next().unwrap_or("");
    query.split(['&', ';']).any(|pair| pair.split_once('=').is_some_and(|(name, _)| is_secret_param(name)))
}

// ---------------------------------------------------------------------------
// The file as written: every value that is validated keeps its span so that
// an error can name its line.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    site: RawSite,
    #[serde(default)]
    building: Vec<RawBuilding>,
    #[serde(default)]
    entrance: Vec<RawEntrance>,
    #[serde(default)]
    camera: Vec<RawCamera>,
    #[serde(default)]
    zone: Vec<RawZone>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    id: Spanned<String>,
    name: Option<String>,
    node: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuilding {
    id: Spanned<String>,
    name: Option<String>,
    capacity: Option<Spanned<i64>>,
    initial_occupancy: Option<Spanned<i64>>,
    cell: Option<Spanned<String>>,
    location: Option<Spanned<[f64; 2]>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntrance {
    id: Spanned<String>,
    name: Option<String>,
    building: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    id: Spanned<String>,
    entrance: Spanned<String>,
    url: Spanned<String>,
    analysis_fps: Option<Spanned<f64>>,
    motion_gate: Option<bool>,
    motion_max_skip_s: Option<Spanned<f64>>,
    low_light: Option<Spanned<String>>,
    tamper_defocus_ratio: Option<Spanned<f64>>,
    tamper_defocus_grace_s: Option<Spanned<f64>>,
    tamper_moved_below: Option<Spanned<f64>>,
    tamper_moved_grace_s: Option<Spanned<f64>>,
    username_env: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    lens: Option<Spanned<RawLens>>,
    floor: Option<Spanned<RawFloor>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLens {
    size: [u32; 2],
    focal: [f64; 2],
    centre: [f64; 2],
    distortion: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFloor {
    points: [[f64; 2]; 4],
    metres: [[f64; 2]; 4],
    height_range_m: Option<[f64; 2]>,
    height_filter: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    camera: Spanned<String>,
    name: Spanned<String>,
    kind: Spanned<RawKind>,
    points: Spanned<Vec<Spanned<[f64; 2]>>>,
    entry_side: Option<Spanned<RawSide>>,
    min_distance: Option<Spanned<f64>>,
    aggregate: Option<bool>,
    space: Option<Spanned<String>>,
    entrance: Option<Spanned<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum RawKind {
    Line,
    Polygon,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawSide {
    Left,
    Right,
}

impl From<RawSide> for Side {
    fn from(side: RawSide) -> Self {
        match side {
            RawSide::Left => Side::Left,
            RawSide::Right => Side::Right,
        }
    }
}

// ---------------------------------------------------------------------------
// Validation.

/// The text being checked and where it came from, for error messages.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, span: &Range<usize>, field: impl Into<String>, message: String) -> SiteError {
        SiteError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line_of(span.start),
            field: field.into(),
            message,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        1 + self.text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count()
    }

    /// Turns a TOML syntax or shape error into one line. The TOML crate's
    /// display spans several lines and quotes the source line, which could
    /// hold a password; its message alone does neither.
    fn toml_error(&self, error: &toml::de::Error) -> SiteError {
        let span = error.span().unwrap_or(0..0);
        let message = redact_urls(&error.message().replace('\n', "; "));
        let mut field = self.field_at(span.start).unwrap_or_else(|| self.section_at(span.start));
        // A missing field is reported on its table, so the name is only in
        // the message.
        if let Some(missing) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            if field.is_empty() {
                field = missing.to_owned();
            } else if !field.ends_with(&format!(".{missing}")) {
                field = format!("{field}.{missing}");
            }
        }
        if field.is_empty() {
            field = "file".to_owned();
        }
        self.error(&span, field, message)
    }

    /// The dotted path of the field at a byte offset (`zone[1].points[0]`):
    /// the smallest key or value in the parsed document that holds it.
    /// `None` when the text is not valid TOML.
    fn field_at(&self, offset: usize) -> Option<String> {
        let document = toml::de::DeTable::parse(self.text).ok()?;
        let mut best = None;
        visit_table(document.get_ref(), "", offset, &mut best);
        best.map(|(_, path)| path)
    }

    /// For a syntax error, where no document tree exists: the last table
    /// header before the offset (`zone[1]`), and the key if one starts the
    /// offending line.
    fn section_at(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut section = String::new();
        let mut key = None;
        let mut line_start = 0;
        for line in self.text.split_inclusive('\n') {
            if line_start > offset {
                break;
            }
            line_start += line.len();
            key = None;
            let trimmed = line.trim();
            if let Some(name) = header_name(trimmed, "[[", "]]") {
                let index = counts.entry(name).or_insert(0);
                section = format!("{name}[{index}]");
                *index += 1;
            } else if let Some(name) = header_name(trimmed, "[", "]") {
                section = name.to_owned();
            } else if line_start > offset
                && trimmed.starts_with('[')
                && trimmed.trim_start_matches('[').starts_with(|c: char| c.is_ascii_alphabetic())
            {
                // The offending line is a table header that did not parse
                // (an array of values would start with a digit or a quote):
                // it belongs to no table yet.
                section.clear();
                key = Some("table header");
            } else if let Some((name, _)) = trimmed.split_once('=') {
                key = Some(name.trim()).filter(|k| is_bare_key(k));
            }
        }
        match key {
            Some(key) if !section.is_empty() => format!("{section}.{key}"),
            Some(key) => key.to_owned(),
            None => section,
        }
    }

    fn validate(&self, raw: RawFile) -> Result<Site, SiteError> {
        self.check_id(&raw.site.id, "site.id")?;
        let node = match &raw.site.node {
            Some(node) => {
                self.check_id(node, "site.node")?;
                node.get_ref().clone()
            }
            None => DEFAULT_NODE.to_owned(),
        };

        let mut buildings = Vec::with_capacity(raw.building.len());
        let mut building_ids = Ids::new("building");
        for (i, b) in raw.building.iter().enumerate() {
            let field = |name: &str| format!("building[{i}].{name}");
            self.check_id(&b.id, &field("id"))?;
            building_ids.insert(self, &b.id, &field("id"))?;
            buildings.push(self.building(b, &field)?);
        }

        let mut entrances = Vec::with_capacity(raw.entrance.len());
        let mut entrance_ids = Ids::new("entrance");
        for (i, e) in raw.entrance.iter().enumerate() {
            let field = |name: &str| format!("entrance[{i}].{name}");
            self.check_id(&e.id, &field("id"))?;
            entrance_ids.insert(self, &e.id, &field("id"))?;
            building_ids.require(self, &e.building, &field("building"))?;
            entrances.push(Entrance {
                id: e.id.get_ref().clone(),
                name: e.name.clone(),
                building: e.building.get_ref().clone(),
            });
        }

        let mut cameras = Vec::with_capacity(raw.camera.len());
        let mut camera_ids = Ids::new("camera");
        for (i, c) in raw.camera.iter().enumerate() {
            let field = |name: &str| format!("camera[{i}].{name}");
            self.check_id(&c.id, &field("id"))?;
            camera_ids.insert(self, &c.id, &field("id"))?;
            entrance_ids.require(self, &c.entrance, &field("entrance"))?;
            cameras.push(self.camera(c, &field)?);
        }

        let mut zones = Vec::with_capacity(raw.zone.len());
        let mut zone_names: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, z) in raw.zone.iter().enumerate() {
            let field = |name: &str| format!("zone[{i}].{name}");
            camera_ids.require(self, &z.camera, &field("camera"))?;
            let name = z.name.get_ref();
            if name.trim().is_empty() {
                return Err(self.error(&z.name.span(), field("name"), "is empty".to_owned()));
            }
            let key = (z.camera.get_ref().as_str(), name.as_str());
            if let Some(&first) = zone_names.get(&key) {
                return Err(self.error(
                    &z.name.span(),
                    field("name"),
                    format!("duplicate zone name {name:?} for camera {:?} (first at line {first})", key.0),
                ));
            }
            zone_names.insert(key, self.line_of(z.name.span().start));
            if let Some(entrance) = &z.entrance {
                entrance_ids.require(self, entrance, &field("entrance"))?;
            }
            let camera = cameras.iter().find(|c| &c.id == z.camera.get_ref());
            zones.push(self.zone(z, camera, &field)?);
        }

        let node_named = raw.site.node.is_some();
        Ok(Site {
            id: raw.site.id.into_inner(),
            name: raw.site.name,
            node,
            node_named,
            buildings,
            entrances,
            cameras,
            zones,
        })
    }

    /// Ids appear in MQTT topics and URLs, so they keep to a safe alphabet.
    fn check_id(&self, id: &Spanned<String>, field: &str) -> Result<(), SiteError> {
        let value = id.get_ref();
        if value.is_empty() {
            return Err(self.error(&id.span(), field, "is empty".to_owned()));
        }
        if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(self.error(
                &id.span(),
                field,
                format!("{value:?} may use only ASCII letters, digits, '-', '_' and '.'"),
            ));
        }
        Ok(())
    }

    fn building(&self, b: &RawBuilding, field: &dyn Fn(&str) -> String) -> Result<Building, SiteError> {
        let count = |value: &Spanned<i64>, name: &str| -> Result<u32, SiteError> {
            u32::try_from(*value.get_ref()).map_err(|_| {
                self.error(
                    &value.span(),
                    field(name),
                    format!("must be between 0 and {}, not {}", u32::MAX, value.get_ref()),
                )
            })
        };
        let capacity = b.capacity.as_ref().map(|c| count(c, "capacity")).transpose()?;
        let initial_occupancy = match &b.initial_occupancy {
            Some(initial) => {
                let value = count(initial, "initial_occupancy")?;
                if let Some(capacity) = capacity.filter(|&c| value > c) {
                    return Err(self.error(
                        &initial.span(),
                        field("initial_occupancy"),
                        format!("{value} is above the capacity of {capacity}"),
                    ));
                }
                value
            }
            None => 0,
        };
        if let Some(cell) = &b.cell
            && cell.get_ref().trim().is_empty()
        {
            return Err(self.error(&cell.span(), field("cell"), "is empty".to_owned()));
        }
        let location = match &b.location {
            Some(location) => {
                let [lat, lon] = *location.get_ref();
                if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                    return Err(self.error(
                        &location.span(),
                        field("location"),
                        format!("[{lat}, {lon}] is not [latitude, longitude] in degrees (−90..90, −180..180)"),
                    ));
                }
                Some(Location { lat, lon })
            }
            None => None,
        };
        Ok(Building {
            id: b.id.get_ref().clone(),
            name: b.name.clone(),
            capacity,
            initial_occupancy,
            cell: b.cell.as_ref().map(|c| c.get_ref().clone()),
            location,
        })
    }

    fn camera(&self, c: &RawCamera, field: &dyn Fn(&str) -> String) -> Result<Camera, SiteError> {
        self.check_url(&c.url, &field("url"))?;
        let positive = |value: &Option<Spanned<f64>>, name: &str, unit: &str| match value {
            Some(v) => {
                let number = *v.get_ref();
                if number.is_finite() && number > 0.0 {
                    Ok(Some(number as f32))
                } else {
                    Err(self.error(&v.span(), field(name), format!("must be a number of {unit} above 0, not {number}")))
                }
            }
            None => Ok(None),
        };
        let analysis_fps = positive(&c.analysis_fps, "analysis_fps", "frames per second")?;
        let motion_max_skip_s = positive(&c.motion_max_skip_s, "motion_max_skip_s", "seconds")?;
        let low_light = match &c.low_light {
            None => None,
            Some(v) => match v.get_ref().as_str() {
                "auto" => None,
                "on" => Some(true),
                "off" => Some(false),
                other => {
                    let message = format!("must be \"auto\", \"on\" or \"off\", not {other:?}");
                    return Err(self.error(&v.span(), field("low_light"), message));
                }
            },
        };
        let fraction = |value: &Option<Spanned<f64>>, name: &str| match value {
            Some(v) => {
                let number = *v.get_ref();
                if number.is_finite() && number > 0.0 && number < 1.0 {
                    Ok(Some(number as f32))
                } else {
                    Err(self.error(&v.span(), field(name), format!("must be a fraction between 0 and 1, not {number}")))
                }
            }
            None => Ok(None),
        };
        let tamper = TamperSettings {
            defocus_ratio: fraction(&c.tamper_defocus_ratio, "tamper_defocus_ratio")?,
            defocus_grace_s: positive(&c.tamper_defocus_grace_s, "tamper_defocus_grace_s", "seconds")?,
            moved_below: fraction(&c.tamper_moved_below, "tamper_moved_below")?,
            moved_grace_s: positive(&c.tamper_moved_grace_s, "tamper_moved_grace_s", "seconds")?,
        };
        let env = |value: &Option<Spanned<String>>, name: &str| match value {
            Some(var) => {
                let v = var.get_ref();
                let valid = v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid {
                    Ok(Some(v.clone()))
                } else {
                    Err(self.error(
                        &var.span(),
                        field(name),
                        format!("{v:?} is not an environment variable name (letters, digits, '_')"),
                    ))
                }
            }
            None => Ok(None),
        };
        let username_env = env(&c.username_env, "username_env")?;
        let password_env = env(&c.password_env, "password_env")?;
        if let (Some(_), Some(file)) = (&c.password_env, &c.password_file) {
            return Err(self.error(
                &file.span(),
                field("password_file"),
                "give password_env or password_file, not both".to_owned(),
            ));
        }
        let password_file = match &c.password_file {
            Some(file) if file.get_ref().trim().is_empty() => {
                return Err(self.error(&file.span(), field("password_file"), "is empty".to_owned()));
            }
            Some(file) => Some(PathBuf::from(file.get_ref())),
            None => None,
        };
        let lens = c.lens.as_ref().map(|lens| self.lens(lens, &field("lens"))).transpose()?;
        let floor = c.floor.as_ref().map(|floor| self.floor(floor, lens.as_ref(), &field("floor"))).transpose()?;
        Ok(Camera {
            id: c.id.get_ref().clone(),
            entrance: c.entrance.get_ref().clone(),
            url: c.url.get_ref().clone(),
            analysis_fps,
            motion_gate: c.motion_gate,
            motion_max_skip_s,
            low_light,
            tamper,
            credentials: Credentials { username_env, password_env, password_file },
            lens,
            floor,
        })
    }

    fn lens(&self, raw: &Spanned<RawLens>, field: &str) -> Result<Lens, SiteError> {
        let l = raw.get_ref();
        let bad = |name: &str, message: String| self.error(&raw.span(), format!("{field}.{name}"), message);
        let [w, h] = l.size;
        if w == 0 || h == 0 || w > 16384 || h > 16384 {
            return Err(bad("size", format!("[{w}, {h}] is not a picture size in pixels")));
        }
        let [fx, fy] = l.focal;
        if !(fx.is_finite() && fy.is_finite() && fx > 0.0 && fy > 0.0 && fx < 100.0 * w as f64) {
            return Err(bad("focal", format!("[{fx}, {fy}] are not focal lengths in pixels (above 0)")));
        }
        let [cx, cy] = l.centre;
        if !(cx.is_finite() && cy.is_finite() && (0.0..=w as f64).contains(&cx) && (0.0..=h as f64).contains(&cy)) {
            return Err(bad("centre", format!("[{cx}, {cy}] is not a point of the {w}×{h} picture")));
        }
        let d = &l.distortion;
        if !(d.len() == 4 || d.len() == 5) || d.iter().any(|k| !k.is_finite() || k.abs() > 100.0) {
            return Err(bad(
                "distortion",
                format!("must be [k1, k2, p1, p2] or [k1, k2, p1, p2, k3] (OpenCV's order), not {d:?}"),
            ));
        }
        let distortion = [d[0], d[1], d[2], d[3], d.get(4).copied().unwrap_or(0.0)];
        Ok(Lens { size: (w, h), focal: (fx, fy), centre: (cx, cy), distortion })
    }

    fn floor(&self, raw: &Spanned<RawFloor>, lens: Option<&Lens>, field: &str) -> Result<FloorSettings, SiteError> {
        let f = raw.get_ref();
        let bad = |name: &str, message: String| self.error(&raw.span(), format!("{field}.{name}"), message);
        for [x, y] in f.points {
            let within = |v: f64| v.is_finite() && (-COORDINATE_TOLERANCE..=1.0 + COORDINATE_TOLERANCE).contains(&v);
            if !within(x) || !within(y) {
                return Err(bad("points", format!("[{x}, {y}] is outside the image: coordinates are fractions 0..1")));
            }
        }
        if let Some([x, y]) = f.metres.iter().copied().find(|[x, y]| !(x.abs() <= 10_000.0 && y.abs() <= 10_000.0)) {
            return Err(bad("metres", format!("[{x}, {y}] is not a floor position in metres")));
        }
        let height_range_m = match (f.height_filter, f.height_range_m) {
            (Some(false), _) => None,
            (_, None) => Some(DEFAULT_HEIGHT_RANGE_M),
            (_, Some([low, high])) => {
                if !(low.is_finite() && high.is_finite() && 0.0 <= low && low < high && high <= 4.0) {
                    return Err(bad(
                        "height_range_m",
                        format!("[{low}, {high}] is not a range of heights in metres (0 ≤ low < high ≤ 4)"),
                    ));
                }
                Some((low as f32, high as f32))
            }
        };
        let settings = FloorSettings {
            points: f.points.map(|[x, y]| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0))),
            metres: f.metres.map(|[x, y]| (x, y)),
            height_range_m,
        };
        // Checked on the lens's picture (or a 4:3 one): the four points must make a floor.
        let size = lens.map_or((1000, 750), |l| l.size);
        settings.floor(lens, size).map_err(|e| bad("points", e.to_string()))?;
        Ok(settings)
    }

    /// A URL needs a scheme, and must not carry credentials: they would end
    /// up in logs, snapshots of the config and version control.
    fn check_url(&self, url: &Spanned<String>, field: &str) -> Result<(), SiteError> {
        let value = url.get_ref();
        let Some((scheme, rest)) = value.split_once("://") else {
            return Err(self.error(
                &url.span(),
                field,
                format!("{:?} is not a URL (expected rtsp://host/path or file:///path)", redact_urls(value)),
            ));
        };
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok || rest.is_empty() {
            return Err(self.error(
                &url.span(),
                field,
                format!("{:?} is not a URL (expected rtsp://host/path or file:///path)", redact_urls(value)),
            ));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(self.error(
                &url.span(),
                field,
                format!(
                    "credentials inline in {:?}; name them with username_env and password_env or password_file",
                    redact_urls(value)
                ),
            ));
        }
        if query_has_secret(value) {
            return Err(self.error(
                &url.span(),
                field,
                format!(
                    "credentials in the query of {:?}; name them with username_env and password_env or password_file",
                    redact_urls(value)
                ),
            ));
        }
        Ok(())
    }

    fn zone(&self, z: &RawZone, camera: Option<&Camera>, field: &dyn Fn(&str) -> String) -> Result<Zone, SiteError> {
        let space = match &z.space {
            None => ZoneSpace::Picture,
            Some(space) => match space.get_ref().as_str() {
                "picture" => ZoneSpace::Picture,
                "floor" if camera.is_some_and(|c| c.floor.is_some()) => ZoneSpace::Floor,
                "floor" => {
                    let message = "a zone on the floor needs its camera's floor (floor = { points, metres })";
                    return Err(self.error(&space.span(), field("space"), message.to_owned()));
                }
                other => {
                    let message = format!("must be \"picture\" or \"floor\", not {other:?}");
                    return Err(self.error(&space.span(), field("space"), message));
                }
            },
        };
        let mut points = Vec::with_capacity(z.points.get_ref().len());
        for (j, p) in z.points.get_ref().iter().enumerate() {
            let [x, y] = *p.get_ref();
            let point_field = || format!("{}[{j}]", field("points"));
            if space == ZoneSpace::Floor {
                if !(x.abs() <= 10_000.0 && y.abs() <= 10_000.0) {
                    return Err(self.error(
                        &p.span(),
                        point_field(),
                        format!("[{x}, {y}] is not a floor position in metres"),
                    ));
                }
                points.push(Point::new(x as f32, y as f32));
                continue;
            }
            // Through a lens, the undistorted picture reaches beyond the frame (a barrel lens's edges
            // undistort outwards), so a line drawn to the camera picture's edge may end outside 0..1.
            let margin = if camera.is_some_and(|c| c.lens.is_some()) { LENS_MARGIN } else { 0.0 };
            let (low, high) = (-margin - COORDINATE_TOLERANCE, 1.0 + margin + COORDINATE_TOLERANCE);
            let within = |v: f64| v.is_finite() && (low..=high).contains(&v);
            if !within(x) || !within(y) {
                let range = if margin > 0.0 { "-0.5..1.5 through the camera's lens" } else { "0..1" };
                return Err(self.error(
                    &p.span(),
                    point_field(),
                    format!("[{x}, {y}] is outside the image: coordinates are fractions {range}"),
                ));
            }
            let clamp = |v: f64| v.clamp(-margin, 1.0 + margin) as f32;
            points.push(Point::new(clamp(x), clamp(y)));
        }
        let points_span = z.points.span();
        let shape = match z.kind.get_ref() {
            RawKind::Line => {
                let [a, b] = points[..] else {
                    return Err(self.error(
                        &points_span,
                        field("points"),
                        format!("a line needs exactly 2 points, not {}", z.points.get_ref().len()),
                    ));
                };
                if f64::from(a.distance(b)) < MIN_EXTENT {
                    return Err(self.error(
                        &points_span,
                        field("points"),
                        "the 2 points of a line must be distinct".to_owned(),
                    ));
                }
                let entry_side = z.entry_side.as_ref().map_or(Side::Right, |s| Side::from(*s.get_ref()));
                ZoneShape::Line(CountingLine::new(a, b, entry_side))
            }
            RawKind::Polygon => {
                if let Some(side) = &z.entry_side {
                    return Err(self.error(
                        &side.span(),
                        field("entry_side"),
                        "only lines have an entry side; entering a polygon is an entry".to_owned(),
                    ));
                }
                if points.len() < 3 {
                    return Err(self.error(
                        &points_span,
                        field("points"),
                        format!("a polygon needs at least 3 points, not {}", points.len()),
                    ));
                }
                let polygon = Polygon::new(points);
                if f64::from(polygon.area()) < MIN_EXTENT {
                    return Err(self.error(
                        &points_span,
                        field("points"),
                        "the polygon has no area (its points are on one line)".to_owned(),
                    ));
                }
                ZoneShape::Polygon(polygon)
            }
        };
        let min_distance = match (&z.min_distance, space) {
            (Some(d), ZoneSpace::Picture) => {
                let value = *d.get_ref();
                if !(value.is_finite() && (0.0..0.5).contains(&value)) {
                    return Err(self.error(
                        &d.span(),
                        field("min_distance"),
                        format!("must be a fraction of the image height in 0..0.5, not {value}"),
                    ));
                }
                value as f32
            }
            (Some(d), ZoneSpace::Floor) => {
                let value = *d.get_ref();
                if !(value.is_finite() && (0.0..5.0).contains(&value)) {
                    return Err(self.error(
                        &d.span(),
                        field("min_distance"),
                        format!("must be a distance in metres in 0..5 for a zone on the floor, not {value}"),
                    ));
                }
                value as f32
            }
            (None, ZoneSpace::Picture) => DEFAULT_MIN_DISTANCE,
            (None, ZoneSpace::Floor) => DEFAULT_FLOOR_MIN_DISTANCE,
        };
        Ok(Zone {
            camera: z.camera.get_ref().clone(),
            name: z.name.get_ref().clone(),
            shape,
            min_distance,
            aggregate: z.aggregate.unwrap_or(true),
            space,
            entrance: z.entrance.as_ref().map(|e| e.get_ref().clone()),
        })
    }
}

/// The name in a table header line such as `[[zone]]`, if it is one.
fn header_name<'t>(line: &'t str, open: &str, close: &str) -> Option<&'t str> {
    let (name, rest) = line.strip_prefix(open)?.split_once(close)?;
    let name = name.trim();
    let rest = rest.trim_start();
    (!name.is_empty() && name.split('.').all(|k| is_bare_key(k.trim())) && (rest.is_empty() || rest.starts_with('#')))
        .then_some(name)
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

type Candidate = Option<(usize, String)>;

fn visit_table(table: &toml::de::DeTable<'_>, prefix: &str, offset: usize, best: &mut Candidate) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
        consider(key.span(), &path, offset, best);
        visit_value(value, &path, offset, best);
    }
}

fn visit_value(value: &Spanned<toml::de::DeValue<'_>>, path: &str, offset: usize, best: &mut Candidate) {
    consider(value.span(), path, offset, best);
    match value.get_ref() {
        toml::de::DeValue::Table(table) => visit_table(table, path, offset, best),
        toml::de::DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                visit_value(item, &format!("{path}[{i}]"), offset, best);
            }
        }
        _ => {}
    }
}

/// Keeps `path` if its span holds `offset` and is no wider than the best so
/// far (ties go to the later, deeper one).
fn consider(span: Range<usize>, path: &str, offset: usize, best: &mut Candidate) {
    let holds = span.contains(&offset) || span.start == offset;
    if holds && best.as_ref().is_none_or(|(width, _)| span.len() <= *width) {
        *best = Some((span.len(), path.to_owned()));
    }
}

/// The ids of one kind seen so far, with the line each was defined on.
struct Ids<'a> {
    kind: &'static str,
    lines: HashMap<&'a str, usize>,
    order: Vec<&'a str>,
}

impl<'a> Ids<'a> {
    fn new(kind: &'static str) -> Self {
        Self { kind, lines: HashMap::new(), order: Vec::new() }
    }

    fn insert(&mut self, source: &Source<'_>, id: &'a Spanned<String>, field: &str) -> Result<(), SiteError> {
        let line = source.line_of(id.span().start);
        if let Some(first) = self.lines.insert(id.get_ref(), line) {
            self.lines.insert(id.get_ref(), first);
            return Err(source.error(
                &id.span(),
                field,
                format!("duplicate {} id {:?} (first at line {first})", self.kind, id.get_ref()),
            ));
        }
        self.order.push(id.get_ref());
        Ok(())
    }

    /// Checks that a reference names a known id, listing the known ones if
    /// it does not: the usual cause is a typo.
    fn require(&self, source: &Source<'_>, reference: &Spanned<String>, field: &str) -> Result<(), SiteError> {
        if self.lines.contains_key(reference.get_ref().as_str()) {
            return Ok(());
        }
        let mut message = format!("unknown {} {:?} (", self.kind, reference.get_ref());
        if self.order.is_empty() {
            let _ = write!(message, "no {} is defined", self.kind);
        } else {
            let _ = write!(message, "{}s: {}", self.kind, self.order.join(", "));
        }
        message.push(')');
        Err(source.error(&reference.span(), field, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full example of the site-file format.
    const FULL: &str = r#"[site]
id = "pets"
name = "PETS 2009 campus"
node = "edge-07"

[[building]]
id = "hall"
name = "Campus hall"
capacity = 300
initial_occupancy = 12
cell = "grid-12"
location = [51.43, -0.94]

[[entrance]]
id = "walkway"
building = "hall"

[[camera]]
id = "walkway"
entrance = "walkway"
url = "file:///usr/share/doc/opencv-doc/examples/data/vtest.avi"
analysis_fps = 7.0
motion_gate = true
motion_max_skip_s = 1.5
low_light = "off"
username_env = "CAM_USER"
password_env = "CAM_PASS"

[[zone]]
camera = "walkway"
name = "north"
kind = "line"
points = [[0.0, 0.52], [1.0, 0.52]]
entry_side = "left"
min_distance = 0.02

[[zone]]
camera = "walkway"
name = "door"
kind = "polygon"
points = [[0.3,0.3],[0.6,0.3],[0.6,0.6],[0.3,0.6]]
"#;

    /// The smallest valid file, to build error cases from.
    const MINIMAL: &str = r#"[site]
id = "s"

[[building]]
id = "b"

[[entrance]]
id = "e"
building = "b"

[[camera]]
id = "c"
entrance = "e"
url = "rtsp://10.0.0.7:554/stream1"

[[zone]]
camera = "c"
name = "z"
kind = "line"
points = [[0.0, 0.5], [1.0, 0.5]]
"#;

    /// 1-based line of the first occurrence of `needle` in `text`.
    fn line_of(text: &str, needle: &str) -> usize {
        let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in text"));
        text[..at].matches('\n').count() + 1
    }

    /// Parses `text`, expecting an error; returns (line, field, message, display).
    fn invalid(text: &str) -> (usize, String, String, String) {
        match Site::parse(text, "sites/test.toml") {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(error) => {
                let display = error.to_string();
                assert!(!display.contains('\n'), "not one line: {display}");
                assert!(display.starts_with("sites/test.toml:"), "no file: {display}");
                match error {
                    SiteError::Invalid { line, field, message, .. } => (line, field, message, display),
                    SiteError::Read { .. } => panic!("unexpected read error"),
                }
            }
        }
    }

    /// `MINIMAL` with `from` replaced by `to` (which must occur).
    fn minimal_with(from: &str, to: &str) -> String {
        assert!(MINIMAL.contains(from), "{from:?} not in MINIMAL");
        MINIMAL.replacen(from, to, 1)
    }

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
    fn defaults_apply() {
        let site = Site::parse(MINIMAL, "m.toml").unwrap();
        assert_eq!(site.node, DEFAULT_NODE);
        assert!(!site.node_named);
        assert_eq!(site.name, None);
        let b = &site.buildings[0];
        assert_eq!((b.capacity, b.initial_occupancy), (None, 0));
        let c = &site.cameras[0];
        assert_eq!(c.analysis_fps, None);
        assert_eq!((c.motion_gate, c.motion_max_skip_s, c.low_light), (None, None, None));
        assert_eq!(c.credentials, Credentials::default());
        let ZoneShape::Line(line) = site.zones[0].shape else {
            panic!("a line");
        };
        assert_eq!(line.entry_side, Side::Right);
        assert_eq!(site.zones[0].min_distance, DEFAULT_MIN_DISTANCE);
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

    #[test]
    fn unknown_camera_names_file_line_field_and_the_known_ones() {
        let text = format!(
            "{MINIMAL}\n[[zone]]\ncamera = \"gate\"\nname = \"z\"\nkind = \"line\"\npoints = [[0, 0], [1, 1]]\n"
        );
        let (line, field, _, display) = invalid(&text);
        assert_eq!(line, line_of(&text, "\"gate\""));
        assert_eq!(field, "zone[1].camera");
        assert_eq!(display, format!("sites/test.toml:{line}: zone[1].camera: unknown camera \"gate\" (cameras: c)"));
    }

    #[test]
    fn unknown_entrance_and_building() {
        let text = minimal_with("entrance = \"e\"", "entrance = \"front\"");
        let (line, field, message, _) = invalid(&text);
        assert_eq!(line, line_of(&text, "\"front\""));
        assert_eq!(field, "camera[0].entrance");
        assert_eq!(message, "unknown entrance \"front\" (entrances: e)");

        let text = minimal_with("building = \"b\"", "building = \"annex\"");
        let (line, field, message, _) = invalid(&text);
        assert_eq!(line, line_of(&text, "\"annex\""));
        assert_eq!(field, "entrance[0].building");
        assert_eq!(message, "unknown building \"annex\" (buildings: b)");

        let text = minimal_with("[[building]]\nid = \"b\"\n", "");
        let (_, _, message, _) = invalid(&text);
        assert_eq!(message, "unknown building \"b\" (no building is defined)");
    }

    #[test]
    fn duplicate_ids_point_at_the_first() {
        let text = format!("{MINIMAL}\n[[building]]\nid = \"b\"\n");
        let (line, field, message, _) = invalid(&text);
        assert_eq!(line, text.lines().count());
        assert_eq!(field, "building[1].id");
        assert_eq!(message, format!("duplicate building id \"b\" (first at line {})", line_of(MINIMAL, "id = \"b\"")));

        let text = format!("{MINIMAL}\n[[camera]]\nid = \"c\"\nentrance = \"e\"\nurl = \"file:///x\"\n");
        let (_, field, message, _) = invalid(&text);
        assert_eq!(field, "camera[1].id");
        assert!(message.starts_with("duplicate camera id \"c\""), "{message}");

        let text = format!("{MINIMAL}\n[[entrance]]\nid = \"e\"\nbuilding = \"b\"\n");
        let (_, field, _, _) = invalid(&text);
        assert_eq!(field, "entrance[1].id");
    }

    #[test]
    fn ids_must_be_non_empty_and_topic_safe() {
        let text = minimal_with("id = \"b\"", "id = \"\"");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str(), message.as_str()), (5, "building[0].id", "is empty"));

        let text = minimal_with("id = \"s\"", "id = \"north/site\"");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (2, "site.id"));
        assert!(message.contains("\"north/site\""), "{message}");

        let text = minimal_with("id = \"s\"", "id = \"s\"\nnode = \"edge #1\"");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (3, "site.node"));
    }

    #[test]
    fn zone_names_are_unique_per_camera() {
        let zone = "\n[[zone]]\ncamera = \"c\"\nname = \"z\"\nkind = \"polygon\"\npoints = [[0,0],[1,0],[1,1]]\n";
        let text = format!("{MINIMAL}{zone}");
        let (line, field, message, _) = invalid(&text);
        assert_eq!(line, text.lines().count() - 2);
        assert_eq!(field, "zone[1].name");
        assert_eq!(message, "duplicate zone name \"z\" for camera \"c\" (first at line 18)");

        // The same name on another camera is fine.
        let other = format!(
            "{MINIMAL}\n[[camera]]\nid = \"c2\"\nentrance = \"e\"\nurl = \"file:///x\"\n{}",
            zone.replace("\"c\"", "\"c2\"")
        );
        assert!(Site::parse(&other, "m.toml").is_ok());
    }

    #[test]
    fn points_must_be_inside_the_image() {
        let text = minimal_with("[1.0, 0.5]]", "[1.2, 0.5]]");
        let (line, field, message, _) = invalid(&text);
        assert_eq!(line, line_of(&text, "points"));
        assert_eq!(field, "zone[0].points[1]");
        assert_eq!(message, "[1.2, 0.5] is outside the image: coordinates are fractions 0..1");

        // Rounding noise is clamped, not refused.
        let text = minimal_with("[[0.0, 0.5]", "[[-0.00001, 0.5]");
        let site = Site::parse(&text, "m.toml").unwrap();
        let ZoneShape::Line(line) = site.zones[0].shape else {
            panic!("a line");
        };
        assert_eq!(line.a, Point::new(0.0, 0.5));
    }

    #[test]
    fn point_errors_in_a_multi_line_array_name_the_point_line() {
        let text = minimal_with("points = [[0.0, 0.5], [1.0, 0.5]]", "points = [\n  [0.0, 0.5],\n  [1.0, 5.0],\n]");
        let (line, field, _, _) = invalid(&text);
        assert_eq!(line, line_of(&text, "[1.0, 5.0]"));
        assert_eq!(field, "zone[0].points[1]");
    }

    #[test]
    fn a_line_needs_two_distinct_points() {
        let text = minimal_with("[1.0, 0.5]]", "[1.0, 0.5], [0.5, 0.5]]");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "points"), "zone[0].points"));
        assert_eq!(message, "a line needs exactly 2 points, not 3");

        let text = minimal_with("[1.0, 0.5]]", "[0.0, 0.5]]");
        let (_, field, message, _) = invalid(&text);
        assert_eq!(field, "zone[0].points");
        assert_eq!(message, "the 2 points of a line must be distinct");
    }

    #[test]
    fn a_polygon_needs_three_points_and_an_area() {
        let text = minimal_with("kind = \"line\"", "kind = \"polygon\"");
        let (_, field, message, _) = invalid(&text);
        assert_eq!(field, "zone[0].points");
        assert_eq!(message, "a polygon needs at least 3 points, not 2");

        let text =
            minimal_with("kind = \"line\"", "kind = \"polygon\"").replace("[1.0, 0.5]]", "[0.5, 0.5], [1.0, 0.5]]");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "points"), "zone[0].points"));
        assert!(message.contains("no area"), "{message}");
    }

    #[test]
    fn entry_side_is_for_lines_only_and_must_be_left_or_right() {
        let text = minimal_with("kind = \"line\"", "kind = \"polygon\"\nentry_side = \"left\"")
            .replace("[1.0, 0.5]]", "[1.0, 0.5], [1.0, 1.0]]");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "entry_side"), "zone[0].entry_side"));

        let text = minimal_with("kind = \"line\"", "kind = \"line\"\nentry_side = \"in\"");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "entry_side"), "zone[0].entry_side"));
        assert_eq!(message, "unknown variant `in`, expected `left` or `right`");
    }

    #[test]
    fn min_distance_is_a_small_fraction() {
        let text = minimal_with("kind = \"line\"", "kind = \"line\"\nmin_distance = -0.1");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "min_distance"), "zone[0].min_distance"));
    }

    #[test]
    fn analysis_fps_must_be_positive() {
        for fps in ["0.0", "-5", "nan", "inf"] {
            let text = minimal_with("url =", &format!("analysis_fps = {fps}\nurl ="));
            let (line, field, message, _) = invalid(&text);
            assert_eq!((line, field.as_str()), (line_of(&text, "analysis_fps"), "camera[0].analysis_fps"), "{fps}");
            assert!(message.contains("above 0"), "{message}");
        }
    }

    #[test]
    fn tamper_thresholds_are_read_and_checked() {
        let text = minimal_with("url =", "tamper_defocus_ratio = 0.5\ntamper_moved_grace_s = 30\nurl =");
        let site = Site::parse(&text, "m.toml").unwrap();
        let tamper = site.cameras[0].tamper;
        assert_eq!((tamper.defocus_ratio, tamper.moved_grace_s, tamper.moved_below), (Some(0.5), Some(30.0), None));
        for (key, value, says) in
            [("tamper_moved_below", "1.5", "between 0 and 1"), ("tamper_defocus_grace_s", "-2", "seconds above 0")]
        {
            let text = minimal_with("url =", &format!("{key} = {value}\nurl ="));
            let (line, field, message, _) = invalid(&text);
            assert_eq!((line, field.as_str()), (line_of(&text, key), format!("camera[0].{key}").as_str()));
            assert!(message.contains(says), "{message}");
        }
    }

    #[test]
    fn motion_max_skip_must_be_positive() {
        for seconds in ["0", "-1.5", "nan"] {
            let text = minimal_with("url =", &format!("motion_max_skip_s = {seconds}\nurl ="));
            let (line, field, message, _) = invalid(&text);
            let expected = (line_of(&text, "motion_max_skip_s"), "camera[0].motion_max_skip_s");
            assert_eq!((line, field.as_str()), expected, "{seconds}");
            assert!(message.contains("seconds above 0"), "{message}");
        }
    }

    #[test]
    fn low_light_is_auto_on_or_off() {
        for (value, expected) in [("auto", None), ("on", Some(true)), ("off", Some(false))] {
            let text = minimal_with("url =", &format!("low_light = \"{value}\"\nurl ="));
            assert_eq!(Site::parse(&text, "m.toml").unwrap().cameras[0].low_light, expected, "{value}");
        }
        let text = minimal_with("url =", "low_light = \"night\"\nurl =");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "low_light"), "camera[0].low_light"));
        assert!(message.contains("\"auto\", \"on\" or \"off\""), "{message}");
    }

    #[test]
    fn building_counts_and_location_are_checked() {
        let text = minimal_with("id = \"b\"", "id = \"b\"\ncapacity = -1");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (6, "building[0].capacity"));
        assert!(message.contains("not -1"), "{message}");

        let text = minimal_with("id = \"b\"", "id = \"b\"\ncapacity = 10\ninitial_occupancy = 11");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (7, "building[0].initial_occupancy"));
        assert_eq!(message, "11 is above the capacity of 10");

        let text = minimal_with("id = \"b\"", "id = \"b\"\nlocation = [-0.94, 251.43]");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (6, "building[0].location"));

        let text = minimal_with("id = \"b\"", "id = \"b\"\ncell = \"\"");
        let (_, field, _, _) = invalid(&text);
        assert_eq!(field, "building[0].cell");
    }

    #[test]
    fn inline_credentials_are_refused_without_echoing_them() {
        for url in ["rtsp://admin:hunter2@10.0.0.7:554/live", "rtsp://admin@10.0.0.7/live"] {
            let text = minimal_with("rtsp://10.0.0.7:554/stream1", url);
            let (line, field, message, display) = invalid(&text);
            assert_eq!((line, field.as_str()), (line_of(&text, "url ="), "camera[0].url"));
            assert!(message.starts_with("credentials inline in"), "{message}");
            assert!(message.contains("rtsp://***@10.0.0.7"), "{message}");
            assert!(!display.contains("hunter2"), "{display}");
            assert!(!display.contains("admin"), "{display}");
        }
        // An '@' after the host is part of the path, not credentials.
        let text = minimal_with("/stream1", "/stream1@main");
        assert!(Site::parse(&text, "m.toml").is_ok());
    }

    #[test]
    fn credentials_in_the_query_are_refused_without_echoing_them() {
        for query in ["?user=admin&password=hunter2", "?channel=1&PWD=hunter2", "?token=hunter2&user=admin"] {
            let text = minimal_with("/stream1", &format!("/stream1{query}"));
            let (line, field, message, display) = invalid(&text);
            assert_eq!((line, field.as_str()), (line_of(&text, "url ="), "camera[0].url"));
            assert!(message.starts_with("credentials in the query of"), "{message}");
            assert!(!display.contains("hunter2"), "{display}");
            assert!(!display.contains("admin"), "{display}");
        }
        // Other parameters are fine.
        let text = minimal_with("/stream1", "/stream1?channel=1&subtype=0");
        assert!(Site::parse(&text, "m.toml").is_ok());
    }

    #[test]
    fn shape_errors_do_not_echo_credentials_either() {
        let text = minimal_with("url =", "analysis_fps = \"rtsp://admin:hunter2@cam/\"\nurl =");
        let (_, field, _, display) = invalid(&text);
        assert_eq!(field, "camera[0].analysis_fps");
        assert!(!display.contains("hunter2"), "{display}");
    }

    #[test]
    fn a_url_needs_a_scheme() {
        let text = minimal_with("rtsp://10.0.0.7:554/stream1", "/videos/door.mp4");
        let (_, field, message, _) = invalid(&text);
        assert_eq!(field, "camera[0].url");
        assert!(message.contains("is not a URL"), "{message}");
    }

    #[test]
    fn credential_references_are_checked() {
        let text = minimal_with("url =", "password_env = \"CAM PASS\"\nurl =");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "password_env"), "camera[0].password_env"));

        let text = minimal_with("url =", "password_env = \"CAM_PASS\"\npassword_file = \"/etc/lintel/cam.pw\"\nurl =");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "password_file"), "camera[0].password_file"));
        assert_eq!(message, "give password_env or password_file, not both");

        let text = minimal_with("url =", "username_env = \"CAM_USER\"\npassword_file = \"/etc/lintel/cam.pw\"\nurl =");
        let site = Site::parse(&text, "m.toml").unwrap();
        assert_eq!(site.cameras[0].credentials.password_file, Some(PathBuf::from("/etc/lintel/cam.pw")));
    }

    #[test]
    fn a_typo_in_a_key_is_caught() {
        let text = minimal_with("name = \"z\"", "nmae = \"z\"");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "nmae"), "zone[0].nmae"));
        assert!(message.starts_with("unknown field `nmae`"), "{message}");

        let text = minimal_with("[site]", "[sites]");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (1, "sites"));
    }

    #[test]
    fn a_missing_key_names_its_table() {
        let text = minimal_with("name = \"z\"\n", "");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "[[zone]]"), "zone[0].name"));
        assert_eq!(message, "missing field `name`");

        let (line, field, message, _) = invalid("");
        assert_eq!((line, field.as_str(), message.as_str()), (1, "site", "missing field `site`"));
    }

    #[test]
    fn a_wrong_type_names_the_value() {
        let text = minimal_with("[1.0, 0.5]]", "[1.0, \"half\"]]");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "points"), "zone[0].points[1][1]"));
        assert!(message.starts_with("invalid type: string \"half\""), "{message}");

        let text = minimal_with("kind = \"line\"", "kind = \"circle\"");
        let (_, field, message, _) = invalid(&text);
        assert_eq!(field, "zone[0].kind");
        assert_eq!(message, "unknown variant `circle`, expected `line` or `polygon`");
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let text = minimal_with("url = \"rtsp://10.0.0.7:554/stream1\"", "url = \"rtsp://10.0.0.7:554/stream1");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "url ="), "camera[0].url"));

        let text = minimal_with("[[zone]]", "[[zone]");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "[[zone]"), "table header"));

        let text = minimal_with("id = \"c\"", "id = \"c\"\nid = \"d\"");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "id = \"d\""), "camera[0].id"));
        assert_eq!(message, "duplicate key");
    }

    #[test]
    fn redact_urls_hides_only_user_information() {
        assert_eq!(
            redact_urls("opening rtsp://u:p@cam:554/a@b and file:///x@y"),
            "opening rtsp://***@cam:554/a@b and file:///x@y"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(redact_urls("\"rtsp://u:p@h\""), "\"rtsp://***@h\"");
    }
}
