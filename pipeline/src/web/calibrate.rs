//! The technicians' page: each camera's live picture with people blurred on the box, the
//! detector's anonymous boxes and foot points, and every zone with its running counts.
//!
//! Everything here needs the technician role (an operator gets 403). The picture is blurred
//! before a pixel leaves the box; a technician may see it unblurred for [`UNBLUR_FOR`] after
//! asking (`POST …/unblur`), which is logged (who and which camera, never the image). No track id
//! is in any answer: people are boxes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use lintel_calibration::geometry::{CountingLine, Point, Polygon, Side};
use lintel_calibration::site::{CameraGeometry, FloorSettings, Site, SiteError, Zone, ZoneShape, ZoneSpace};
use lintel_calibration::{Board, CameraSpace, CheckerboardViews, Lens, site_edit};
use serde::{Deserialize, Serialize};

use super::auth::Technician;
use super::pages;
use crate::analysis::flow;
use crate::live::{LiveFrames, Picture, ZoneReloads};

/// How long one request to unblur lasts.
pub const UNBLUR_FOR: Duration = Duration::from_secs(30);
/// JPEG quality of the live picture: enough to place a line, small enough for a few a second.
const JPEG_QUALITY: u8 = 75;

/// The most zones one camera may be given, and the most points of a polygon.
const MAX_ZONES: usize = 64;
const MAX_POINTS: usize = 64;

/// What the page reads: the site's cameras and zones, and the node's live frames; and where a
/// technician's zones are saved: the site file, and the running node.
pub struct CalibrateView {
    /// The site as last saved; the lock also makes saves one at a time.
    site: Mutex<Site>,
    site_path: PathBuf,
    live: LiveFrames,
    reloads: ZoneReloads,
    /// Per camera, until when a technician asked to see people unblurred.
    unblurred_until: Mutex<HashMap<usize, Instant>>,
    /// Per camera, the validation under way.
    validations: Mutex<HashMap<usize, Validation>>,
    /// Per camera, the last lens estimation (one at a time per camera).
    estimations: Mutex<HashMap<usize, Estimation>>,
    /// Per camera, the last map that undistorts its picture (made again when the lens or the
    /// picture's size changes).
    undistortion: Mutex<HashMap<usize, Arc<UndistortionMap>>>,
}

/// Where each pixel of the undistorted picture comes from in the camera's picture.
#[derive(Debug)]
struct UndistortionMap {
    lens: Lens,
    size: (u32, u32),
    sources: Vec<(f32, f32)>,
}

/// A validation under way: a technician taps each passage in and out of one zone while Lintel
/// counts; the two tallies are compared at the end.
#[derive(Clone, Debug)]
struct Validation {
    zone: String,
    /// The zone's place among the camera's zones, and its tallies when the validation started.
    index: usize,
    start_tally: (u64, u64),
    started: std::time::SystemTime,
}

/// One finished validation, as kept in the validation log (times and counts only).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ValidationResult {
    pub camera: String,
    pub zone: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub ended: String,
    pub manual_in: u64,
    pub manual_out: u64,
    pub lintel_in: u64,
    pub lintel_out: u64,
    /// 1 − (|Δin| + |Δout|) ÷ (the technician's crossings): 1 is perfect agreement.
    pub agreement: f64,
}

/// The most passages a technician may report for one validation (a typo, or a script).
const MAX_TAPS: u64 = 100_000;

impl std::fmt::Debug for CalibrateView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalibrateView").field("site_path", &self.site_path).finish_non_exhaustive()
    }
}

impl CalibrateView {
    /// The page over `site` (read from `site_path`), the node's `live` frames, and `reloads`,
    /// where saved zones go to the running node.
    pub fn new(site: Site, site_path: PathBuf, live: LiveFrames, reloads: ZoneReloads) -> Arc<Self> {
        Arc::new(Self {
            site: Mutex::new(site),
            site_path,
            live,
            reloads,
            unblurred_until: Mutex::new(HashMap::new()),
            validations: Mutex::new(HashMap::new()),
            undistortion: Mutex::new(HashMap::new()),
            estimations: Mutex::new(HashMap::new()),
        })
    }

    fn site(&self) -> std::sync::MutexGuard<'_, Site> {
        self.site.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn camera(&self, id: &str) -> Option<usize> {
        self.site().cameras.iter().position(|c| c.id == id)
    }

    /// The map that undistorts camera `camera`'s pictures of `size` through `lens`, made once.
    fn undistortion_map(&self, camera: usize, lens: Lens, size: (u32, u32)) -> Arc<UndistortionMap> {
        let mut maps = self.undistortion.lock().unwrap_or_else(|p| p.into_inner());
        match maps.get(&camera) {
            Some(map) if map.lens == lens && map.size == size => map.clone(),
            _ => {
                let map = Arc::new(UndistortionMap { lens, size, sources: lens.undistortion_map(size) });
                maps.insert(camera, map.clone());
                map
            }
        }
    }
}

/// The picture sampled (bilinear) at `sources`, one per output pixel, row by row; outside the
/// camera's picture is black.
fn remap(picture: &Picture, sources: &[(f32, f32)]) -> Picture {
    let (w, h) = (picture.width as usize, picture.height as usize);
    let mut rgb = vec![0u8; w * h * 3];
    for (out, &(sx, sy)) in rgb.chunks_exact_mut(3).zip(sources) {
        if !(sx >= 0.0 && sy >= 0.0 && sx <= (w - 1) as f32 && sy <= (h - 1) as f32) {
            continue;
        }
        let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let at = |x: usize, y: usize, c: usize| f32::from(picture.rgb[(y * w + x) * 3 + c]);
        for (c, value) in out.iter_mut().enumerate() {
            let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
            let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
            *value = (top * (1.0 - fy) + bottom * fy).round() as u8;
        }
    }
    Picture { width: picture.width, height: picture.height, rgb }
}

/// A zone as the page shows and edits it.
#[derive(Serialize, Deserialize)]
pub struct ZoneView {
    name: String,
    /// `line` or `polygon`.
    kind: String,
    /// Normalised points (0..1): a line's A and B, or a polygon's vertices.
    points: Vec<[f32; 2]>,
    /// A line's entry side of A→B (`left` or `right`).
    #[serde(default)]
    entry_side: Option<String>,
    /// Hysteresis, as a fraction of the picture's height (metres for a zone on the floor).
    min_distance: f32,
    aggregate: bool,
    /// `floor`: the points are metres on the camera's floor; otherwise normalised picture points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    space: Option<String>,
    /// The entrance the zone counts for when it is not its camera's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entrance: Option<String>,
}

/// A lens as the page shows and edits it (pixels of a picture of `size`).
#[derive(Serialize, Deserialize, Clone, Copy)]
pub struct LensView {
    size: [u32; 2],
    focal: [f64; 2],
    centre: [f64; 2],
    /// k1, k2, p1, p2, k3.
    distortion: [f64; 5],
}

impl From<&Lens> for LensView {
    fn from(l: &Lens) -> Self {
        Self {
            size: [l.size.0, l.size.1],
            focal: [l.focal.0, l.focal.1],
            centre: [l.centre.0, l.centre.1],
            distortion: l.distortion,
        }
    }
}

impl From<LensView> for Lens {
    fn from(l: LensView) -> Self {
        Lens {
            size: (l.size[0], l.size[1]),
            focal: (l.focal[0], l.focal[1]),
            centre: (l.centre[0], l.centre[1]),
            distortion: l.distortion,
        }
    }
}

/// A floor as the page shows and edits it.
#[derive(Serialize, Deserialize, Clone, Copy)]
pub struct FloorView {
    /// Normalised points of the undistorted picture.
    points: [[f64; 2]; 4],
    /// Where they are on the floor, in metres.
    metres: [[f64; 2]; 4],
    /// The heights kept; `null`: every box kept.
    height_range_m: Option<[f64; 2]>,
}

impl From<&FloorSettings> for FloorView {
    fn from(f: &FloorSettings) -> Self {
        Self {
            points: f.points.map(|(x, y)| [x, y]),
            metres: f.metres.map(|(x, y)| [x, y]),
            // Centimetres, as a person enters them (the site keeps them as f32).
            height_range_m: f.height_range_m.map(|(a, b)| [a, b].map(|v| (f64::from(v) * 100.0).round() / 100.0)),
        }
    }
}

impl From<FloorView> for FloorSettings {
    fn from(f: FloorView) -> Self {
        FloorSettings {
            points: f.points.map(|[x, y]| (x, y)),
            metres: f.metres.map(|[x, y]| (x, y)),
            height_range_m: f.height_range_m.map(|[a, b]| (a as f32, b as f32)),
        }
    }
}

#[derive(Serialize)]
struct CameraSetup {
    id: String,
    entrance: String,
    zones: Vec<ZoneView>,
    lens: Option<LensView>,
    floor: Option<FloorView>,
}

/// What a save carries: the zones alone (the lens and floor stay as they are), or the camera's
/// whole set-up (a `null` lens or floor removes it).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum SaveBody {
    Zones(Vec<ZoneView>),
    Setup { zones: Vec<ZoneView>, lens: Option<LensView>, floor: Option<Box<FloorView>> },
}

pub async fn page(_: Technician) -> Html<&'static str> {
    Html(pages::CALIBRATE)
}

/// `GET /api/calibrate/cameras`: each camera with its zones.
pub async fn cameras(State(view): State<Arc<CalibrateView>>, _: Technician) -> Response {
    let site = view.site().clone();
    let cameras: Vec<CameraSetup> = site
        .cameras
        .iter()
        .map(|camera| CameraSetup {
            id: camera.id.clone(),
            entrance: camera.entrance.clone(),
            zones: site.zones_for(&camera.id).map(zone_view).collect(),
            lens: camera.lens.as_ref().map(LensView::from),
            floor: camera.floor.as_ref().map(FloorView::from),
        })
        .collect();
    Json(cameras).into_response()
}

/// `GET /api/calibrate/entrances`: the site's entrances, which a zone may count for.
pub async fn entrances(State(view): State<Arc<CalibrateView>>, _: Technician) -> Response {
    let site = view.site().clone();
    let entrances: Vec<serde_json::Value> = site
        .entrances
        .iter()
        .map(|e| serde_json::json!({ "id": e.id, "name": e.name, "building": e.building }))
        .collect();
    Json(entrances).into_response()
}

fn zone_view(zone: &Zone) -> ZoneView {
    let (kind, points, entry_side) = match &zone.shape {
        ZoneShape::Line(line) => {
            let side = match line.entry_side {
                Side::Left => "left",
                Side::Right => "right",
            };
            ("line", vec![[line.a.x, line.a.y], [line.b.x, line.b.y]], Some(side.to_string()))
        }
        ZoneShape::Polygon(polygon) => ("polygon", polygon.points.iter().map(|p| [p.x, p.y]).collect(), None),
    };
    ZoneView {
        name: zone.name.clone(),
        kind: kind.into(),
        points,
        entry_side,
        min_distance: zone.min_distance,
        aggregate: zone.aggregate,
        space: (zone.space == ZoneSpace::Floor).then(|| "floor".to_string()),
        entrance: zone.entrance.clone(),
    }
}

/// A zone of the page as a site-file zone of `camera`; what the site file checks (names, points
/// inside the picture) is left to its validation.
fn zone_of(camera: &str, zone: &ZoneView) -> Result<Zone, String> {
    let name = zone.name.trim();
    let point = |[x, y]: [f32; 2]| Point::new(x, y);
    if zone.points.len() > MAX_POINTS {
        return Err(format!("zone {name:?}: more than {MAX_POINTS} points"));
    }
    let shape = match zone.kind.as_str() {
        "line" => {
            let [a, b] = zone.points[..] else { return Err(format!("zone {name:?}: a line has two points")) };
            let side = match zone.entry_side.as_deref() {
                Some("left") => Side::Left,
                Some("right") | None => Side::Right,
                Some(other) => return Err(format!("zone {name:?}: entry side {other:?} is not left or right")),
            };
            ZoneShape::Line(CountingLine::new(point(a), point(b), side))
        }
        "polygon" => ZoneShape::Polygon(Polygon::new(zone.points.iter().copied().map(point).collect())),
        other => return Err(format!("zone {name:?}: kind {other:?} is not line or polygon")),
    };
    let space = match zone.space.as_deref() {
        None | Some("picture") => ZoneSpace::Picture,
        Some("floor") => ZoneSpace::Floor,
        Some(other) => return Err(format!("zone {name:?}: space {other:?} is not picture or floor")),
    };
    Ok(Zone {
        camera: camera.to_string(),
        name: name.to_string(),
        shape,
        min_distance: zone.min_distance,
        aggregate: zone.aggregate,
        space,
        entrance: zone.entrance.clone().filter(|e| !e.is_empty()),
    })
}

/// `PUT /api/calibrate/{camera}/zones`: the camera's zones, as the page edited them. Validated as
/// a whole site file (errors name the line and field), written atomically with the previous file
/// kept, and counted on by the running node from its next frame: no restart, and the counts of
/// the interval being filled are kept.
pub async fn save_zones(
    State(view): State<Arc<CalibrateView>>,
    Technician: Technician,
    Path(camera): Path<String>,
    Json(body): Json<SaveBody>,
) -> Response {
    let Some(index) = view.camera(&camera) else { return no_camera(&camera) };
    let (zones, geometry) = match body {
        SaveBody::Zones(zones) => (zones, None),
        SaveBody::Setup { zones, lens, floor } => {
            (zones, Some(CameraGeometry { lens: lens.map(Lens::from), floor: floor.map(|f| FloorSettings::from(*f)) }))
        }
    };
    if zones.len() > MAX_ZONES {
        return refuse(format!("more than {MAX_ZONES} zones on one camera"));
    }
    let zones = match zones.iter().map(|z| zone_of(&camera, z)).collect::<Result<Vec<_>, _>>() {
        Ok(zones) => zones,
        Err(why) => return refuse(why),
    };
    let saved = tokio::task::spawn_blocking(move || {
        let mut site = view.site();
        let text = std::fs::read_to_string(&view.site_path)
            .map_err(|e| (format!("{}: cannot read the site file: {e}", view.site_path.display()), None))?;
        let (text, new_site) = site_edit::replace_zones(&text, &view.site_path, &camera, &zones, geometry.as_ref())
            .map_err(|e| {
                let at = match &e {
                    site_edit::EditError::Invalid(SiteError::Invalid { field, .. }) => {
                        place_of_error(field, &site, &camera, zones.len())
                    }
                    _ => None,
                };
                (e.to_string(), at)
            })?;
        site_edit::write_atomically(&view.site_path, &text).map_err(|e| (e.to_string(), None))?;
        let saved_geometry = new_site.camera(&camera).map(|c| c.geometry()).unwrap_or_default();
        view.reloads.push(index, new_site.zones_for(&camera).cloned().collect(), saved_geometry);
        tracing::info!(
            camera,
            zones = zones.len(),
            lens = saved_geometry.lens.is_some(),
            floor = saved_geometry.floor.is_some(),
            "a technician saved the camera's set-up to {}; counting on it now",
            view.site_path.display()
        );
        let views: Vec<ZoneView> = new_site.zones_for(&camera).map(zone_view).collect();
        *site = new_site;
        Ok::<_, (String, Option<serde_json::Value>)>((views, saved_geometry))
    })
    .await;
    match saved {
        Ok(Ok((zones, geometry))) => Json(serde_json::json!({
            "saved": true,
            "zones": zones,
            "lens": geometry.lens.as_ref().map(LensView::from),
            "floor": geometry.floor.as_ref().map(FloorView::from),
        }))
        .into_response(),
        Ok(Err((why, at))) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({ "error": why, "at": at }))).into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the save failed; see the node's log\n").into_response(),
    }
}

/// Where on the page a site-file error belongs, for the page to show it beside the field: one of
/// this camera's zones (`{"zone": i}`, its place in the camera's list), or its `lens` or `floor`
/// (`{"part": …}`). `field` is the error's dotted field in the new file, whose zones are `old`'s
/// with this camera's `ours` new ones where its first zone was (at the end if it had none).
fn place_of_error(field: &str, old: &Site, camera: &str, ours: usize) -> Option<serde_json::Value> {
    let index = |prefix: &str| -> Option<usize> { field.strip_prefix(prefix)?.split(']').next()?.parse().ok() };
    if let Some(k) = index("camera[") {
        let part = field.split('.').nth(1).filter(|p| matches!(*p, "lens" | "floor"))?;
        return (old.cameras.get(k)?.id == camera).then(|| serde_json::json!({ "part": part }));
    }
    let n = index("zone[")?;
    // The new file's zones, in order: `None` for one of this camera's (the i-th new one).
    let mut order: Vec<Option<usize>> = Vec::new();
    let mut placed = false;
    for zone in &old.zones {
        if zone.camera == camera {
            if !placed {
                placed = true;
                order.extend((0..ours).map(Some));
            }
        } else {
            order.push(None);
        }
    }
    if !placed {
        order.extend((0..ours).map(Some));
    }
    order.get(n).copied().flatten().map(|i| serde_json::json!({ "zone": i }))
}

/// `GET /api/calibrate/{camera}/flow`: where feet passed over the last minutes and which way (a
/// coarse grid of sums, no person in it), and a line suggested across the dominant flow.
pub async fn flow(State(view): State<Arc<CalibrateView>>, _: Technician, Path(camera): Path<String>) -> Response {
    let Some(index) = view.camera(&camera) else { return no_camera(&camera) };
    let map = view.live.flow(index);
    let suggestion = map.suggested_line().map(|line| {
        serde_json::json!({ "points": [[line.a.0, line.a.1], [line.b.0, line.b.1]], "agreement": line.agreement })
    });
    Json(serde_json::json!({
        "columns": flow::COLUMNS,
        "rows": flow::ROWS,
        "half_life_s": flow::HALF_LIFE.as_secs(),
        "heat": map.heat(),
        "directions": map.directions().into_iter().map(|(x, y)| [x, y]).collect::<Vec<_>>(),
        "suggestion": suggestion,
    }))
    .into_response()
}

/// The longest a technician may capture checkerboard views for.
const MAX_ESTIMATE_S: f64 = 120.0;

#[derive(Deserialize)]
pub struct EstimateRequest {
    /// Inner corners, `COLUMNSxROWS` (`9x6`).
    board: String,
    /// The side of one square, in millimetres.
    square_mm: f64,
    /// How long to capture, in seconds (3–120).
    seconds: f64,
}

/// A lens estimation of one camera: under way, or its answer (kept for the page to read).
#[derive(Clone, Debug, Default, Serialize)]
struct Estimation {
    running: bool,
    /// Views of the board kept so far, and frames searched.
    views: usize,
    frames: u64,
    seconds_left: u64,
    /// The lens and its fit, once estimated.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<serde_json::Value>,
    /// Why there is no lens, when the estimation failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `POST /api/calibrate/{camera}/lens/estimate`: starts capturing. For `seconds`, every new frame
/// of the camera is searched for the checkerboard (in memory, on the box; nothing is kept but the
/// corners), then OpenCV's calibration gives the lens. `GET` on the same path tells how it goes
/// and, at the end, the lens for the page to show and save; the node counts through it once saved.
pub async fn estimate_lens(
    State(view): State<Arc<CalibrateView>>,
    Technician: Technician,
    Path(camera): Path<String>,
    Json(request): Json<EstimateRequest>,
) -> Response {
    let Some(index) = view.camera(&camera) else { return no_camera(&camera) };
    let board = match Board::parse(&request.board, request.square_mm) {
        Ok(board) => board,
        Err(error) => return refuse(error.to_string()),
    };
    if !(request.seconds.is_finite() && (1.0..=MAX_ESTIMATE_S).contains(&request.seconds)) {
        return refuse(format!("capture for 1 to {MAX_ESTIMATE_S} seconds, not {}", request.seconds));
    }
    {
        let mut estimations = view.estimations.lock().unwrap_or_else(|p| p.into_inner());
        if estimations.get(&index).is_some_and(|e| e.running) {
            let busy = serde_json::json!({ "error": "a lens estimation is already under way on this camera" });
            return (StatusCode::CONFLICT, Json(busy)).into_response();
        }
        estimations.insert(index, Estimation { running: true, ..Estimation::default() });
    }
    tracing::info!(camera, board = %request.board, seconds = request.seconds, "a technician is estimating the lens");
    let seconds = request.seconds;
    tokio::spawn(async move {
        let outcome = capture_and_estimate(&view, index, board, seconds).await;
        let mut estimations = view.estimations.lock().unwrap_or_else(|p| p.into_inner());
        let estimation = estimations.entry(index).or_default();
        estimation.running = false;
        estimation.seconds_left = 0;
        match outcome {
            Ok(result) => {
                tracing::info!(camera, views = estimation.views, "lens estimated from the checkerboard");
                estimation.result = Some(result);
            }
            Err(error) => {
                tracing::warn!(camera, "no lens from the checkerboard: {error}");
                estimation.error = Some(error);
            }
        }
    });
    (StatusCode::ACCEPTED, Json(serde_json::json!({ "started": true }))).into_response()
}

/// `GET /api/calibrate/{camera}/lens/estimate`: the camera's estimation, under way or done.
pub async fn estimation(State(view): State<Arc<CalibrateView>>, _: Technician, Path(camera): Path<String>) -> Response {
    let Some(index) = view.camera(&camera) else { return no_camera(&camera) };
    let estimation = view.estimations.lock().unwrap_or_else(|p| p.into_inner()).get(&index).cloned();
    match estimation {
        Some(estimation) => Json(estimation).into_response(),
        None => (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": "no estimation on this camera" })))
            .into_response(),
    }
}

async fn capture_and_estimate(
    view: &CalibrateView,
    index: usize,
    board: Board,
    seconds: f64,
) -> Result<serde_json::Value, String> {
    let failed = || "the estimation failed; see the node's log".to_string();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut views = CheckerboardViews::new(board);
    let mut last: Option<Arc<crate::live::LiveFrame>> = None;
    // The camera's own picture size: the lens is given in it, as a technician would enter it
    // (the frames searched are the detector's, maybe smaller).
    let mut source_size = None;
    while Instant::now() < deadline {
        view.live.watch(index);
        let latest = view.live.latest(index).filter(|f| !last.as_ref().is_some_and(|l| Arc::ptr_eq(l, f)));
        if let Some(frame) = latest {
            if let Some(picture) = frame.picture.clone() {
                let (taken, offer) = tokio::task::spawn_blocking(move || {
                    let offer = views.offer(&grey_of(&picture), picture.width, picture.height);
                    (views, offer)
                })
                .await
                .map_err(|_| failed())?;
                views = taken;
                offer.map_err(|e| e.to_string())?;
                let mut estimations = view.estimations.lock().unwrap_or_else(|p| p.into_inner());
                let estimation = estimations.entry(index).or_default();
                estimation.views = views.views();
                estimation.frames = views.frames();
                estimation.seconds_left = deadline.saturating_duration_since(Instant::now()).as_secs();
            }
            source_size = Some(frame.analysis.size);
            last = Some(frame);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let frames = views.frames();
    let estimate = tokio::task::spawn_blocking(move || views.estimate()).await.map_err(|_| failed())?;
    let estimate = estimate.map_err(|e| e.to_string())?;
    let lens = source_size.filter(|&(w, h)| w > 0 && h > 0).map_or(estimate.lens, |size| estimate.lens.scaled_to(size));
    Ok(serde_json::json!({
        "lens": LensView::from(&lens),
        "rms_px": estimate.rms_px,
        "views": estimate.views,
        "frames": frames,
    }))
}

/// A picture's luma, for the checkerboard search.
fn grey_of(picture: &Picture) -> Vec<u8> {
    picture.rgb.chunks_exact(3).map(crate::ingest::luma).collect()
}

/// The validation log beside the site file: `<site>.validation.jsonl`, one result a line.
fn validation_log(site_path: &std::path::Path) -> PathBuf {
    let mut path = site_path.as_os_str().to_owned();
    path.push(".validation.jsonl");
    PathBuf::from(path)
}

#[derive(Deserialize)]
pub struct ValidationStart {
    zone: String,
}

/// `POST /api/calibrate/{camera}/validation/start` (`{"zone": NAME}`): Lintel's tallies of the
/// zone from now on are compared with the technician's.
pub async fn start_validation(
    State(view): State<Arc<CalibrateView>>,
    Technician: Technician,
    Path(camera): Path<String>,
    Json(start): Json<ValidationStart>,
) -> Response {
    let Some(camera_index) = view.camera(&camera) else { return no_camera(&camera) };
    let Some(index) = view.site().zones_for(&camera).position(|z| z.name == start.zone) else {
        return refuse(format!("camera {camera} has no zone {:?}", start.zone.chars().take(64).collect::<String>()));
    };
    let start_tally = view.live.tallies(camera_index).get(index).copied().unwrap_or((0, 0));
    let validation = Validation { zone: start.zone, index, start_tally, started: std::time::SystemTime::now() };
    tracing::info!(camera, zone = %validation.zone, "a technician started a validation");
    view.validations.lock().unwrap_or_else(|p| p.into_inner()).insert(camera_index, validation);
    Json(serde_json::json!({ "started": true })).into_response()
}

#[derive(Deserialize)]
pub struct ValidationStop {
    manual_in: u64,
    manual_out: u64,
}

/// `POST /api/calibrate/{camera}/validation/stop` (`{"manual_in": N, "manual_out": M}`): the
/// comparison, appended to the validation log and returned.
pub async fn stop_validation(
    State(view): State<Arc<CalibrateView>>,
    Technician: Technician,
    Path(camera): Path<String>,
    Json(stop): Json<ValidationStop>,
) -> Response {
    let Some(camera_index) = view.camera(&camera) else { return no_camera(&camera) };
    if stop.manual_in > MAX_TAPS || stop.manual_out > MAX_TAPS {
        return refuse(format!("more than {MAX_TAPS} passages in one validation"));
    }
    let Some(validation) = view.validations.lock().unwrap_or_else(|p| p.into_inner()).remove(&camera_index) else {
        return refuse(format!("no validation under way on camera {camera}"));
    };
    // Tallies restart when the zones are saved: a validation across a save compares from then.
    let now_tally = view.live.tallies(camera_index).get(validation.index).copied().unwrap_or((0, 0));
    let lintel_in = now_tally.0.checked_sub(validation.start_tally.0).unwrap_or(now_tally.0);
    let lintel_out = now_tally.1.checked_sub(validation.start_tally.1).unwrap_or(now_tally.1);
    let manual = stop.manual_in + stop.manual_out;
    let differences = stop.manual_in.abs_diff(lintel_in) + stop.manual_out.abs_diff(lintel_out);
    let agreement = if manual == 0 {
        if differences == 0 { 1.0 } else { 0.0 }
    } else {
        (1.0 - differences as f64 / manual as f64).max(0.0)
    };
    let time = |t: std::time::SystemTime| crate::publish::UtcTime::from(t).to_string();
    let result = ValidationResult {
        camera: camera.clone(),
        zone: validation.zone,
        started: time(validation.started),
        ended: time(std::time::SystemTime::now()),
        manual_in: stop.manual_in,
        manual_out: stop.manual_out,
        lintel_in,
        lintel_out,
        agreement,
    };
    let log = validation_log(&view.site_path);
    let line = serde_json::to_string(&result).unwrap_or_default();
    let written = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        writeln!(file, "{line}")?;
        file.sync_all()
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::error!(camera, "cannot append to the validation log beside the site file");
        return (StatusCode::INTERNAL_SERVER_ERROR, "the validation could not be kept; see the node's log\n")
            .into_response();
    }
    tracing::info!(camera, zone = %result.zone, agreement = result.agreement, "a technician finished a validation");
    Json(result).into_response()
}

/// `GET /api/calibrate/{camera}/validations`: the camera's last validations, newest first.
pub async fn validations(
    State(view): State<Arc<CalibrateView>>,
    _: Technician,
    Path(camera): Path<String>,
) -> Response {
    if view.camera(&camera).is_none() {
        return no_camera(&camera);
    }
    let log = validation_log(&view.site_path);
    let results = tokio::task::spawn_blocking(move || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mut results: Vec<ValidationResult> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<ValidationResult>(l).ok())
            .filter(|r| r.camera == camera)
            .collect();
        results.reverse();
        results.truncate(20);
        results
    })
    .await
    .unwrap_or_default();
    Json(results).into_response()
}

/// 422 with the reason, for the page to show beside the zones.
fn refuse(why: String) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({ "error": why }))).into_response()
}

#[derive(Serialize)]
struct PersonView {
    /// Normalised box: left, top, width, height.
    bbox: [f32; 4],
    /// Normalised foot point.
    foot: [f32; 2],
    /// Seen by the detector in this frame (otherwise predicted).
    seen: bool,
    /// Where the feet are on the floor, in metres (with a floor).
    #[serde(skip_serializing_if = "Option::is_none")]
    at_m: Option<[f32; 2]>,
    /// The height the box implies, in metres (with a floor whose heights are measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    height_m: Option<f32>,
}

/// The lens and floor for the live picture's size, for the page to map points as the node does.
#[derive(Serialize)]
struct GeometryView {
    /// The lens scaled to the live picture.
    lens: Option<LensView>,
    /// Floor (metres) → undistorted picture (pixels of the live picture), row-major.
    floor_to_picture: Option<[[f64; 3]; 3]>,
    /// Undistorted picture (pixels) → floor (metres).
    picture_to_floor: Option<[[f64; 3]; 3]>,
    /// Whether implied heights are measured (the camera's pose is known).
    measures_height: bool,
    /// The heights kept, while the filter is on.
    height_range_m: Option<[f32; 2]>,
    /// Why the floor is not used, when it is not.
    floor_error: Option<String>,
}

impl GeometryView {
    fn of(geometry: &CameraGeometry, size: (u32, u32)) -> (Self, CameraSpace) {
        let (space, error) = CameraSpace::new(geometry, size);
        let floor = space.floor();
        let view = Self {
            lens: space.lens().map(LensView::from),
            floor_to_picture: floor.map(|f| *f.to_picture_matrix()),
            picture_to_floor: floor.map(|f| *f.to_floor_matrix()),
            measures_height: floor.is_some_and(|f| f.measures_height()),
            height_range_m: space.height_range().map(|(a, b)| [a, b]),
            floor_error: error.map(|e| e.to_string()),
        };
        (view, space)
    }
}

#[derive(Serialize)]
struct ZoneTally {
    entries: u64,
    exits: u64,
}

#[derive(Serialize)]
struct LiveView {
    frame: u64,
    /// Milliseconds since the frame arrived.
    age_ms: u64,
    width: u32,
    height: u32,
    people: Vec<PersonView>,
    /// Per zone (the camera's zones in order), counted since the node started.
    zones: Vec<ZoneTally>,
    unblurred_s: u64,
    geometry: GeometryView,
    /// Boxes the detector found in this frame whose height is no person's (dropped).
    implausible: usize,
}

/// `GET /api/calibrate/{camera}/live`: the newest frame's people and the zones' counts.
pub async fn live(State(view): State<Arc<CalibrateView>>, _: Technician, Path(camera): Path<String>) -> Response {
    let Some(index) = view.camera(&camera) else { return no_camera(&camera) };
    view.live.watch(index);
    let zones = view.site().zones_for(&camera).count();
    let mut tallies = view.live.tallies(index);
    tallies.resize(zones.max(tallies.len()), (0, 0));
    let Some(latest) = view.live.latest(index) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no frame from this camera yet\n").into_response();
    };
    let (width, height) = latest.analysis.size;
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let unblurred_s = unblurred_left(&view, index).as_secs();
    let camera_geometry = view.site().cameras.get(index).map(|c| c.geometry()).unwrap_or_default();
    let (geometry, space) = GeometryView::of(&camera_geometry, (width.max(1), height.max(1)));
    let floor_position = |foot: (f32, f32)| space.floor_point(foot).map(|p| [p.x, p.y]);
    Json(LiveView {
        frame: latest.analysis.index,
        age_ms: latest.wall.elapsed().map_or(0, |d| d.as_millis() as u64),
        width,
        height,
        people: latest
            .analysis
            .people
            .iter()
            .map(|p| PersonView {
                bbox: [p.bbox.left / w, p.bbox.top / h, p.bbox.width / w, p.bbox.height / h],
                foot: [p.foot.0 / w, p.foot.1 / h],
                seen: p.seen,
                at_m: floor_position(p.foot),
                height_m: space.implied_height(p.foot, (p.foot.0, p.bbox.top)).map(|m| m as f32),
            })
            .collect(),
        zones: tallies.into_iter().take(zones).map(|(entries, exits)| ZoneTally { entries, exits }).collect(),
        unblurred_s,
        geometry,
        implausible: latest.analysis.implausible,
    })
    .into_response()
}

fn unblurred_left(view: &CalibrateView, camera: usize) -> Duration {
    let until = view.unblurred_until.lock().unwrap_or_else(|p| p.into_inner()).get(&camera).copied();
    until.map_or(Duration::ZERO, |until| until.saturating_duration_since(Instant::now()))
}

#[derive(Deserialize)]
pub struct FrameQuery {
    /// `clear=1`: unblurred, if a technician asked to unblur this camera and the time is not over.
    #[serde(default)]
    clear: u8,
    /// `undistort=1`: the picture a pinhole camera would see, through the camera's lens.
    #[serde(default)]
    undistort: u8,
}

/// `GET /api/calibrate/{camera}/frame.jpg`: the newest picture, people blurred.
pub async fn frame(
    State(view): State<Arc<CalibrateView>>,
    _: Technician,
    Path(camera): Path<String>,
    Query(query): Query<FrameQuery>,
) -> Response {
    let Some(index) = view.camera(&camera) else { return no_camera(&camera) };
    view.live.watch(index);
    let Some(latest) = view.live.latest(index) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no frame from this camera yet\n").into_response();
    };
    let Some(picture) = latest.picture.clone() else {
        // The page started watching a moment ago: the next frame brings its picture.
        return (StatusCode::SERVICE_UNAVAILABLE, "the picture is on its way\n").into_response();
    };
    let clear = query.clear == 1 && !unblurred_left(&view, index).is_zero();
    let boxes: Vec<[f32; 4]> = {
        let (w, h) = latest.analysis.size;
        let (sx, sy) = (picture.width as f32 / w.max(1) as f32, picture.height as f32 / h.max(1) as f32);
        latest
            .analysis
            .people
            .iter()
            .map(|p| [p.bbox.left * sx, p.bbox.top * sy, p.bbox.width * sx, p.bbox.height * sy])
            .collect()
    };
    let lens = view.site().cameras.get(index).and_then(|c| c.lens).filter(|_| query.undistort == 1);
    let map = lens.map(|lens| view.undistortion_map(index, lens, (picture.width, picture.height)));
    let encoded = tokio::task::spawn_blocking(move || {
        let mut pixels = (*picture).clone();
        if !clear {
            blur_people(&mut pixels, &boxes);
        }
        // Blurred first, then undistorted: the blur follows the detector's boxes, which are in the
        // camera's picture.
        if let Some(map) = map {
            pixels = remap(&pixels, &map.sources);
        }
        encode_jpeg(&pixels)
    })
    .await;
    match encoded {
        Ok(Ok(jpeg)) => {
            // Says what was served, for the page and the tests: the image itself is never logged.
            let blurred = if clear { "0" } else { "1" };
            let headers = [(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")];
            (headers, [("x-lintel-blurred", blurred)], jpeg).into_response()
        }
        Ok(Err(error)) => {
            tracing::error!(camera, "cannot encode the live picture: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the picture\n").into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the picture\n").into_response(),
    }
}

/// `POST /api/calibrate/{camera}/unblur`: people unblurred on this camera for [`UNBLUR_FOR`].
pub async fn unblur(State(view): State<Arc<CalibrateView>>, _: Technician, Path(camera): Path<String>) -> Response {
    let Some(index) = view.camera(&camera) else { return no_camera(&camera) };
    view.unblurred_until.lock().unwrap_or_else(|p| p.into_inner()).insert(index, Instant::now() + UNBLUR_FOR);
    tracing::info!(camera, "a technician asked to see people unblurred for {} s", UNBLUR_FOR.as_secs());
    Json(serde_json::json!({ "unblurred_s": UNBLUR_FOR.as_secs() })).into_response()
}

fn no_camera(camera: &str) -> Response {
    let shown: String = camera.chars().filter(|c| !c.is_control()).take(64).collect();
    (StatusCode::NOT_FOUND, format!("no camera {shown:?} in the site file\n")).into_response()
}

/// Pixelates each person's box (grown by a margin) into coarse blocks: a face becomes one or two
/// flat squares, while a technician still sees where people are and how they move.
pub fn blur_people(picture: &mut Picture, boxes: &[[f32; 4]]) {
    let (width, height) = (picture.width as usize, picture.height as usize);
    for [left, top, w, h] in boxes {
        let margin_x = w * 0.15;
        let margin_y = h * 0.1;
        let x0 = (left - margin_x).floor().clamp(0.0, width as f32) as usize;
        let y0 = (top - margin_y).floor().clamp(0.0, height as f32) as usize;
        let x1 = (left + w + margin_x).ceil().clamp(0.0, width as f32) as usize;
        let y1 = (top + h + margin_y).ceil().clamp(0.0, height as f32) as usize;
        // Blocks of a fifth of the box's width: about a whole head each.
        let block = ((x1.saturating_sub(x0)) / 5).max(8);
        for by in (y0..y1).step_by(block) {
            for bx in (x0..x1).step_by(block) {
                let (ex, ey) = ((bx + block).min(x1), (by + block).min(y1));
                let mut sum = [0u64; 3];
                for y in by..ey {
                    for x in bx..ex {
                        let i = (y * width + x) * 3;
                        for (total, value) in sum.iter_mut().zip(&picture.rgb[i..i + 3]) {
                            *total += u64::from(*value);
                        }
                    }
                }
                let n = ((ex - bx) * (ey - by)).max(1) as u64;
                let mean = sum.map(|s| (s / n) as u8);
                for y in by..ey {
                    for x in bx..ex {
                        let i = (y * width + x) * 3;
                        picture.rgb[i..i + 3].copy_from_slice(&mean);
                    }
                }
            }
        }
    }
}

fn encode_jpeg(picture: &Picture) -> Result<Vec<u8>, jpeg_encoder::EncodingError> {
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
    encoder.encode(&picture.rgb, picture.width as u16, picture.height as u16, jpeg_encoder::ColorType::Rgb)?;
    Ok(out)
}

/// The technicians' routes, over `view`.
pub fn router(view: Arc<CalibrateView>) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/calibrate", get(page))
        .route("/api/calibrate/cameras", get(cameras))
        .route("/api/calibrate/entrances", get(entrances))
        .route("/api/calibrate/{camera}/live", get(live))
        .route("/api/calibrate/{camera}/frame.jpg", get(frame))
        .route("/api/calibrate/{camera}/unblur", post(unblur))
        .route("/api/calibrate/{camera}/zones", axum::routing::put(save_zones))
        .route("/api/calibrate/{camera}/validation/start", post(start_validation))
        .route("/api/calibrate/{camera}/validation/stop", post(stop_validation))
        .route("/api/calibrate/{camera}/validations", get(validations))
        .route("/api/calibrate/{camera}/flow", get(flow))
        .route("/api/calibrate/{camera}/lens/estimate", post(estimate_lens).get(estimation))
        .with_state(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blurred_box_keeps_no_detail_and_the_rest_of_the_picture_is_untouched() {
        let (width, height) = (64u32, 64u32);
        // A fine checkerboard: the most detail a picture can have.
        let rgb: Vec<u8> = (0..width * height)
            .flat_map(|i| {
                let v = if (i % width + i / width) % 2 == 0 { 0 } else { 255 };
                [v, v, v]
            })
            .collect();
        let mut picture = Picture { width, height, rgb: rgb.clone() };
        blur_people(&mut picture, &[[16.0, 16.0, 20.0, 30.0]]);
        let at = |p: &Picture, x: usize, y: usize| p.rgb[(y * width as usize + x) * 3];
        // Inside: flat blocks (neighbours equal), mid-grey.
        for (x, y) in [(20, 20), (26, 30), (30, 40)] {
            assert_eq!(at(&picture, x, y), at(&picture, x + 1, y), "detail left at ({x}, {y})");
            assert!((100..=155).contains(&at(&picture, x, y)));
        }
        // Outside the box and its margin: as it was.
        for (x, y) in [(2, 2), (60, 60), (2, 60)] {
            assert_eq!(at(&picture, x, y), rgb[(y * width as usize + x) * 3]);
        }
    }
}
