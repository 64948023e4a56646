//! The site file as written: every value that is validated keeps its span, so that an error can
//! name its line. These types mirror the TOML one to one and check only its shape (types, unknown
//! keys); what the values mean is checked in `validate.rs`.

use serde::Deserialize;
use toml::Spanned;

use crate::geometry::Side;

/// The whole file: `[site]` and the arrays of tables, each in file order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) site: RawSite,
    #[serde(default)]
    pub(super) building: Vec<RawBuilding>,
    #[serde(default)]
    pub(super) entrance: Vec<RawEntrance>,
    #[serde(default)]
    pub(super) camera: Vec<RawCamera>,
    #[serde(default)]
    pub(super) zone: Vec<RawZone>,
}

/// `[site]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSite {
    pub(super) id: Spanned<String>,
    pub(super) name: Option<String>,
    pub(super) node: Option<Spanned<String>>,
    pub(super) time_zone: Option<Spanned<String>>,
}

/// One `[[building]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBuilding {
    pub(super) id: Spanned<String>,
    pub(super) name: Option<String>,
    pub(super) capacity: Option<Spanned<i64>>,
    pub(super) initial_occupancy: Option<Spanned<i64>>,
    pub(super) cell: Option<Spanned<String>>,
    pub(super) location: Option<Spanned<[f64; 2]>>,
}

/// One `[[entrance]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntrance {
    pub(super) id: Spanned<String>,
    pub(super) name: Option<String>,
    pub(super) building: Spanned<String>,
}

/// One `[[camera]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCamera {
    pub(super) id: Spanned<String>,
    pub(super) entrance: Spanned<String>,
    pub(super) url: Spanned<String>,
    pub(super) analysis_fps: Option<Spanned<f64>>,
    pub(super) motion_gate: Option<bool>,
    pub(super) motion_max_skip_s: Option<Spanned<f64>>,
    pub(super) low_light: Option<Spanned<String>>,
    pub(super) detector_region: Option<bool>,
    pub(super) tamper_defocus_ratio: Option<Spanned<f64>>,
    pub(super) tamper_defocus_grace_s: Option<Spanned<f64>>,
    pub(super) tamper_moved_below: Option<Spanned<f64>>,
    pub(super) tamper_moved_grace_s: Option<Spanned<f64>>,
    pub(super) username_env: Option<Spanned<String>>,
    pub(super) password_env: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
    pub(super) auth: Option<Spanned<String>>,
    pub(super) lens: Option<Spanned<RawLens>>,
    pub(super) floor: Option<Spanned<RawFloor>>,
}

/// A camera's `lens = { … }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLens {
    pub(super) size: [u32; 2],
    pub(super) focal: [f64; 2],
    pub(super) centre: [f64; 2],
    pub(super) distortion: Vec<f64>,
}

/// A camera's `floor = { … }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFloor {
    pub(super) points: [[f64; 2]; 4],
    pub(super) metres: [[f64; 2]; 4],
    pub(super) height_range_m: Option<[f64; 2]>,
    pub(super) height_filter: Option<bool>,
}

/// One `[[zone]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawZone {
    pub(super) camera: Spanned<String>,
    pub(super) name: Spanned<String>,
    pub(super) kind: Spanned<RawKind>,
    pub(super) points: Spanned<Vec<Spanned<[f64; 2]>>>,
    pub(super) entry_side: Option<Spanned<RawSide>>,
    pub(super) min_distance: Option<Spanned<f64>>,
    pub(super) aggregate: Option<bool>,
    pub(super) space: Option<Spanned<String>>,
    pub(super) entrance: Option<Spanned<String>>,
}

/// A zone's `kind`.
#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawKind {
    Line,
    Polygon,
}

/// A line's `entry_side`.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawSide {
    Left,
    Right,
}

impl From<RawSide> for Side {
    fn from(side: RawSide) -> Self {
        match side {
            RawSide::Left => Side::Left,
            RawSide::Right => Side::Right,
        }
    }
}
