//! Who asks the density server, by the bearer token they send: two roles.
//!
//! - **Viewer** (`--web-token-env`, or anyone on loopback when no viewer token is set): the map,
//!   GeoJSON, NGSI-LD, metrics, and the history of a cell with small counts suppressed on fixed
//!   spans ([`super::suppress`]), like the export to other agencies.
//! - **Analyst** (`--analyst-token-env`): all the viewer sees, and the exact history (every
//!   interval, every building).
//!
//! A request carrying a token that opens nothing is refused (401), even where no token is
//! needed: a mistyped analyst token should say so, not quietly answer as the public would.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lintel_http::BearerToken;

/// What a request may see; put in the request's extensions by [`identify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Viewer,
    Analyst,
}

/// The tokens of the two roles.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// Needed by every request when set; none: every request that sends no token is a viewer.
    pub viewer: Option<BearerToken>,
    pub analyst: Option<BearerToken>,
}

impl Access {
    /// The role of a request with this `Authorization` header (if any), or `None`: refused.
    pub fn role(&self, authorization: Option<&str>) -> Option<Role> {
        match authorization {
            Some(given) if self.analyst.as_ref().is_some_and(|t| t.matches(given)) => Some(Role::Analyst),
            Some(given) if self.viewer.as_ref().is_some_and(|t| t.matches(given)) => Some(Role::Viewer),
            Some(_) if self.analyst.is_some() || self.viewer.is_some() => None,
            _ if self.viewer.is_some() => None,
            _ => Some(Role::Viewer),
        }
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`): 401 without a token that opens, else the
/// request goes on with its [`Role`].
pub async fn identify(State(access): State<Arc<Access>>, mut request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    match access.role(given) {
        Some(role) => {
            request.extensions_mut().insert(role);
            next.run(request).await
        }
        None => {
            let mut response = (StatusCode::UNAUTHORIZED, "a valid token is needed\n").into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_token_opens_its_role_and_a_wrong_one_nothing() {
        let viewer = BearerToken::new("the-viewers-token-1").unwrap();
        let analyst = BearerToken::new("the-analysts-token-1").unwrap();
        let both = Access { viewer: Some(viewer.clone()), analyst: Some(analyst.clone()) };
        assert_eq!(both.role(Some("Bearer the-analysts-token-1")), Some(Role::Analyst));
        assert_eq!(both.role(Some("Bearer the-viewers-token-1")), Some(Role::Viewer));
        assert_eq!(both.role(Some("Bearer the-viewers-token-2")), None);
        assert_eq!(both.role(None), None);
        // Loopback with an analyst token only: the public is a viewer, a wrong token is refused.
        let loopback = Access { viewer: None, analyst: Some(analyst) };
        assert_eq!(loopback.role(None), Some(Role::Viewer));
        assert_eq!(loopback.role(Some("Bearer the-analysts-token-1")), Some(Role::Analyst));
        assert_eq!(loopback.role(Some("Bearer guess")), None);
        assert_eq!(Access::default().role(None), Some(Role::Viewer));
    }
}
