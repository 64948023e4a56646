//! `lintel calibrate lens` on real media: a clip of a checkerboard rendered through a known lens
//! and encoded to H.264 by GStreamer is read back through Lintel's own ingest, and the lens it
//! prints must be the one that drew the clip; a clip without a board must fail quickly, in one
//! line that says what to check. The same clip served as an RTSP camera shows the board in live
//! frames, as the set-up page will receive them.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use lintel::ingest::{FrameSource, SourceOptions};
use lintel_calibration::Lens;
use lintel_calibration::checkerboard::{CheckerboardViews, Offer};

use common::checkerboard::{board, known_lens};

/// 40 poses held 4 frames each at 10 fps: a 16 s clip.
fn clip(name: &str) -> std::path::PathBuf {
    let path = common::scratch_dir(name).join("checkerboard.mp4");
    common::checkerboard::write_known_clip(&path);
    path
}

fn calibrate(clip: &std::path::Path, more: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["calibrate", "lens", "--clip"])
        .arg(clip)
        .args(["--board", "9x6", "--square-mm", "30"])
        .args(more)
        .output()
        .unwrap()
}

#[test]
fn a_checkerboard_clip_gives_back_the_lens_that_drew_it() {
    let clip = clip("checkerboard-clip");
    let started = Instant::now();
    let output = calibrate(&clip, &["--json"]);
    let took = started.elapsed();
    assert!(output.status.success(), "lintel calibrate lens failed: {}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("--json prints one JSON object");
    let estimate = lens_of(&report);
    let known = known_lens();
    let difference = known.max_difference_px(&estimate);
    let focal_error =
        (estimate.focal.0 / known.focal.0 - 1.0).abs().max((estimate.focal.1 / known.focal.1 - 1.0).abs());
    eprintln!(
        "{report}\nmax difference {difference:.3} px, focal error {:.2} %, {:.1} s",
        100.0 * focal_error,
        took.as_secs_f64()
    );
    assert_eq!(estimate.size, known.size);
    assert!(report["views"].as_u64().unwrap() >= 16, "{report}");
    assert!(report["rms_px"].as_f64().unwrap() < 0.5, "{report}");
    assert!(difference < 1.0, "the estimate differs from the lens by {difference:.2} px: {report}");
    assert!(focal_error < 0.02, "focal {:?}", estimate.focal);

    // Solving for k3 as well, for comparison (printed, not held to the tolerance).
    let output = calibrate(&clip, &["--json", "--k3"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    eprintln!("--k3: {report}\nmax difference {:.3} px", known.max_difference_px(&lens_of(&report)));

    // Without --json: the line to paste under the camera in the site file, and the fit.
    let output = calibrate(&clip, &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    eprintln!("{text}");
    let mut lines = text.lines();
    let line = lines.next().unwrap();
    assert!(line.starts_with("lens = { size = [768, 576], focal = [") && line.contains("distortion = ["), "{text}");
    assert!(lines.next().unwrap().starts_with("# RMS reprojection error "), "{text}");
}

/// The lens of a `--json` report.
fn lens_of(report: &serde_json::Value) -> Lens {
    let lens = &report["lens"];
    let number = |v: &serde_json::Value| v.as_f64().unwrap();
    Lens {
        size: (lens["size"][0].as_u64().unwrap() as u32, lens["size"][1].as_u64().unwrap() as u32),
        focal: (number(&lens["focal"][0]), number(&lens["focal"][1])),
        centre: (number(&lens["centre"][0]), number(&lens["centre"][1])),
        distortion: std::array::from_fn(|i| number(&lens["distortion"][i])),
    }
}

#[test]
fn a_clip_without_a_board_fails_quickly_in_one_line() {
    let started = Instant::now();
    // Two looks a second at the 80 s walkway clip.
    let output = calibrate(&common::video(), &["--json", "--fps", "2"]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}{:.1} s", took.as_secs_f64());
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("was not found in any of") && stderr.contains("inner-corner count"), "{stderr}");
    assert!(took < Duration::from_secs(30), "{took:?}");

    let output = Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["calibrate", "lens", "--clip"])
        .arg(common::video())
        .args(["--board", "9", "--square-mm", "30"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("COLUMNSxROWS"));
}

#[test]
fn the_clip_served_as_a_camera_shows_the_board_in_live_frames() {
    let clip = clip("checkerboard-rtsp");
    let camera = common::RtspCamera::serving(&clip, "/board");
    let options = SourceOptions { live: true, ..SourceOptions::default() };
    let mut source = FrameSource::open(&camera.url, &options).unwrap();
    let mut views = CheckerboardViews::new(board());
    let end = Instant::now() + Duration::from_secs(20);
    while views.views() < 3 && Instant::now() < end {
        let Some(frame) = source.next_frame().unwrap() else { break };
        assert_eq!((frame.width(), frame.height()), (768, 576));
        let grey = frame.rgb().unwrap().to_grey();
        let _: Offer = views.offer(&grey, frame.width(), frame.height()).unwrap();
    }
    assert!(views.views() >= 3, "{} views in {} frames", views.views(), views.frames());
}
