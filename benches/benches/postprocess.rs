//! Post-processing: the output decoders and non-maximum suppression on synthetic tensors of the
//! real sizes (YOLO at 640×640: 8400 candidates, 25200 for YOLOv5; SSD: 100 rows), with scores as
//! a detector gives them: almost all near zero, a few dozen above the threshold, clustered around
//! ten people (two pairs of them overlapping), so NMS has work to do.
//!
//! Each decoder is measured against a bare scan of the same scores (how many pass the threshold),
//! the least any decoder must read.
//!
//! Run: `cargo bench -p lintel-benches --bench postprocess` (add `-- --quick` for a shorter run).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lintel::infer::{
    Candidate, DecodeParams, decode_ssd_tf, decode_yolov5, decode_yolov8, decode_yolox, non_max_suppression,
};
use lintel_benches::Rng;
use ndarray::{ArrayView1, ArrayView2};

const INPUT: u32 = 640;
const CLASSES: usize = 80;
const STRIDES: [u32; 3] = [8, 16, 32];
/// Candidates of a 640×640 YOLOv8 / YOLOX head: 80² + 40² + 20².
const ANCHORS: usize = 8400;
const MIN_SCORE: f32 = 0.25;
const IOU: f32 = 0.45;

/// A box the network is sure of: centre, size and score in input pixels.
#[derive(Clone, Copy)]
struct Hot {
    stride: u32,
    cell: (u32, u32),
    centre: (f32, f32),
    size: (f32, f32),
    score: f32,
}

/// Ten people (two pairs standing close), each seen by five neighbouring grid cells over the three
/// strides, plus a few weak false positives: about 55 candidates above `MIN_SCORE`.
fn hot_cells(rng: &mut Rng) -> Vec<Hot> {
    let mut people: Vec<(f32, f32, f32, f32)> = (0..8)
        .map(|_| {
            let (w, h) = (rng.range(40.0, 90.0), rng.range(110.0, 220.0));
            (rng.range(60.0, 580.0), rng.range(120.0, 520.0), w, h)
        })
        .collect();
    for i in 0..2 {
        let (cx, cy, w, h) = people[i];
        people.push((cx + w * 0.4, cy + 6.0, w, h));
    }
    let mut hot = Vec::new();
    for (cx, cy, w, h) in people {
        let cells = [(8, -1), (8, 0), (8, 1), (16, 0), (32, 0)];
        for (stride, dx) in cells {
            let s = stride as f32;
            let gx = ((cx / s) as i32 + dx).clamp(0, (INPUT / stride) as i32 - 1) as u32;
            let gy = (cy / s) as u32;
            let jitter = |rng: &mut Rng| rng.range(-4.0, 4.0);
            hot.push(Hot {
                stride,
                cell: (gx, gy),
                centre: (cx + jitter(rng), cy + jitter(rng)),
                size: (w + jitter(rng), h + jitter(rng)),
                score: rng.range(0.3, 0.92),
            });
        }
    }
    for _ in 0..5 {
        let stride = STRIDES[rng.below(3)];
        let g = INPUT / stride;
        let cell = (rng.below(g as usize) as u32, rng.below(g as usize) as u32);
        let s = stride as f32;
        let centre = ((cell.0 as f32 + 0.5) * s, (cell.1 as f32 + 0.5) * s);
        hot.push(Hot { stride, cell, centre, size: (4.0 * s, 8.0 * s), score: rng.range(0.26, 0.35) });
    }
    hot
}

/// Index of a grid cell in the YOLOv8 / YOLOX order: strides 8, 16, 32, each grid row-major.
fn anchor_index(stride: u32, (gx, gy): (u32, u32)) -> usize {
    let mut base = 0;
    for s in STRIDES {
        let g = (INPUT / s) as usize;
        if s == stride {
            return base + gy as usize * g + gx as usize;
        }
        base += g * g;
    }
    unreachable!("stride {stride}")
}

/// A background score: nearly always tiny, never above the threshold.
fn background(rng: &mut Rng) -> f32 {
    rng.unit().powi(6) * 0.2
}

/// YOLOv8 `[4 + 80, 8400]`, one column per candidate.
fn yolov8_tensor(rng: &mut Rng, hot: &[Hot]) -> Vec<f32> {
    let rows = 4 + CLASSES;
    let mut data = vec![0.0; rows * ANCHORS];
    for i in 0..ANCHORS {
        data[i] = rng.range(0.0, 640.0);
        data[ANCHORS + i] = rng.range(0.0, 640.0);
        data[2 * ANCHORS + i] = rng.range(8.0, 200.0);
        data[3 * ANCHORS + i] = rng.range(8.0, 300.0);
        for class in 0..CLASSES {
            data[(4 + class) * ANCHORS + i] = background(rng);
        }
    }
    for h in hot {
        let i = anchor_index(h.stride, h.cell);
        for (row, v) in [h.centre.0, h.centre.1, h.size.0, h.size.1, h.score].into_iter().enumerate() {
            data[row * ANCHORS + i] = v;
        }
    }
    data
}

/// YOLOv5 `[25200, 85]`: three anchors per cell, rows of cx, cy, w, h, objectness, class scores.
fn yolov5_tensor(rng: &mut Rng, hot: &[Hot]) -> (Vec<f32>, usize) {
    let width = 5 + CLASSES;
    let candidates = 3 * ANCHORS;
    let mut data = vec![0.0; candidates * width];
    for row in data.chunks_exact_mut(width) {
        row[..4].copy_from_slice(&[rng.range(0.0, 640.0), rng.range(0.0, 640.0), rng.range(8.0, 200.0), 100.0]);
        row[4] = background(rng);
        for v in &mut row[5..] {
            *v = rng.unit();
        }
    }
    for h in hot {
        // The cell's middle anchor; objectness × person score gives the hot score.
        let i = 3 * anchor_index(h.stride, h.cell) + 1;
        let objectness = h.score.sqrt();
        let row = &mut data[i * width..(i + 1) * width];
        row[..6].copy_from_slice(&[h.centre.0, h.centre.1, h.size.0, h.size.1, objectness, objectness]);
    }
    (data, candidates)
}

/// YOLOX without in-graph decoding `[8400, 85]`: grid offsets and log sizes.
fn yolox_tensor(rng: &mut Rng, hot: &[Hot]) -> Vec<f32> {
    let width = 5 + CLASSES;
    let mut data = vec![0.0; ANCHORS * width];
    for row in data.chunks_exact_mut(width) {
        row[..4].copy_from_slice(&[rng.range(0.0, 1.0), rng.range(0.0, 1.0), rng.range(0.0, 3.0), rng.range(0.0, 3.0)]);
        row[4] = background(rng);
        for v in &mut row[5..] {
            *v = rng.unit();
        }
    }
    for h in hot {
        let i = anchor_index(h.stride, h.cell);
        let s = h.stride as f32;
        let (ox, oy) = (h.centre.0 / s - h.cell.0 as f32, h.centre.1 / s - h.cell.1 as f32);
        let objectness = h.score.sqrt();
        let row = &mut data[i * width..(i + 1) * width];
        row[..6].copy_from_slice(&[ox, oy, (h.size.0 / s).ln(), (h.size.1 / s).ln(), objectness, objectness]);
    }
    data
}

/// TensorFlow SSD: 100 rows sorted by score, a dozen people among them, other classes and noise
/// below.
fn ssd_tensors(rng: &mut Rng) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let rows = 100;
    let mut scores: Vec<f32> =
        (0..rows).map(|i| if i < 14 { rng.range(0.35, 0.95) } else { rng.range(0.01, 0.3) }).collect();
    scores.sort_by(|a, b| b.total_cmp(a));
    let classes = (0..rows).map(|i| if i % 7 == 3 { 3.0 } else { 1.0 }).collect();
    let boxes = (0..rows)
        .flat_map(|_| {
            let (y, x) = (rng.range(0.1, 0.7), rng.range(0.0, 0.9));
            [y, x, y + rng.range(0.1, 0.3), x + rng.range(0.03, 0.1)]
        })
        .collect();
    (boxes, scores, classes)
}

fn params(input_size: (u32, u32), person_class: u32) -> DecodeParams {
    DecodeParams { input_size, person_class, min_score: MIN_SCORE }
}

fn decoders(c: &mut Criterion) {
    let mut rng = Rng::new(11);
    let hot = hot_cells(&mut rng);
    let yolo = params((INPUT, INPUT), 0);
    let mut out: Vec<Candidate> = Vec::with_capacity(256);

    let v8 = yolov8_tensor(&mut rng, &hot);
    let v8_view = ArrayView2::from_shape((4 + CLASSES, ANCHORS), &v8).expect("the YOLOv8 layout");
    let mut group = c.benchmark_group("decode_yolov8_84x8400");
    group.throughput(Throughput::Elements(ANCHORS as u64));
    group.bench_function("scan (baseline)", |b| {
        b.iter(|| black_box(&v8)[4 * ANCHORS..5 * ANCHORS].iter().filter(|&&s| s >= MIN_SCORE).count());
    });
    group.bench_function("decode_yolov8", |b| {
        b.iter(|| {
            out.clear();
            decode_yolov8(black_box(v8_view), &yolo, &mut out);
            out.len()
        });
    });
    group.bench_function("decode_yolov8 + nms", |b| {
        b.iter(|| {
            out.clear();
            decode_yolov8(black_box(v8_view), &yolo, &mut out);
            non_max_suppression(&mut out, IOU);
            out.len()
        });
    });
    group.finish();
    out.clear();
    decode_yolov8(v8_view, &yolo, &mut out);
    let decoded = out.clone();
    non_max_suppression(&mut out, IOU);
    println!("yolov8: {} candidates above {MIN_SCORE}, {} after NMS", decoded.len(), out.len());
    drop(v8);

    let width = 5 + CLASSES;
    let (v5, candidates) = yolov5_tensor(&mut rng, &hot);
    let v5_view = ArrayView2::from_shape((candidates, width), &v5).expect("the YOLOv5 layout");
    let mut group = c.benchmark_group("decode_yolov5_25200x85");
    group.throughput(Throughput::Elements(candidates as u64));
    group.bench_function("scan (baseline)", |b| {
        b.iter(|| black_box(&v5).chunks_exact(width).filter(|r| r[4] * r[5] >= MIN_SCORE).count());
    });
    group.bench_function("decode_yolov5", |b| {
        b.iter(|| {
            out.clear();
            decode_yolov5(black_box(v5_view), &yolo, &mut out);
            out.len()
        });
    });
    group.finish();
    drop(v5);

    let x = yolox_tensor(&mut rng, &hot);
    let x_view = ArrayView2::from_shape((ANCHORS, width), &x).expect("the YOLOX layout");
    let mut group = c.benchmark_group("decode_yolox_8400x85");
    group.throughput(Throughput::Elements(ANCHORS as u64));
    group.bench_function("scan (baseline)", |b| {
        b.iter(|| black_box(&x).chunks_exact(width).filter(|r| r[4] * r[5] >= MIN_SCORE).count());
    });
    group.bench_function("decode_yolox", |b| {
        b.iter(|| {
            out.clear();
            decode_yolox(black_box(x_view), &yolo, &mut out);
            out.len()
        });
    });
    group.finish();
    drop(x);

    let (boxes, scores, classes) = ssd_tensors(&mut rng);
    let boxes_view = ArrayView2::from_shape((scores.len(), 4), &boxes).expect("four values a box");
    let (scores_view, classes_view) = (ArrayView1::from(&scores), ArrayView1::from(&classes));
    let ssd = params((768, 576), 1);
    let mut group = c.benchmark_group("decode_ssd_tf_100");
    group.throughput(Throughput::Elements(scores.len() as u64));
    group.bench_function("scan (baseline)", |b| {
        b.iter(|| black_box(&scores).iter().filter(|&&s| s >= MIN_SCORE).count());
    });
    group.bench_function("decode_ssd_tf", |b| {
        b.iter(|| {
            out.clear();
            decode_ssd_tf(black_box(boxes_view), scores_view, classes_view, scores.len(), &ssd, &mut out);
            out.len()
        });
    });
    group.finish();

    // NMS alone, on the YOLOv8 candidates and on a crowd with ten times as many.
    let crowd: Vec<Candidate> = (0..10)
        .flat_map(|k| {
            decoded.iter().map(move |c| {
                let dx = (k % 5) as f32 * 7.0;
                Candidate { x1: c.x1 + dx, x2: c.x2 + dx, score: c.score * (1.0 - k as f32 * 0.01), ..*c }
            })
        })
        .collect();
    let mut group = c.benchmark_group("nms");
    for (name, input) in [("yolov8 candidates", &decoded), ("crowd x10", &crowd)] {
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(format!("{name} ({}): copy (baseline)", input.len()), |b| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(black_box(input));
                out.len()
            });
        });
        group.bench_function(format!("{name} ({}): copy + nms", input.len()), |b| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(black_box(input));
                non_max_suppression(&mut out, IOU);
                out.len()
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(Duration::from_millis(1500));
    targets = decoders
}
criterion_main!(benches);
