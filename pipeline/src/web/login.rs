//! The login that gives a browser its token cookie, the logout that forgets it, and who the
//! caller is.
//!
//! Sign-ins, right and wrong, go to the audit trail with the peer's address. A peer that keeps
//! guessing waits longer after each wrong token ([`LoginBackoff`]): 429 with `Retry-After`,
//! without its token even looked at.

use std::time::Instant;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;

use super::auth::{Access, Operator, TOKEN_COOKIE};
use super::limits::{LoginBackoff, Peer};
use super::pages::LOGIN;
use crate::live::{AuditAction, AuditTrail, Said};

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /login`: `{"token": …}` (the login page's script: 200 and the role) or the form
/// `token=…` (303 to `/`). A valid token becomes an HttpOnly cookie; a wrong one gets 401, and
/// past a few, 429 until the peer's wait is over.
pub async fn login(
    State(access): State<Access>,
    peer: Peer,
    Extension(audit): Extension<AuditTrail>,
    Extension(backoff): Extension<LoginBackoff>,
    request: Request,
) -> Response {
    if let Some(wait) = backoff.wait(peer, Instant::now()) {
        return too_many(wait);
    }
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("application/json"));
    let token = if json {
        Json::<LoginForm>::from_request(request, &()).await.map(|Json(f)| f.token).map_err(IntoResponse::into_response)
    } else {
        Form::<LoginForm>::from_request(request, &()).await.map(|Form(f)| f.token).map_err(IntoResponse::into_response)
    };
    let token = match token {
        Ok(token) => token,
        Err(refusal) => return refusal,
    };
    let Some(role) = access.role_of_token(&token) else {
        let failed = backoff.failed(peer, Instant::now());
        let (detail, said) = match failed.wait {
            Some(wait) => (
                format!("wrong token ({} in a row); further sign-ins refused for {} s", failed.count, secs(wait)),
                Said::new("audit.sign_in_failed_wait", &[("count", &failed.count), ("seconds", &secs(wait))]),
            ),
            None => (
                format!("wrong token ({} in a row)", failed.count),
                Said::new("audit.sign_in_failed", &[("count", &failed.count)]),
            ),
        };
        audit.record_said(AuditAction::SignInFailed, "anonymous", &peer.name(), "login", &detail, Some(said));
        return (StatusCode::UNAUTHORIZED, Html(LOGIN)).into_response();
    };
    backoff.succeeded(peer);
    audit.record(AuditAction::SignedIn, role.name(), &peer.name(), "login", "");
    let cookie = format!("{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", encode_cookie(token.trim()));
    let mut response = if json {
        Json(serde_json::json!({ "role": role.name() })).into_response()
    } else {
        Redirect::to("/").into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Whole seconds, rounded up: a client waiting `Retry-After` is never early.
fn secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// 429: the peer must wait `wait` before trying again.
fn too_many(wait: std::time::Duration) -> Response {
    let retry = secs(wait).to_string();
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, format!("too many wrong tokens: try again in {retry} s\n")).into_response();
    if let Ok(value) = HeaderValue::from_str(&retry) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `GET /logout`: forgets the cookie.
pub async fn logout() -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("lintel_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// `GET /api/whoami`: the role of the caller, for pages to show what it may do.
pub async fn whoami(Operator(role): Operator) -> Response {
    axum::Json(serde_json::json!({ "role": role.name() })).into_response()
}

/// Percent-encodes what a cookie value may not hold.
fn encode_cookie(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
