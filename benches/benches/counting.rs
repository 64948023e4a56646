//! Counting: the cost of one `ZoneCounter::update` with 10, 50 and 200 confirmed tracks and six
//! zones (five counting lines and a door polygon) in a 768×576 frame, in a steady state.
//!
//! Tracks are `lintel_benches::Crowd` walkers, all in one frame, walking up or down through the
//! zones and out of the picture (their ids then go in `removed`), 5% of them unmatched in any
//! frame. Baseline in the same group: the bare geometry, every matched track's feet against
//! every zone (side of each line, inside or outside the polygon and its distance to the edge),
//! with none of the counter's per-track state.
//!
//! Run: `cargo bench -p lintel-benches --bench counting` (add `-- --quick` for a shorter run).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lintel::count::{CounterConfig, CrossingEvent, ZoneCounter};
use lintel::track::{Track, TrackId, TrackState};
use lintel_benches::{Crowd, Rng};
use lintel_calibration::geometry::{CountingLine, Point, Polygon, Side};
use lintel_calibration::site::{CameraGeometry, Zone, ZoneShape, ZoneSpace};
use lintel_calibration::{CameraSpace, Lens};

const FRAME: (u32, u32) = (768, 576);
const CYCLE: u32 = 200;
/// Hysteresis around each boundary, in pixels (the site default, 1% of the height, is 5.8).
const HYSTERESIS: f32 = 6.0;

/// The zones in pixels of the frame, each with its hysteresis.
fn zones() -> Vec<(ZoneShape, f32)> {
    let line = |a: (f32, f32), b: (f32, f32)| {
        ZoneShape::Line(CountingLine::new(Point::new(a.0, a.1), Point::new(b.0, b.1), Side::Right))
    };
    let door = Polygon::new(vec![
        Point::new(250.0, 120.0),
        Point::new(520.0, 120.0),
        Point::new(560.0, 260.0),
        Point::new(210.0, 260.0),
    ]);
    vec![
        line((0.0, 288.0), (768.0, 288.0)),
        line((100.0, 200.0), (500.0, 200.0)),
        line((300.0, 400.0), (768.0, 400.0)),
        line((384.0, 0.0), (384.0, 576.0)),
        line((100.0, 500.0), (700.0, 100.0)),
        ZoneShape::Polygon(door),
    ]
    .into_iter()
    .map(|z| (z, HYSTERESIS))
    .collect()
}

/// One cycle of the tracker's output: the tracks of each frame and the ids removed in it.
fn scene(people: usize) -> Vec<(Vec<Track>, Vec<TrackId>)> {
    let crowd = Crowd::new(people, people, (FRAME.0 as f32, FRAME.1 as f32), CYCLE, 3);
    let mut rng = Rng::new(9);
    (0..CYCLE)
        .map(|t| {
            let mut tracks = Vec::with_capacity(people);
            let mut removed = Vec::new();
            for k in 0..people {
                let id = TrackId(k as u64 + 1);
                if crowd.left_at(k, t) {
                    removed.push(id);
                }
                let Some(bbox) = crowd.bbox(k, t) else { continue };
                let matched = !rng.chance(0.05);
                let frames_since_seen = if matched { 0 } else { 1 };
                let track = Track {
                    id,
                    bbox,
                    score: 0.8,
                    state: TrackState::Confirmed,
                    matched,
                    hits: 10,
                    frames_since_seen,
                    age: 12,
                };
                tracks.push(track);
            }
            (tracks, removed)
        })
        .collect()
}

/// What the counter must at least compute: each matched track's feet against each zone.
/// The same zones as a site file has them (normalised).
fn site_zones(zones: &[(ZoneShape, f32)]) -> Vec<Zone> {
    let (w, h) = (FRAME.0 as f32, FRAME.1 as f32);
    zones
        .iter()
        .enumerate()
        .map(|(i, (shape, hysteresis))| Zone {
            camera: "bench".into(),
            name: format!("zone-{i}"),
            shape: shape.scale(1.0 / w, 1.0 / h),
            min_distance: hysteresis / h,
            aggregate: true,
            space: ZoneSpace::Picture,
            entrance: None,
        })
        .collect()
}

fn geometry_only(tracks: &[Track], zones: &[(ZoneShape, f32)]) -> usize {
    let mut clear = 0;
    for track in tracks.iter().filter(|t| t.matched) {
        let (x, y) = track.bbox.bottom_centre();
        let feet = Point::new(x.clamp(0.0, FRAME.0 as f32), y.clamp(0.0, FRAME.1 as f32));
        for (zone, hysteresis) in zones {
            let side = match zone {
                ZoneShape::Line(line) => line.signed_distance(feet).abs() >= *hysteresis && line.is_on_entry_side(feet),
                ZoneShape::Polygon(door) => door.distance_to_boundary(feet) >= *hysteresis && door.contains(feet),
            };
            clear += side as usize;
        }
    }
    clear
}

fn counting(c: &mut Criterion) {
    let mut group = c.benchmark_group("counting_update_6_zones");
    for people in [10, 50, 200] {
        let frames = scene(people);
        let zones = zones();
        let mut counter = ZoneCounter::new(&site_zones(&zones), CameraSpace::plain(FRAME), CounterConfig::default());
        // The same zones through a wide-angle lens: every foot point undistorted first.
        let lens = Lens {
            size: FRAME,
            focal: (FRAME.0 as f64 * 0.75, FRAME.0 as f64 * 0.75),
            centre: (FRAME.0 as f64 / 2.0, FRAME.1 as f64 / 2.0),
            distortion: [-0.28, 0.09, 0.0, 0.0, 0.0],
        };
        let (space, _) = CameraSpace::new(&CameraGeometry { lens: Some(lens), floor: None }, FRAME);
        let mut through_lens = ZoneCounter::new(&site_zones(&zones), space, CounterConfig::default());
        let mut events: Vec<CrossingEvent> = Vec::new();
        let mut frame_no = 0u64;
        for (tracks, removed) in frames.iter().cycle().take(CYCLE as usize) {
            counter.update(tracks, removed, frame_no, None, &mut events);
            frame_no += 1;
        }
        events.clear();
        for (tracks, removed) in &frames {
            counter.update(tracks, removed, frame_no, None, &mut events);
            frame_no += 1;
        }
        let tracks: usize = frames.iter().map(|(t, _)| t.len()).sum();
        println!(
            "{people} people: per frame {:.1} tracks; {} crossings per cycle of {CYCLE} frames",
            tracks as f64 / CYCLE as f64,
            events.len()
        );

        group.throughput(Throughput::Elements(people as u64));
        let mut next = 0;
        group.bench_function(BenchmarkId::new("geometry only (baseline)", people), |b| {
            b.iter(|| {
                let (tracks, _) = &frames[next];
                next = (next + 1) % frames.len();
                geometry_only(black_box(tracks), &zones)
            });
        });
        let mut next = 0;
        group.bench_function(BenchmarkId::new("ZoneCounter::update", people), |b| {
            b.iter(|| {
                let (tracks, removed) = &frames[next];
                next = (next + 1) % frames.len();
                events.clear();
                counter.update(black_box(tracks), removed, frame_no, None, &mut events);
                frame_no += 1;
                events.len()
            });
        });
        let mut next = 0;
        group.bench_function(BenchmarkId::new("ZoneCounter::update through a lens", people), |b| {
            b.iter(|| {
                let (tracks, removed) = &frames[next];
                next = (next + 1) % frames.len();
                events.clear();
                through_lens.update(black_box(tracks), removed, frame_no, None, &mut events);
                frame_no += 1;
                events.len()
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(Duration::from_secs(3));
    targets = counting
}
criterion_main!(benches);
