//! The settings file of `lintel run` and `lintel check` (`--config /etc/lintel/lintel.toml`);
//! the reading is shared with `lintel-city` ([`lintel_settings::file`]).

use std::ffi::OsString;
#[cfg(test)]
use std::path::{Path, PathBuf};

#[cfg(test)]
use clap::CommandFactory;
#[cfg(test)]
use lintel_settings::file::{Origin, SettingsError as ConfigError};

use super::Args;

/// Subcommands whose options a settings file may give.
const WITH_CONFIG: [&str; 2] = ["run", "check"];

/// The command line, with the options of a `--config FILE` inserted before the command's own.
/// Errors of clap about an option that came from the file name the file, line and key.
pub fn parse_args() -> Args {
    let argv: Vec<OsString> = std::env::args_os().collect();
    lintel_settings::parse_args_from(argv, &WITH_CONFIG)
}

#[cfg(test)]
fn expand(argv: Vec<OsString>) -> Result<(Vec<OsString>, Vec<Origin>), ConfigError> {
    lintel_settings::file::expand(argv, &Args::command(), &WITH_CONFIG)
}

#[cfg(test)]
fn read(file: &Path, subcommand: &str) -> Result<(Vec<OsString>, Vec<Origin>), ConfigError> {
    let command = Args::command();
    lintel_settings::file::read(file, command.find_subcommand(subcommand).unwrap(), &format!("lintel {subcommand}"))
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
    fn false_turns_off_what_is_on_by_default_and_leaves_out_a_plain_flag() {
        let (_dir, path) = written("motion_gate = false\nlow_light = false\noperator_stills = false\n");
        let (options, _) = read(&path, "run").unwrap();
        let options: Vec<String> = options.into_iter().map(|o| o.into_string().unwrap()).collect();
        assert_eq!(options, ["--low-light=off", "--motion-gate=off"]);
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
