//! The colour classes of a density map, fixed per grid: the same breaks on the map page (through
//! the GeoJSON), in every picture and at every moment, so two maps can be compared.
//!
//! Two views: **density** (people per hectare of the cell, its area from its geometry) and
//! **count** (people in the cell). The breaks come from the grid file (`properties.density_breaks`,
//! `properties.count_breaks`: five ascending numbers from 0) or, without them, are derived once
//! from the grid itself: five round classes up to the fullest cell at capacity (the sum of its
//! buildings' capacities), or fixed defaults where no building has a capacity. Never from the
//! data of a moment: a legend that rescales makes two exports incomparable.

use serde::Serialize;

use super::grid::Grid;
use super::grid::{CLASSES, area_m2};

/// Colours of the classes, lowest first (ColorBrewer YlOrRd, 5 classes).
pub const CLASS_COLOURS: [&str; CLASSES] = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
/// A cell with no fresh building.
pub const NO_DATA_COLOUR: &str = "#d4d4d4";
/// Breaks where the grid gives none and no building has a capacity: people per hectare.
pub const DEFAULT_DENSITY_BREAKS: [f64; 5] = [0.0, 10.0, 25.0, 50.0, 100.0];
/// … and people per cell.
pub const DEFAULT_COUNT_BREAKS: [f64; 5] = [0.0, 20.0, 50.0, 100.0, 200.0];

/// The classes of one view: class `i` is `[lower[i], lower[i+1])`, the last open-ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Legend {
    pub lower: Vec<f64>,
    pub colours: Vec<&'static str>,
    pub no_data: &'static str,
    /// Where the breaks come from: `grid` (the file), `capacity` (derived) or `default`.
    pub source: &'static str,
}

/// Both views' classes of a grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Legends {
    /// People per hectare.
    pub density: Legend,
    /// People per cell.
    pub count: Legend,
}

impl Legends {
    /// The grid's classes: its file's breaks, else derived from capacities and areas. A pure
    /// function of the grid, so every page and picture of it gets the same.
    pub fn of(grid: &Grid) -> Self {
        // One pass over the buildings (a city has thousands).
        let mut capacities: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for b in &grid.buildings {
            if let Some(capacity) = b.capacity {
                *capacities.entry(b.cell.as_str()).or_default() += capacity;
            }
        }
        let capacity_of = |cell: &str| capacities.get(cell).copied();
        let full: Vec<(f64, f64)> = grid
            .cells
            .iter()
            .filter_map(|c| {
                let hectares = c.polygons.iter().map(area_m2).sum::<f64>() / 10_000.0;
                capacity_of(&c.id).map(|cap| (cap as f64, cap as f64 / hectares.max(1e-6)))
            })
            .collect();
        let derive = |given: &Option<Vec<f64>>, top: Option<f64>, default: [f64; 5]| match (given, top) {
            (Some(breaks), _) => Legend::new(breaks.clone(), "grid"),
            (None, Some(top)) if top > 0.0 => Legend::new(round_classes(top), "capacity"),
            _ => Legend::new(default.to_vec(), "default"),
        };
        let max = |values: Vec<f64>| values.into_iter().reduce(f64::max);
        Self {
            density: derive(&grid.density_breaks, max(full.iter().map(|f| f.1).collect()), DEFAULT_DENSITY_BREAKS),
            count: derive(&grid.count_breaks, max(full.iter().map(|f| f.0).collect()), DEFAULT_COUNT_BREAKS),
        }
    }
}

/// Five classes of equal, round width (1, 2 or 5 × 10ⁿ), the widest whose last class starts at
/// or below `top`: a cell at capacity is in the top class.
pub fn round_classes(top: f64) -> Vec<f64> {
    let raw = (top / 4.0).max(1e-3);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [5.0, 2.0, 1.0].iter().map(|m| m * magnitude).find(|s| *s <= raw * 1.001).unwrap_or(magnitude);
    (0..5).map(|i| clean(i as f64 * step)).collect()
}

/// Rounds away binary noise (0.30000000000000004 → 0.3).
fn clean(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Legend {
    fn new(lower: Vec<f64>, source: &'static str) -> Self {
        Self { lower, colours: CLASS_COLOURS.to_vec(), no_data: NO_DATA_COLOUR, source }
    }

    pub fn colour(&self, value: f64) -> &'static str {
        let class = self.lower.iter().rposition(|&l| value >= l).unwrap_or(0);
        self.colours[class]
    }

    /// The class's range as the legend writes it (`0–10`, `100+`): lower bounds, so the next class
    /// starts where this one's label ends.
    pub fn label(&self, class: usize) -> String {
        let n = |x: f64| format!("{}", clean(x));
        match self.lower.get(class + 1) {
            Some(next) => format!("{}–{}", n(self.lower[class]), n(*next)),
            None => format!("{}+", n(self.lower[class])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn classes_are_round_and_their_last_starts_under_the_top() {
        assert_eq!(round_classes(93.0), vec![0.0, 20.0, 40.0, 60.0, 80.0]);
        assert_eq!(round_classes(120.0), vec![0.0, 20.0, 40.0, 60.0, 80.0]);
        assert_eq!(round_classes(1234.0), vec![0.0, 200.0, 400.0, 600.0, 800.0]);
        assert_eq!(round_classes(4.0), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(round_classes(1.2), vec![0.0, 0.2, 0.4, 0.6, 0.8]);
        let l = Legend::new(round_classes(93.0), "capacity");
        assert_eq!(l.colour(0.0), CLASS_COLOURS[0]);
        assert_eq!(l.colour(39.9), CLASS_COLOURS[1]);
        assert_eq!(l.colour(500.0), CLASS_COLOURS[4]);
        assert_eq!(l.label(0), "0–20");
        assert_eq!(l.label(4), "80+");
    }

    #[test]
    fn a_grids_classes_come_from_its_file_or_its_capacities_never_from_a_moment() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lishui-grid.geojson");
        let grid = Grid::load(&path).unwrap();
        let legends = Legends::of(&grid);
        assert_eq!(legends.density.source, "capacity");
        assert_eq!(legends.count.source, "capacity");
        assert_eq!(legends, Legends::of(&grid.clone()), "a pure function of the grid");
        let mut given = grid.clone();
        given.density_breaks = Some(vec![0.0, 1.0, 2.0, 5.0, 10.0]);
        assert_eq!(Legends::of(&given).density.lower, vec![0.0, 1.0, 2.0, 5.0, 10.0]);
        assert_eq!(Legends::of(&given).density.source, "grid");
        use crate::density::grid::check_breaks;
        assert!(check_breaks(&[0.0, 1.0, 1.0, 2.0, 3.0]).is_err());
        assert!(check_breaks(&[1.0, 2.0, 3.0, 4.0, 5.0]).is_err());
        assert!(check_breaks(&[0.0, 1.0]).is_err());
        assert!(check_breaks(&[0.0, 1.0, 2.0, 3.0, 4.0]).is_ok());
    }
}
