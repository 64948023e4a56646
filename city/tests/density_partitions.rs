//! PostgreSQL's history tables partitioned by time, against a real PostgreSQL: a store made
//! before partitioning keeps every row through the migration and goes on working; retention
//! drops whole partitions past it and sweeps the `DEFAULT` partition row by row.

use lintel_city::density::store::{self, Retention, Sql, SqlValue, Step};
use lintel_testkit::{Postgres, scratch_dir};
use lintel_wire::{Counts, UtcTime};

/// The density tables as every Lintel before partitioning made them (format 1).
const UNPARTITIONED: &str = "
CREATE TABLE lintel_format (part TEXT PRIMARY KEY, version BIGINT NOT NULL);
INSERT INTO lintel_format VALUES ('density', 1);
CREATE TABLE messages (node TEXT NOT NULL, seq BIGINT NOT NULL, building TEXT NOT NULL, at_s BIGINT NOT NULL,
  PRIMARY KEY (node, seq));
CREATE TABLE intervals (building TEXT NOT NULL, start_s BIGINT NOT NULL, end_s BIGINT NOT NULL, node TEXT NOT NULL,
  seq BIGINT NOT NULL, entries BIGINT NOT NULL, exits BIGINT NOT NULL, occupancy BIGINT NOT NULL,
  PRIMARY KEY (building, start_s));
CREATE INDEX intervals_by_end ON intervals (end_s);
CREATE TABLE latest (building TEXT PRIMARY KEY, node TEXT NOT NULL, seq BIGINT NOT NULL, at_s BIGINT NOT NULL,
  occupancy BIGINT NOT NULL, start_s BIGINT, end_s BIGINT, entries BIGINT, exits BIGINT);
CREATE TABLE hourly (building TEXT NOT NULL, hour_s BIGINT NOT NULL, entries BIGINT NOT NULL, exits BIGINT NOT NULL,
  occupancy_sum BIGINT NOT NULL, occupancy_max BIGINT NOT NULL, samples BIGINT NOT NULL,
  PRIMARY KEY (building, hour_s));
CREATE TABLE nodes (node TEXT PRIMARY KEY, max_seq BIGINT NOT NULL);
";

fn counts(node: &str, seq: u64, start: i64, occupancy: u64) -> Counts {
    serde_json::from_value(serde_json::json!({
        "schema": "lintel.counts/1", "site": "pets", "building": "hall", "node": node, "seq": seq,
        "interval": {"start": UtcTime::from_unix_seconds(start), "end": UtcTime::from_unix_seconds(start + 3600)},
        "entries": 2, "exits": 1, "occupancy": occupancy, "entrances": [],
    }))
    .unwrap()
}

/// Every row of the history tables, as text, sorted.
fn rows(sql: &mut dyn Sql) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for query in [
        "SELECT 'i', building, start_s, end_s, node, seq, entries, exits, occupancy FROM intervals ORDER BY 2, 3",
        "SELECT 'h', building, hour_s, entries, exits, occupancy_sum, occupancy_max, samples FROM hourly ORDER BY 2, 3",
        "SELECT 'm', node, seq, building, at_s FROM messages ORDER BY 2, 3",
    ] {
        for row in sql.query(query, &[]).unwrap() {
            all.push(row.iter().map(|v| format!("{v:?}")).collect());
        }
    }
    all
}

/// `table`'s partitions, by name.
fn partitions(sql: &mut dyn Sql, table: &str) -> Vec<String> {
    sql.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1 ORDER BY 1",
        &[table.into()],
    )
    .unwrap()
    .into_iter()
    .map(|r| match &r[0] {
        SqlValue::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    })
    .collect()
}

fn count(sql: &mut dyn Sql, query: &str) -> i64 {
    match sql.query(query, &[]).unwrap()[0][0] {
        SqlValue::Int(n) => n,
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn a_store_made_before_partitioning_keeps_its_rows_and_goes_on() {
    let dir = scratch_dir("density-partitions-migrate");
    let pg = Postgres::start(&dir, &["old"]);
    let url = pg.url("old");
    let mut sql = store::connect(&url).unwrap();
    sql.batch(UNPARTITIONED).unwrap();
    // An hour a day for 100 days (older than the migration's 62 days of partitions included),
    // written as the old Lintel wrote them.
    let now = UtcTime::now().unix_seconds();
    let today = now - now.rem_euclid(86_400);
    for day in 0..100i64 {
        let start = today - day * 86_400 + 9 * 3600;
        let seq = 1000 - day;
        sql.execute(
            "INSERT INTO messages VALUES ('edge-01', $1, 'pets/hall', $2)",
            &[seq.into(), (start + 3600).into()],
        )
        .unwrap();
        sql.execute(
            "INSERT INTO intervals VALUES ('pets/hall', $1, $2, 'edge-01', $3, 2, 1, $4)",
            &[start.into(), (start + 3600).into(), seq.into(), (day % 9).into()],
        )
        .unwrap();
        sql.execute("INSERT INTO hourly VALUES ('pets/hall', $1, 2, 1, $2, $2, 1)", &[start.into(), (day % 9).into()])
            .unwrap();
    }
    let before = rows(sql.as_mut());
    assert_eq!(before.len(), 300);

    let mut recorder = store::open(&url).unwrap();
    for table in ["intervals", "hourly"] {
        let kind = sql.query("SELECT relkind::text FROM pg_class WHERE relname = $1", &[table.into()]).unwrap();
        assert_eq!(kind, vec![vec![SqlValue::Text("p".into())]], "{table}");
    }
    assert_eq!(rows(sql.as_mut()), before, "the migration changed rows");
    // Days within the 62 have partitions of their own; older rows are in the DEFAULT partition.
    let daily = partitions(sql.as_mut(), "intervals");
    assert!(daily.len() >= 62 + 7, "{daily:?}");
    let in_default = count(sql.as_mut(), "SELECT COUNT(*) FROM intervals_default");
    assert!((100 - 63..=100 - 61).contains(&in_default), "{in_default} rows in the default partition");
    assert!(partitions(sql.as_mut(), "hourly").len() >= 4);
    // Nothing of the old tables is left beside them.
    assert_eq!(count(sql.as_mut(), "SELECT COUNT(*) FROM pg_class WHERE relname LIKE '%unpartitioned%'"), 0);

    // It goes on: new data, the history across the migrated rows, an idempotent reopening.
    recorder.record_counts("pets/hall", &counts("edge-01", 2000, today + 11 * 3600, 4)).unwrap();
    let history = recorder.history(&["pets/hall".into()], today - 3 * 86_400, today + 86_400, Step::Day, 100).unwrap();
    assert_eq!(history.iter().map(|p| p.entries).sum::<u64>(), 2 * 5, "{history:?}");
    drop(recorder);
    let after = rows(sql.as_mut());
    drop(store::open(&url).unwrap());
    assert_eq!(rows(sql.as_mut()), after);
    assert_eq!(after.len(), 303);
}

#[test]
fn retention_drops_whole_partitions_and_sweeps_the_default_one() {
    let dir = scratch_dir("density-partitions-retention");
    let pg = Postgres::start(&dir, &["fresh"]);
    let url = pg.url("fresh");
    let mut recorder = store::open(&url).unwrap();
    let mut sql = store::connect(&url).unwrap();
    let now = UtcTime::now().unix_seconds();
    let today = now - now.rem_euclid(86_400);
    // One interval a day from 30 days ago (the DEFAULT partition: a fresh store has partitions
    // from today) to 6 days ahead (partitions made ahead).
    for day in -30..=6i64 {
        let start = today + day * 86_400 + 12 * 3600;
        recorder.record_counts("pets/hall", &counts("edge-01", (100 + day) as u64, start, 3)).unwrap();
    }
    assert_eq!(count(sql.as_mut(), "SELECT COUNT(*) FROM intervals_default"), 30);
    let daily_before = partitions(sql.as_mut(), "intervals");

    // Ten days on, with 7 days of retention: the cut-off is 3 days from today.
    let later = now + 10 * 86_400;
    let cutoff = later - 7 * 86_400;
    recorder.sweep(later, Retention::default()).unwrap();
    let kept: Vec<i64> = sql
        .query("SELECT start_s FROM intervals ORDER BY start_s", &[])
        .unwrap()
        .into_iter()
        .map(|r| match r[0] {
            SqlValue::Int(s) => s,
            _ => panic!(),
        })
        .collect();
    // Every row that the retention allows is kept; a row is gone only with its whole day.
    let cutoff_day = cutoff - cutoff.rem_euclid(86_400);
    let expected: Vec<i64> =
        (-30..=6i64).map(|d| today + d * 86_400 + 12 * 3600).filter(|s| *s >= cutoff_day).collect();
    assert_eq!(kept, expected);
    let daily_after = partitions(sql.as_mut(), "intervals");
    for gone in daily_before.iter().filter(|p| !daily_after.contains(p)) {
        assert!(
            gone.as_str()
                < format!("intervals_p{}", &UtcTime::from_unix_seconds(cutoff_day).to_string()[..10].replace('-', ""))
                    .as_str(),
            "{gone}"
        );
    }
    assert!(daily_before.iter().any(|p| !daily_after.contains(p)), "no partition was dropped");
    // Made ahead of the new time too, and the DEFAULT partition swept.
    assert!(daily_after.len() >= 7, "{daily_after:?}");
    assert_eq!(count(sql.as_mut(), "SELECT COUNT(*) FROM intervals_default"), 0);
    let ahead =
        format!("intervals_p{}", &UtcTime::from_unix_seconds(later + 6 * 86_400).to_string()[..10].replace('-', ""));
    assert!(daily_after.contains(&ahead), "{ahead} in {daily_after:?}");
    // Messages are swept row by row, as before.
    let old = sql.query("SELECT COUNT(*) FROM messages WHERE at_s < $1", &[cutoff.into()]).unwrap();
    assert_eq!(old, vec![vec![SqlValue::Int(0)]]);
    let recent = (-30..=6i64).filter(|d| today + d * 86_400 + 13 * 3600 >= cutoff).count();
    assert_eq!(count(sql.as_mut(), "SELECT COUNT(*) FROM messages"), recent as i64);
}
