//! The density layer's HTTP routes, served by [`HttpServer::serve`](lintel_http::HttpServer::serve)
//! (its client limits apply):
//!
//! - `GET /` (with `/map.js`, `/map.css` and MapLibre GL JS under `/vendor/maplibre-gl-6.17.0/`,
//!   kept a day by browsers: its version is in the path): the
//!   map page (embedded, no CDN; no inline script, so the CSP allows none), in the reader's
//!   language ([`super::i18n`]), with its texts at `/i18n/` (behind the same checks as the page);
//! - `GET /density/basemap.json` and `GET /tiles/{z}/{x}/{y}.png`: the basemap the deployment
//!   gave ([`super::basemap`]), or `{"kind": "none"}`;
//! - `GET /density/export.csv?level=cell|building&from=TIME&to=TIME`: flows and occupancy per
//!   cell (or, for an analyst, per building) over fixed spans, small counts suppressed as in the
//!   NGSI-LD export ([`export_csv`]);
//! - `GET /density/flows[?to=TIME][&level=cell|building][&bbox=W,S,E,N]`: the regional flow picture:
//!   each cell's (or building's, at most [`MAX_FLOW_BUILDINGS`] an answer) entries (inflow) and
//!   exits (outflow) over the 24 hours before `to`, on the suppressed fixed spans ([`flows`]);
//! - `GET /density.geojson[?at=TIME][&kind=cell|building][&bbox=W,S,E,N]`: cells and buildings
//!   now, or as of `TIME` (RFC 3339), only the cells or only the buildings (within the bbox) if
//!   asked, and `messages_lost` (the seqs that never arrived, all nodes, [`super::losses`]);
//! - `GET /density.png[?at=TIME][&lang=zh-CN|en]` and `GET /density.svg[…]`: the map as a
//!   picture ([`super::render`]), in `lang` or else the reader's language (`Accept-Language`),
//!   times in the grid's time zone; 503 for a Chinese PNG on a machine without a CJK font;
//! - `GET /density/history?cell=ID|building=SITE/BUILDING&from=TIME&to=TIME[&step=interval|hour|day][&exact=0|1]`:
//!   exact for an analyst; for anyone else a cell's history with small counts suppressed
//!   ([`history`]);
//! - `GET /ngsi-ld/entities?from=TIME&to=TIME`: the export for other agencies ([`super::ngsi`]);
//! - `GET /metrics`: the consumer's counters (Prometheus / OpenMetrics).
//!
//! [`app`] puts them behind the `Host` check (`lintel_http::guarded`), the roles
//! ([`super::access`]) and the node's security headers (`lintel_http::security_headers`).

use std::sync::{Arc, Mutex};

use axum::extract::Path as UrlPath;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

use super::access::{Access, Role, identify};
use super::basemap::{self, Basemap};
use super::grid::Grid;
use super::losses::LossMetrics;
use super::ngsi::{self, NgsiOptions};
use super::render;
use super::snapshot::{Bounds, Only, Snapshot};
use super::store::{Recorder, Step};
use super::suppress::Suppression;
use lintel_http::i18n::Language;
use lintel_wire::UtcTime;

/// The most points a history answer holds.
pub const MAX_HISTORY_POINTS: usize = 10_000;
/// The longest span an NGSI-LD export covers in one request.
pub const MAX_EXPORT_SPAN_S: i64 = 31 * 86_400;

pub(crate) const MAP_PAGE: &str = include_str!("assets/map.html");
pub(crate) const MAP_SCRIPT: &str = include_str!("assets/map.js");
const MAP_STYLE: &str = include_str!("assets/map.css");
/// MapLibre GL JS 6.17.0 from the npm registry (`assets/vendor/maplibre-gl/PROVENANCE`); its module
/// loads its worker from beside itself (`maplibre-gl-worker.mjs?v=…`).
const MAPLIBRE: &str = include_str!("assets/vendor/maplibre-gl/maplibre-gl.mjs");
const MAPLIBRE_WORKER: &str = include_str!("assets/vendor/maplibre-gl/maplibre-gl-worker.mjs");
const MAPLIBRE_STYLE: &str = include_str!("assets/vendor/maplibre-gl/maplibre-gl.css");
const MAPLIBRE_LICENSE: &str = include_str!("assets/vendor/maplibre-gl/LICENSE.txt");
/// The most rows one CSV export holds (rows × hours of the range): past it, narrow the range.
pub const MAX_CSV_ROWS: i64 = 500_000;

/// What the routes read.
pub struct DensityWeb {
    pub grid: Arc<Grid>,
    /// Its own connection: reads do not queue behind the consumer's writes (SQLite WAL, or a
    /// PostgreSQL read replica).
    pub store: Mutex<Recorder>,
    pub stale_after_s: i64,
    pub registry: Registry,
    pub ngsi: NgsiOptions,
    /// Messages lost, when this process counts them ([`super::losses`]).
    pub losses: Option<Arc<LossMetrics>>,
    /// Under the cells on the map page.
    pub basemap: Basemap,
}

/// The routes as `lintel-city` serves them: the `Host` check first (421), then the token of a
/// role (401, [`identify`]), and the security headers on every answer, refusals included.
pub fn app(state: Arc<DensityWeb>, hosts: lintel_http::AllowedHosts, access: Access) -> Router {
    let tiles_from = state.basemap.foreign_origin();
    let routes = router(state).layer(axum::middleware::from_fn_with_state(Arc::new(access), identify));
    let app = lintel_http::guarded(routes, hosts, None).layer(axum::middleware::from_fn(lintel_http::security_headers));
    match tiles_from {
        // The city's own tile service, on another origin: the page may load tiles from it too.
        Some(origin) => app.layer(axum::middleware::from_fn_with_state(Arc::new(origin), let_tiles_in)),
        None => app,
    }
}

/// Adds the tile service's origin to the policy's `img-src` and `connect-src` (MapLibre fetches
/// tiles, then decodes them as images).
async fn let_tiles_in(
    State(origin): State<Arc<String>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let policy = response.headers().get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok());
    if let Some(policy) = policy {
        let widened = policy
            .replace("img-src 'self'", &format!("img-src 'self' {origin}"))
            .replace("connect-src 'self'", &format!("connect-src 'self' {origin}"));
        if let Ok(value) = header::HeaderValue::from_str(&widened) {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}

/// An embedded file's answer: its type, and kept a day (the binary's version names it anyway).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], body).into_response()
}

/// The routes alone; without [`identify`] in front every request is a viewer.
pub fn router(state: Arc<DensityWeb>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/map.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], MAP_SCRIPT) }))
        .route("/map.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], MAP_STYLE) }))
        .route(
            "/vendor/maplibre-gl-6.17.0/maplibre-gl.mjs",
            get(|| async { asset("text/javascript; charset=utf-8", MAPLIBRE) }),
        )
        .route(
            "/vendor/maplibre-gl-6.17.0/maplibre-gl-worker.mjs",
            get(|| async { asset("text/javascript; charset=utf-8", MAPLIBRE_WORKER) }),
        )
        .route(
            "/vendor/maplibre-gl-6.17.0/maplibre-gl.css",
            get(|| async { asset("text/css; charset=utf-8", MAPLIBRE_STYLE) }),
        )
        .route(
            "/vendor/maplibre-gl-6.17.0/LICENSE.txt",
            get(|| async { asset("text/plain; charset=utf-8", MAPLIBRE_LICENSE) }),
        )
        .route("/density/basemap.json", get(|s: State<Arc<DensityWeb>>| async move { Json(s.basemap.describe()) }))
        .route("/tiles/{z}/{x}/{y}", get(tile))
        .route("/density/export.csv", get(export_csv))
        .route("/density/flows", get(flows))
        .route("/density.geojson", get(geojson))
        .route("/density.png", get(|s: State<_>, h: HeaderMap, q: RawQuery| picture(s, h, q, Picture::Png)))
        .route("/density.svg", get(|s: State<_>, h: HeaderMap, q: RawQuery| picture(s, h, q, Picture::Svg)))
        .route("/density/history", get(history))
        .route("/ngsi-ld/entities", get(entities))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: see GET / and /density.geojson\n") })
        .with_state(state)
        .merge(Arc::clone(&super::i18n::CATALOGUES).router())
}

async fn page(headers: HeaderMap) -> impl IntoResponse {
    super::i18n::page(&headers, MAP_PAGE)
}

async fn metrics(State(state): State<Arc<DensityWeb>>) -> impl IntoResponse {
    let mut text = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut text, &state.registry);
    ([(header::CONTENT_TYPE, lintel_http::OPENMETRICS_CONTENT_TYPE)], text)
}

fn bad_request(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, format!("{}\n", message.into())).into_response()
}

fn json_answer(value: &serde_json::Value, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], value.to_string()).into_response()
}

/// The store work of a request, off the async workers.
async fn with_store<T: Send + 'static>(
    state: &Arc<DensityWeb>,
    work: impl FnOnce(&mut Recorder, &Grid) -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    let state = Arc::clone(state);
    let result = tokio::task::spawn_blocking(move || {
        let mut store = state.store.lock().map_err(|_| "store lock poisoned".to_string())?;
        work(&mut store, &state.grid)
    })
    .await;
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::warn!("density web: {error}");
            Err((StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable\n").into_response())
        }
        Err(_) => Err((StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()),
    }
}

async fn geojson(State(state): State<Arc<DensityWeb>>, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let at = match params.time("at") {
        Ok(at) => at,
        Err(e) => return bad_request(e),
    };
    let only = match only(&params) {
        Ok(only) => only,
        Err(e) => return bad_request(e),
    };
    let stale_after_s = state.stale_after_s;
    let answer = with_store(&state, move |store, grid| {
        let (states, at) = match at {
            None => (store.latest(), UtcTime::now()),
            Some(at) => (store.as_of(at.unix_seconds()), at),
        };
        let states = states.map_err(|e| e.to_string())?;
        Ok(Snapshot::build(grid, &states, at, stale_after_s).to_geojson_string_of(grid, only))
    })
    .await;
    // Messages lost so far, all nodes together (null: not counted by this process); per node
    // on /metrics.
    let lost = state.losses.as_ref().map(|l| l.total.get());
    let answer = answer.map(|text| match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(mut value) => {
            value["messages_lost"] = json!(lost);
            value.to_string()
        }
        Err(_) => text,
    });
    match answer {
        Ok(text) => ([(header::CONTENT_TYPE, "application/geo+json")], text).into_response(),
        Err(response) => response,
    }
}

/// `kind=cell|building` and, with buildings, `bbox=west,south,east,north`: which features.
fn only(params: &Params) -> Result<Only, String> {
    let bbox = params.get("bbox").map(Bounds::parse).transpose()?;
    match (params.get("kind"), bbox) {
        (None, None) => Ok(Only::All),
        (Some("cell"), None) => Ok(Only::Cells),
        (Some("building"), within) => Ok(Only::Buildings(within)),
        (None | Some("cell"), Some(_)) => Err("bbox is for kind=building".into()),
        (Some(other), _) => {
            Err(format!("kind {:?} is neither cell nor building", other.chars().take(40).collect::<String>()))
        }
    }
}

#[derive(Clone, Copy)]
enum Picture {
    Png,
    Svg,
}

async fn picture(
    State(state): State<Arc<DensityWeb>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    kind: Picture,
) -> Response {
    let params = match Params::parse(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let at = match params.time("at") {
        Ok(at) => at,
        Err(e) => return bad_request(e),
    };
    let language = match params.get("lang") {
        None => Language::of_request(&headers),
        Some(tag) => match Language::from_tag(tag) {
            Some(language) => language,
            None => return bad_request(format!("lang {tag:?}: use zh-CN or en")),
        },
    };
    let stale_after_s = state.stale_after_s;
    let web = Arc::clone(&state);
    let answer = with_store(&state, move |store, grid| {
        let (states, at) = match at {
            None => (store.latest(), UtcTime::now()),
            Some(at) => (store.as_of(at.unix_seconds()), at),
        };
        let snapshot = Snapshot::build(grid, &states.map_err(|e| e.to_string())?, at, stale_after_s);
        // The SVG carries the basemap when it is a raster file here (a tile service's tiles are
        // the reader's browser's to fetch, not this server's).
        let tiles = match &web.basemap {
            Basemap::MbTiles(tiles, _) => Some(&**tiles),
            _ => None,
        };
        Ok(match kind {
            Picture::Png => render::png(grid, &snapshot, language),
            Picture::Svg => Ok(render::svg_over(grid, &snapshot, language, tiles).into_bytes()),
        })
    })
    .await;
    let content_type = match kind {
        Picture::Png => "image/png",
        Picture::Svg => "image/svg+xml",
    };
    let language_header = (header::CONTENT_LANGUAGE, language.code());
    match answer {
        Ok(Ok(bytes)) => ([(header::CONTENT_TYPE, content_type), language_header], bytes).into_response(),
        Ok(Err(error)) => {
            tracing::warn!("density picture: {error}");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response()
        }
        Err(response) => response,
    }
}

/// The history of a cell or a building. An analyst gets the exact counts (`exact=0` shows what
/// everyone else gets). Everyone else gets a cell's hours with small counts suppressed on the
/// export's fixed spans ([`super::suppress`]), over hours that have ended, at `step=hour`
/// (default) or `day`: the same numbers another agency gets, so nothing to difference against.
/// They are refused (403, not a quietly coarser answer) what only exact data can give: `exact=1`,
/// `step=interval`, and a building's history (with the cell's, it would give away the small
/// counts of the cell's other buildings by difference).
async fn history(
    State(state): State<Arc<DensityWeb>>,
    role: Option<Extension<Role>>,
    RawQuery(query): RawQuery,
) -> Response {
    let analyst = role.is_some_and(|Extension(r)| r == Role::Analyst);
    let q = match Params::parse(query.as_deref())
        .map_err(bad)
        .and_then(|p| HistoryQuery::parse(&state.grid, &p, analyst))
    {
        Ok(q) => q,
        Err((code, why)) => return (code, format!("{why}\n")).into_response(),
    };
    let (suppression, now) = (state.ngsi.suppression(), UtcTime::now().unix_seconds());
    let (buildings, exact, step, from, to) = (q.buildings.clone(), q.exact, q.step, q.from, q.to);
    let answer = with_store(&state, move |store, _| {
        if exact {
            return store.history(&buildings, from, to, step, MAX_HISTORY_POINTS + 1).map_err(|e| e.to_string());
        }
        if step == Step::Day {
            // Whole days, so each point is the day it says.
            let (day_from, day_to) = (from - from.rem_euclid(86_400), (to - 1).div_euclid(86_400) * 86_400 + 86_400);
            let spans = suppression.read(store, &buildings, day_from, day_to, now).map_err(|e| e.to_string())?;
            return Ok(super::suppress::by_day(&spans));
        }
        suppression.read(store, &buildings, from, to, now).map_err(|e| e.to_string())
    })
    .await;
    match answer {
        Ok(points) => json_answer(&q.answer(&state.grid, points, &suppression), "application/json"),
        Err(response) => response,
    }
}

/// Why a request is refused: the status and a line for the asker.
type Refusal = (StatusCode, String);

fn bad(why: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, why.into())
}

fn denied(why: &str) -> Refusal {
    (StatusCode::FORBIDDEN, why.to_string())
}

/// A history request, checked against the grid and the asker's role.
struct HistoryQuery {
    buildings: Vec<String>,
    /// `{"cell": ID}` or `{"building": KEY}`, for the answer.
    subject: serde_json::Value,
    exact: bool,
    step: Step,
    step_name: String,
    from: i64,
    to: i64,
}

impl HistoryQuery {
    fn parse(grid: &Grid, params: &Params, analyst: bool) -> Result<Self, Refusal> {
        let exact = match params.get("exact") {
            None => analyst,
            Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(other) => return Err(bad(format!("exact {other:?}: use 0 or 1"))),
        };
        if exact && !analyst {
            return Err(denied(
                "exact history needs the analyst token; without it: a cell's history, small counts suppressed",
            ));
        }
        let (buildings, subject) = match (params.get("cell"), params.get("building")) {
            (Some(cell), None) => match grid.cell(cell) {
                Some(_) => (grid.buildings_in(cell).map(|b| b.key()).collect::<Vec<_>>(), json!({"cell": cell})),
                None => return Err((StatusCode::NOT_FOUND, "no such cell in the grid".into())),
            },
            (None, Some(_)) if !exact && !analyst => {
                return Err(denied("a building's history needs the analyst token; ask for its cell (cell=ID)"));
            }
            (None, Some(_)) if !exact => return Err(bad("the suppressed history is by cell (cell=ID)")),
            (None, Some(key)) => match key.split_once('/').and_then(|(s, b)| grid.building(s, b)) {
                Some(b) => (vec![b.key()], json!({"building": b.key()})),
                None => {
                    return Err((StatusCode::NOT_FOUND, "no such building in the grid (site/building)".into()));
                }
            },
            _ => return Err(bad("give exactly one of cell=ID or building=SITE/BUILDING")),
        };
        let step_name = params.get("step").unwrap_or(if exact { "interval" } else { "hour" });
        let step = match step_name {
            "interval" if !exact && !analyst => {
                return Err(denied("step=interval needs the analyst token; use step=hour or day"));
            }
            "interval" if !exact => return Err(bad("the suppressed history has step=hour or day")),
            "interval" => Step::Interval,
            "hour" => Step::Hour,
            "day" => Step::Day,
            other => return Err(bad(format!("step {other:?}: use interval, hour or day"))),
        };
        let now = UtcTime::now().unix_seconds();
        let (from, to) = match (params.time("from"), params.time("to")) {
            (Ok(from), Ok(to)) => {
                (from.map_or(now - 86_400, |t| t.unix_seconds()), to.map_or(now + 1, |t| t.unix_seconds()))
            }
            (Err(e), _) | (_, Err(e)) => return Err(bad(e)),
        };
        if to <= from {
            return Err(bad("to must be after from"));
        }
        Ok(Self { buildings, subject, exact, step, step_name: step_name.to_string(), from, to })
    }

    /// The JSON answer with these `points` (at most [`MAX_HISTORY_POINTS`] of them shown), its
    /// times RFC 3339 in the grid's time zone (`2026-11-26T00:00:00+08:00`: the same instants, as
    /// the community reads them).
    fn answer(
        &self,
        grid: &Grid,
        mut points: Vec<super::store::HistoryPoint>,
        suppression: &Suppression,
    ) -> serde_json::Value {
        let time = |s: i64| render::local_rfc3339(grid, s);
        let truncated = points.len() > MAX_HISTORY_POINTS;
        points.truncate(MAX_HISTORY_POINTS);
        // A suppressed occupancy is NaN (JSON null); a small highest occupancy is shown as none.
        let shown_max = |m: u64| (self.exact || !suppression.is_small(m)).then_some(m);
        let points: Vec<_> = points
            .iter()
            .map(|p| {
                json!({
                    "start": time(p.start_s), "end": time(p.end_s),
                    "occupancy": p.occupancy, "occupancy_max": shown_max(p.occupancy_max),
                    "entries": p.entries, "exits": p.exits, "buildings": p.buildings,
                })
            })
            .collect();
        let mut value = json!({
            "from": time(self.from), "to": time(self.to), "time_zone": grid.time_zone.as_deref().unwrap_or("UTC"),
            "step": self.step_name, "exact": self.exact, "truncated": truncated, "points": points,
        });
        if !self.exact {
            value["suppressed_below"] = json!(suppression.threshold);
            value["span_block_hours"] = json!(suppression.block_hours);
        }
        if let (Some(v), Some(s)) = (value.as_object_mut(), self.subject.as_object()) {
            v.extend(s.clone());
        }
        value
    }
}

/// A basemap tile from the MBTiles file; 404 outside it (or with no file), 400 for an address
/// no zoom has.
async fn tile(State(state): State<Arc<DensityWeb>>, UrlPath((z, x, y)): UrlPath<(String, String, String)>) -> Response {
    let Some((z, x, y)) = basemap::tile_address(&z, &x, &y) else {
        return bad_request(format!("no tile z/x/y with z ≤ {} and x, y < 2^z", basemap::MAX_ZOOM));
    };
    if !matches!(state.basemap, Basemap::MbTiles(..)) {
        return (StatusCode::NOT_FOUND, "no basemap file: see --basemap\n").into_response();
    }
    let state = Arc::clone(&state);
    let answer = tokio::task::spawn_blocking(move || match &state.basemap {
        Basemap::MbTiles(m, _) => m.tile(z, x, y).map(|t| t.map(|bytes| (m.content_type(), bytes))),
        _ => Ok(None),
    })
    .await;
    match answer {
        Ok(Ok(Some((content_type, bytes)))) => {
            ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], bytes)
                .into_response()
        }
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no such tile in the basemap\n").into_response(),
        Ok(Err(error)) => {
            tracing::warn!("{error}");
            (StatusCode::SERVICE_UNAVAILABLE, "the basemap is unreadable\n").into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    }
}

/// `GET /density/export.csv?level=cell|building&from=TIME&to=TIME`: one row per cell (or
/// building) and fixed span ([`super::suppress`], the NGSI-LD export's spans and threshold):
/// `cell` (or `building`), `name`, `start`, `end` (RFC 3339 in the grid's time zone, with its
/// offset), `entries`, `exits`, `occupancy` (the span's mean; empty where small), `fresh` (its
/// buildings that reported in the span) and `buildings`. Per building only for an analyst: with
/// the cells', the buildings' spans could give a small count away by difference.
async fn export_csv(
    State(state): State<Arc<DensityWeb>>,
    role: Option<Extension<Role>>,
    RawQuery(query): RawQuery,
) -> Response {
    let analyst = role.is_some_and(|Extension(r)| r == Role::Analyst);
    let params = match Params::parse(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let by_building = match params.get("level") {
        None | Some("cell") => false,
        Some("building") if analyst => true,
        Some("building") => {
            return (StatusCode::FORBIDDEN, "level=building needs the analyst token; use level=cell\n").into_response();
        }
        Some(other) => {
            return bad_request(format!(
                "level {:?}: use cell or building",
                other.chars().take(20).collect::<String>()
            ));
        }
    };
    let now = UtcTime::now().unix_seconds();
    let (from, to) = match (params.time("from"), params.time("to")) {
        (Ok(from), Ok(to)) => (from.map_or(now - 86_400, |t| t.unix_seconds()), to.map_or(now, |t| t.unix_seconds())),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    if to <= from || to - from > MAX_EXPORT_SPAN_S {
        return bad_request(format!("from..to must be a span of at most {MAX_EXPORT_SPAN_S} s"));
    }
    let rows = if by_building { state.grid.buildings.len() } else { state.grid.cells.len() } as i64;
    if rows * ((to - from) / 3600 + 1) > MAX_CSV_ROWS {
        return bad_request(format!("more than {MAX_CSV_ROWS} rows: narrow from..to"));
    }
    let suppression = state.ngsi.suppression();
    let answer = with_store(&state, move |store, grid| {
        export_rows(grid, store, by_building, from, to, now, &suppression).map_err(|e| e.to_string())
    })
    .await;
    match answer {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"density.csv\""),
            ],
            text,
        )
            .into_response(),
        Err(response) => response,
    }
}

const WEEK_S: i64 = 7 * 86_400;

/// The regional flow picture of the 24 hours before `to` (default now): per cell, its spans
/// (hours, or merged hours where counts were small: [`super::suppress`]) with entries (people
/// arriving) and exits (people leaving). Counts only, never a person; the same spans as the
/// NGSI-LD export, so the page gives no one more than other agencies get. With each cell, the
/// same hours a week before (`week_before`; empty where the history does not reach).
async fn flows(State(state): State<Arc<DensityWeb>>, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let now = UtcTime::now().unix_seconds();
    let to = match params.time("to") {
        Ok(to) => to.map_or(now, |t| t.unix_seconds()),
        Err(e) => return bad_request(e),
    };
    let level = match FlowLevel::of(&params, &state.grid) {
        Ok(level) => level,
        Err(e) => return bad_request(e),
    };
    let from = to - 86_400;
    let suppression = state.ngsi.suppression();
    let answer = with_store(&state, move |store, grid| {
        let time = |s: i64| render::local_rfc3339(grid, s);
        let span = |s: &super::store::HistoryPoint| {
            json!({"start": time(s.start_s), "end": time(s.end_s), "entries": s.entries, "exits": s.exits})
        };
        // The 24 hours, and the same hours a week before ("against the same weekday last week").
        let mut spans = |buildings: &[String]| -> Result<(Vec<Value>, Vec<Value>), String> {
            let now_spans = suppression.read(store, buildings, from, to, now).map_err(|e| e.to_string())?;
            let week = suppression.read(store, buildings, from - WEEK_S, to - WEEK_S, now).map_err(|e| e.to_string())?;
            Ok((now_spans.iter().map(span).collect(), week.iter().map(span).collect()))
        };
        let mut answer = json!({
            "from": time(from), "to": time(to), "time_zone": grid.time_zone.as_deref().unwrap_or("UTC"),
            "suppressed_below": suppression.threshold,
        });
        match level {
            FlowLevel::Cells => {
                let mut cells = Vec::with_capacity(grid.cells.len());
                for cell in &grid.cells {
                    let buildings: Vec<String> = grid.buildings_in(&cell.id).map(|b| b.key()).collect();
                    let (now_spans, week) = spans(&buildings)?;
                    cells.push(json!({"id": cell.id, "name": cell.name, "spans": now_spans, "week_before": week}));
                }
                answer["cells"] = json!(cells);
            }
            FlowLevel::Buildings(within) => {
                let mut buildings = Vec::new();
                for b in grid.buildings.iter().filter(|b| within.is_none_or(|w| w.contains(b.position))) {
                    let (now_spans, week) = spans(&[b.key()])?;
                    buildings.push(json!({
                        "site": b.site, "building": b.building, "name": b.name, "cell": b.cell,
                        "position": b.position, "spans": now_spans, "week_before": week,
                    }));
                }
                answer["buildings"] = json!(buildings);
            }
        }
        Ok(answer)
    })
    .await;
    match answer {
        Ok(value) => json_answer(&value, "application/json"),
        Err(response) => response,
    }
}

/// The most buildings one flows answer covers: a bigger grid names a `bbox`.
pub const MAX_FLOW_BUILDINGS: usize = 2_000;

/// `level=cell` (the default) or `level=building[&bbox=W,S,E,N]`.
enum FlowLevel {
    Cells,
    Buildings(Option<Bounds>),
}

impl FlowLevel {
    fn of(params: &Params, grid: &Grid) -> Result<Self, String> {
        let within = params.get("bbox").map(Bounds::parse).transpose()?;
        match params.get("level") {
            None | Some("cell") if within.is_none() => Ok(Self::Cells),
            None | Some("cell") => Err("bbox is for level=building".into()),
            Some("building") => {
                let count = grid.buildings.iter().filter(|b| within.is_none_or(|w| w.contains(b.position))).count();
                if count > MAX_FLOW_BUILDINGS {
                    return Err(format!(
                        "{count} buildings in one answer: at most {MAX_FLOW_BUILDINGS}, name a smaller bbox"
                    ));
                }
                Ok(Self::Buildings(within))
            }
            Some(other) => {
                Err(format!("level {:?} is neither cell nor building", other.chars().take(40).collect::<String>()))
            }
        }
    }
}

/// The CSV of [`export_csv`]: a header line, then the rows, grid order, spans in time order.
pub fn export_rows(
    grid: &Grid,
    store: &mut Recorder,
    by_building: bool,
    from: i64,
    to: i64,
    now: i64,
    suppression: &Suppression,
) -> Result<String, super::store::StoreError> {
    let subjects: Vec<(String, String, Vec<String>)> = if by_building {
        grid.buildings.iter().map(|b| (b.key(), b.name.clone(), vec![b.key()])).collect()
    } else {
        grid.cells
            .iter()
            .map(|c| (c.id.clone(), c.name.clone(), grid.buildings_in(&c.id).map(|b| b.key()).collect()))
            .collect()
    };
    let mut out = format!(
        "{},name,start,end,entries,exits,occupancy,fresh,buildings\n",
        if by_building { "building" } else { "cell" }
    );
    for (id, name, buildings) in subjects {
        for span in suppression.read(store, &buildings, from, to, now)? {
            let occupancy = if span.occupancy.is_nan() { String::new() } else { format!("{:.2}", span.occupancy) };
            let line = [
                csv_field(&id),
                csv_field(&name),
                render::local_rfc3339(grid, span.start_s),
                render::local_rfc3339(grid, span.end_s),
                span.entries.to_string(),
                span.exits.to_string(),
                occupancy,
                span.buildings.to_string(),
                buildings.len().to_string(),
            ];
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    Ok(out)
}

/// A CSV field, quoted when it holds a comma, a quote or a line break; a leading `=`, `+`, `-`
/// or `@` is prefixed with `'` so a spreadsheet never runs a name as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

async fn entities(State(state): State<Arc<DensityWeb>>, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let now = UtcTime::now().unix_seconds();
    let (from, to) = match (params.time("from"), params.time("to")) {
        (Ok(from), Ok(to)) => (from.map_or(now - 86_400, |t| t.unix_seconds()), to.map_or(now, |t| t.unix_seconds())),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    if to <= from || to - from > MAX_EXPORT_SPAN_S {
        return bad_request(format!("from..to must be a span of at most {MAX_EXPORT_SPAN_S} s"));
    }
    let (options, stale_after_s) = (state.ngsi.clone(), state.stale_after_s);
    let answer = with_store(&state, move |store, grid| {
        ngsi::export(grid, store, from, to, UtcTime::from_unix_seconds(now), stale_after_s, &options)
            .map_err(|e| e.to_string())
    })
    .await;
    match answer {
        Ok(entities) => json_answer(&serde_json::Value::Array(entities), "application/ld+json"),
        Err(response) => response,
    }
}

/// A query string's parameters, percent-decoded; each name at most once.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: Option<&str>) -> Result<Self, String> {
        let mut pairs = Vec::new();
        for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let (name, value) = (decode(name)?, decode(value)?);
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(format!("{name} is given twice"));
            }
            pairs.push((name, value));
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// An RFC 3339 time (or Unix seconds), if given.
    fn time(&self, name: &str) -> Result<Option<UtcTime>, String> {
        let Some(text) = self.get(name) else { return Ok(None) };
        parse_time(text).map(Some).map_err(|e| format!("{name}: {e}"))
    }
}

/// The latest time a request may name (2286-11-20), so no arithmetic on times can overflow.
pub const MAX_TIME_S: i64 = 9_999_999_999;

/// RFC 3339 (`2026-11-25T10:00:00Z`) or whole Unix seconds, from 1970 to [`MAX_TIME_S`].
pub fn parse_time(text: &str) -> Result<UtcTime, String> {
    let out_of_range = || format!("{:?} is outside 1970 to 2286", text.chars().take(40).collect::<String>());
    let time = match text.parse::<i64>() {
        Ok(seconds) if (0..=MAX_TIME_S).contains(&seconds) => UtcTime::from_unix_seconds(seconds),
        Ok(_) => return Err(out_of_range()),
        Err(_) => serde_json::from_value::<UtcTime>(serde_json::Value::String(text.to_string()))
            .map_err(|_| format!("{:?} is not an RFC 3339 time", text.chars().take(40).collect::<String>()))?,
    };
    if time.unix_seconds() > MAX_TIME_S {
        return Err(out_of_range());
    }
    Ok(time)
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("bad percent-encoding")?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8".to_string())
}
