//! Site files and helpers the site module's tests build their cases from.

use super::{Site, SiteError};

/// The full example of the site-file format.
pub(super) const FULL: &str = r#"[site]
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
pub(super) const MINIMAL: &str = r#"[site]
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
pub(super) fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in text"));
    text[..at].matches('\n').count() + 1
}

/// Parses `text`, expecting an error; returns (line, field, message, display).
pub(super) fn invalid(text: &str) -> (usize, String, String, String) {
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
pub(super) fn minimal_with(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "{from:?} not in MINIMAL");
    MINIMAL.replacen(from, to, 1)
}
