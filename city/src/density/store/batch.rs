//! Many messages in one transaction, in a handful of statements, whatever their number: the
//! store's answer to a backlog (a city after an outage, a busy worker). Per-message writes cost
//! about ten statements, each a round trip to PostgreSQL; here a batch reads what it touches in
//! three queries, works out in memory what the messages would have done one after the other, and
//! writes the end state with one multi-row upsert per table.
//!
//! The outcome is the one-at-a-time outcome exactly: the first of a batch's copies of `(node,
//! seq)` claims it and the others are duplicates, each message sees the building's state the
//! messages before it left (`previous`, `became_latest`, `seq_backwards`), and the upserts keep
//! the per-message guards (a later time wins `latest`, a higher seq wins an interval, roll-ups
//! are sums), so workers writing batches at the same time still need no lock between them.
//! Rows are written in key order, so two workers' batches lock shared rows in the same order.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{LATEST_UPSERT, LastInterval, Latest, Recorded, Sql, SqlValue, StoreError, latest_from_row, latest_row};
use lintel_wire::{Counts, Occupancy};

/// Rows per statement: 9 values a row stays far under both databases' limit on bound values
/// (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_STATEMENT: usize = 500;

/// One message of a batch, with the building key (`site/building`) it belongs to.
#[derive(Clone, Debug)]
pub enum Write {
    Counts { building: String, counts: Counts },
    Occupancy { building: String, occupancy: Occupancy },
}

impl Write {
    fn node(&self) -> &str {
        match self {
            Write::Counts { counts, .. } => &counts.node,
            Write::Occupancy { occupancy, .. } => &occupancy.node,
        }
    }
    fn seq(&self) -> u64 {
        match self {
            Write::Counts { counts, .. } => counts.seq,
            Write::Occupancy { occupancy, .. } => occupancy.seq,
        }
    }
    fn building(&self) -> &str {
        match self {
            Write::Counts { building, .. } | Write::Occupancy { building, .. } => building,
        }
    }
    /// When its data was true: the interval's end, or the occupancy's time.
    fn at_s(&self) -> i64 {
        match self {
            Write::Counts { counts, .. } => counts.interval.end.unix_seconds(),
            Write::Occupancy { occupancy, .. } => occupancy.at.unix_seconds(),
        }
    }
}

/// An interval row as the store holds it.
#[derive(Clone, Debug)]
struct IntervalRow {
    end_s: i64,
    node: String,
    seq: i64,
    entries: i64,
    exits: i64,
    occupancy: i64,
}

/// What a batch adds to one hourly roll-up.
#[derive(Clone, Copy, Debug, Default)]
struct HourDelta {
    entries: i64,
    exits: i64,
    occupancy_sum: i64,
    occupancy_max: i64,
    samples: i64,
}

/// Records `writes` in the current transaction; one [`Recorded`] per write, in order.
pub(super) fn record(sql: &mut dyn Sql, writes: &[Write]) -> Result<Vec<Recorded>, StoreError> {
    let claimed = claim(sql, writes)?;
    let fresh: Vec<&Write> = writes.iter().zip(&claimed).filter(|(_, c)| **c).map(|(w, _)| w).collect();
    let mut max_seq = read_max_seqs(sql, &fresh)?;
    let mut latest = read_latest(sql, &fresh)?;
    let mut intervals = read_intervals(sql, &fresh)?;

    let mut touched_intervals: BTreeMap<(String, i64), IntervalRow> = BTreeMap::new();
    let mut hours: BTreeMap<(String, i64), HourDelta> = BTreeMap::new();
    let mut touched_latest: BTreeMap<String, Latest> = BTreeMap::new();
    let mut recorded = Vec::with_capacity(writes.len());
    for (write, &claimed) in writes.iter().zip(&claimed) {
        if !claimed {
            recorded.push(Recorded::Duplicate);
            continue;
        }
        let (node, seq) = (write.node(), write.seq());
        let seq_i = int(seq)?;
        let max = max_seq.entry(node.to_string()).or_insert(seq_i);
        let seq_backwards = *max > seq_i;
        *max = (*max).max(seq_i);
        let building = write.building().to_string();
        let previous = latest.get(&building).cloned();
        let new = match write {
            Write::Counts { counts: c, .. } => {
                let (start, end) = (c.interval.start.unix_seconds(), c.interval.end.unix_seconds());
                let row = IntervalRow {
                    end_s: end,
                    node: c.node.clone(),
                    seq: seq_i,
                    entries: int(c.entries)?,
                    exits: int(c.exits)?,
                    occupancy: int(c.occupancy)?,
                };
                let key = (building.clone(), start);
                // As `record_counts`: the first writer inserts; a higher seq replaces it and the
                // roll-up moves by the difference.
                let delta = match intervals.get(&key) {
                    None => Some((row.entries, row.exits, row.occupancy, 1)),
                    Some(old) if old.seq < row.seq => {
                        Some((row.entries - old.entries, row.exits - old.exits, row.occupancy - old.occupancy, 0))
                    }
                    Some(_) => None,
                };
                if let Some((de, dx, docc, samples)) = delta {
                    if (de, dx, docc, samples) != (0, 0, 0, 0) {
                        let hour = hours.entry((building.clone(), start - start.rem_euclid(3600))).or_default();
                        hour.entries = add(hour.entries, de)?;
                        hour.exits = add(hour.exits, dx)?;
                        hour.occupancy_sum = add(hour.occupancy_sum, docc)?;
                        hour.occupancy_max = hour.occupancy_max.max(row.occupancy);
                        hour.samples += samples;
                    }
                    intervals.insert(key.clone(), row.clone());
                    touched_intervals.insert(key, row);
                }
                Latest {
                    building: building.clone(),
                    node: c.node.clone(),
                    seq,
                    at_s: end,
                    occupancy: c.occupancy,
                    interval: Some(LastInterval { start_s: start, end_s: end, entries: c.entries, exits: c.exits }),
                }
            }
            Write::Occupancy { occupancy: o, .. } => Latest {
                building: building.clone(),
                node: o.node.clone(),
                seq,
                at_s: o.at.unix_seconds(),
                occupancy: o.occupancy,
                interval: None,
            },
        };
        let became_latest =
            previous.as_ref().is_none_or(|p| (new.at_s, new.node.as_str(), new.seq) > (p.at_s, p.node.as_str(), p.seq));
        let merged = merge_latest(previous.as_ref(), &new);
        latest.insert(building.clone(), merged.clone());
        touched_latest.insert(building, merged);
        recorded.push(Recorded::New { seq_backwards, previous, became_latest });
    }

    let nodes: BTreeMap<&str, i64> =
        fresh.iter().map(|w| (w.node(), max_seq.get(w.node()).copied().unwrap_or_default())).collect();
    write_nodes(sql, &nodes)?;
    write_intervals(sql, &touched_intervals)?;
    write_hours(sql, &hours)?;
    write_latest(sql, &touched_latest)?;
    Ok(recorded)
}

/// A count the store cannot hold as BIGINT is the data's fault: the batch is refused and the
/// caller writes its messages one at a time, where this one alone is refused (or stored as the
/// one-at-a-time path stores it).
fn int(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| refused(format!("{value} is out of range")))
}

fn add(a: i64, b: i64) -> Result<i64, StoreError> {
    a.checked_add(b).ok_or_else(|| refused("a roll-up sum is out of range".into()))
}

fn refused(reason: String) -> StoreError {
    StoreError::Refused { store: "the batch", reason }
}

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `($1, …, $width), ($width+1, …), …` for `rows` rows.
fn value_rows(rows: usize, width: usize) -> String {
    (0..rows).map(|r| format!("({})", placeholders(r * width + 1, width))).collect::<Vec<_>>().join(", ")
}

/// Claims every `(node, seq)` the store has not seen yet: whether each write is the first of
/// its `(node, seq)`, in the store and in the batch. A copy another worker is writing now waits
/// for it (the primary key), as one message does.
fn claim(sql: &mut dyn Sql, writes: &[Write]) -> Result<Vec<bool>, StoreError> {
    let mut firsts: BTreeMap<(&str, u64), (&str, i64)> = BTreeMap::new();
    for write in writes {
        firsts.entry((write.node(), write.seq())).or_insert((write.building(), write.at_s()));
    }
    let rows: Vec<_> = firsts.into_iter().collect();
    let mut inserted: HashSet<(String, i64)> = HashSet::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let statement = format!(
            "INSERT INTO messages (node, seq, building, at_s) VALUES {} ON CONFLICT (node, seq) DO NOTHING RETURNING node, seq",
            value_rows(chunk.len(), 4)
        );
        let mut params = Vec::with_capacity(chunk.len() * 4);
        for ((node, seq), (building, at_s)) in chunk {
            params.extend([(*node).into(), (*seq).into(), (*building).into(), (*at_s).into()]);
        }
        for row in sql.query(&statement, &params)? {
            inserted.insert((row[0].text(), row[1].int()));
        }
    }
    let mut seen: HashSet<(&str, u64)> = HashSet::new();
    Ok(writes
        .iter()
        .map(|w| {
            let key = (w.node(), w.seq());
            seen.insert(key) && inserted.contains(&(key.0.to_string(), SqlValue::from(key.1).int()))
        })
        .collect())
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut set: Vec<&str> = items.collect::<HashSet<_>>().into_iter().collect();
    set.sort_unstable();
    set
}

fn read_max_seqs(sql: &mut dyn Sql, writes: &[&Write]) -> Result<HashMap<String, i64>, StoreError> {
    let mut max = HashMap::new();
    for chunk in distinct(writes.iter().map(|w| w.node())).chunks(ROWS_PER_STATEMENT) {
        let statement = format!("SELECT node, max_seq FROM nodes WHERE node IN ({})", placeholders(1, chunk.len()));
        let params: Vec<SqlValue> = chunk.iter().map(|n| (*n).into()).collect();
        for row in sql.query(&statement, &params)? {
            max.insert(row[0].text(), row[1].int());
        }
    }
    Ok(max)
}

fn read_latest(sql: &mut dyn Sql, writes: &[&Write]) -> Result<HashMap<String, Latest>, StoreError> {
    let mut latest = HashMap::new();
    for chunk in distinct(writes.iter().map(|w| w.building())).chunks(ROWS_PER_STATEMENT) {
        let statement = format!(
            "SELECT building, node, seq, at_s, occupancy, start_s, end_s, entries, exits FROM latest WHERE building IN ({})",
            placeholders(1, chunk.len())
        );
        let params: Vec<SqlValue> = chunk.iter().map(|b| (*b).into()).collect();
        for row in sql.query(&statement, &params)? {
            let row = latest_from_row(&row);
            latest.insert(row.building.clone(), row);
        }
    }
    Ok(latest)
}

fn read_intervals(sql: &mut dyn Sql, writes: &[&Write]) -> Result<HashMap<(String, i64), IntervalRow>, StoreError> {
    let keys: HashSet<(&str, i64)> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Counts { building, counts } => Some((building.as_str(), counts.interval.start.unix_seconds())),
            Write::Occupancy { .. } => None,
        })
        .collect();
    let mut keys: Vec<(&str, i64)> = keys.into_iter().collect();
    keys.sort_unstable();
    let mut rows = HashMap::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        // Buildings and starts as two lists, which both databases answer from the primary key
        // (and PostgreSQL from the partitions of those starts only); the pairs asked for are
        // picked out here.
        let buildings = distinct(chunk.iter().map(|(b, _)| *b));
        let mut starts: Vec<i64> = chunk.iter().map(|(_, s)| *s).collect::<HashSet<_>>().into_iter().collect();
        starts.sort_unstable();
        let statement = format!(
            "SELECT building, start_s, end_s, node, seq, entries, exits, occupancy FROM intervals
             WHERE building IN ({}) AND start_s IN ({})",
            placeholders(1, buildings.len()),
            placeholders(buildings.len() + 1, starts.len())
        );
        let mut params: Vec<SqlValue> = buildings.iter().map(|b| (*b).into()).collect();
        params.extend(starts.iter().map(|s| SqlValue::from(*s)));
        let wanted: HashSet<&(&str, i64)> = chunk.iter().collect();
        for r in sql.query(&statement, &params)? {
            let key = (r[0].text(), r[1].int());
            if !wanted.contains(&(key.0.as_str(), key.1)) {
                continue;
            }
            rows.insert(
                key,
                IntervalRow {
                    end_s: r[2].int(),
                    node: r[3].text(),
                    seq: r[4].int(),
                    entries: r[5].int(),
                    exits: r[6].int(),
                    occupancy: r[7].int(),
                },
            );
        }
    }
    Ok(rows)
}

/// The row `latest` holds after `new` is upserted over `current` ([`LATEST_UPSERT`]'s rules):
/// the newer data by time (then node, then seq) for the occupancy, the interval that ends last
/// for the last interval's fields.
fn merge_latest(current: Option<&Latest>, new: &Latest) -> Latest {
    let Some(current) = current else { return new.clone() };
    let newer = (new.at_s, new.node.as_str(), new.seq) > (current.at_s, current.node.as_str(), current.seq);
    let mut merged = if newer { new.clone() } else { current.clone() };
    let later_interval = match (new.interval, current.interval) {
        (Some(n), Some(c)) => n.end_s > c.end_s,
        (Some(_), None) => true,
        (None, _) => false,
    };
    merged.interval = if later_interval { new.interval } else { current.interval };
    merged
}

fn write_nodes(sql: &mut dyn Sql, nodes: &BTreeMap<&str, i64>) -> Result<(), StoreError> {
    let rows: Vec<_> = nodes.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let statement = format!(
            "INSERT INTO nodes (node, max_seq) VALUES {}
             ON CONFLICT (node) DO UPDATE SET max_seq = CASE WHEN excluded.max_seq > nodes.max_seq
                                                        THEN excluded.max_seq ELSE nodes.max_seq END",
            value_rows(chunk.len(), 2)
        );
        let params: Vec<SqlValue> = chunk.iter().flat_map(|(n, s)| [(**n).into(), (**s).into()]).collect();
        sql.execute(&statement, &params)?;
    }
    Ok(())
}

fn write_intervals(sql: &mut dyn Sql, intervals: &BTreeMap<(String, i64), IntervalRow>) -> Result<(), StoreError> {
    let rows: Vec<_> = intervals.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        // A higher seq replaces a row, never a lower one (another worker's newer copy stays).
        let statement = format!(
            "INSERT INTO intervals (building, start_s, end_s, node, seq, entries, exits, occupancy) VALUES {}
             ON CONFLICT (building, start_s) DO UPDATE SET end_s = excluded.end_s, node = excluded.node,
               seq = excluded.seq, entries = excluded.entries, exits = excluded.exits, occupancy = excluded.occupancy
             WHERE intervals.seq < excluded.seq",
            value_rows(chunk.len(), 8)
        );
        let mut params = Vec::with_capacity(chunk.len() * 8);
        for ((building, start), row) in chunk {
            params.extend([
                building.as_str().into(),
                (*start).into(),
                row.end_s.into(),
                row.node.as_str().into(),
                row.seq.into(),
                row.entries.into(),
                row.exits.into(),
                row.occupancy.into(),
            ]);
        }
        sql.execute(&statement, &params)?;
    }
    Ok(())
}

fn write_hours(sql: &mut dyn Sql, hours: &BTreeMap<(String, i64), HourDelta>) -> Result<(), StoreError> {
    let rows: Vec<_> = hours.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let statement = format!(
            "INSERT INTO hourly (building, hour_s, entries, exits, occupancy_sum, occupancy_max, samples) VALUES {}
             ON CONFLICT (building, hour_s) DO UPDATE SET entries = hourly.entries + excluded.entries,
               exits = hourly.exits + excluded.exits, occupancy_sum = hourly.occupancy_sum + excluded.occupancy_sum,
               occupancy_max = CASE WHEN excluded.occupancy_max > hourly.occupancy_max
                               THEN excluded.occupancy_max ELSE hourly.occupancy_max END,
               samples = hourly.samples + excluded.samples",
            value_rows(chunk.len(), 7)
        );
        let mut params = Vec::with_capacity(chunk.len() * 7);
        for ((building, hour), d) in chunk {
            params.extend([
                building.as_str().into(),
                (*hour).into(),
                d.entries.into(),
                d.exits.into(),
                d.occupancy_sum.into(),
                d.occupancy_max.into(),
                d.samples.into(),
            ]);
        }
        sql.execute(&statement, &params)?;
    }
    Ok(())
}

fn write_latest(sql: &mut dyn Sql, latest: &BTreeMap<String, Latest>) -> Result<(), StoreError> {
    let rows: Vec<_> = latest.values().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let statement = LATEST_UPSERT.replace("{values}", &value_rows(chunk.len(), 9));
        let params: Vec<SqlValue> = chunk.iter().flat_map(|l| latest_row(l)).collect();
        sql.execute(&statement, &params)?;
    }
    Ok(())
}
