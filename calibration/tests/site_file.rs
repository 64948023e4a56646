//! `Site::load` on real files: the example site, and files that cannot be read.

use std::path::Path;

use lintel_calibration::{Crossing, Point, Site, SiteError, ZoneShape};

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

#[test]
fn the_example_site_loads_and_counts_a_walk_across_its_line() {
    let site = Site::load(data("pets.toml")).unwrap();
    assert_eq!(site.id, "pets");
    assert_eq!(site.entrance_of("walkway").unwrap().id, "walkway");
    assert_eq!(site.building_of_entrance("walkway").unwrap().capacity, Some(300));

    let zones: Vec<_> = site.zones_for("walkway").collect();
    assert_eq!(zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(), ["north", "door"]);
    // On the 768×576 clip, walking down the screen across y = 0.52 enters
    // (the right of a left-to-right line is below it).
    let ZoneShape::Line(line) = zones[0].shape_in_pixels(768.0, 576.0) else {
        panic!("north is a line");
    };
    assert_eq!(line.crossing(Point::new(300.0, 250.0), Point::new(310.0, 350.0)), Some(Crossing::Entry));
    let ZoneShape::Polygon(door) = zones[1].shape_in_pixels(768.0, 576.0) else {
        panic!("door is a polygon");
    };
    assert!(door.contains(Point::new(350.0, 250.0)));
}

#[test]
fn a_missing_file_is_named() {
    let path = data("no-such-site.toml");
    let error = Site::load(&path).unwrap_err();
    assert!(matches!(error, SiteError::Read { .. }));
    let message = error.to_string();
    assert!(message.starts_with(&format!("{}: cannot read site file: ", path.display())), "{message}");
    assert!(!message.contains('\n'));
}

#[test]
fn a_directory_is_not_a_site_file() {
    let error = Site::load(data("")).unwrap_err();
    assert!(matches!(error, SiteError::Read { .. }), "{error}");
}
