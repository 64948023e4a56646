//! The webhooks' undelivered notifications on disk, so a restart sends them, in order per hook.
//!
//! One file per hook (`<dir>/<name>-<hash>.json`: the hook's name made safe for a file name, and a
//! hash of the whole name so two names never share a file), holding the hook's queue oldest first
//! with each notification's failed attempts. A file is replaced whole, atomically (written
//! beside, fsynced, renamed, the folder fsynced): a crash leaves the old queue or the new one,
//! never half of one. A file that cannot be read back (damaged, or over [`MAX_FILE_BYTES`]) is
//! moved aside as `….corrupt`, said once in the log, and the hook starts empty.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The largest queue file read back: [`super::webhooks::MAX_QUEUED`] notifications of a few KiB.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// A notification not yet delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The body to POST, filled in when the incident started or ended.
    pub body: String,
    /// Failed attempts so far.
    pub attempts: u32,
}

#[derive(Serialize, Deserialize)]
struct QueueFile {
    hook: String,
    pending: Vec<Pending>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("webhook queue {path}: {action}: {source}")]
    Io { path: PathBuf, action: &'static str, source: std::io::Error },
}

/// The folder of the queue files.
#[derive(Clone, Debug)]
pub struct PendingFiles {
    dir: PathBuf,
}

impl PendingFiles {
    /// The queue files in `dir` (made if missing).
    pub fn open(dir: &Path) -> Result<Self, QueueError> {
        fs::create_dir_all(dir).map_err(|source| QueueError::Io {
            path: dir.to_path_buf(),
            action: "cannot make the folder",
            source,
        })?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    fn path_of(&self, hook: &str) -> PathBuf {
        let safe: String = hook
            .chars()
            .take(64)
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        // FNV-1a: stable across runs and builds (std's hasher is not).
        let hash = hook.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        self.dir.join(format!("{safe}-{hash:016x}.json"))
    }

    /// What `hook` had not delivered when the queue was last saved, oldest first (at most
    /// `limit`; the oldest beyond are left out).
    pub fn load(&self, hook: &str, limit: usize) -> Vec<Pending> {
        let path = self.path_of(hook);
        let read = || -> Result<Option<Vec<Pending>>, String> {
            match fs::metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.to_string()),
                Ok(m) if m.len() > MAX_FILE_BYTES => return Err(format!("over {} MiB", MAX_FILE_BYTES >> 20)),
                Ok(_) => {}
            }
            let text = fs::read(&path).map_err(|e| e.to_string())?;
            let file: QueueFile = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
            if file.hook != hook {
                return Err(format!("it is hook {:?}'s", file.hook));
            }
            Ok(Some(file.pending))
        };
        match read() {
            Ok(None) => Vec::new(),
            Ok(Some(mut pending)) => {
                if pending.len() > limit {
                    pending.drain(..pending.len() - limit);
                }
                if !pending.is_empty() {
                    tracing::info!(hook, "{} webhook notifications from before the restart to deliver", pending.len());
                }
                pending
            }
            Err(why) => {
                let aside = path.with_extension("json.corrupt");
                let _ = fs::rename(&path, &aside);
                tracing::error!(
                    hook,
                    "webhook queue {} cannot be read ({why}): moved aside, starting empty",
                    path.display()
                );
                Vec::new()
            }
        }
    }

    /// Replaces `hook`'s saved queue by `pending`, atomically.
    pub fn save(&self, hook: &str, pending: &[Pending]) -> Result<(), QueueError> {
        let path = self.path_of(hook);
        let io = |action, source| QueueError::Io { path: path.clone(), action, source };
        let text = serde_json::to_vec(&QueueFile { hook: hook.to_string(), pending: pending.to_vec() })
            .map_err(|e| io("cannot write", e.into()))?;
        let temporary = path.with_extension("json.new");
        let mut file = fs::File::create(&temporary).map_err(|e| io("cannot create", e))?;
        file.write_all(&text).map_err(|e| io("cannot write", e))?;
        file.sync_all().map_err(|e| io("cannot sync", e))?;
        fs::rename(&temporary, &path).map_err(|e| io("cannot replace", e))?;
        fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io("cannot sync the folder", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(body: &str, attempts: u32) -> Pending {
        Pending { body: body.into(), attempts }
    }

    #[test]
    fn a_queue_reads_back_in_order_per_hook_and_a_damaged_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let files = PendingFiles::open(&dir.path().join("q")).unwrap();
        assert!(files.load("robot", 10).is_empty());
        files.save("robot", &[pending("a", 2), pending("b", 0)]).unwrap();
        files.save("robot/2", &[pending("c", 0)]).unwrap();
        assert_eq!(files.load("robot", 10), [pending("a", 2), pending("b", 0)]);
        assert_eq!(files.load("robot/2", 10), [pending("c", 0)]);
        assert_eq!(files.load("robot", 1), [pending("b", 0)], "bounded: the newest kept");
        files.save("robot", &[]).unwrap();
        assert!(files.load("robot", 10).is_empty());

        let path = files.path_of("robot/2");
        fs::write(&path, b"{\"hook\": \"robot/2\", \"pending\": [").unwrap();
        assert!(files.load("robot/2", 10).is_empty());
        assert!(!path.exists() && path.with_extension("json.corrupt").exists());
    }
}
