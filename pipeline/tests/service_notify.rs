//! `lintel run` as systemd runs a `Type=notify` service with `WatchdogSec=`: the test is the
//! service manager, listening on the Unix datagram socket named by `$NOTIFY_SOCKET`. The node
//! says `READY=1` once its camera and broker are set up, then `WATCHDOG=1` at half of
//! `$WATCHDOG_USEC`; frozen with SIGSTOP it sends nothing (so systemd would restart it), and it
//! resumes when thawed.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Broker, RtspCamera, lintel_run, pets_site, scratch_dir, signal};

/// The datagrams that arrive within `window`, as text.
fn listen(socket: &UnixDatagram, window: Duration) -> Vec<String> {
    let end = Instant::now() + window;
    let mut messages = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Some(left) = end.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
        socket.set_read_timeout(Some(left)).unwrap();
        match socket.recv(&mut buffer) {
            Ok(n) => messages.push(String::from_utf8_lossy(&buffer[..n]).into_owned()),
            Err(_) => break,
        }
    }
    messages
}

fn watchdogs(messages: &[String]) -> usize {
    messages.iter().filter(|m| m.lines().any(|l| l == "WATCHDOG=1")).count()
}

#[test]
fn ready_then_watchdog_at_the_rate_and_silence_when_frozen() {
    let dir = scratch_dir("notify");
    let camera = RtspCamera::start("/door");
    let broker = Broker::start(&dir);
    let site = pets_site(&dir, &camera.url);
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();

    let started = Instant::now();
    let mut node = lintel_run(&site, &dir, broker.port, 300)
        // WatchdogSec=2: a keep-alive is due at least every 2 s; the node sends one every 1 s.
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "2000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut before_ready = Vec::new();
    let mut buffer = [0u8; 4096];
    let ready = loop {
        let left = Duration::from_secs(30).checked_sub(started.elapsed());
        let Some(left) = left.filter(|d| !d.is_zero()) else { break None };
        socket.set_read_timeout(Some(left)).unwrap();
        match socket.recv(&mut buffer) {
            Ok(n) => {
                let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
                if message.lines().any(|l| l == "READY=1") {
                    break Some((started.elapsed(), message));
                }
                before_ready.push(message);
            }
            Err(_) => break None,
        }
    };
    let (after, message) = ready.unwrap_or_else(|| {
        let _ = node.kill();
        panic!("no READY=1 within 30 s (got {before_ready:?})")
    });
    println!("READY=1 after {:.1} s: {message:?}", after.as_secs_f64());
    assert!(message.contains("STATUS=counting on 1 cameras"), "{message:?}");
    assert!(watchdogs(&before_ready) == 0, "WATCHDOG=1 before READY=1: {before_ready:?}");

    // Running: one keep-alive a second (half of WATCHDOG_USEC); 6 s give 5 to 7.
    let running = listen(&socket, Duration::from_secs(6));
    let alive = watchdogs(&running);
    println!("{alive} WATCHDOG=1 in 6 s");
    assert!((4..=8).contains(&alive), "{alive} keep-alives in 6 s: {running:?}");

    // Frozen: nothing, for longer than the watchdog's 2 s.
    signal(&node, "STOP");
    let _ = listen(&socket, Duration::from_millis(300)); // one may have been in flight
    let frozen = listen(&socket, Duration::from_secs(4));
    signal(&node, "CONT");
    assert_eq!(watchdogs(&frozen), 0, "a frozen node sent {frozen:?}");

    // Thawed: keep-alives again.
    let thawed = listen(&socket, Duration::from_secs(4));
    assert!(watchdogs(&thawed) >= 2, "after SIGCONT: {thawed:?}");

    // Stopped on purpose: STOPPING=1.
    signal(&node, "TERM");
    let last = listen(&socket, Duration::from_secs(10));
    let status = node.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(last.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")), "{last:?}");
}

#[test]
fn without_a_watchdog_only_ready_is_sent() {
    let dir = scratch_dir("notify-no-watchdog");
    let broker = Broker::start(&dir);
    let site = common::workspace("fixtures/pets.toml");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let status = lintel_run(&site, &dir, broker.port, 4)
        .env("NOTIFY_SOCKET", &socket_path)
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let messages = listen(&socket, Duration::from_millis(500));
    assert!(messages.iter().any(|m| m.contains("READY=1")), "{messages:?}");
    assert_eq!(watchdogs(&messages), 0, "{messages:?}");
}

/// The keep-alives vouch for the work, not a timer: a node whose detection thread wedges (on
/// purpose, by a fault-injection switch) stops sending `WATCHDOG=1` while its node thread
/// still runs, and says which loop stalled; systemd would restart it.
#[test]
fn a_wedged_detection_thread_stops_the_keep_alives() {
    let dir = scratch_dir("notify-wedged");
    let camera = RtspCamera::start("/door");
    let broker = Broker::start(&dir);
    let site = pets_site(&dir, &camera.url);
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let log = dir.join("stderr.log");
    let mut node = lintel_run(&site, &dir, broker.port, 300)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "2000000")
        .env("LINTEL_TEST_WEDGE_DETECTION_AFTER_S", "6")
        .env("LINTEL_LOG", "error")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Before the wedge (6 s) and for the stall allowance after it (10 s at least): keep-alives.
    let early = listen(&socket, Duration::from_secs(5));
    assert!(early.iter().any(|m| m.contains("READY=1")), "{early:?}");
    assert!(watchdogs(&early) >= 2, "{early:?}");
    // Wedged at 6 s; overdue past 10 s from then: silent by 17 s. Wait for the last keep-alive.
    let mut last_alive = started.elapsed();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(30) {
        socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        match socket.recv(&mut buffer) {
            Ok(n) if String::from_utf8_lossy(&buffer[..n]).lines().any(|l| l == "WATCHDOG=1") => {
                last_alive = started.elapsed()
            }
            Ok(_) => {}
            Err(_) if started.elapsed() > last_alive + Duration::from_secs(4) => break,
            Err(_) => {}
        }
    }
    println!("last WATCHDOG=1 at {:.1} s (wedged at 6 s)", last_alive.as_secs_f64());
    assert!(
        (Duration::from_secs(14)..Duration::from_secs(19)).contains(&last_alive),
        "keep-alives ended at {last_alive:?}, not 10 to 12 s after the wedge"
    );
    // Not frozen, not dead: it still runs, and it said why it stopped vouching.
    assert!(node.try_wait().unwrap().is_none(), "the node exited");
    signal(&node, "TERM");
    let status = node.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("the detection loop has made no progress"), "{stderr}");
    assert_eq!(stderr.matches("has made no progress").count(), 1, "logged once per stall: {stderr}");
    assert!(status.success(), "{status}: {stderr}");
}

/// Logs reach the journal's socket as structured entries: the test stands in for journald by
/// binding its own datagram socket over `/run/systemd/journal/socket` in a private mount
/// namespace of the node (`unshare`, as root: the host's `/run` is not touched).
#[test]
fn logs_reach_the_journal_with_the_camera_as_a_field() {
    let dir = scratch_dir("journal");
    let camera = RtspCamera::start("/door");
    let broker = Broker::start(&dir);
    let site = pets_site(&dir, &camera.url);
    let socket_path = dir.join("journal.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let node = lintel_run(&site, &dir, broker.port, 300);
    let mut command = std::process::Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t tmpfs lintel-test /run && mkdir -p /run/systemd/journal && : > /run/systemd/journal/socket \
             && mount --bind \"$0\" /run/systemd/journal/socket && exec \"$@\"",
        )
        .arg(&socket_path)
        .arg(node.get_program())
        .args(node.get_args())
        .arg("--log-to=journald");
    for (key, value) in node.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let node = command.env("LINTEL_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let entries = listen(&socket, Duration::from_secs(12));
    signal(&node, "TERM");
    let output = node.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!entries.is_empty(), "nothing reached the journal socket; stderr: {stderr}");
    let entries: Vec<Vec<String>> = entries.iter().map(|e| journal_fields(e.as_bytes())).collect();
    let live = entries
        .iter()
        .find(|e| e.iter().any(|f| f == "MESSAGE=camera live"))
        .unwrap_or_else(|| panic!("no 'camera live' entry in {entries:#?}"));
    // tracing's INFO is the journal's "notice" (5).
    for field in ["CAMERA=walkway", "SPAN_NAME=camera", "SYSLOG_IDENTIFIER=lintel", "PRIORITY=5"] {
        assert!(live.iter().any(|f| f == field), "{field} missing in {live:?}");
    }
    // Nothing went to stderr as text: the journal has it all.
    assert!(!stderr.contains("camera live"), "{stderr}");
}

/// The fields of one entry in journald's native protocol: `KEY=VALUE` lines, or `KEY`, a
/// newline, the value's length (64-bit little-endian), the value and a newline.
fn journal_fields(mut entry: &[u8]) -> Vec<String> {
    let mut fields = Vec::new();
    while let Some(end) = entry.iter().position(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(&entry[..end]).into_owned();
        entry = &entry[end + 1..];
        if line.contains('=') {
            fields.push(line);
        } else if entry.len() >= 8 {
            let length = u64::from_le_bytes(entry[..8].try_into().unwrap()) as usize;
            let value = String::from_utf8_lossy(&entry[8..(8 + length).min(entry.len())]).into_owned();
            fields.push(format!("{line}={value}"));
            entry = &entry[(9 + length).min(entry.len())..];
        }
    }
    fields
}
