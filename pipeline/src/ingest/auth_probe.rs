//! Which RTSP authentication a camera asks for, asked before the camera gets any credentials.
//!
//! rtspsrc answers whatever scheme a server's `401` asks for, and adds the `Authorization` header
//! itself when it writes a request (after its `before-send` signal, so no hook sees it). A device
//! that takes over the camera's address (an ARP or DHCP spoof) and asks for Basic would get the
//! password in clear. So before rtspsrc is given a login, one `DESCRIBE` without credentials,
//! shaped like rtspsrc's own, asks the camera which schemes it wants; the login goes to rtspsrc
//! only if the camera offers Digest (rtspsrc then uses Digest, its strongest scheme), or if Basic
//! is allowed for it.
//!
//! Limit: the probe and rtspsrc's connection are two connections. An attacker who sits at the
//! camera's address, expects this probe and answers it with Digest and rtspsrc with Basic still
//! gets the password; a probe removes the passive, ordinary case (a fake or misconfigured device
//! that asks for Basic), not an active attacker tailored to it. Against that: `rtsps://` (TLS
//! with the camera's certificate checked) or cameras on a network of their own.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// What a camera answered to a `DESCRIBE` without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// No login asked for (it may ask later; rtspsrc then gets no credentials to answer with).
    Nothing,
    /// Digest among the schemes: rtspsrc will pick it.
    Digest,
    /// Basic and nothing rtspsrc would prefer to it.
    BasicOnly,
}

/// The most of an answer read: headers only, a camera's are a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;

/// Sends one `DESCRIBE` for `location` (no user-info in it) and reads which schemes the answer
/// offers. The error says what failed, never with credentials (there are none here).
pub(crate) fn probe(location: &str, timeout: Duration) -> Result<Offered, String> {
    if location.to_ascii_lowercase().starts_with("rtsph://") {
        return Err("an HTTP-tunnelled camera (rtsph://) cannot be asked which login it wants: \
                    use rtsp:// or rtsps://, or auth = \"basic\" in the site file"
            .into());
    }
    let (host, port) = host_port(location).ok_or_else(|| "not an rtsp:// URL with a host".to_string())?;
    let address = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(|e| format!("cannot connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).and_then(|()| stream.set_write_timeout(Some(timeout))).map_err(io)?;
    // Shaped like rtspsrc's request, so a camera answers it as it answers rtspsrc.
    let request = format!(
        "DESCRIBE {location} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: GStreamer/{}\r\nAccept: application/sdp\r\n\r\n",
        gstreamer::version_string().trim_start_matches("GStreamer ")
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).map_err(io)?;
        if n == 0 || head.len() + n > MAX_HEAD {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    offered(&String::from_utf8_lossy(&head))
}

/// The schemes an RTSP answer's head offers.
fn offered(head: &str) -> Result<Offered, String> {
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).ok_or_else(|| "no RTSP answer".to_string())?;
    if !status.starts_with("RTSP/") {
        return Err("no RTSP answer".into());
    }
    if code != "401" {
        return Ok(Offered::Nothing);
    }
    let schemes: Vec<String> = lines
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("www-authenticate"))
        .filter_map(|(_, value)| value.split_whitespace().next().map(str::to_ascii_lowercase))
        .collect();
    if schemes.iter().any(|s| s == "digest") {
        Ok(Offered::Digest)
    } else if schemes.iter().any(|s| s == "basic") {
        Ok(Offered::BasicOnly)
    } else {
        Err("the camera asks for a login in no scheme Lintel knows".into())
    }
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

fn io(e: std::io::Error) -> String {
    format!("no answer to a DESCRIBE: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schemes_of_a_401_are_read() {
        let basic = "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Basic realm=\"cam\"\r\n\r\n";
        assert_eq!(offered(basic), Ok(Offered::BasicOnly));
        let both = "RTSP/1.0 401 Unauthorized\r\nwww-authenticate: Basic realm=\"c\"\r\n\
                    WWW-Authenticate: Digest realm=\"c\", nonce=\"1\"\r\n\r\n";
        assert_eq!(offered(both), Ok(Offered::Digest));
        assert_eq!(offered("RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"), Ok(Offered::Nothing));
        assert!(offered("RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Bearer x\r\n\r\n").is_err());
        assert!(offered("HTTP/1.1 400 Bad Request\r\n\r\n").is_err());
        assert!(offered("").is_err());
        assert!(probe("rtsph://cam/live", Duration::from_secs(1)).unwrap_err().contains("rtsph"));
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
