//! What the pages are made of, embedded in the binary (a site LAN has no internet: nothing is
//! fetched at run time).

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

pub const LOGIN: &str = include_str!("assets/login.html");
pub const DASHBOARD: &str = include_str!("assets/dashboard.html");
pub const CALIBRATE: &str = include_str!("assets/calibrate.html");

const JS: &str = "text/javascript; charset=utf-8";

/// Static files under `/assets/`: (name, content type, content). The pages' scripts are ES
/// modules; the set-up page's are under `calibrate/` (its entry is `calibrate/main.js`).
pub(super) const ASSETS: &[(&str, &str, &str)] = &[
    ("lintel.css", "text/css; charset=utf-8", include_str!("assets/lintel.css")),
    ("calibrate.css", "text/css; charset=utf-8", include_str!("assets/calibrate.css")),
    ("common.js", JS, include_str!("assets/common.js")),
    ("geometry.js", JS, include_str!("assets/geometry.js")),
    ("dashboard.js", JS, include_str!("assets/dashboard.js")),
    ("login.js", JS, include_str!("assets/login.js")),
    ("calibrate/main.js", JS, include_str!("assets/calibrate/main.js")),
    ("calibrate/state.js", JS, include_str!("assets/calibrate/state.js")),
    ("calibrate/redraw.js", JS, include_str!("assets/calibrate/redraw.js")),
    ("calibrate/api.js", JS, include_str!("assets/calibrate/api.js")),
    ("calibrate/live.js", JS, include_str!("assets/calibrate/live.js")),
    ("calibrate/coordinates.js", JS, include_str!("assets/calibrate/coordinates.js")),
    ("calibrate/overlay.js", JS, include_str!("assets/calibrate/overlay.js")),
    ("calibrate/picture-input.js", JS, include_str!("assets/calibrate/picture-input.js")),
    ("calibrate/keyboard.js", JS, include_str!("assets/calibrate/keyboard.js")),
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

pub async fn login_page(headers: HeaderMap) -> Html<String> {
    super::i18n::page(&headers, LOGIN)
}
