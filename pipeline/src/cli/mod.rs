//! Command-line interface: argument parsing and the sub-commands.

mod calibrate;
mod count;
mod density_alias;
mod occupancy;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "lintel", version, about = "Anonymised people counting for building entrances")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Count(args) => count::run(args),
        Command::Run(args) => run::run(*args),
        Command::Occupancy(args) => occupancy::run(args),
        Command::Density(args) => density_alias::run(args),
        Command::Calibrate(args) => calibrate::run(args),
    }
}

/// `models/models.toml` of the working directory, else of the workspace lintel was built in.
fn default_manifest() -> PathBuf {
    let local = PathBuf::from("models/models.toml");
    if local.exists() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/models.toml")
}
