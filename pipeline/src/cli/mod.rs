//! Command-line interface: argument parsing and the sub-commands.

mod calibrate;
mod check;
pub mod config;
mod count;
mod density_alias;
mod gate_flag;
mod occupancy;
mod preflight;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "lintel", version, about = "Anonymised people counting for building entrances")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Where logs go: `auto` (the journal when systemd connected stderr to it, else stderr),
    /// `stderr`, or `journald` (with CAMERA= and BUILDING= fields).
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_to: lintel::service::LogTarget,
}

#[derive(Subcommand)]
enum Command {
    /// Count entries and exits in a recorded video.
    Count(count::CountArgs),
    /// Watch every camera of a site and publish counts over MQTT.
    Run(Box<run::RunArgs>),
    /// Set a building's occupancy on the running node (a retained MQTT command).
    Occupancy(occupancy::OccupancyArgs),
    /// The population-density layer, now the city server `lintel-city`: runs it with these arguments.
    #[command(disable_help_flag = true)]
    Density(density_alias::DensityArgs),
    /// Measure a camera for its site file: `lens` from a clip of a printed checkerboard.
    Calibrate(calibrate::CalibrateArgs),
    /// Check what `lintel run` with the same options needs: site file, models, cameras, broker,
    /// spool, clock. One line per check; exit status 1 when one fails.
    Check(Box<check::CheckArgs>),
    /// Write the man pages (lintel.1, lintel-run.1, …) into DIR: for the package.
    #[command(hide = true)]
    Manpages { dir: PathBuf },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Count(args) => count::run(args),
        Command::Run(args) => run::run(*args),
        Command::Occupancy(args) => occupancy::run(args),
        Command::Density(args) => density_alias::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Check(args) => check::run(*args),
        Command::Manpages { dir } => manpages(&dir),
    }
}

/// `models/models.toml` of the working directory, else the installed package's
/// (`/usr/share/lintel/models/` beside `/usr/bin/lintel`), else the workspace lintel was built in.
fn default_manifest() -> PathBuf {
    let local = PathBuf::from("models/models.toml");
    if local.exists() {
        return local;
    }
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("../share/lintel/models/models.toml")))
        .filter(|path| path.exists());
    if let Some(installed) = installed {
        return installed;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/models.toml")
}

/// The detector's lanes for `--lanes` (`None`: 2 on a box of 2 cores or more, else none), each
/// a session of the model `spec` (with its region networks, `regions`) with its share of the
/// `threads` the detector alone runs on (0: one per core, as ONNX Runtime's default).
fn detector_lanes(
    runtime: &lintel::infer::Runtime,
    manifest: &lintel::infer::Manifest,
    spec: &lintel::infer::ModelSpec,
    regions: bool,
    lanes: Option<usize>,
    threads: usize,
) -> anyhow::Result<Vec<lintel::infer::Detector>> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let lanes = lanes.unwrap_or(if cores >= 2 { 2 } else { 1 });
    if lanes < 2 {
        return Ok(Vec::new());
    }
    let threads = (if threads == 0 { cores } else { threads } / lanes).max(1);
    (0..lanes)
        .map(|_| {
            let lane = lintel::infer::Detector::load(runtime, spec, &manifest.file_of(spec), threads)?;
            Ok(if regions { lane.with_regions(runtime, &manifest.regions_of(spec)?, threads)? } else { lane })
        })
        .collect()
}

/// `lintel.1` and one page per visible subcommand (`lintel-run.1`, …), rendered from the options.
fn manpages(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let lintel = Args::command();
    let mut pages = vec![("lintel".to_string(), lintel.clone())];
    for sub in lintel.get_subcommands().filter(|s| !s.is_hide_set()) {
        // clap keeps names as `&'static str`; this runs once, at packaging.
        let name: &'static str = format!("lintel-{}", sub.get_name()).leak();
        pages.push((name.to_owned(), sub.clone().name(name).version(env!("CARGO_PKG_VERSION"))));
    }
    for (name, command) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        std::fs::write(&path, page).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
