//! The node's small history for its dashboard, in SQLite: every building interval it closed, its
//! alerts with who acknowledged them and when, and its audit trail. It survives restarts and keeps
//! [`History::retention`] of data. Counts only: no person, picture or track is ever in it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::disk_format::HISTORY_FORMAT;
use crate::live::{AuditAction, AuditEntry, Said};
use crate::publish::AlertKind;

/// The most alerts kept, whatever their age: a flapping camera cannot grow the file without end.
const MAX_ALERTS: i64 = 10_000;
/// The most audit entries kept, whatever their age: a peer guessing tokens from many addresses
/// cannot grow the file without end.
const MAX_AUDIT: i64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history {path}: {source}")]
    Db { path: PathBuf, source: rusqlite::Error },
    #[error("history {path}: cannot create its directory: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    /// Written by a newer Lintel; nothing in it was changed.
    #[error(transparent)]
    NewerFormat(#[from] crate::disk_format::NewerFormat),
}

/// One building interval, as published.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalRow {
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    pub entries: u64,
    pub exits: u64,
    pub occupancy: u64,
    /// Whether every entrance of the building was counted by a working camera (published
    /// `healthy: false` otherwise: the numbers miss what the broken camera saw).
    pub healthy: bool,
}

/// One alert as the dashboard keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertRow {
    pub id: i64,
    /// The alert's kind as published, e.g. `camera_offline`.
    pub kind: String,
    /// The camera, building or node it is about.
    pub subject: String,
    pub message: String,
    /// Unix seconds, the node's wall clock when raised.
    pub at: i64,
    /// When its condition ended (`None`: still on, or a one-off event not yet acknowledged).
    pub cleared_at: Option<i64>,
    pub acked_by: Option<String>,
    pub acked_role: Option<String>,
    pub acked_at: Option<i64>,
    /// What the operator wrote when acknowledging (may be empty).
    pub acked_note: Option<String>,
    /// An end (`camera_back`, …): the id of the alert it ended, shown as that incident's end.
    pub ends: Option<i64>,
    /// A condition's incident: when the node ended it, and how long it lasted (seconds).
    pub ended_at: Option<i64>,
    pub duration_s: Option<i64>,
    /// The `seq` the node published it with, once the spool took it: with its kind, it names
    /// the incident as consoles name it (acknowledgements travel by it).
    pub seq: Option<i64>,
}

impl AlertRow {
    /// Fills the incident's end from `cleared_at` when the row is a condition (for a one-off
    /// event or an end, `cleared_at` is its own time and means nothing more).
    fn with_incident(mut self) -> Self {
        let condition = AlertKind::from_name(&self.kind).is_some_and(AlertKind::is_condition);
        if condition && let Some(end) = self.cleared_at {
            self.ended_at = Some(end);
            self.duration_s = Some((end - self.at).max(0));
        }
        self
    }
}

/// The SQLite file; one connection, used from behind the board's lock.
pub struct History {
    path: PathBuf,
    db: Connection,
    retention: Duration,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).field("retention", &self.retention).finish()
    }
}

impl History {
    /// Opens (or creates) the history at `path`, keeping `retention` of it.
    pub fn open(path: &Path, retention: Duration) -> Result<Self, HistoryError> {
        let error = |source| HistoryError::Db { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::Dir { path: path.to_path_buf(), source })?;
        }
        let db = Connection::open(path).map_err(error)?;
        // Before any pragma or table: a newer node's history is refused as it is.
        let found: i64 = db.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(error)?;
        crate::disk_format::check(path, found.max(0) as u64, HISTORY_FORMAT)?;
        // WAL: a reader (a page) never waits on the node's write; a crash loses no committed row.
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 2000;
             CREATE TABLE IF NOT EXISTS intervals (
                 building TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
                 entries INTEGER NOT NULL, exits INTEGER NOT NULL, occupancy INTEGER NOT NULL,
                 PRIMARY KEY (building, start));
             CREATE TABLE IF NOT EXISTS alerts (
                 id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, subject TEXT NOT NULL,
                 message TEXT NOT NULL, at INTEGER NOT NULL, cleared_at INTEGER,
                 acked_by TEXT, acked_role TEXT, acked_at INTEGER);
             CREATE TABLE IF NOT EXISTS audit (
                 id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, action TEXT NOT NULL,
                 who TEXT NOT NULL, peer TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT NOT NULL);",
        )
        .map_err(error)?;
        // Columns added since the first release: a history written by an older node gains them.
        for (table, column, kind) in [
            ("intervals", "healthy", "INTEGER NOT NULL DEFAULT 1"),
            ("alerts", "acked_note", "TEXT"),
            ("alerts", "ends", "INTEGER"),
            ("alerts", "seq", "INTEGER"),
            ("audit", "said", "TEXT"),
        ] {
            add_column(&db, table, column, kind).map_err(error)?;
        }
        // 0 (a new file, or one from before formats were recorded) becomes this format.
        if (found as u64) < HISTORY_FORMAT {
            db.pragma_update(None, "user_version", HISTORY_FORMAT as i64).map_err(error)?;
        }
        let mut history = Self { path: path.to_path_buf(), db, retention };
        history.prune(now_unix())?;
        Ok(history)
    }

    /// Refuses a history at `path` that a newer Lintel wrote, reading only its header (none
    /// there is fine): SQLite itself would leave `-wal` and `-shm` files behind.
    pub fn check_format(path: &Path) -> Result<(), HistoryError> {
        use std::io::Read;
        let mut header = [0u8; 100];
        let read = std::fs::File::open(path).and_then(|mut file| file.read_exact(&mut header));
        // Absent, or too short to be a database: `open` says what is wrong with it.
        if read.is_err() || !header.starts_with(b"SQLite format 3\0") {
            return Ok(());
        }
        // The header's "user version", a big-endian 32-bit integer at offset 60.
        let found = i32::from_be_bytes([header[60], header[61], header[62], header[63]]);
        Ok(crate::disk_format::check(path, found.max(0) as u64, HISTORY_FORMAT)?)
    }

    /// An in-memory history (tests, and a node asked to keep none on disk).
    pub fn in_memory(retention: Duration) -> Result<Self, HistoryError> {
        Self::open(Path::new(":memory:"), retention)
    }

    pub fn retention(&self) -> Duration {
        self.retention
    }

    fn error(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError::Db { path: self.path.clone(), source }
    }

    /// Records a building interval; the same interval again (a replay after a restart) replaces it.
    pub fn record_interval(&mut self, building: &str, row: &IntervalRow) -> Result<(), HistoryError> {
        self.db
            .execute(
                "INSERT OR REPLACE INTO intervals (building, start, end, entries, exits, occupancy, healthy)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    building,
                    row.start,
                    row.end,
                    row.entries as i64,
                    row.exits as i64,
                    row.occupancy as i64,
                    row.healthy
                ],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// A building's intervals that started in `from..to` (unix seconds), oldest first.
    pub fn intervals(&self, building: &str, from: i64, to: i64) -> Result<Vec<IntervalRow>, HistoryError> {
        let mut statement = self
            .db
            .prepare_cached(
                "SELECT start, end, entries, exits, occupancy, healthy FROM intervals
                 WHERE building = ?1 AND start >= ?2 AND start < ?3 ORDER BY start",
            )
            .map_err(|e| self.error(e))?;
        statement
            .query_map(params![building, from, to], |r| {
                Ok(IntervalRow {
                    start: r.get(0)?,
                    end: r.get(1)?,
                    entries: r.get::<_, i64>(2)?.max(0) as u64,
                    exits: r.get::<_, i64>(3)?.max(0) as u64,
                    occupancy: r.get::<_, i64>(4)?.max(0) as u64,
                    healthy: r.get(5)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.error(e))
    }

    /// Keeps an audit entry.
    pub fn record_audit(&mut self, entry: &AuditEntry) -> Result<(), HistoryError> {
        self.db
            .execute(
                "INSERT INTO audit (at, action, who, peer, subject, detail, said) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    entry.at,
                    entry.action.name(),
                    entry.who,
                    entry.from,
                    entry.subject,
                    entry.detail,
                    entry.said.as_ref().map(Said::to_json)
                ],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// The newest `n` audit entries, newest first (an action this node does not know is left out).
    pub fn recent_audit(&self, n: usize) -> Result<Vec<AuditEntry>, HistoryError> {
        let mut statement = self
            .db
            .prepare_cached("SELECT at, action, who, peer, subject, detail, said FROM audit ORDER BY id DESC LIMIT ?1")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params![n as i64], |r| {
                let action: String = r.get(1)?;
                Ok(AuditAction::from_name(&action).map(|action| AuditEntry {
                    at: r.get(0).unwrap_or_default(),
                    action,
                    who: r.get(2).unwrap_or_default(),
                    from: r.get(3).unwrap_or_default(),
                    subject: r.get(4).unwrap_or_default(),
                    detail: r.get(5).unwrap_or_default(),
                    said: r.get::<_, Option<String>>(6).ok().flatten().as_deref().and_then(Said::from_json),
                }))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.error(e))?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// Records a new alert; returns it with its id. `ends`: the alert this one ended, if any.
    pub fn record_alert(
        &mut self,
        kind: &str,
        subject: &str,
        message: &str,
        at: i64,
        cleared: bool,
        ends: Option<i64>,
    ) -> Result<AlertRow, HistoryError> {
        let cleared_at = cleared.then_some(at);
        self.db
            .execute(
                "INSERT INTO alerts (kind, subject, message, at, cleared_at, ends) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![kind, subject, message, at, cleared_at, ends],
            )
            .map_err(|e| self.error(e))?;
        let id = self.db.last_insert_rowid();
        self.alert(id)?.ok_or_else(|| self.error(rusqlite::Error::QueryReturnedNoRows))
    }

    /// Marks an alert's condition over.
    pub fn clear_alert(&mut self, id: i64, at: i64) -> Result<(), HistoryError> {
        self.db
            .execute("UPDATE alerts SET cleared_at = ?2 WHERE id = ?1 AND cleared_at IS NULL", params![id, at])
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Records who acknowledged an alert, when, and their `note`; the first acknowledgement
    /// stands. Returns the alert, or `None` if there is no such alert.
    pub fn acknowledge(
        &mut self,
        id: i64,
        by: &str,
        role: &str,
        note: &str,
        at: i64,
    ) -> Result<Option<AlertRow>, HistoryError> {
        self.db
            .execute(
                "UPDATE alerts SET acked_by = ?2, acked_role = ?3, acked_at = ?4, acked_note = ?5
                 WHERE id = ?1 AND acked_at IS NULL",
                params![id, by, role, at, note],
            )
            .map_err(|e| self.error(e))?;
        self.alert(id)
    }

    /// Records the `seq` the alert of `kind` about `subject` raised at `at` was published with
    /// (the newest such alert without one); returns it, `None` if there is none.
    pub fn set_seq(&mut self, kind: &str, subject: &str, at: i64, seq: i64) -> Result<Option<AlertRow>, HistoryError> {
        let id: Option<i64> = self
            .db
            .query_row(
                "SELECT id FROM alerts WHERE kind = ?1 AND subject = ?2 AND at = ?3 AND seq IS NULL
                 ORDER BY id DESC LIMIT 1",
                params![kind, subject, at],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))?;
        let Some(id) = id else { return Ok(None) };
        self.db.execute("UPDATE alerts SET seq = ?2 WHERE id = ?1", params![id, seq]).map_err(|e| self.error(e))?;
        self.alert(id)
    }

    /// The alert of `kind` published with `seq`: the start of that incident.
    pub fn alert_by_seq(&self, kind: &str, seq: i64) -> Result<Option<AlertRow>, HistoryError> {
        self.db
            .query_row(&format!("{ALERT_COLUMNS} WHERE kind = ?1 AND seq = ?2"), params![kind, seq], alert_row)
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Records an acknowledgement made elsewhere: it stands unless one made earlier does
    /// (readers everywhere keep the earliest). Returns the alert if it changed.
    pub fn acknowledge_earliest(
        &mut self,
        id: i64,
        by: &str,
        role: &str,
        note: &str,
        at: i64,
    ) -> Result<Option<AlertRow>, HistoryError> {
        let changed = self
            .db
            .execute(
                "UPDATE alerts SET acked_by = ?2, acked_role = ?3, acked_at = ?4, acked_note = ?5
                 WHERE id = ?1 AND (acked_at IS NULL OR acked_at > ?4)",
                params![id, by, role, at, note],
            )
            .map_err(|e| self.error(e))?;
        if changed == 0 {
            return Ok(None);
        }
        self.alert(id)
    }

    pub fn alert(&self, id: i64) -> Result<Option<AlertRow>, HistoryError> {
        self.db
            .query_row(&format!("{ALERT_COLUMNS} WHERE id = ?1"), params![id], alert_row)
            .optional()
            .map_err(|e| self.error(e))
    }

    /// The newest `limit` alerts, newest first.
    pub fn recent_alerts(&self, limit: usize) -> Result<Vec<AlertRow>, HistoryError> {
        let mut statement =
            self.db.prepare_cached(&format!("{ALERT_COLUMNS} ORDER BY id DESC LIMIT ?1")).map_err(|e| self.error(e))?;
        statement
            .query_map(params![limit as i64], alert_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.error(e))
    }

    /// Alerts whose condition is still on, oldest first.
    pub fn active_alerts(&self) -> Result<Vec<AlertRow>, HistoryError> {
        let mut statement = self
            .db
            .prepare_cached(&format!("{ALERT_COLUMNS} WHERE cleared_at IS NULL ORDER BY id"))
            .map_err(|e| self.error(e))?;
        statement
            .query_map([], alert_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.error(e))
    }

    /// Drops what is older than the retention, and alerts beyond [`MAX_ALERTS`].
    pub fn prune(&mut self, now: i64) -> Result<(), HistoryError> {
        let before = now.saturating_sub(self.retention.as_secs() as i64);
        self.db
            .execute("DELETE FROM intervals WHERE end < ?1", params![before])
            .and_then(|_| {
                self.db.execute(
                    "DELETE FROM alerts WHERE (at < ?1 AND (cleared_at IS NOT NULL OR acked_at IS NOT NULL))
                        OR id <= (SELECT MAX(id) FROM alerts) - ?2",
                    params![before, MAX_ALERTS],
                )
            })
            .and_then(|_| {
                self.db.execute(
                    "DELETE FROM audit WHERE at < ?1 OR id <= (SELECT MAX(id) FROM audit) - ?2",
                    params![before, MAX_AUDIT],
                )
            })
            .map_err(|e| self.error(e))?;
        Ok(())
    }
}

const ALERT_COLUMNS: &str = "SELECT id, kind, subject, message, at, cleared_at, acked_by, acked_role, acked_at, acked_note, ends, seq FROM alerts";

/// Adds `column` to `table` unless it is there.
fn add_column(db: &Connection, table: &str, column: &str, kind: &str) -> rusqlite::Result<()> {
    let there: bool = db.query_row(
        &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
        params![column],
        |r| r.get(0),
    )?;
    if !there {
        db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
    }
    Ok(())
}

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        subject: r.get(2)?,
        message: r.get(3)?,
        at: r.get(4)?,
        cleared_at: r.get(5)?,
        acked_by: r.get(6)?,
        acked_role: r.get(7)?,
        acked_at: r.get(8)?,
        acked_note: r.get(9)?,
        ends: r.get(10)?,
        ended_at: None,
        duration_s: None,
        seq: r.get(11)?,
    }
    .with_incident())
}

/// The wall clock in unix seconds (0 before 1970).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn row(start: i64, entries: u64) -> IntervalRow {
        IntervalRow { start, end: start + 60, entries, exits: 1, occupancy: entries, healthy: entries != 9 }
    }

    #[test]
    fn a_history_of_a_newer_format_is_refused_with_one_line_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        drop(History::open(&path, Duration::from_secs(86_400)).unwrap());
        let version = |p: &Path| -> i64 {
            Connection::open(p).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
        };
        assert_eq!(version(&path), HISTORY_FORMAT as i64);
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 9).unwrap();
        let before = std::fs::read(&path).unwrap();
        let line = History::open(&path, Duration::from_secs(86_400)).unwrap_err().to_string();
        assert!(line.contains("history.sqlite: format 9") && line.contains("format 1 at most"), "{line}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn intervals_and_acknowledgements_survive_a_reopen_and_a_replayed_interval_replaces_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let now = now_unix();
        {
            let mut history = History::open(&path, DAY).unwrap();
            history.record_interval("hall", &row(now - 120, 3)).unwrap();
            history.record_interval("hall", &row(now - 60, 4)).unwrap();
            history.record_interval("hall", &row(now - 60, 5)).unwrap();
            history.record_interval("annex", &row(now - 60, 9)).unwrap();
            let alert = history.record_alert("camera_offline", "cam-1", "no frame for 30 s", now, false, None).unwrap();
            history.acknowledge(alert.id, "Li Wei", "operator", "called the caretaker", now + 5).unwrap();
            // A second acknowledgement does not overwrite the first.
            history.acknowledge(alert.id, "someone else", "technician", "", now + 9).unwrap();
        }
        let history = History::open(&path, DAY).unwrap();
        let hall = history.intervals("hall", now - 3600, now + 1).unwrap();
        assert_eq!(hall.iter().map(|r| (r.entries, r.healthy)).collect::<Vec<_>>(), [(3, true), (5, true)]);
        let annex = history.intervals("annex", now - 3600, now + 1).unwrap();
        assert!(!annex[0].healthy, "a healthy: false interval is kept as such");
        let alerts = history.recent_alerts(10).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].acked_by.as_deref(), Some("Li Wei"));
        assert_eq!(alerts[0].acked_note.as_deref(), Some("called the caretaker"));
        assert_eq!(alerts[0].acked_role.as_deref(), Some("operator"));
        assert_eq!(alerts[0].acked_at, Some(now + 5));
        assert_eq!(history.active_alerts().unwrap().len(), 1);
    }

    #[test]
    fn the_audit_trail_survives_a_reopen_newest_first_and_what_is_past_the_retention_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let now = now_unix();
        let entry = |at, action, subject: &str| AuditEntry {
            at,
            action,
            who: "technician".into(),
            from: "192.0.2.7".into(),
            subject: subject.into(),
            detail: "people unblurred for 30 s".into(),
            said: Some(Said::new("audit.unblur", &[("seconds", &30)])),
        };
        {
            let mut history = History::open(&path, DAY).unwrap();
            history.record_audit(&entry(now - 2 * 86_400, AuditAction::Unblur, "old")).unwrap();
            history.record_audit(&entry(now - 60, AuditAction::Unblur, "cam-1")).unwrap();
            history.record_audit(&entry(now, AuditAction::ZonesSaved, "cam-2")).unwrap();
        }
        let history = History::open(&path, DAY).unwrap();
        let kept = history.recent_audit(10).unwrap();
        let seen: Vec<_> = kept.iter().map(|e| (e.action, e.subject.as_str())).collect();
        assert_eq!(seen, [(AuditAction::ZonesSaved, "cam-2"), (AuditAction::Unblur, "cam-1")]);
        assert_eq!((kept[1].from.as_str(), kept[1].at), ("192.0.2.7", now - 60));
        assert_eq!(kept[1].said, Some(Said::new("audit.unblur", &[("seconds", &30)])), "the detail's code is kept");
        assert_eq!(history.recent_audit(1).unwrap().len(), 1);
    }

    #[test]
    fn what_is_older_than_the_retention_is_dropped_but_an_open_unacknowledged_alert_stays() {
        let mut history = History::in_memory(DAY).unwrap();
        let now = now_unix();
        history.record_interval("hall", &row(now - 3 * 86_400, 1)).unwrap();
        history.record_interval("hall", &row(now - 3600, 2)).unwrap();
        let old_cleared = history.record_alert("camera_offline", "cam-1", "x", now - 3 * 86_400, false, None).unwrap();
        history.clear_alert(old_cleared.id, now - 3 * 86_400 + 60).unwrap();
        history.record_alert("camera_blinded", "cam-2", "y", now - 3 * 86_400, false, None).unwrap();
        history.prune(now).unwrap();
        assert_eq!(history.intervals("hall", 0, now).unwrap().len(), 1);
        let kinds: Vec<_> = history.recent_alerts(10).unwrap().into_iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["camera_blinded"]);
    }
}
