//! Counting: tracks crossing zones become entry and exit events, and events become tallies.

mod tally;
mod zone_counter;

pub use tally::{Tally, ZoneTally};
pub use zone_counter::{CounterConfig, CrossingEvent, ZoneCounter};
