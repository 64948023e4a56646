//! `lintel density …`: the density layer moved to the city server, `lintel-city`; this alias runs
//! it with the same arguments, so commands written for the edge binary keep working.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::bail;
use clap::Args;

#[derive(Args)]
pub struct DensityArgs {
    /// Everything `lintel-city` takes (`--help` included).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    args: Vec<OsString>,
}

/// `lintel-city` beside this executable (as built, and as the packages install it), else on `PATH`.
fn city_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("lintel-city")))
        .filter(|beside| beside.is_file())
        .unwrap_or_else(|| PathBuf::from("lintel-city"))
}

pub fn run(args: DensityArgs) -> anyhow::Result<ExitCode> {
    let binary = city_binary();
    // exec only returns on failure: the city server replaces this process.
    let error = Command::new(&binary).args(&args.args).exec();
    bail!(
        "lintel density is the city server now and needs {}: {error} (install the lintel-city package, or build it with `cargo build -p lintel-city`)",
        binary.display()
    )
}
