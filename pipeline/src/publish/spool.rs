//! The on-disk spool: every message is written here, durably, before it is sent, and leaves only
//! when the broker has acknowledged it. A broker outage or a restart of Lintel loses nothing.
//!
//! Layout of the spool directory:
//! - `00000000000000001042.msg`: one file per unacknowledged message, named by its zero-padded
//!   `seq`. A one-line JSON header (`seq`, `topic`, `retained`) followed by the payload.
//! - `last_seq`: the last sequence number handed out, so `seq` keeps increasing after every
//!   message was acknowledged and the directory is otherwise empty.
//! - `format`: the spool's format version ([`SPOOL_FORMAT`](crate::disk_format::SPOOL_FORMAT));
//!   a spool of a newer format is refused untouched (a downgraded node must not misread it).
//! - `lock`: held (`flock`) while a [`Spool`] is open, so two processes never share one spool.
//!
//! Crash safety: each file is written to `*.tmp`, fsynced, then renamed into place and the
//! directory fsynced; a rename is atomic, so after a crash a message is either fully there or not
//! at all. Leftover `*.tmp` files are removed on [`Spool::open`].
//!
//! ```
//! use lintel::publish::{Alert, AlertKind, Spool, UtcTime};
//!
//! let dir = std::env::temp_dir().join(format!("lintel-spool-doc-{}", std::process::id()));
//! let mut spool = Spool::open(&dir, 1 << 20).unwrap();
//! let alert = Alert {
//!     site: "s1".into(), node: "edge-01".into(), seq: 0, at: UtcTime::now(),
//!     kind: AlertKind::CameraBack, subject: "cam-07".into(), message: "frames again".into(),
//! };
//! let seq = spool.push(alert).unwrap();
//! assert_eq!(spool.peek_oldest().unwrap().unwrap().seq, seq);
//! spool.ack(seq).unwrap();
//! assert!(spool.is_empty());
//! # drop(spool); std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::messages::{Message, MessageError, SeqNo};
use crate::disk_format::SPOOL_FORMAT;

/// Fill ratio at which the caller should raise a `spool_filling` alert: early enough that the
/// alert itself, and a good while of counts after it, still fit.
pub const SPOOL_ALERT_RATIO: f64 = 0.8;

/// The largest payload the spool accepts; far above any real message, and well under what
/// brokers accept by default (mosquitto: 256 MiB, many cloud brokers: 256 KiB–1 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;

const MESSAGE_EXT: &str = "msg";
const LAST_SEQ_FILE: &str = "last_seq";
const LOCK_FILE: &str = "lock";
const FORMAT_FILE: &str = "format";

/// Why the spool could not do what was asked. Every variant names the spool directory, on one line.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The file system refused (unwritable directory, full disk, …).
    #[error("spool {dir}: cannot {action}: {source}")]
    Io { dir: PathBuf, action: String, source: io::Error },
    /// No room for the message: the broker has been unreachable for too long.
    #[error(
        "spool {dir} is full ({used} of {max_bytes} bytes used, the message needs {needed}): the broker has been unreachable too long"
    )]
    Full { dir: PathBuf, used: u64, max_bytes: u64, needed: u64 },
    /// Another process (or another [`Spool`] in this one) has the directory open.
    #[error("spool {dir} is in use by another Lintel process (lock file {dir}/lock)")]
    Locked { dir: PathBuf },
    /// A file in the spool is not what this code writes; a damaged message file is moved aside to `*.corrupt`.
    #[error("spool {dir}: {file} is damaged ({reason})")]
    Corrupt { dir: PathBuf, file: String, reason: String },
    /// The message itself is unusable (bad id for a topic, too large).
    #[error("spool {dir}: {source}")]
    Message { dir: PathBuf, source: MessageError },
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("spool {dir}: a {schema} message of {size} bytes is larger than the {max} bytes allowed")]
    TooLarge { dir: PathBuf, schema: &'static str, size: usize, max: usize },
    /// Written by a newer Lintel; nothing in it was changed.
    #[error(transparent)]
    NewerFormat(#[from] crate::disk_format::NewerFormat),
}

/// A message as it waits in the spool: ready to send as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpooledMessage {
    pub seq: SeqNo,
    pub topic: String,
    pub retained: bool,
    /// The JSON payload, with `seq` inside.
    pub payload: Vec<u8>,
}

/// The first line of a message file.
#[derive(Serialize, Deserialize)]
struct Header {
    seq: SeqNo,
    topic: String,
    retained: bool,
}

/// A bounded, crash-safe, on-disk FIFO of messages, and the keeper of the node's `seq`.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// seq → size on disk of each message file still waiting.
    waiting: BTreeMap<SeqNo, u64>,
    bytes: u64,
    last_seq: SeqNo,
    /// Held for the `flock`; released when the spool is dropped.
    _lock: File,
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, bounded to `max_bytes` of message files.
    /// Messages left by an earlier run are kept, in order, and `seq` continues after the last one.
    pub fn open(dir: impl AsRef<Path>, max_bytes: u64) -> Result<Spool, SpoolError> {
        let dir = dir.as_ref().to_path_buf();
        let io_error = |action: String| {
            let dir = dir.clone();
            move |source| SpoolError::Io { dir, action, source }
        };
        // First of all, so a newer spool is refused before anything in it changes.
        check_format(&dir)?;
        fs::create_dir_all(&dir).map_err(io_error("create the directory".into()))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io_error(format!("create {LOCK_FILE}")))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked { dir }),
            Err(fs::TryLockError::Error(source)) => return Err(io_error(format!("lock {LOCK_FILE}"))(source)),
        }

        let mut spool =
            Spool { dir: dir.clone(), max_bytes, waiting: BTreeMap::new(), bytes: 0, last_seq: 0, _lock: lock };
        let entries = fs::read_dir(&dir).map_err(io_error("list the directory".into()))?;
        for entry in entries {
            let entry = entry.map_err(io_error("list the directory".into()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // A write that a crash interrupted before its rename: it was never acknowledged
                // to the caller, so it does not exist.
                fs::remove_file(entry.path()).map_err(io_error(format!("remove the unfinished {name}")))?;
                continue;
            }
            let Some(seq) = name.strip_suffix(".msg").and_then(|stem| stem.parse::<SeqNo>().ok()) else {
                continue;
            };
            match spool.read_message(seq) {
                Ok(_) => {
                    let size = entry.metadata().map_err(io_error(format!("read the size of {name}")))?.len();
                    spool.waiting.insert(seq, size);
                    spool.bytes += size;
                }
                // Moved aside, not fatal: one damaged file must not block every later message.
                Err(error @ SpoolError::Corrupt { .. }) => tracing::error!("{error}; moved aside"),
                Err(error) => return Err(error),
            }
        }
        if !dir.join(FORMAT_FILE).exists() {
            spool.write_atomically(FORMAT_FILE, format!("{SPOOL_FORMAT}\n").as_bytes())?;
            spool.sync_dir()?;
        }
        let recorded = spool.read_last_seq()?;
        let newest_file = spool.waiting.keys().next_back().copied().unwrap_or(0);
        spool.last_seq = recorded.max(newest_file);
        Ok(spool)
    }

    /// Refuses, reading only, a spool in `dir` that a newer Lintel wrote (none there is fine).
    pub fn check_format(dir: impl AsRef<Path>) -> Result<(), SpoolError> {
        check_format(dir.as_ref())
    }

    /// Assigns the next `seq` to `message`, writes it durably (fsync) and returns the `seq`.
    /// Fails with [`SpoolError::Full`] when the spool has no room: raise the `spool_filling` alert
    /// before that, when [`Spool::fill_ratio`] passes [`SPOOL_ALERT_RATIO`].
    pub fn push(&mut self, message: impl Into<Message>) -> Result<SeqNo, SpoolError> {
        let mut message = message.into();
        let seq = self.last_seq + 1;
        message.set_seq(seq);
        let message_error = |source| SpoolError::Message { dir: self.dir.clone(), source };
        message.validate().map_err(message_error)?;
        let topic = message.topic().map_err(message_error)?;
        let payload = message.to_json().map_err(message_error)?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(SpoolError::TooLarge {
                dir: self.dir.clone(),
                schema: message.schema(),
                size: payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        let header = Header { seq, topic, retained: message.retained() };
        let mut record = serde_json::to_vec(&header).map_err(|e| SpoolError::Corrupt {
            dir: self.dir.clone(),
            file: message_file_name(seq),
            reason: format!("cannot write the header: {e}"),
        })?;
        record.push(b'\n');
        record.extend_from_slice(&payload);

        let needed = record.len() as u64;
        if self.bytes + needed > self.max_bytes {
            return Err(SpoolError::Full {
                dir: self.dir.clone(),
                used: self.bytes,
                max_bytes: self.max_bytes,
                needed,
            });
        }
        // The message file first, then the counter: a crash in between leaves the message, and
        // `open` takes the larger of the two, so a `seq` is never handed out twice.
        let name = message_file_name(seq);
        self.write_atomically(&name, &record)?;
        self.write_atomically(LAST_SEQ_FILE, format!("{seq}\n").as_bytes())?;
        self.sync_dir()?;
        self.waiting.insert(seq, needed);
        self.bytes += needed;
        self.last_seq = seq;
        Ok(seq)
    }

    /// Takes the next `seq` without a spooled message behind it (for the MQTT last will, which the
    /// broker sends, not the spool), persisted so it is never handed out again.
    pub fn reserve_seq(&mut self) -> Result<SeqNo, SpoolError> {
        let seq = self.last_seq + 1;
        self.write_atomically(LAST_SEQ_FILE, format!("{seq}\n").as_bytes())?;
        self.sync_dir()?;
        self.last_seq = seq;
        Ok(seq)
    }

    /// The oldest message still waiting for its acknowledgement, read from disk.
    /// A damaged file is moved aside (`*.corrupt`) and reported once; the next call goes on with the next message.
    pub fn peek_oldest(&mut self) -> Result<Option<SpooledMessage>, SpoolError> {
        let Some((&seq, &size)) = self.waiting.iter().next() else {
            return Ok(None);
        };
        match self.read_message(seq) {
            Ok(message) => Ok(Some(message)),
            Err(error @ SpoolError::Corrupt { .. }) => {
                self.waiting.remove(&seq);
                self.bytes -= size;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Removes message `seq` (the broker acknowledged it). Unknown `seq`s are ignored.
    /// The message leaves the queue even if deleting its file fails, so it is not sent again in
    /// this run; after a restart it would be sent once more (the same bytes, same `seq`).
    pub fn ack(&mut self, seq: SeqNo) -> Result<(), SpoolError> {
        let Some(size) = self.waiting.remove(&seq) else {
            return Ok(());
        };
        self.bytes -= size;
        let name = message_file_name(seq);
        fs::remove_file(self.dir.join(&name)).map_err(|source| self.io_error(format!("remove {name}"), source))?;
        self.sync_dir()
    }

    /// Number of messages waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True when every message was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Bytes of message files waiting (what counts against `max_bytes`).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The bound given to [`Spool::open`].
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// `bytes() / max_bytes()`, 0.0 (empty) to 1.0 (full).
    pub fn fill_ratio(&self) -> f64 {
        if self.max_bytes == 0 { 1.0 } else { self.bytes as f64 / self.max_bytes as f64 }
    }

    /// The last `seq` handed out (0 before the first message ever).
    pub fn last_seq(&self) -> SeqNo {
        self.last_seq
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io_error(&self, action: String, source: io::Error) -> SpoolError {
        SpoolError::Io { dir: self.dir.clone(), action, source }
    }

    fn read_message(&self, seq: SeqNo) -> Result<SpooledMessage, SpoolError> {
        let name = message_file_name(seq);
        let path = self.dir.join(&name);
        let record = fs::read(&path).map_err(|source| self.io_error(format!("read {name}"), source))?;
        let parsed =
            record.iter().position(|&b| b == b'\n').ok_or_else(|| "no header line".to_string()).and_then(|newline| {
                let header: Header =
                    serde_json::from_slice(&record[..newline]).map_err(|e| format!("bad header: {e}"))?;
                if header.seq != seq {
                    return Err(format!("header says seq {} but the file name says {seq}", header.seq));
                }
                Ok((header, newline))
            });
        match parsed {
            Ok((header, newline)) => Ok(SpooledMessage {
                seq,
                topic: header.topic,
                retained: header.retained,
                payload: record[newline + 1..].to_vec(),
            }),
            Err(reason) => {
                let aside = self.dir.join(format!("{name}.corrupt"));
                fs::rename(&path, &aside).map_err(|source| self.io_error(format!("move {name} aside"), source))?;
                Err(SpoolError::Corrupt { dir: self.dir.clone(), file: name, reason })
            }
        }
    }

    fn read_last_seq(&self) -> Result<SeqNo, SpoolError> {
        match fs::read_to_string(self.dir.join(LAST_SEQ_FILE)) {
            Ok(text) => text.trim().parse().map_err(|_| SpoolError::Corrupt {
                // Refuse rather than guess: a wrong guess would hand out a `seq` twice.
                dir: self.dir.clone(),
                file: LAST_SEQ_FILE.into(),
                reason: format!("{:?} is not a sequence number", text.trim()),
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(source) => Err(self.io_error(format!("read {LAST_SEQ_FILE}"), source)),
        }
    }

    /// Writes `name` through a fsynced temporary file and a rename, so it is never seen half-written.
    /// The caller syncs the directory.
    fn write_atomically(&self, name: &str, contents: &[u8]) -> Result<(), SpoolError> {
        let tmp_name = format!("{name}.tmp");
        let tmp = self.dir.join(&tmp_name);
        let write = || -> io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(contents)?;
            file.sync_all()
        };
        if let Err(source) = write() {
            // Best effort: don't leave a partial file taking space on a full disk.
            let _ = fs::remove_file(&tmp);
            return Err(self.io_error(format!("write {tmp_name}"), source));
        }
        fs::rename(&tmp, self.dir.join(name)).map_err(|source| self.io_error(format!("rename {tmp_name}"), source))
    }

    /// Makes renames and removals in the directory durable.
    fn sync_dir(&self) -> Result<(), SpoolError> {
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| self.io_error("sync the directory".into(), source))
    }
}

/// Refuses a spool whose `format` file names a newer format than [`SPOOL_FORMAT`]; a spool
/// without one is format 1 (written before formats were recorded) or new.
fn check_format(dir: &Path) -> Result<(), SpoolError> {
    let path = dir.join(FORMAT_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SpoolError::Io { dir: dir.to_path_buf(), action: format!("read {FORMAT_FILE}"), source });
        }
    };
    let found = text.trim().parse().map_err(|_| SpoolError::Corrupt {
        dir: dir.to_path_buf(),
        file: FORMAT_FILE.into(),
        reason: format!("{:?} is not a format version", text.trim()),
    })?;
    Ok(crate::disk_format::check(path, found, SPOOL_FORMAT)?)
}

fn message_file_name(seq: SeqNo) -> String {
    format!("{seq:020}.{MESSAGE_EXT}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::messages::{Alert, AlertKind, UtcTime};

    fn alert(text: &str) -> Alert {
        Alert {
            site: "s1".into(),
            node: "edge-01".into(),
            seq: 0,
            at: UtcTime::from_unix_seconds(1_795_600_800),
            kind: AlertKind::CameraOffline,
            subject: "cam-07".into(),
            message: text.into(),
        }
    }

    fn payload_seq(message: &SpooledMessage) -> SeqNo {
        let json: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        json["seq"].as_u64().unwrap()
    }

    /// Every file of `dir` with its contents, to prove a refused spool unchanged.
    fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap()))
            .collect()
    }

    #[test]
    fn a_spool_of_a_newer_format_is_refused_with_one_line_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.push(alert("kept")).unwrap();
        drop(spool);
        assert_eq!(fs::read_to_string(dir.path().join("format")).unwrap(), "1\n");
        fs::write(dir.path().join("format"), "2\n").unwrap();
        // What a newer node might leave: an unfinished write an older node would delete.
        fs::write(dir.path().join("00000000000000000002.msg.tmp"), "half").unwrap();
        let before = snapshot(dir.path());
        let line = Spool::open(dir.path(), 1 << 20).unwrap_err().to_string();
        assert!(line.contains("format: format 2") && line.contains("format 1 at most"), "{line}");
        assert!(!line.contains('\n'));
        assert_eq!(snapshot(dir.path()), before);
        // Back to format 1 (the newer node reinstalled and downgraded it), the message is there.
        fs::write(dir.path().join("format"), "1\n").unwrap();
        assert_eq!(Spool::open(dir.path(), 1 << 20).unwrap().len(), 1);
    }

    #[test]
    fn messages_come_out_in_order_and_leave_on_ack() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let seqs: Vec<_> = (0..3).map(|i| spool.push(alert(&format!("m{i}"))).unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(spool.len(), 3);
        assert!(spool.bytes() > 0);
        for seq in seqs {
            let oldest = spool.peek_oldest().unwrap().unwrap();
            assert_eq!((oldest.seq, payload_seq(&oldest)), (seq, seq));
            assert_eq!(oldest.topic, "lintel/v1/s1/alerts");
            assert!(!oldest.retained);
            spool.ack(seq).unwrap();
        }
        assert!(spool.peek_oldest().unwrap().is_none());
        assert_eq!((spool.len(), spool.bytes()), (0, 0));
    }

    #[test]
    fn seq_and_messages_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
            for i in 0..4 {
                spool.push(alert(&format!("m{i}"))).unwrap();
            }
            spool.ack(1).unwrap();
            spool.ack(2).unwrap();
        }
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(spool.len(), 2);
        assert_eq!(spool.peek_oldest().unwrap().unwrap().seq, 3);
        spool.ack(3).unwrap();
        spool.ack(4).unwrap();
        drop(spool);
        // Everything acknowledged: only `last_seq` remembers where we were.
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(spool.is_empty());
        assert_eq!(spool.reserve_seq().unwrap(), 5);
        assert_eq!(spool.push(alert("after")).unwrap(), 6);
    }

    #[test]
    fn a_crash_between_message_and_counter_never_reuses_a_seq() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
            spool.push(alert("a")).unwrap();
            spool.push(alert("b")).unwrap();
        }
        // As if the process died after renaming message 2 but before updating the counter,
        // and in the middle of writing message 3.
        fs::write(dir.path().join(LAST_SEQ_FILE), "1\n").unwrap();
        fs::write(dir.path().join(format!("{}.tmp", message_file_name(3))), "half a mess").unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(spool.len(), 2);
        assert_eq!(spool.push(alert("c")).unwrap(), 3);
        assert!(!dir.path().join(format!("{}.tmp", message_file_name(3))).exists());
    }

    #[test]
    fn a_full_spool_refuses_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1000).unwrap();
        let mut pushed = 0;
        let error = loop {
            match spool.push(alert("filling")) {
                Ok(_) => pushed += 1,
                Err(error) => break error,
            }
        };
        assert!(pushed >= 2, "{pushed}");
        assert!(matches!(error, SpoolError::Full { .. }));
        let text = error.to_string();
        assert!(text.contains(&dir.path().display().to_string()) && text.contains("is full"), "{text}");
        assert!(spool.fill_ratio() > 0.5 && spool.fill_ratio() <= 1.0);
        // A refused push takes no seq.
        let last = spool.last_seq();
        spool.ack(1).unwrap();
        assert_eq!(spool.push(alert("room again")).unwrap(), last + 1);
    }

    #[test]
    fn an_unusable_directory_is_one_line_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, "x").unwrap();
        let error = Spool::open(file.join("spool"), 1 << 20).unwrap_err().to_string();
        assert!(error.contains("not-a-dir/spool") && !error.contains('\n'), "{error}");
    }

    #[test]
    fn one_spool_per_directory() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Spool::open(dir.path(), 1 << 20).unwrap();
        let error = Spool::open(dir.path(), 1 << 20).unwrap_err();
        assert!(matches!(error, SpoolError::Locked { .. }), "{error}");
    }

    #[test]
    fn a_damaged_file_is_moved_aside_and_the_rest_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.push(alert("a")).unwrap();
        spool.push(alert("b")).unwrap();
        fs::write(dir.path().join(message_file_name(1)), "garbage").unwrap();
        assert!(matches!(spool.peek_oldest(), Err(SpoolError::Corrupt { .. })));
        assert_eq!(spool.peek_oldest().unwrap().unwrap().seq, 2);
        assert!(dir.path().join(format!("{}.corrupt", message_file_name(1))).exists());
    }

    #[test]
    fn a_bad_topic_level_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let mut bad = alert("x");
        bad.site = "a/b".into();
        assert!(matches!(spool.push(bad), Err(SpoolError::Message { .. })));
        assert_eq!((spool.len(), spool.last_seq()), (0, 0));
    }
}
