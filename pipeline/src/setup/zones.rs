//! A camera's zones as the page edits them, turned into the site file's zones and saved: the
//! site file is validated as a whole (its errors name the line and field), written atomically
//! with the previous file kept, and the running node counts on the new zones from its next frame.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use lintel_calibration::geometry::{CountingLine, Point, Polygon, Side};
use lintel_calibration::site::{CameraGeometry, Site, SiteError, Zone, ZoneShape, ZoneSpace};
use lintel_calibration::site_edit::{self, EditError};
use serde::{Deserialize, Serialize};

use super::{Place, Refusal, SetupError};
use crate::live::{Said, ZoneReloads};

/// The most zones one camera may be given, and the most points of a polygon.
pub const MAX_ZONES: usize = 64;
pub const MAX_POINTS: usize = 64;

/// A zone as the page shows and edits it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ZoneView {
    name: String,
    /// `line` or `polygon`.
    kind: String,
    /// Normalised points (0..1): a line's A and B, or a polygon's vertices.
    points: Vec<[f32; 2]>,
    /// A line's entry side of A→B (`left` or `right`).
    #[serde(default)]
    entry_side: Option<String>,
    /// Hysteresis, as a fraction of the picture's height (metres for a zone on the floor).
    min_distance: f32,
    aggregate: bool,
    /// `floor`: the points are metres on the camera's floor; otherwise normalised picture points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    space: Option<String>,
    /// The entrance the zone counts for when it is not its camera's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entrance: Option<String>,
}

impl From<&Zone> for ZoneView {
    fn from(zone: &Zone) -> Self {
        let (kind, points, entry_side) = match &zone.shape {
            ZoneShape::Line(line) => {
                let side = match line.entry_side {
                    Side::Left => "left",
                    Side::Right => "right",
                };
                ("line", vec![[line.a.x, line.a.y], [line.b.x, line.b.y]], Some(side.to_string()))
            }
            ZoneShape::Polygon(polygon) => ("polygon", polygon.points.iter().map(|p| [p.x, p.y]).collect(), None),
        };
        ZoneView {
            name: zone.name.clone(),
            kind: kind.into(),
            points,
            entry_side,
            min_distance: zone.min_distance,
            aggregate: zone.aggregate,
            space: (zone.space == ZoneSpace::Floor).then(|| "floor".to_string()),
            entrance: zone.entrance.clone(),
        }
    }
}

impl ZoneView {
    /// This zone as a site-file zone of `camera`. Only what the page's terms can get wrong is
    /// checked here (kind, number of points, side, space); what the site file checks (names,
    /// points inside the picture) is left to its validation.
    pub fn to_zone(&self, camera: &str) -> Result<Zone, SetupError> {
        let name = self.name.trim();
        // What the page sent, as it may be shown: no control characters, cut short.
        let shown = |value: &str| value.chars().filter(|c| !c.is_control()).take(64).collect::<String>();
        let zone = || shown(name);
        let point = |[x, y]: [f32; 2]| Point::new(x, y);
        if self.points.len() > MAX_POINTS {
            return Err(Refusal::TooManyPoints { zone: zone(), max: MAX_POINTS }.into());
        }
        let shape = match self.kind.as_str() {
            "line" => {
                let [a, b] = self.points[..] else { return Err(Refusal::LineTwoPoints { zone: zone() }.into()) };
                let side = match self.entry_side.as_deref() {
                    Some("left") => Side::Left,
                    Some("right") | None => Side::Right,
                    Some(other) => return Err(Refusal::EntrySide { zone: zone(), side: shown(other) }.into()),
                };
                ZoneShape::Line(CountingLine::new(point(a), point(b), side))
            }
            "polygon" => ZoneShape::Polygon(Polygon::new(self.points.iter().copied().map(point).collect())),
            other => return Err(Refusal::Kind { zone: zone(), kind: shown(other) }.into()),
        };
        let space = match self.space.as_deref() {
            None | Some("picture") => ZoneSpace::Picture,
            Some("floor") => ZoneSpace::Floor,
            Some(other) => return Err(Refusal::Space { zone: zone(), space: shown(other) }.into()),
        };
        Ok(Zone {
            camera: camera.to_string(),
            name: name.to_string(),
            shape,
            min_distance: self.min_distance,
            aggregate: self.aggregate,
            space,
            entrance: self.entrance.clone().filter(|e| !e.is_empty()),
        })
    }
}

/// The page's zones as site-file zones of `camera`: refused as a whole if there are too many, or
/// at the first that cannot be one.
pub fn zones_of(camera: &str, zones: &[ZoneView]) -> Result<Vec<Zone>, SetupError> {
    if zones.len() > MAX_ZONES {
        return Err(Refusal::TooManyZones { max: MAX_ZONES }.into());
    }
    zones.iter().map(|z| z.to_zone(camera)).collect()
}

/// Where the site-file error at `field` (its dotted field in the new file) belongs: one of camera
/// `camera`'s zones, or its lens or floor. The new file's zones are `old`'s with this camera's
/// `ours` new ones where its first zone was (at the end if it had none).
pub fn place_of_error(field: &str, old: &Site, camera: &str, ours: usize) -> Option<Place> {
    let index = |prefix: &str| -> Option<usize> { field.strip_prefix(prefix)?.split(']').next()?.parse().ok() };
    if let Some(k) = index("camera[") {
        let part = match field.split('.').nth(1)? {
            "lens" => Place::Lens,
            "floor" => Place::Floor,
            _ => return None,
        };
        return (old.cameras.get(k)?.id == camera).then_some(part);
    }
    let n = index("zone[")?;
    // The new file's zones, in order: `None` for another camera's, `Some(i)` for our i-th.
    let mut order: Vec<Option<usize>> = Vec::new();
    let mut placed = false;
    for zone in &old.zones {
        if zone.camera == camera {
            if !placed {
                placed = true;
                order.extend((0..ours).map(Some));
            }
        } else {
            order.push(None);
        }
    }
    if !placed {
        order.extend((0..ours).map(Some));
    }
    order.get(n).copied().flatten().map(Place::Zone)
}

/// A camera's set-up as saved: its zones as the page shows them, and its lens and floor.
#[derive(Debug)]
pub struct SavedCamera {
    pub zones: Vec<ZoneView>,
    pub geometry: CameraGeometry,
}

/// The site file a technician edits: the site as last saved, where it is, and the running node
/// that counts on each save. Saves are one at a time.
#[derive(Debug)]
pub struct SiteFile {
    /// The site as last saved; the lock also makes saves one at a time.
    site: Mutex<Site>,
    path: PathBuf,
    reloads: ZoneReloads,
}

impl SiteFile {
    /// `site`, as read from `path`; saved zones go to the running node through `reloads`.
    pub fn new(site: Site, path: PathBuf, reloads: ZoneReloads) -> Self {
        Self { site: Mutex::new(site), path, reloads }
    }

    fn locked(&self) -> MutexGuard<'_, Site> {
        self.site.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What `look` reads in the site as last saved.
    pub fn read<T>(&self, look: impl FnOnce(&Site) -> T) -> T {
        look(&self.locked())
    }

    /// Where the site file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Camera `camera`'s place in the site file's cameras.
    pub fn camera_index(&self, camera: &str) -> Result<usize, SetupError> {
        self.locked().cameras.iter().position(|c| c.id == camera).ok_or_else(|| SetupError::NoCamera(camera.into()))
    }

    /// Zone `zone`'s place among camera `camera`'s zones.
    pub fn zone_index(&self, camera: &str, zone: &str) -> Result<usize, SetupError> {
        self.locked().zones_for(camera).position(|z| z.name == zone).ok_or_else(|| {
            let zone = zone.chars().filter(|c| !c.is_control()).take(64).collect();
            Refusal::NoZone { camera: camera.to_string(), zone }.into()
        })
    }

    /// Replaces camera `camera`'s zones by `zones` (and, with `geometry`, its lens and floor: a
    /// `None` in it removes that part) in the site file, and has the node count on them from its
    /// next frame. Nothing is written when anything is refused.
    pub fn save(
        &self,
        camera: &str,
        zones: &[ZoneView],
        geometry: Option<CameraGeometry>,
    ) -> Result<SavedCamera, SetupError> {
        let mut site = self.locked();
        let index =
            site.cameras.iter().position(|c| c.id == camera).ok_or_else(|| SetupError::NoCamera(camera.into()))?;
        let zones = zones_of(camera, zones)?;
        // Reading or writing the file failing is the node's: the page says so, the log says why.
        let not_saved =
            |reason: String| SetupError::NotSaved { reason, said: Said::new("setup.not_saved", &[]), at: None };
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| not_saved(format!("{}: cannot read the site file: {e}", self.path.display())))?;
        let (text, new_site) =
            site_edit::replace_zones(&text, &self.path, camera, &zones, geometry.as_ref()).map_err(|e| match &e {
                EditError::Invalid(SiteError::Invalid { line, field, problem, .. }) => SetupError::NotSaved {
                    reason: e.to_string(),
                    said: SetupError::site_problem(*line, field, problem),
                    at: place_of_error(field, &site, camera, zones.len()),
                },
                _ => not_saved(e.to_string()),
            })?;
        site_edit::write_atomically(&self.path, &text).map_err(|e| not_saved(e.to_string()))?;
        let saved_geometry = new_site.camera(camera).map(|c| c.geometry()).unwrap_or_default();
        self.reloads.push(index, new_site.zones_for(camera).cloned().collect(), saved_geometry);
        tracing::info!(
            camera,
            zones = zones.len(),
            lens = saved_geometry.lens.is_some(),
            floor = saved_geometry.floor.is_some(),
            "a technician saved the camera's set-up to {}; counting on it now",
            self.path.display()
        );
        let views = new_site.zones_for(camera).map(ZoneView::from).collect();
        *site = new_site;
        Ok(SavedCamera { zones: views, geometry: saved_geometry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"[site]
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

[[zone]]
camera = "cam-2"
name = "porch"
kind = "polygon"
points = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]

[[zone]]
camera = "cam-1"
name = "old"
kind = "line"
points = [[0.0, 0.5], [1.0, 0.5]]
entry_side = "right"
"#;

    fn line(name: &str, y: f32) -> ZoneView {
        ZoneView {
            name: name.into(),
            kind: "line".into(),
            points: vec![[0.1, y], [0.9, y]],
            entry_side: Some("left".into()),
            min_distance: 0.02,
            aggregate: true,
            space: None,
            entrance: Some(String::new()),
        }
    }

    fn site_file() -> (tempfile::TempDir, SiteFile, ZoneReloads) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.toml");
        std::fs::write(&path, SITE).unwrap();
        let site = Site::parse(SITE, &path).unwrap();
        let reloads = ZoneReloads::default();
        (dir, SiteFile::new(site, path, reloads.clone()), reloads)
    }

    fn refusal(result: Result<impl std::fmt::Debug, SetupError>) -> String {
        match result {
            Err(SetupError::Refused(why)) => why.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_line_from_the_page_becomes_a_site_zone_and_comes_back_the_same() {
        let zone = line("  door line ", 0.6).to_zone("cam-1").unwrap();
        assert_eq!(zone.name, "door line", "the name is trimmed");
        assert_eq!(zone.camera, "cam-1");
        assert_eq!(zone.entrance, None, "an empty entrance is the camera's own");
        let ZoneShape::Line(counting) = &zone.shape else { panic!("not a line: {:?}", zone.shape) };
        assert_eq!(counting.entry_side, Side::Left);
        let back = ZoneView::from(&zone);
        assert_eq!(back.points, vec![[0.1, 0.6], [0.9, 0.6]]);
        assert_eq!((back.kind.as_str(), back.entry_side.as_deref()), ("line", Some("left")));
    }

    #[test]
    fn a_zone_the_page_cannot_mean_is_refused_with_its_name() {
        let mut three_points = line("a", 0.5);
        three_points.points.push([0.5, 0.9]);
        assert_eq!(refusal(three_points.to_zone("cam-1")), r#"zone "a": a line has two points"#);
        let circle = ZoneView { kind: "circle".into(), ..line("b", 0.5) };
        assert_eq!(refusal(circle.to_zone("cam-1")), r#"zone "b": kind "circle" is not line or polygon"#);
        let up = ZoneView { entry_side: Some("up".into()), ..line("c", 0.5) };
        assert!(refusal(up.to_zone("cam-1")).contains("entry side \"up\""));
        let ceiling = ZoneView { space: Some("ceiling".into()), ..line("d", 0.5) };
        assert!(refusal(ceiling.to_zone("cam-1")).contains("space \"ceiling\""));
        let huge = ZoneView { kind: "polygon".into(), points: vec![[0.5, 0.5]; MAX_POINTS + 1], ..line("e", 0.5) };
        assert!(refusal(huge.to_zone("cam-1")).contains("more than 64 points"));
    }

    #[test]
    fn one_bad_zone_refuses_them_all_and_too_many_are_refused_at_once() {
        let bad = ZoneView { kind: "circle".into(), ..line("bad", 0.5) };
        assert!(refusal(zones_of("cam-1", &[line("good", 0.4), bad])).contains("\"bad\""));
        let many: Vec<ZoneView> = (0..=MAX_ZONES).map(|i| line(&format!("z{i}"), 0.5)).collect();
        assert_eq!(refusal(zones_of("cam-1", &many)), "more than 64 zones on one camera");
        assert_eq!(zones_of("cam-1", &many[..MAX_ZONES]).unwrap().len(), MAX_ZONES);
    }

    #[test]
    fn a_site_file_error_is_placed_beside_the_zone_lens_or_floor_it_is_about() {
        let site = Site::parse(SITE, Path::new("site.toml")).unwrap();
        // The new file: cam-2's porch, then cam-1's three new zones where its old one was.
        assert_eq!(place_of_error("zone[0].name", &site, "cam-1", 3), None, "cam-2's zone");
        assert_eq!(place_of_error("zone[1].name", &site, "cam-1", 3), Some(Place::Zone(0)));
        assert_eq!(place_of_error("zone[3].points", &site, "cam-1", 3), Some(Place::Zone(2)));
        assert_eq!(place_of_error("zone[4].points", &site, "cam-1", 3), None);
        assert_eq!(place_of_error("camera[0].lens.focal", &site, "cam-1", 3), Some(Place::Lens));
        assert_eq!(place_of_error("camera[0].floor.points", &site, "cam-1", 3), Some(Place::Floor));
        assert_eq!(place_of_error("camera[1].lens.focal", &site, "cam-1", 3), None, "another camera's lens");
        assert_eq!(place_of_error("camera[0].url", &site, "cam-1", 3), None);
        // A camera with no zone yet: its new ones go at the end.
        let mut no_zones = site.clone();
        no_zones.zones.retain(|z| z.camera != "cam-1");
        assert_eq!(place_of_error("zone[1].name", &no_zones, "cam-1", 2), Some(Place::Zone(0)));
    }

    #[test]
    fn a_save_writes_the_file_keeps_the_previous_and_reaches_the_node() {
        let (dir, file, reloads) = site_file();
        let saved = file.save("cam-1", &[line("in", 0.3), line("out", 0.7)], None).unwrap();
        assert_eq!(saved.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(), ["in", "out"]);
        let written = std::fs::read_to_string(dir.path().join("site.toml")).unwrap();
        assert!(written.contains("name = \"out\"") && !written.contains("name = \"old\""), "{written}");
        assert!(written.contains("name = \"porch\""), "another camera's zone was lost: {written}");
        assert_eq!(std::fs::read_to_string(dir.path().join("site.toml.previous")).unwrap(), SITE);
        let pushed = reloads.take();
        assert_eq!(pushed.len(), 1);
        assert_eq!((pushed[0].0, pushed[0].1.len()), (0, 2), "camera 0 gets its two zones");
        assert_eq!(file.read(|site| site.zones_for("cam-1").count()), 2);
        assert_eq!(file.zone_index("cam-1", "out").unwrap(), 1);
    }

    #[test]
    fn a_save_the_site_file_refuses_writes_nothing_and_says_which_zone() {
        let (dir, file, reloads) = site_file();
        let result = file.save("cam-1", &[line("a", 0.3), line("a", 0.7)], None);
        let Err(SetupError::NotSaved { reason, at, said }) = result else {
            panic!("saved twice the same name: {result:?}")
        };
        assert!(reason.contains("site.toml:") && reason.contains("name"), "{reason}");
        assert_eq!(said.code, "site.duplicate_zone", "{said:?}");
        assert_eq!((said.params["name"].as_str(), said.params["camera"].as_str()), ("a", "cam-1"));
        assert!(said.params["field"].ends_with(".name") && said.params.contains_key("line"), "{said:?}");
        assert_eq!(at, Some(Place::Zone(1)));
        assert_eq!(std::fs::read_to_string(dir.path().join("site.toml")).unwrap(), SITE);
        assert!(reloads.take().is_empty(), "a refused save reached the node");
        assert_eq!(file.read(|site| site.zones_for("cam-1").next().unwrap().name.clone()), "old");
    }

    #[test]
    fn an_unknown_camera_or_zone_is_named() {
        let (_dir, file, _) = site_file();
        assert!(matches!(file.camera_index("cam-9"), Err(SetupError::NoCamera(id)) if id == "cam-9"));
        assert!(matches!(file.save("cam-9", &[], None), Err(SetupError::NoCamera(_))));
        assert_eq!(file.camera_index("cam-2").unwrap(), 1);
        assert_eq!(refusal(file.zone_index("cam-1", "porch")), r#"camera cam-1 has no zone "porch""#);
    }
}
