//! The settings file of `lintel run` and `lintel check` (`--config /etc/lintel/lintel.toml`), so a
//! service's command line is fixed and what a technician changes lives in one file.
//!
//! Its keys are the long names of `lintel run`'s options, with `_` for `-`:
//!
//! ```toml
//! site = "/var/lib/lintel/site.toml"
//! mqtt = "broker.example:1883"
//! mqtt_user = "edge-01"
//! mqtt_password_credential = "mqtt-password"
//! spool = "/var/lib/lintel/spool"
//! web = "127.0.0.1:8080"
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

use super::Args;

/// Subcommands whose options a settings file may give.
const WITH_CONFIG: [&str; 2] = ["run", "check"];

/// A settings file that cannot be used; one line, with file, line and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Syntax { path: PathBuf, line: usize, message: String },
    #[error("{path}:{line}: {key}: {message}")]
    Key { path: PathBuf, line: usize, key: String, message: String },
}

/// The command line, with the options of a `--config FILE` inserted before the command's own.
/// Errors of clap about an option that came from the file name the file, line and key.
pub fn parse_args() -> Args {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let (argv, from_file) = match expand(argv) {
        Ok(expanded) => expanded,
        Err(error) => {
            eprintln!("lintel: {error}");
            std::process::exit(2);
        }
    };
    let mut command = Args::command();
    for name in WITH_CONFIG {
        command = command.mut_subcommand(name, |sub| sub.args_override_self(true));
    }
    let parsed = command.try_get_matches_from(&argv).and_then(|matches| Args::from_arg_matches(&matches));
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
                    eprintln!("lintel: {}:{}: {}: {message}", origin.file.display(), origin.line, origin.key);
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
/// subcommand, and where each inserted option came from. Unchanged without `--config`.
pub fn expand(argv: Vec<OsString>) -> Result<(Vec<OsString>, Vec<Origin>), ConfigError> {
    let Some(sub_at) = argv.iter().position(|a| a.to_str().is_some_and(|a| WITH_CONFIG.contains(&a))) else {
        return Ok((argv, Vec::new()));
    };
    if argv[1..sub_at].iter().any(|a| a.to_str().is_none_or(|a| !a.starts_with('-'))) {
        // The word is an argument of something else, not the subcommand.
        return Ok((argv, Vec::new()));
    }
    let mut file = None;
    for (i, arg) in argv.iter().enumerate().skip(sub_at + 1) {
        match arg.to_str() {
            Some("--config") => file = argv.get(i + 1).map(PathBuf::from),
            Some(a) if a.starts_with("--config=") => file = Some(PathBuf::from(&a["--config=".len()..])),
            _ => {}
        }
    }
    let Some(file) = file else { return Ok((argv, Vec::new())) };
    let subcommand = argv[sub_at].to_string_lossy().into_owned();
    let (options, origins) = read(&file, &subcommand)?;
    let mut expanded = argv[..=sub_at].to_vec();
    expanded.extend(options);
    expanded.extend(argv[sub_at + 1..].iter().cloned());
    Ok((expanded, origins))
}

/// The options a settings file stands for, checked against `subcommand`'s options.
pub fn read(file: &Path, subcommand: &str) -> Result<(Vec<OsString>, Vec<Origin>), ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read { path: file.into(), source })?;
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: file.into(),
            line: e.span().map(|s| line_of(s.start)).unwrap_or(1),
            message: e.message().to_owned(),
        })?;
    let command = Args::command();
    let sub = command.find_subcommand(subcommand).expect("a subcommand with a config");
    let base = file.parent().unwrap_or(Path::new("."));
    let mut options = Vec::new();
    let mut origins = Vec::new();
    for (key, value) in &table {
        let line = line_of(key.span().start);
        let fail = |message: String| ConfigError::Key { path: file.into(), line, key: key.get_ref().clone(), message };
        let long = key.get_ref().replace('_', "-");
        let arg = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && !matches!(long.as_str(), "config" | "help"))
            .ok_or_else(|| fail(format!("unknown key: the keys are the long options of `lintel {subcommand}`")))?;
        let is_path = arg.get_value_parser().type_id() == clap::builder::ValueParser::path_buf().type_id();
        let scalar = |value: &toml::Value| -> Result<String, ConfigError> {
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

    fn written(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lintel.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn keys_become_options_with_paths_beside_the_file() {
        let (dir, path) = written(
            "site = \"site.toml\"\nmqtt = \"10.0.0.2:1883\"\nmotion_gate = true\nweb_host = [\"a\", \"b\"]\ninterval_s = 30\n",
        );
        let (options, origins) = read(&path, "run").unwrap();
        let site = format!("--site={}", dir.path().join("site.toml").display());
        let options: Vec<String> = options.into_iter().map(|o| o.into_string().unwrap()).collect();
        assert_eq!(
            options,
            ["--interval-s=30", "--motion-gate", "--mqtt=10.0.0.2:1883", site.as_str(), "--web-host=a", "--web-host=b"]
        );
        assert_eq!(origins.iter().find(|o| o.key == "mqtt").unwrap().line, 2);
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let (_dir, path) = written("site = \"/s.toml\"\n\nmqtt_pasword = \"x\"\n");
        let error = read(&path, "run").unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}:3: mqtt_pasword: unknown key", path.display())), "{error}");
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let (_dir, path) = written("site = \"/s.toml\"\nmqtt = \n");
        let error = read(&path, "run").unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}:2:", path.display())), "{error}");
    }

    #[test]
    fn a_table_is_refused() {
        let (_dir, path) = written("[mqtt]\nhost = \"x\"\n");
        let error = read(&path, "run").unwrap_err().to_string();
        assert!(error.contains(":1: mqtt: expected a string or a number, found table"), "{error}");
    }

    #[test]
    fn command_line_options_come_after_the_file() {
        let (_dir, path) = written("mqtt = \"10.0.0.2:1883\"\n");
        let argv = ["lintel", "run", "--config", path.to_str().unwrap(), "--mqtt", "127.0.0.1:1"];
        let (expanded, _) = expand(argv.iter().map(OsString::from).collect()).unwrap();
        let expanded: Vec<String> = expanded.into_iter().map(|o| o.into_string().unwrap()).collect();
        assert_eq!(expanded[..3], ["lintel", "run", "--mqtt=10.0.0.2:1883"]);
        assert_eq!(expanded.last().unwrap(), "127.0.0.1:1");
    }
}
