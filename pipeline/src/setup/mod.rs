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
    Refused(String),
    /// The site file refused the new set-up, or could not be read or written: nothing was saved.
    /// `at` is where on the page the error belongs, when it belongs to one part of the camera.
    #[error("{reason}")]
    NotSaved { reason: String, at: Option<Place> },
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
