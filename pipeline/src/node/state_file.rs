//! The state file: what the node must not forget across a restart.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::NodeError;
use crate::count::AggregatorState;

/// The aggregation's state and, per building, the id of the last occupancy command applied (so a
/// retained command is not applied again after a restart).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedState {
    #[serde(flatten)]
    pub aggregator: AggregatorState,
    #[serde(default)]
    pub occupancy_commands: BTreeMap<String, String>,
}

/// The state saved at `path`, or `None` when there is none yet.
pub fn load(path: &Path) -> Result<Option<SavedState>, NodeError> {
    let state_error = |message: String| NodeError::State { path: path.to_path_buf(), message };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).map(Some).map_err(|e| state_error(format!("not a Lintel state file: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(state_error(format!("cannot read: {e}"))),
    }
}

/// Writes `state` atomically: a temporary file, synced, renamed over the old one, and the
/// directory synced so the rename itself survives a power cut.
pub fn save(path: &Path, state: &SavedState) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_vec(state)?;
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&json)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(directory)?.sync_all()
}
