//! Where the logs go: the terminal (or a file) as text, or systemd's journal with structured
//! fields (the node's `CAMERA=` and `BUILDING=`, `SPAN_NAME=`, the level as `PRIORITY=`), so a
//! technician can ask `journalctl -u lintel CAMERA=door`. Log fields name cameras and buildings,
//! never a secret or a person.

/// Where to send the logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogTarget {
    /// The journal when systemd connected stderr to it (`$JOURNAL_STREAM` names stderr), else stderr.
    #[default]
    Auto,
    Stderr,
    Journald,
}

impl LogTarget {
    /// Whether to log to the journal.
    pub fn is_journal(self) -> bool {
        match self {
            LogTarget::Auto => stderr_is_the_journal(),
            LogTarget::Stderr => false,
            LogTarget::Journald => true,
        }
    }
}

/// `$JOURNAL_STREAM` is `DEVICE:INODE` of the journal's stream; it is inherited by children
/// whose stderr goes elsewhere, so it counts only when it names our stderr (as systemd.exec(5)
/// advises).
fn stderr_is_the_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Ok(stderr) = std::fs::metadata("/proc/self/fd/2") else { return false };
    stream.to_str() == Some(&format!("{}:{}", stderr.dev(), stderr.ino()))
}

/// The journal's layer, its fields unprefixed (`CAMERA=`, not `F_CAMERA=`).
pub fn journald_layer(identifier: &str) -> std::io::Result<tracing_journald::Layer> {
    Ok(tracing_journald::layer()?.with_field_prefix(None).with_syslog_identifier(identifier.to_owned()))
}

/// Installs the logger of `program`: the journal or stderr as `target` says, filtered by
/// `$LINTEL_LOG` (else `default_filter`). A journal that cannot be reached falls back to stderr,
/// saying so.
pub fn init(program: &str, target: LogTarget, default_filter: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINTEL_LOG").unwrap_or_else(|_| default_filter.into());
    let journal = match target.is_journal().then(|| journald_layer(program)) {
        Some(Ok(layer)) => Some(layer),
        Some(Err(error)) => {
            eprintln!("{program}: cannot log to the journal ({error}); logging to stderr");
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
