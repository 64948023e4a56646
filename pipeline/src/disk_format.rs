//! The format versions of what the node keeps on disk (state file, spool, history), so a
//! downgraded node refuses a store a newer Lintel wrote instead of misreading it or writing over
//! it. A store without a version was written before versions were recorded: it is format 1.
//!
//! Bump a constant when an older node could no longer read what this one writes; adding an
//! optional field an older node ignores does not need it.

use std::path::PathBuf;

/// `"format"` in the state file.
pub const STATE_FORMAT: u64 = 1;
/// The `format` file in the spool directory.
pub const SPOOL_FORMAT: u64 = 1;
/// SQLite's `user_version` of the history.
pub const HISTORY_FORMAT: u64 = 1;

/// A store written by a newer Lintel than this one. Nothing of it was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{path}: format {found} was written by a newer Lintel (this one reads format {known} at most); left untouched: install the newer Lintel again, or move it aside to start afresh"
)]
pub struct NewerFormat {
    pub path: PathBuf,
    pub found: u64,
    pub known: u64,
}

/// `Err` when `found` is newer than `known`.
pub fn check(path: impl Into<PathBuf>, found: u64, known: u64) -> Result<(), NewerFormat> {
    if found > known { Err(NewerFormat { path: path.into(), found, known }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newer_format_is_refused_and_the_line_names_path_and_both_versions() {
        assert!(check("/x", 0, 1).is_ok());
        assert!(check("/x", 1, 1).is_ok());
        let line = check("/var/lib/lintel/state.json", 7, 1).unwrap_err().to_string();
        assert!(line.contains("/var/lib/lintel/state.json: format 7") && line.contains("format 1 at most"), "{line}");
        assert!(!line.contains('\n'));
    }
}
