//! [`AuthGuard`]: keeps a camera's password from any device that asks for it in Basic.
//!
//! rtspsrc answers whatever scheme a server's `401` offers, and adds the `Authorization` header
//! itself when it writes a request (after its last hook, `before-send`), so a device that takes
//! over the camera's address (an ARP or DHCP spoof) and asks for Basic would get the password in
//! clear. So rtspsrc never talks to the camera directly: it is given this guard, a relay on
//! 127.0.0.1, as its RTSP proxy (rtspsrc's `proxy` property: it connects there and sends its
//! requests, with their absolute URLs, unchanged). The guard passes the bytes through both ways
//! and drops, from everything the camera sends, each `WWW-Authenticate` header that offers Basic.
//! rtspsrc therefore only ever sees Digest (or nothing) offered, and cannot answer in Basic: the
//! check is on the very answer rtspsrc reads, with no window between a check and the use.
//!
//! A camera that offers only Basic then leaves rtspsrc a `401` with nothing it can answer: it
//! fails, and [`AuthGuard::basic_refused`] says why. Digest sends a hash bound to the server's
//! nonce, never the password (a fake camera may still try to crack a weak one offline from it).
//!
//! ```text
//!  rtspsrc ──TCP──► guard (127.0.0.1:port) ──TCP──► camera
//!          ◄─────── minus Basic challenges ◄───────
//! ```
//!
//! What goes through: RTSP messages (a head, then `Content-Length` bytes) and, over TCP, RTP and
//! RTCP interleaved as `$`, channel, 16-bit length, data. Media over UDP does not pass the guard.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest head of an RTSP message accepted from a camera (a camera's are a few hundred bytes).
const MAX_HEAD: usize = 64 * 1024;

/// A running relay for one camera; stops (and closes its connections) when dropped.
pub(crate) struct AuthGuard {
    address: SocketAddr,
    basic_refused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl AuthGuard {
    /// A guard in front of the camera of `location` (`rtsp://host[:port]/…`), waiting for rtspsrc.
    pub(crate) fn start(location: &str, connect_timeout: Duration) -> Result<Self, String> {
        if location.to_ascii_lowercase().starts_with("rtsph") {
            // rtspsrc would speak HTTP to its proxy: nothing this guard reads.
            return Err("an HTTP-tunnelled camera (rtsph://) cannot be kept from asking for Basic: \
                        use rtsp:// or rtsps://, or auth = \"basic\" in the site file"
                .into());
        }
        let (host, port) = host_port(location).ok_or_else(|| "not an rtsp:// URL with a host".to_string())?;
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot open the login guard: {e}"))?;
        let address = listener.local_addr().map_err(|e| format!("cannot open the login guard: {e}"))?;
        let (basic_refused, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (refused, stop, connections) =
                (Arc::clone(&basic_refused), Arc::clone(&stop), Arc::clone(&connections));
            std::thread::Builder::new()
                .name("lintel-rtsp-guard".into())
                .spawn(move || {
                    for client in listener.incoming() {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let Ok(client) = client else { continue };
                        let relay = Relay { host: host.clone(), port, connect_timeout, refused: Arc::clone(&refused) };
                        relay.spawn(client, &connections);
                    }
                })
                .map_err(|e| format!("cannot start the login guard: {e}"))?
        };
        Ok(Self { address, basic_refused, stop, connections, acceptor: Some(acceptor) })
    }

    /// What rtspsrc's `proxy` property takes.
    pub(crate) fn proxy(&self) -> String {
        self.address.to_string()
    }

    /// The camera offered only Basic, and that offer was kept from rtspsrc.
    pub(crate) fn basic_refused(&self) -> bool {
        self.basic_refused.load(Ordering::Relaxed)
    }
}

impl Drop for AuthGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the acceptor, which then sees `stop`.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        for stream in lock(&self.connections).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// One rtspsrc connection relayed to the camera.
struct Relay {
    host: String,
    port: u16,
    connect_timeout: Duration,
    refused: Arc<AtomicBool>,
}

impl Relay {
    /// Connects to the camera and relays both ways on two threads; a failure closes both sides.
    fn spawn(self, client: TcpStream, connections: &Arc<Mutex<Vec<TcpStream>>>) {
        let camera = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addresses| addresses.next())
            .and_then(|address| TcpStream::connect_timeout(&address, self.connect_timeout).ok());
        // rtspsrc then sees its connection closed: the camera is unreachable, as without the guard.
        let Some(camera) = camera else { return };
        let (Ok(client_in), Ok(camera_out), Ok(client_keep), Ok(camera_keep)) =
            (client.try_clone(), camera.try_clone(), client.try_clone(), camera.try_clone())
        else {
            return;
        };
        {
            let mut kept = lock(connections);
            kept.retain(|s| s.peer_addr().is_ok());
            kept.extend([client_keep, camera_keep]);
        }
        let _ = client.set_nodelay(true);
        let _ = camera.set_nodelay(true);
        let refused = self.refused;
        let requests = std::thread::Builder::new().name("lintel-rtsp-guard-up".into()).spawn(move || {
            let (mut from, mut to) = (client_in, camera_out);
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
        let answers = std::thread::Builder::new().name("lintel-rtsp-guard-down".into()).spawn(move || {
            let _ = strip_basic(BufReader::with_capacity(64 * 1024, &camera), &client, &refused);
            let _ = client.shutdown(Shutdown::Both);
            let _ = camera.shutdown(Shutdown::Both);
        });
        // Threads that cannot start leave the connections to close with the guard.
        drop((requests, answers));
    }
}

/// Copies what the camera sends to rtspsrc, message by message, without Basic challenges.
fn strip_basic(mut from: impl BufRead, mut to: impl Write, refused: &AtomicBool) -> io::Result<()> {
    loop {
        let first = match from.fill_buf()? {
            [] => return Ok(()),
            buffer => buffer[0],
        };
        if first == b'$' {
            let mut header = [0u8; 4];
            from.read_exact(&mut header)?;
            let length = u64::from(u16::from_be_bytes([header[2], header[3]]));
            to.write_all(&header)?;
            copy_exactly(&mut from, &mut to, length)?;
            continue;
        }
        let head = read_head(&mut from)?;
        let kept = without_basic(&head);
        if kept.only_basic_dropped {
            refused.store(true, Ordering::Relaxed);
        }
        to.write_all(kept.head.as_bytes())?;
        copy_exactly(&mut from, &mut to, kept.content_length)?;
    }
}

fn copy_exactly(from: &mut impl BufRead, to: &mut impl Write, length: u64) -> io::Result<()> {
    let copied = io::copy(&mut from.take(length), to)?;
    if copied < length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// The head of an RTSP message, up to and with its blank line.
fn read_head(from: &mut impl BufRead) -> io::Result<String> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let read = from.take((MAX_HEAD - before + 1) as u64).read_until(b'\n', &mut head)?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "an RTSP head over 64 KiB"));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            return Ok(String::from_utf8_lossy(&head).into_owned());
        }
    }
}

/// A message head with its Basic challenges dropped.
#[derive(Debug, PartialEq)]
struct Kept {
    head: String,
    content_length: u64,
    /// Basic was offered, and nothing else is left to answer.
    only_basic_dropped: bool,
}

/// Drops every `WWW-Authenticate` header (with its continuation lines) that offers Basic, even
/// beside another scheme in the same header: what is left can only be answered without the
/// password in clear.
fn without_basic(head: &str) -> Kept {
    let mut kept = String::with_capacity(head.len());
    let (mut dropped, mut dropping, mut others_left) = (false, false, false);
    let mut content_length = 0;
    for line in head.split_inclusive('\n') {
        if line.starts_with([' ', '\t']) && !line.trim().is_empty() {
            // A continuation of the header before it.
            if !dropping {
                kept.push_str(line);
            }
            continue;
        }
        dropping = false;
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("www-authenticate") {
                if offers_basic(value) {
                    (dropped, dropping) = (true, true);
                    continue;
                }
                others_left = true;
            } else if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        kept.push_str(line);
    }
    Kept { head: kept, content_length, only_basic_dropped: dropped && !others_left }
}

/// Whether a challenge list names the Basic scheme (first, or after a comma).
fn offers_basic(value: &str) -> bool {
    value
        .split(',')
        .any(|part| part.split_whitespace().next().is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic")))
}

/// Host and port (554 by default) of an `rtsp://` URL; `[v6]` hosts without their brackets.
fn host_port(location: &str) -> Option<(String, u16)> {
    let rest = location.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after.strip_prefix(':').map_or(Some(554), |p| p.parse().ok())?;
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None if !authority.is_empty() => Some((authority.to_string(), 554)),
        None => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_challenges_are_dropped_and_digest_kept() {
        let both = "RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Basic realm=\"c\"\r\n\
                    www-authenticate: Digest realm=\"c\", nonce=\"1\"\r\n\r\n";
        let kept = without_basic(both);
        assert!(!kept.head.to_lowercase().contains("basic") && kept.head.contains("Digest realm"), "{kept:?}");
        assert!(!kept.only_basic_dropped);
        assert!(kept.head.ends_with("\r\n\r\n") && kept.head.contains("CSeq: 2"));

        let basic = "RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: BASIC realm=\"c\"\r\n\r\n";
        assert_eq!(
            without_basic(basic),
            Kept {
                head: "RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n\r\n".into(),
                content_length: 0,
                only_basic_dropped: true
            }
        );
        // In one header beside Digest, or folded onto a second line: dropped all the same.
        let listed =
            "RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"c\", nonce=\"1\", Basic realm=\"c\"\r\n\r\n";
        assert!(without_basic(listed).only_basic_dropped);
        let folded = "RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n realm=\"c\"\r\nCSeq: 3\r\n\r\n";
        assert_eq!(without_basic(folded).head, "RTSP/1.0 401 Unauthorized\r\nCSeq: 3\r\n\r\n");
        // Anything else passes unchanged.
        let describe = "RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Type: application/sdp\r\nContent-Length: 120\r\n\r\n";
        assert_eq!(
            without_basic(describe),
            Kept { head: describe.into(), content_length: 120, only_basic_dropped: false }
        );
    }

    #[test]
    fn interleaved_media_and_bodies_pass_byte_for_byte() {
        let mut camera = Vec::new();
        camera.extend_from_slice(b"RTSP/1.0 200 OK\r\nCSeq: 4\r\nContent-Length: 5\r\n\r\nv=0\r\n");
        camera.extend_from_slice(&[b'$', 0, 0, 3, b'R', b'\r', b'\n']);
        camera.extend_from_slice(b"RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\r\n");
        camera.extend_from_slice(&[b'$', 1, 0, 0]);
        let (mut out, refused) = (Vec::new(), AtomicBool::new(false));
        strip_basic(&camera[..], &mut out, &refused).unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"RTSP/1.0 200 OK\r\nCSeq: 4\r\nContent-Length: 5\r\n\r\nv=0\r\n");
        expected.extend_from_slice(&[b'$', 0, 0, 3, b'R', b'\r', b'\n']);
        expected.extend_from_slice(b"RTSP/1.0 401 Unauthorized\r\n\r\n");
        expected.extend_from_slice(&[b'$', 1, 0, 0]);
        assert_eq!(out, expected);
        assert!(refused.load(Ordering::Relaxed));
    }

    #[test]
    fn a_head_too_long_or_cut_is_an_error() {
        let endless = "RTSP/1.0 200 OK\r\nX: ".to_string() + &"a".repeat(MAX_HEAD);
        assert!(strip_basic(endless.as_bytes(), Vec::new(), &AtomicBool::new(false)).is_err());
        let cut = b"RTSP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nv=0";
        assert!(strip_basic(&cut[..], Vec::new(), &AtomicBool::new(false)).is_err());
    }

    #[test]
    fn an_http_tunnelled_camera_is_not_guarded_but_refused() {
        let error = AuthGuard::start("rtsph://cam/live", Duration::from_secs(1)).err().expect("refused");
        assert!(error.contains("rtsph") && error.contains("auth = \"basic\""), "{error}");
    }

    #[test]
    fn hosts_and_ports_are_found() {
        assert_eq!(host_port("rtsp://10.0.0.7/live"), Some(("10.0.0.7".into(), 554)));
        assert_eq!(host_port("rtsp://cam.lan:8554/a/b?x=1"), Some(("cam.lan".into(), 8554)));
        assert_eq!(host_port("rtsp://[fe80::1]:10554/s"), Some(("fe80::1".into(), 10554)));
        assert_eq!(host_port("rtsp://[fe80::1]/s"), Some(("fe80::1".into(), 554)));
        assert_eq!(host_port("rtsp:///nohost"), None);
    }
}
