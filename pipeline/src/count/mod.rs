//! Counting: tracks crossing zones become entry and exit events, and events become tallies.

mod interval;
mod tally;
mod zone_counter;

pub use interval::{BuildingSpec, EntranceCounts, EntranceSpec, IntervalAggregator, IntervalConfig, IntervalReport};
pub use tally::{Tally, ZoneTally};
pub use zone_counter::{CounterConfig, CrossingEvent, ZoneCounter};
