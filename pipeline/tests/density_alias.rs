//! `lintel density …` keeps working for users: the density layer is the city server
//! `lintel-city` now, and the edge binary runs it with the same arguments.

use std::path::Path;
use std::process::Command;

#[test]
fn lintel_density_runs_the_city_server_with_its_arguments() {
    let lintel = Path::new(env!("CARGO_BIN_EXE_lintel"));
    let city = lintel.with_file_name("lintel-city");
    assert!(
        city.is_file(),
        "{} is missing: build it with `cargo build --release -p lintel-city` (scripts/test builds the workspace)",
        city.display()
    );
    let help = Command::new(lintel).args(["density", "--help"]).output().unwrap();
    assert!(help.status.success(), "{}", String::from_utf8_lossy(&help.stderr));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("lintel-city") && text.contains("--grid"), "{text}");
    // Its errors are the city server's, one line, and so is its exit code.
    let bad = Command::new(lintel)
        .args(["density", "render", "--grid", "/nonexistent/grid.geojson", "--out", "/tmp/x.png"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let error = String::from_utf8_lossy(&bad.stderr);
    assert!(error.starts_with("lintel-city: ") && error.contains("/nonexistent/grid.geojson"), "{error}");
    assert_eq!(error.trim_end().lines().count(), 1, "{error}");
}
