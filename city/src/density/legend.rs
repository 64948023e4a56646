//! The colour classes of a density map: one [`Legend`] for the map page (through the GeoJSON)
//! and the rendered pictures, so both colour a cell alike.

use serde::Serialize;

/// Colours of the occupancy classes, lowest first (ColorBrewer YlOrRd, 5 classes).
pub const CLASS_COLOURS: [&str; 5] = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
/// A cell with no fresh building.
pub const NO_DATA_COLOUR: &str = "#d4d4d4";

/// The classes of a map: class `i` is `[lower[i], lower[i+1])`, the last open-ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Legend {
    pub lower: Vec<u64>,
    pub colours: Vec<&'static str>,
    pub no_data: &'static str,
}

/// Five classes of equal, round width covering 0..=`max` (at least 0..10).
pub fn legend(max: u64) -> Legend {
    let raw = max.max(10).div_ceil(5);
    let magnitude = 10u64.pow(raw.ilog10());
    let step = [1, 2, 5, 10].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
    Legend { lower: (0..5).map(|i| i * step).collect(), colours: CLASS_COLOURS.to_vec(), no_data: NO_DATA_COLOUR }
}

impl Legend {
    pub fn colour(&self, occupancy: u64) -> &'static str {
        let class = self.lower.iter().rposition(|&l| occupancy >= l).unwrap_or(0);
        self.colours[class]
    }

    /// The class's range as the legend writes it (`0-49`, `200+`).
    pub fn label(&self, class: usize) -> String {
        match self.lower.get(class + 1) {
            Some(next) => format!("{}-{}", self.lower[class], next - 1),
            None => format!("{}+", self.lower[class]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_classes_are_round_and_cover_the_fullest_cell() {
        assert_eq!(legend(0).lower, vec![0, 2, 4, 6, 8]);
        assert_eq!(legend(93).lower, vec![0, 20, 40, 60, 80]);
        assert_eq!(legend(1234).lower, vec![0, 500, 1000, 1500, 2000]);
        let l = legend(93);
        assert_eq!(l.colour(0), CLASS_COLOURS[0]);
        assert_eq!(l.colour(39), CLASS_COLOURS[1]);
        assert_eq!(l.colour(500), CLASS_COLOURS[4]);
        assert_eq!(l.label(4), "80+");
    }
}
