//! Who may talk to a server: the `Host` a request names (DNS rebinding), and a bearer token.
//!
//! DNS rebinding needs a DNS name: a hostile page makes the victim's browser resolve its own name
//! to 127.0.0.1 and then reads the answers, whose `Host` is still that name. So a request is
//! answered when its `Host` is an IP literal, `localhost`, or a name the operator listed
//! ([`AllowedHosts`]); any other name gets 421 and nothing else.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The `Host` names a server answers to, besides IP literals and `localhost`.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts {
    names: Vec<String>,
}

impl AllowedHosts {
    /// IP literals, `localhost`, and `names` (case does not matter; a port is ignored).
    pub fn with_names(names: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        Self { names: names.into_iter().map(|n| n.as_ref().trim().to_ascii_lowercase()).collect() }
    }

    /// Whether a request with this `Host` header value is answered.
    ///
    /// ```
    /// use lintel_http::AllowedHosts;
    ///
    /// let hosts = AllowedHosts::with_names(["density.lishui.example"]);
    /// assert!(hosts.allows("127.0.0.1:8090") && hosts.allows("[::1]:8090") && hosts.allows("localhost"));
    /// assert!(hosts.allows("10.0.0.7:8090") && hosts.allows("Density.Lishui.Example:443"));
    /// assert!(!hosts.allows("rebind.attacker.example:8090") && !hosts.allows(""));
    /// ```
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            // [v6] or [v6]:port
            Some(rest) => match rest.split_once(']') {
                Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
                None => return false,
            },
            None => host
                .rsplit_once(':')
                .map_or(host.as_str(), |(name, port)| if port.parse::<u16>().is_ok() { name } else { host.as_str() }),
        };
        !name.is_empty()
            && (name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" || self.names.iter().any(|n| n == name))
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`): 421 for a `Host` [`AllowedHosts`] does not
/// allow, or none.
pub async fn check_host(State(allowed): State<AllowedHosts>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if allowed.allows(host) {
        return next.run(request).await;
    }
    (StatusCode::MISDIRECTED_REQUEST, "this server does not answer to that Host name\n").into_response()
}

/// The token a server's clients must send as `Authorization: Bearer TOKEN`. Never printed.
#[derive(Clone)]
pub struct BearerToken(String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(…)")
    }
}

impl BearerToken {
    /// The shortest token accepted: guessing it over the network must be hopeless.
    pub const MIN_CHARS: usize = 16;

    /// `token`, or why it is too weak (without the token in the reason).
    pub fn new(token: &str) -> Result<Self, String> {
        let token = token.trim();
        if token.chars().count() < Self::MIN_CHARS {
            return Err(format!("a token needs at least {} characters", Self::MIN_CHARS));
        }
        Ok(Self(token.to_string()))
    }

    /// Whether `header` (an `Authorization` value) carries this token; comparing takes the same
    /// time wherever they differ.
    pub fn matches(&self, header: &str) -> bool {
        let Some(given) = header.strip_prefix("Bearer ") else { return false };
        let (a, b) = (given.trim().as_bytes(), self.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`): 401 without the token.
pub async fn require_bearer(State(token): State<BearerToken>, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).unwrap_or("");
    if token.matches(given) {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, "a valid token is needed\n").into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// `router` behind [`check_host`] with `hosts` and, with a `token`, [`require_bearer`] on every
/// route. (The pages' [`security_headers`](crate::security_headers) are the caller's to add: a
/// page with inline script needs them relaxed.)
pub fn guarded(router: axum::Router, hosts: AllowedHosts, token: Option<BearerToken>) -> axum::Router {
    let router = match token {
        Some(token) => router.layer(axum::middleware::from_fn_with_state(token, require_bearer)),
        None => router,
    };
    router.layer(axum::middleware::from_fn_with_state(hosts, check_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_opens() {
        let token = BearerToken::new("sixteen-chars-at-least").unwrap();
        assert!(token.matches("Bearer sixteen-chars-at-least"));
        assert!(!token.matches("Bearer sixteen-chars-at-leasT"));
        assert!(!token.matches("sixteen-chars-at-least"));
        assert!(!token.matches("Bearer "));
        assert!(BearerToken::new("short").is_err());
        assert_eq!(format!("{token:?}"), "BearerToken(…)");
    }

    #[test]
    fn hosts_with_odd_shapes_are_judged_by_their_name() {
        let hosts = AllowedHosts::default();
        assert!(hosts.allows("[::1]") && hosts.allows("127.0.0.1") && hosts.allows("LOCALHOST:8090"));
        assert!(!hosts.allows("[::1") && !hosts.allows("[evil]:80") && !hosts.allows("evil:80:80"));
        assert!(!hosts.allows("localhost.evil.example") && !hosts.allows(":8090"));
    }
}
