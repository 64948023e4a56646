//! The checks that turn the file as written ([`RawFile`]) into a [`Site`]: ids unique and safe in
//! topics, references that name what exists, numbers in their ranges, URLs without credentials,
//! zones that are real lines and polygons. The first failure is the error, on its line and field.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use toml::Spanned;

use super::defaults::{
    DEFAULT_AGGREGATE, DEFAULT_ENTRY_SIDE, DEFAULT_FLOOR_MIN_DISTANCE, DEFAULT_HEIGHT_RANGE_M,
    DEFAULT_INITIAL_OCCUPANCY, DEFAULT_MIN_DISTANCE, DEFAULT_NODE,
};
use super::error::{Problem, SiteError, Source};
use super::raw::{RawBuilding, RawCamera, RawFile, RawFloor, RawKind, RawLens, RawZone};
use super::redact::{query_has_secret, redact_urls};
use super::{
    Building, Camera, CameraAuth, Credentials, Entrance, FloorSettings, Location, Site, TamperSettings, Zone,
    ZoneShape, ZoneSpace,
};
use crate::geometry::{CountingLine, Point, Polygon, Side};
use crate::lens::Lens;

/// How far outside 0..1 a normalised coordinate may stray (rounding in an
/// editor) before it is an error; such values are clamped into 0..1.
const COORDINATE_TOLERANCE: f64 = 1e-4;

/// How far beyond 0..1 a zone's normalised point may go on a camera with a lens (its undistorted
/// picture reaches beyond the frame).
const LENS_MARGIN: f64 = 0.5;

/// The smallest line length and polygon area (normalised) that still counts
/// as distinct points and a non-zero area.
const MIN_EXTENT: f64 = 1e-6;

impl Source<'_> {
    /// The site `raw` describes, or the first thing wrong with it.
    pub(super) fn validate(&self, raw: RawFile) -> Result<Site, SiteError> {
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
                return Err(self.problem(
                    &z.name.span(),
                    field("name"),
                    "is empty".to_owned(),
                    Problem::new("empty", &[]),
                ));
            }
            let key = (z.camera.get_ref().as_str(), name.as_str());
            if let Some(&first) = zone_names.get(&key) {
                return Err(self.problem(
                    &z.name.span(),
                    field("name"),
                    format!("duplicate zone name {name:?} for camera {:?} (first at line {first})", key.0),
                    Problem::new("duplicate_zone", &[("name", name), ("camera", &key.0), ("first", &first)]),
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
        let time_zone = match &raw.site.time_zone {
            Some(zone) => Some(self.time_zone(zone, "site.time_zone")?),
            None => None,
        };
        Ok(Site {
            id: raw.site.id.into_inner(),
            name: raw.site.name,
            node,
            node_named,
            time_zone,
            buildings,
            entrances,
            cameras,
            zones,
        })
    }

    /// An IANA time zone name (`Asia/Shanghai`) that the time zone database knows.
    fn time_zone(&self, zone: &Spanned<String>, field: &str) -> Result<String, SiteError> {
        let name = zone.get_ref();
        match jiff::tz::TimeZone::get(name) {
            Ok(_) => Ok(name.clone()),
            Err(_) => Err(self.error(
                &zone.span(),
                field,
                format!("{name:?} is not a time zone name of the IANA database (e.g. \"Asia/Shanghai\")"),
            )),
        }
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
            None => DEFAULT_INITIAL_OCCUPANCY,
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
        let auth = match &c.auth {
            None => CameraAuth::Digest,
            Some(v) => match v.get_ref().as_str() {
                "digest" => CameraAuth::Digest,
                "basic" => CameraAuth::Basic,
                other => {
                    let message = format!("must be \"digest\" or \"basic\", not {other:?}");
                    return Err(self.error(&v.span(), field("auth"), message));
                }
            },
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
            detector_region: c.detector_region,
            tamper,
            credentials: Credentials { username_env, password_env, password_file },
            auth,
            lens,
            floor,
        })
    }

    fn lens(&self, raw: &Spanned<RawLens>, field: &str) -> Result<Lens, SiteError> {
        let l = raw.get_ref();
        let bad = |name: &str, message: String| {
            self.problem(&raw.span(), format!("{field}.{name}"), message, Problem::new("lens", &[("value", &name)]))
        };
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
        let bad = |name: &str, message: String, problem: Problem| {
            self.problem(&raw.span(), format!("{field}.{name}"), message, problem)
        };
        for [x, y] in f.points {
            let within = |v: f64| v.is_finite() && (-COORDINATE_TOLERANCE..=1.0 + COORDINATE_TOLERANCE).contains(&v);
            if !within(x) || !within(y) {
                let message = format!("[{x}, {y}] is outside the image: coordinates are fractions 0..1");
                return Err(bad("points", message, Problem::new("floor_points", &[("x", &x), ("y", &y)])));
            }
        }
        if let Some([x, y]) = f.metres.iter().copied().find(|[x, y]| !(x.abs() <= 10_000.0 && y.abs() <= 10_000.0)) {
            let message = format!("[{x}, {y}] is not a floor position in metres");
            return Err(bad("metres", message, Problem::new("not_floor_position", &[("x", &x), ("y", &y)])));
        }
        let height_range_m = match (f.height_filter, f.height_range_m) {
            (Some(false), _) => None,
            (_, None) => Some(DEFAULT_HEIGHT_RANGE_M),
            (_, Some([low, high])) => {
                if !(low.is_finite() && high.is_finite() && 0.0 <= low && low < high && high <= 4.0) {
                    return Err(bad(
                        "height_range_m",
                        format!("[{low}, {high}] is not a range of heights in metres (0 ≤ low < high ≤ 4)"),
                        Problem::new("floor_heights", &[("low", &low), ("high", &high)]),
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
        settings.floor(lens, size).map_err(|e| bad("points", e.to_string(), Problem::new("floor_shape", &[])))?;
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
                    let problem = Problem::new("floor_space_without_floor", &[]);
                    return Err(self.problem(&space.span(), field("space"), message.to_owned(), problem));
                }
                other => {
                    let message = format!("must be \"picture\" or \"floor\", not {other:?}");
                    let problem = Problem::new("no_such_space", &[("space", &other)]);
                    return Err(self.problem(&space.span(), field("space"), message, problem));
                }
            },
        };
        let mut points = Vec::with_capacity(z.points.get_ref().len());
        for (j, p) in z.points.get_ref().iter().enumerate() {
            let [x, y] = *p.get_ref();
            let point_field = || format!("{}[{j}]", field("points"));
            if space == ZoneSpace::Floor {
                if !(x.abs() <= 10_000.0 && y.abs() <= 10_000.0) {
                    return Err(self.problem(
                        &p.span(),
                        point_field(),
                        format!("[{x}, {y}] is not a floor position in metres"),
                        Problem::new("not_floor_position", &[("x", &x), ("y", &y)]),
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
                let code = if margin > 0.0 { "outside_picture_lens" } else { "outside_picture" };
                return Err(self.problem(
                    &p.span(),
                    point_field(),
                    format!("[{x}, {y}] is outside the image: coordinates are fractions {range}"),
                    Problem::new(code, &[("x", &x), ("y", &y)]),
                ));
            }
            let clamp = |v: f64| v.clamp(-margin, 1.0 + margin) as f32;
            points.push(Point::new(clamp(x), clamp(y)));
        }
        let points_span = z.points.span();
        let shape = match z.kind.get_ref() {
            RawKind::Line => {
                let [a, b] = points[..] else {
                    let n = z.points.get_ref().len();
                    return Err(self.problem(
                        &points_span,
                        field("points"),
                        format!("a line needs exactly 2 points, not {n}"),
                        Problem::new("line_points", &[("n", &n)]),
                    ));
                };
                if f64::from(a.distance(b)) < MIN_EXTENT {
                    return Err(self.problem(
                        &points_span,
                        field("points"),
                        "the 2 points of a line must be distinct".to_owned(),
                        Problem::new("line_distinct", &[]),
                    ));
                }
                let entry_side = z.entry_side.as_ref().map_or(DEFAULT_ENTRY_SIDE, |s| Side::from(*s.get_ref()));
                ZoneShape::Line(CountingLine::new(a, b, entry_side))
            }
            RawKind::Polygon => {
                if let Some(side) = &z.entry_side {
                    return Err(self.problem(
                        &side.span(),
                        field("entry_side"),
                        "only lines have an entry side; entering a polygon is an entry".to_owned(),
                        Problem::new("polygon_entry_side", &[]),
                    ));
                }
                if points.len() < 3 {
                    return Err(self.problem(
                        &points_span,
                        field("points"),
                        format!("a polygon needs at least 3 points, not {}", points.len()),
                        Problem::new("polygon_points", &[("n", &points.len())]),
                    ));
                }
                let polygon = Polygon::new(points);
                if f64::from(polygon.area()) < MIN_EXTENT {
                    return Err(self.problem(
                        &points_span,
                        field("points"),
                        "the polygon has no area (its points are on one line)".to_owned(),
                        Problem::new("polygon_area", &[]),
                    ));
                }
                ZoneShape::Polygon(polygon)
            }
        };
        let min_distance = match (&z.min_distance, space) {
            (Some(d), ZoneSpace::Picture) => {
                let value = *d.get_ref();
                if !(value.is_finite() && (0.0..0.5).contains(&value)) {
                    return Err(self.problem(
                        &d.span(),
                        field("min_distance"),
                        format!("must be a fraction of the image height in 0..0.5, not {value}"),
                        Problem::new("min_distance_picture", &[("value", &value)]),
                    ));
                }
                value as f32
            }
            (Some(d), ZoneSpace::Floor) => {
                let value = *d.get_ref();
                if !(value.is_finite() && (0.0..5.0).contains(&value)) {
                    return Err(self.problem(
                        &d.span(),
                        field("min_distance"),
                        format!("must be a distance in metres in 0..5 for a zone on the floor, not {value}"),
                        Problem::new("min_distance_floor", &[("value", &value)]),
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
            aggregate: z.aggregate.unwrap_or(DEFAULT_AGGREGATE),
            space,
            entrance: z.entrance.as_ref().map(|e| e.get_ref().clone()),
        })
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
        let code = match self.kind {
            "building" => "unknown_building",
            "entrance" => "unknown_entrance",
            "camera" => "unknown_camera",
            _ => "invalid",
        };
        let problem = Problem::new(code, &[("name", reference.get_ref()), ("known", &self.order.join(", "))]);
        Err(source.problem(&reference.span(), field, message, problem))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::geometry::Point;
    use crate::site::fixtures::{MINIMAL, invalid, line_of, minimal_with};
    use crate::site::{CameraAuth, Site, ZoneShape};

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
    fn an_error_a_page_can_cause_has_a_code_and_the_values_it_names() {
        use crate::site::{Problem, SiteError};
        let problem = |text: &str| match Site::parse(text, "m.toml") {
            Err(SiteError::Invalid { problem, .. }) => problem,
            other => panic!("expected an invalid site: {other:?}"),
        };
        let zone = "\n[[zone]]\ncamera = \"c\"\nname = \"z\"\nkind = \"polygon\"\npoints = [[0,0],[1,0],[1,1]]\n";
        let twice = problem(&format!("{MINIMAL}{zone}"));
        assert_eq!(twice.code, "duplicate_zone");
        assert_eq!(twice.params, [("name", "z".to_string()), ("camera", "c".into()), ("first", "18".into())]);
        let outside = problem(&format!("{MINIMAL}{}", zone.replace("\"z\"", "\"y\"").replace("[1,1]", "[1.5,1]")));
        assert_eq!(outside, Problem::new("outside_picture", &[("x", &1.5), ("y", &1)]));
        let entrance = problem(&format!("{MINIMAL}{}", zone.replace("\"z\"", "\"y\"") + "entrance = \"东门\"\n"));
        assert_eq!(entrance, Problem::new("unknown_entrance", &[("name", &"东门"), ("known", &"e")]));
        // What a page cannot send keeps the generic code.
        assert_eq!(problem(&minimal_with("id = \"s\"", "id = \"a/b\"")).code, "invalid");
        for code in Problem::CODES {
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{code}");
        }
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
    fn detector_region_is_true_or_false() {
        for (value, expected) in [("true", Some(true)), ("false", Some(false))] {
            let text = minimal_with("url =", &format!("detector_region = {value}\nurl ="));
            assert_eq!(Site::parse(&text, "m.toml").unwrap().cameras[0].detector_region, expected, "{value}");
        }
        assert_eq!(Site::parse(&minimal_with("", ""), "m.toml").unwrap().cameras[0].detector_region, None);
        // Hostile or mistaken: a string where a boolean goes names the file and the line.
        let text = minimal_with("url =", "detector_region = \"doors\"\nurl =");
        let error = Site::parse(&text, "m.toml").unwrap_err().to_string();
        assert!(error.starts_with(&format!("m.toml:{}:", line_of(&text, "detector_region"))), "{error}");
    }

    #[test]
    fn auth_is_digest_unless_basic_is_named() {
        assert_eq!(Site::parse(&minimal_with("url =", "url ="), "m.toml").unwrap().cameras[0].auth, CameraAuth::Digest);
        for (value, expected) in [("digest", CameraAuth::Digest), ("basic", CameraAuth::Basic)] {
            let text = minimal_with("url =", &format!("auth = \"{value}\"\nurl ="));
            assert_eq!(Site::parse(&text, "m.toml").unwrap().cameras[0].auth, expected, "{value}");
        }
        let text = minimal_with("url =", "auth = \"ntlm\"\nurl =");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "auth"), "camera[0].auth"));
        assert!(message.contains("\"digest\" or \"basic\"") && message.contains("ntlm"), "{message}");
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
}
