//! Counting: tracks crossing zones become entry and exit events, and events become tallies.

mod interval;
mod tally;
mod zone_counter;

pub use interval::{
    AggregatorState, BuildingSpec, EntranceCounts, EntranceSpec, IntervalAggregator, IntervalConfig, IntervalReport,
    OpenCounts,
};
pub use tally::{Tally, ZoneTally};
pub use zone_counter::{CounterConfig, CrossingEvent, ZoneCounter};
