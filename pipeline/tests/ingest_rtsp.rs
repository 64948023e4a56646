//! Live ingest against a real RTSP server on 127.0.0.1 serving the fixture clip: frames, restarts,
//! refused logins, silent cameras, and one camera's failure not touching another.
//!
//! Deadlines are generous (two shared cores) and nothing asserts on timing; measured rates and
//! delays are printed (`cargo test … -- --nocapture`).

use lintel_testkit::free_port;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lintel::ingest::{
    Backoff, CameraConfig, CameraState, CameraSupervisor, Credentials, FrameSource, IngestError, LiveOptions,
    RtspTransport, SourceOptions,
};
use lintel::test_camera::{ClipServer, ClipServerOptions, ServerAuth, read_stamp};

fn clip() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/video/vtest.avi");
    assert!(path.exists(), "{} is missing: run scripts/setup", path.display());
    path
}

fn logs() {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("lintel=debug").try_init();
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

fn analysis_size() -> SourceOptions {
    SourceOptions { size: Some((384, 288)), live: true, ..Default::default() }
}

fn camera(id: &str, url: &str) -> CameraConfig {
    let mut config = CameraConfig::new(id, url);
    config.source = analysis_size();
    config.live.timeout = Duration::from_secs(5);
    config.backoff = Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(2), ..Default::default() };
    config
}

/// The `lintel-rtsp-server` binary as a child process, killed on drop (a camera that loses power).
struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    fn spawn(port: u16) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-rtsp-server"))
            .arg(clip())
            .args(["--port", &port.to_string(), "--path", "/walkway"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lintel-rtsp-server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("the server says it is ready");
        let url = line.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self { url: url.to_string(), child }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads frames for `span`; returns (frames, seconds between first and last, delays in ms).
fn read_for(source: &mut FrameSource, server: &ClipServer, span: Duration) -> (usize, f64, Vec<f64>) {
    let (mut frames, mut first, mut last) = (0usize, None, Instant::now());
    let mut delays = Vec::new();
    let end = Instant::now() + span;
    while Instant::now() < end {
        let frame = source.next_frame().expect("frames over RTSP").expect("a live stream does not end");
        let now = Instant::now();
        assert_eq!((frame.width(), frame.height()), (384, 288));
        assert_eq!((frame.source_width, frame.source_height), (768, 576));
        if let Some(pushed) = read_stamp(&frame).and_then(|n| server.pushed_at(n)) {
            delays.push(now.duration_since(pushed).as_secs_f64() * 1000.0);
        }
        frames += 1;
        first.get_or_insert(now);
        last = now;
    }
    (frames, first.map_or(0.0, |f| last.duration_since(f).as_secs_f64()), delays)
}

fn summary(delays: &mut [f64]) -> String {
    if delays.is_empty() {
        return "no stamped frame".into();
    }
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize];
    format!("delay ms min {:.0} median {:.0} p95 {:.0} max {:.0}", at(0.0), at(0.5), at(0.95), at(1.0))
}

#[test]
fn rtsp_server_serves_the_clip_at_the_analysis_size() {
    logs();
    let server = ClipServer::start(ClipServerOptions { stamp: true, ..ClipServerOptions::new(clip()) }).unwrap();
    let default_latency = LiveOptions::default().latency;
    // The last run also asks for 5 analysis frames per second of the 10 served (videorate).
    for (transport, latency, fps) in [
        (RtspTransport::Tcp, Duration::ZERO, None),
        (RtspTransport::Udp, Duration::ZERO, None),
        (RtspTransport::Tcp, default_latency, Some(5.0)),
    ] {
        let live = LiveOptions { transport, latency, ..Default::default() };
        let opened = Instant::now();
        let options = SourceOptions { fps, ..analysis_size() };
        let mut source = FrameSource::open_with(server.url(), &options, &live).unwrap();
        let first = source.next_frame().unwrap().expect("a first frame");
        let to_first = opened.elapsed();
        assert_eq!((first.width(), first.height()), (384, 288));
        let (frames, seconds, mut delays) = read_for(&mut source, &server, Duration::from_secs(5));
        assert!(frames >= 5, "{frames} frames in 5 s over {transport:?}");
        eprintln!(
            "{transport:?}, latency {latency:?}, analysis fps {fps:?}: first frame after {:.2} s; {frames} frames in {seconds:.1} s = {:.2} fps \
             (served at {} fps); {}",
            to_first.as_secs_f64(),
            (frames - 1) as f64 / seconds.max(1e-9),
            server.fps(),
            summary(&mut delays)
        );
        assert!(source.uri().starts_with("rtsp://127.0.0.1:"));
    }
}

#[test]
fn supervisor_reconnects_when_the_server_comes_back() {
    logs();
    for transport in [RtspTransport::Tcp, RtspTransport::Udp] {
        server_restart(transport);
    }
}

/// Kills the server mid-stream and starts it again on the same port: Live, Retrying, Live.
fn server_restart(transport: RtspTransport) {
    let port = free_port();
    let server = ServerProcess::spawn(port);
    let mut config = camera("door", &server.url);
    config.live.transport = transport;
    let (supervisor, latest) = CameraSupervisor::spawn_latest(config).unwrap();
    assert!(wait_until(Duration::from_secs(60), || supervisor.frames() >= 10), "{:?}", supervisor.state());
    assert_eq!(supervisor.state(), CameraState::Live);
    assert_eq!(latest.wait(Duration::from_secs(10)).expect("a frame").connection, 1);

    let killed = Instant::now();
    drop(server);
    assert!(
        wait_until(Duration::from_secs(30), || matches!(supervisor.state(), CameraState::Retrying { .. })),
        "{:?}",
        supervisor.state()
    );
    let noticed = killed.elapsed();
    let CameraState::Retrying { last_error, .. } = supervisor.state() else { unreachable!() };
    eprintln!("{transport:?}: server killed; supervisor retrying after {:.2} s: {last_error}", noticed.as_secs_f64());

    let server = ServerProcess::spawn(port);
    let restarted = Instant::now();
    let before = supervisor.frames();
    assert!(
        wait_until(Duration::from_secs(60), || supervisor.state() == CameraState::Live
            && supervisor.frames() >= before + 10),
        "{:?} after the restart",
        supervisor.state()
    );
    eprintln!("{transport:?}: server restarted; live again after {:.2} s", restarted.elapsed().as_secs_f64());
    let _ = latest.take();
    let frame = latest.wait(Duration::from_secs(10)).expect("frames flow again");
    assert!(frame.connection > 1, "a new connection after the restart");
    assert_eq!((frame.frame.width(), frame.frame.height()), (384, 288));
    supervisor.stop();
    drop(server);
}

#[test]
fn wrong_password_is_a_clear_error_without_the_password() {
    logs();
    let options = ClipServerOptions {
        credentials: Some(Credentials::new("viewer", "correct-horse")),
        ..ClipServerOptions::new(clip())
    };
    let server = ClipServer::start(options).unwrap();
    let wrong = "wrong-battery-staple";

    // The right login works (so the refusal below is about the password). Not a test of timeouts:
    // under a loaded `cargo test` the first frame once took longer than the 10 s default.
    let right = LiveOptions {
        credentials: Some(Credentials::new("viewer", "correct-horse")),
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let mut source = FrameSource::open_with(server.url(), &analysis_size(), &right).unwrap();
    assert!(source.next_frame().unwrap().is_some());
    drop(source);

    let live = LiveOptions { credentials: Some(Credentials::new("viewer", wrong)), ..Default::default() };
    let mut source = FrameSource::open_with(server.url(), &analysis_size(), &live).unwrap();
    let error = source.next_frame().err().expect("a refused login is an error");
    let text = error.to_string();
    eprintln!("wrong password: {text}");
    assert!(matches!(error, IngestError::AuthFailed { .. }), "{error:?}");
    assert!(error.is_permanent());
    assert!(text.contains("authentication failed") && text.contains("401") && text.contains(server.url()), "{text}");
    assert!(!text.contains(wrong));

    // Credentials in the URL are taken out of it: neither the error nor the URI shows them.
    let in_url = server.url().replacen("rtsp://", &format!("rtsp://viewer:{wrong}@"), 1);
    let mut source = FrameSource::open(&in_url, &analysis_size()).unwrap();
    assert!(!source.uri().contains(wrong));
    let text = source.next_frame().err().expect("refused").to_string();
    assert!(text.contains("authentication failed") && !text.contains(wrong), "{text}");

    // The supervisor does not retry at once: a wrong password only locks accounts.
    let mut config = camera("locked", server.url());
    config.live.credentials = Some(Credentials::new("viewer", wrong));
    let supervisor = CameraSupervisor::spawn(config, |_| {}).unwrap();
    assert!(wait_until(Duration::from_secs(30), || matches!(supervisor.state(), CameraState::Failed { .. })));
    let CameraState::Failed { error } = supervisor.state() else { unreachable!() };
    assert!(error.contains("authentication failed") && !error.contains(wrong), "{error}");
    supervisor.stop();
}

/// A device at the camera's address that asks for Basic authentication (a fake camera after an
/// ARP or DHCP spoof) gets no password: the guard between rtspsrc and the camera keeps the Basic
/// offer from rtspsrc, which has nothing to answer, and the error says why in one line. The same server gets the login, and serves, when Basic is allowed
/// for the camera; a camera that asks for Digest gets it by default.
#[test]
fn a_camera_asking_for_basic_gets_no_password_unless_basic_is_allowed() {
    logs();
    let password = "correct-horse-battery";
    let serve = |auth: ServerAuth| {
        ClipServer::start(ClipServerOptions {
            credentials: Some(Credentials::new("viewer", password)),
            auth,
            ..ClipServerOptions::new(clip())
        })
        .unwrap()
    };
    let login = |allow_basic: bool| LiveOptions {
        credentials: Some(Credentials::new("viewer", password)),
        allow_basic,
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let basic_only = serve(ServerAuth::Basic);
    let mut source = FrameSource::open_with(basic_only.url(), &analysis_size(), &login(false)).unwrap();
    let started = Instant::now();
    let error = source.next_frame().err().expect("refused");
    assert!(started.elapsed() < Duration::from_secs(10), "refused, not timed out: {:?}", started.elapsed());
    drop(source);
    let text = error.to_string();
    eprintln!("basic asked: {text}");
    assert!(matches!(error, IngestError::BasicRefused { .. }), "{error:?}");
    assert!(error.is_permanent(), "tried again after the long backoff, not at once");
    assert!(text.contains("Basic") && text.contains(basic_only.url()) && !text.contains('\n'), "{text}");
    assert!(!text.contains(password));
    // The password never reached the server.
    assert_eq!(basic_only.logins_received(), 0);

    // Allowed for this camera, the same server takes the login and serves.
    let mut source = FrameSource::open_with(basic_only.url(), &analysis_size(), &login(true)).unwrap();
    assert!(source.next_frame().unwrap().is_some());
    drop(source);
    assert!(basic_only.logins_received() >= 1, "the count would have seen a login");

    for auth in [ServerAuth::Digest, ServerAuth::BasicAndDigest] {
        let server = serve(auth);
        assert!(first_frame_as_the_supervisor_tries(server.url(), &login(false)), "{auth:?}");
        assert!(server.logins_received() >= 1, "{auth:?}: served after a login");
    }
}

/// Whether a frame comes from `url`, opening again once after a timeout as the camera supervisor
/// does. One CI run (1 in about 50 here) saw a guarded Digest open give no frame for 30 s and no
/// error; the supervisor's reconnect is what a camera gets then, so that is what is tested.
fn first_frame_as_the_supervisor_tries(url: &str, options: &LiveOptions) -> bool {
    for attempt in 1..=2 {
        let mut source = FrameSource::open_with(url, &analysis_size(), options).unwrap();
        match source.next_frame() {
            Ok(frame) => return frame.is_some(),
            Err(error @ IngestError::Timeout { .. }) if attempt == 1 => eprintln!("{url}: {error}; opened again"),
            Err(error) => panic!("{url}: {error}"),
        }
    }
    false
}

#[test]
fn a_refused_camera_is_tried_again_later_and_comes_back_once_its_login_works() {
    logs();
    let login = |password: &str| ClipServerOptions {
        credentials: Some(Credentials::new("viewer", password)),
        ..ClipServerOptions::new(clip())
    };
    let server = ClipServer::start(login("old-password")).unwrap();
    let (url, port) = (server.url().to_string(), server.port());
    let mut config = camera("reset", &url);
    config.live.credentials = Some(Credentials::new("viewer", "new-password"));
    config.live.timeout = Duration::from_secs(30);
    config.backoff.after_refusal = Duration::from_secs(2);
    let supervisor = CameraSupervisor::spawn(config, |_| {}).unwrap();
    assert!(wait_until(Duration::from_secs(30), || matches!(supervisor.state(), CameraState::Failed { .. })));
    // The camera's password is reset to the one the site file has (a technician, a reboot): no
    // restart of Lintel is needed.
    drop(server);
    let server = ClipServer::start(ClipServerOptions { port, ..login("new-password") }).unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || supervisor.state() == CameraState::Live),
        "{:?}",
        supervisor.state()
    );
    supervisor.stop();
    drop(server);
}

#[test]
fn cameras_that_never_answer_time_out() {
    logs();
    let live = LiveOptions { timeout: Duration::from_secs(3), ..Default::default() };

    // Nothing listens on the port: refused at once.
    let refused = format!("rtsp://127.0.0.1:{}/walkway", free_port());
    let started = Instant::now();
    let mut source = FrameSource::open_with(&refused, &analysis_size(), &live).unwrap();
    let error = source.next_frame().err().expect("a refused connection is an error");
    eprintln!("nothing listening: {error} (after {:.2} s)", started.elapsed().as_secs_f64());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(error.to_string().contains(&refused), "{error}");

    // A TCP port that accepts and never says a word of RTSP.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("rtsp://127.0.0.1:{}/walkway", silent.local_addr().unwrap().port());
    let listener = silent.try_clone().unwrap();
    std::thread::spawn(move || {
        // Hold the connections open, never read nor write.
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    let started = Instant::now();
    let mut source = FrameSource::open_with(&url, &analysis_size(), &live).unwrap();
    let error = source.next_frame().err().expect("a silent server is an error");
    let waited = started.elapsed();
    eprintln!("silent server: {error} (after {:.2} s)", waited.as_secs_f64());
    assert!(waited < Duration::from_secs(20), "gave up after {waited:?}");
    assert!(error.to_string().contains(&url), "{error}");
    let closing = Instant::now();
    drop(source);
    eprintln!("pipeline to NULL in {:.2} s", closing.elapsed().as_secs_f64());

    // Supervised, both keep retrying.
    let mut config = camera("silent", &url);
    config.live.timeout = Duration::from_secs(3);
    let supervisor = CameraSupervisor::spawn(config, |_| {}).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || matches!(supervisor.state(), CameraState::Retrying { .. })),
        "{:?}",
        supervisor.state()
    );
    let refused_camera = CameraSupervisor::spawn(camera("refused", &refused), |_| {}).unwrap();
    assert!(wait_until(
        Duration::from_secs(30),
        || matches!(refused_camera.state(), CameraState::Retrying { attempt, .. } if attempt >= 2)
    ));
    eprintln!("{:?}", refused_camera.state());
    let stopping = Instant::now();
    supervisor.stop();
    refused_camera.stop();
    eprintln!("two supervisors stopped in {:.2} s", stopping.elapsed().as_secs_f64());
    drop(silent);
}

#[test]
fn a_broken_camera_does_not_stop_another() {
    logs();
    let server = ClipServer::start(ClipServerOptions::new(clip())).unwrap();
    let (good, _latest) = CameraSupervisor::spawn_latest(camera("good", server.url())).unwrap();
    let broken =
        CameraSupervisor::spawn(camera("broken", &format!("rtsp://127.0.0.1:{}/x", free_port())), |_| {}).unwrap();
    assert!(wait_until(Duration::from_secs(60), || good.frames() >= 5), "{:?}", good.state());
    assert!(wait_until(
        Duration::from_secs(30),
        || matches!(broken.state(), CameraState::Retrying { attempt, .. } if attempt >= 3)
    ));
    let before = good.frames();
    assert!(
        wait_until(Duration::from_secs(30), || good.frames() >= before + 20),
        "the good camera stalled at {} frames: {:?}",
        good.frames(),
        good.state()
    );
    assert_eq!(good.state(), CameraState::Live);
    assert!(matches!(broken.state(), CameraState::Retrying { .. }));
    assert_eq!(broken.frames(), 0);
    broken.stop();
    good.stop();
}

/// A server started into the clip (`start_at`, `lintel-rtsp-server --start-s`) serves the clip
/// from there: its first frame is the file's frame at that point (give or take the time to
/// connect), not one near the start; so servers of one clip can play it out of step.
#[test]
fn a_server_started_into_the_clip_serves_it_from_there() {
    logs();
    let options = SourceOptions { size: Some((192, 144)), ..Default::default() };
    let mut file = FrameSource::open(clip().to_str().unwrap(), &options).unwrap();
    let mut file_frames = Vec::new();
    while let Some(frame) = file.next_frame().unwrap() {
        file_frames.push(frame.rgb().unwrap().to_grey());
    }
    assert!(file_frames.len() > 600, "{} frames in the clip", file_frames.len());

    let started = Instant::now();
    let start_at = Duration::from_secs(40);
    let server = ClipServer::start(ClipServerOptions { start_at, ..ClipServerOptions::new(clip()) }).unwrap();
    let live = LiveOptions { timeout: Duration::from_secs(30), ..Default::default() };
    let mut source = FrameSource::open_with(server.url(), &SourceOptions { live: true, ..options }, &live).unwrap();
    let first = source.next_frame().unwrap().expect("a first frame").rgb().unwrap().to_grey();
    let waited = started.elapsed().as_secs_f64();
    let difference = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| u64::from(x.abs_diff(*y))).sum::<u64>();
    let nearest = (0..file_frames.len()).min_by_key(|&i| difference(&first, &file_frames[i])).unwrap();
    // 10 frames a second; the client joins at a key frame, within a few seconds of the start.
    let (from, to) = (400, 400 + ((waited + 2.0) * 10.0).ceil() as usize);
    assert!(
        (from..=to).contains(&nearest),
        "the first frame served from 40 s in is the clip's frame {nearest}, not one in {from}..={to}"
    );
    server.stop();
}
