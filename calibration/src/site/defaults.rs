//! What a key the site file leaves out stands for. The validation fills these in, so a validated
//! [`Site`](super::Site) holds a value wherever the file left one out.

use crate::geometry::Side;

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

/// The side of a counting line that a track crosses into to enter, when the file gives no
/// `entry_side` (the right of a line drawn left to right is below it).
pub(super) const DEFAULT_ENTRY_SIDE: Side = Side::Right;

/// A building's occupancy when counting starts, when the file gives no `initial_occupancy`.
pub(super) const DEFAULT_INITIAL_OCCUPANCY: u32 = 0;

/// Whether a zone's counts add up into its entrance and building when the file gives no
/// `aggregate`.
pub(super) const DEFAULT_AGGREGATE: bool = true;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::fixtures::MINIMAL;
    use crate::site::{Credentials, Site, ZoneShape};

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
        assert!(site.zones[0].aggregate);
    }
}
