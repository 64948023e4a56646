//! The density picture at one time: every building's occupancy and freshness, rolled up into
//! its cell. Built from the store's newest (or as-of) states and the grid; written out as GeoJSON
//! ([`Snapshot::to_geojson`]), as the retained per-cell MQTT message, and drawn by `render`.
//!
//! A building whose data is older than `stale_after` is **stale**: it keeps its last occupancy
//! and the time of that data, and it is left out of its cell's `occupancy` (counted in
//! `occupancy_stale` instead), never counted as zero. A building never heard from has no
//! occupancy at all.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::grid::{Footprint, Grid, LonLat, Polygon, area_m2};
use super::legend::Legends;
use super::store::Latest;
use lintel_wire::UtcTime;

/// One building at the snapshot's time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuildingView {
    /// Always `"building"` (a GeoJSON property, to tell features apart).
    pub kind: &'static str,
    pub site: String,
    pub building: String,
    pub name: String,
    pub cell: String,
    /// Last known occupancy; `None` if never heard from.
    pub occupancy: Option<u64>,
    pub capacity: Option<u64>,
    pub floor_area_m2: Option<f64>,
    /// People per 100 m² of floor, when the floor area is known.
    pub density_per_100m2: Option<f64>,
    /// Entries and exits of the last interval, and its bounds.
    pub entries: Option<u64>,
    pub exits: Option<u64>,
    pub interval_start: Option<UtcTime>,
    pub interval_end: Option<UtcTime>,
    /// When its last data was true.
    pub last_data: Option<UtcTime>,
    /// No data, or none newer than `stale_after`.
    pub stale: bool,
    /// Where it is drawn: its point, or its footprint's centroid.
    pub position: LonLat,
}

/// One cell at the snapshot's time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellView {
    /// Always `"cell"`.
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub population: Option<u64>,
    /// Sum of its buildings' capacities (none: no building has one).
    pub capacity: Option<u64>,
    /// Sum over its fresh buildings.
    pub occupancy: u64,
    /// Sum of the last known occupancy of its stale buildings (not in `occupancy`).
    pub occupancy_stale: u64,
    /// Of its fresh buildings whose floor area is known: people per 100 m² of that floor.
    pub density_per_100m2: Option<f64>,
    /// The cell's area (from its geometry), hectares.
    pub area_ha: f64,
    /// People (of its fresh buildings) per hectare of the cell: the map's colour; none when no
    /// building is fresh.
    pub density_per_ha: Option<f64>,
    pub entries: u64,
    pub exits: u64,
    pub buildings: usize,
    pub buildings_fresh: usize,
    /// Newest data of any of its buildings.
    pub last_data: Option<UtcTime>,
}

/// Every building and cell at `at`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    pub at: UtcTime,
    pub stale_after_s: i64,
    pub buildings: Vec<BuildingView>,
    pub cells: Vec<CellView>,
}

impl Snapshot {
    /// `states` are the store's newest (or as-of `at`) states; buildings absent from the grid are ignored.
    pub fn build(grid: &Grid, states: &[Latest], at: UtcTime, stale_after_s: i64) -> Self {
        let by_key: HashMap<&str, &Latest> = states.iter().map(|s| (s.building.as_str(), s)).collect();
        let now = at.unix_seconds();
        let buildings: Vec<BuildingView> = grid
            .buildings
            .iter()
            .map(|b| {
                let state = by_key.get(b.key().as_str()).copied();
                let stale = state.is_none_or(|s| now - s.at_s > stale_after_s);
                let occupancy = state.map(|s| s.occupancy);
                let interval = state.and_then(|s| s.interval);
                BuildingView {
                    kind: "building",
                    site: b.site.clone(),
                    building: b.building.clone(),
                    name: b.name.clone(),
                    cell: b.cell.clone(),
                    occupancy,
                    capacity: b.capacity,
                    floor_area_m2: b.floor_area_m2,
                    density_per_100m2: occupancy.zip(b.floor_area_m2).map(|(o, a)| round2(o as f64 * 100.0 / a)),
                    entries: interval.map(|i| i.entries),
                    exits: interval.map(|i| i.exits),
                    interval_start: interval.map(|i| UtcTime::from_unix_seconds(i.start_s)),
                    interval_end: interval.map(|i| UtcTime::from_unix_seconds(i.end_s)),
                    last_data: state.map(|s| UtcTime::from_unix_seconds(s.at_s)),
                    stale,
                    position: b.position,
                }
            })
            .collect();
        let cells = grid
            .cells
            .iter()
            .map(|c| {
                let mine: Vec<&BuildingView> = buildings.iter().filter(|b| b.cell == c.id).collect();
                let fresh: Vec<&&BuildingView> = mine.iter().filter(|b| !b.stale).collect();
                let (people, floor) = fresh
                    .iter()
                    .filter_map(|b| b.occupancy.zip(b.floor_area_m2))
                    .fold((0.0, 0.0), |(p, f), (o, a)| (p + o as f64, f + a));
                let occupancy = fresh.iter().filter_map(|b| b.occupancy).fold(0, u64::saturating_add);
                let area_ha = c.polygons.iter().map(area_m2).sum::<f64>() / 10_000.0;
                CellView {
                    kind: "cell",
                    id: c.id.clone(),
                    name: c.name.clone(),
                    population: c.population,
                    capacity: mine.iter().filter_map(|b| b.capacity).reduce(u64::saturating_add),
                    occupancy,
                    occupancy_stale: mine
                        .iter()
                        .filter(|b| b.stale)
                        .filter_map(|b| b.occupancy)
                        .fold(0, u64::saturating_add),
                    density_per_100m2: (floor > 0.0).then(|| round2(people * 100.0 / floor)),
                    area_ha: round2(area_ha),
                    density_per_ha: (!fresh.is_empty() && area_ha > 0.0).then(|| round2(occupancy as f64 / area_ha)),
                    entries: fresh.iter().filter_map(|b| b.entries).fold(0, u64::saturating_add),
                    exits: fresh.iter().filter_map(|b| b.exits).fold(0, u64::saturating_add),
                    buildings: mine.len(),
                    buildings_fresh: fresh.len(),
                    last_data: mine.iter().filter_map(|b| b.last_data).max(),
                }
            })
            .collect();
        Self { at, stale_after_s, buildings, cells }
    }

    /// A GeoJSON FeatureCollection: the cells (polygons) first, then the buildings (their point or
    /// footprint), each with its view as properties (`"kind"`: `cell` or `building`).
    pub fn to_geojson(&self, grid: &Grid) -> Value {
        serde_json::to_value(self.collection(grid)).unwrap_or(Value::Null)
    }

    /// [`Snapshot::to_geojson`] as text, written straight from the views (no JSON tree in
    /// between: a city's ten thousand buildings in a few tens of milliseconds).
    pub fn to_geojson_string(&self, grid: &Grid) -> String {
        self.to_geojson_string_of(grid, Only::All)
    }

    /// [`Snapshot::to_geojson_string`] with only the features `only` names (the map page asks
    /// for the cells first and a city's buildings only where it is zoomed in).
    pub fn to_geojson_string_of(&self, grid: &Grid, only: Only) -> String {
        serde_json::to_string(&self.collection_of(grid, only)).unwrap_or_default()
    }

    fn collection<'a>(&'a self, grid: &'a Grid) -> Collection<'a> {
        self.collection_of(grid, Only::All)
    }

    fn collection_of<'a>(&'a self, grid: &'a Grid, only: Only) -> Collection<'a> {
        let (with_cells, with_buildings, within) = match only {
            Only::All => (true, true, None),
            Only::Cells => (true, false, None),
            Only::Buildings(within) => (false, true, within),
        };
        let cells = grid.cells.iter().zip(&self.cells).filter(|_| with_cells).map(|(cell, view)| Feature {
            kind: "Feature",
            id: format!("cell:{}", cell.id),
            geometry: match cell.polygons.as_slice() {
                [one] => Geometry::Polygon { coordinates: one },
                many => Geometry::MultiPolygon { coordinates: many },
            },
            properties: Properties::Cell(view),
        });
        let buildings = grid.buildings.iter().zip(&self.buildings);
        let buildings = buildings.filter(move |(b, _)| with_buildings && within.is_none_or(|w| w.contains(b.position)));
        let buildings = buildings.map(|(building, view)| Feature {
            kind: "Feature",
            id: format!("building:{}", building.key()),
            geometry: match &building.footprint {
                Footprint::Point(p) => Geometry::Point { coordinates: p },
                Footprint::Polygon(p) => Geometry::Polygon { coordinates: p },
            },
            properties: Properties::Building(view),
        });
        Collection {
            kind: "FeatureCollection",
            name: grid.name.as_deref(),
            time_zone: grid.time_zone.as_deref(),
            at: self.at,
            stale_after_s: self.stale_after_s,
            legend: Legends::of(grid),
            features: cells.chain(buildings).collect(),
        }
    }

    /// The retained message of `lintel/v1/density/cell/<cell>`.
    pub fn cell_message(&self, cell: &CellView) -> Value {
        let mut message = serde_json::to_value(cell).unwrap_or(Value::Null);
        message["schema"] = "lintel.density_cell/1".into();
        message["at"] = json!(self.at);
        message
    }
}

/// Which features a GeoJSON answer holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Only {
    All,
    Cells,
    /// The buildings, or those whose point lies within the bounds.
    Buildings(Option<Bounds>),
}

/// A box of longitudes and latitudes (west, south, east, north), edges included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl Bounds {
    /// `west,south,east,north` in degrees, as `bbox` parameters are written.
    pub fn parse(text: &str) -> Result<Self, String> {
        let numbers: Vec<f64> =
            text.split(',').map(|n| n.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| {
                format!(
                    "bbox {:?} is not four numbers west,south,east,north",
                    text.chars().take(60).collect::<String>()
                )
            })?;
        let [west, south, east, north] = numbers[..] else {
            return Err(format!("bbox has {} numbers, not four (west,south,east,north)", numbers.len()));
        };
        let lon = -180.0..=180.0;
        let lat = -90.0..=90.0;
        if !(lon.contains(&west) && lon.contains(&east) && lat.contains(&south) && lat.contains(&north)) {
            return Err("bbox is outside -180..180 and -90..90 degrees".into());
        }
        if west > east || south > north {
            return Err("bbox's west is east of its east, or its south north of its north".into());
        }
        Ok(Self { west, south, east, north })
    }

    pub fn contains(&self, [lon, lat]: LonLat) -> bool {
        (self.west..=self.east).contains(&lon) && (self.south..=self.north).contains(&lat)
    }
}

#[derive(Serialize)]
struct Collection<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: Option<&'a str>,
    /// The grid's time zone for people's eyes (null: none given, read UTC); `at` stays UTC.
    time_zone: Option<&'a str>,
    at: UtcTime,
    stale_after_s: i64,
    /// The grid's fixed classes, both views ([`super::legend`]).
    legend: Legends,
    features: Vec<Feature<'a>>,
}

#[derive(Serialize)]
struct Feature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    geometry: Geometry<'a>,
    properties: Properties<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Geometry<'a> {
    Point { coordinates: &'a LonLat },
    Polygon { coordinates: &'a Polygon },
    MultiPolygon { coordinates: &'a [Polygon] },
}

#[derive(Serialize)]
#[serde(untagged)]
enum Properties<'a> {
    Cell(&'a CellView),
    Building(&'a BuildingView),
}

/// The MQTT topic of a cell's retained summary.
pub fn cell_topic(cell: &str) -> String {
    format!("{}/density/cell/{cell}", lintel_wire::TOPIC_ROOT)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::store::LastInterval;
    use std::path::Path;

    fn grid() -> Grid {
        Grid::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lishui-grid.geojson")).unwrap()
    }

    fn state(key: &str, at_s: i64, occupancy: u64) -> Latest {
        Latest {
            building: key.into(),
            node: "n".into(),
            seq: 1,
            at_s,
            occupancy,
            interval: Some(LastInterval { start_s: at_s - 60, end_s: at_s, entries: 3, exits: 1 }),
        }
    }

    #[test]
    fn a_silent_building_is_stale_with_its_last_data_and_not_counted_as_zero() {
        let grid = grid();
        let hall = grid.building("pets", "hall").unwrap().clone();
        let now = 1_800_000_000;
        let states = vec![state("pets/hall", now - 30, 40), state("lishui-c/market", now - 3600, 25)];
        let snap = Snapshot::build(&grid, &states, UtcTime::from_unix_seconds(now), 300);
        let view = snap.buildings.iter().find(|b| b.building == "hall").unwrap();
        assert!(!view.stale);
        assert_eq!(view.occupancy, Some(40));
        assert_eq!(view.density_per_100m2, Some(3.33)); // 40 people on 1200 m²
        let market = snap.buildings.iter().find(|b| b.building == "market").unwrap();
        assert!(market.stale);
        assert_eq!(market.occupancy, Some(25));
        assert_eq!(market.last_data, Some(UtcTime::from_unix_seconds(now - 3600)));
        let cell = snap.cells.iter().find(|c| c.id == hall.cell).unwrap();
        assert_eq!(cell.buildings, 4);
        assert_eq!(cell.buildings_fresh, 1);
        assert_eq!((cell.occupancy, cell.occupancy_stale), (40, 25));
        let never = snap.buildings.iter().find(|b| b.building == "office").unwrap();
        assert_eq!((never.occupancy, never.stale, never.last_data), (None, true, None));
        let geojson = snap.to_geojson(&grid);
        assert_eq!(geojson["features"].as_array().unwrap().len(), 15);
    }

    #[test]
    fn the_fixture_cells_are_about_three_hundred_metres_square() {
        let grid = grid();
        let area = area_m2(&grid.cells[0].polygons[0]);
        assert!((area - 293.3 * 333.6).abs() < 500.0, "{area}");
    }
}
