//! The `lintel` command.

mod cli;

use std::process::ExitCode;

/// Logs to the journal (structured fields) or to stderr as text, filtered by `$LINTEL_LOG`.
fn init_logs(target: lintel::service::LogTarget) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("LINTEL_LOG").unwrap_or_else(|_| "warn,rumqttd=off".into());
    let journal = match target.is_journal().then(|| lintel::service::journald_layer("lintel")) {
        Some(Ok(layer)) => Some(layer),
        Some(Err(error)) => {
            eprintln!("lintel: cannot log to the journal ({error}); logging to stderr");
            None
        }
        None => None,
    };
    let text = journal.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Colours only on a terminal: a log file gets plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
    });
    tracing_subscriber::registry().with(filter).with(journal).with(text).init();
}

fn main() -> ExitCode {
    let args = cli::config::parse_args();
    init_logs(args.log_to);
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // One line: what failed and where (the causes joined), never a backtrace.
            eprintln!("lintel: {}", error.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": "));
            ExitCode::FAILURE
        }
    }
}
