//! PostgreSQL's history tables, partitioned by time as PostgreSQL users do it: `intervals` by
//! `start_s` in daily range partitions, `hourly` by `hour_s` in monthly ones, each with a
//! `DEFAULT` partition for rows outside them (data older than the oldest partition; nothing
//! newer reaches the store, [`super::super::ingest::FUTURE_TOLERANCE_S`]). Partitions are created
//! ahead ([`DAYS_AHEAD`], [`MONTHS_AHEAD`]) when the store opens and at every sweep, and
//! retention drops a whole partition once every row it may hold is past the retention: no
//! `DELETE` of millions of rows, no table bloat, no vacuum behind it. Only the `DEFAULT`
//! partitions are swept row by row.
//!
//! `messages` stays one table: its key is `(node, seq)`, which holds no time, and a partitioned
//! table's unique key must hold the partition key (a message sent again with another time would
//! then be stored twice). Its rows are narrow and swept by `DELETE` as before.
//!
//! A store made before partitioning (plain `intervals` and `hourly`) is migrated when it opens,
//! in one transaction: the plain table renamed, the partitioned one created with partitions that
//! cover its rows (at most [`DAYS_BACK`] days, [`MONTHS_BACK`] months; anything older goes to the
//! `DEFAULT` partition), the rows copied, the old table dropped. An older Lintel still reads and
//! writes the partitioned tables (the same columns and keys). Every change to the partitions is
//! made under one advisory lock, so workers opening and sweeping together do not race.

use super::{Retention, Sql, StoreError};

/// Daily partitions of `intervals` made ahead of today.
pub const DAYS_AHEAD: i64 = 7;
/// Monthly partitions of `hourly` made ahead of this month.
pub const MONTHS_AHEAD: i64 = 2;
/// The oldest day a migration makes a partition for (older rows go to the `DEFAULT` partition).
pub const DAYS_BACK: i64 = 62;
/// The oldest month a migration makes a partition for.
pub const MONTHS_BACK: i64 = 36;

/// The advisory lock every change of the partitions is made under (any constant; this one spells
/// "lintelpt").
const LOCK: i64 = 0x6c69_6e74_656c_7074;

/// One partitioned table.
struct Table {
    name: &'static str,
    /// Its partition key.
    key: &'static str,
    /// Its columns and primary key, as created.
    columns: &'static str,
    /// Indexes beyond the primary key.
    indexes: &'static [&'static str],
    /// The retention cut-off of a row: `{cutoff}` is replaced by the bound.
    old_rows: &'static str,
    monthly: bool,
}

const INTERVALS: Table = Table {
    name: "intervals",
    key: "start_s",
    columns: "building TEXT NOT NULL, start_s BIGINT NOT NULL, end_s BIGINT NOT NULL, node TEXT NOT NULL,
      seq BIGINT NOT NULL, entries BIGINT NOT NULL, exits BIGINT NOT NULL, occupancy BIGINT NOT NULL,
      PRIMARY KEY (building, start_s)",
    indexes: &["CREATE INDEX IF NOT EXISTS intervals_by_end ON intervals (end_s)"],
    old_rows: "end_s < {cutoff}",
    monthly: false,
};

const HOURLY: Table = Table {
    name: "hourly",
    key: "hour_s",
    columns: "building TEXT NOT NULL, hour_s BIGINT NOT NULL, entries BIGINT NOT NULL, exits BIGINT NOT NULL,
      occupancy_sum BIGINT NOT NULL, occupancy_max BIGINT NOT NULL, samples BIGINT NOT NULL,
      PRIMARY KEY (building, hour_s)",
    indexes: &[],
    old_rows: "hour_s + 3600 < {cutoff}",
    monthly: true,
};

/// Partitions the history tables if they are not yet (migrating their rows), and makes the
/// partitions ahead of `now_s`. In its own transaction.
pub(super) fn prepare(sql: &mut dyn Sql, now_s: i64) -> Result<(), StoreError> {
    in_transaction(sql, |sql| {
        for table in [&INTERVALS, &HOURLY] {
            if relkind(sql, table.name)?.as_deref() != Some("p") {
                migrate(sql, table, now_s)?;
            }
            make_ahead(sql, table, now_s)?;
        }
        Ok(())
    })
}

/// Retention on the partitioned tables: partitions ahead made, the partitions whose every row is
/// past the retention dropped, the `DEFAULT` partitions swept; then `messages` by `DELETE`. The
/// rows removed from the `DEFAULT` partitions and `messages` (a dropped partition's rows are not
/// counted). In its own transaction.
///
/// A daily partition goes when its last day's start is past the retention, so intervals are kept
/// up to a day longer than [`Retention::raw_s`] (hourly roll-ups up to a month longer).
pub(super) fn sweep(sql: &mut dyn Sql, now_s: i64, retention: Retention) -> Result<u64, StoreError> {
    let raw = now_s - retention.raw_s;
    let hourly = now_s - retention.hourly_s;
    in_transaction(sql, |sql| {
        let mut removed = 0;
        for (table, cutoff) in [(&INTERVALS, raw), (&HOURLY, hourly)] {
            make_ahead(sql, table, now_s)?;
            for (partition, _, upper) in partitions(sql, table)? {
                // Every row of a partition starts (or is the hour) before its upper bound: past the
                // cut-off as a whole once that bound is.
                if upper <= cutoff {
                    sql.batch(&format!("DROP TABLE IF EXISTS {partition}"))?;
                    tracing::info!(partition, "density store: dropped a partition past retention");
                }
            }
            let condition = table.old_rows.replace("{cutoff}", "$1");
            removed +=
                sql.execute(&format!("DELETE FROM {}_default WHERE {condition}", table.name), &[cutoff.into()])?;
        }
        removed += sql.execute("DELETE FROM messages WHERE at_s < $1", &[raw.into()])?;
        Ok(removed)
    })
}

fn in_transaction<T>(
    sql: &mut dyn Sql,
    work: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    sql.begin()?;
    let done = sql.execute("SELECT pg_advisory_xact_lock($1)", &[LOCK.into()]).and_then(|_| work(sql));
    match done {
        Ok(value) => {
            sql.batch("COMMIT")?;
            Ok(value)
        }
        Err(error) => {
            let _ = sql.batch("ROLLBACK");
            Err(error)
        }
    }
}

/// `r` a plain table, `p` a partitioned one, `None` none (in the current schema).
fn relkind(sql: &mut dyn Sql, table: &str) -> Result<Option<String>, StoreError> {
    let rows = sql.query(
        "SELECT relkind::text FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace",
        &[table.into()],
    )?;
    Ok(rows.first().map(|r| r[0].text()))
}

/// The partitions of `table` other than its `DEFAULT`: name, lower and upper bound.
fn partitions(sql: &mut dyn Sql, table: &Table) -> Result<Vec<(String, i64, i64)>, StoreError> {
    let prefix = format!("{}_p", table.name);
    let rows = sql.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace ORDER BY c.relname",
        &[table.name.into()],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let name = r[0].text();
            let start = name.strip_prefix(&prefix).and_then(|d| bounds_of(d, table.monthly))?;
            Some((name, start.0, start.1))
        })
        .collect())
}

/// The bounds of the partition named by `suffix` (`YYYYMMDD` or `YYYYMM`).
fn bounds_of(suffix: &str, monthly: bool) -> Option<(i64, i64)> {
    let year: i64 = suffix.get(0..4)?.parse().ok()?;
    let month: i64 = suffix.get(4..6)?.parse().ok()?;
    if monthly {
        let start = days_from_civil(year, month, 1) * 86_400;
        let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
        Some((start, days_from_civil(ny, nm, 1) * 86_400))
    } else {
        let day: i64 = suffix.get(6..8)?.parse().ok()?;
        let start = days_from_civil(year, month, day) * 86_400;
        Some((start, start + 86_400))
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The partition of `table` holding the unix second `at_s`: its name suffix and bounds.
fn partition_at(table: &Table, at_s: i64) -> (String, i64, i64) {
    let (year, month, day) = civil_from_days(at_s.div_euclid(86_400));
    let suffix = if table.monthly { format!("{year:04}{month:02}") } else { format!("{year:04}{month:02}{day:02}") };
    let (lower, upper) = bounds_of(&suffix, table.monthly).unwrap_or((at_s, at_s + 86_400));
    (suffix, lower, upper)
}

/// Creates the partitions of `table` from the one holding `from_s` to the one holding `to_s`.
fn make_partitions(sql: &mut dyn Sql, table: &Table, from_s: i64, to_s: i64) -> Result<(), StoreError> {
    let existing = partitions(sql, table)?;
    let mut at = from_s;
    while at <= to_s {
        let (suffix, lower, upper) = partition_at(table, at);
        if !existing.iter().any(|(_, l, _)| *l == lower) {
            sql.batch(&format!(
                "CREATE TABLE IF NOT EXISTS {name}_p{suffix} PARTITION OF {name} FOR VALUES FROM ({lower}) TO ({upper})",
                name = table.name
            ))?;
        }
        at = upper;
    }
    Ok(())
}

fn make_ahead(sql: &mut dyn Sql, table: &Table, now_s: i64) -> Result<(), StoreError> {
    let ahead = if table.monthly { now_s + MONTHS_AHEAD * 31 * 86_400 } else { now_s + DAYS_AHEAD * 86_400 };
    make_partitions(sql, table, now_s, ahead)
}

/// Turns the plain `table` (or none) into a partitioned one with the same rows.
fn migrate(sql: &mut dyn Sql, table: &Table, now_s: i64) -> Result<(), StoreError> {
    let name = table.name;
    let plain = relkind(sql, name)?.is_some();
    if plain {
        sql.batch(&format!(
            "ALTER TABLE {name} RENAME TO {name}_unpartitioned;
             ALTER TABLE {name}_unpartitioned RENAME CONSTRAINT {name}_pkey TO {name}_unpartitioned_pkey;"
        ))?;
        for index in table.indexes {
            // `CREATE INDEX IF NOT EXISTS NAME ON …`: the old one moves aside under another name.
            if let Some(index_name) = index.split_whitespace().nth(5) {
                sql.batch(&format!("ALTER INDEX IF EXISTS {index_name} RENAME TO {index_name}_unpartitioned"))?;
            }
        }
    }
    sql.batch(&format!(
        "CREATE TABLE {name} ({columns}) PARTITION BY RANGE ({key});
         CREATE TABLE {name}_default PARTITION OF {name} DEFAULT;",
        columns = table.columns,
        key = table.key
    ))?;
    for index in table.indexes {
        sql.batch(index)?;
    }
    let back = if table.monthly { now_s - MONTHS_BACK * 31 * 86_400 } else { now_s - DAYS_BACK * 86_400 };
    if plain {
        let oldest = sql.query(&format!("SELECT MIN({key}) FROM {name}_unpartitioned", key = table.key), &[])?;
        if let Some(oldest) = oldest.first().and_then(|r| r[0].opt_int()) {
            make_partitions(sql, table, oldest.max(back), now_s)?;
        }
        // Ahead too before the rows come in: a row in the `DEFAULT` partition would forbid
        // making the partition of its range later.
        make_ahead(sql, table, now_s)?;
        sql.batch(&format!("INSERT INTO {name} SELECT * FROM {name}_unpartitioned; DROP TABLE {name}_unpartitioned;"))?;
        tracing::info!(table = name, "density store: partitioned by time (the rows kept)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lintel_wire::UtcTime;

    #[test]
    fn partitions_are_whole_utc_days_and_months() {
        // 2026-12-07T04:00:00Z.
        let at = days_from_civil(2026, 12, 7) * 86_400 + 4 * 3600;
        assert_eq!(
            UtcTime::from_unix_seconds(days_from_civil(2026, 12, 7) * 86_400).to_string(),
            "2026-12-07T00:00:00Z"
        );
        let (suffix, lower, upper) = partition_at(&INTERVALS, at);
        assert_eq!((suffix.as_str(), upper - lower), ("20261207", 86_400));
        assert!(lower <= at && at < upper);
        let (suffix, lower, upper) = partition_at(&HOURLY, at);
        assert_eq!(suffix, "202612");
        assert_eq!(UtcTime::from_unix_seconds(lower).to_string(), "2026-12-01T00:00:00Z");
        assert_eq!(UtcTime::from_unix_seconds(upper).to_string(), "2027-01-01T00:00:00Z");
        for days in [0, 59, 60, 365, 11_016, 20_794, 20_818, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        // Leap days and year ends.
        assert_eq!(bounds_of("20240229", false).map(|(l, u)| u - l), Some(86_400));
        assert_eq!(bounds_of("202402", true).map(|(l, u)| (u - l) / 86_400), Some(29));
        assert_eq!(bounds_of("nonsense", false), None);
    }
}
