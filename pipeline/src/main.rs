//! The `lintel` command.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::config::parse_args();
    lintel_settings::logs::init("lintel", args.log_to, "warn,rumqttd=off");
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // One line: what failed and where (the causes joined), never a backtrace.
            eprintln!("lintel: {}", error.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": "));
            ExitCode::FAILURE
        }
    }
}
