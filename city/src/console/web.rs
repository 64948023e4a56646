//! The console's HTTP routes, merged into the density server's (`lintel-city`), behind the same
//! `Host` check and security headers, and the operators' token:
//!
//! - `GET /api/nodes`: the operations picture: every node (site, status, age of the last message,
//!   version, online), its cameras, every building (occupancy against capacity, complete or not),
//!   and what was refused or had no room;
//! - `GET /api/alerts?state=active|ended|all&ack=yes|no&site=…&building=SITE/B&kind=…&page=N`:
//!   incidents, newest first, [`PAGE_SIZE`](super::store::PAGE_SIZE) a page;
//! - `GET /api/events`: a server-sent event `change` each time something changed
//!   ([`super::events`]);
//! - `POST /api/alerts/{id}/ack` (JSON `{"name": "…", "note": "…"}`): acknowledges, stores and
//!   publishes it (`lintel.alert_ack/1`, retained);
//! - `GET /console` (with `/console/console.js`, `/console/console.css`, its texts at
//!   `/console/i18n/`): the page, in the reader's language. The page and its files hold no data
//!   and are open; everything it shows comes from `/api/…`.
//!
//! **Who may ask** ([`require_operator`]): a request with the operators' token
//! (`--operator-token-env`); without a token, only when the server listens on loopback with no
//! token set at all (this machine's users, as on the node). A token that is not the operators'
//! is refused (401), even on loopback. A request that changes something must say
//! `Content-Type: application/json`, and an `Origin`, if sent, must be the server's own: a form
//! on another site cannot acknowledge in an operator's name.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lintel_http::BearerToken;
use lintel_http::i18n::{Catalogues, Language};
use lintel_wire::{AlertAck, UtcTime};
use serde_json::{Value, json};

use super::feed::{AckOutbox, lock};
use super::state::OperationsPicture;
use super::store::{Filter, IncidentRow, IncidentStore};

pub(crate) const PAGE: &str = include_str!("assets/console.html");
pub(crate) const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

/// The page's texts in both languages.
pub static CATALOGUES: LazyLock<Arc<Catalogues>> = LazyLock::new(|| {
    let parts =
        [("console", include_str!("assets/i18n/console.en.json"), include_str!("assets/i18n/console.zh-CN.json"))];
    // Embedded at build time and checked by this module's tests: an error here is a build's.
    Arc::new(Catalogues::from_parts(&parts).unwrap_or_else(|e| panic!("the console's catalogues: {e}")))
});

/// What the routes read and write.
pub struct ConsoleWeb {
    /// `None` on a server that does not consume (`--web-only`): no picture, no acknowledging.
    pub picture: Option<Arc<Mutex<OperationsPicture>>>,
    /// Its own connection, as the density web's.
    pub store: Mutex<IncidentStore>,
    pub outbox: Option<Arc<AckOutbox>>,
    /// Written as the acknowledgements' `source` (the consumer's MQTT client id).
    pub source: String,
    /// The grid's IANA time zone, for the page's times (the browser's when none).
    pub time_zone: Option<String>,
    /// The outgoing webhooks, whose state is shown.
    pub webhooks: Option<Arc<super::webhooks::Webhooks>>,
    /// The feed's change counter, for `/api/events` (none: no stream, the page polls).
    pub changes: Option<Arc<super::events::Changes>>,
    pub streams: super::events::StreamSlots,
}

/// Who may use the console.
#[derive(Clone, Debug, Default)]
pub struct ConsoleAccess {
    pub operator: Option<BearerToken>,
    /// Requests without a token are answered (loopback server, no token of any role set).
    pub open_without_token: bool,
}

/// The console's routes with their checks.
pub fn app(state: Arc<ConsoleWeb>, hosts: lintel_http::AllowedHosts, access: ConsoleAccess) -> Router {
    let api = Router::new()
        .route("/api/nodes", get(nodes))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/{id}/ack", post(acknowledge))
        .route("/api/events", get(events))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(Arc::new(access), require_operator));
    let page = Router::new()
        .route("/console", get(|headers: HeaderMap| async move { page(&headers) }))
        .route(
            "/console/console.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }),
        )
        .route("/console/console.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
        .nest("/console", Arc::clone(&CATALOGUES).router());
    lintel_http::guarded(api.merge(page), hosts, None).layer(axum::middleware::from_fn(lintel_http::security_headers))
}

fn page(headers: &HeaderMap) -> Html<String> {
    Html(CATALOGUES.render(Language::of_request(headers), PAGE))
}

/// Middleware: the operators' token, or no token where that is allowed (see the module).
pub async fn require_operator(
    State(access): State<Arc<ConsoleAccess>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let allowed = match given {
        Some(given) => access.operator.as_ref().is_some_and(|t| t.matches(given)),
        None => access.open_without_token && peer.ip().is_loopback(),
    };
    if allowed {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, "the operators' token is needed\n").into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

async fn events(State(state): State<Arc<ConsoleWeb>>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    match &state.changes {
        Some(changes) => super::events::stream(Arc::clone(changes), &state.streams, peer),
        None => refuse(StatusCode::NOT_FOUND, "this server does not consume: no live stream"),
    }
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, format!("{}\n", why.into())).into_response()
}

/// The store work of a request, off the async workers.
async fn with_store<T: Send + 'static>(
    state: &Arc<ConsoleWeb>,
    work: impl FnOnce(&mut IncidentStore) -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    let state = Arc::clone(state);
    let result = tokio::task::spawn_blocking(move || {
        let mut store = state.store.lock().map_err(|_| "store lock poisoned".to_string())?;
        work(&mut store)
    })
    .await;
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::warn!("console web: {error}");
            Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable"))
        }
        Err(_) => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")),
    }
}

async fn nodes(State(state): State<Arc<ConsoleWeb>>) -> Response {
    let now = UtcTime::now();
    let now_ms = now.unix_seconds() * 1000;
    let Some(picture) = &state.picture else {
        return Json(
            json!({"gathered": false, "now": now, "time_zone": state.time_zone, "nodes": [], "buildings": []}),
        )
        .into_response();
    };
    let picture = lock(picture);
    let nodes: Vec<Value> = picture
        .nodes()
        .map(|n| {
            let mut value = serde_json::to_value(n).unwrap_or_default();
            value["last_message_age_s"] = json!((now_ms - n.heard_ms).max(0) / 1000);
            value["last_message"] = json!(super::time_text(n.heard_ms));
            value
        })
        .collect();
    let buildings: Vec<Value> = picture.buildings().map(|b| serde_json::to_value(b).unwrap_or_default()).collect();
    Json(json!({
        "gathered": true,
        "now": now,
        "time_zone": state.time_zone,
        "offline_after_s": picture.config().offline_after_ms / 1000,
        "nodes": nodes,
        "buildings": buildings,
        "open_by_kind": picture.open_by_kind(),
        "counters": picture.counters,
        "webhooks": state.webhooks.as_ref().map(|w| w.states()).unwrap_or_default(),
    }))
    .into_response()
}

/// An incident row for the page: its fields, times as text and its duration so far.
fn shown(row: &IncidentRow, now_ms: i64) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    let i = &row.incident;
    value["id"] = json!(i.id);
    value["started"] = json!(super::time_text(i.started_ms));
    let until = i.ended.as_ref().map_or(now_ms, |e| e.at_ms);
    value["duration_s"] = json!((until - i.started_ms).max(0) / 1000);
    value["open"] = json!(i.ended.is_none());
    if let Some(end) = &i.ended {
        value["ended"]["at"] = json!(super::time_text(end.at_ms));
    }
    value
}

async fn alerts(State(state): State<Arc<ConsoleWeb>>, Query(params): Query<BTreeMap<String, String>>) -> Response {
    let mut filter = Filter::default();
    let mut page = 1u64;
    for (name, value) in &params {
        let value = value.trim();
        let given = (!value.is_empty()).then(|| value.to_string());
        match name.as_str() {
            "state" => {
                filter.active = match value {
                    "active" => Some(true),
                    "ended" => Some(false),
                    "all" | "" => None,
                    other => {
                        return refuse(StatusCode::BAD_REQUEST, format!("state {other:?}: use active, ended or all"));
                    }
                }
            }
            "ack" => {
                filter.acknowledged = match value {
                    "yes" => Some(true),
                    "no" => Some(false),
                    "" | "any" => None,
                    other => return refuse(StatusCode::BAD_REQUEST, format!("ack {other:?}: use yes, no or any")),
                }
            }
            "site" => filter.site = given,
            "building" => filter.building = given,
            "kind" => filter.kind = given,
            "page" => match value.parse::<u64>() {
                Ok(n) if (1..=1_000_000).contains(&n) => page = n,
                _ => return refuse(StatusCode::BAD_REQUEST, "page: a number from 1"),
            },
            other => return refuse(StatusCode::BAD_REQUEST, format!("unknown parameter {other:?}")),
        }
    }
    if [&filter.site, &filter.building, &filter.kind]
        .iter()
        .any(|v| v.as_ref().is_some_and(|v| v.chars().count() > 260))
    {
        return refuse(StatusCode::BAD_REQUEST, "a filter is too long");
    }
    let now_ms = UtcTime::now().unix_seconds() * 1000;
    match with_store(&state, move |store| store.list(&filter, page).map_err(|e| e.to_string())).await {
        Ok(list) => Json(json!({
            "total": list.total, "page": list.page, "pages": list.pages,
            "incidents": list.incidents.iter().map(|r| shown(r, now_ms)).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(response) => response,
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AckRequest {
    name: String,
    #[serde(default)]
    note: Option<String>,
}

/// Whether a request that changes something comes from the console's own page or a script:
/// JSON (which a cross-site form cannot send), and no foreign `Origin`.
fn same_site(headers: &HeaderMap) -> bool {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_ok = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => origin.split_once("://").is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
    };
    json && origin_ok
}

async fn acknowledge(
    State(state): State<Arc<ConsoleWeb>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_site(&headers) {
        return refuse(StatusCode::FORBIDDEN, "send Content-Type: application/json, from this server's own page");
    }
    let Ok(id) = id.parse::<i64>() else { return refuse(StatusCode::BAD_REQUEST, "the id is a number") };
    let Some(outbox) = state.outbox.clone() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "this server does not consume: acknowledge on one that does");
    };
    if body.len() > 4096 {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "at most 4096 bytes");
    }
    let request: AckRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("expected {{\"name\": …, \"note\": …}}: {e}")),
    };
    let name = request.name.trim().to_string();
    let note = request.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let source = state.source.clone();
    let answer = with_store(&state, move |store| {
        let Some(row) = store.incident(id).map_err(|e| e.to_string())? else { return Ok(AckOutcome::NotFound) };
        if row.acknowledged.is_some() {
            return Ok(AckOutcome::Already(row));
        }
        let i = &row.incident;
        let ack = AlertAck {
            site: i.site.clone(),
            node: i.node.clone(),
            kind: i.kind.clone(),
            seq: i.seq,
            subject: Some(i.subject.clone()).filter(|s| !s.is_empty()),
            by: name,
            note,
            at: UtcTime::now(),
            source: Some(source),
        };
        if let Err(why) = ack.check() {
            return Ok(AckOutcome::Invalid(why.replace("by ", "name ")));
        }
        store.acknowledge(&ack).map_err(|e| e.to_string())?;
        let row = store.incident(id).map_err(|e| e.to_string())?.unwrap_or(row);
        Ok(AckOutcome::Done(row, ack))
    })
    .await;
    let now_ms = UtcTime::now().unix_seconds() * 1000;
    match answer {
        Err(response) => response,
        Ok(AckOutcome::NotFound) => refuse(StatusCode::NOT_FOUND, "no such incident"),
        Ok(AckOutcome::Already(row)) => (StatusCode::CONFLICT, Json(shown(&row, now_ms))).into_response(),
        Ok(AckOutcome::Invalid(why)) => refuse(StatusCode::BAD_REQUEST, why),
        Ok(AckOutcome::Done(row, ack)) => {
            if !outbox.push(ack) {
                tracing::warn!("console: the acknowledgement outbox is full; this one is stored, not published");
            }
            Json(shown(&row, now_ms)).into_response()
        }
    }
}

/// What acknowledging an incident came to.
enum AckOutcome {
    NotFound,
    /// Someone acknowledged it before (the first acknowledgement stays).
    Already(IncidentRow),
    /// The name or the note is not fit to keep and publish.
    Invalid(String),
    /// Stored; to be published.
    Done(IncidentRow, AlertAck),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogues_agree_and_every_text_the_page_uses_is_in_them() {
        let missing = CATALOGUES.missing_in(&[PAGE, SCRIPT]);
        assert!(missing.is_empty(), "texts missing from city/src/console/assets/i18n/: {missing:?}");
        let mut headers = HeaderMap::new();
        headers.insert("accept-language", "zh-CN,zh;q=0.9".parse().unwrap());
        let Html(zh) = page(&headers);
        assert!(zh.contains(r#"<html lang="zh-CN">"#) && !zh.contains("{{"), "{zh}");
    }

    #[test]
    fn only_json_from_this_server_changes_anything() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        let host = ("host", "127.0.0.1:8090");
        assert!(same_site(&headers(&[host, ("content-type", "application/json")])));
        assert!(same_site(&headers(&[
            host,
            ("content-type", "application/json"),
            ("origin", "http://127.0.0.1:8090")
        ])));
        assert!(!same_site(&headers(&[host, ("content-type", "text/plain")])));
        assert!(!same_site(&headers(&[host, ("content-type", "application/json"), ("origin", "http://evil.example")])));
    }
}
