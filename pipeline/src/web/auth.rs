//! Who may see and change what on the node's pages: two roles, each with a token.
//!
//! - **operator**: the dashboard, alerts (and acknowledging them), metrics;
//! - **technician**: everything an operator may, and the camera set-up (unblurred pictures,
//!   zones, saving the site file).
//!
//! Without tokens the server must be bound to loopback, and whoever reaches it (someone on the box
//! itself) is a technician. With tokens, every request must carry one: `Authorization: Bearer …`
//! (scripts, Prometheus) or the `lintel_token` cookie the login page sets (browsers, whose
//! `EventSource` cannot send headers). A missing or wrong token gets 401; a valid token of too
//! low a role gets 403. Tokens are compared as SHA-256 digests, in constant time, and never logged.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The cookie that carries a browser's token.
pub const TOKEN_COOKIE: &str = "lintel_token";

/// What a request may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Operator,
    Technician,
}

impl Role {
    pub const fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Technician => "technician",
        }
    }
}

/// The tokens of the two roles, as digests.
#[derive(Clone, Debug, Default)]
pub struct Access {
    operator: Option<[u8; 32]>,
    technician: Option<[u8; 32]>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AccessError {
    #[error(
        "the web server on {address} is reachable from other machines: it needs tokens (--web-operator-token-env, --web-technician-token-env)"
    )]
    TokensNeeded { address: std::net::SocketAddr },
    #[error("the {role} token is shorter than 16 characters: use a long random one")]
    WeakToken { role: &'static str },
    #[error("the operator and technician tokens are the same: give each role its own")]
    SameTokens,
}

impl Access {
    /// No tokens: only for a server bound to loopback.
    pub fn open() -> Self {
        Self::default()
    }

    /// The roles' tokens; either may be absent (that role cannot log in).
    pub fn with_tokens(operator: Option<&str>, technician: Option<&str>) -> Result<Self, AccessError> {
        for (role, token) in [("operator", operator), ("technician", technician)] {
            if token.is_some_and(|t| t.trim().chars().count() < 16) {
                return Err(AccessError::WeakToken { role });
            }
        }
        if operator.is_some() && operator == technician {
            return Err(AccessError::SameTokens);
        }
        Ok(Self { operator: operator.map(|t| digest(t.trim())), technician: technician.map(|t| digest(t.trim())) })
    }

    /// Whether any token is set (otherwise everyone is a technician).
    pub fn guarded(&self) -> bool {
        self.operator.is_some() || self.technician.is_some()
    }

    /// Refuses to serve beyond loopback without tokens.
    pub fn check_address(&self, address: std::net::SocketAddr) -> Result<(), AccessError> {
        if !self.guarded() && !address.ip().is_loopback() {
            return Err(AccessError::TokensNeeded { address });
        }
        Ok(())
    }

    /// The role a token gives, if any.
    pub fn role_of_token(&self, token: &str) -> Option<Role> {
        let presented = digest(token.trim());
        // Both compared, always, so the time taken does not say which role a guess was near.
        let technician = self.technician.is_some_and(|t| same(&t, &presented));
        let operator = self.operator.is_some_and(|t| same(&t, &presented));
        if technician {
            Some(Role::Technician)
        } else if operator {
            Some(Role::Operator)
        } else {
            None
        }
    }

    /// The role of a request: its bearer token or token cookie. `None`: no valid token.
    pub fn role_of(&self, headers: &HeaderMap) -> Option<Role> {
        if !self.guarded() {
            return Some(Role::Technician);
        }
        presented_token(headers).and_then(|token| self.role_of_token(&token))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality of two digests.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token a request carries: `Authorization: Bearer …`, else the token cookie.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == TOKEN_COOKIE)
        .map(|(_, value)| percent_decode(value))
}

/// Undoes the percent-encoding the login page applies to the cookie value.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = value.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Middleware: finds the request's role and puts it in the request's extensions; a request
/// without a valid token gets 401 (the login page for a browser asking for a page).
pub async fn authenticate(State(access): State<Access>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/login" || path.starts_with("/assets/") || path.starts_with("/i18n/") {
        return next.run(request).await;
    }
    match access.role_of(request.headers()) {
        Some(role) => {
            request.extensions_mut().insert(role);
            next.run(request).await
        }
        None => {
            let wants_page = !path.starts_with("/api/") && path != "/metrics";
            if wants_page {
                (StatusCode::UNAUTHORIZED, Html(super::pages::LOGIN)).into_response()
            } else {
                let mut response = (StatusCode::UNAUTHORIZED, "a valid token is needed\n").into_response();
                response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
                response
            }
        }
    }
}

/// Extractor: the request's role is at least operator (any valid token).
pub struct Operator(pub Role);

/// Extractor: the request's role is technician; an operator gets 403.
pub struct Technician;

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Role>() {
            Some(role) => Ok(Operator(*role)),
            None => Err((StatusCode::UNAUTHORIZED, "a valid token is needed\n").into_response()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Technician {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Role>() {
            Some(Role::Technician) => Ok(Technician),
            Some(Role::Operator) => Err((StatusCode::FORBIDDEN, "this needs the technician role\n").into_response()),
            None => Err((StatusCode::UNAUTHORIZED, "a valid token is needed\n").into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATOR: &str = "operator-token-0123456789";
    const TECHNICIAN: &str = "technician-token-0123456789";

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), value.parse().unwrap());
        }
        map
    }

    #[test]
    fn each_token_gives_its_role_and_nothing_else_gives_one() {
        let access = Access::with_tokens(Some(OPERATOR), Some(TECHNICIAN)).unwrap();
        let bearer = |t: &str| headers(&[(header::AUTHORIZATION, &format!("Bearer {t}"))]);
        assert_eq!(access.role_of(&bearer(OPERATOR)), Some(Role::Operator));
        assert_eq!(access.role_of(&bearer(TECHNICIAN)), Some(Role::Technician));
        assert_eq!(access.role_of(&bearer("technician-token-012345678")), None);
        assert_eq!(access.role_of(&HeaderMap::new()), None);
        let cookie = headers(&[(header::COOKIE, &format!("a=b; {TOKEN_COOKIE}={TECHNICIAN}; c=d"))]);
        assert_eq!(access.role_of(&cookie), Some(Role::Technician));
        let encoded = headers(&[(header::COOKIE, "lintel_token=operator%2Dtoken-0123456789")]);
        assert_eq!(access.role_of(&encoded), Some(Role::Operator));
    }

    #[test]
    fn without_tokens_only_loopback_is_served_and_everyone_there_is_a_technician() {
        let open = Access::open();
        assert_eq!(open.role_of(&HeaderMap::new()), Some(Role::Technician));
        assert!(open.check_address("127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(open.check_address("[::1]:8080".parse().unwrap()).is_ok());
        assert!(matches!(open.check_address("0.0.0.0:8080".parse().unwrap()), Err(AccessError::TokensNeeded { .. })));
        let guarded = Access::with_tokens(Some(OPERATOR), None).unwrap();
        assert!(guarded.check_address("0.0.0.0:8080".parse().unwrap()).is_ok());
    }

    #[test]
    fn short_or_shared_tokens_are_refused() {
        assert_eq!(Access::with_tokens(Some("short"), None).unwrap_err(), AccessError::WeakToken { role: "operator" });
        assert_eq!(Access::with_tokens(Some(OPERATOR), Some(OPERATOR)).unwrap_err(), AccessError::SameTokens);
    }
}
