//! The grid file: a GeoJSON FeatureCollection of a community's grid cells (网格) and buildings.
//!
//! - A **cell** is a feature with `"kind": "cell"`, a `Polygon` or `MultiPolygon`, an `id`, a
//!   `name` and optionally `population` (people registered in it).
//! - A **building** is a feature with `"kind": "building"`, a `Point` or a `Polygon` footprint,
//!   the Lintel `site` and `building` ids its node publishes under, and optionally `name`,
//!   `cell` (else the cell that contains it), `floor_area_m2`, `capacity` and `category` (a FIWARE
//!   building category, `residential` when absent).
//!
//! The collection's own `properties` may name the community's `time_zone` (an IANA name such as
//! `Asia/Shanghai`, checked against jiff's bundled database): the map page and the pictures show
//! local times in it; without one they show UTC, and say so. Messages and exports stay UTC. It
//! may also fix the map's colour classes: `density_breaks` (people per hectare) and
//! `count_breaks` (people per cell), five ascending numbers from 0 each ([`super::legend`]).
//!
//! Coordinates are WGS-84 longitude, latitude (GeoJSON's order). Every error names the file, the
//! feature (its index in `features`) and the field: `grid.geojson: feature 3: capacity: not a
//! whole number ≥ 0`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The largest grid file read: a city's cells and buildings fit many times over.
pub const MAX_GRID_BYTES: u64 = 64 << 20;

/// What is wrong with a grid file, and where.
#[derive(Debug, thiserror::Error)]
pub struct GridError {
    pub file: PathBuf,
    /// Index of the feature in `features`, when the error is about one.
    pub feature: Option<usize>,
    /// The field (`geometry`, `properties.id`…), when the error is about one.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for GridError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(feature) = self.feature {
            write!(f, ": feature {feature}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Longitude, latitude in degrees (WGS-84).
pub type LonLat = [f64; 2];

/// A polygon: its outer ring first, then holes; each ring closed (first point = last point).
pub type Polygon = Vec<Vec<LonLat>>;

/// A grid cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub id: String,
    pub name: String,
    pub population: Option<u64>,
    pub polygons: Vec<Polygon>,
}

/// Where a building is drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum Footprint {
    Point(LonLat),
    Polygon(Polygon),
}

/// A building, as its node names it.
#[derive(Clone, Debug, PartialEq)]
pub struct Building {
    pub site: String,
    pub building: String,
    pub name: String,
    /// The id of its cell.
    pub cell: String,
    pub footprint: Footprint,
    /// The point it is drawn at: the point itself, or the footprint's centroid.
    pub position: LonLat,
    pub floor_area_m2: Option<f64>,
    pub capacity: Option<u64>,
    pub category: String,
}

impl Building {
    /// `site/building`: the key the store uses (ids never contain `/`).
    pub fn key(&self) -> String {
        building_key(&self.site, &self.building)
    }
}

/// `site/building`.
pub fn building_key(site: &str, building: &str) -> String {
    format!("{site}/{building}")
}

/// A community's cells and buildings.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// The FeatureCollection's `name`, if any.
    pub name: Option<String>,
    /// `properties.time_zone`: the IANA name of the community's time zone, if the file gives one.
    pub time_zone: Option<String>,
    /// `properties.density_breaks`: the density view's class breaks, people per hectare
    /// ([`super::legend`]); derived from capacities and areas when absent.
    pub density_breaks: Option<Vec<f64>>,
    /// `properties.count_breaks`: the head-count view's class breaks, people per cell.
    pub count_breaks: Option<Vec<f64>>,
    pub cells: Vec<Cell>,
    pub buildings: Vec<Building>,
    by_key: HashMap<String, usize>,
}

impl Grid {
    /// Reads and checks a grid file.
    pub fn load(path: &Path) -> Result<Self, GridError> {
        let error = |message: String| GridError { file: path.to_owned(), feature: None, field: None, message };
        let size = std::fs::metadata(path).map_err(|e| error(format!("cannot read: {e}")))?.len();
        if size > MAX_GRID_BYTES {
            return Err(error(format!("{size} bytes, more than the {MAX_GRID_BYTES} a grid file may have")));
        }
        let text = std::fs::read(path).map_err(|e| error(format!("cannot read: {e}")))?;
        Self::parse(path, &text)
    }

    /// Checks a grid file's bytes; `file` only names it in errors.
    pub fn parse(file: &Path, bytes: &[u8]) -> Result<Self, GridError> {
        let at = |feature: Option<usize>, field: &str, message: String| GridError {
            file: file.to_owned(),
            feature,
            field: (!field.is_empty()).then(|| field.to_string()),
            message,
        };
        let root: Value = serde_json::from_slice(bytes).map_err(|e| at(None, "", format!("not JSON: {e}")))?;
        if root.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
            return Err(at(None, "type", "must be \"FeatureCollection\"".into()));
        }
        let name = root.get("name").and_then(Value::as_str).map(str::to_string);
        let empty = Map::new();
        let collection_props = match root.get("properties") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(props)) => props,
            Some(_) => return Err(at(None, "properties", "not an object".into())),
        };
        let time_zone =
            optional_text(collection_props, "time_zone").map_err(|e| at(None, "properties.time_zone", e))?;
        let breaks = |key: &str| -> Result<Option<Vec<f64>>, GridError> {
            let field = format!("properties.{key}");
            match collection_props.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => {
                    let numbers: Option<Vec<f64>> = items.iter().map(Value::as_f64).collect();
                    let numbers = numbers.ok_or_else(|| at(None, &field, "not an array of numbers".into()))?;
                    check_breaks(&numbers).map_err(|e| at(None, &field, e))?;
                    Ok(Some(numbers))
                }
                Some(_) => Err(at(None, &field, "not an array of numbers".into())),
            }
        };
        let (density_breaks, count_breaks) = (breaks("density_breaks")?, breaks("count_breaks")?);
        if let Some(zone) = &time_zone
            && jiff::tz::TimeZone::get(zone).is_err()
        {
            return Err(at(
                None,
                "properties.time_zone",
                format!("{zone:?} is not a time zone name of the IANA database (e.g. \"Asia/Shanghai\")"),
            ));
        }
        let features = root
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| at(None, "features", "missing or not an array".into()))?;

        let mut cells: Vec<Cell> = Vec::new();
        // Buildings wait for every cell, so a building may come before its cell in the file.
        let mut pending: Vec<(usize, Building, bool)> = Vec::new();
        for (n, feature) in features.iter().enumerate() {
            let here = |field: &str, message: String| at(Some(n), field, message);
            let props = feature
                .get("properties")
                .and_then(Value::as_object)
                .ok_or_else(|| here("properties", "missing or not an object".into()))?;
            let geometry = feature.get("geometry").ok_or_else(|| here("geometry", "missing".into()))?;
            let geometry = parse_geometry(geometry).map_err(|e| here(&format!("geometry{}", e.0), e.1))?;
            let kind = text(props, "kind").map_err(|e| here("properties.kind", e))?;
            match kind.as_str() {
                "cell" => {
                    let id = id(props, "id").map_err(|e| here("properties.id", e))?;
                    if cells.iter().any(|c| c.id == id) {
                        return Err(here("properties.id", format!("cell {id:?} is defined twice")));
                    }
                    let name =
                        optional_text(props, "name").map_err(|e| here("properties.name", e))?.unwrap_or(id.clone());
                    let population = count(props, "population").map_err(|e| here("properties.population", e))?;
                    let polygons = match geometry {
                        Geometry::Polygon(p) => vec![p],
                        Geometry::MultiPolygon(ps) => ps,
                        Geometry::Point(_) => {
                            return Err(here("geometry", "a cell must be a Polygon or MultiPolygon".into()));
                        }
                    };
                    cells.push(Cell { id, name, population, polygons });
                }
                "building" => {
                    let site = id(props, "site").map_err(|e| here("properties.site", e))?;
                    let building = id(props, "building").map_err(|e| here("properties.building", e))?;
                    let name = optional_text(props, "name")
                        .map_err(|e| here("properties.name", e))?
                        .unwrap_or(building.clone());
                    let cell = optional_text(props, "cell").map_err(|e| here("properties.cell", e))?;
                    let floor_area_m2 = match props.get("floor_area_m2") {
                        None | Some(Value::Null) => None,
                        Some(v) => match v.as_f64() {
                            Some(a) if a.is_finite() && a > 0.0 => Some(a),
                            _ => return Err(here("properties.floor_area_m2", "not a number > 0".into())),
                        },
                    };
                    let capacity = count(props, "capacity").map_err(|e| here("properties.capacity", e))?;
                    let category = optional_text(props, "category")
                        .map_err(|e| here("properties.category", e))?
                        .unwrap_or_else(|| "residential".into());
                    let (footprint, position) = match geometry {
                        Geometry::Point(p) => (Footprint::Point(p), p),
                        Geometry::Polygon(p) => {
                            let c = centroid(&p[0]);
                            (Footprint::Polygon(p), c)
                        }
                        Geometry::MultiPolygon(_) => {
                            return Err(here("geometry", "a building must be a Point or a Polygon".into()));
                        }
                    };
                    let explicit = cell.is_some();
                    let b = Building {
                        site,
                        building,
                        name,
                        cell: cell.unwrap_or_default(),
                        footprint,
                        position,
                        floor_area_m2,
                        capacity,
                        category,
                    };
                    pending.push((n, b, explicit));
                }
                other => {
                    return Err(here("properties.kind", format!("{other:?}: must be \"cell\" or \"building\"")));
                }
            }
        }
        if cells.is_empty() {
            return Err(at(None, "features", "no cell (a feature with \"kind\": \"cell\")".into()));
        }
        let mut buildings = Vec::with_capacity(pending.len());
        let mut seen = HashSet::new();
        for (n, mut b, explicit) in pending {
            if !seen.insert(b.key()) {
                return Err(at(Some(n), "properties.building", format!("{} is defined twice", b.key())));
            }
            if explicit {
                if !cells.iter().any(|c| c.id == b.cell) {
                    return Err(at(Some(n), "properties.cell", format!("no cell {:?} in this file", b.cell)));
                }
            } else {
                let inside = cells.iter().find(|c| c.polygons.iter().any(|p| contains(p, b.position)));
                match inside {
                    Some(cell) => b.cell = cell.id.clone(),
                    None => {
                        return Err(at(
                            Some(n),
                            "geometry",
                            format!("building {} lies in no cell (give properties.cell)", b.key()),
                        ));
                    }
                }
            }
            buildings.push(b);
        }
        let by_key = buildings.iter().enumerate().map(|(i, b)| (b.key(), i)).collect();
        Ok(Self { name, time_zone, density_breaks, count_breaks, cells, buildings, by_key })
    }

    /// The time zone people read times in: the file's, else UTC.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        // Checked when the file was read, so only UTC itself falls back.
        self.time_zone.as_deref().and_then(|z| jiff::tz::TimeZone::get(z).ok()).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// The building a node publishes as `site`/`building`, if the grid has it.
    pub fn building(&self, site: &str, building: &str) -> Option<&Building> {
        self.by_key.get(&building_key(site, building)).map(|&i| &self.buildings[i])
    }

    pub fn cell(&self, id: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.id == id)
    }

    /// The buildings of cell `id`.
    pub fn buildings_in<'a>(&'a self, cell: &'a str) -> impl Iterator<Item = &'a Building> + 'a {
        self.buildings.iter().filter(move |b| b.cell == cell)
    }

    /// West, south, east, north of every coordinate in the grid.
    pub fn bounds(&self) -> [f64; 4] {
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        let mut add = |p: &LonLat| {
            b[0] = b[0].min(p[0]);
            b[1] = b[1].min(p[1]);
            b[2] = b[2].max(p[0]);
            b[3] = b[3].max(p[1]);
        };
        for c in &self.cells {
            c.polygons.iter().flatten().flatten().for_each(&mut add);
        }
        for b in &self.buildings {
            add(&b.position);
        }
        b
    }
}

enum Geometry {
    Point(LonLat),
    Polygon(Polygon),
    MultiPolygon(Vec<Polygon>),
}

/// (field suffix, message)
type GeometryError = (String, String);

fn parse_geometry(value: &Value) -> Result<Geometry, GeometryError> {
    let kind = value.get("type").and_then(Value::as_str).ok_or_else(|| (".type".to_string(), "missing".to_string()))?;
    let coordinates = value.get("coordinates").ok_or_else(|| (".coordinates".to_string(), "missing".to_string()))?;
    let bad = |message: String| (".coordinates".to_string(), message);
    match kind {
        "Point" => Ok(Geometry::Point(position(coordinates).map_err(bad)?)),
        "Polygon" => Ok(Geometry::Polygon(polygon(coordinates).map_err(bad)?)),
        "MultiPolygon" => {
            let list = coordinates.as_array().ok_or_else(|| bad("not an array of polygons".into()))?;
            if list.is_empty() {
                return Err(bad("no polygon".into()));
            }
            Ok(Geometry::MultiPolygon(list.iter().map(polygon).collect::<Result<_, _>>().map_err(bad)?))
        }
        other => Err((".type".into(), format!("{other:?}: must be Point, Polygon or MultiPolygon"))),
    }
}

fn position(value: &Value) -> Result<LonLat, String> {
    let pair = value.as_array().filter(|a| a.len() >= 2).ok_or("a position must be [longitude, latitude]")?;
    let lon = pair[0].as_f64().ok_or("longitude is not a number")?;
    let lat = pair[1].as_f64().ok_or("latitude is not a number")?;
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(format!("[{lon}, {lat}] is not a WGS-84 longitude, latitude"));
    }
    Ok([lon, lat])
}

fn polygon(value: &Value) -> Result<Polygon, String> {
    let rings = value.as_array().ok_or("a polygon must be an array of rings")?;
    if rings.is_empty() {
        return Err("a polygon needs an outer ring".into());
    }
    rings
        .iter()
        .map(|ring| {
            let points = ring.as_array().ok_or("a ring must be an array of positions")?;
            let ring: Vec<LonLat> = points.iter().map(position).collect::<Result<_, _>>()?;
            if ring.len() < 4 || ring.first() != ring.last() {
                return Err("a ring needs at least 4 positions, the last equal to the first".to_string());
            }
            Ok(ring)
        })
        .collect()
}

fn text(props: &Map<String, Value>, key: &str) -> Result<String, String> {
    optional_text(props, key)?.ok_or_else(|| "missing".to_string())
}

fn optional_text(props: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err("empty".into()),
        Some(_) => Err("not a string".into()),
    }
}

/// An id that can be an MQTT topic level (as the site file's ids are).
fn id(props: &Map<String, Value>, key: &str) -> Result<String, String> {
    let id = text(props, key)?;
    if id.contains(['/', '+', '#', '\0']) {
        return Err(format!("{id:?} contains '/', '+', '#' or NUL"));
    }
    Ok(id)
}

fn count(props: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| "not a whole number ≥ 0".into()),
    }
}

/// Whether `point` is inside the polygon (even-odd over all rings, so holes are outside).
pub fn contains(polygon: &Polygon, point: LonLat) -> bool {
    let [x, y] = point;
    let mut inside = false;
    for ring in polygon {
        for edge in ring.windows(2) {
            let ([x1, y1], [x2, y2]) = (edge[0], edge[1]);
            if (y1 > y) != (y2 > y) && x < x1 + (y - y1) / (y2 - y1) * (x2 - x1) {
                inside = !inside;
            }
        }
    }
    inside
}

/// The centroid of a closed ring (the vertex mean when its area is zero).
pub fn centroid(ring: &[LonLat]) -> LonLat {
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for edge in ring.windows(2) {
        let ([x1, y1], [x2, y2]) = (edge[0], edge[1]);
        let cross = x1 * y2 - x2 * y1;
        a += cross;
        cx += (x1 + x2) * cross;
        cy += (y1 + y2) * cross;
    }
    if a.abs() < 1e-18 {
        let n = ring.len().max(1) as f64;
        return [ring.iter().map(|p| p[0]).sum::<f64>() / n, ring.iter().map(|p| p[1]).sum::<f64>() / n];
    }
    [cx / (3.0 * a), cy / (3.0 * a)]
}

/// Colour classes of a legend: a grid file's breaks give the lower bound of each.
pub const CLASSES: usize = 5;

/// Checks breaks given in a grid file: five, finite, ascending, from 0.
pub fn check_breaks(breaks: &[f64]) -> Result<(), String> {
    if breaks.len() != CLASSES {
        return Err(format!("{} numbers: give {}, the first 0", breaks.len(), CLASSES));
    }
    if breaks[0] != 0.0
        || breaks.windows(2).any(|w| w[1] <= w[0] || w[1].is_nan())
        || breaks.iter().any(|b| !b.is_finite())
    {
        return Err("must start at 0 and rise".into());
    }
    Ok(())
}

/// Area of a polygon in m² (outer ring minus holes), on a local equirectangular projection:
/// plenty for cells a few hundred metres across.
pub fn area_m2(polygon: &Polygon) -> f64 {
    let Some(first) = polygon.first().and_then(|r| r.first()) else { return 0.0 };
    let lat0 = first[1].to_radians();
    let project = |p: &LonLat| [p[0].to_radians() * 6_371_008.8 * lat0.cos(), p[1].to_radians() * 6_371_008.8];
    let ring_area = |ring: &Vec<LonLat>| {
        let pts: Vec<[f64; 2]> = ring.iter().map(project).collect();
        (pts.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum::<f64>() / 2.0).abs()
    };
    let outer = ring_area(&polygon[0]);
    outer - polygon[1..].iter().map(ring_area).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Grid {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lishui-grid.geojson");
        Grid::load(&path).unwrap()
    }

    #[test]
    fn the_fixture_has_three_cells_a_dozen_buildings_and_the_clips_hall() {
        let grid = fixture();
        assert_eq!(grid.cells.len(), 3);
        assert_eq!(grid.buildings.len(), 12);
        let hall = grid.building("pets", "hall").expect("the clip's hall");
        assert!(grid.cell(&hall.cell).is_some());
        for b in &grid.buildings {
            let cell = grid.cell(&b.cell).unwrap();
            assert!(cell.polygons.iter().any(|p| contains(p, b.position)), "{} is outside its cell", b.key());
        }
        let [w, s, e, n] = grid.bounds();
        assert!(w > 119.9 && e < 119.95 && s > 28.44 && n < 28.47, "{:?}", grid.bounds());
    }

    fn error(json: &str) -> String {
        Grid::parse(Path::new("g.geojson"), json.as_bytes()).unwrap_err().to_string()
    }

    const CELL: &str = r#"{"type":"Feature","properties":{"kind":"cell","id":"c1"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}}"#;

    fn with(building: &str) -> String {
        format!(r#"{{"type":"FeatureCollection","features":[{CELL},{building}]}}"#)
    }

    #[test]
    fn errors_name_the_file_the_feature_and_the_field() {
        assert_eq!(error("[1"), "g.geojson: not JSON: EOF while parsing a list at line 1 column 2");
        assert_eq!(error(r#"{"type":"Feature"}"#), r#"g.geojson: type: must be "FeatureCollection""#);
        let point = r#""geometry":{"type":"Point","coordinates":[0.5,0.5]}"#;
        assert_eq!(
            error(&with(&format!(r#"{{"type":"Feature","properties":{{"kind":"building","site":"s"}},{point}}}"#))),
            "g.geojson: feature 1: properties.building: missing"
        );
        assert_eq!(
            error(&with(&format!(
                r#"{{"type":"Feature","properties":{{"kind":"building","site":"s","building":"b","capacity":-3}},{point}}}"#
            ))),
            "g.geojson: feature 1: properties.capacity: not a whole number ≥ 0"
        );
        assert_eq!(
            error(&with(
                r#"{"type":"Feature","properties":{"kind":"building","site":"s","building":"b"},"geometry":{"type":"Point","coordinates":[5,5]}}"#
            )),
            "g.geojson: feature 1: geometry: building s/b lies in no cell (give properties.cell)"
        );
        assert_eq!(
            error(&with(
                r#"{"type":"Feature","properties":{"kind":"building","site":"s","building":"b"},"geometry":{"type":"Point","coordinates":[200,5]}}"#
            )),
            "g.geojson: feature 1: geometry.coordinates: [200, 5] is not a WGS-84 longitude, latitude"
        );
        assert_eq!(
            error(&with(
                r#"{"type":"Feature","properties":{"kind":"building","site":"s/x","building":"b"},"geometry":{"type":"Point","coordinates":[0.5,0.5]}}"#
            )),
            "g.geojson: feature 1: properties.site: \"s/x\" contains '/', '+', '#' or NUL"
        );
        assert_eq!(
            error(&with(
                r#"{"type":"Feature","properties":{"kind":"tree"},"geometry":{"type":"Point","coordinates":[0.5,0.5]}}"#
            )),
            "g.geojson: feature 1: properties.kind: \"tree\": must be \"cell\" or \"building\""
        );
        assert_eq!(
            error(&with(
                r#"{"type":"Feature","properties":{"kind":"cell","id":"c2"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1]]]}}"#
            )),
            "g.geojson: feature 1: geometry.coordinates: a ring needs at least 4 positions, the last equal to the first"
        );
        assert_eq!(error(&with(CELL)), "g.geojson: feature 1: properties.id: cell \"c1\" is defined twice");
    }

    #[test]
    fn the_time_zone_is_an_iana_name_or_utc_when_absent() {
        assert_eq!(fixture().time_zone.as_deref(), Some("Asia/Shanghai"));
        assert_eq!(fixture().zone().iana_name(), Some("Asia/Shanghai"));
        let grid = |props: &str| format!(r#"{{"type":"FeatureCollection","properties":{props},"features":[{CELL}]}}"#);
        let plain = Grid::parse(Path::new("g.geojson"), grid("{}").as_bytes()).unwrap();
        assert_eq!((plain.time_zone.as_deref(), plain.zone()), (None, jiff::tz::TimeZone::UTC));
        assert_eq!(
            error(&grid(r#"{"time_zone":"Asia/Shangai"}"#)),
            "g.geojson: properties.time_zone: \"Asia/Shangai\" is not a time zone name of the IANA database (e.g. \"Asia/Shanghai\")"
        );
        assert_eq!(error(&grid(r#"{"time_zone":8}"#)), "g.geojson: properties.time_zone: not a string");
        assert_eq!(error(&grid("[]")), "g.geojson: properties: not an object");
    }

    #[test]
    fn point_in_polygon_respects_holes() {
        let square = vec![
            vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]],
            vec![[1.0, 1.0], [2.0, 1.0], [2.0, 2.0], [1.0, 2.0], [1.0, 1.0]],
        ];
        assert!(contains(&square, [3.0, 3.0]));
        assert!(!contains(&square, [1.5, 1.5]));
        assert!(!contains(&square, [5.0, 1.0]));
        assert_eq!(centroid(&square[0]), [2.0, 2.0]);
    }
}
