//! Counting: tracks crossing zones become entry and exit events, events seen by several cameras
//! of one entrance are merged, and events become tallies.

mod dedup;
mod interval;
mod tally;
mod zone_counter;

pub use dedup::{DedupConfig, EntranceDedup};
pub use interval::{
    AggregatorState, BuildingSpec, EntranceCounts, EntranceSpec, IntervalAggregator, IntervalConfig, IntervalReport,
    OpenCounts,
};
pub use tally::{Tally, ZoneTally};
pub use zone_counter::{CounterConfig, CrossingEvent, ZoneCounter};
