//! What the pages are made of, embedded in the binary (a site LAN has no internet: nothing is
//! fetched at run time).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

pub const LOGIN: &str = include_str!("assets/login.html");
pub const DASHBOARD: &str = include_str!("assets/dashboard.html");
pub const CALIBRATE: &str = include_str!("assets/calibrate.html");

/// Static files under `/assets/`: (name, content type, content).
const ASSETS: &[(&str, &str, &str)] = &[
    ("lintel.css", "text/css; charset=utf-8", include_str!("assets/lintel.css")),
    ("common.js", "text/javascript; charset=utf-8", include_str!("assets/common.js")),
    ("geometry.js", "text/javascript; charset=utf-8", include_str!("assets/geometry.js")),
    ("dashboard.js", "text/javascript; charset=utf-8", include_str!("assets/dashboard.js")),
    ("calibrate.js", "text/javascript; charset=utf-8", include_str!("assets/calibrate.js")),
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
