//! The node's routes: `GET /metrics`, the operators' dashboard, the login and the technicians'
//! set-up page, over [`WebServer`] (the shared server machinery of `lintel_http`, with its limits
//! on slow clients).
//!
//! ```no_run
//! use std::sync::Arc;
//! use lintel::web::{NodeMetrics, server};
//!
//! let metrics = Arc::new(NodeMetrics::default());
//! let server = server::serve_metrics_only("127.0.0.1:9100".parse()?, Arc::clone(&metrics))?;
//! println!("metrics on http://{}/metrics", server.address());
//! // … metrics.update(snapshot) as the node runs; dropping `server` stops it.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};
pub use lintel_http::{AllowedHosts, HttpServer as WebServer, Timeouts};
use prometheus_client::registry::Registry;

use super::auth::{self, Access};
use super::board::OperatorBoard;
use super::calibrate::{self, CalibrateView};
use super::limits::{LoginBackoff, StreamSlots};
use super::stills::{self, OperatorStills};
use super::{cross_site, dashboard, i18n, login, pages};
use crate::live::AuditTrail;
use crate::live::metrics::{self, CONTENT_TYPE, NodeMetrics};

/// The pages' limits on clients: a request's head must be in within 2 s (before anyone is
/// authenticated), so a crowd of slow anonymous heads holds each connection for 2 s, not 10.
pub const PAGES_TIMEOUTS: Timeouts =
    Timeouts { header: Duration::from_secs(2), request: Duration::from_secs(10), shutdown: Duration::from_secs(2) };

/// What every route can read; cloned per request, so its fields are shared handles.
#[derive(Clone, Debug)]
pub struct WebState {
    /// The node's latest metrics (camera health, MQTT state) for pages to show.
    pub metrics: Arc<NodeMetrics>,
    /// The Prometheus registry `/metrics` renders; the node's metrics are its collector.
    pub registry: Arc<Registry>,
    /// The operators' board: with it, the dashboard is served at `/`.
    pub board: Option<Arc<OperatorBoard>>,
    /// Who may do what; open (loopback only) without tokens.
    pub access: Access,
    /// The technicians' page: with it, `/calibrate` is served.
    pub calibrate: Option<Arc<CalibrateView>>,
    /// The operators' blurred stills (`--operator-stills`): with them, `/api/cameras/{id}/still.jpg`.
    pub stills: Option<Arc<OperatorStills>>,
    /// The `Host` names answered (DNS rebinding); `None`: any (`/metrics` alone, scraped by name).
    pub hosts: Option<AllowedHosts>,
    /// Where unblurs, zone saves, validations, acknowledgements and sign-ins are recorded.
    pub audit: AuditTrail,
    /// The live event streams open at once, in all and per peer.
    pub streams: StreamSlots,
    /// The wait imposed on a peer guessing tokens.
    pub logins: LoginBackoff,
}

impl WebState {
    /// The state of a node whose metrics are `metrics`: `/metrics` only, open.
    pub fn new(metrics: Arc<NodeMetrics>) -> Self {
        let registry = Arc::new(metrics::registry(Arc::clone(&metrics)));
        Self {
            metrics,
            registry,
            board: None,
            access: Access::open(),
            calibrate: None,
            stills: None,
            hosts: None,
            audit: AuditTrail::default(),
            streams: StreamSlots::default(),
            logins: LoginBackoff::default(),
        }
    }

    /// The pages of a node: the dashboard over `board`, behind `access`, answering IP literals
    /// and `localhost` (add names to `hosts`), recording to `audit`.
    pub fn pages(metrics: Arc<NodeMetrics>, board: Arc<OperatorBoard>, access: Access, audit: AuditTrail) -> Self {
        Self { board: Some(board), access, hosts: Some(AllowedHosts::default()), audit, ..Self::new(metrics) }
    }
}

/// The routes: `GET /metrics`, and with a board the dashboard (`/`, `/api/…`), the login and
/// the page assets; behind the tokens of `state.access` when it has any, the Host check of
/// `state.hosts`, and the refusal of cross-site writes. Other paths answer 404, other methods on
/// a route 405.
pub fn router(state: WebState) -> Router {
    let access = state.access.clone();
    let hosts = state.hosts.clone();
    let (audit, streams, logins) = (state.audit.clone(), state.streams.clone(), state.logins.clone());
    let board = state.board.clone();
    let calibrate = state.calibrate.clone();
    let stills = state.stills.clone();
    let pages = board.is_some() || calibrate.is_some();
    let mut routes = Router::new().route("/metrics", get(serve_metrics)).with_state(state);
    if let Some(board) = board {
        routes = routes
            .merge(dashboard::router(board))
            .route("/login", get(pages::login_page).post(login::login).with_state(access.clone()))
            .route("/logout", get(login::logout))
            .route("/api/whoami", get(login::whoami))
            .route("/assets/{*name}", get(pages::asset));
    }
    if pages {
        routes = routes.merge(i18n::CATALOGUES.clone().router());
    }
    if let Some(view) = calibrate {
        routes = routes.merge(calibrate::router(view));
    }
    if let Some(stills) = stills {
        routes = routes.merge(stills::router(stills));
    }
    // Layers run outside in: headers on every answer, then the Host, then writes from other
    // sites refused before anyone is authenticated.
    let routes = routes.fallback(not_found).layer(axum::middleware::from_fn_with_state(access, auth::authenticate));
    // `/metrics` alone changes nothing and keeps answering 405 to other methods.
    let routes =
        if pages { routes.layer(axum::middleware::from_fn(cross_site::refuse_cross_site_writes)) } else { routes };
    let routes = routes.layer(Extension(audit)).layer(Extension(streams)).layer(Extension(logins));
    let routes = match hosts {
        Some(hosts) => routes.layer(axum::middleware::from_fn_with_state(hosts, lintel_http::check_host)),
        None => routes,
    };
    routes.layer(axum::middleware::from_fn(lintel_http::security_headers))
}

/// Serves the node's pages (`state` with a board) on `address`, with [`PAGES_TIMEOUTS`].
pub fn serve_pages(address: SocketAddr, state: WebState) -> io::Result<WebServer> {
    WebServer::serve_with(address, router(state), PAGES_TIMEOUTS)
}

async fn serve_metrics(State(state): State<WebState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics::render(&state.registry))
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found\n")
}

/// Serves only `GET /metrics` of `metrics` on `address`, open: the node without pages.
pub fn serve_metrics_only(address: SocketAddr, metrics: Arc<NodeMetrics>) -> io::Result<WebServer> {
    WebServer::serve(address, router(WebState::new(metrics)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};
    use std::time::Instant;

    use std::time::Duration;

    use super::*;
    use crate::ingest::CameraStateKind;
    use crate::live::{CameraMetrics, Snapshot};

    /// Generous: what takes milliseconds on an idle box may take seconds on a busy 2-core one.
    const PATIENCE: Duration = Duration::from_secs(15);

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    fn server(timeouts: Timeouts) -> (WebServer, Arc<NodeMetrics>) {
        let metrics = Arc::new(NodeMetrics::default());
        let server = WebServer::serve_with(loopback(), router(WebState::new(Arc::clone(&metrics))), timeouts).unwrap();
        (server, metrics)
    }

    /// One request, whole answer (the request asks to close, so the answer ends at EOF).
    fn request(address: SocketAddr, request_line: &str) -> (String, String) {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        write!(stream, "{request_line}\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
        (head.to_string(), body.to_string())
    }

    fn scrape(address: SocketAddr) -> String {
        let (head, body) = request(address, "GET /metrics HTTP/1.1");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        body
    }

    /// A client that sends a request head one byte a second and never finishes it.
    struct Trickler {
        /// When it was cut off, and what it read before.
        outcome: std::thread::JoinHandle<(Duration, String)>,
    }

    impl Trickler {
        fn start(address: SocketAddr) -> Self {
            let (tell, started) = std::sync::mpsc::channel();
            let outcome = std::thread::spawn(move || {
                let mut stream = TcpStream::connect(address).unwrap();
                // The read timeout paces the bytes: a second between two.
                stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                let begin = Instant::now();
                let mut heard = Vec::new();
                let head = b"GET /metrics HTTP/1.1\r\nHost: test\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a'));
                for (sent, byte) in head.enumerate() {
                    if stream.write_all(&[*byte]).is_err() {
                        break;
                    }
                    if sent == 0 {
                        let _ = tell.send(());
                    }
                    let mut buffer = [0u8; 1024];
                    match stream.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(n) => heard.extend_from_slice(&buffer[..n]),
                        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                        Err(error) if error.kind() == io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                    assert!(begin.elapsed() < Duration::from_secs(60), "never cut off");
                }
                (begin.elapsed(), String::from_utf8_lossy(&heard).into_owned())
            });
            started.recv_timeout(PATIENCE).expect("the slow client did not start");
            Self { outcome }
        }
    }

    #[test]
    fn a_slow_client_does_not_hold_up_a_scrape_and_is_cut_off_after_the_header_timeout() {
        let timeouts = Timeouts { header: Duration::from_secs(3), ..Timeouts::default() };
        let (server, _) = server(timeouts);
        let slow = Trickler::start(server.address());

        let begin = Instant::now();
        let body = scrape(server.address());
        assert!(begin.elapsed() < PATIENCE, "a scrape waited {:?} behind a slow client", begin.elapsed());
        assert!(body.ends_with("# EOF\n"), "{body}");

        let (cut_after, heard) = slow.outcome.join().unwrap();
        // Never before its time (timers do not fire early), and not much later.
        assert!(cut_after >= Duration::from_secs(2), "cut off after only {cut_after:?}");
        assert!(cut_after < timeouts.header + PATIENCE, "cut off after {cut_after:?}");
        assert!(!heard.contains("200 OK"), "a half-sent request was answered: {heard:?}");
    }

    #[test]
    fn an_idle_connection_is_closed_after_the_header_timeout() {
        let (server, _) = server(Timeouts { header: Duration::from_secs(2), ..Timeouts::default() });
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream.set_read_timeout(Some(PATIENCE + Duration::from_secs(2))).unwrap();
        let begin = Instant::now();
        let mut rest = Vec::new();
        // EOF (or a reset) when the server closes it; a read timeout error would fail here.
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(error) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}"),
        }
        assert!(begin.elapsed() >= Duration::from_secs(1), "closed after only {:?}", begin.elapsed());
    }

    #[test]
    fn a_request_body_never_sent_does_not_hold_the_connection() {
        let (server, _) = server(Timeouts::default());
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        // `/metrics` does not read bodies: hyper answers, then closes rather than wait for it.
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\nab").unwrap();
        let begin = Instant::now();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(begin.elapsed() < PATIENCE, "closed after {:?}", begin.elapsed());
    }

    #[test]
    fn a_body_trickled_to_a_route_that_reads_it_times_out() {
        // A route reading its body, as a calibration page's form will.
        let router = Router::new().route("/echo", axum::routing::post(|body: String| async move { body }));
        let timeouts = Timeouts { request: Duration::from_secs(2), ..Timeouts::default() };
        let server = WebServer::serve_with(loopback(), router, timeouts).unwrap();
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        write!(stream, "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n").unwrap();
        let begin = Instant::now();
        let mut answer = Vec::new();
        while begin.elapsed() < PATIENCE * 2 {
            if stream.write_all(b"a").is_err() {
                break;
            }
            let mut buffer = [0u8; 1024];
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
                Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408 "), "after {:?}: {answer:?}", begin.elapsed());
        assert!(begin.elapsed() >= Duration::from_secs(1), "timed out after only {:?}", begin.elapsed());
    }

    #[test]
    fn many_concurrent_scrapes_all_succeed() {
        let (server, metrics) = server(Timeouts::default());
        metrics.update(Snapshot { messages_published: 7, ..Default::default() });
        let address = server.address();
        let clients: Vec<_> = (0..64).map(|_| std::thread::spawn(move || scrape(address))).collect();
        for client in clients {
            let body = client.join().unwrap();
            assert!(body.contains("\nlintel_messages_published_total 7\n"), "{body}");
        }
    }

    #[test]
    fn the_connection_closes_after_the_answer() {
        let (server, _) = server(Timeouts::default());
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        // HTTP/1.1 without `Connection: close`: read to EOF, as simple scripts do.
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n"), "{answer}");
        assert!(answer.ends_with("# EOF\n"), "{answer}");
    }

    #[test]
    fn unknown_paths_are_404_and_other_methods_405() {
        let (server, _) = server(Timeouts::default());
        let (head, _) = request(server.address(), "GET /other HTTP/1.1");
        assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
        let (head, _) = request(server.address(), "POST /metrics HTTP/1.1");
        assert!(head.starts_with("HTTP/1.1 405 "), "{head}");
        let (head, _) = request(server.address(), "GET /metrics HTTP/1.1");
        assert!(head.to_ascii_lowercase().contains(&format!("content-type: {CONTENT_TYPE}")), "{head}");
    }

    #[test]
    fn a_second_server_on_a_taken_port_is_an_error() {
        let (server, _) = server(Timeouts::default());
        let metrics = Arc::new(NodeMetrics::default());
        let error = serve_metrics_only(server.address(), metrics).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn dropping_the_server_with_a_slow_client_connected_is_bounded() {
        let (server, _) = server(Timeouts::default());
        let address = server.address();
        let slow = Trickler::start(address);
        // And one that does not read its answer.
        let mut idle = TcpStream::connect(address).unwrap();
        write!(idle, "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let begin = Instant::now();
        drop(server);
        assert!(begin.elapsed() < PATIENCE, "stopping took {:?}", begin.elapsed());
        assert!(TcpStream::connect(address).is_err(), "still listening after drop");
        let (cut_after, _) = slow.outcome.join().unwrap();
        assert!(cut_after < Duration::from_secs(9) + PATIENCE);
        let _ = idle.shutdown(Shutdown::Both);
    }

    /// `name{labels}` → value, as the integration test and Prometheus read it.
    fn samples(body: &str) -> HashMap<String, f64> {
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (name, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {l:?}"));
                (name.to_string(), value.parse().unwrap_or_else(|_| panic!("not a number: {l:?}")))
            })
            .collect()
    }

    #[test]
    fn the_exposition_has_every_metric_with_its_value() {
        let (server, metrics) = server(Timeouts::default());
        let camera = |id: &str, state| CameraMetrics {
            id: id.into(),
            state,
            frames_received: 120,
            frames_analysed: 100,
            frames_skipped: 60,
            frames_shed: 7,
            frames_dropped: 3,
            crossings: 5,
            reconnects: 2,
            detector_seconds: 1.25,
            blinded: false,
            defocused: false,
            moved: true,
            last_frame_age_s: Some(0.5),
        };
        metrics.update(Snapshot {
            cameras: vec![
                camera("north", CameraStateKind::Live),
                camera("say \"cheese\"\\", CameraStateKind::Retrying),
            ],
            buildings: vec![crate::live::BuildingMetrics { id: "hall".into(), occupancy: 12, capacity: Some(300) }],
            mqtt_connected: true,
            spool_messages: 3,
            spool_bytes: 4096,
            spool_fill: 0.01,
            messages_published: 41,
            messages_spooled: 44,
            mqtt_connects: 2,
            intervals_published: 9,
            messages_held: 7,
            messages_dropped: 1,
            alerts_on: vec![(crate::publish::AlertKind::CameraMoved, "north".into())],
        });
        let body = scrape(server.address());
        let mut expected: HashMap<String, f64> = [
            ("lintel_mqtt_connected", 1.0),
            ("lintel_spool_messages", 3.0),
            ("lintel_spool_bytes", 4096.0),
            ("lintel_messages_published_total", 41.0),
            ("lintel_messages_spooled_total", 44.0),
            ("lintel_mqtt_connects_total", 2.0),
            ("lintel_messages_held", 7.0),
            ("lintel_messages_dropped_total", 1.0),
            ("lintel_intervals_published_total", 9.0),
            ("lintel_building_occupancy{building=\"hall\"}", 12.0),
            ("lintel_alert_active{kind=\"camera_moved\",subject=\"north\"}", 1.0),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        for (label, state) in [("north", "live"), (r#"say \"cheese\"\\"#, "retrying")] {
            for (name, value) in [
                ("lintel_frames_received_total", 120.0),
                ("lintel_frames_analysed_total", 100.0),
                ("lintel_frames_skipped_total", 60.0),
                ("lintel_frames_shed_total", 7.0),
                ("lintel_frames_dropped_total", 3.0),
                ("lintel_crossings_total", 5.0),
                ("lintel_camera_reconnects_total", 2.0),
                ("lintel_detector_seconds_total", 1.25),
            ] {
                expected.insert(format!("{name}{{camera=\"{label}\"}}"), value);
            }
            for each in ["starting", "live", "retrying", "failed"] {
                let name = format!("lintel_camera_state{{camera=\"{label}\",state=\"{each}\"}}");
                expected.insert(name, if each == state { 1.0 } else { 0.0 });
            }
            for (kind, value) in [("blinded", 0.0), ("defocused", 0.0), ("moved", 1.0)] {
                expected.insert(format!("lintel_camera_tamper{{camera=\"{label}\",kind=\"{kind}\"}}"), value);
            }
        }
        assert_eq!(samples(&body), expected, "{body}");
        // Types as before: counters for the totals, gauges for states and levels.
        for family in ["lintel_frames_received", "lintel_detector_seconds", "lintel_intervals_published"] {
            assert!(body.contains(&format!("\n# TYPE {family} counter\n")), "{family}: {body}");
        }
        for family in ["lintel_camera_state", "lintel_mqtt_connected", "lintel_spool_bytes"] {
            assert!(body.contains(&format!("# TYPE {family} gauge\n")), "{family}: {body}");
        }
        assert!(body.contains("# HELP lintel_frames_analysed Frames tracked and counted.\n"), "{body}");
        assert!(body.ends_with("\n# EOF\n"), "{body}");
    }
}

#[cfg(test)]
#[path = "server_pages_tests.rs"]
mod pages_tests;
