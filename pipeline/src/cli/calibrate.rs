//! `lintel calibrate lens`: a camera's intrinsics and distortion from a clip of a printed
//! checkerboard, printed as the site-file value to paste under the camera.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use lintel::ingest::{FrameSource, SourceOptions};
use lintel_calibration::checkerboard::{Board, CheckerboardViews, DistortionTerms, LensEstimate, Offer};
use serde::Serialize;

#[derive(Args)]
pub struct CalibrateArgs {
    #[command(subcommand)]
    what: CalibrateCommand,
}

#[derive(Subcommand)]
enum CalibrateCommand {
    /// Estimate the lens (intrinsics and distortion) from a clip of a printed checkerboard moved
    /// slowly across the picture, tilted, corners of the picture included.
    Lens(LensArgs),
}

#[derive(Args)]
struct LensArgs {
    /// The clip, recorded from the camera at the resolution it streams (a file or URI).
    #[arg(long, value_name = "FILE")]
    clip: String,
    /// The board's inner corners, COLUMNSxROWS (where four squares meet: 10 × 7 squares is 9x6).
    #[arg(long, value_name = "COLUMNSxROWS")]
    board: String,
    /// Side of one printed square, in millimetres (measure the print).
    #[arg(long, value_name = "MM")]
    square_mm: f64,
    /// Look for the board in this many frames per second of the clip: a board moved by hand
    /// changes little in a fifth of a second, and each look costs a few milliseconds.
    #[arg(long, value_name = "FPS", default_value_t = 5.0)]
    fps: f64,
    /// Solve for a third radial term k3 too (fisheye-like lenses, with many views reaching the
    /// picture's corners); by default k3 = 0, which extrapolates better from views taken by hand.
    #[arg(long)]
    k3: bool,
    /// Print one JSON object on stdout instead of the site-file line.
    #[arg(long)]
    json: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Report {
    lens: LensJson,
    rms_px: f64,
    views: usize,
    frames_offered: u64,
    frames_with_board: u64,
}

#[derive(Serialize)]
struct LensJson {
    size: [u32; 2],
    focal: [f64; 2],
    centre: [f64; 2],
    distortion: [f64; 5],
}

pub fn run(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        CalibrateCommand::Lens(args) => lens(args),
    }
}

fn lens(args: LensArgs) -> anyhow::Result<ExitCode> {
    let board = Board::parse(&args.board, args.square_mm)?;
    if !(args.fps.is_finite() && args.fps > 0.0) {
        anyhow::bail!("--fps {}: give a number of frames per second above 0", args.fps);
    }
    let options = SourceOptions { fps: Some(args.fps), ..SourceOptions::default() };
    let mut source = FrameSource::open(&args.clip, &options)?;
    let mut views = CheckerboardViews::new(board);
    let mut with_board = 0;
    while let Some(frame) = source.next_frame()? {
        let grey = frame.rgb()?.to_grey();
        let offer =
            views.offer(&grey, frame.width(), frame.height()).with_context(|| format!("frame {}", frame.index))?;
        if offer != Offer::NotFound {
            with_board += 1;
        }
    }
    let terms = if args.k3 { DistortionTerms::WithK3 } else { DistortionTerms::FixK3 };
    let LensEstimate { lens, rms_px, views: used } = views.estimate_with(terms).context(args.clip.clone())?;
    if args.json {
        let report = Report {
            lens: LensJson {
                size: [lens.size.0, lens.size.1],
                focal: [lens.focal.0, lens.focal.1],
                centre: [lens.centre.0, lens.centre.1],
                distortion: lens.distortion,
            },
            rms_px,
            views: used,
            frames_offered: views.frames(),
            frames_with_board: with_board,
        };
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let d = lens.distortion;
        println!(
            "lens = {{ size = [{}, {}], focal = [{:.2}, {:.2}], centre = [{:.2}, {:.2}], distortion = [{:.6}, {:.6}, {:.6}, {:.6}, {:.6}] }}",
            lens.size.0,
            lens.size.1,
            lens.focal.0,
            lens.focal.1,
            lens.centre.0,
            lens.centre.1,
            d[0],
            d[1],
            d[2],
            d[3],
            d[4]
        );
        println!(
            "# RMS reprojection error {rms_px:.3} px over {used} views (the board was found in {with_board} of {} frames looked at)",
            views.frames()
        );
    }
    Ok(ExitCode::SUCCESS)
}
