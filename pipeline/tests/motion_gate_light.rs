//! The motion gate in every light: on the PETS clip and its night copy (much darker, very flat,
//! JPEG quality 15, as `benches/degraded` makes it), door-sized areas all over the picture, each
//! watched by its own gate with no tracker behind it (so only the motion test can answer). Against
//! the ground truth, a person arriving in an area after it was empty for 2 s must set the gate off
//! within half a second, at night as in daylight, and an empty area must still be skipped most
//! of the time: the gate's threshold follows the picture's own noise and contrast.

mod common;

use std::time::Duration;

use common::degraded::{INFRARED, NIGHT, degraded_copy, ground_truth};
use lintel::infer::{GateDecision, MotionGate, MotionGateConfig};
use lintel::ingest::{FrameSource, SourceOptions};
use lintel_calibration::geometry::{CountingLine, Point, Side};
use lintel_calibration::site::ZoneShape;

const SIZE: (u32, u32) = (768, 576);
/// Frames an area must have been empty before someone's arrival counts.
const EMPTY_BEFORE: u64 = 20;
/// Frames after an arrival within which the gate must answer (0.5 s at 10 fps).
const ANSWER_WITHIN: u64 = 5;

#[derive(Debug, Default)]
struct Seen {
    arrivals: u64,
    answered: u64,
    empty_frames: u64,
    empty_skipped: u64,
}

/// Vertical 120-pixel lines on a grid over the picture: each its own door.
fn doors() -> Vec<ZoneShape> {
    let mut doors = Vec::new();
    for x in [90.0, 240.0, 390.0, 540.0, 690.0] {
        for y in [120.0, 300.0, 460.0] {
            let line = CountingLine::new(Point::new(x, y - 60.0), Point::new(x, y + 60.0), Side::Right);
            doors.push(ZoneShape::Line(line));
        }
    }
    doors
}

fn watch(video: &std::path::Path) -> Seen {
    let truth = ground_truth();
    let options = SourceOptions { size: Some(SIZE), ..Default::default() };
    let mut source = FrameSource::open(video.to_str().unwrap(), &options).unwrap();
    let mut gates: Vec<MotionGate> =
        doors().into_iter().map(|door| MotionGate::new(MotionGateConfig::default(), &[door], SIZE, false)).collect();
    // Per gate: the last frame someone was in its area, and the arrival not yet answered.
    let mut last_occupied = vec![None::<u64>; gates.len()];
    let mut waiting = vec![None::<u64>; gates.len()];
    let mut seen = Seen::default();
    let mut n = 0u64;
    while let Some(frame) = source.next_frame().unwrap() {
        // Frames in decoding order (the copy's timestamps may start after 0).
        n += 1;
        let at = Duration::from_millis(n * 100);
        let people = truth.get(&n).map_or(&[][..], Vec::as_slice);
        for (g, gate) in gates.iter_mut().enumerate() {
            let decision = gate.decide(&frame, at, false).unwrap();
            let w = gate.watched();
            let occupied =
                people.iter().any(|p| p[0] <= w.right() && p[2] >= w.left && p[1] <= w.bottom() && p[3] >= w.top);
            if occupied {
                let empty_since = last_occupied[g].map_or(n, |last| n - last);
                if empty_since > EMPTY_BEFORE && n > EMPTY_BEFORE {
                    seen.arrivals += 1;
                    waiting[g] = Some(n);
                }
                last_occupied[g] = Some(n);
            } else if last_occupied[g].is_none_or(|last| n - last > 10) {
                seen.empty_frames += 1;
                seen.empty_skipped += u64::from(decision == GateDecision::Skip);
            }
            if let Some(arrived) = waiting[g] {
                if decision == GateDecision::Motion {
                    seen.answered += 1;
                    waiting[g] = None;
                } else if n - arrived >= ANSWER_WITHIN {
                    waiting[g] = None;
                }
            }
        }
    }
    assert_eq!(n, 795, "every frame of the clip");
    seen
}

/// Darker still than the night copy, with heavier JPEG: a cheap colour camera without infrared
/// that sends its picture below black (`benches/degraded`'s `night-dark`).
const DARKER_NIGHT: &str = "videobalance brightness=-0.06 contrast=0.12 saturation=0.3 ! jpegenc quality=10 ! jpegdec";

#[test]
fn the_gate_sees_people_arrive_at_night_as_in_daylight() {
    let rate = |s: &Seen| (s.answered as f64 / s.arrivals as f64, s.empty_skipped as f64 / s.empty_frames as f64);
    let day = watch(&common::video());
    let (day_answered, day_skipped) = rate(&day);
    eprintln!("day: {day:?}: answered {day_answered:.2}, empty skipped {day_skipped:.2}");
    let copies = [
        ("night", degraded_copy("night-gate", NIGHT, 0.0, "")),
        ("infrared", degraded_copy("infrared-gate", INFRARED, 0.12, "jpegenc quality=40 ! jpegdec")),
        ("darker night", degraded_copy("darker-night-gate", DARKER_NIGHT, 0.0, "")),
    ];
    let seen: Vec<(&str, Seen)> = copies.iter().map(|(name, video)| (*name, watch(video))).collect();
    for (name, seen) in &seen {
        let (answered, skipped) = rate(seen);
        eprintln!("{name}: {seen:?}: answered {answered:.2}, empty skipped {skipped:.2}");
    }
    assert!(day.arrivals >= 10, "{day:?}");
    assert!(day_answered >= 0.9 && day_skipped >= 0.8, "daylight: {day:?}");
    for (name, seen) in &seen {
        let (answered, skipped) = rate(seen);
        assert_eq!(seen.arrivals, day.arrivals, "{name}: the same frames, the same people");
        // The darker night puts most of its luma below black (16): clipped, as GStreamer decodes
        // it, some arrivals were lost in the picture itself (0.69 answered); ingest now reads it
        // as full range (`ingest/to_rgb.rs`), which shows its people (0.98) and its noise: empty
        // doors are left alone a little less often (0.84 against 0.91 in daylight).
        let below_black = *name == "darker night";
        // Empty doors left alone as in daylight.
        let skip_floor = if below_black { 0.8 } else { day_skipped - 0.05 };
        assert!(skipped >= 0.8 && skipped >= skip_floor, "{name}: empty doors analysed: {seen:?}");
        // People seen arriving as in daylight.
        assert!(answered >= (day_answered - 0.05).min(0.9), "{name}: arrivals missed: {seen:?}");
    }
}
