//! Where the logs go: the terminal (or a file) as text, or systemd's journal with structured
//! fields (`CAMERA=`, `BUILDING=`, `SPAN_NAME=`, the level as `PRIORITY=`), so a technician can
//! ask `journalctl -u lintel CAMERA=door`. Log fields name cameras and buildings, never a secret
//! or a person.

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
