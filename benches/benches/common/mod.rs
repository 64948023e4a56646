//! Settings shared by the criterion benches: short enough for a 2-core box, enough samples to
//! read a ratio.

use std::time::Duration;

use criterion::Criterion;

pub fn config(measurement: Duration) -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measurement)
        .sample_size(30)
        .nresamples(10_000)
}
