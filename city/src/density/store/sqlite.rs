//! The store in one SQLite file: the default for one machine.

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ToSql};

use super::{Sql, SqlValue, StoreError};

pub struct SqliteSql {
    path: String,
    connection: Connection,
}

impl SqliteSql {
    pub fn open(path: &str) -> Result<Self, StoreError> {
        let error = |e: rusqlite::Error| StoreError::Sqlite { path: path.to_string(), reason: e.to_string() };
        let connection = Connection::open(path).map_err(error)?;
        // WAL: the web server's reads do not wait for the consumer's writes. NORMAL sync is
        // safe with WAL (a power cut loses at most the last transactions, never corrupts).
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;")
            .map_err(error)?;
        Ok(Self { path: path.to_string(), connection })
    }

    fn error(&self, e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        let refused = match &e {
            rusqlite::Error::SqliteFailure(failure, _) => {
                matches!(failure.code, ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch)
            }
            rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::ToSqlConversionFailure(_)
            | rusqlite::Error::NulError(_) => true,
            _ => false,
        };
        if refused {
            StoreError::Refused { store: "SQLite", reason: e.to_string() }
        } else {
            StoreError::Sqlite { path: self.path.clone(), reason: e.to_string() }
        }
    }
}

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            SqlValue::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// `$1` → `?1`: the statements are written for PostgreSQL, whose numbering SQLite also has.
fn dialect(sql: &str) -> String {
    sql.replace('$', "?")
}

impl Sql for SqliteSql {
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let mut statement = self.connection.prepare_cached(&dialect(sql)).map_err(|e| self.error(e))?;
        let changed = statement.execute(rusqlite::params_from_iter(params.iter())).map_err(|e| self.error(e))?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let mut statement = self.connection.prepare_cached(&dialect(sql)).map_err(|e| self.error(e))?;
        let columns = statement.column_count();
        let rows = statement
            .query_map(rusqlite::params_from_iter(params.iter()), |row| {
                (0..columns)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            ValueRef::Integer(v) => SqlValue::Int(v),
                            ValueRef::Real(v) => SqlValue::Int(v as i64),
                            ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Null | ValueRef::Blob(_) => SqlValue::Null,
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.error(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.error(e))?;
        Ok(rows)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.connection.execute_batch(sql).map_err(|e| self.error(e))
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        // IMMEDIATE: take the write lock now, so two writers wait rather than fail at COMMIT.
        self.batch("BEGIN IMMEDIATE")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store a newer Lintel wrote is refused, for writing and for reading, and left as it is.
    #[test]
    fn a_store_of_a_newer_format_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("density.db");
        let url = format!("sqlite:{}", path.display());
        drop(super::super::open(&url).unwrap());
        drop(crate::console::store::IncidentStore::open(&url).unwrap());
        let mut sql = SqliteSql::open(&path.display().to_string()).unwrap();
        let rows = sql.query("SELECT part, version FROM lintel_format ORDER BY part", &[]).unwrap();
        let text = |v: &SqlValue| format!("{v:?}");
        assert_eq!(
            rows.iter().map(|r| r.iter().map(text).collect::<Vec<_>>()).collect::<Vec<_>>(),
            [["Text(\"console\")", "Int(1)"], ["Text(\"density\")", "Int(1)"]]
        );
        sql.batch("UPDATE lintel_format SET version = 3 WHERE part = 'density'; PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        drop(sql);
        let before = std::fs::read(&path).unwrap();
        for error in [super::super::open(&url).err(), super::super::open_reader(&url).err()] {
            let line = error.expect("a newer store must be refused").to_string();
            assert!(line.contains("density tables are format 3") && line.contains("format 1 at most"), "{line}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // The console's part is still its format: it opens.
        assert!(crate::console::store::IncidentStore::open(&url).is_ok());
    }

    /// Data the store refuses is told apart from the store failing: the consumer drops the one
    /// and retries the other.
    #[test]
    fn refused_data_is_permanent_and_a_failing_store_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut sql = SqliteSql::open(&path.display().to_string()).unwrap();
        sql.batch("CREATE TABLE t (x INTEGER NOT NULL UNIQUE)").unwrap();
        sql.execute("INSERT INTO t (x) VALUES ($1)", &[SqlValue::Int(1)]).unwrap();
        let duplicate = sql.execute("INSERT INTO t (x) VALUES ($1)", &[SqlValue::Int(1)]).unwrap_err();
        assert!(duplicate.is_refused(), "{duplicate}");
        let null = sql.execute("INSERT INTO t (x) VALUES ($1)", &[SqlValue::Null]).unwrap_err();
        assert!(null.is_refused(), "{null}");
        // Another writer holding the file: busy, worth another try.
        let mut other = SqliteSql::open(&path.display().to_string()).unwrap();
        other.connection.busy_timeout(std::time::Duration::from_millis(50)).unwrap();
        sql.batch("BEGIN IMMEDIATE").unwrap();
        let busy = other.batch("BEGIN IMMEDIATE").unwrap_err();
        assert!(!busy.is_refused(), "{busy}");
        sql.batch("ROLLBACK").unwrap();
    }
}
