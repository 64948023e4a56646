//! Aggregation: entry/exit events roll up per entrance and per building into fixed intervals
//! aligned to the wall clock, with an occupancy estimate per building.
//!
//! Pure: time comes in with the events and with [`IntervalAggregator::close_due`], so a slow box
//! gives the same intervals later, not different ones.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lintel_calibration::geometry::Crossing;
use serde::{Deserialize, Serialize};

/// Settings of the aggregation.
#[derive(Debug, Clone)]
pub struct IntervalConfig {
    /// Length of an interval; intervals start at multiples of it since the Unix epoch (60 s:
    /// 10:00:00, 10:01:00, …).
    pub length: Duration,
    /// How long after its end an interval stays open for late events. A crossing is dated by
    /// the frame where it happened but may be decided a little later (a person seen on the new
    /// side for a second frame, a track that ends at the frame edge).
    pub grace: Duration,
    /// The most time [`IntervalAggregator::close_due`] catches up on interval by interval. A
    /// wall clock that jumps further ahead (a box without a real-time clock that starts in 1970,
    /// then gets NTP), or back past the interval being filled, is a clock jump: the intervals in
    /// between go out as one span per building, marked [`IntervalReport::span`], so a wrong clock
    /// neither floods the broker (29.7 million intervals from 1970) nor holds counts back until
    /// it catches up.
    pub max_catch_up: Duration,
}

impl Default for IntervalConfig {
    fn default() -> Self {
        Self { length: Duration::from_secs(60), grace: Duration::from_secs(5), max_catch_up: Duration::from_secs(3600) }
    }
}

/// A building and its entrances, as the aggregation needs them.
#[derive(Debug, Clone)]
pub struct BuildingSpec {
    pub id: String,
    pub initial_occupancy: u64,
    pub entrances: Vec<EntranceSpec>,
}

#[derive(Debug, Clone)]
pub struct EntranceSpec {
    pub id: String,
    pub cameras: Vec<String>,
}

/// Counts of one entrance in one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntranceCounts {
    pub id: String,
    pub entries: u64,
    pub exits: u64,
    pub cameras: Vec<String>,
}

/// One closed interval of one building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalReport {
    pub building: String,
    pub start: SystemTime,
    pub end: SystemTime,
    pub entries: u64,
    pub exits: u64,
    /// Occupancy at the end of the interval: never below zero.
    pub occupancy: u64,
    pub entrances: Vec<EntranceCounts>,
    /// The wall clock jumped: this report spans the gap (several intervals, or time that never
    /// was), with the counts recorded in it. Its entrances were not watched as usual.
    pub span: bool,
}

/// What survives a restart: the intervals not yet published and the occupancy estimates, by id
/// (so a site file edited in between still applies what matches).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatorState {
    /// Start (Unix seconds) of the oldest interval not yet published.
    pub next_to_close: Option<u64>,
    pub open: Vec<OpenCounts>,
    pub occupancy: Vec<(String, u64)>,
    /// Crossings counted before an occupancy reset in intervals still open: they are in the
    /// counts but not in the occupancy. Absent from state files written before resets existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_reset: Vec<BeforeReset>,
}

/// Entries and exits of one building in one open interval that an occupancy reset already took in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeforeReset {
    pub start: u64,
    pub building: String,
    pub entries: u64,
    pub exits: u64,
}

/// Counts of one entrance in one interval not yet published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCounts {
    pub start: u64,
    pub building: String,
    pub entrance: String,
    pub entries: u64,
    pub exits: u64,
}

#[derive(Debug, Clone)]
struct Building {
    spec: BuildingSpec,
    occupancy: u64,
    /// Interval start → (entries, exits) counted before the last reset, left out of the occupancy.
    before_reset: BTreeMap<u64, (u64, u64)>,
}

/// Open intervals, by start time (seconds since the epoch), then (building, entrance) → counts.
type OpenIntervals = BTreeMap<u64, BTreeMap<(usize, usize), (u64, u64)>>;

/// Rolls events up into intervals; emits each interval of each building once, in order.
pub struct IntervalAggregator {
    config: IntervalConfig,
    buildings: Vec<Building>,
    open: OpenIntervals,
    /// Start of the first interval not yet emitted; events older than it go to it.
    next_to_close: Option<u64>,
}

impl IntervalAggregator {
    pub fn new(buildings: Vec<BuildingSpec>, config: IntervalConfig) -> Self {
        let buildings = buildings
            .into_iter()
            .map(|spec| Building { occupancy: spec.initial_occupancy, spec, before_reset: BTreeMap::new() })
            .collect();
        Self { config, buildings, open: BTreeMap::new(), next_to_close: None }
    }

    fn length_s(&self) -> u64 {
        self.config.length.as_secs().max(1)
    }

    fn interval_of(&self, at: SystemTime) -> u64 {
        let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        secs - secs % self.length_s()
    }

    /// Records one passage through an entrance. Unknown entrances are ignored (the site file
    /// was validated, so there are none). An event dated in an interval already emitted is
    /// counted in the oldest one still open: late, but not lost.
    pub fn record(&mut self, entrance: &str, direction: Crossing, at: SystemTime) {
        let Some(key) = self.find(entrance) else { return };
        let mut start = self.interval_of(at);
        if let Some(next) = self.next_to_close {
            start = start.max(next);
        }
        let counts = self.open.entry(start).or_default().entry(key).or_default();
        match direction {
            Crossing::Entry => counts.0 += 1,
            Crossing::Exit => counts.1 += 1,
        }
    }

    /// Emits every interval that ended at least `grace` before `now`, for every building (an
    /// interval without events is reported with zeros: a quiet door is information too).
    ///
    /// A clock jump (see [`IntervalConfig::max_catch_up`]) first closes what lies between as one
    /// span per building.
    pub fn close_due(&mut self, now: SystemTime) -> Vec<IntervalReport> {
        let length = self.length_s();
        let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut next =
            self.next_to_close.unwrap_or_else(|| self.open.keys().next().copied().unwrap_or(self.interval_of(now)));
        let mut reports = Vec::new();
        let current = self.interval_of(now);
        let catch_up = self.config.max_catch_up.as_secs().max(length);
        let jumped_ahead = current.saturating_sub(next) > catch_up;
        let jumped_back = next > current.saturating_add(length);
        if jumped_ahead || jumped_back {
            // Everything open before the current interval (ahead), or everything open (back: the
            // intervals were dated by a clock that was wrong or is wrong now).
            let end = if jumped_ahead {
                current
            } else {
                self.open.keys().next_back().map_or(next, |last| (*last).max(next)) + length
            };
            reports = self.close_span(next, end, jumped_ahead.then_some(current));
            next = current;
        }
        while next + length + self.config.grace.as_secs() <= now_s {
            let counts = self.open.remove(&next).unwrap_or_default();
            for b in 0..self.buildings.len() {
                reports.push(self.report(b, next, &counts));
            }
            next += length;
        }
        self.next_to_close = Some(next);
        reports
    }

    /// Like [`close_due`](Self::close_due), but closes at most one interval (or one span), so
    /// the caller can make each durable before the next: a crash in a long catch-up repeats at
    /// most one interval, not all of them.
    pub fn close_next_due(&mut self, now: SystemTime) -> Vec<IntervalReport> {
        let length = self.length_s();
        let next =
            self.next_to_close.unwrap_or_else(|| self.open.keys().next().copied().unwrap_or(self.interval_of(now)));
        let current = self.interval_of(now);
        let jumped = current.saturating_sub(next) > self.config.max_catch_up.as_secs().max(length)
            || next > current.saturating_add(length);
        if jumped {
            return self.close_due(now);
        }
        let one_interval = UNIX_EPOCH + Duration::from_secs(next + length + self.config.grace.as_secs());
        if one_interval > now {
            // As close_due does: the first interval to close is fixed at the first call, so quiet
            // intervals before the first crossing are published too.
            self.next_to_close = Some(next);
            return Vec::new();
        }
        self.close_due(one_interval)
    }

    /// Closes the intervals open from `start` to `end` (all of them when `before` is `None`, else
    /// those starting before it) as one report per building.
    fn close_span(&mut self, start: u64, end: u64, before: Option<u64>) -> Vec<IntervalReport> {
        let keys: Vec<u64> = self.open.keys().copied().filter(|k| before.is_none_or(|b| *k < b)).collect();
        let mut merged: BTreeMap<(usize, usize), (u64, u64)> = BTreeMap::new();
        for key in &keys {
            for (entrance, (entries, exits)) in self.open.remove(key).unwrap_or_default() {
                let sum = merged.entry(entrance).or_default();
                sum.0 += entries;
                sum.1 += exits;
            }
        }
        for building in &mut self.buildings {
            let taken: Vec<(u64, u64)> = keys.iter().filter_map(|k| building.before_reset.remove(k)).collect();
            if !taken.is_empty() {
                let sum = taken.iter().fold((0, 0), |(a, b), (e, x)| (a + e, b + x));
                building.before_reset.insert(start, sum);
            }
        }
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        (0..self.buildings.len())
            .map(|b| IntervalReport { end: at(end.max(start + 1)), span: true, ..self.report(b, start, &merged) })
            .collect()
    }

    /// Sets a building's occupancy (a reset by an operator); returns false for an unknown id.
    pub fn set_occupancy(&mut self, building: &str, occupancy: u64) -> bool {
        match self.buildings.iter_mut().find(|b| b.spec.id == building) {
            Some(b) => {
                b.occupancy = occupancy;
                true
            }
            None => false,
        }
    }

    /// Resets a building's occupancy to what a person counted *now*: crossings already recorded
    /// in open intervals stay in their counts but no longer move the occupancy, later ones do.
    /// Returns false for an unknown id.
    pub fn reset_occupancy(&mut self, building: &str, occupancy: u64) -> bool {
        let Some(b) = self.buildings.iter().position(|x| x.spec.id == building) else { return false };
        let mut counted: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for (start, counts) in &self.open {
            for (_, &(entries, exits)) in counts.range((b, 0)..(b + 1, 0)) {
                let sum = counted.entry(*start).or_default();
                sum.0 += entries;
                sum.1 += exits;
            }
        }
        let building = &mut self.buildings[b];
        building.occupancy = occupancy;
        building.before_reset = counted;
        true
    }

    /// Current occupancy of each building: as of the last closed interval, or of the last reset.
    pub fn occupancy(&self) -> impl Iterator<Item = (&str, u64)> {
        self.buildings.iter().map(|b| (b.spec.id.as_str(), b.occupancy))
    }

    /// The state to persist so a restart loses and repeats no interval.
    pub fn snapshot(&self) -> AggregatorState {
        let open = self
            .open
            .iter()
            .flat_map(|(start, counts)| {
                counts.iter().map(move |(&(b, e), &(entries, exits))| OpenCounts {
                    start: *start,
                    building: self.buildings[b].spec.id.clone(),
                    entrance: self.buildings[b].spec.entrances[e].id.clone(),
                    entries,
                    exits,
                })
            })
            .collect();
        let occupancy = self.buildings.iter().map(|b| (b.spec.id.clone(), b.occupancy)).collect();
        let before_reset = self
            .buildings
            .iter()
            .flat_map(|b| {
                b.before_reset.iter().map(|(&start, &(entries, exits))| BeforeReset {
                    start,
                    building: b.spec.id.clone(),
                    entries,
                    exits,
                })
            })
            .collect();
        AggregatorState { next_to_close: self.next_to_close, open, occupancy, before_reset }
    }

    /// Takes back a persisted state; entries for buildings or entrances no longer in the site
    /// are dropped.
    pub fn restore(&mut self, state: AggregatorState) {
        self.next_to_close = state.next_to_close;
        for (id, occupancy) in state.occupancy {
            self.set_occupancy(&id, occupancy);
        }
        for r in state.before_reset {
            if let Some(b) = self.buildings.iter_mut().find(|b| b.spec.id == r.building) {
                b.before_reset.insert(r.start, (r.entries, r.exits));
            }
        }
        for c in state.open {
            if let Some(key) = self.find(&c.entrance) {
                let counts = self.open.entry(c.start).or_default().entry(key).or_default();
                counts.0 += c.entries;
                counts.1 += c.exits;
            }
        }
    }

    fn find(&self, entrance: &str) -> Option<(usize, usize)> {
        self.buildings
            .iter()
            .enumerate()
            .find_map(|(b, building)| building.spec.entrances.iter().position(|e| e.id == entrance).map(|e| (b, e)))
    }

    fn report(&mut self, b: usize, start: u64, counts: &BTreeMap<(usize, usize), (u64, u64)>) -> IntervalReport {
        let building = &mut self.buildings[b];
        let entrances: Vec<EntranceCounts> = building
            .spec
            .entrances
            .iter()
            .enumerate()
            .map(|(e, spec)| {
                let (entries, exits) = counts.get(&(b, e)).copied().unwrap_or_default();
                EntranceCounts { id: spec.id.clone(), entries, exits, cameras: spec.cameras.clone() }
            })
            .collect();
        let entries: u64 = entrances.iter().map(|e| e.entries).sum();
        let exits: u64 = entrances.iter().map(|e| e.exits).sum();
        // What a reset already took in does not count twice.
        let (taken_entries, taken_exits) = building.before_reset.remove(&start).unwrap_or_default();
        // Missed entries would drive the estimate below zero; a building is never less than empty.
        building.occupancy = (building.occupancy.saturating_add(entries.saturating_sub(taken_entries)))
            .saturating_sub(exits.saturating_sub(taken_exits));
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        IntervalReport {
            building: building.spec.id.clone(),
            start: at(start),
            end: at(start + self.config.length.as_secs().max(1)),
            entries,
            exits,
            occupancy: building.occupancy,
            entrances,
            span: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn aggregator() -> IntervalAggregator {
        let building = |id: &str, entrances: &[&str], initial| BuildingSpec {
            id: id.into(),
            initial_occupancy: initial,
            entrances: entrances
                .iter()
                .map(|e| EntranceSpec { id: e.to_string(), cameras: vec![format!("cam-{e}")] })
                .collect(),
        };
        IntervalAggregator::new(
            vec![building("b1", &["north", "south"], 10), building("b2", &["east"], 0)],
            IntervalConfig::default(),
        )
    }

    #[test]
    fn intervals_are_aligned_to_the_minute_and_sum_their_entrances() {
        let mut agg = aggregator();
        agg.record("north", Crossing::Entry, t(6_000 + 5));
        agg.record("south", Crossing::Entry, t(6_000 + 30));
        agg.record("south", Crossing::Exit, t(6_000 + 59));
        assert!(agg.close_due(t(6_064)).is_empty(), "still within the grace period");
        let reports = agg.close_due(t(6_065));
        assert_eq!(reports.len(), 2, "one per building");
        let b1 = &reports[0];
        assert_eq!((b1.start, b1.end), (t(6_000), t(6_060)));
        assert_eq!((b1.entries, b1.exits, b1.occupancy), (2, 1, 11));
        assert_eq!(b1.entrances[0].entries, 1);
        assert_eq!(b1.entrances[1].exits, 1);
        assert_eq!(reports[1].entries, 0);
    }

    #[test]
    fn quiet_intervals_are_reported_and_none_is_skipped() {
        let mut agg = aggregator();
        agg.record("east", Crossing::Entry, t(6_000));
        let reports = agg.close_due(t(6_000 + 3 * 60 + 5));
        let b2: Vec<_> = reports.iter().filter(|r| r.building == "b2").collect();
        assert_eq!(b2.iter().map(|r| r.start).collect::<Vec<_>>(), vec![t(6_000), t(6_060), t(6_120)]);
        assert_eq!(b2.iter().map(|r| r.entries).collect::<Vec<_>>(), vec![1, 0, 0]);
        assert_eq!(b2[2].occupancy, 1);
    }

    #[test]
    fn occupancy_never_goes_below_zero_and_can_be_reset() {
        let mut agg = aggregator();
        for _ in 0..3 {
            agg.record("east", Crossing::Exit, t(6_010));
        }
        let reports = agg.close_due(t(6_070));
        assert_eq!(reports[1].occupancy, 0);
        assert!(agg.set_occupancy("b2", 7));
        assert!(!agg.set_occupancy("nowhere", 7));
        agg.record("east", Crossing::Entry, t(6_070));
        let reports = agg.close_due(t(6_130));
        assert_eq!(reports[1].occupancy, 8);
    }

    #[test]
    fn a_restored_state_continues_where_it_stopped() {
        let mut agg = aggregator();
        agg.record("north", Crossing::Entry, t(6_001));
        agg.close_due(t(6_070));
        agg.record("north", Crossing::Exit, t(6_075));
        agg.record("east", Crossing::Entry, t(6_080));
        let state = agg.snapshot();
        let json = serde_json::to_string(&state).unwrap();

        let mut resumed = aggregator();
        resumed.restore(serde_json::from_str(&json).unwrap());
        assert_eq!(resumed.snapshot(), state);
        let reports = resumed.close_due(t(6_130));
        assert_eq!(reports[0].start, t(6_060), "the interval after the last published one, not a repeat");
        assert_eq!((reports[0].exits, reports[0].occupancy), (1, 10));
        assert_eq!((reports[1].entries, reports[1].occupancy), (1, 1));
    }

    #[test]
    fn a_reset_mid_interval_counts_only_the_later_crossings_and_survives_a_restore() {
        let mut agg = aggregator();
        for _ in 0..4 {
            agg.record("north", Crossing::Entry, t(6_010));
        }
        agg.record("south", Crossing::Exit, t(6_020));
        assert!(agg.reset_occupancy("b1", 50));
        assert!(!agg.reset_occupancy("nowhere", 50));
        assert_eq!(agg.occupancy().next(), Some(("b1", 50)));
        agg.record("north", Crossing::Entry, t(6_030));
        let mut resumed = aggregator();
        resumed.restore(serde_json::from_str(&serde_json::to_string(&agg.snapshot()).unwrap()).unwrap());
        for agg in [&mut agg, &mut resumed] {
            let reports = agg.close_due(t(6_070));
            assert_eq!((reports[0].entries, reports[0].exits), (5, 1), "the counts keep every crossing");
            assert_eq!(reports[0].occupancy, 51, "the reset value plus the one entry after it");
            agg.record("south", Crossing::Exit, t(6_080));
            assert_eq!(agg.close_due(t(6_130))[0].occupancy, 50, "later intervals count in full");
        }
    }

    #[test]
    fn a_late_event_is_counted_in_the_oldest_open_interval() {
        let mut agg = aggregator();
        agg.record("north", Crossing::Entry, t(6_001));
        agg.close_due(t(6_070));
        agg.record("north", Crossing::Entry, t(6_030)); // its interval is gone
        let reports = agg.close_due(t(6_130));
        assert_eq!(reports[0].start, t(6_060));
        assert_eq!(reports[0].entries, 1);
    }

    #[test]
    fn a_clock_that_jumps_from_1970_to_now_closes_one_span_not_millions_of_intervals() {
        let mut agg = aggregator();
        agg.record("north", Crossing::Entry, t(30));
        agg.record("north", Crossing::Entry, t(200));
        assert_eq!(agg.close_due(t(124)).len(), 2, "one minute closes normally");
        let now = 1_764_064_800 + 17; // 2025-11-25T10:00:17Z
        let reports = agg.close_due(t(now));
        assert_eq!(reports.len(), 2, "one span per building");
        let b1 = &reports[0];
        assert!(b1.span);
        assert_eq!((b1.start, b1.end), (t(60), t(1_764_064_800)));
        assert_eq!((b1.entries, b1.occupancy), (1, 12), "the crossing recorded in the gap is kept");
        agg.record("north", Crossing::Exit, t(now + 1));
        let reports = agg.close_due(t(now + 60));
        assert_eq!(reports.len(), 2);
        assert!(!reports[0].span);
        assert_eq!((reports[0].start, reports[0].exits, reports[0].occupancy), (t(1_764_064_800), 1, 11));
    }

    #[test]
    fn a_clock_that_goes_back_does_not_hold_the_counts_until_it_catches_up() {
        let mut agg = aggregator();
        let day = 86_400;
        agg.record("south", Crossing::Entry, t(10 * day + 5));
        assert_eq!(agg.close_due(t(10 * day + 70)).len(), 2);
        // The state says the next interval starts at 10 d + 60 s; the clock now says a day earlier.
        agg.record("south", Crossing::Entry, t(9 * day + 3));
        let reports = agg.close_due(t(9 * day + 10));
        assert_eq!(reports.len(), 2, "what was held goes out at once");
        assert!(reports[0].span);
        assert_eq!((reports[0].entries, reports[0].occupancy), (1, 12));
        // And the intervals follow the clock as it is now.
        agg.record("north", Crossing::Entry, t(9 * day + 20));
        let reports = agg.close_due(t(9 * day + 65));
        assert_eq!(reports.len(), 2);
        assert!(!reports[0].span);
        assert_eq!((reports[0].start, reports[0].entries, reports[0].occupancy), (t(9 * day), 1, 13));
    }

    #[test]
    fn a_restart_within_the_catch_up_publishes_every_interval_it_missed() {
        let mut agg = aggregator();
        agg.record("north", Crossing::Entry, t(6_000 + 5));
        let reports = agg.close_due(t(6_000 + 30 * 60));
        assert_eq!(reports.len(), 2 * 29, "29 whole minutes, each once per building");
        assert!(reports.iter().all(|r| !r.span));
    }

    #[test]
    fn one_at_a_time_closes_the_same_intervals_as_all_at_once_quiet_ones_first_included() {
        let (mut all, mut one) = (aggregator(), aggregator());
        // Started at 6000 s; the first crossing only at 6200 s.
        assert!(all.close_due(t(6_010)).is_empty() && one.close_next_due(t(6_010)).is_empty());
        for agg in [&mut all, &mut one] {
            agg.record("north", Crossing::Entry, t(6_200));
        }
        let everything = all.close_due(t(6_400));
        let mut one_by_one = Vec::new();
        loop {
            let reports = one.close_next_due(t(6_400));
            if reports.is_empty() {
                break;
            }
            assert_eq!(reports.len(), 2, "one interval of each building at a time");
            one_by_one.extend(reports);
        }
        assert_eq!(one_by_one, everything);
        assert_eq!(
            everything.first().map(|r| r.start),
            Some(t(6_000)),
            "the quiet minutes before the first crossing too"
        );
    }
}
