//! The login that gives a browser its token cookie, the logout that forgets it, and who the
//! caller is.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{Access, Operator, TOKEN_COOKIE};
use super::history::now_unix;
use super::pages::LOGIN;

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// When a failed login was last logged: one line a minute at most, whoever is guessing.
static LAST_FAILURE_LOGGED: AtomicI64 = AtomicI64::new(0);

/// `POST /login` (form `token=…`): a valid token becomes an HttpOnly cookie; a wrong one gets
/// 401 and the form again.
pub async fn login(State(access): State<Access>, Form(form): Form<LoginForm>) -> Response {
    if access.role_of_token(&form.token).is_none() {
        let now = now_unix();
        if now - LAST_FAILURE_LOGGED.swap(now, Ordering::Relaxed) >= 60 {
            tracing::warn!("web: a login with a wrong token was refused (logged once a minute)");
        }
        return (StatusCode::UNAUTHORIZED, Html(LOGIN)).into_response();
    }
    let cookie = format!("{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", encode_cookie(form.token.trim()));
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
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
