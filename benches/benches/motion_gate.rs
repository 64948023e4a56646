//! Motion gating: what deciding costs on a 768×576 frame, the whole picture watched (no zone) and
//! a door-sized area (a short line plus the default margin), against a `memcpy` of the frame
//! measured in the same run. A still picture: every frame is measured and compared, as on an
//! idle door.
//!
//! Run: `cargo bench -p lintel-benches --bench motion_gate` (add `-- --quick` for a shorter run).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lintel::infer::{MotionGate, MotionGateConfig};
use lintel::ingest::Frame;
use lintel_benches::Rng;
use lintel_calibration::geometry::{CountingLine, Point, Side};
use lintel_calibration::site::ZoneShape;

const WIDTH: u32 = 768;
const HEIGHT: u32 = 576;

fn motion_gate(c: &mut Criterion) {
    let mut rng = Rng::new(11);
    let rgb: Vec<u8> = (0..WIDTH as usize * HEIGHT as usize * 3).map(|_| rng.next_u64() as u8).collect();
    let frame = Frame::from_rgb(WIDTH, HEIGHT, rgb.clone(), 0).expect("frame");
    let mut copy = vec![0u8; rgb.len()];
    // The PETS lawn line: 80 px wide with its margin, 190 px tall.
    let lawn = ZoneShape::Line(CountingLine::new(Point::new(80.0, 330.0), Point::new(80.0, 520.0), Side::Right));

    let mut group = c.benchmark_group("motion_gate_768x576");
    group.throughput(Throughput::Bytes(rgb.len() as u64));
    group.bench_function("memcpy (baseline)", |b| {
        b.iter(|| copy.copy_from_slice(black_box(&rgb)));
    });
    for (name, zones) in [("whole picture", vec![]), ("lawn line + margin", vec![lawn])] {
        // A max skip that never comes: every call measures, compares and skips.
        let config = MotionGateConfig { max_skip: Duration::from_secs(1 << 30), ..MotionGateConfig::default() };
        let mut gate = MotionGate::new(config, &zones, (WIDTH, HEIGHT), false);
        let mut at = Duration::ZERO;
        group.bench_function(format!("decide: {name}"), |b| {
            b.iter(|| {
                at += Duration::from_millis(100);
                gate.decide(&frame, at, false).expect("map")
            });
        });
    }
    group.finish();
    black_box(&copy);
}

criterion_group! {
    name = benches;
    config = common::config(Duration::from_secs(3));
    targets = motion_gate
}
criterion_main!(benches);
