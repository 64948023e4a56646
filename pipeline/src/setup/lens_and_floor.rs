//! A camera's lens and floor in the page's terms (plain arrays a person can read and type), and
//! their conversion to and from the site file's [`Lens`] and [`FloorSettings`].

use lintel_calibration::FloorError;
use lintel_calibration::Lens;
use lintel_calibration::site::FloorSettings;
use serde::{Deserialize, Serialize};

use crate::live::Said;

/// Every catalogue key [`floor_said`] gives (the pages' catalogues must have each).
pub const FLOOR_CODES: [&str; 4] =
    ["floor.collinear_picture", "floor.collinear_floor", "floor.no_focal_length", "floor.implausible"];

/// Why a floor is not used, as the page says it.
pub fn floor_said(error: &FloorError) -> Said {
    let code = match error {
        FloorError::Collinear("floor") => FLOOR_CODES[1],
        FloorError::Collinear(_) => FLOOR_CODES[0],
        FloorError::NoFocalLength => FLOOR_CODES[2],
        FloorError::Implausible => FLOOR_CODES[3],
    };
    Said::new(code, &[])
}

/// A lens as the page shows and edits it (pixels of a picture of `size`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct LensView {
    pub size: [u32; 2],
    pub focal: [f64; 2],
    pub centre: [f64; 2],
    /// k1, k2, p1, p2, k3.
    pub distortion: [f64; 5],
}

impl From<&Lens> for LensView {
    fn from(l: &Lens) -> Self {
        Self {
            size: [l.size.0, l.size.1],
            focal: [l.focal.0, l.focal.1],
            centre: [l.centre.0, l.centre.1],
            distortion: l.distortion,
        }
    }
}

impl From<LensView> for Lens {
    fn from(l: LensView) -> Self {
        Lens {
            size: (l.size[0], l.size[1]),
            focal: (l.focal[0], l.focal[1]),
            centre: (l.centre[0], l.centre[1]),
            distortion: l.distortion,
        }
    }
}

/// A floor as the page shows and edits it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct FloorView {
    /// Normalised points of the undistorted picture.
    pub points: [[f64; 2]; 4],
    /// Where they are on the floor, in metres.
    pub metres: [[f64; 2]; 4],
    /// The heights kept; `null`: every box kept.
    pub height_range_m: Option<[f64; 2]>,
}

impl From<&FloorSettings> for FloorView {
    fn from(f: &FloorSettings) -> Self {
        Self {
            points: f.points.map(|(x, y)| [x, y]),
            metres: f.metres.map(|(x, y)| [x, y]),
            // Centimetres, as a person enters them (the site keeps them as f32).
            height_range_m: f.height_range_m.map(|(a, b)| [a, b].map(|v| (f64::from(v) * 100.0).round() / 100.0)),
        }
    }
}

impl From<FloorView> for FloorSettings {
    fn from(f: FloorView) -> Self {
        FloorSettings {
            points: f.points.map(|[x, y]| (x, y)),
            metres: f.metres.map(|[x, y]| (x, y)),
            height_range_m: f.height_range_m.map(|[a, b]| (a as f32, b as f32)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lens_goes_to_the_page_and_back_unchanged() {
        let lens = Lens {
            size: (768, 576),
            focal: (560.0, 561.5),
            centre: (380.0, 292.0),
            distortion: [-0.28, 0.09, 0.001, -0.002, 0.01],
        };
        let view = LensView::from(&lens);
        assert_eq!(view.size, [768, 576]);
        assert_eq!(view.distortion[4], 0.01);
        assert_eq!(Lens::from(view), lens);
    }

    #[test]
    fn a_floor_shows_its_heights_in_whole_centimetres() {
        let floor = FloorSettings {
            points: [(0.1, 0.9), (0.9, 0.9), (0.8, 0.4), (0.2, 0.4)],
            metres: [(0.0, 0.0), (3.0, 0.0), (3.0, 5.0), (0.0, 5.0)],
            // f32 cannot hold 1.4 or 2.1 exactly: the page should not show 1.399999976.
            height_range_m: Some((1.4, 2.1)),
        };
        let view = FloorView::from(&floor);
        assert_eq!(view.height_range_m, Some([1.4, 2.1]));
        assert_eq!(view.points[2], [0.8, 0.4]);
        let back = FloorSettings::from(view);
        assert_eq!(back.height_range_m, Some((1.4, 2.1)));
        assert_eq!(back.metres, floor.metres);
    }

    #[test]
    fn why_a_floor_is_not_used_has_a_code_for_each_reason() {
        let codes: Vec<String> = [
            FloorError::Collinear("picture"),
            FloorError::Collinear("floor"),
            FloorError::NoFocalLength,
            FloorError::Implausible,
        ]
        .iter()
        .map(|e| floor_said(e).code)
        .collect();
        assert_eq!(codes, FLOOR_CODES);
    }
}
