//! A camera's set-up, as a technician does it on the set-up page: the zones, lens and floor saved
//! into the site file ([`zones`]), the lens estimated from a checkerboard ([`lens_estimation`]),
//! a validation that compares a technician's tally with Lintel's ([`validation`]), and the live
//! picture served blurred or undistorted ([`picture`]).
//!
//! Plain synchronous code over plain data: no HTTP here. The web layer (`web::calibrate`) turns
//! requests into calls on these modules and their [`SetupError`]s into answers.

pub mod lens_and_floor;
pub mod lens_estimation;
pub mod picture;
pub mod validation;
pub mod zones;

use lintel_calibration::site::Problem;

use crate::live::Said;

/// Where on the page a site-file error belongs, for the page to show it beside the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// One of the camera's zones: its place in the camera's list.
    Zone(usize),
    /// The camera's lens.
    Lens,
    /// The camera's floor.
    Floor,
}

/// Why a set-up step was not done: each variant says what a technician (or the node's log) needs
/// to know to act on it.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The site file has no camera with this id.
    #[error("no camera {:?} in the site file", shown(.0))]
    NoCamera(String),
    /// What the technician sent was refused (a zone, a board, a duration, a count): the reason,
    /// to show beside the fields.
    #[error("{0}")]
    Refused(Refusal),
    /// The site file refused the new set-up, or could not be read or written: nothing was saved.
    /// `said` is the reason as the page says it; `at` is where on the page the error belongs,
    /// when it belongs to one part of the camera.
    #[error("{reason}")]
    NotSaved { reason: String, said: Said, at: Option<Place> },
    /// A lens estimation is already under way on this camera: one at a time.
    #[error("a lens estimation is already under way on this camera")]
    EstimationUnderWay,
    /// No lens estimation was started on this camera.
    #[error("no estimation on this camera")]
    NoEstimation,
    /// The live picture could not be encoded as JPEG.
    #[error("cannot encode the picture: {0}")]
    Encoding(#[from] jpeg_encoder::EncodingError),
    /// A finished validation could not be appended to the validation log.
    #[error("cannot append to the validation log {}: {error}", path.display())]
    ValidationNotKept { path: std::path::PathBuf, error: std::io::Error },
}

impl SetupError {
    /// What the page says: a catalogue key and its values (the English is the `Display`).
    pub fn said(&self) -> Said {
        match self {
            SetupError::NoCamera(camera) => Said::new("setup.no_camera", &[("camera", &shown(camera))]),
            SetupError::Refused(refusal) => refusal.said(),
            SetupError::NotSaved { said, .. } => said.clone(),
            SetupError::EstimationUnderWay => Said::new("setup.estimation_under_way", &[]),
            SetupError::NoEstimation => Said::new("setup.no_estimation", &[]),
            SetupError::Encoding(_) => Said::new("setup.encoding", &[]),
            SetupError::ValidationNotKept { .. } => Said::new("setup.validation_not_kept", &[]),
        }
    }

    /// The site file's error as the page says it: `site.{code}` with the line and field.
    pub fn site_problem(line: usize, field: &str, problem: &Problem) -> Said {
        let mut said = Said::new(format!("site.{}", problem.code), &[("line", &line), ("field", &field)]);
        said.params.extend(problem.params.iter().map(|(k, v)| (k.to_string(), v.clone())));
        said
    }
}

/// What a technician sent that the set-up refused, before the site file is asked.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("zone {zone:?}: more than {max} points")]
    TooManyPoints { zone: String, max: usize },
    #[error("zone {zone:?}: a line has two points")]
    LineTwoPoints { zone: String },
    #[error("zone {zone:?}: entry side {side:?} is not left or right")]
    EntrySide { zone: String, side: String },
    #[error("zone {zone:?}: kind {kind:?} is not line or polygon")]
    Kind { zone: String, kind: String },
    #[error("zone {zone:?}: space {space:?} is not picture or floor")]
    Space { zone: String, space: String },
    #[error("more than {max} zones on one camera")]
    TooManyZones { max: usize },
    #[error("camera {camera} has no zone {zone:?}")]
    NoZone { camera: String, zone: String },
    #[error("more than {max} passages in one validation")]
    TooManyPassages { max: u64 },
    #[error("no validation under way on camera {camera}")]
    NoValidation { camera: String },
    /// The board's inner corners or its squares' size, as the checkerboard module refused them.
    #[error("{message}")]
    Board { message: String, corners: String, square_mm: f64 },
    #[error("capture for 1 to {max} seconds, not {seconds}")]
    CaptureSeconds { max: f64, seconds: f64 },
}

impl Refusal {
    /// Every catalogue key [`Refusal::said`] gives (the pages' catalogues must have each).
    pub const CODES: [&'static str; 11] = [
        "setup.refused.too_many_points",
        "setup.refused.line_two_points",
        "setup.refused.entry_side",
        "setup.refused.kind",
        "setup.refused.space",
        "setup.refused.too_many_zones",
        "setup.refused.no_zone",
        "setup.refused.too_many_passages",
        "setup.refused.no_validation",
        "setup.refused.board",
        "setup.refused.capture_seconds",
    ];

    /// The refusal as the page says it.
    pub fn said(&self) -> Said {
        let code = Self::CODES[self.index()];
        match self {
            Refusal::TooManyPoints { zone, max } => Said::new(code, &[("zone", zone), ("max", max)]),
            Refusal::LineTwoPoints { zone } => Said::new(code, &[("zone", zone)]),
            Refusal::EntrySide { zone, side } => Said::new(code, &[("zone", zone), ("side", side)]),
            Refusal::Kind { zone, kind } => Said::new(code, &[("zone", zone), ("kind", kind)]),
            Refusal::Space { zone, space } => Said::new(code, &[("zone", zone), ("space", space)]),
            Refusal::TooManyZones { max } => Said::new(code, &[("max", max)]),
            Refusal::NoZone { camera, zone } => Said::new(code, &[("camera", camera), ("zone", zone)]),
            Refusal::TooManyPassages { max } => Said::new(code, &[("max", max)]),
            Refusal::NoValidation { camera } => Said::new(code, &[("camera", camera)]),
            Refusal::Board { corners, square_mm, .. } => {
                Said::new(code, &[("corners", corners), ("square_mm", square_mm)])
            }
            Refusal::CaptureSeconds { max, seconds } => Said::new(code, &[("max", max), ("seconds", seconds)]),
        }
    }

    fn index(&self) -> usize {
        match self {
            Refusal::TooManyPoints { .. } => 0,
            Refusal::LineTwoPoints { .. } => 1,
            Refusal::EntrySide { .. } => 2,
            Refusal::Kind { .. } => 3,
            Refusal::Space { .. } => 4,
            Refusal::TooManyZones { .. } => 5,
            Refusal::NoZone { .. } => 6,
            Refusal::TooManyPassages { .. } => 7,
            Refusal::NoValidation { .. } => 8,
            Refusal::Board { .. } => 9,
            Refusal::CaptureSeconds { .. } => 10,
        }
    }
}

impl From<Refusal> for SetupError {
    fn from(refusal: Refusal) -> Self {
        SetupError::Refused(refusal)
    }
}

/// Every catalogue key a [`SetupError`] may be said by (besides [`Refusal::CODES`] and the site
/// file's `site.{code}` of `Problem::CODES`).
pub const SETUP_CODES: [&str; 6] = [
    "setup.no_camera",
    "setup.not_saved",
    "setup.estimation_under_way",
    "setup.no_estimation",
    "setup.encoding",
    "setup.validation_not_kept",
];

/// An id from a request as it may be shown: no control characters, at most 64 characters.
fn shown(id: &str) -> String {
    id.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_camera_is_named_without_control_characters_and_cut_short() {
        let long = format!("door\n\u{7}{}", "x".repeat(100));
        let message = SetupError::NoCamera(long).to_string();
        assert!(message.starts_with("no camera \"doorxxx"), "{message}");
        assert!(!message.contains('\n') && !message.contains('\u{7}'), "{message}");
        assert_eq!(message.matches('x').count(), 60, "{message}");
        assert!(message.ends_with("\" in the site file"), "{message}");
    }
}
