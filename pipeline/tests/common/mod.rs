//! What the edge crate's integration tests share: the services of `lintel_testkit` (mosquitto,
//! a browser, waiting), and the edge's own: the fake RTSP camera, `lintel run` and `lintel count`,
//! the PETS site files, publisher settings.

// Each test binary uses some of these; the rest would warn.
#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod checkerboard;
pub mod degraded;

pub use lintel_testkit::{Broker, Subscriber, captured_logs, free_port, scratch_dir, signal, wait_until, workspace};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn video() -> PathBuf {
    let path = workspace("fixtures/video/vtest.avi");
    assert!(path.exists(), "{} is missing: run scripts/setup", path.display());
    path
}

/// The environment variable and the operators' command key the tests' nodes and `lintel
/// occupancy set` share.
pub const COMMAND_KEY_VAR: &str = "LINTEL_TEST_COMMAND_KEY";
pub const COMMAND_KEY: &str = "test-operators-command-key-0123456789";

/// Gives `command` (`lintel run` or `lintel occupancy set`) the tests' command key.
pub fn with_command_key(command: &mut Command) -> &mut Command {
    command.env(COMMAND_KEY_VAR, COMMAND_KEY).args(["--command-key-env", COMMAND_KEY_VAR])
}

/// `lintel run` on `site` against the broker on `port`, spooling under `dir`, with 2 s intervals,
/// for `run_for_s` seconds, holding the tests' command key; callers add arguments, environment
/// and output handling.
pub fn lintel_run(site: &Path, dir: &Path, port: u16, run_for_s: u64) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lintel"));
    command
        .args(["run", "--site"])
        .arg(site)
        .args(["--mqtt", &format!("127.0.0.1:{port}"), "--spool"])
        .arg(dir.join("spool"))
        .args(["--interval-s", "2", "--run-for-s", &run_for_s.to_string()]);
    with_command_key(&mut command);
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
        version: None,
        web: None,
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

/// The fake camera: `lintel-rtsp-server` serving the clip in real time.
pub struct RtspCamera {
    pub url: String,
    child: Child,
}

impl RtspCamera {
    pub fn start(path: &str) -> Self {
        Self::start_with(path, &[], &[])
    }

    /// The clip at mount `path` on loopback `port`: a camera started again where it was.
    pub fn start_on(port: u16, path: &str) -> Self {
        Self::start_at(&video(), port, path, &[], &[])
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

    /// A camera that asks for a login in the schemes `auth` names (`basic`, `digest` or `both`).
    pub fn with_login_auth(path: &str, user: &str, password: &str, auth: &str) -> Self {
        Self::start_with(
            path,
            &["--user", user, "--password-env", "LINTEL_TEST_CAMERA_PASSWORD", "--auth", auth],
            &[("LINTEL_TEST_CAMERA_PASSWORD", password)],
        )
    }

    fn start_with(path: &str, more: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_file(&video(), path, more, env)
    }

    fn start_file(file: &Path, path: &str, more: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_at(file, free_port(), path, more, env)
    }

    fn start_at(file: &Path, port: u16, path: &str, more: &[&str], env: &[(&str, &str)]) -> Self {
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

/// The default detector of `models/models.toml` on `threads` threads (0: ONNX Runtime's choice),
/// or a failure that says how to get what is missing.
pub fn default_detector(threads: usize) -> lintel::infer::Detector {
    use lintel::infer::{Detector, Manifest, Runtime};
    let manifest = Manifest::load(&workspace("models/models.toml")).unwrap();
    let runtime = Runtime::load().expect("ONNX Runtime: run scripts/setup to install it");
    let spec = manifest.detector(None).unwrap();
    let file = manifest.file_of(spec);
    assert!(file.exists(), "{} is missing: run scripts/install-models", file.display());
    Detector::load(runtime, spec, &file, threads).unwrap()
}

/// The default detector with the region networks models.toml gives it (`--detector-region auto`).
pub fn default_detector_with_regions(threads: usize) -> lintel::infer::Detector {
    use lintel::infer::{Manifest, Runtime};
    let manifest = Manifest::load(&workspace("models/models.toml")).unwrap();
    let regions = manifest.regions_of(manifest.detector(None).unwrap()).unwrap();
    for (spec, file) in &regions {
        assert!(file.exists(), "{} ({}) is missing: run scripts/install-models", file.display(), spec.name);
    }
    let runtime = Runtime::load().expect("ONNX Runtime: run scripts/setup to install it");
    default_detector(threads).with_regions(runtime, &regions, threads).unwrap()
}
