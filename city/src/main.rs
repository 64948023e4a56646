//! The `lintel-city` command: the city server (on an edge box also reached as `lintel density`).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // `--config FILE` stands for the options in it (lintel-settings), before the command line's.
    let args: cli::CityArgs = lintel_settings::parse_args_from(std::env::args_os().collect(), &[]);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or the journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("LINTEL_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // One line: what failed and where (the causes joined), never a backtrace.
            eprintln!("lintel-city: {}", error.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": "));
            ExitCode::FAILURE
        }
    }
}
