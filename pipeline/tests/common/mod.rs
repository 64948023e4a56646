//! Real services on 127.0.0.1 for the integration tests: a mosquitto broker and the fake RTSP
//! camera, each a child process killed when dropped.

#![allow(dead_code)]

pub mod browser;
pub mod checkerboard;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn workspace(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

pub fn video() -> PathBuf {
    let path = workspace("fixtures/video/vtest.avi");
    assert!(path.exists(), "{} is missing: run scripts/setup", path.display());
    path
}

/// A port nothing listens on right now.
/// `lintel run` on `site` against the broker on `port`, spooling under `dir`, with 2 s intervals,
/// for `run_for_s` seconds; callers add arguments, environment and output handling.
pub fn lintel_run(site: &Path, dir: &Path, port: u16, run_for_s: u64) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lintel"));
    command
        .args(["run", "--site"])
        .arg(site)
        .args(["--mqtt", &format!("127.0.0.1:{port}"), "--spool"])
        .arg(dir.join("spool"))
        .args(["--interval-s", "2", "--run-for-s", &run_for_s.to_string()]);
    command
}

/// `lintel count --json ARGS…`, which must succeed: its JSON summary.
pub fn lintel_count<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_lintel")).args(["count", "--json"]).args(args).output().unwrap();
    assert!(output.status.success(), "lintel count failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("--json prints one JSON object")
}

/// The last will of the publisher tests: an offline node status of site `s1`.
pub fn offline_will() -> lintel::publish::NodeStatus {
    use lintel::publish::{NodeState, NodeStatus, UtcTime};
    NodeStatus {
        site: "s1".into(),
        node: "edge-01".into(),
        seq: 0,
        at: UtcTime::now(),
        state: NodeState::Offline,
        cameras: vec![],
    }
}

/// A `camera_back` alert of site `s1` about `subject`: the message the publisher tests send.
pub fn test_alert(subject: impl Into<String>) -> lintel::publish::Alert {
    use lintel::publish::{Alert, AlertKind, UtcTime};
    Alert {
        site: "s1".into(),
        node: "edge-01".into(),
        seq: 0,
        at: UtcTime::now(),
        kind: AlertKind::CameraBack,
        subject: subject.into(),
        message: "test".into(),
    }
}

/// fixtures/pets.toml with its camera's URL replaced by `camera_url`, written into `dir`.
pub fn pets_site(dir: &Path, camera_url: &str) -> PathBuf {
    site_with_camera_url("fixtures/pets.toml", dir, camera_url)
}

/// The site file `fixture` (one of the PETS sites) with its camera reading `camera_url`, written
/// to `dir/site.toml`.
pub fn site_with_camera_url(fixture: &str, dir: &Path, camera_url: &str) -> PathBuf {
    let text = std::fs::read_to_string(workspace(fixture)).unwrap();
    let path = dir.join("site.toml");
    std::fs::write(
        &path,
        text.replace(
            "url = \"file:///usr/share/doc/opencv-doc/examples/data/vtest.avi\"",
            &format!("url = \"{camera_url}\""),
        ),
    )
    .unwrap();
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lintel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

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

/// Sends a signal to a child process (`kill -SIG PID`).
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success(), "kill -{name} {} failed", child.id());
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

/// The fake camera: `lintel-rtsp-server` serving the clip in real time.
pub struct RtspCamera {
    pub url: String,
    child: Child,
}

impl RtspCamera {
    pub fn start(path: &str) -> Self {
        Self::start_with(path, &[], &[])
    }

    /// A camera that serves `file` (any clip GStreamer decodes, e.g. an H.264 MP4) at mount `path`.
    pub fn serving(file: &Path, path: &str) -> Self {
        Self::start_file(file, path, &[], &[])
    }

    /// A camera that sees part of the clip: `crop` is `LEFT,TOP,RIGHT,BOTTOM` pixels cut off.
    pub fn cropped(path: &str, crop: &str) -> Self {
        Self::start_with(path, &["--crop", crop], &[])
    }

    /// A camera that asks for a login: `user` with `password`.
    pub fn with_login(path: &str, user: &str, password: &str) -> Self {
        Self::start_with(
            path,
            &["--user", user, "--password-env", "LINTEL_TEST_CAMERA_PASSWORD"],
            &[("LINTEL_TEST_CAMERA_PASSWORD", password)],
        )
    }

    fn start_with(path: &str, more: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_file(&video(), path, more, env)
    }

    fn start_file(file: &Path, path: &str, more: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-rtsp-server"))
            .arg(file)
            .args(["--port", &port.to_string(), "--path", path])
            .args(more)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lintel-rtsp-server");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        let url =
            ready.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("rtsp server said {ready:?}")).to_string();
        Self { url, child }
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` every 20 ms until it holds or `limit` has passed; whether it held.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !condition() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// A publisher's settings for the tests: the broker on loopback `port`, a client id made of
/// `name` and this process's id, quick reconnections, a spool of 1 MiB.
pub fn broker_config(port: u16, name: &str, spool: &Path) -> lintel::publish::BrokerConfig {
    let client_id = format!("lintel-test-{name}-{}", std::process::id());
    let mut config = lintel::publish::BrokerConfig::new("127.0.0.1", port, client_id, spool);
    config.keep_alive = Duration::from_secs(5);
    config.min_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_secs(2);
    config.spool_max_bytes = 1 << 20;
    config
}

/// Everything logged through `tracing` in this test binary (tests tell their lines apart by the
/// site or client id in them); the first call installs the capture.
pub fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        struct Capture;
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                captured_logs().lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(|| Capture).finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        std::sync::Mutex::new(Vec::new())
    })
}
