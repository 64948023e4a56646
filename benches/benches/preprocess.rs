//! Pre-processing: a 768×576 RGB frame (the default detector's input size, so the scaler in
//! GStreamer has nothing left to do) into the detector's input tensor with the pipeline's own
//! `InputBuffer`, against a plain `memcpy` of the same bytes measured in the same run.
//!
//! The `low_light_768x576` group prices the low-light path of a dark camera, per frame: measuring
//! the picture (`LowLight::update`) and the fill through its tone curve, against the plain fill of
//! the same frame in the same group.
//!
//! The `frame_768x576` group prices what every frame costs before any of that: wrapping and
//! mapping it, and the tamper watch's luma spread, against the plain fill.
//!
//! Run: `cargo bench -p lintel-benches --bench preprocess` (add `-- --quick` for a shorter run).

mod common;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lintel::infer::{InputBuffer, LowLight, LowLightConfig, LowLightMode, Manifest, ModelSpec};
use lintel::ingest::Frame;
use lintel_benches::Rng;

const WIDTH: u32 = 768;
const HEIGHT: u32 = 576;

fn picture() -> Vec<u8> {
    let mut rng = Rng::new(7);
    (0..WIDTH as usize * HEIGHT as usize * 3).map(|_| rng.next_u64() as u8).collect()
}

/// A model of the given input type at 768×576; float models with ImageNet normalisation.
fn spec(layout: &str, dtype: &str) -> ModelSpec {
    let text = format!(
        "[[model]]\nname = \"m\"\nfile = \"m.onnx\"\nformat = \"yolov8\"\ninput_name = \"images\"\n\
         input_layout = \"{layout}\"\ninput_dtype = \"{dtype}\"\ninput_width = {WIDTH}\ninput_height = {HEIGHT}\n\
         mean = [0.485, 0.456, 0.406]\nstd = [0.229, 0.224, 0.225]\n"
    );
    Manifest::parse(&text, Path::new("models.toml")).expect("manifest").models.remove(0)
}

fn preprocess(c: &mut Criterion) {
    let rgb = picture();
    let bytes = rgb.len();
    let frame = Frame::from_rgb(WIDTH, HEIGHT, rgb.clone(), 0).expect("frame");
    let mut copy = vec![0u8; bytes];

    let mut group = c.benchmark_group("preprocess_768x576");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("memcpy (baseline)", |b| {
        b.iter(|| copy.copy_from_slice(black_box(&rgb)));
    });
    for (name, layout, dtype) in [
        ("u8 nhwc (SSD)", "nhwc", "uint8"),
        ("u8 2x2 blocks (SSD INT8)", "space-to-depth", "uint8"),
        ("f32 nchw (YOLO)", "nchw", "float32"),
        ("f32 nhwc", "nhwc", "float32"),
    ] {
        let mut input = InputBuffer::new(&spec(layout, dtype));
        group.bench_function(format!("{name}: map + fill"), |b| {
            b.iter(|| input.fill(&frame.rgb().expect("map")));
        });
        black_box(&input);
    }
    group.finish();
    black_box(&copy);

    // A dark, flat picture (levels 10..60, as at night): the camera's curve is on.
    let dark: Vec<u8> = rgb.iter().map(|v| 10 + v / 5).collect();
    let dark = Frame::from_rgb(WIDTH, HEIGHT, dark, 0).expect("frame");
    let mut camera = LowLight::new(LowLightConfig::with_mode(LowLightMode::Auto));
    let curve = camera.update(&dark.rgb().expect("map")).cloned().expect("a dark picture is stretched");
    let mut input = InputBuffer::new(&spec("nhwc", "uint8"));
    let mut group = c.benchmark_group("low_light_768x576");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("u8 nhwc: map + fill (baseline)", |b| {
        b.iter(|| input.fill(&dark.rgb().expect("map")));
    });
    group.bench_function("LowLight::update (measure, smooth, curve)", |b| {
        b.iter(|| camera.update(&dark.rgb().expect("map")).is_some());
    });
    group.bench_function("u8 nhwc: map + fill through the curve", |b| {
        b.iter(|| input.fill_slot_toned(0, &dark.rgb().expect("map"), Some(&curve)));
    });
    group.bench_function("u8 nhwc: map + update + fill through the curve", |b| {
        b.iter(|| {
            let view = dark.rgb().expect("map");
            let curve = camera.update(&view).cloned();
            input.fill_slot_toned(0, &view, curve.as_ref());
        });
    });
    group.finish();
    black_box(&input);

    // The fixed cost per frame, independent of its size: wrapping bytes in a frame, mapping it.
    let mut group = c.benchmark_group("frame_768x576");
    group.bench_function("Frame::from_rgb", |b| {
        b.iter_batched(
            || rgb.clone(),
            |data| Frame::from_rgb(WIDTH, HEIGHT, data, 0).expect("frame"),
            BatchSize::LargeInput,
        );
    });
    group.bench_function("Frame::rgb (map)", |b| {
        b.iter(|| frame.rgb().expect("map").data().len());
    });
    // What the node's tamper watch measures of a camera's frame once a second (`camera_blinded`):
    // 4×4-pixel block means over the central half, every other row of blocks; against the plain fill.
    group.bench_function("RgbView::luma_spread", |b| {
        b.iter(|| frame.rgb().expect("map").luma_spread());
    });
    group.bench_function("u8 nhwc: map + fill (baseline)", |b| {
        let mut input = InputBuffer::new(&spec("nhwc", "uint8"));
        b.iter(|| input.fill(&frame.rgb().expect("map")));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(Duration::from_secs(3));
    targets = preprocess
}
criterion_main!(benches);
