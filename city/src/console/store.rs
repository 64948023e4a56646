//! The console's incidents and acknowledgements, kept in the density layer's store (the same
//! SQLite file or PostgreSQL database, tables of their own), so a restart keeps them and many
//! consumers can share them. Idempotent and order-free like the density tables:
//! - `console_incidents (id)`: an incident written twice is written once (its id is derived from
//!   `(node, kind, seq)`, the same on every console); its end is set once, by the first end;
//! - `console_acks (node, kind, seq)`: the earliest acknowledgement of an incident wins, whatever
//!   order they arrive in; it may arrive before the incident (a retained one at start).

use lintel_wire::{AlertAck, UtcTime};
use serde::Serialize;

use super::state::{Change, Incident, IncidentEnd};
use crate::density::store::{Sql, SqlValue, StoreError, check_format, claim_format, connect};

/// Incidents per page of a list.
pub const PAGE_SIZE: usize = 100;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS console_incidents (
  id BIGINT PRIMARY KEY, site TEXT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL,
  subject TEXT NOT NULL, building TEXT, message TEXT NOT NULL, started_ms BIGINT NOT NULL,
  end_kind TEXT, end_seq BIGINT, ended_ms BIGINT, end_message TEXT);
CREATE INDEX IF NOT EXISTS console_incidents_by_start ON console_incidents (started_ms);
CREATE TABLE IF NOT EXISTS console_acks (
  node TEXT NOT NULL, kind TEXT NOT NULL, seq BIGINT NOT NULL, site TEXT NOT NULL, by_name TEXT NOT NULL,
  note TEXT, at_ms BIGINT NOT NULL, source TEXT,
  PRIMARY KEY (node, kind, seq));
";

/// Which incidents a list shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub site: Option<String>,
    /// `site/building`.
    pub building: Option<String>,
    pub kind: Option<String>,
    /// `Some(true)`: open only; `Some(false)`: ended only.
    pub active: Option<bool>,
    /// `Some(true)`: acknowledged only; `Some(false)`: not acknowledged only.
    pub acknowledged: Option<bool>,
}

/// Who acknowledged an incident, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Acknowledgement {
    pub by: String,
    pub note: Option<String>,
    pub at: UtcTime,
    pub source: Option<String>,
}

/// An incident as the lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IncidentRow {
    #[serde(flatten)]
    pub incident: Incident,
    pub acknowledged: Option<Acknowledgement>,
}

/// One page of a list, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IncidentPage {
    pub total: u64,
    /// 1-based.
    pub page: u64,
    pub pages: u64,
    pub incidents: Vec<IncidentRow>,
}

/// The format of the console's tables; bump it when an older Lintel could no longer read them.
pub const CONSOLE_FORMAT: u64 = 1;

/// The console's tables over a density store backend.
pub struct IncidentStore {
    sql: Box<dyn Sql>,
}

impl IncidentStore {
    /// Opens `url` (as `--store` names it) and creates the console's tables.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let mut sql = connect(url)?;
        claim_format(sql.as_mut(), "console", CONSOLE_FORMAT)?;
        sql.batch(SCHEMA)?;
        Ok(Self { sql })
    }

    /// Opens `url` to read (no tables created: a read replica refuses that).
    pub fn open_reader(url: &str) -> Result<Self, StoreError> {
        let mut sql = connect(url)?;
        check_format(sql.as_mut(), "console", CONSOLE_FORMAT)?;
        Ok(Self { sql })
    }

    /// Writes what the picture decided.
    pub fn record(&mut self, change: &Change) -> Result<(), StoreError> {
        match change {
            Change::Raised(i) => {
                let end = i.ended.as_ref();
                self.sql.execute(
                    "INSERT INTO console_incidents (id, site, node, seq, kind, subject, building, message, started_ms,
                       end_kind, end_seq, ended_ms, end_message)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING",
                    &[
                        i.id.into(),
                        i.site.as_str().into(),
                        i.node.as_str().into(),
                        i.seq.into(),
                        i.kind.as_str().into(),
                        i.subject.as_str().into(),
                        opt_text(i.building.as_deref()),
                        i.message.as_str().into(),
                        i.started_ms.into(),
                        opt_text(end.map(|e| e.kind.as_str())),
                        end.and_then(|e| e.seq).map_or(SqlValue::Null, SqlValue::from),
                        end.map_or(SqlValue::Null, |e| e.at_ms.into()),
                        opt_text(end.map(|e| e.message.as_str())),
                    ],
                )?;
            }
            Change::Ended { id, end } => {
                self.sql.execute(
                    "UPDATE console_incidents SET end_kind = $2, end_seq = $3, ended_ms = $4, end_message = $5
                     WHERE id = $1 AND ended_ms IS NULL",
                    &[
                        (*id).into(),
                        end.kind.as_str().into(),
                        end.seq.map_or(SqlValue::Null, SqlValue::from),
                        end.at_ms.into(),
                        end.message.as_str().into(),
                    ],
                )?;
            }
            Change::Acked(ack) => {
                self.acknowledge(ack)?;
            }
        }
        Ok(())
    }

    /// Keeps `ack` unless an earlier acknowledgement of its incident is kept; whether it is now
    /// the one kept.
    pub fn acknowledge(&mut self, ack: &AlertAck) -> Result<bool, StoreError> {
        let at_ms = ack.at.unix_seconds() * 1000;
        let changed = self.sql.execute(
            "INSERT INTO console_acks (node, kind, seq, site, by_name, note, at_ms, source)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (node, kind, seq) DO UPDATE SET site = excluded.site, by_name = excluded.by_name,
               note = excluded.note, at_ms = excluded.at_ms, source = excluded.source
             WHERE excluded.at_ms < console_acks.at_ms",
            &[
                ack.node.as_str().into(),
                ack.kind.as_str().into(),
                ack.seq.into(),
                ack.site.as_str().into(),
                ack.by.as_str().into(),
                opt_text(ack.note.as_deref()),
                at_ms.into(),
                opt_text(ack.source.as_deref()),
            ],
        )?;
        Ok(changed > 0)
    }

    /// The incidents not ended, for the picture after a restart.
    pub fn open_incidents(&mut self) -> Result<Vec<Incident>, StoreError> {
        let rows =
            self.sql.query(&format!("SELECT {COLUMNS} FROM console_incidents i WHERE i.ended_ms IS NULL"), &[])?;
        Ok(rows.iter().map(|r| incident_from(r)).collect())
    }

    /// One incident and its acknowledgement.
    pub fn incident(&mut self, id: i64) -> Result<Option<IncidentRow>, StoreError> {
        let rows = self.sql.query(
            &format!("SELECT {COLUMNS}, {ACK_COLUMNS} FROM console_incidents i {ACK_JOIN} WHERE i.id = $1"),
            &[id.into()],
        )?;
        Ok(rows.first().map(|r| row_from(r)))
    }

    /// Page `page` (1-based) of the incidents that pass `filter`, newest first.
    pub fn list(&mut self, filter: &Filter, page: u64) -> Result<IncidentPage, StoreError> {
        let mut conditions = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        let mut bind = |condition: &str, value: &str, params: &mut Vec<SqlValue>| {
            params.push(value.into());
            conditions.push(condition.replace('?', &format!("${}", params.len())));
        };
        if let Some(site) = &filter.site {
            bind("i.site = ?", site, &mut params);
        }
        if let Some(building) = &filter.building {
            bind("i.building = ?", building, &mut params);
        }
        if let Some(kind) = &filter.kind {
            bind("i.kind = ?", kind, &mut params);
        }
        match filter.active {
            Some(true) => conditions.push("i.ended_ms IS NULL".into()),
            Some(false) => conditions.push("i.ended_ms IS NOT NULL".into()),
            None => {}
        }
        match filter.acknowledged {
            Some(true) => conditions.push("a.by_name IS NOT NULL".into()),
            Some(false) => conditions.push("a.by_name IS NULL".into()),
            None => {}
        }
        let filter_sql =
            if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        let total = self
            .sql
            .query(&format!("SELECT COUNT(*) FROM console_incidents i {ACK_JOIN} {filter_sql}"), &params)?
            .first()
            .and_then(|r| r.first())
            .map_or(0, int) as u64;
        let page = page.max(1);
        let offset = (page - 1).saturating_mul(PAGE_SIZE as u64);
        let rows = self.sql.query(
            &format!(
                "SELECT {COLUMNS}, {ACK_COLUMNS} FROM console_incidents i {ACK_JOIN} {filter_sql}
                 ORDER BY i.started_ms DESC, i.id DESC LIMIT {PAGE_SIZE} OFFSET {}",
                offset.min(i64::MAX as u64)
            ),
            &params,
        )?;
        Ok(IncidentPage {
            total,
            page,
            pages: total.div_ceil(PAGE_SIZE as u64),
            incidents: rows.iter().map(|r| row_from(r)).collect(),
        })
    }

    /// Removes incidents that ended before `before_ms`, and acknowledgements whose incident is
    /// gone and that are older than that; how many rows went.
    pub fn sweep(&mut self, before_ms: i64) -> Result<u64, StoreError> {
        let incidents = self.sql.execute(
            "DELETE FROM console_incidents WHERE ended_ms IS NOT NULL AND ended_ms < $1",
            &[before_ms.into()],
        )?;
        let acks = self.sql.execute(
            "DELETE FROM console_acks WHERE at_ms < $1 AND NOT EXISTS (SELECT 1 FROM console_incidents i
               WHERE i.node = console_acks.node AND i.kind = console_acks.kind AND i.seq = console_acks.seq)",
            &[before_ms.into()],
        )?;
        Ok(incidents + acks)
    }
}

const COLUMNS: &str = "i.id, i.site, i.node, i.seq, i.kind, i.subject, i.building, i.message, i.started_ms, \
                       i.end_kind, i.end_seq, i.ended_ms, i.end_message";
const ACK_COLUMNS: &str = "a.by_name, a.note, a.at_ms, a.source";
const ACK_JOIN: &str = "LEFT JOIN console_acks a ON a.node = i.node AND a.kind = i.kind AND a.seq = i.seq";

/// Absent text is written as empty text, never as NULL: the PostgreSQL client binds NULL as an
/// integer, which a TEXT column refuses. (No optional text here is ever empty when present.)
fn opt_text(value: Option<&str>) -> SqlValue {
    SqlValue::from(value.unwrap_or(""))
}

fn int(value: &SqlValue) -> i64 {
    match value {
        SqlValue::Int(i) => *i,
        _ => 0,
    }
}

fn text(value: &SqlValue) -> String {
    match value {
        SqlValue::Text(t) => t.clone(),
        _ => String::new(),
    }
}

fn opt(value: &SqlValue) -> Option<String> {
    match value {
        SqlValue::Text(t) if !t.is_empty() => Some(t.clone()),
        _ => None,
    }
}

fn incident_from(r: &[SqlValue]) -> Incident {
    let ended = match &r[11] {
        SqlValue::Int(at_ms) => Some(IncidentEnd {
            kind: text(&r[9]),
            seq: match r[10] {
                SqlValue::Int(s) => Some(s as u64),
                _ => None,
            },
            at_ms: *at_ms,
            message: text(&r[12]),
        }),
        _ => None,
    };
    Incident {
        id: int(&r[0]),
        site: text(&r[1]),
        node: text(&r[2]),
        seq: int(&r[3]) as u64,
        kind: text(&r[4]),
        subject: text(&r[5]),
        building: opt(&r[6]),
        message: text(&r[7]),
        started_ms: int(&r[8]),
        ended,
    }
}

fn row_from(r: &[SqlValue]) -> IncidentRow {
    let acknowledged = opt(&r[13]).map(|by| Acknowledgement {
        by,
        note: opt(&r[14]),
        at: UtcTime::from_unix_seconds(int(&r[15]).div_euclid(1000)),
        source: opt(&r[16]),
    });
    IncidentRow { incident: incident_from(r), acknowledged }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(node: &str, kind: &str, seq: u64, started_ms: i64) -> Incident {
        Incident {
            id: super::super::state::incident_id(node, kind, seq),
            site: "s1".into(),
            node: node.into(),
            seq,
            kind: kind.into(),
            subject: "cam-1".into(),
            building: Some("s1/hall".into()),
            message: "no frame".into(),
            started_ms,
            ended: None,
        }
    }

    fn ack(node: &str, kind: &str, seq: u64, by: &str, at_s: i64) -> AlertAck {
        AlertAck {
            site: "s1".into(),
            node: node.into(),
            kind: kind.into(),
            seq,
            subject: None,
            by: by.into(),
            note: Some("on it".into()),
            at: UtcTime::from_unix_seconds(at_s),
            source: None,
        }
    }

    #[test]
    fn incidents_end_once_lists_filter_and_page_and_the_earliest_ack_wins() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("c.db").display());
        let mut store = IncidentStore::open(&url).unwrap();
        for seq in 1..=150u64 {
            let kind = if seq % 2 == 0 { "camera_offline" } else { "camera_moved" };
            store.record(&Change::Raised(incident("n1", kind, seq, 1_000 * seq as i64))).unwrap();
        }
        // Written twice: once.
        store.record(&Change::Raised(incident("n1", "camera_moved", 1, 1_000))).unwrap();
        let first = incident("n1", "camera_moved", 1, 1_000);
        let end =
            |at_ms| IncidentEnd { kind: "camera_view_restored".into(), seq: Some(200), at_ms, message: "".into() };
        store.record(&Change::Ended { id: first.id, end: end(5_000) }).unwrap();
        store.record(&Change::Ended { id: first.id, end: end(9_000) }).unwrap();
        assert_eq!(store.incident(first.id).unwrap().unwrap().incident.ended.unwrap().at_ms, 5_000);
        let all = store.list(&Filter::default(), 1).unwrap();
        assert_eq!((all.total, all.pages, all.incidents.len()), (150, 2, 100));
        assert_eq!(all.incidents[0].incident.seq, 150, "newest first");
        assert_eq!(store.list(&Filter::default(), 2).unwrap().incidents.len(), 50);
        let active = Filter { active: Some(true), ..Filter::default() };
        assert_eq!(store.list(&active, 1).unwrap().total, 149);
        let kind = Filter { kind: Some("camera_offline".into()), ..Filter::default() };
        assert_eq!(store.list(&kind, 1).unwrap().total, 75);
        let elsewhere = Filter { building: Some("s1/other".into()), ..Filter::default() };
        assert_eq!(store.list(&elsewhere, 1).unwrap().total, 0);
        // The later ack arrives first; the earlier one replaces it; a yet later one does not.
        assert!(store.acknowledge(&ack("n1", "camera_offline", 2, "Late", 200)).unwrap());
        assert!(store.acknowledge(&ack("n1", "camera_offline", 2, "Early", 100)).unwrap());
        assert!(!store.acknowledge(&ack("n1", "camera_offline", 2, "Later", 300)).unwrap());
        let acked = Filter { acknowledged: Some(true), ..Filter::default() };
        let page = store.list(&acked, 1).unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.incidents[0].acknowledged.as_ref().unwrap().by, "Early");
        assert_eq!(store.list(&Filter { acknowledged: Some(false), ..Filter::default() }, 1).unwrap().total, 149);
        // A restart keeps them all.
        drop(store);
        let mut store = IncidentStore::open(&url).unwrap();
        assert_eq!(store.open_incidents().unwrap().len(), 149);
        assert_eq!(store.sweep(6_000).unwrap(), 1, "the one ended before 6 s");
    }
}
