//! Saving a camera's set-up into its site file: the zones of that camera (and, when given, its lens
//! and floor) are replaced, and the rest
//! of the file (other cameras, comments, order) stays as written. The new text is validated like
//! any site file before anything is written, and the file is replaced atomically, the previous
//! version kept beside it (`<file>.previous`).

use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value, value};

use crate::geometry::Side;
use crate::lens::Lens;
use crate::site::{CameraGeometry, FloorSettings, Site, SiteError, Zone, ZoneShape, ZoneSpace};

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The new zones make an invalid site file (the message names the file, line and field).
    #[error(transparent)]
    Invalid(#[from] SiteError),
    /// The file's `zone` entry is not an array of tables, or the file is not TOML.
    #[error("{}: {message}", path.display())]
    Shape { path: PathBuf, message: String },
    /// The new zones would change more than the camera's zones.
    #[error("{}: camera {camera:?} is not in the site file", path.display())]
    NoCamera { path: PathBuf, camera: String },
    #[error("{}: cannot write the site file: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
}

/// `text` (the site file at `path`) with camera `camera`'s zones replaced by `zones`, and the
/// site it describes, validated. The zones take the place of the camera's first zone (or go at
/// the end of the file if it had none).
/// With `geometry`, the camera's `lens` and `floor` are replaced too.
pub fn replace_zones(
    text: &str,
    path: &Path,
    camera: &str,
    zones: &[Zone],
    geometry: Option<&CameraGeometry>,
) -> Result<(String, Site), EditError> {
    let shape = |message: String| EditError::Shape { path: path.to_path_buf(), message };
    let old = Site::parse(text, path)?;
    if old.camera(camera).is_none() {
        return Err(EditError::NoCamera { path: path.to_path_buf(), camera: camera.to_string() });
    }
    let mut document: DocumentMut = text.parse().map_err(|e| shape(format!("not TOML: {e}")))?;
    if let Some(geometry) = geometry {
        let cameras = document
            .get_mut("camera")
            .and_then(Item::as_array_of_tables_mut)
            .ok_or_else(|| shape("camera: expected [[camera]] tables".into()))?;
        let table = cameras
            .iter_mut()
            .find(|t| t.get("id").and_then(Item::as_str) == Some(camera))
            .ok_or_else(|| EditError::NoCamera { path: path.to_path_buf(), camera: camera.to_string() })?;
        match &geometry.lens {
            Some(lens) => table.insert("lens", value(lens_table(lens))),
            None => table.remove("lens"),
        };
        match &geometry.floor {
            Some(floor) => table.insert("floor", value(floor_table(floor))),
            None => table.remove("floor"),
        };
    }
    let new_tables: Vec<Table> = zones.iter().map(|zone| zone_table(camera, zone)).collect();
    let old_tables: Vec<Table> = match document.get("zone") {
        None => Vec::new(),
        Some(item) => item
            .as_array_of_tables()
            .ok_or_else(|| shape("zone: expected [[zone]] tables".into()))?
            .iter()
            .cloned()
            .collect(),
    };
    let mut rebuilt = ArrayOfTables::new();
    let mut placed = false;
    for table in old_tables {
        if table.get("camera").and_then(Item::as_str) == Some(camera) {
            if !placed {
                placed = true;
                new_tables.iter().cloned().for_each(|t| rebuilt.push(t));
            }
            continue;
        }
        rebuilt.push(table);
    }
    if !placed {
        new_tables.into_iter().for_each(|t| rebuilt.push(t));
    }
    if rebuilt.is_empty() {
        document.remove("zone");
    } else {
        document.insert("zone", Item::ArrayOfTables(rebuilt));
    }
    let text = document.to_string();
    let site = Site::parse(&text, path)?;
    Ok((text, site))
}

/// Rounds to `decimals` places: what a person reads in the file, and what a second save writes again.
fn rounded(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

fn pair(a: f64, b: f64, decimals: i32) -> Array {
    let mut pair = Array::new();
    pair.push(rounded(a, decimals));
    pair.push(rounded(b, decimals));
    pair
}

fn lens_table(lens: &Lens) -> InlineTable {
    let mut table = InlineTable::new();
    let mut size = Array::new();
    size.push(i64::from(lens.size.0));
    size.push(i64::from(lens.size.1));
    table.insert("size", Value::Array(size));
    table.insert("focal", Value::Array(pair(lens.focal.0, lens.focal.1, 3)));
    table.insert("centre", Value::Array(pair(lens.centre.0, lens.centre.1, 3)));
    let mut distortion = Array::new();
    lens.distortion.iter().for_each(|&k| distortion.push(rounded(k, 6)));
    table.insert("distortion", Value::Array(distortion));
    table
}

fn floor_table(floor: &FloorSettings) -> InlineTable {
    let mut table = InlineTable::new();
    let mut points = Array::new();
    floor.points.iter().for_each(|&(x, y)| points.push(pair(x, y, 6)));
    table.insert("points", Value::Array(points));
    let mut metres = Array::new();
    floor.metres.iter().for_each(|&(x, y)| metres.push(pair(x, y, 4)));
    table.insert("metres", Value::Array(metres));
    match floor.height_range_m {
        Some((low, high)) => {
            table.insert("height_range_m", Value::Array(pair(f64::from(low), f64::from(high), 3)));
        }
        None => {
            table.insert("height_filter", Value::from(false));
        }
    }
    table
}

fn zone_table(camera: &str, zone: &Zone) -> Table {
    // Six decimals: a tenth of a pixel on a 4K picture (a tenth of a millimetre on a floor), and a
    // file a person can read.
    let round = |v: f32| rounded(f64::from(v), 6);
    let point = |x: f32, y: f32| {
        let mut pair = Array::new();
        pair.push(round(x));
        pair.push(round(y));
        pair
    };
    let mut table = Table::new();
    table.insert("camera", value(camera));
    table.insert("name", value(zone.name.as_str()));
    if let Some(entrance) = &zone.entrance {
        table.insert("entrance", value(entrance.as_str()));
    }
    if zone.space == ZoneSpace::Floor {
        table.insert("space", value("floor"));
    }
    let mut points = Array::new();
    match &zone.shape {
        ZoneShape::Line(line) => {
            table.insert("kind", value("line"));
            points.push(point(line.a.x, line.a.y));
            points.push(point(line.b.x, line.b.y));
            table.insert("points", value(points));
            let side = match line.entry_side {
                Side::Left => "left",
                Side::Right => "right",
            };
            table.insert("entry_side", value(side));
        }
        ZoneShape::Polygon(polygon) => {
            table.insert("kind", value("polygon"));
            polygon.points.iter().for_each(|p| points.push(point(p.x, p.y)));
            table.insert("points", value(points));
        }
    }
    table.insert("min_distance", value(round(zone.min_distance)));
    if !zone.aggregate {
        table.insert("aggregate", value(false));
    }
    table
}

/// Replaces the file at `path` with `text`: written beside it, flushed to disk, then renamed over
/// it, so a crash leaves the old file or the new one, never half of one. The old one is kept as
/// `<file>.previous`.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), EditError> {
    let error = |error| EditError::Write { path: path.to_path_buf(), error };
    let mut previous = path.as_os_str().to_owned();
    previous.push(".previous");
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".saving");
    let temporary = PathBuf::from(temporary);
    std::fs::copy(path, PathBuf::from(previous)).map_err(error)?;
    let mut file = std::fs::File::create(&temporary).map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(error)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable once the directory is.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{CountingLine, Point};

    const SITE: &str = r#"# The site: a comment that must survive.
[site]
id = "s1"
node = "edge-01"

[[building]]
id = "hall"

[[entrance]]
id = "door"
building = "hall"

[[camera]]
id = "cam-1"
entrance = "door"
url = "rtsp://127.0.0.1:8554/a"

[[camera]]
id = "cam-2"
entrance = "door"
url = "rtsp://127.0.0.1:8554/b"

# cam-1's line
[[zone]]
camera = "cam-1"
name = "old"
kind = "line"
points = [[0.0, 0.5], [1.0, 0.5]]
entry_side = "right"

# cam-2's polygon: stays as written.
[[zone]]
camera = "cam-2"
name = "porch"
kind = "polygon"
points = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]
"#;

    fn line(name: &str, y: f32, side: Side) -> Zone {
        Zone {
            camera: "cam-1".into(),
            name: name.into(),
            shape: ZoneShape::Line(CountingLine::new(Point::new(0.1, y), Point::new(0.9, y), side)),
            min_distance: 0.015,
            aggregate: true,
            space: ZoneSpace::Picture,
            entrance: None,
        }
    }

    #[test]
    fn a_lens_a_floor_and_a_zone_in_metres_for_another_entrance_are_saved_and_read_back() {
        let path = Path::new("site.toml");
        let site = SITE.replace(
            "[[camera]]\nid = \"cam-2\"",
            "[[entrance]]\nid = \"side\"\nbuilding = \"hall\"\n\n[[camera]]\nid = \"cam-2\"",
        );
        let lens = Lens {
            size: (768, 576),
            focal: (560.5, 561.25),
            centre: (384.0, 290.0),
            distortion: [-0.28, 0.09, 0.0, 0.0, 0.0],
        };
        let floor = FloorSettings {
            points: [(0.2, 0.9), (0.8, 0.9), (0.7, 0.4), (0.3, 0.4)],
            metres: [(0.0, 0.0), (3.0, 0.0), (3.0, 5.0), (0.0, 5.0)],
            height_range_m: Some((0.9, 2.2)),
        };
        let mut mat = line("mat", 0.5, Side::Right);
        mat.space = ZoneSpace::Floor;
        mat.shape = ZoneShape::Line(CountingLine::new(Point::new(0.0, 2.0), Point::new(3.0, 2.0), Side::Left));
        mat.min_distance = 0.3;
        mat.entrance = Some("side".into());
        let geometry = CameraGeometry { lens: Some(lens), floor: Some(floor) };
        let (text, saved) = replace_zones(&site, path, "cam-1", &[mat.clone()], Some(&geometry)).unwrap();
        let camera = saved.camera("cam-1").unwrap();
        assert_eq!(camera.lens, Some(lens));
        assert_eq!(camera.floor, Some(floor));
        assert_eq!(saved.zones_for("cam-1").next(), Some(&mat));
        assert_eq!(saved.entrance_of_zone(&mat).map(|e| e.id.as_str()), Some("side"));
        // Without the floor, a zone in metres is refused with its line and field.
        let bare = CameraGeometry { lens: Some(lens), floor: None };
        let error = replace_zones(&text, path, "cam-1", &[mat], Some(&bare)).unwrap_err().to_string();
        assert!(error.contains("zone[0].space"), "{error}");
        // Removing both leaves the camera as it was.
        let (_, plain) = replace_zones(&text, path, "cam-1", &[], Some(&CameraGeometry::default())).unwrap();
        assert_eq!((plain.cameras[0].lens, plain.cameras[0].floor), (None, None));
    }

    #[test]
    fn the_cameras_zones_are_replaced_and_the_rest_of_the_file_is_kept() {
        let path = Path::new("site.toml");
        let mut trial = line("trial", 0.7, Side::Left);
        trial.aggregate = false;
        let (text, site) =
            replace_zones(SITE, path, "cam-1", &[line("door-line", 0.6, Side::Right), trial], None).unwrap();
        assert!(text.starts_with("# The site: a comment that must survive."), "{text}");
        assert!(text.contains("# cam-2's polygon: stays as written."), "{text}");
        assert!(!text.contains("name = \"old\""));
        let names: Vec<(&str, &str)> = site.zones.iter().map(|z| (z.camera.as_str(), z.name.as_str())).collect();
        assert_eq!(names, [("cam-1", "door-line"), ("cam-1", "trial"), ("cam-2", "porch")]);
        assert_eq!(site.zones[0], line("door-line", 0.6, Side::Right));
        assert!(!site.zones[1].aggregate);
        // Saving again what was just saved changes nothing.
        let zones: Vec<Zone> = site.zones_for("cam-1").cloned().collect();
        let (again, _) = replace_zones(&text, path, "cam-1", &zones, None).unwrap();
        assert_eq!(again, text);
    }

    #[test]
    fn zones_that_make_an_invalid_site_are_refused_with_the_line_and_field() {
        let path = Path::new("site.toml");
        let twice = [line("same", 0.6, Side::Right), line("same", 0.7, Side::Right)];
        let error = replace_zones(SITE, path, "cam-1", &twice, None).unwrap_err().to_string();
        assert!(error.starts_with("site.toml:") && error.contains("name"), "{error}");
        let mut outside = line("outside", 0.6, Side::Right);
        outside.shape = ZoneShape::Line(CountingLine::new(Point::new(0.1, 0.5), Point::new(1.5, 0.5), Side::Right));
        let error = replace_zones(SITE, path, "cam-1", &[outside], None).unwrap_err().to_string();
        assert!(error.contains("points"), "{error}");
        assert!(matches!(replace_zones(SITE, path, "cam-9", &[], None), Err(EditError::NoCamera { .. })));
    }

    #[test]
    fn the_file_is_replaced_whole_and_the_previous_version_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.toml");
        std::fs::write(&path, SITE).unwrap();
        let (text, _) = replace_zones(SITE, &path, "cam-1", &[line("new", 0.4, Side::Left)], None).unwrap();
        write_atomically(&path, &text).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert_eq!(std::fs::read_to_string(dir.path().join("site.toml.previous")).unwrap(), SITE);
        assert!(!dir.path().join("site.toml.saving").exists());
    }
}
