//! Camera tamper on real frames: the PETS clip, decoded by GStreamer, altered from its 40th second
//! the way a vandal or a bad day alters a door camera (blurred, shifted, rotated), or as a light
//! switched off alters it (a brightness step), watched one frame a second as the node does.

mod common;

use std::time::Duration;

use lintel::analysis::{ViewChange, ViewSample, ViewWatch, ViewWatchConfig};
use lintel::ingest::{Frame, FrameSource, SourceOptions};

/// The second from which the copy is altered (after the baseline is learned).
const ALTERED_FROM: u64 = 40;

/// One frame a second of the clip at 768×576, as packed RGB.
fn clip_frames() -> Vec<(Duration, Vec<u8>)> {
    let video = common::video();
    let options = SourceOptions { size: Some((768, 576)), fps: Some(1.0), ..Default::default() };
    let mut source = FrameSource::open(video.to_str().unwrap(), &options).unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        let view = frame.rgb().unwrap();
        let (w, h, stride) = (view.width(), view.height(), view.stride());
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in view.data().chunks(stride).take(h) {
            rgb.extend_from_slice(&row[..w * 3]);
        }
        frames.push((frame.pts.unwrap_or(Duration::from_secs(frames.len() as u64)), rgb));
    }
    assert!(frames.len() >= 75, "{} frames", frames.len());
    frames
}

const W: usize = 768;
const H: usize = 576;

/// A separable box blur of radius `r`, `passes` times (about a Gaussian of σ ≈ r·√(passes/3)).
fn blurred(rgb: &[u8], r: usize, passes: usize) -> Vec<u8> {
    let mut data: Vec<f32> = rgb.iter().map(|&v| f32::from(v)).collect();
    for _ in 0..passes {
        for (dx, dy) in [(1usize, 0usize), (0, 1)] {
            let copy = data.clone();
            for y in 0..H {
                for x in 0..W {
                    for c in 0..3 {
                        let (mut sum, mut n) = (0.0, 0.0);
                        for k in 0..=2 * r {
                            let (xx, yy) = (
                                x as isize + (k as isize - r as isize) * dx as isize,
                                y as isize + (k as isize - r as isize) * dy as isize,
                            );
                            if xx >= 0 && yy >= 0 && (xx as usize) < W && (yy as usize) < H {
                                sum += copy[(yy as usize * W + xx as usize) * 3 + c];
                                n += 1.0;
                            }
                        }
                        data[(y * W + x) * 3 + c] = sum / n;
                    }
                }
            }
        }
    }
    data.iter().map(|&v| v.round() as u8).collect()
}

/// The picture moved by (`dx`, `dy`) pixels and turned by `degrees` about its centre, black where
/// nothing was seen: a camera knocked aside.
fn moved(rgb: &[u8], dx: f32, dy: f32, degrees: f32) -> Vec<u8> {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (W as f32 / 2.0, H as f32 / 2.0);
    let mut out = vec![0u8; rgb.len()];
    for y in 0..H {
        for x in 0..W {
            let (u, v) = (x as f32 - cx - dx, y as f32 - cy - dy);
            let (sx, sy) = (cos * u + sin * v + cx, -sin * u + cos * v + cy);
            if sx >= 0.0 && sy >= 0.0 && (sx as usize) < W && (sy as usize) < H {
                let (from, to) = (((sy as usize) * W + sx as usize) * 3, (y * W + x) * 3);
                out[to..to + 3].copy_from_slice(&rgb[from..from + 3]);
            }
        }
    }
    out
}

fn darker(rgb: &[u8]) -> Vec<u8> {
    rgb.iter().map(|&v| (f32::from(v) * 0.45) as u8).collect()
}

/// Watches the clip with `alter` applied from [`ALTERED_FROM`] on; what changed, and when.
fn watch(frames: &[(Duration, Vec<u8>)], alter: impl Fn(&[u8]) -> Vec<u8>) -> (Vec<(u64, ViewChange)>, f64) {
    let mut watch = ViewWatch::new(ViewWatchConfig::default());
    let mut changes = Vec::new();
    let mut lowest = 1.0f64;
    for (at, rgb) in frames {
        let rgb = if at.as_secs() >= ALTERED_FROM { alter(rgb) } else { rgb.clone() };
        let frame = Frame::from_rgb(W as u32, H as u32, rgb, 0).unwrap();
        let sample = ViewSample::measure(&frame.rgb().unwrap());
        if let Some(change) = watch.observe(&sample, *at) {
            changes.push((at.as_secs(), change));
        }
        if !watch.learning() {
            lowest = lowest.min(watch.similarity);
        }
    }
    (changes, lowest)
}

#[test]
fn the_clip_as_it_is_with_people_walking_raises_nothing_and_a_light_switched_off_neither() {
    let frames = clip_frames();
    let (changes, lowest) = watch(&frames, |rgb| rgb.to_vec());
    println!("unaltered: lowest similarity {lowest:.2}");
    assert!(changes.is_empty(), "{changes:?}");
    let (changes, lowest) = watch(&frames, darker);
    println!("darker from {ALTERED_FROM} s: lowest similarity {lowest:.2}");
    assert!(changes.is_empty(), "{changes:?}");
}

#[test]
fn a_blurred_camera_is_defocused_within_its_grace() {
    let frames = clip_frames();
    let (changes, _) = watch(&frames, |rgb| blurred(rgb, 3, 2));
    println!("blurred: {changes:?}");
    let grace = ViewWatchConfig::default().defocus_grace.as_secs();
    assert!(
        matches!(changes[..], [(at, ViewChange::Defocused)] if at >= ALTERED_FROM + grace && at <= ALTERED_FROM + grace + 3),
        "{changes:?}"
    );
}

#[test]
fn a_shifted_or_turned_camera_is_moved_within_its_grace() {
    let frames = clip_frames();
    let grace = ViewWatchConfig::default().moved_grace.as_secs();
    for (name, dx, dy, degrees) in [("shifted", 90.0, 30.0, 0.0), ("turned", 0.0, 0.0, 8.0)] {
        let (changes, lowest) = watch(&frames, |rgb| moved(rgb, dx, dy, degrees));
        println!("{name}: {changes:?}, lowest similarity {lowest:.2}");
        assert!(
            matches!(changes[..], [(at, ViewChange::Moved)] if at >= ALTERED_FROM + grace && at <= ALTERED_FROM + grace + 3),
            "{name}: {changes:?}"
        );
    }
}
