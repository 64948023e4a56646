//! The store in PostgreSQL: one database shared by many consumers (and read replicas for the
//! map and the exports). Synchronous client: a consumer is a plain thread.

use postgres::types::ToSql;
use std::collections::HashMap;

use postgres::{Client, NoTls, Statement};

use super::{Sql, SqlValue, StoreError};

pub struct PostgresSql {
    /// `None` only while being dropped.
    client: Option<Client>,
    /// Prepared once per connection: a statement sent as text is parsed on every call, one
    /// more round trip each.
    prepared: HashMap<String, Statement>,
    url: String,
    /// Between BEGIN and COMMIT/ROLLBACK: a lost connection is then an error, never a silent
    /// reconnection (the rest of the transaction would run outside it).
    in_transaction: bool,
}

impl Drop for PostgresSql {
    fn drop(&mut self) {
        // The sync client closes its connection on a runtime of its own, which tokio refuses
        // inside another runtime (the web server's state is dropped on its runtime's thread):
        // close it on a plain thread there.
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::spawn(move || drop(client)).join();
        }
    }
}

impl PostgresSql {
    /// Connects to `url` (`postgres://user@host:port/db`; the password, if any, is never shown
    /// in an error).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self { client: Some(session(url)?), prepared: HashMap::new(), url: url.to_string(), in_transaction: false })
    }
}

/// A worker that stops mid-transaction without dying (frozen, a paused VM, a network cut the
/// server has not noticed) holds its row locks, and every other worker would wait on them for
/// good: a lock waited on this long fails the statement (a store failure: retried, backing off),
/// and a transaction left idle this long is ended by the server, releasing its locks. A
/// transaction of the density store takes milliseconds.
const SESSION_LIMITS: &str = "SET lock_timeout = '10s'; SET idle_in_transaction_session_timeout = '15s'";

/// A connection with [`SESSION_LIMITS`].
fn session(url: &str) -> Result<Client, StoreError> {
    let mut client = Client::connect(url, NoTls).map_err(|e| StoreError::Postgres(format!("cannot connect: {e}")))?;
    client.batch_execute(SESSION_LIMITS).map_err(error)?;
    Ok(client)
}

impl PostgresSql {
    fn client(&mut self) -> &mut Client {
        // Set from `connect` until `drop`.
        self.client.as_mut().expect("a connected client")
    }

    /// A server restart or a network cut closes the client for good: connect again, outside a
    /// transaction only (the consumer retries the message whose transaction was lost with the
    /// connection, from its BEGIN).
    fn reconnect_if_closed(&mut self) -> Result<(), StoreError> {
        if self.client().is_closed() && !self.in_transaction {
            self.client = Some(session(&self.url)?);
            self.prepared.clear();
        }
        Ok(())
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        self.reconnect_if_closed()?;
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client().prepare(sql).map_err(error)?;
        // A batch's multi-row statements differ by their number of rows: prepared each time,
        // they would push the per-message statements out of the cache.
        if sql.len() > UNCACHED_OVER {
            return Ok(statement);
        }
        // History queries differ by their number of buildings: keep the cache bounded.
        if self.prepared.len() >= 256 {
            self.prepared.clear();
        }
        self.prepared.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

/// Statements longer than this (a batch's rows) are not kept prepared.
const UNCACHED_OVER: usize = 4096;

fn error(e: postgres::Error) -> StoreError {
    // `as_db_error` carries the server's message; the Display of others is already one line.
    match e.as_db_error() {
        // Class 22 (data exception: out of range, a NUL in text) and 23 (integrity constraint):
        // the data is wrong, and it will be wrong the next time too.
        Some(db) if db.code().code().starts_with("22") || db.code().code().starts_with("23") => {
            StoreError::Refused { store: "PostgreSQL", reason: db.message().to_string() }
        }
        Some(db) => StoreError::Postgres(db.message().to_string()),
        // A value the client cannot even send (conversion) is the data's fault too.
        None if e.to_string().contains("error serializing") => {
            StoreError::Refused { store: "PostgreSQL", reason: e.to_string() }
        }
        None => StoreError::Postgres(e.to_string()),
    }
}

/// The values as the postgres crate binds them: every integer column is BIGINT, every text TEXT.
fn bind(params: &[SqlValue]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn ToSql + Sync> {
            match v {
                SqlValue::Int(i) => Box::new(*i),
                SqlValue::Text(t) => Box::new(t.clone()),
                SqlValue::Null => Box::new(None::<i64>),
            }
        })
        .collect()
}

impl Sql for PostgresSql {
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        let owned = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(|b| b.as_ref()).collect();
        self.client().execute(&statement, &refs).map_err(error)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let statement = self.statement(sql)?;
        let owned = bind(params);
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(|b| b.as_ref()).collect();
        let rows = self.client().query(&statement, &refs).map_err(error)?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let column = &row.columns()[i];
                        Ok(match *column.type_() {
                            postgres::types::Type::TEXT | postgres::types::Type::VARCHAR => row
                                .try_get::<_, Option<String>>(i)
                                .map_err(error)?
                                .map_or(SqlValue::Null, SqlValue::Text),
                            postgres::types::Type::INT4 => row
                                .try_get::<_, Option<i32>>(i)
                                .map_err(error)?
                                .map_or(SqlValue::Null, |v| SqlValue::Int(v.into())),
                            _ => row.try_get::<_, Option<i64>>(i).map_err(error)?.map_or(SqlValue::Null, SqlValue::Int),
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        // (BEGIN comes first in every write: without this, a worker never got past it after
        // PostgreSQL restarted.)
        self.reconnect_if_closed()?;
        let done = self.client().batch_execute(sql).map_err(error);
        match sql {
            "BEGIN" => self.in_transaction = done.is_ok(),
            "COMMIT" | "ROLLBACK" => self.in_transaction = false,
            _ => {}
        }
        done
    }

    fn is_postgres(&self) -> bool {
        true
    }
}
