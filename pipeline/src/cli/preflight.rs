//! What `lintel check` looks at: the settings of `lintel run` a preflight needs, as `run` reads
//! them (`RunArgs::preflight`), kept apart so `run` and `check` do not import each other.

use std::path::PathBuf;

use lintel::publish::{MqttVersion, TlsFiles};

/// The settings of `lintel run` that the checks look at (see `RunArgs::preflight`).
pub(super) struct Preflight {
    pub site: PathBuf,
    pub mqtt: Option<String>,
    pub mqtt_version: MqttVersion,
    pub tls: Option<TlsFiles>,
    pub spool: PathBuf,
    pub spool_max_kib: u64,
    /// The state file and history `run` would open.
    pub state: PathBuf,
    pub history: PathBuf,
    pub models: PathBuf,
    pub model: Option<String>,
    pub reid: Option<String>,
    pub threads: usize,
    pub login: anyhow::Result<(Option<String>, Option<String>)>,
}
