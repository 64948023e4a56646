//! Where the density layer keeps what it heard: SQLite on one machine ([`sqlite`]), PostgreSQL
//! for many consumers sharing the load ([`postgres`]). One schema and one set of statements for
//! both, written once in [`Recorder`] over the two backends' small [`Sql`] face.
//!
//! Idempotent and order-free, so any number of consumers may write any message any number of
//! times in any order and the store ends the same:
//! - `messages (node, seq)`: a message seen twice is a duplicate, whoever saw it first;
//! - `intervals (building, start_s)`: one row per building and interval (the higher `seq` wins
//!   if two messages claim the same interval);
//! - `latest (building)`: replaced only by data of a later time, so a late message never
//!   overwrites a newer occupancy;
//! - `hourly (building, hour_s)`: roll-ups, added to when an interval row is first written
//!   (sums commute, so consumers need no lock between them).
//!
//! Every message, or every batch of messages ([`Recorder::record_batch`]), is one transaction: a
//! consumer killed half-way leaves nothing half-written.
//!
//! On PostgreSQL `intervals` and `hourly` are partitioned by time, and retention drops whole
//! partitions ([`partitions`]); SQLite keeps plain tables and deletes rows.

pub mod batch;
pub mod partitions;
pub mod postgres;
pub mod sqlite;

pub use batch::Write;

use lintel_wire::{Counts, Occupancy};

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0:?} is not a store: use sqlite:PATH or postgres://…")]
    BadUrl(String),
    #[error("SQLite {path}: {reason}")]
    Sqlite { path: String, reason: String },
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// The tables were written by a newer Lintel; nothing was changed.
    #[error(
        "the {part} tables are format {found}, written by a newer Lintel (this one reads format {known} at most); left untouched: install the newer Lintel again"
    )]
    NewerFormat { part: &'static str, found: u64, known: u64 },
    /// The store refused this message's data for good (a value it cannot hold, a constraint):
    /// trying it again cannot help, so it is counted and dropped, never retried.
    #[error("{store} refused the data: {reason}")]
    Refused { store: &'static str, reason: String },
}

impl StoreError {
    /// Whether the data itself was refused (permanent), rather than the store failing (transient:
    /// down, busy, disk full), which is worth trying again.
    pub fn is_refused(&self) -> bool {
        matches!(self, StoreError::Refused { .. })
    }
}

/// A value bound to or read from a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Int(i64),
    Text(String),
    Null,
}

impl SqlValue {
    fn int(&self) -> i64 {
        match self {
            SqlValue::Int(i) => *i,
            _ => 0,
        }
    }
    fn opt_int(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            _ => None,
        }
    }
    fn text(&self) -> String {
        match self {
            SqlValue::Text(t) => t.clone(),
            _ => String::new(),
        }
    }
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}
impl From<u64> for SqlValue {
    fn from(v: u64) -> Self {
        SqlValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_string())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

/// The little a backend must do. Statements use `$1`, `$2`… (SQLite's backend rewrites them to
/// `?1`…); values are integers, text or NULL.
pub trait Sql: Send {
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError>;
    /// Several statements without parameters (schema, BEGIN, COMMIT).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Starts a transaction that will write.
    fn begin(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN")
    }
    /// PostgreSQL (whose history tables are partitioned by time: [`partitions`]).
    fn is_postgres(&self) -> bool {
        false
    }
}

/// The tables; the same text works in SQLite and PostgreSQL. Times are Unix seconds.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
  node TEXT NOT NULL, seq BIGINT NOT NULL, building TEXT NOT NULL, at_s BIGINT NOT NULL,
  PRIMARY KEY (node, seq));
CREATE TABLE IF NOT EXISTS intervals (
  building TEXT NOT NULL, start_s BIGINT NOT NULL, end_s BIGINT NOT NULL, node TEXT NOT NULL,
  seq BIGINT NOT NULL, entries BIGINT NOT NULL, exits BIGINT NOT NULL, occupancy BIGINT NOT NULL,
  PRIMARY KEY (building, start_s));
CREATE INDEX IF NOT EXISTS intervals_by_end ON intervals (end_s);
CREATE TABLE IF NOT EXISTS latest (
  building TEXT PRIMARY KEY, node TEXT NOT NULL, seq BIGINT NOT NULL, at_s BIGINT NOT NULL,
  occupancy BIGINT NOT NULL, start_s BIGINT, end_s BIGINT, entries BIGINT, exits BIGINT);
CREATE TABLE IF NOT EXISTS hourly (
  building TEXT NOT NULL, hour_s BIGINT NOT NULL, entries BIGINT NOT NULL, exits BIGINT NOT NULL,
  occupancy_sum BIGINT NOT NULL, occupancy_max BIGINT NOT NULL, samples BIGINT NOT NULL,
  PRIMARY KEY (building, hour_s));
CREATE TABLE IF NOT EXISTS nodes (node TEXT PRIMARY KEY, max_seq BIGINT NOT NULL);
";

/// A building's newest state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latest {
    /// `site/building`.
    pub building: String,
    pub node: String,
    pub seq: u64,
    /// When the occupancy was true: the end of its interval, or an occupancy message's `at`.
    pub at_s: i64,
    pub occupancy: u64,
    /// The last interval's bounds, entries and exits, when the newest data was a counts message.
    pub interval: Option<LastInterval>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastInterval {
    pub start_s: i64,
    pub end_s: i64,
    pub entries: u64,
    pub exits: u64,
}

/// What writing one message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// `(node, seq)` was already in the store: nothing changed.
    Duplicate,
    /// Written.
    New {
        /// The node had already sent a higher `seq` (a late message, or a node whose `seq` went back).
        seq_backwards: bool,
        /// The building's newest state before this message.
        previous: Option<Latest>,
        /// Whether this message is now the building's newest state.
        became_latest: bool,
    },
}

/// One point of a time series.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HistoryPoint {
    pub start_s: i64,
    pub end_s: i64,
    /// Sum over the buildings that reported, of their occupancy at the end of an interval, or
    /// of their mean occupancy over an hour or a day.
    pub occupancy: f64,
    /// Sum of the buildings' highest occupancy in the bucket (an upper bound of the peak).
    pub occupancy_max: u64,
    pub entries: u64,
    pub exits: u64,
    /// How many buildings reported in the bucket.
    pub buildings: u64,
}

/// The resolution of a history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The intervals as the nodes published them.
    Interval,
    Hour,
    Day,
}

/// How long data is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Intervals (and the `(node, seq)` record of messages).
    pub raw_s: i64,
    /// Hourly roll-ups (daily ones are made from them).
    pub hourly_s: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self { raw_s: 7 * 86_400, hourly_s: 400 * 86_400 }
    }
}

/// Everything the store holds about the data, sorted, to compare two stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreDump {
    pub messages: Vec<(String, u64, String)>,
    pub intervals: Vec<Vec<String>>,
    pub latest: Vec<Latest>,
    pub hourly: Vec<Vec<String>>,
}

/// The density store over any backend.
pub struct Recorder {
    sql: Box<dyn Sql>,
}

/// Opens `sqlite:PATH` or `postgres://…` (or `postgresql://…`) and creates the tables.
pub fn open(url: &str) -> Result<Recorder, StoreError> {
    Recorder::new(connect(url)?)
}

/// Opens a store only to read it (the tables are not created: a PostgreSQL read replica
/// refuses that), for a web-only instance.
pub fn open_reader(url: &str) -> Result<Recorder, StoreError> {
    let mut sql = connect(url)?;
    check_format(sql.as_mut(), "density", DENSITY_FORMAT)?;
    Ok(Recorder { sql })
}

/// The backend of `url` (`sqlite:PATH`, `postgres://…`), no tables created; the console's store
/// ([`crate::console::store`]) keeps its own tables beside these.
pub fn connect(url: &str) -> Result<Box<dyn Sql>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        Ok(Box::new(sqlite::SqliteSql::open(path)?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(postgres::PostgresSql::connect(url)?))
    } else {
        Err(StoreError::BadUrl(url.to_string()))
    }
}

/// The format of the density tables; bump it when an older Lintel could no longer read them.
pub const DENSITY_FORMAT: u64 = 1;

/// Claims the store for `part` at format `known`: refuses (changing nothing of that part) when a
/// newer Lintel recorded a higher format, and records `known` where none or a lower one is.
/// Call it before creating or migrating the part's tables.
pub fn claim_format(sql: &mut dyn Sql, part: &'static str, known: u64) -> Result<(), StoreError> {
    sql.batch("CREATE TABLE IF NOT EXISTS lintel_format (part TEXT PRIMARY KEY, version BIGINT NOT NULL)")?;
    match recorded_format(sql, part)? {
        Some(found) if found > known => Err(StoreError::NewerFormat { part, found, known }),
        Some(found) if found == known => Ok(()),
        _ => {
            sql.execute(
                "INSERT INTO lintel_format (part, version) VALUES ($1, $2)
                 ON CONFLICT (part) DO UPDATE SET version = excluded.version",
                &[part.into(), known.into()],
            )?;
            Ok(())
        }
    }
}

/// For a reader (which may not create tables): refuses a newer format; a store without the
/// format table was written before formats were recorded.
pub fn check_format(sql: &mut dyn Sql, part: &'static str, known: u64) -> Result<(), StoreError> {
    match recorded_format(sql, part) {
        Ok(Some(found)) if found > known => Err(StoreError::NewerFormat { part, found, known }),
        _ => Ok(()),
    }
}

fn recorded_format(sql: &mut dyn Sql, part: &str) -> Result<Option<u64>, StoreError> {
    let rows = sql.query("SELECT version FROM lintel_format WHERE part = $1", &[part.into()])?;
    Ok(rows.first().and_then(|row| row.first()).map(|v| v.int().max(0) as u64))
}

impl Recorder {
    pub fn new(mut sql: Box<dyn Sql>) -> Result<Self, StoreError> {
        claim_format(sql.as_mut(), "density", DENSITY_FORMAT)?;
        sql.batch(SCHEMA)?;
        if sql.is_postgres() {
            partitions::prepare(sql.as_mut(), lintel_wire::UtcTime::now().unix_seconds())?;
        }
        Ok(Self { sql })
    }

    fn transaction<T>(&mut self, work: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.sql.begin()?;
        match work(self.sql.as_mut()) {
            Ok(value) => {
                self.sql.batch("COMMIT")?;
                Ok(value)
            }
            Err(error) => {
                let _ = self.sql.batch("ROLLBACK");
                Err(error)
            }
        }
    }

    /// Records a counts message of building `key` (`site/building`).
    pub fn record_counts(&mut self, key: &str, counts: &Counts) -> Result<Recorded, StoreError> {
        let (start, end) = (counts.interval.start.unix_seconds(), counts.interval.end.unix_seconds());
        let key = key.to_string();
        let c = counts.clone();
        self.transaction(move |sql| {
            let Some(seq_backwards) = claim(sql, &c.node, c.seq, &key, end)? else {
                return Ok(Recorded::Duplicate);
            };
            let previous = latest_of(sql, &key)?;
            // The interval: first writer inserts; a second message for the same interval wins
            // only with a higher seq, and the roll-up moves by the difference.
            let old = sql.query(
                "SELECT seq, entries, exits, occupancy FROM intervals WHERE building = $1 AND start_s = $2",
                &[key.as_str().into(), start.into()],
            )?;
            let hour = start - start.rem_euclid(3600);
            let (de, dx, docc, dsamples) = match old.first() {
                None => {
                    sql.execute(
                        "INSERT INTO intervals (building, start_s, end_s, node, seq, entries, exits, occupancy)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (building, start_s) DO NOTHING",
                        &[
                            key.as_str().into(),
                            start.into(),
                            end.into(),
                            c.node.as_str().into(),
                            c.seq.into(),
                            c.entries.into(),
                            c.exits.into(),
                            c.occupancy.into(),
                        ],
                    )?;
                    (c.entries as i64, c.exits as i64, c.occupancy as i64, 1i64)
                }
                Some(row) if (row[0].int() as u64) < c.seq => {
                    sql.execute(
                        "UPDATE intervals SET end_s = $3, node = $4, seq = $5, entries = $6, exits = $7, occupancy = $8
                         WHERE building = $1 AND start_s = $2",
                        &[
                            key.as_str().into(),
                            start.into(),
                            end.into(),
                            c.node.as_str().into(),
                            c.seq.into(),
                            c.entries.into(),
                            c.exits.into(),
                            c.occupancy.into(),
                        ],
                    )?;
                    (c.entries as i64 - row[1].int(), c.exits as i64 - row[2].int(), c.occupancy as i64 - row[3].int(), 0)
                }
                Some(_) => (0, 0, 0, 0),
            };
            if (de, dx, docc, dsamples) != (0, 0, 0, 0) {
                sql.execute(
                    "INSERT INTO hourly (building, hour_s, entries, exits, occupancy_sum, occupancy_max, samples)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (building, hour_s) DO UPDATE SET entries = hourly.entries + excluded.entries,
                       exits = hourly.exits + excluded.exits, occupancy_sum = hourly.occupancy_sum + excluded.occupancy_sum,
                       occupancy_max = CASE WHEN excluded.occupancy_max > hourly.occupancy_max
                                       THEN excluded.occupancy_max ELSE hourly.occupancy_max END,
                       samples = hourly.samples + excluded.samples",
                    &[
                        key.as_str().into(),
                        hour.into(),
                        de.into(),
                        dx.into(),
                        docc.into(),
                        c.occupancy.into(),
                        dsamples.into(),
                    ],
                )?;
            }
            let became_latest = set_latest(
                sql,
                &Latest {
                    building: key.clone(),
                    node: c.node.clone(),
                    seq: c.seq,
                    at_s: end,
                    occupancy: c.occupancy,
                    interval: Some(LastInterval { start_s: start, end_s: end, entries: c.entries, exits: c.exits }),
                },
                previous.as_ref(),
            )?;
            Ok(Recorded::New { seq_backwards, previous, became_latest })
        })
    }

    /// Records an occupancy message (no interval: only the building's newest state may change).
    pub fn record_occupancy(&mut self, key: &str, occupancy: &Occupancy) -> Result<Recorded, StoreError> {
        let key = key.to_string();
        let o = occupancy.clone();
        self.transaction(move |sql| {
            let at = o.at.unix_seconds();
            let Some(seq_backwards) = claim(sql, &o.node, o.seq, &key, at)? else {
                return Ok(Recorded::Duplicate);
            };
            let previous = latest_of(sql, &key)?;
            let became_latest = set_latest(
                sql,
                &Latest {
                    building: key.clone(),
                    node: o.node.clone(),
                    seq: o.seq,
                    at_s: at,
                    occupancy: o.occupancy,
                    interval: None,
                },
                previous.as_ref(),
            )?;
            Ok(Recorded::New { seq_backwards, previous, became_latest })
        })
    }

    /// Records many messages in one transaction ([`batch`]): one [`Recorded`] per write, the
    /// same as writing them one at a time in this order. All or nothing: on any error nothing is
    /// written; a [`StoreError::Refused`] means some message's data cannot be stored, and the
    /// caller should write the batch one message at a time to refuse that one alone.
    pub fn record_batch(&mut self, writes: &[Write]) -> Result<Vec<Recorded>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        self.transaction(|sql| batch::record(sql, writes))
    }

    /// Every building's newest state.
    pub fn latest(&mut self) -> Result<Vec<Latest>, StoreError> {
        let rows = self.sql.query(
            "SELECT building, node, seq, at_s, occupancy, start_s, end_s, entries, exits FROM latest ORDER BY building",
            &[],
        )?;
        Ok(rows.iter().map(|r| latest_from_row(r)).collect())
    }

    /// Every building's state as of `at_s`: its last interval that ended by then (from the
    /// intervals still kept).
    pub fn as_of(&mut self, at_s: i64) -> Result<Vec<Latest>, StoreError> {
        let rows = self.sql.query(
            "SELECT i.building, i.node, i.seq, i.end_s, i.occupancy, i.start_s, i.end_s, i.entries, i.exits
             FROM intervals i
             JOIN (SELECT building, MAX(start_s) AS start_s FROM intervals WHERE end_s <= $1 GROUP BY building) m
               ON i.building = m.building AND i.start_s = m.start_s
             ORDER BY i.building",
            &[at_s.into()],
        )?;
        Ok(rows.iter().map(|r| latest_from_row(r)).collect())
    }

    /// The summed time series of `buildings` between `from_s` (inclusive) and `to_s` (exclusive),
    /// at most `limit` points.
    pub fn history(
        &mut self,
        buildings: &[String],
        from_s: i64,
        to_s: i64,
        step: Step,
        limit: usize,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        if buildings.is_empty() {
            return Ok(Vec::new());
        }
        // A bucket's occupancy is the sum over buildings of each one's value (intervals) or mean
        // (hours, days). Building keys are bound one by one: `IN ($3, $4, …)`.
        let list = (0..buildings.len()).map(|i| format!("${}", i + 4)).collect::<Vec<_>>().join(", ");
        let sql = match step {
            Step::Interval => format!(
                "SELECT start_s, MAX(end_s), CAST(SUM(occupancy * 1000) AS BIGINT), CAST(SUM(occupancy) AS BIGINT), CAST(SUM(entries) AS BIGINT), CAST(SUM(exits) AS BIGINT), COUNT(*), 1
                 FROM intervals WHERE start_s >= $1 AND start_s < $2 AND building IN ({list})
                 GROUP BY start_s ORDER BY start_s LIMIT $3"
            ),
            Step::Hour => format!(
                "SELECT hour_s, hour_s + 3600, CAST(SUM(occupancy_sum * 1000 / samples) AS BIGINT), CAST(SUM(occupancy_max) AS BIGINT), CAST(SUM(entries) AS BIGINT), CAST(SUM(exits) AS BIGINT),
                   COUNT(*), CAST(SUM(samples) AS BIGINT)
                 FROM hourly WHERE hour_s >= $1 AND hour_s < $2 AND building IN ({list})
                 GROUP BY hour_s ORDER BY hour_s LIMIT $3"
            ),
            // Days from the hours: per building and day first (mean over its samples), then summed.
            Step::Day => format!(
                "SELECT day_s, day_s + 86400, CAST(SUM(occupancy_sum * 1000 / samples) AS BIGINT), CAST(SUM(occupancy_max) AS BIGINT), CAST(SUM(entries) AS BIGINT), CAST(SUM(exits) AS BIGINT),
                   COUNT(*), CAST(SUM(samples) AS BIGINT)
                 FROM (SELECT building, hour_s - (hour_s % 86400) AS day_s, CAST(SUM(occupancy_sum) AS BIGINT) AS occupancy_sum,
                         MAX(occupancy_max) AS occupancy_max, CAST(SUM(entries) AS BIGINT) AS entries, CAST(SUM(exits) AS BIGINT) AS exits,
                         CAST(SUM(samples) AS BIGINT) AS samples
                       FROM hourly WHERE hour_s >= $1 AND hour_s < $2 AND building IN ({list})
                       GROUP BY building, hour_s - (hour_s % 86400)) d
                 GROUP BY day_s ORDER BY day_s LIMIT $3"
            ),
        };
        let mut params: Vec<SqlValue> = vec![from_s.into(), to_s.into(), (limit as i64).into()];
        params.extend(buildings.iter().map(|b| SqlValue::from(b.as_str())));
        let rows = self.sql.query(&sql, &params)?;
        Ok(rows
            .iter()
            .map(|r| {
                let buildings = r[6].int().max(0) as u64;
                // Sums of the buildings' occupancy (intervals) or of their mean occupancy (hours,
                // days), in thousandths so both databases divide in integers.
                let occupancy = r[2].int() as f64 / 1000.0;
                HistoryPoint {
                    start_s: r[0].int(),
                    end_s: r[1].int(),
                    occupancy,
                    occupancy_max: r[3].int().max(0) as u64,
                    entries: r[4].int().max(0) as u64,
                    exits: r[5].int().max(0) as u64,
                    buildings,
                }
            })
            .collect())
    }

    /// Forgets what is older than the retention allows; the rows removed. On PostgreSQL the
    /// history's partitions past the retention are dropped whole ([`partitions::sweep`]).
    pub fn sweep(&mut self, now_s: i64, retention: Retention) -> Result<u64, StoreError> {
        if self.sql.is_postgres() {
            return partitions::sweep(self.sql.as_mut(), now_s, retention);
        }
        let raw = now_s - retention.raw_s;
        let hourly = now_s - retention.hourly_s;
        self.transaction(|sql| {
            let mut removed = sql.execute("DELETE FROM intervals WHERE end_s < $1", &[raw.into()])?;
            removed += sql.execute("DELETE FROM messages WHERE at_s < $1", &[raw.into()])?;
            removed += sql.execute("DELETE FROM hourly WHERE hour_s + 3600 < $1", &[hourly.into()])?;
            Ok(removed)
        })
    }

    /// The whole content, sorted, for comparing two stores.
    pub fn dump(&mut self) -> Result<StoreDump, StoreError> {
        let text_rows = |rows: Vec<Vec<SqlValue>>| -> Vec<Vec<String>> {
            rows.into_iter()
                .map(|r| {
                    r.into_iter()
                        .map(|v| match v {
                            SqlValue::Int(i) => i.to_string(),
                            SqlValue::Text(t) => t,
                            SqlValue::Null => "NULL".into(),
                        })
                        .collect()
                })
                .collect()
        };
        let messages = self
            .sql
            .query("SELECT node, seq, building FROM messages ORDER BY node, seq", &[])?
            .into_iter()
            .map(|r| (r[0].text(), r[1].int() as u64, r[2].text()))
            .collect();
        let intervals = text_rows(self.sql.query(
            "SELECT building, start_s, end_s, node, seq, entries, exits, occupancy FROM intervals ORDER BY building, start_s",
            &[],
        )?);
        let hourly = text_rows(self.sql.query(
            "SELECT building, hour_s, entries, exits, occupancy_sum, occupancy_max, samples FROM hourly
             ORDER BY building, hour_s",
            &[],
        )?);
        Ok(StoreDump { messages, intervals, latest: self.latest()?, hourly })
    }
}

/// Claims `(node, seq)`: `None` if it was already there (a duplicate), else whether the node had
/// already sent a higher `seq`.
fn claim(sql: &mut dyn Sql, node: &str, seq: u64, building: &str, at_s: i64) -> Result<Option<bool>, StoreError> {
    let inserted = sql.execute(
        "INSERT INTO messages (node, seq, building, at_s) VALUES ($1, $2, $3, $4) ON CONFLICT (node, seq) DO NOTHING",
        &[node.into(), seq.into(), building.into(), at_s.into()],
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    let max = sql.query("SELECT max_seq FROM nodes WHERE node = $1", &[node.into()])?;
    let backwards = max.first().is_some_and(|r| r[0].int() as u64 > seq);
    sql.execute(
        "INSERT INTO nodes (node, max_seq) VALUES ($1, $2)
         ON CONFLICT (node) DO UPDATE SET max_seq = CASE WHEN excluded.max_seq > nodes.max_seq
                                                    THEN excluded.max_seq ELSE nodes.max_seq END",
        &[node.into(), seq.into()],
    )?;
    Ok(Some(backwards))
}

fn latest_of(sql: &mut dyn Sql, building: &str) -> Result<Option<Latest>, StoreError> {
    let rows = sql.query(
        "SELECT building, node, seq, at_s, occupancy, start_s, end_s, entries, exits FROM latest WHERE building = $1",
        &[building.into()],
    )?;
    Ok(rows.first().map(|r| latest_from_row(r)))
}

/// The upsert of `latest` rows (`{values}`: the rows, 9 values each): a row's occupancy is
/// replaced only by data of a later time (or, at the same time, a node and seq that sort after
/// it), its last interval only by one that ends later; so any order of upserts ends the same.
const LATEST_UPSERT: &str = "INSERT INTO latest (building, node, seq, at_s, occupancy, start_s, end_s, entries, exits)
 VALUES {values}
 ON CONFLICT (building) DO UPDATE SET
   node = CASE WHEN (excluded.at_s > latest.at_s OR (excluded.at_s = latest.at_s AND (excluded.node > latest.node
     OR (excluded.node = latest.node AND excluded.seq > latest.seq)))) THEN excluded.node ELSE latest.node END,
   seq = CASE WHEN (excluded.at_s > latest.at_s OR (excluded.at_s = latest.at_s AND (excluded.node > latest.node
     OR (excluded.node = latest.node AND excluded.seq > latest.seq)))) THEN excluded.seq ELSE latest.seq END,
   at_s = CASE WHEN (excluded.at_s > latest.at_s OR (excluded.at_s = latest.at_s AND (excluded.node > latest.node
     OR (excluded.node = latest.node AND excluded.seq > latest.seq)))) THEN excluded.at_s ELSE latest.at_s END,
   occupancy = CASE WHEN (excluded.at_s > latest.at_s OR (excluded.at_s = latest.at_s AND (excluded.node > latest.node
     OR (excluded.node = latest.node AND excluded.seq > latest.seq)))) THEN excluded.occupancy ELSE latest.occupancy END,
   start_s = CASE WHEN (excluded.end_s IS NOT NULL AND (latest.end_s IS NULL OR excluded.end_s > latest.end_s))
     THEN excluded.start_s ELSE latest.start_s END,
   end_s = CASE WHEN (excluded.end_s IS NOT NULL AND (latest.end_s IS NULL OR excluded.end_s > latest.end_s))
     THEN excluded.end_s ELSE latest.end_s END,
   entries = CASE WHEN (excluded.end_s IS NOT NULL AND (latest.end_s IS NULL OR excluded.end_s > latest.end_s))
     THEN excluded.entries ELSE latest.entries END,
   exits = CASE WHEN (excluded.end_s IS NOT NULL AND (latest.end_s IS NULL OR excluded.end_s > latest.end_s))
     THEN excluded.exits ELSE latest.exits END";

/// The nine values of a building's state, in the order of [`LATEST_UPSERT`]'s columns.
fn latest_row(l: &Latest) -> [SqlValue; 9] {
    let opt = |v: Option<i64>| v.map(SqlValue::Int).unwrap_or(SqlValue::Null);
    let i = l.interval;
    [
        l.building.as_str().into(),
        l.node.as_str().into(),
        l.seq.into(),
        l.at_s.into(),
        l.occupancy.into(),
        opt(i.map(|i| i.start_s)),
        opt(i.map(|i| i.end_s)),
        opt(i.map(|i| i.entries as i64)),
        opt(i.map(|i| i.exits as i64)),
    ]
}

/// Makes `new` the building's newest state if its time is later (or, at the same time, its
/// node and seq sort after the current one's, so every order of arrival ends the same). The last
/// interval's fields move on their own, to the interval that ends last: an occupancy message
/// (no interval) at the same time as a counts message must not hide that interval's entries and
/// exits, whichever of the two arrives first. Whether `new` became the newest state.
fn set_latest(sql: &mut dyn Sql, new: &Latest, previous: Option<&Latest>) -> Result<bool, StoreError> {
    static STATEMENT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| LATEST_UPSERT.replace("{values}", "($1, $2, $3, $4, $5, $6, $7, $8, $9)"));
    sql.execute(STATEMENT.as_str(), &latest_row(new))?;
    Ok(previous.is_none_or(|p| (new.at_s, new.node.as_str(), new.seq) > (p.at_s, p.node.as_str(), p.seq)))
}

fn latest_from_row(r: &[SqlValue]) -> Latest {
    let interval = match (r[5].opt_int(), r[6].opt_int()) {
        (Some(start_s), Some(end_s)) => {
            Some(LastInterval { start_s, end_s, entries: r[7].int().max(0) as u64, exits: r[8].int().max(0) as u64 })
        }
        _ => None,
    };
    Latest {
        building: r[0].text(),
        node: r[1].text(),
        seq: r[2].int().max(0) as u64,
        at_s: r[3].int(),
        occupancy: r[4].int().max(0) as u64,
        interval,
    }
}
