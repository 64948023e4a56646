//! The page tests' node: `lintel run` with its pages behind two tokens; the browser and the HTTP
//! client are `lintel_testkit::browser`'s.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

pub use lintel_testkit::browser::*;

/// The tokens the page tests give the node under test.
pub const OPERATOR: &str = "operator-token-of-the-page-tests";
pub const TECHNICIAN: &str = "technician-token-of-the-page-tests";

/// A `lintel run` serving its pages, stopped when dropped (a failing test leaves no node running).
pub struct PagesNode(pub Child);

impl PagesNode {
    /// `lintel run` on `site` against the broker on `mqtt`, spooling under `dir`, with its pages on
    /// loopback port `web` behind [`OPERATOR`] and [`TECHNICIAN`] tokens, the fastest detector,
    /// and `more` arguments; returns once the pages answer.
    pub fn start(site: &Path, dir: &Path, mqtt: u16, web: u16, more: &[&str]) -> Self {
        Self::start_with_stderr(site, dir, mqtt, web, more, Stdio::inherit())
    }

    /// As [`PagesNode::start`], its log (stderr, at the default level) written to `log`.
    pub fn start_logged(site: &Path, dir: &Path, mqtt: u16, web: u16, more: &[&str], log: &Path) -> Self {
        let file = std::fs::File::create(log).unwrap();
        Self::start_with_stderr(site, dir, mqtt, web, more, Stdio::from(file))
    }

    fn start_with_stderr(site: &Path, dir: &Path, mqtt: u16, web: u16, more: &[&str], stderr: Stdio) -> Self {
        let child = super::lintel_run(site, dir, mqtt, 600)
            .args(["--web", &format!("127.0.0.1:{web}"), "--model", "ssdlite-pedestrian-300-int8-raw"])
            .args(["--web-operator-token-env", "LINTEL_TEST_OPERATOR_TOKEN"])
            .args(["--web-technician-token-env", "LINTEL_TEST_TECHNICIAN_TOKEN"])
            .args(more)
            .env("LINTEL_TEST_OPERATOR_TOKEN", OPERATOR)
            .env("LINTEL_TEST_TECHNICIAN_TOKEN", TECHNICIAN)
            .env_remove("LINTEL_LOG")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let up = super::wait_until(Duration::from_secs(60), || TcpStream::connect(("127.0.0.1", web)).is_ok());
        assert!(up, "lintel run --web 127.0.0.1:{web} did not listen");
        Self(child)
    }

    /// Stops it as an operator would (SIGINT), and waits for it.
    pub fn stop(mut self) {
        super::signal(&self.0, "INT");
        let stopped = super::wait_until(Duration::from_secs(30), || self.0.try_wait().unwrap().is_some());
        assert!(stopped, "the node did not stop on SIGINT");
    }
}

impl Drop for PagesNode {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
