//! What a service needs to be configured as Debian does it, shared by the edge node (`lintel`)
//! and the city server (`lintel-city`): one settings file under `/etc` standing for command-line
//! options ([`file`]), secrets handed over by systemd's `LoadCredential=` ([`credentials`]), and
//! logs to the journal with structured fields ([`logs`]).

pub mod credentials;
pub mod file;
pub mod logs;

pub use credentials::{CredentialError, credential, credentials_directory};
pub use file::{Origin, SettingsError, parse_args_from};
pub use logs::LogTarget;
