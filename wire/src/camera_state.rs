//! A camera's state as the wire and the pages name it.

/// The four states a camera can be in, without details: the one vocabulary of status messages
/// (`CameraStatus::state`), metrics labels and pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraStateKind {
    /// Opening the stream.
    #[default]
    Starting,
    /// Frames arrive.
    Live,
    /// Failed, waiting to try again (backoff).
    Retrying,
    /// Given up, or not configured correctly; needs a person.
    Failed,
}

impl CameraStateKind {
    /// Every state, for tests and documentation.
    pub const ALL: [CameraStateKind; 4] =
        [CameraStateKind::Starting, CameraStateKind::Live, CameraStateKind::Retrying, CameraStateKind::Failed];

    /// As written in messages and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            CameraStateKind::Starting => "starting",
            CameraStateKind::Live => "live",
            CameraStateKind::Retrying => "retrying",
            CameraStateKind::Failed => "failed",
        }
    }
}
