//! The settings file (`--config /etc/lintel/lintel.toml`), so a service's command line is fixed
//! and what a technician changes lives in one file.
//!
//! Its keys are the long names of the command's options, with `_` for `-`:
//!
//! ```toml
//! site = "/var/lib/lintel/site.toml"
//! mqtt = "broker.example:1883"
//! mqtt_password_credential = "mqtt-password"
//! motion_gate = true          # a flag: true gives it, false leaves it out
//! web_host = ["lintel.local"] # repeated options take a list
//! ```
//!
//! The file becomes options placed before those of the command line, so an option given there
//! overrides the file's. Relative paths are relative to the file's folder. Errors name the file,
//! the line and the key.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches};
use toml::Spanned;

/// A settings file that cannot be used; one line, with file, line and key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Syntax { path: PathBuf, line: usize, message: String },
    #[error("{path}:{line}: {key}: {message}")]
    Key { path: PathBuf, line: usize, key: String, message: String },
}

/// Parses `argv` into `T`, with the options of a `--config FILE` inserted before the command's
/// own: after the subcommand when one of `subcommands` is given (`lintel run --config …`), or
/// after the program's name when `subcommands` is empty (`lintel-city --config …`). A bad file,
/// or a bad value in it, exits with one line naming the file, the line and the key (status 2).
pub fn parse_args_from<T: CommandFactory + FromArgMatches>(argv: Vec<OsString>, subcommands: &[&str]) -> T {
    let mut command = T::command();
    let bin = command.get_name().to_owned();
    let (argv, from_file) = match expand(argv, &command, subcommands) {
        Ok(expanded) => expanded,
        Err(error) => {
            eprintln!("{bin}: {error}");
            std::process::exit(2);
        }
    };
    // An option of the command line overrides the file's, not clashes with it.
    if subcommands.is_empty() {
        command = command.args_override_self(true);
    }
    for name in subcommands {
        command = command.mut_subcommand(name, |sub| sub.args_override_self(true));
    }
    let parsed = command.try_get_matches_from(&argv).and_then(|matches| T::from_arg_matches(&matches));
    match parsed {
        Ok(args) => args,
        Err(error) => {
            let flag = error.get(clap::error::ContextKind::InvalidArg).map(|value| value.to_string());
            let origin = flag.as_deref().and_then(|flag| {
                let long = flag.trim_start_matches("--").split([' ', '=']).next()?;
                from_file.iter().find(|o| o.long == long)
            });
            match origin {
                Some(origin) => {
                    // clap's own first line ("invalid value '7' for '--mqtt-version <VERSION>'"),
                    // placed in the file.
                    let rendered = error.render().to_string();
                    let message = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
                    eprintln!("{bin}: {}:{}: {}: {message}", origin.file.display(), origin.line, origin.key);
                    std::process::exit(2);
                }
                None => error.exit(),
            }
        }
    }
}

/// Where an option inserted from the file came from.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    pub key: String,
    pub long: String,
}

/// `argv` with the settings of its `--config FILE` (or `--config=FILE`) inserted right after the
/// subcommand (one of `subcommands`; the program's name when it is empty), and where each
/// inserted option came from. Unchanged without `--config`.
pub fn expand(
    argv: Vec<OsString>,
    command: &clap::Command,
    subcommands: &[&str],
) -> Result<(Vec<OsString>, Vec<Origin>), SettingsError> {
    let sub_at = if subcommands.is_empty() {
        0
    } else {
        let Some(at) = argv.iter().position(|a| a.to_str().is_some_and(|a| subcommands.contains(&a))) else {
            return Ok((argv, Vec::new()));
        };
        if argv[1..at].iter().any(|a| a.to_str().is_none_or(|a| !a.starts_with('-'))) {
            // The word is an argument of something else, not the subcommand.
            return Ok((argv, Vec::new()));
        }
        at
    };
    let mut file = None;
    for (i, arg) in argv.iter().enumerate().skip(sub_at + 1) {
        match arg.to_str() {
            Some("--config") => file = argv.get(i + 1).map(PathBuf::from),
            Some(a) if a.starts_with("--config=") => file = Some(PathBuf::from(&a["--config=".len()..])),
            _ => {}
        }
    }
    let Some(file) = file else { return Ok((argv, Vec::new())) };
    let (options_of, name) = if sub_at == 0 {
        (command, command.get_name().to_owned())
    } else {
        let sub = argv[sub_at].to_string_lossy();
        let options_of = command.find_subcommand(sub.as_ref()).expect("a subcommand with a settings file");
        (options_of, format!("{} {sub}", command.get_name()))
    };
    let (options, origins) = read(&file, options_of, &name)?;
    let mut expanded = argv[..=sub_at].to_vec();
    expanded.extend(options);
    expanded.extend(argv[sub_at + 1..].iter().cloned());
    Ok((expanded, origins))
}

/// The options a settings file stands for, checked against `command`'s options (`name`: the
/// command as a person types it, for messages).
pub fn read(file: &Path, command: &clap::Command, name: &str) -> Result<(Vec<OsString>, Vec<Origin>), SettingsError> {
    let text = std::fs::read_to_string(file).map_err(|source| SettingsError::Read { path: file.into(), source })?;
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(&text).map_err(|e| SettingsError::Syntax {
            path: file.into(),
            line: e.span().map(|s| line_of(s.start)).unwrap_or(1),
            message: e.message().to_owned(),
        })?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut options = Vec::new();
    let mut origins = Vec::new();
    for (key, value) in &table {
        let line = line_of(key.span().start);
        let fail =
            |message: String| SettingsError::Key { path: file.into(), line, key: key.get_ref().clone(), message };
        let long = key.get_ref().replace('_', "-");
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && !matches!(long.as_str(), "config" | "help" | "version"))
            .ok_or_else(|| fail(format!("unknown key: the keys are the long options of `{name}`")))?;
        let is_path = arg.get_value_parser().type_id() == clap::builder::ValueParser::path_buf().type_id();
        let scalar = |value: &toml::Value| -> Result<String, SettingsError> {
            match value {
                toml::Value::String(s) if is_path && Path::new(s).is_relative() => {
                    Ok(base.join(s).display().to_string())
                }
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                toml::Value::Float(x) => Ok(x.to_string()),
                other => Err(fail(format!("expected a string or a number, found {}", other.type_str()))),
            }
        };
        let values = match value.get_ref() {
            toml::Value::Boolean(true) => vec![None],
            // `false` for an option that is on by default (it takes a value and has a default,
            // as `motion_gate` and `low_light`) turns it off; for a plain flag it leaves it out.
            toml::Value::Boolean(false) if arg.get_action().takes_values() && !arg.get_default_values().is_empty() => {
                vec![Some("off".to_string())]
            }
            toml::Value::Boolean(false) => vec![],
            toml::Value::Array(items) => items.iter().map(|v| scalar(v).map(Some)).collect::<Result<_, _>>()?,
            other => vec![Some(scalar(other)?)],
        };
        for value in values {
            options.push(OsString::from(match value {
                Some(value) => format!("--{long}={value}"),
                None => format!("--{long}"),
            }));
        }
        origins.push(Origin { file: file.into(), line, key: key.get_ref().clone(), long });
    }
    Ok((options, origins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    #[command(name = "server")]
    struct Server {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        grid: Option<PathBuf>,
        #[arg(long, default_value_t = 7)]
        days: u32,
    }

    #[test]
    fn without_subcommands_the_file_goes_after_the_program_and_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(&path, "grid = \"grid.geojson\"\ndays = 30\n").unwrap();
        let argv = ["server", "--config", path.to_str().unwrap(), "--days", "3"];
        let (expanded, origins) = expand(argv.iter().map(OsString::from).collect(), &Server::command(), &[]).unwrap();
        let grid = format!("--grid={}", dir.path().join("grid.geojson").display());
        assert_eq!(expanded[..3], [OsString::from("server"), "--days=30".into(), grid.into()]);
        assert_eq!(origins.iter().map(|o| (o.key.as_str(), o.line)).collect::<Vec<_>>(), [("days", 2), ("grid", 1)]);
        let server: Server = parse_args_from(argv.iter().map(OsString::from).collect(), &[]);
        assert_eq!(server.days, 3);
        assert!(server.grid.unwrap().ends_with("grid.geojson"));
    }

    #[test]
    fn an_unknown_key_names_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(&path, "dayz = 3\n").unwrap();
        let error = read(&path, &Server::command(), "server").unwrap_err().to_string();
        assert_eq!(
            error,
            format!("{}:1: dayz: unknown key: the keys are the long options of `server`", path.display())
        );
    }
}
