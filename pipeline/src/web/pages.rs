//! What the pages are made of, embedded in the binary (a site LAN has no internet: nothing is
//! fetched at run time), and the login that gives a browser its token cookie.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{Access, Operator, TOKEN_COOKIE};
use super::history::now_unix;

pub const LOGIN: &str = include_str!("assets/login.html");
pub const DASHBOARD: &str = include_str!("assets/dashboard.html");
pub const CALIBRATE: &str = include_str!("assets/calibrate.html");

const JS: &str = "text/javascript; charset=utf-8";

/// Static files under `/assets/`: (name, content type, content). The pages' scripts are ES
/// modules; the set-up page's are under `calibrate/` (its entry is `calibrate/main.js`).
const ASSETS: &[(&str, &str, &str)] = &[
    ("lintel.css", "text/css; charset=utf-8", include_str!("assets/lintel.css")),
    ("common.js", JS, include_str!("assets/common.js")),
    ("geometry.js", JS, include_str!("assets/geometry.js")),
    ("dashboard.js", JS, include_str!("assets/dashboard.js")),
    ("calibrate/main.js", JS, include_str!("assets/calibrate/main.js")),
    ("calibrate/state.js", JS, include_str!("assets/calibrate/state.js")),
    ("calibrate/redraw.js", JS, include_str!("assets/calibrate/redraw.js")),
    ("calibrate/api.js", JS, include_str!("assets/calibrate/api.js")),
    ("calibrate/live.js", JS, include_str!("assets/calibrate/live.js")),
    ("calibrate/coordinates.js", JS, include_str!("assets/calibrate/coordinates.js")),
    ("calibrate/overlay.js", JS, include_str!("assets/calibrate/overlay.js")),
    ("calibrate/picture-input.js", JS, include_str!("assets/calibrate/picture-input.js")),
    ("calibrate/zone-list.js", JS, include_str!("assets/calibrate/zone-list.js")),
    ("calibrate/lens-floor.js", JS, include_str!("assets/calibrate/lens-floor.js")),
    ("calibrate/validation.js", JS, include_str!("assets/calibrate/validation.js")),
    ("calibrate/save.js", JS, include_str!("assets/calibrate/save.js")),
    ("calibrate/save-status.js", JS, include_str!("assets/calibrate/save-status.js")),
];

pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => ([(header::CONTENT_TYPE, *content_type)], *body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

pub async fn login_page() -> Html<&'static str> {
    Html(LOGIN)
}

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

/// Headers every answer carries: the pages load only their own scripts and styles, are never
/// framed by another site, and API answers are never cached.
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
