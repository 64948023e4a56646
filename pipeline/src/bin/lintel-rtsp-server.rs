//! A fake camera: serves a video file over RTSP in a loop, in real time.
//!
//! ```text
//! lintel-rtsp-server fixtures/video/vtest.avi --port 8554 --path /walkway
//! CAM_PW=s3cret lintel-rtsp-server clip.avi --user viewer --password-env CAM_PW
//! lintel-rtsp-server fixtures/video/vtest.avi --port 8555 --path /left --crop 0,0,128,0
//! ```
//! Prints `ready rtsp://127.0.0.1:PORT/PATH` on stdout once it listens, then serves until killed.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use lintel::ingest::Credentials;
use lintel::test_camera::{ClipServer, ClipServerOptions, ServerAuth};

#[derive(Parser)]
#[command(about = "Serve a video file over RTSP in a loop, in real time, as a fake camera")]
struct Args {
    /// The video file to serve.
    file: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    address: String,
    /// TCP port (0: any free port; the ready line tells which).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Mount path.
    #[arg(long, default_value = "/walkway")]
    path: String,
    /// Frames per second to serve (default: the file's own rate).
    #[arg(long)]
    fps: Option<f64>,
    /// Frames between H.264 key frames (default: one second's worth).
    #[arg(long)]
    key_interval: Option<u32>,
    /// Require RTSP authentication (basic or digest) with this user name...
    #[arg(long, requires = "password_env")]
    user: Option<String>,
    /// ...and the password in this environment variable (never on the command line).
    #[arg(long, requires = "user")]
    password_env: Option<String>,
    /// The schemes asked for with --user: both (as many cameras), basic (a camera that sends
    /// the password in clear; Lintel refuses it by default) or digest.
    #[arg(long, default_value = "both", value_parser = ["both", "basic", "digest"], requires = "user")]
    auth: String,
    /// Burn the frame number into each frame as a bar code (for delay measurements).
    #[arg(long)]
    stamp: bool,
    /// Serve only part of the picture: pixels cut off the left, top, right and bottom edges
    /// (two overlapping crops of one clip make two cameras of one entrance).
    #[arg(long, value_name = "LEFT,TOP,RIGHT,BOTTOM", value_parser = parse_crop)]
    crop: Option<[u32; 4]>,
    /// Start this many seconds into the clip, then loop from its beginning: servers of one clip
    /// started at different points are cameras whose doors are busy at different times.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0, value_parser = parse_seconds)]
    start_s: f64,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.trim().parse().map_err(|e| format!("{e}"))?;
    if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) {
        Ok(seconds)
    } else {
        Err("expected seconds from 0 to 86400".into())
    }
}

fn parse_crop(text: &str) -> Result<[u32; 4], String> {
    let numbers: Vec<u32> =
        text.split(',').map(|n| n.trim().parse()).collect::<Result<_, _>>().map_err(|e| format!("{e}"))?;
    numbers.try_into().map_err(|_| "expected four numbers: LEFT,TOP,RIGHT,BOTTOM".to_string())
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,lintel=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let credentials = match (args.user, args.password_env) {
        (Some(user), Some(var)) => Some(Credentials::from_env(user, &var).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let server = ClipServer::start(ClipServerOptions {
        file: args.file,
        address: args.address,
        port: args.port,
        path: args.path,
        fps: args.fps,
        credentials,
        auth: match args.auth.as_str() {
            "basic" => ServerAuth::Basic,
            "digest" => ServerAuth::Digest,
            _ => ServerAuth::BasicAndDigest,
        },
        key_interval: args.key_interval,
        stamp: args.stamp,
        crop: args.crop,
        start_at: std::time::Duration::from_secs_f64(args.start_s),
    })
    .context("cannot start the RTSP server")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready {}", server.url())?;
    stdout.flush()?;
    drop(stdout);
    // Serve until killed: the server's threads do the work.
    loop {
        std::thread::park();
    }
}
