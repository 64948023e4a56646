//! `lintel-city` as its unit runs it: every option in one settings file (`--config`), its
//! secrets (viewers' token, MQTT password) from systemd's `$CREDENTIALS_DIRECTORY`, against a
//! real mosquitto that accepts only that login.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use lintel_testkit::{Broker, free_port, scratch_dir, wait_until, workspace};
use lintel_wire::UtcTime;
use serde_json::json;

const VIEWER: &str = "a-viewer-token-from-a-credential";
const MQTT_PASSWORD: &str = "the broker's p@ss:word";

/// The status line and body of `GET path`, with the viewers' token if `token`.
fn get(address: &str, path: &str, token: Option<&str>) -> String {
    let Ok(mut stream) = TcpStream::connect(address) else { return String::new() };
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn settings_file_and_credentials_run_the_server() {
    let dir = scratch_dir("city-service");
    let broker = Broker::start_with(&dir, free_port(), &Broker::password_settings(&dir, "city", MQTT_PASSWORD));
    let credentials = dir.join("credentials");
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::write(credentials.join("web-token"), format!("{VIEWER}\n")).unwrap();
    std::fs::write(credentials.join("mqtt-password"), MQTT_PASSWORD).unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let config = dir.join("lintel-city.toml");
    std::fs::write(
        &config,
        format!(
            "grid = {grid:?}\nmqtt = \"127.0.0.1:{port}\"\nmqtt_user = \"city\"\nmqtt_password_credential = \"mqtt-password\"\n\
             web = \"{web}\"\nweb_token_credential = \"web-token\"\nstore = \"sqlite:density.db\"\n\
             no_cell_topics = true\nrun_for_s = 120\n",
            grid = workspace("fixtures/lishui-grid.geojson").display().to_string(),
            port = broker.port,
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .arg("--config")
        .arg(&config)
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("density: http://"), "{line:?}");

    // The token of the credential is the one asked for.
    assert!(get(&web, "/metrics", None).starts_with("HTTP/1.1 401"));
    assert!(get(&web, "/metrics", Some("not-the-token-of-the-credential")).starts_with("HTTP/1.1 401"));
    assert!(get(&web, "/metrics", Some(VIEWER)).starts_with("HTTP/1.1 200"));

    // The consumer logged in with the credential's password: a message published reaches the store.
    let t = UtcTime::now().unix_seconds() - 600;
    let t = t - t.rem_euclid(60);
    let counts = json!({"schema": "lintel.counts/1", "site": "lishui-c", "building": "market", "node": "edge-01",
        "seq": 1, "interval": {"start": UtcTime::from_unix_seconds(t), "end": UtcTime::from_unix_seconds(t + 60)},
        "entries": 3, "exits": 1, "occupancy": 2, "entrances": []});
    let publish = || {
        let status = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-u", "city", "-P", MQTT_PASSWORD])
            .args(["-t", "lintel/v1/lishui-c/building/market/counts", "-m", &counts.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    let applied = || {
        get(&web, "/metrics", Some(VIEWER))
            .lines()
            .find_map(|l| l.strip_prefix("lintel_density_messages_applied_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Again until it arrives: one sent before the consumer subscribed is not queued for it.
    let arrived = wait_until(Duration::from_secs(20), || {
        publish();
        std::thread::sleep(Duration::from_millis(500));
        applied() >= 1
    });
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(arrived, "the consumer did not get the message (login refused?): {stderr}");
    assert!(!stderr.contains(MQTT_PASSWORD) && !stderr.contains(VIEWER), "a secret in the log: {stderr}");
}

#[test]
fn a_bad_settings_file_or_a_missing_credential_is_one_line() {
    let dir = scratch_dir("city-service-bad");
    let config = dir.join("lintel-city.toml");
    std::fs::write(&config, "grid = \"grid.geojson\"\n\nweb_tokn = \"x\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lintel-city")).arg("--config").arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "lintel-city: {}:3: web_tokn: unknown key: the keys are the long options of `lintel-city`",
            config.display()
        )
    );

    std::fs::write(
        &config,
        format!(
            "grid = {:?}\nweb_only = true\nweb_token_credential = \"web-token\"\n",
            workspace("fixtures/lishui-grid.geojson").display().to_string()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lintel-city"))
        .arg("--config")
        .arg(&config)
        .env_remove("CREDENTIALS_DIRECTORY")
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("credential web-token: $CREDENTIALS_DIRECTORY is not set"), "{stderr}");
}
