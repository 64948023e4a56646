//! Network cameras: how an `rtsp://` source is reached, authenticated and watched.
//!
//! The RTSP head of a [`FrameSource`](super::FrameSource) is `rtspsrc ! decodebin`; the rest of the
//! pipeline (videorate, videoscale, videoconvert, appsink) is the same as for a file.

use std::fmt;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

/// Which lower transport RTSP may use for the media (the RTSP dialogue itself is always TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtspTransport {
    /// RTP interleaved in the RTSP TCP connection: no loss, passes NAT and firewalls. The default,
    /// because a counter cares more about whole frames than about the last 50 ms of delay.
    #[default]
    Tcp,
    /// RTP over UDP: least delay, but packets lost on a busy network become smeared frames.
    Udp,
    /// UDP first, TCP when no UDP packet arrives (rtspsrc's own fallback).
    Auto,
}

impl RtspTransport {
    /// The value of rtspsrc's `protocols` flags property.
    fn protocols(self) -> &'static str {
        match self {
            RtspTransport::Tcp => "tcp",
            RtspTransport::Udp => "udp",
            RtspTransport::Auto => "tcp+udp",
        }
    }
}

impl std::str::FromStr for RtspTransport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(RtspTransport::Tcp),
            "udp" => Ok(RtspTransport::Udp),
            "auto" => Ok(RtspTransport::Auto),
            other => Err(format!("unknown RTSP transport {other:?}: expected tcp, udp or auto")),
        }
    }
}

/// A camera's user name and password. `Debug` never shows the password.
///
/// ```
/// let login = lintel::ingest::Credentials::new("admin", "s3cret");
/// assert!(!format!("{login:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (not secret: it may appear in logs).
    pub user: String,
    password: String,
}

impl Credentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self { user: user.into(), password: password.into() }
    }

    /// Takes the password from the environment variable `var`, so that it never sits in a file
    /// or on a command line. The error names the variable, never a value.
    pub fn from_env(user: impl Into<String>, var: &str) -> Result<Self, String> {
        match std::env::var(var) {
            Ok(password) if !password.is_empty() => Ok(Self::new(user, password)),
            Ok(_) => Err(format!("the environment variable {var} (camera password) is empty")),
            Err(_) => Err(format!("the environment variable {var} (camera password) is not set")),
        }
    }

    /// The password, for handing to the element that authenticates (never to a log).
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"***").finish()
    }
}

/// How a live network source is reached and watched. Files ignore everything but `timeout`,
/// and only when they are read as live sources.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Jitter-buffer size of rtspsrc: more absorbs network jitter, less keeps frames fresh.
    pub latency: Duration,
    pub transport: RtspTransport,
    /// Login for cameras that require RTSP authentication. Credentials in the URI's user-info
    /// are used when this is `None`, and are removed from the URI either way.
    pub credentials: Option<Credentials>,
    /// Whether the login may go out with Basic authentication, which sends the password in clear
    /// (base64) to whoever answers at the camera's address. Off by default: only Digest, which
    /// never sends the password, unless the URL is `rtsps://` (TLS, certificate checked).
    pub allow_basic: bool,
    /// No frame for this long (from the start or since the last frame) is an error: a camera
    /// that stops talking must not leave its pipeline waiting forever. Also rtspsrc's TCP timeout.
    pub timeout: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(200),
            transport: RtspTransport::default(),
            credentials: None,
            allow_basic: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Whether GStreamer should read this URI with rtspsrc.
pub(crate) fn is_rtsp(uri: &str) -> bool {
    let scheme = uri.split("://").next().unwrap_or_default().to_ascii_lowercase();
    uri.contains("://") && matches!(scheme.as_str(), "rtsp" | "rtspt" | "rtspu" | "rtsps" | "rtspsh")
}

/// An rtspsrc for `location` (a URI without user-info) that sets up only the video stream,
/// through the RTSP `proxy` (`host:port`) if given. rtspsrc answers any scheme a camera asks
/// for: where Basic is not safe, `proxy` must be an [`AuthGuard`](super::auth_guard::AuthGuard).
pub(crate) fn rtspsrc(
    location: &str,
    options: &LiveOptions,
    credentials: Option<&Credentials>,
    proxy: Option<&str>,
) -> Result<gst::Element, gst::glib::BoolError> {
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let src = gst::ElementFactory::make("rtspsrc")
        .property("location", location)
        .property("latency", u32::try_from(options.latency.as_millis()).unwrap_or(u32::MAX))
        // Late packets are dropped rather than delaying every frame after them.
        .property("drop-on-latency", true)
        .property("tcp-timeout", micros(options.timeout))
        // The UDP timeout is how long Auto waits before falling back to TCP: well inside the watchdog.
        .property("timeout", micros(options.timeout.min(Duration::from_secs(10)) / 2))
        .build()?;
    src.set_property_from_str("protocols", options.transport.protocols());
    if let Some(proxy) = proxy {
        src.set_property("proxy", proxy);
    }
    if let Some(login) = credentials {
        src.set_property("user-id", &login.user);
        src.set_property("user-pw", login.password());
    }
    // Only the video stream: an unlinked audio stream would cost bandwidth for nothing.
    src.connect("select-stream", false, |args| {
        let is_video = args
            .get(2)
            .and_then(|caps| caps.get::<gst::Caps>().ok())
            .and_then(|caps| caps.structure(0).and_then(|s| s.get::<String>("media").ok()))
            .is_none_or(|media| media == "video");
        Some(is_video.to_value())
    });
    Ok(src)
}

/// Whether `location` is RTSP over TLS (the password then travels encrypted to a checked peer).
pub(crate) fn is_tls(location: &str) -> bool {
    let scheme = location.split("://").next().unwrap_or_default().to_ascii_lowercase();
    matches!(scheme.as_str(), "rtsps" | "rtspsh")
}

/// What went wrong with a live source, from a GStreamer error, in words a person can act on.
pub(crate) enum LiveFailure {
    /// The camera refused the login (RTSP 401/403).
    Unauthorized(String),
    Other(String),
}

pub(crate) fn classify(error: &gst::glib::Error, debug: Option<&str>, status: Option<u32>) -> LiveFailure {
    let message = error.message().lines().next().unwrap_or_default().to_string();
    if error.matches(gst::ResourceError::NotAuthorized) || matches!(status, Some(401 | 403)) {
        let code = status.unwrap_or(401);
        return LiveFailure::Unauthorized(format!("{code} {message}"));
    }
    // rtspsrc puts the useful part in parentheses at the end of its debug text, after the
    // element's path: "…/GstRTSPSrc:rtspsrc0:\nFailed to connect. (Timeout while waiting for server response)".
    let reason = debug
        .and_then(|d| d.lines().last())
        .and_then(|line| line.rsplit_once('(').map(|(_, tail)| tail))
        .map(|tail| tail.trim_end_matches(|c: char| c == ')' || c.is_whitespace()).to_string())
        .filter(|tail| !tail.is_empty() && tail != "Generic error" && !tail.contains("://") && tail.len() < 120);
    let head = if error.matches(gst::ResourceError::OpenReadWrite) || error.matches(gst::ResourceError::OpenRead) {
        "cannot connect to the camera".to_string()
    } else {
        message
    };
    LiveFailure::Other(match reason {
        Some(reason) if !head.contains(&reason) => format!("{head} ({reason})"),
        _ => head,
    })
}

/// The RTSP status code rtspsrc attaches to errors that come from a server's response.
pub(crate) fn rtsp_status(details: Option<&gst::StructureRef>) -> Option<u32> {
    details.and_then(|d| d.get::<u32>("rtsp-status-code").ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_schemes_are_recognised() {
        assert!(is_rtsp("rtsp://10.0.0.7/live"));
        assert!(is_rtsp("RTSPT://10.0.0.7/live"));
        assert!(!is_rtsp("file:///tmp/rtsp.avi"));
        assert!(!is_rtsp("rtsp.avi"));
    }

    #[test]
    fn transport_parses() {
        assert_eq!("TCP".parse::<RtspTransport>(), Ok(RtspTransport::Tcp));
        assert_eq!("auto".parse::<RtspTransport>(), Ok(RtspTransport::Auto));
        assert!("quic".parse::<RtspTransport>().is_err());
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let text = format!("{:?}", Credentials::new("admin", "hunter2"));
        assert!(text.contains("admin") && !text.contains("hunter2"));
    }
}
