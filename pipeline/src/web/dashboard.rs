//! The operators' dashboard: the page at `/` and the API it reads.
//!
//! - `GET /api/site`: the site as its file says (names as written, the time zone);
//! - `GET /api/overview`: buildings (occupancy, capacity, last interval), cameras' health, the
//!   broker link and the spool;
//! - `GET /api/history?hours=H&bucket_s=S`: each building's intervals summed into buckets;
//! - `GET /api/alerts`: the newest alerts, newest first;
//! - `POST /api/alerts/{id}/ack` (`{"by": "name", "note": "…"}`): an operator acknowledges one,
//!   with their name (422 without) and an optional note;
//! - `GET /api/events`: server-sent events, one per new, cleared or acknowledged alert and per
//!   closed interval, so the page never polls for alerts (a few per peer: 503 past them);
//! - `GET /api/audit`: the audit trail, newest first (who did what to the node, from where).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::api_error::ApiError;
use super::auth::Operator;
use super::board::{Bucket, OperatorBoard};
use super::history::now_unix;
use super::limits::{Peer, StreamSlot, StreamSlots};
use super::pages;
use crate::live::{AuditAction, AuditEntry, AuditTrail, Said};

/// The longest history a page may ask for at once, and the most buckets it may get back.
const MAX_HOURS: i64 = 24 * 31;
const MAX_BUCKETS: i64 = 5_000;
/// The longest name and note an acknowledgement may carry.
const MAX_NAME_CHARS: usize = 64;
pub const MAX_NOTE_CHARS: usize = 280;
/// The audit entries the dashboard shows.
const AUDIT_SHOWN: usize = 50;

pub async fn page(_: Operator, headers: HeaderMap) -> Html<String> {
    super::i18n::page(&headers, pages::DASHBOARD)
}

pub async fn site(State(board): State<Arc<OperatorBoard>>, _: Operator) -> Json<super::board::SiteView> {
    Json(board.site())
}

pub async fn overview(State(board): State<Arc<OperatorBoard>>, _: Operator) -> Response {
    Json(board.overview()).into_response()
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    hours: Option<i64>,
    bucket_s: Option<i64>,
}

/// One building's buckets.
#[derive(Serialize)]
pub struct BuildingHistory {
    id: String,
    buckets: Vec<Bucket>,
}

/// Each building's intervals summed into buckets.
#[derive(Serialize)]
pub struct HistoryAnswer {
    from: i64,
    bucket_s: i64,
    buildings: Vec<BuildingHistory>,
}

pub async fn history(
    State(board): State<Arc<OperatorBoard>>,
    _: Operator,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<HistoryAnswer>, ApiError> {
    let hours = query.hours.unwrap_or(24).clamp(1, MAX_HOURS);
    let bucket_s = query.bucket_s.unwrap_or(900).clamp(60, 86_400).max(hours * 3600 / MAX_BUCKETS);
    let from = (now_unix() - hours * 3600).div_euclid(bucket_s) * bucket_s;
    let buildings = from_the_board(move || board.history_buckets(from, bucket_s)).await?;
    Ok(Json(HistoryAnswer {
        from,
        bucket_s,
        buildings: buildings.into_iter().map(|(id, buckets)| BuildingHistory { id, buckets }).collect(),
    }))
}

pub async fn alerts(State(board): State<Arc<OperatorBoard>>, _: Operator) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(from_the_board(move || board.alerts()).await?))
}

#[derive(Deserialize)]
pub struct Acknowledgement {
    #[serde(default)]
    by: String,
    #[serde(default)]
    note: String,
}

/// `text` as one line of at most `max` characters, trimmed.
fn one_line(text: &str, max: usize) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    line.trim().to_string()
}

/// JSON only (a cross-site form cannot send it without the browser asking first). A person's
/// name is required (the record says who, not which role); name and note made one short line.
pub async fn acknowledge(
    State(board): State<Arc<OperatorBoard>>,
    Operator(role): Operator,
    peer: Peer,
    Extension(audit): Extension<AuditTrail>,
    Path(id): Path<i64>,
    Json(ack): Json<Acknowledgement>,
) -> Result<impl IntoResponse, ApiError> {
    let name = one_line(&ack.by, MAX_NAME_CHARS);
    if name.is_empty() {
        let error = serde_json::json!({ "error": "an acknowledgement needs the name of the person making it" });
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(error)).into_response());
    }
    let note = one_line(&ack.note, MAX_NOTE_CHARS);
    let by = name.clone();
    let row = from_the_board(move || board.acknowledge(id, &by, role.name(), &note)).await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no alert {id}")))?;
    let subject = format!("alert {id} ({} {})", row.kind, row.subject);
    let said = Said::new("audit.acknowledged", &[("name", &name)]);
    audit.record_said(
        AuditAction::AlertAcknowledged,
        role.name(),
        &peer.name(),
        &subject,
        &format!("by {name}"),
        Some(said),
    );
    Ok(Json(row).into_response())
}

/// How long a page refused a stream is asked to wait before trying again.
const STREAM_RETRY_AFTER_S: &str = "10";

/// The live stream: each board change as an event named by its type; a page that fell behind
/// gets `resync` and reloads the lists. A peer with all its streams open, or a server with all
/// of them, gets 503 and `Retry-After`.
pub async fn events(
    State(board): State<Arc<OperatorBoard>>,
    _: Operator,
    peer: Peer,
    Extension(slots): Extension<StreamSlots>,
) -> Response {
    let Some(slot) = slots.take(peer) else {
        tracing::debug!(peer = %peer.name(), "web: an event stream was refused: too many open");
        let headers = [(header::RETRY_AFTER, STREAM_RETRY_AFTER_S)];
        return (StatusCode::SERVICE_UNAVAILABLE, headers, "too many event streams open; try again later\n")
            .into_response();
    };
    let receiver = board.subscribe();
    Sse::new(changes(receiver, slot)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

/// `GET /api/audit`: the newest entries of the audit trail, newest first.
pub async fn audit(_: Operator, Extension(audit): Extension<AuditTrail>) -> Json<Vec<AuditEntry>> {
    Json(audit.recent(AUDIT_SHOWN))
}

/// The board's changes as events; `slot` is held as long as the stream is open.
fn changes(
    receiver: broadcast::Receiver<super::board::BoardEvent>,
    slot: StreamSlot,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((receiver, slot), |(mut receiver, slot)| async move {
        let event = match receiver.recv().await {
            Ok(change) => {
                let name = match &change {
                    super::board::BoardEvent::Alert(_) => "alert",
                    super::board::BoardEvent::Interval { .. } => "interval",
                };
                Event::default().event(name).json_data(&change).unwrap_or_else(|_| Event::default().event("resync"))
            }
            Err(broadcast::error::RecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), (receiver, slot)))
    })
}

/// What `read` gets from the board's store (SQLite: blocking, so off the async threads).
async fn from_the_board<T, E>(read: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let unreadable = |cause: &dyn std::fmt::Display| {
        ApiError::internal("the node could not read its history; see its log\n", format!("dashboard: {cause}"))
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(unreadable(&error)),
        Err(error) => Err(unreadable(&error)),
    }
}

/// The dashboard's routes, over `board`.
pub fn router(board: Arc<OperatorBoard>) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/", get(page))
        .route("/api/site", get(site))
        .route("/api/overview", get(overview))
        .route("/api/history", get(history))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/{id}/ack", post(acknowledge))
        .route("/api/events", get(events))
        .route("/api/audit", get(audit))
        .with_state(board)
}
