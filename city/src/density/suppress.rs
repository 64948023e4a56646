//! Small-count suppression on a fixed span grid, shared by everything that leaves the community
//! with counts under the threshold kept back: the NGSI-LD export ([`super::ngsi`]) and the
//! public (non-analyst) history ([`super::web`]).
//!
//! **Why fixed spans.** Merging a small hour with the following hours "from the start of the
//! request" makes the spans depend on the request: with 1 entry at 03:00 and 5 at 04:00,
//! `from=03:00` gave 6 and `from=04:00` gave 5, and their difference gave the 1 away. Here the
//! spans depend on the data only: time is cut into blocks of `block_hours` hours counted from the
//! Unix epoch (6 h: 00–06, 06–12, 12–18, 18–24 UTC); within a block, an hour whose entries or
//! exits are small (1 to `threshold − 1`) is merged with the next hours until both sums are 0 or
//! at least the threshold; a merge never crosses a block's end or a gap in the data (it is then
//! left out). Every answer is the set of these spans that meet its window, so any two answers
//! hold the same span wherever they overlap, and no difference of two answers holds a count
//! under the threshold that neither shows on its own.
//!
//! Merging is causal (a span, once closed, does not depend on later hours), so spans over the
//! hours that have ended are final as new hours end: an answer given now and one given later
//! differ only by new spans.

use super::store::{HistoryPoint, Recorder, Step, StoreError};

const HOUR: i64 = 3600;

/// How small counts are kept back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// Counts from 1 to `threshold − 1` are merged or left out (1: nothing is).
    pub threshold: u64,
    /// The fixed blocks small hours merge within, in hours from the Unix epoch (a divisor of 24
    /// keeps them within UTC days).
    pub block_hours: u32,
}

impl Default for Suppression {
    fn default() -> Self {
        Self { threshold: 3, block_hours: 6 }
    }
}

impl Suppression {
    fn block_s(&self) -> i64 {
        i64::from(self.block_hours.max(1)) * HOUR
    }

    /// Whether `count` is one kept back: from 1 to `threshold − 1`.
    pub fn is_small(&self, count: u64) -> bool {
        count > 0 && count < self.threshold
    }

    /// The start of the block holding `t`.
    pub fn block_start(&self, t: i64) -> i64 {
        t - t.rem_euclid(self.block_s())
    }

    /// Consecutive hourly points (of whole blocks: the caller reads from a block's start) →
    /// the spans shown: `entries` and `exits` each 0 or at least the threshold. A span's
    /// occupancy is the mean of its hours, its `occupancy_max` their highest, its `buildings`
    /// the most that reported in one of its hours.
    pub fn spans(&self, hours: &[HistoryPoint]) -> Vec<HistoryPoint> {
        let mut out = Vec::new();
        // The span being merged and how many hours it holds.
        let mut pending: Option<(HistoryPoint, u32)> = None;
        for hour in hours {
            let new_block = hour.start_s.rem_euclid(self.block_s()) == 0;
            if let Some((p, _)) = &pending
                && (p.end_s != hour.start_s || new_block)
            {
                pending = None; // a gap or the block's end: what was pending is left out
            }
            let (span, n) = match pending.take() {
                None => (hour.clone(), 1),
                Some((p, n)) => (
                    HistoryPoint {
                        start_s: p.start_s,
                        end_s: hour.end_s,
                        occupancy: p.occupancy + hour.occupancy,
                        occupancy_max: p.occupancy_max.max(hour.occupancy_max),
                        entries: p.entries.saturating_add(hour.entries),
                        exits: p.exits.saturating_add(hour.exits),
                        buildings: p.buildings.max(hour.buildings),
                    },
                    n + 1,
                ),
            };
            if self.is_small(span.entries) || self.is_small(span.exits) {
                pending = Some((span, n));
            } else {
                out.push(HistoryPoint { occupancy: span.occupancy / f64::from(n), ..span });
            }
        }
        // Occupancy is a level, not a flow: a small mean is left out (NaN, shown as none; the
        // caller shows a small `occupancy_max` as none too).
        for span in &mut out {
            if (span.occupancy > 0.0 && span.occupancy < self.threshold as f64) || self.is_small(span.occupancy_max) {
                span.occupancy = f64::NAN;
            }
        }
        out
    }

    /// The spans of `buildings` (summed) that meet `from_s..to_s`, over the hours ended by
    /// `now_s`, read from the store by whole blocks so the spans do not depend on the window.
    pub fn read(
        &self,
        store: &mut Recorder,
        buildings: &[String],
        from_s: i64,
        to_s: i64,
        now_s: i64,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        let ended = now_s - now_s.rem_euclid(HOUR);
        let (first, last) = (self.block_start(from_s), (self.block_start(to_s - 1) + self.block_s()).min(ended));
        if last <= first {
            return Ok(Vec::new());
        }
        // A window of at most a few weeks: far under the limit; a cut would only drop the last
        // pending span (merging is causal), never change one.
        let hours = store.history(buildings, first, last, Step::Hour, 100_000)?;
        Ok(self.spans(&hours).into_iter().filter(|s| s.end_s > from_s && s.start_s < to_s).collect())
    }
}

/// Spans summed per UTC day (by their start): a day of the public history tells nothing its
/// spans do not.
pub fn by_day(spans: &[HistoryPoint]) -> Vec<HistoryPoint> {
    let mut days: Vec<HistoryPoint> = Vec::new();
    let mut covered_s = 0i64; // of the last day, for its mean occupancy
    for span in spans {
        let span_s = span.end_s - span.start_s;
        let day = span.start_s - span.start_s.rem_euclid(86_400);
        match days.last_mut() {
            Some(d) if d.start_s == day => {
                d.entries = d.entries.saturating_add(span.entries);
                d.exits = d.exits.saturating_add(span.exits);
                d.occupancy_max = d.occupancy_max.max(span.occupancy_max);
                d.buildings = d.buildings.max(span.buildings);
                // The mean over the day's spans; none if one of them has none (it could be worked
                // out from the mean and the others).
                d.occupancy = (d.occupancy * covered_s as f64 + span.occupancy * span_s as f64)
                    / (covered_s + span_s).max(1) as f64;
                covered_s += span_s;
            }
            _ => {
                covered_s = span_s;
                days.push(HistoryPoint { start_s: day, end_s: day + 86_400, ..span.clone() });
            }
        }
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR;

    fn hours(counts: &[(u64, u64)]) -> Vec<HistoryPoint> {
        hours_from(0, counts)
    }

    fn hours_from(first: i64, counts: &[(u64, u64)]) -> Vec<HistoryPoint> {
        counts
            .iter()
            .enumerate()
            .map(|(i, &(entries, exits))| HistoryPoint {
                start_s: first + i as i64 * H,
                end_s: first + (i as i64 + 1) * H,
                occupancy: 10.0,
                occupancy_max: 10,
                entries,
                exits,
                buildings: 1,
            })
            .collect()
    }

    fn flows(spans: &[HistoryPoint]) -> Vec<(i64, i64, u64, u64)> {
        spans.iter().map(|s| (s.start_s / H, s.end_s / H, s.entries, s.exits)).collect()
    }

    #[test]
    fn small_counts_merge_forward_within_their_block() {
        let s = Suppression::default();
        assert_eq!(flows(&s.spans(&hours(&[(5, 0), (0, 0), (7, 3)]))), vec![(0, 1, 5, 0), (1, 2, 0, 0), (2, 3, 7, 3)]);
        // 1 + 0 + 1 + 2 = 4 over four hours; then 9 alone.
        let merged = s.spans(&hours(&[(1, 0), (0, 0), (1, 0), (2, 0), (9, 0)]));
        assert_eq!(flows(&merged), vec![(0, 4, 4, 0), (4, 5, 9, 0)]);
        assert_eq!(merged[0].occupancy, 10.0, "the mean of the span's hours");
        // Small exits hold a span back as small entries do.
        assert_eq!(flows(&s.spans(&hours(&[(4, 1), (3, 2)]))), vec![(0, 2, 7, 3)]);
        // A lone passage at the end never goes out.
        assert_eq!(flows(&s.spans(&hours(&[(4, 0), (1, 0)]))), vec![(0, 1, 4, 0)]);
        // Never across the block's end (06:00) nor a gap.
        assert_eq!(flows(&s.spans(&hours_from(5 * H, &[(1, 0), (2, 0), (5, 0)]))), vec![(6, 8, 7, 0)]);
        let gap = [hours(&[(1, 0)]), hours_from(2 * H, &[(2, 0)])].concat();
        assert_eq!(flows(&s.spans(&gap)), vec![]);
        // Threshold 1: nothing is small.
        let exact = Suppression { threshold: 1, ..s };
        assert_eq!(flows(&exact.spans(&hours(&[(1, 0), (2, 1)]))), vec![(0, 1, 1, 0), (1, 2, 2, 1)]);
    }

    #[test]
    fn a_small_occupancy_is_left_out() {
        let s = Suppression::default();
        let mut one = hours(&[(0, 0)]);
        one[0].occupancy = 1.5;
        one[0].occupancy_max = 2;
        let spans = s.spans(&one);
        assert!(spans[0].occupancy.is_nan(), "{spans:?}");
        let days = by_day(&[spans[0].clone(), s.spans(&hours_from(H, &[(0, 0)]))[0].clone()]);
        assert!(days.len() == 1 && days[0].occupancy.is_nan(), "{days:?}");
        let days = by_day(&s.spans(&hours(&[(0, 0), (3, 0)])));
        assert_eq!((days[0].occupancy, days[0].entries), (10.0, 3));
    }

    #[test]
    fn spans_are_the_same_whatever_block_the_data_starts_in() {
        let s = Suppression::default();
        // Three blocks; reading any whole blocks gives the spans of the whole day in them.
        let counts: Vec<(u64, u64)> = (0..18).map(|i| ((i * 7 % 5) as u64, (i % 3) as u64)).collect();
        let all = s.spans(&hours(&counts));
        for first in [0, 6, 12] {
            let part = s.spans(&hours_from(first * H, &counts[first as usize..]));
            let expected: Vec<_> = all.iter().filter(|p| p.start_s >= first * H).cloned().collect();
            assert_eq!(flows(&part), flows(&expected), "from block {first}");
        }
    }
}
