//! The `lintel-city` command: the city server (on an edge box also reached as `lintel density`).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // `--config FILE` stands for the options in it (lintel-settings), before the command line's.
    let args: cli::CityArgs = lintel_settings::parse_args_from(std::env::args_os().collect(), &[]);
    lintel_settings::logs::init("lintel-city", args.log_to, "warn");
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // One line: what failed and where (the causes joined), never a backtrace.
            eprintln!("lintel-city: {}", error.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": "));
            ExitCode::FAILURE
        }
    }
}
