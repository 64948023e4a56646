//! Secrets handed over by systemd's `LoadCredential=`: files in `$CREDENTIALS_DIRECTORY`, readable
//! by the service alone, never on a command line, in the unit or in the environment.

use std::path::PathBuf;

/// Why a credential could not be read. Messages name the credential, never its value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "credential {name}: $CREDENTIALS_DIRECTORY is not set (give it with LoadCredential={name}:FILE in the unit, or run under systemd-run -p LoadCredential=…)"
    )]
    NoDirectory { name: String },
    #[error("credential {name}: cannot read {path}: {source}")]
    Unreadable { name: String, path: PathBuf, source: std::io::Error },
    #[error("credential {name} ({path}) is empty")]
    Empty { name: String, path: PathBuf },
    #[error("credential name {name:?} must be a plain file name")]
    BadName { name: String },
}

/// `$CREDENTIALS_DIRECTORY`, when the service manager set one.
pub fn credentials_directory() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()).map(PathBuf::from)
}

/// The credential `name` (a file of `$CREDENTIALS_DIRECTORY`), without its trailing newline.
pub fn credential(name: &str) -> Result<String, CredentialError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(CredentialError::BadName { name: name.to_owned() });
    }
    let dir = credentials_directory().ok_or_else(|| CredentialError::NoDirectory { name: name.to_owned() })?;
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|source| CredentialError::Unreadable {
        name: name.to_owned(),
        path: path.clone(),
        source,
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(CredentialError::Empty { name: name.to_owned(), path });
    }
    Ok(value.to_owned())
}
