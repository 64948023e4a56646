//! `lintel check` against the real RTSP test camera and a real mosquitto: a passing run, and each
//! fault (a wrong camera URL, a broker down, a refused login) as one clear failing line. Also the
//! settings file (`--config`): options from it, overridden by the command line, and its errors
//! naming file, line and key.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::degraded::{BELOW_BLACK, DARKER_NIGHT, degraded_copy};
use common::{Broker, RtspCamera, free_port, pets_site, scratch_dir};

fn lintel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lintel"))
}

fn check(site: &Path, dir: &Path, mqtt: &str, more: &[&str]) -> Output {
    lintel()
        .args(["check", "--site"])
        .arg(site)
        .args(["--mqtt", mqtt, "--spool"])
        .arg(dir.join("spool"))
        .args(more)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failing_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("FAIL")).collect()
}

#[test]
fn everything_in_order_passes_with_frame_size_and_rate() {
    let dir = scratch_dir("check-ok");
    let camera = RtspCamera::start("/door");
    let broker = Broker::start(&dir);
    let site = pets_site(&dir, &camera.url);
    let output = check(&site, &dir, &format!("127.0.0.1:{}", broker.port), &[]);
    let text = stdout(&output);
    println!("{text}");
    assert!(output.status.success(), "{text}\n{}", String::from_utf8_lossy(&output.stderr));
    for check in ["site", "models", "camera", "broker", "formats", "spool", "clock"] {
        assert!(text.lines().any(|l| l.split_whitespace().nth(1) == Some(check)), "no {check} line in\n{text}");
    }
    let camera_line = text.lines().find(|l| l.contains(" camera ")).unwrap();
    assert!(camera_line.starts_with("ok") && camera_line.contains("768×576 at"), "{camera_line}");
    assert!(text.contains("accepted the connection"), "{text}");
    assert!(failing_lines(&text).is_empty());
}

#[test]
fn a_camera_below_black_or_black_is_a_warning_that_says_which_and_a_dark_night_is_not() {
    let dir = scratch_dir("check-black");
    let broker = Broker::start(&dir);
    // Darkened in Y'CbCr: most of its luma under 16 in a stream that says 16-235.
    let below_black = degraded_copy("check-below-black", BELOW_BLACK, 0.0, "");
    // A covered lens: a uniform picture at black, in legal levels.
    let covered =
        degraded_copy("check-covered", "video/x-raw,format=RGB ! videobalance contrast=0.01 ! videoconvert", 0.0, "");
    // Darker still in RGB, but in legal levels: a night that counts.
    let dark_night = degraded_copy("check-dark-night", DARKER_NIGHT, 0.0, "");
    for (copy, expected) in [(below_black, "below black"), (covered, "black"), (dark_night, "")] {
        let camera = RtspCamera::serving(&copy, "/door");
        let site = pets_site(&dir, &camera.url);
        let output = check(&site, &dir, &format!("127.0.0.1:{}", broker.port), &[]);
        let text = stdout(&output);
        println!("{text}");
        // A warning, not a failure: the node runs.
        assert!(output.status.success(), "{text}");
        let line = text.lines().find(|l| l.contains(" camera ")).unwrap();
        let share_before = |words: &str| -> f64 {
            line.split(words).next().unwrap().rsplit(['(', ' ']).next().unwrap().parse().unwrap()
        };
        match expected {
            "below black" => {
                assert!(line.starts_with("warn") && line.contains("768×576 at"), "{line}");
                assert!(share_before("% of its luma under 16") >= 40.0, "{line}");
                assert!(line.contains("full range") && line.contains("video range"), "{line}");
            }
            "black" => {
                assert!(line.starts_with("warn"), "{line}");
                assert!(share_before("% of the picture is black") >= 50.0, "{line}");
                assert!(line.contains("covered") && !line.contains("below black"), "{line}");
            }
            _ => assert!(line.starts_with("ok") && !line.contains("black"), "a night picture that counts: {line}"),
        }
    }
}

#[test]
fn a_wrong_camera_url_is_one_failing_line_and_exit_status_1() {
    let dir = scratch_dir("check-camera");
    let camera = RtspCamera::start("/door");
    let broker = Broker::start(&dir);
    let wrong = camera.url.replace("/door", "/no-such-stream");
    let site = pets_site(&dir, &wrong);
    let output = check(&site, &dir, &format!("127.0.0.1:{}", broker.port), &["--camera-timeout-s", "5"]);
    let text = stdout(&output);
    println!("{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
    let failed = failing_lines(&text);
    assert_eq!(failed.len(), 1, "{text}");
    assert!(failed[0].contains("camera  walkway: "), "{}", failed[0]);
    assert!(text.contains("1 of 7 checks failed"), "{text}");
}

#[test]
fn a_broker_down_is_one_failing_line_and_json_says_so() {
    let dir = scratch_dir("check-broker");
    let site = common::workspace("fixtures/pets.toml");
    let down = format!("127.0.0.1:{}", free_port());
    let output = check(&site, &dir, &down, &[]);
    let text = stdout(&output);
    println!("{text}");
    assert_eq!(output.status.code(), Some(1));
    let failed = failing_lines(&text);
    assert_eq!(failed.len(), 1, "{text}");
    assert!(
        failed[0].starts_with(&format!("FAIL  broker  {down}: MQTT broker {down}: cannot connect")),
        "{}",
        failed[0]
    );

    let output = check(&site, &dir, &down, &["--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["schema"], "lintel.check/1");
    assert_eq!(report["ok"], false);
    let broker = report["checks"].as_array().unwrap().iter().find(|c| c["check"] == "broker").unwrap();
    assert_eq!(broker["status"], "fail");
}

#[test]
fn the_mqtt_password_comes_from_the_credentials_directory() {
    let dir = scratch_dir("check-login");
    let port = free_port();
    let settings = Broker::password_settings(&dir, "edge-01", "s3cret-pw");
    let broker = Broker::start_with(&dir, port, &settings);
    let credentials = dir.join("credentials");
    std::fs::create_dir_all(&credentials).unwrap();
    let site = common::workspace("fixtures/pets.toml");
    let login = ["--mqtt-user", "edge-01", "--mqtt-password-credential", "mqtt-password"];
    for (password, ok) in [("s3cret-pw\n", true), ("wrong-pw\n", false)] {
        std::fs::write(credentials.join("mqtt-password"), password).unwrap();
        let output = lintel()
            .args(["check", "--site"])
            .arg(&site)
            .args(["--mqtt", &format!("127.0.0.1:{}", broker.port), "--spool"])
            .arg(dir.join("spool"))
            .args(login)
            .env("CREDENTIALS_DIRECTORY", &credentials)
            .output()
            .unwrap();
        let text = stdout(&output);
        println!("{text}");
        let line = text.lines().find(|l| l.contains(" broker ")).unwrap();
        assert!(!text.contains(password.trim()), "a password in the output: {text}");
        if ok {
            assert!(line.starts_with("ok") && line.contains("as \"edge-01\""), "{line}");
            assert!(output.status.success());
        } else {
            assert!(line.starts_with("FAIL") && line.contains("refused the connection as user \"edge-01\""), "{line}");
            assert_eq!(output.status.code(), Some(1));
        }
    }
    // Without $CREDENTIALS_DIRECTORY: one line that says where the password should come from.
    let output = check(&site, &dir, &format!("127.0.0.1:{}", broker.port), &login);
    let text = stdout(&output);
    let line = text.lines().find(|l| l.contains(" broker ")).unwrap();
    assert!(line.starts_with("FAIL") && line.contains("$CREDENTIALS_DIRECTORY is not set"), "{line}");
}

#[test]
fn the_settings_file_gives_options_and_the_command_line_overrides_them() {
    let dir = scratch_dir("check-config");
    let broker = Broker::start(&dir);
    let config = dir.join("lintel.toml");
    let site = common::workspace("fixtures/pets.toml");
    std::fs::write(
        &config,
        format!(
            "# as /etc/lintel/lintel.toml\nsite = {:?}\nmqtt = \"127.0.0.1:{}\"\nspool = \"spool\"\n",
            site.display().to_string(),
            free_port()
        ),
    )
    .unwrap();
    // The file's broker is down…
    let output = lintel().args(["check", "--config"]).arg(&config).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    // …the command line's is up; the spool is beside the file.
    let output = lintel()
        .args(["check", "--config"])
        .arg(&config)
        .args(["--mqtt", &format!("127.0.0.1:{}", broker.port)])
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains(&format!("spool   {}: writable", dir.join("spool").display())), "{text}");

    // Errors name the file, the line and the key, for `run` as for `check`.
    std::fs::write(&config, "site = \"site.toml\"\n\nmqtt_pasword_env = \"X\"\n").unwrap();
    for command in ["check", "run"] {
        let output = lintel().args([command, "--config"]).arg(&config).output().unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2));
        assert!(
            error.starts_with(&format!("lintel: {}:3: mqtt_pasword_env: unknown key", config.display())),
            "{error}"
        );
    }
    std::fs::write(&config, "site = \"site.toml\"\nmqtt_version = \"7\"\n").unwrap();
    let output = lintel().args(["run", "--config"]).arg(&config).output().unwrap();
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.starts_with(&format!("lintel: {}:2: mqtt_version: invalid value '7'", config.display())), "{error}");
}
