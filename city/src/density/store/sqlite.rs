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
        StoreError::Sqlite { path: self.path.clone(), reason: e.to_string() }
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
