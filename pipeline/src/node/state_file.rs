//! The state file: what the node must not forget across a restart.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::path::Path;

use super::NodeError;
use crate::count::AggregatorState;
use crate::disk_format::{self, STATE_FORMAT};
use crate::publish::{AlertKind, UtcTime};

/// The aggregation's state, per building the id and `issued_at` of the last occupancy command
/// applied and the ids applied lately (so a retained command is not applied again after a
/// restart, nor a replayed or older one), and the alerts on.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedState {
    #[serde(flatten)]
    pub aggregator: AggregatorState,
    #[serde(default)]
    pub occupancy_commands: BTreeMap<String, String>,
    #[serde(default)]
    pub occupancy_issued_at: BTreeMap<String, UtcTime>,
    #[serde(default)]
    pub applied_command_ids: VecDeque<String>,
    /// The alert conditions raised and not yet ended, so a restart ends what cleared while the
    /// node was away and raises nothing twice.
    #[serde(default)]
    pub raised_alerts: BTreeSet<(AlertKind, String)>,
}

/// The key of the state file's format version.
const FORMAT_KEY: &str = "format";

/// The state as written: with its format version.
#[derive(serde::Serialize)]
struct Versioned<'a> {
    format: u64,
    #[serde(flatten)]
    state: &'a SavedState,
}

/// Locks the state file at `path` for this node (an exclusive lock on `<path>.lock`, released
/// when the returned file is dropped or the process ends): two nodes writing one state file
/// would publish each other's intervals.
pub fn lock(path: &Path) -> Result<std::fs::File, NodeError> {
    let state_error = |message: String| NodeError::State { path: path.to_path_buf(), message };
    let lock_path = path.with_extension("lock");
    if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| state_error(format!("cannot create its directory: {e}")))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| state_error(format!("cannot open {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(state_error("in use by another Lintel node (give each node its own --state)".into()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(state_error(format!("cannot lock {}: {e}", lock_path.display()))),
    }
}

/// The state saved at `path`, or `None` when there is none yet.
pub fn load(path: &Path) -> Result<Option<SavedState>, NodeError> {
    let state_error = |message: String| NodeError::State { path: path.to_path_buf(), message };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| state_error(format!("not a Lintel state file: {e}")))?;
            // Before reading a field: a newer node's state may mean something else by them.
            let found = value.get(FORMAT_KEY).map_or(Some(1), serde_json::Value::as_u64);
            let found = found.ok_or_else(|| state_error(format!("\"{FORMAT_KEY}\" is not a whole number")))?;
            disk_format::check(path, found, STATE_FORMAT).map_err(NodeError::NewerFormat)?;
            serde_json::from_value(value).map(Some).map_err(|e| state_error(format!("not a Lintel state file: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(state_error(format!("cannot read: {e}"))),
    }
}

/// Writes `state` atomically: a temporary file, synced, renamed over the old one, and the
/// directory synced so the rename itself survives a power cut.
pub fn save(path: &Path, state: &SavedState) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_vec(&Versioned { format: STATE_FORMAT, state })?;
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&json)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_node_on_the_same_state_file_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let first = lock(&path).unwrap();
        let error = lock(&path).unwrap_err().to_string();
        assert!(error.contains("in use by another Lintel node") && error.contains("state.json"), "{error}");
        drop(first);
        assert!(lock(&path).is_ok());
    }

    #[test]
    fn the_format_is_written_and_a_newer_one_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        save(&path, &SavedState::default()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format\":1"), "{text}");
        assert_eq!(load(&path).unwrap(), Some(SavedState::default()));
        // A state file from before formats were recorded reads as format 1.
        std::fs::write(&path, text.replace("\"format\":1,", "")).unwrap();
        assert_eq!(load(&path).unwrap(), Some(SavedState::default()));
        let newer = text.replace("\"format\":1", "\"format\":2");
        std::fs::write(&path, &newer).unwrap();
        let line = load(&path).unwrap_err().to_string();
        assert!(line.contains("state.json: format 2") && line.contains("format 1 at most"), "{line}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), newer);
    }
}
