//! Running totals of entries and exits per zone.

use lintel_calibration::geometry::Crossing;

/// Entries and exits of one zone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZoneTally {
    pub entries: u64,
    pub exits: u64,
}

/// Totals per zone of one camera, in the counter's zone order.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub zones: Vec<ZoneTally>,
}

impl Tally {
    pub fn new(zones: usize) -> Self {
        Self { zones: vec![ZoneTally::default(); zones] }
    }

    /// One crossing of zone `zone` (an index into the zones; others are ignored).
    pub fn add(&mut self, zone: usize, direction: Crossing) {
        if let Some(zone) = self.zones.get_mut(zone) {
            match direction {
                Crossing::Entry => zone.entries += 1,
                Crossing::Exit => zone.exits += 1,
            }
        }
    }
}
