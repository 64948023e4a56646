//! Lintel's HTTP server machinery, shared by the edge node's pages and the city server: axum
//! routes served on a small tokio runtime of its own, so a synchronous program starts it, hands it
//! a [`Router`] and drops it, without becoming async itself.
//!
//! Slow or idle clients cannot hold it: every connection is served on its own task, a request's
//! head must arrive within 10 s (hyper's header read timeout, which also closes a connection
//! that never sends anything; and when every connection is taken, the one waiting longest for its
//! head is closed for a newcomer), and a request must be answered, its body read included, within
//! 10 s (tower-http's `TimeoutLayer`, 408 after that). A body a route never reads does not hold
//! the connection either: hyper closes it after the answer. One request per connection.
//!
//! Each request carries its peer's address as axum's
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo), for routes that limit or record by
//! peer.
//!
//! What is served (routes, authentication, headers) is the caller's: this crate decides nothing
//! about it.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use lintel_http::HttpServer;
//!
//! let router = Router::new().route("/", get(|| async { "hello" }));
//! let server = HttpServer::serve("127.0.0.1:0".parse()?, router)?;
//! println!("serving on http://{}/", server.address());
//! // … dropping `server` stops it.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;

mod guard;
pub mod i18n;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
pub use guard::{AllowedHosts, BearerToken, check_host, guarded, require_bearer};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::AbortHandle;
use tower::Service;
use tower_http::timeout::TimeoutLayer;

/// The content type of Prometheus' text exposition in its OpenMetrics form, as `/metrics` answers.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Middleware: headers every answer carries (add it with `axum::middleware::from_fn`): the pages
/// load only their own scripts and styles, are never framed by another site, and API answers are
/// never cached.
pub async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Connections served at once; more wait in the listen backlog. Far above what Prometheus and
/// a few operators need, far below the file descriptors the node needs for its cameras.
const MAX_CONNECTIONS: usize = 256;

/// How long a client may take, before it is cut off.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For the head of a request (request line and headers), from the connection's start.
    pub header: Duration,
    /// For a request to be answered once its head is in, reading its body included.
    pub request: Duration,
    /// For open connections to finish when the server stops; then they are dropped.
    pub shutdown: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { header: Duration::from_secs(10), request: Duration::from_secs(10), shutdown: Duration::from_secs(2) }
    }
}

/// The HTTP server, serving on its own thread (a tokio runtime with two workers) until dropped.
///
/// Dropping it stops accepting, lets requests in flight finish for up to two seconds, then
/// closes what is left: it never waits on a client for longer.
#[derive(Debug)]
pub struct HttpServer {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Listens on `address` (port 0: any free port, see [`HttpServer::address`]) and serves
    /// `router` with the default [`Timeouts`]. Fails if the address cannot be bound.
    pub fn serve(address: SocketAddr, router: Router) -> io::Result<Self> {
        Self::serve_with(address, router, Timeouts::default())
    }

    /// As [`HttpServer::serve`], with other limits on clients (tests shorten them).
    pub fn serve_with(address: SocketAddr, router: Router, timeouts: Timeouts) -> io::Result<Self> {
        // Bound here, so a taken port is an error of `start`, not a log line from a thread.
        let listener = std::net::TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lintel-web")
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let (stop, stopped) = oneshot::channel();
        let router = router.layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeouts.request));
        let thread = std::thread::Builder::new().name("lintel-web".into()).spawn(move || {
            runtime.block_on(serve(listener, router, timeouts, stopped));
            // Connections still open past the grace period are dropped with their tasks here.
            runtime.shutdown_timeout(Duration::from_millis(500));
        })?;
        tracing::info!(%address, "web server listening");
        Ok(Self { address, stop: Some(stop), thread: Some(thread) })
    }

    /// The address it listens on (with the port chosen when started with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(address = %self.address, "web server thread panicked");
        }
    }
}

/// Accepts connections until `stopped`, each served on its own task; then shuts down gracefully
/// within `timeouts.shutdown`.
///
/// When all [`MAX_CONNECTIONS`] are open and another client connects, the connection that has
/// waited longest for its request head (at least [`HEAD_GRACE`]) is closed to make room: clients
/// that hold connections without asking anything cannot keep out those that ask.
async fn serve(listener: TcpListener, router: Router, timeouts: Timeouts, mut stopped: oneshot::Receiver<()>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's header timeout needs a timer; without one a client trickling its head is never cut.
    http.timer(TokioTimer::new()).header_read_timeout(timeouts.header);
    // One request per connection, as the server before this one answered: simple clients read
    // the answer to EOF, and a kept-alive connection would outlive no scrape interval anyway
    // (the header timeout closes it after 10 s).
    http.keep_alive(false);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let heads = Arc::new(Mutex::new(WaitingHeads::new()));
    let mut next_id = 0u64;
    // Gives each connection's requests their peer's address (`ConnectInfo<SocketAddr>`).
    let mut with_peer = router.into_make_service_with_connect_info::<SocketAddr>();
    'accepting: loop {
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, typically: wait rather than spin.
                tracing::warn!("web server: cannot accept: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let slot = loop {
            if let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
                break slot;
            }
            make_room(&heads);
            tokio::select! {
                _ = &mut stopped => break 'accepting,
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => break slot,
                    Err(_) => break 'accepting,
                },
                () = tokio::time::sleep(HEAD_GRACE / 4) => {}
            }
        };
        // Always ready and infallible: it only wraps the router with the peer's address.
        let Ok(routes) = with_peer.call(peer).await;
        let id = next_id;
        next_id += 1;
        let head_in = Arc::clone(&heads);
        let service = hyper::service::service_fn(move |request| {
            // The head is in: no longer a connection to close for room.
            lock(&head_in).remove(&id);
            routes.clone().call(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let done = Arc::clone(&heads);
        // Held while spawning, so the connection is listed before its head can be marked in.
        let mut waiting = lock(&heads);
        let task = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, "web connection: {error}");
            }
            drop(slot);
            lock(&done).remove(&id);
        });
        waiting.insert(id, (Instant::now(), task.abort_handle()));
        drop(waiting);
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(timeouts.shutdown) => {
            tracing::debug!("web server: closing connections still open after {:?}", timeouts.shutdown);
        }
    }
}

/// How long a connection may wait for its head before it may be closed to make room: a client
/// on the site's network sends its head in milliseconds.
const HEAD_GRACE: Duration = Duration::from_millis(500);

/// The connections whose request head has not all arrived, by order of arrival: when they were
/// accepted, and how to close them.
type WaitingHeads = BTreeMap<u64, (Instant, AbortHandle)>;

fn lock(heads: &Mutex<WaitingHeads>) -> std::sync::MutexGuard<'_, WaitingHeads> {
    heads.lock().unwrap_or_else(|p| p.into_inner())
}

/// Closes the connection that has waited longest for its head, if it has waited [`HEAD_GRACE`];
/// its slot is free once its task is dropped.
fn make_room(heads: &Mutex<WaitingHeads>) {
    let mut waiting = lock(heads);
    let oldest = waiting.first_key_value().filter(|(_, (since, _))| since.elapsed() >= HEAD_GRACE).map(|(id, _)| *id);
    if let Some((since, task)) = oldest.and_then(|id| waiting.remove(&id)) {
        task.abort();
        tracing::debug!("web server: full; closed a connection that sent no head in {:?}", since.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use axum::extract::ConnectInfo;
    use axum::routing::get;

    use super::*;

    #[test]
    fn a_route_reads_its_peers_address() {
        let router = Router::new()
            .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }));
        let server = HttpServer::serve("127.0.0.1:0".parse().unwrap(), router).unwrap();
        let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        write!(stream, "GET /peer HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(answer.ends_with(&format!("\r\n\r\n{}", stream.local_addr().unwrap())), "{answer}");
    }

    fn fetch(address: SocketAddr, path: &str) -> String {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn clients_holding_every_connection_without_a_head_make_room_for_one_that_asks() {
        let router = Router::new().route("/", get(|| async { "quick" })).route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "slow"
            }),
        );
        // The default head timeout (10 s): room is made long before it.
        let server = HttpServer::serve("127.0.0.1:0".parse().unwrap(), router).unwrap();
        let address = server.address();
        // A request being answered is never closed for room.
        let slow = std::thread::spawn(move || fetch(address, "/slow"));
        std::thread::sleep(Duration::from_millis(300));
        let held: Vec<std::net::TcpStream> = (0..MAX_CONNECTIONS + 50)
            .filter_map(|_| {
                let mut stream = std::net::TcpStream::connect(address).ok()?;
                stream.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ").ok()?;
                Some(stream)
            })
            .collect();
        assert!(held.len() > MAX_CONNECTIONS, "only {} held", held.len());
        std::thread::sleep(HEAD_GRACE);
        let begin = std::time::Instant::now();
        let answer = fetch(address, "/");
        let took = begin.elapsed();
        assert!(answer.starts_with("HTTP/1.1 200 ") && answer.ends_with("quick"), "{answer}");
        assert!(took < Duration::from_secs(4), "waited {took:?} behind clients that sent no head");
        let slow = slow.join().unwrap();
        assert!(slow.starts_with("HTTP/1.1 200 ") && slow.ends_with("slow"), "{slow}");
        eprintln!("answered in {took:?} behind {} held connections", held.len());
    }
}
