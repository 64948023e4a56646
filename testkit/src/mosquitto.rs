//! mosquitto on loopback, and `mosquitto_sub` collecting what it hears.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, signal, wait_for_port};

/// mosquitto on a free loopback port, anonymous.
pub struct Broker {
    pub port: u16,
    child: Child,
}

impl Broker {
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, free_port(), "allow_anonymous true\n")
    }

    /// mosquitto on `port` with `settings` (lines of mosquitto.conf) after the listener.
    pub fn start_with(dir: &Path, port: u16, settings: &str) -> Self {
        let config = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(&config, format!("listener {port} 127.0.0.1\n{settings}")).unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is not installed: run scripts/setup");
        wait_for_port(port, "mosquitto");
        Self { port, child }
    }

    /// Settings for a broker that keeps sessions and queued messages across a restart (saved
    /// when it stops with SIGTERM) in `dir`, which mosquitto may own as another user.
    pub fn persistent_settings(dir: &Path) -> String {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        format!("allow_anonymous true\npersistence true\npersistence_location {}/\n", dir.display())
    }

    /// Settings for a broker that accepts only `user` with `password`.
    pub fn password_settings(dir: &Path, user: &str, password: &str) -> String {
        let file = dir.join("mosquitto.passwd");
        let status = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&file)
            .args([user, password])
            .status()
            .expect("mosquitto_passwd is not installed: run scripts/setup");
        assert!(status.success(), "mosquitto_passwd failed");
        format!("allow_anonymous false\npassword_file {}\n", file.display())
    }

    /// Stops the broker as an operator would (SIGTERM: it saves what it persists) and waits for it.
    pub fn stop(mut self) {
        signal(&self.child, "TERM");
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mosquitto_sub -v` on a topic filter, collecting `topic payload` lines.
pub struct Subscriber {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Subscriber {
    pub fn start(port: u16, filter: &str) -> Self {
        Self::start_with(port, filter, &[])
    }

    /// With more `mosquitto_sub` arguments: `-u USER -P PASSWORD`, or `-c -i ID` for a session the
    /// broker keeps (and queues messages for) while the subscriber is away.
    pub fn start_with(port: u16, filter: &str, more: &[&str]) -> Self {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-v", "-t", filter])
            .args(more)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub is not installed: run scripts/setup");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // mosquitto_sub has no "subscribed" signal; give it a moment to connect.
        std::thread::sleep(Duration::from_millis(500));
        Self { child, lines }
    }

    /// Every `(topic, payload)` received so far.
    pub fn drain(&self) -> Vec<(String, serde_json::Value)> {
        self.lines
            .try_iter()
            .filter_map(|line| {
                let (topic, payload) = line.split_once(' ')?;
                Some((topic.to_string(), serde_json::from_str(payload).expect("payload is JSON")))
            })
            .collect()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
