//! The `lintel` command.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::config::parse_args();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or the journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LINTEL_LOG").unwrap_or_else(|_| "warn,rumqttd=off".into()),
        )
        .init();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // One line: what failed and where (the causes joined), never a backtrace.
            eprintln!("lintel: {}", error.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": "));
            ExitCode::FAILURE
        }
    }
}
