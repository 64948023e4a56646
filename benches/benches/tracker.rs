//! Tracker: the cost of one `Tracker::update` with 10, 50 and 200 people walking, in a steady
//! state (the tracker has seen the scene for three cycles before the clock starts).
//!
//! The scene is `lintel_benches::Crowd`: ten people per 768×576 tile, tiles side by side, each
//! person walking straight through the picture and out of it, then back in later. Detections get
//! ±2 px of noise, 5% are missed, 10% have a low score (ByteTrack's second stage), and there is a
//! false positive now and then, so births, confirmations, losses and deaths all happen.
//!
//! Baseline in the same group: the IoU of every detection with every track, the dense cost
//! matrix a naive tracker would build, and only that.
//!
//! Run: `cargo bench -p lintel-benches --bench tracker` (add `-- --quick` for a shorter run).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lintel::detection::{BBox, Detection};
use lintel::track::{TrackState, Tracker, TrackerConfig};
use lintel_benches::{Crowd, Rng};

const TILE: (f32, f32) = (768.0, 576.0);
const PER_TILE: usize = 10;
/// Frames in one cycle of the scene: about 8 s at 25 frames/s.
const CYCLE: u32 = 200;

/// One cycle of detections, frame by frame.
fn detections(people: usize) -> Vec<Vec<Detection>> {
    let crowd = Crowd::new(people, PER_TILE, TILE, CYCLE, 3);
    let mut rng = Rng::new(5);
    let tiles = people.div_ceil(PER_TILE);
    (0..CYCLE)
        .map(|t| {
            let mut frame = Vec::with_capacity(people + tiles);
            for k in 0..crowd.people() {
                let Some(b) = crowd.bbox(k, t) else { continue };
                if rng.chance(0.05) {
                    continue;
                }
                let bbox = BBox {
                    left: b.left + rng.range(-2.0, 2.0),
                    top: b.top + rng.range(-2.0, 2.0),
                    width: b.width + rng.range(-2.0, 2.0),
                    height: b.height + rng.range(-2.0, 2.0),
                };
                let score = if rng.chance(0.1) { rng.range(0.15, 0.45) } else { rng.range(0.55, 0.95) };
                frame.push(Detection { bbox, score, class: 0 });
            }
            for tile in 0..tiles {
                if rng.chance(0.2) {
                    let (x, y) = (tile as f32 * TILE.0 + rng.range(0.0, 700.0), rng.range(0.0, 450.0));
                    let bbox = BBox { left: x, top: y, width: 45.0, height: 110.0 };
                    frame.push(Detection { bbox, score: rng.range(0.5, 0.7), class: 0 });
                }
            }
            frame
        })
        .collect()
}

fn tracker(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracker_update");
    for people in [10, 50, 200] {
        let frames = detections(people);
        let mut tracker = Tracker::new(TrackerConfig::default());
        for frame in frames.iter().cycle().take(2 * CYCLE as usize) {
            tracker.update(frame);
        }
        // What a steady frame looks like, averaged over one more cycle.
        let (mut seen, mut live, mut confirmed, mut removed) = (0, 0, 0, 0);
        for frame in &frames {
            let update = tracker.update(frame);
            seen += frame.len();
            live += update.tracks.len();
            confirmed += update.tracks.iter().filter(|t| t.state == TrackState::Confirmed).count();
            removed += update.removed.len();
        }
        let per = |n: usize| n as f64 / CYCLE as f64;
        println!(
            "{people} people: per frame {:.1} detections, {:.1} live tracks ({:.1} confirmed), {:.2} removed",
            per(seen),
            per(live),
            per(confirmed),
            per(removed)
        );

        group.throughput(Throughput::Elements(people as u64));
        let tracks: Vec<BBox> = tracker.tracks().iter().map(|t| t.bbox).collect();
        let mut next = 0;
        group.bench_function(BenchmarkId::new("iou matrix (baseline)", people), |b| {
            b.iter(|| {
                let frame = &frames[next];
                next = (next + 1) % frames.len();
                let mut sum = 0.0;
                for t in &tracks {
                    for d in frame {
                        sum += t.iou(&d.bbox);
                    }
                }
                black_box(sum)
            });
        });
        let mut next = 0;
        group.bench_function(BenchmarkId::new("Tracker::update", people), |b| {
            b.iter(|| {
                let frame = &frames[next];
                next = (next + 1) % frames.len();
                tracker.update(black_box(frame)).tracks.len()
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(Duration::from_secs(3));
    targets = tracker
}
criterion_main!(benches);
