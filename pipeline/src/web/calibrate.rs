//! The technicians' page: each camera's live picture with people blurred on the box, the
//! detector's anonymous boxes and foot points, and every zone with its running counts.
//!
//! Everything here needs the technician role (an operator gets 403). The picture is blurred
//! before a pixel leaves the box; a technician may see it unblurred for [`UNBLUR_FOR`] after
//! asking (`POST …/unblur`). Unblurs, zone saves and validations go to the audit trail (who,
//! from where, which camera; never an image). No track id is in any answer: people are boxes.
//!
//! HTTP only: each handler reads the request, calls the set-up domain ([`crate::setup`]) and
//! answers with its result, or an [`ApiError`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::{Extension, Json};
use lintel_calibration::site::{CameraGeometry, FloorSettings, Site};
use lintel_calibration::{CameraSpace, Lens};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api_error::ApiError;
use super::auth::{Role, Technician};
use super::limits::Peer;
use super::pages;
use crate::analysis::flow;
use crate::live::{AuditAction, AuditTrail, LiveFrames, Said, ZoneReloads};
use crate::setup::lens_and_floor::{FloorView, LensView, floor_said};
use crate::setup::lens_estimation::{self, CaptureRequest, Estimation, LensEstimations};
use crate::setup::picture::{self, Hiding, UNBLUR_FOR, UnblurWindows, UndistortionMaps};
use crate::setup::validation::{ValidationLog, ValidationResult, Validations};
use crate::setup::zones::{SiteFile, ZoneView};

/// What the page reads: the site's cameras and zones, and the node's live frames; and where a
/// technician's set-up goes: the site file, and the running node.
pub struct CalibrateView {
    site: SiteFile,
    live: LiveFrames,
    unblurred: UnblurWindows,
    validations: Validations,
    validation_log: ValidationLog,
    estimations: Arc<LensEstimations>,
    undistortion: UndistortionMaps,
}

impl std::fmt::Debug for CalibrateView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalibrateView").field("site_path", &self.site.path()).finish_non_exhaustive()
    }
}

impl CalibrateView {
    /// The page over `site` (read from `site_path`), the node's `live` frames, and `reloads`,
    /// where saved zones go to the running node.
    pub fn new(site: Site, site_path: PathBuf, live: LiveFrames, reloads: ZoneReloads) -> Arc<Self> {
        Arc::new(Self {
            validation_log: ValidationLog::beside(&site_path),
            site: SiteFile::new(site, site_path, reloads),
            live,
            unblurred: UnblurWindows::default(),
            validations: Validations::default(),
            estimations: Arc::default(),
            undistortion: UndistortionMaps::default(),
        })
    }
}

/// Who the audit trail names for what only a technician may do.
const TECHNICIAN: &str = Role::Technician.name();

/// A camera and its set-up, as the page lists them.
#[derive(Serialize)]
pub struct CameraSetup {
    id: String,
    entrance: String,
    zones: Vec<ZoneView>,
    lens: Option<LensView>,
    floor: Option<FloorView>,
    /// The site's time zone (an IANA name), in which the page shows times; `None`: the browser's.
    time_zone: Option<String>,
}

/// What a save carries: the zones alone (the lens and floor stay as they are), or the camera's
/// whole set-up (a `null` lens or floor removes it).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum SaveBody {
    Zones(Vec<ZoneView>),
    Setup { zones: Vec<ZoneView>, lens: Option<LensView>, floor: Option<Box<FloorView>> },
}

impl SaveBody {
    /// The zones, and the lens and floor to save with them (`None`: leave them as they are).
    fn into_parts(self) -> (Vec<ZoneView>, Option<CameraGeometry>) {
        match self {
            SaveBody::Zones(zones) => (zones, None),
            SaveBody::Setup { zones, lens, floor } => {
                let geometry =
                    CameraGeometry { lens: lens.map(Lens::from), floor: floor.map(|f| FloorSettings::from(*f)) };
                (zones, Some(geometry))
            }
        }
    }
}

pub async fn page(_: Technician, headers: HeaderMap) -> Html<String> {
    super::i18n::page(&headers, pages::CALIBRATE)
}

/// `GET /api/calibrate/cameras`: each camera with its zones, lens, floor and its site's time zone.
pub async fn cameras(State(view): State<Arc<CalibrateView>>, _: Technician) -> Json<Vec<CameraSetup>> {
    let cameras = view.site.read(|site| {
        site.cameras
            .iter()
            .map(|camera| CameraSetup {
                id: camera.id.clone(),
                entrance: camera.entrance.clone(),
                zones: site.zones_for(&camera.id).map(ZoneView::from).collect(),
                lens: camera.lens.as_ref().map(LensView::from),
                floor: camera.floor.as_ref().map(FloorView::from),
                time_zone: site.time_zone.clone(),
            })
            .collect()
    });
    Json(cameras)
}

/// `GET /api/calibrate/entrances`: the site's entrances, which a zone may count for.
pub async fn entrances(State(view): State<Arc<CalibrateView>>, _: Technician) -> Json<Vec<Value>> {
    let entrances = view.site.read(|site| {
        site.entrances.iter().map(|e| json!({ "id": e.id, "name": e.name, "building": e.building })).collect()
    });
    Json(entrances)
}

/// `PUT /api/calibrate/{camera}/zones`: the camera's zones, as the page edited them. Validated as
/// a whole site file (errors name the line and field), written atomically with the previous file
/// kept, and counted on by the running node from its next frame: no restart, and the counts of
/// the interval being filled are kept.
pub async fn save_zones(
    State(view): State<Arc<CalibrateView>>,
    Technician: Technician,
    peer: Peer,
    Extension(audit): Extension<AuditTrail>,
    Path(camera): Path<String>,
    Json(body): Json<SaveBody>,
) -> Result<Json<Value>, ApiError> {
    let (zones, geometry) = body.into_parts();
    let detail = format!("{} zones{}", zones.len(), if geometry.is_some() { ", lens and floor" } else { "" });
    let code = if geometry.is_some() { "audit.zones_saved_geometry" } else { "audit.zones_saved" };
    let said = Said::new(code, &[("zones", &zones.len())]);
    let subject = camera.clone();
    let saved = tokio::task::spawn_blocking(move || view.site.save(&camera, &zones, geometry))
        .await
        .map_err(|e| ApiError::internal("the save failed; see the node's log\n", e))??;
    audit.record_said(AuditAction::ZonesSaved, TECHNICIAN, &peer.name(), &subject, &detail, Some(said));
    Ok(Json(json!({
        "saved": true,
        "zones": saved.zones,
        "lens": saved.geometry.lens.as_ref().map(LensView::from),
        "floor": saved.geometry.floor.as_ref().map(FloorView::from),
    })))
}

/// `GET /api/calibrate/{camera}/flow`: where feet passed over the last minutes and which way (a
/// coarse grid of sums, no person in it), and a line suggested across the dominant flow.
pub async fn flow(
    State(view): State<Arc<CalibrateView>>,
    _: Technician,
    Path(camera): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let index = view.site.camera_index(&camera)?;
    let map = view.live.flow(index);
    let suggestion = map
        .suggested_line()
        .map(|line| json!({ "points": [[line.a.0, line.a.1], [line.b.0, line.b.1]], "agreement": line.agreement }));
    Ok(Json(json!({
        "columns": flow::COLUMNS,
        "rows": flow::ROWS,
        "half_life_s": flow::HALF_LIFE.as_secs(),
        "heat": map.heat(),
        "directions": map.directions().into_iter().map(|(x, y)| [x, y]).collect::<Vec<_>>(),
        "suggestion": suggestion,
    })))
}

#[derive(Deserialize)]
pub struct EstimateRequest {
    /// Inner corners, `COLUMNSxROWS` (`9x6`).
    board: String,
    /// The side of one square, in millimetres.
    square_mm: f64,
    /// How long to capture, in seconds (3–120).
    seconds: f64,
}

/// `POST /api/calibrate/{camera}/lens/estimate`: starts capturing. For `seconds`, every new frame
/// of the camera is searched for the checkerboard, then OpenCV's calibration gives the lens. `GET`
/// on the same path tells how it goes and, at the end, the lens for the page to show and save;
/// the node counts through it once saved.
pub async fn estimate_lens(
    State(view): State<Arc<CalibrateView>>,
    Technician: Technician,
    Path(camera): Path<String>,
    Json(request): Json<EstimateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let index = view.site.camera_index(&camera)?;
    let capture = CaptureRequest::new(&request.board, request.square_mm, request.seconds)?;
    lens_estimation::start_estimation(&view.estimations, &view.live, index, capture)?;
    tracing::info!(camera, board = %request.board, seconds = request.seconds, "a technician is estimating the lens");
    Ok((StatusCode::ACCEPTED, Json(json!({ "started": true }))))
}

/// `GET /api/calibrate/{camera}/lens/estimate`: the camera's estimation, under way or done.
pub async fn estimation(
    State(view): State<Arc<CalibrateView>>,
    _: Technician,
    Path(camera): Path<String>,
) -> Result<Json<Estimation>, ApiError> {
    let index = view.site.camera_index(&camera)?;
    Ok(Json(view.estimations.get(index)?))
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
    peer: Peer,
    Extension(audit): Extension<AuditTrail>,
    Path(camera): Path<String>,
    Json(start): Json<ValidationStart>,
) -> Result<Json<Value>, ApiError> {
    let camera_index = view.site.camera_index(&camera)?;
    let index = view.site.zone_index(&camera, &start.zone)?;
    audit.record(
        AuditAction::Validation,
        TECHNICIAN,
        &peer.name(),
        &camera,
        &format!("started on zone {}", start.zone),
    );
    let tallies = view.live.tallies(camera_index);
    view.validations.start(camera_index, start.zone, index, &tallies, SystemTime::now());
    Ok(Json(json!({ "started": true })))
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
    peer: Peer,
    Extension(audit): Extension<AuditTrail>,
    Path(camera): Path<String>,
    Json(stop): Json<ValidationStop>,
) -> Result<Json<ValidationResult>, ApiError> {
    let camera_index = view.site.camera_index(&camera)?;
    let tallies = view.live.tallies(camera_index);
    let manual = (stop.manual_in, stop.manual_out);
    let result = view.validations.stop(camera_index, &camera, manual, &tallies, SystemTime::now())?;
    let (log, kept) = (view.validation_log.clone(), result.clone());
    tokio::task::spawn_blocking(move || log.append(&kept))
        .await
        .map_err(|e| ApiError::internal("the validation could not be kept; see the node's log\n", e))??;
    let agreement = format!("{:.2}", result.agreement);
    let detail = format!("finished on zone {}, agreement {agreement}", result.zone);
    let said = Said::new("audit.validation", &[("zone", &result.zone), ("agreement", &agreement)]);
    audit.record_said(AuditAction::Validation, TECHNICIAN, &peer.name(), &camera, &detail, Some(said));
    Ok(Json(result))
}

/// `GET /api/calibrate/{camera}/validations`: the camera's last validations, newest first.
pub async fn validations(
    State(view): State<Arc<CalibrateView>>,
    _: Technician,
    Path(camera): Path<String>,
) -> Result<Json<Vec<ValidationResult>>, ApiError> {
    view.site.camera_index(&camera)?;
    let log = view.validation_log.clone();
    let results = tokio::task::spawn_blocking(move || log.recent(&camera, 20)).await.unwrap_or_default();
    Ok(Json(results))
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
    /// Why the floor is not used, when it is not (English), and as the page says it.
    floor_error: Option<String>,
    floor_said: Option<Said>,
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
            floor_said: error.as_ref().map(floor_said),
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

/// The newest frame of a camera, as the page draws it over the picture.
#[derive(Serialize)]
pub struct LiveView {
    frame: u64,
    /// Milliseconds since the frame arrived.
    age_ms: u64,
    width: u32,
    height: u32,
    people: Vec<PersonView>,
    /// Per zone (the camera's zones in order), counted since the node started.
    zones: Vec<ZoneTally>,
    unblurred_s: u64,
    /// What the newest picture hides (`everything` until it is there).
    hiding: Hiding,
    geometry: GeometryView,
    /// Boxes the detector found in this frame whose height is no person's (dropped).
    implausible: usize,
}

/// `GET /api/calibrate/{camera}/live`: the newest frame's people and the zones' counts.
pub async fn live(
    State(view): State<Arc<CalibrateView>>,
    _: Technician,
    Path(camera): Path<String>,
) -> Result<Json<LiveView>, ApiError> {
    let index = view.site.camera_index(&camera)?;
    view.live.watch(index);
    let (zones, camera_geometry) = view.site.read(|site| {
        let geometry = site.cameras.get(index).map(|c| c.geometry()).unwrap_or_default();
        (site.zones_for(&camera).count(), geometry)
    });
    let mut tallies = view.live.tallies(index);
    tallies.resize(zones.max(tallies.len()), (0, 0));
    let latest = view.live.latest(index).ok_or(ApiError::NotYet("no frame from this camera yet\n"))?;
    let (width, height) = latest.analysis.size;
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let unblurred_s = view.unblurred.left(index, Instant::now()).as_secs();
    let (geometry, space) = GeometryView::of(&camera_geometry, (width.max(1), height.max(1)));
    let floor_position = |foot: (f32, f32)| space.floor_point(foot).map(|p| [p.x, p.y]);
    Ok(Json(LiveView {
        frame: latest.analysis.index,
        age_ms: latest.wall.elapsed().map_or(0, |d| d.as_millis() as u64),
        width,
        height,
        people: in_picture_order(
            latest
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
        ),
        zones: tallies.into_iter().take(zones).map(|(entries, exits)| ZoneTally { entries, exits }).collect(),
        unblurred_s,
        hiding: latest
            .picture
            .as_ref()
            .map_or(Hiding::Everything, |picture| Hiding::of(&picture.hidden, unblurred_s > 0)),
        geometry,
        implausible: latest.analysis.implausible,
    }))
}

/// `people` left to right (then top to bottom) by their feet: the tracker keeps its tracks in
/// order, so an index in its order would follow one person across frames like a track id.
fn in_picture_order(mut people: Vec<PersonView>) -> Vec<PersonView> {
    people.sort_by(|a, b| a.foot[0].total_cmp(&b.foot[0]).then(a.foot[1].total_cmp(&b.foot[1])));
    people
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
) -> Result<impl IntoResponse, ApiError> {
    let index = view.site.camera_index(&camera)?;
    view.live.watch(index);
    let latest = view.live.latest(index).ok_or(ApiError::NotYet("no frame from this camera yet\n"))?;
    // The page started watching a moment ago: the next frame brings its picture.
    let picture = latest.picture.clone().ok_or(ApiError::NotYet("the picture is on its way\n"))?;
    let unblurred = query.clear == 1 && !view.unblurred.left(index, Instant::now()).is_zero();
    let size = (picture.pixels.width, picture.pixels.height);
    let lens = view.site.read(|site| site.cameras.get(index).and_then(|c| c.lens)).filter(|_| query.undistort == 1);
    let map = lens.map(|lens| view.undistortion.for_camera(index, lens, size));
    let hidden = Hiding::of(&picture.hidden, unblurred);
    let jpeg = tokio::task::spawn_blocking(move || {
        picture::encode_jpeg(&picture::served(&picture.pixels, &picture.hidden, unblurred, map.as_deref()))
    })
    .await
    .map_err(|e| ApiError::internal("cannot encode the picture\n", e))??;
    // Says what was served, for the page and the tests: the image itself is never logged.
    let blurred = if unblurred { "0" } else { "1" };
    let headers = [(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")];
    Ok((headers, [("x-lintel-blurred", blurred), ("x-lintel-hidden", hidden.name())], jpeg))
}

/// `POST /api/calibrate/{camera}/unblur`: people unblurred on this camera for [`UNBLUR_FOR`].
pub async fn unblur(
    State(view): State<Arc<CalibrateView>>,
    _: Technician,
    peer: Peer,
    Extension(audit): Extension<AuditTrail>,
    Path(camera): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let index = view.site.camera_index(&camera)?;
    // Recorded before a clear pixel can be served.
    let detail = format!("people unblurred for {} s", UNBLUR_FOR.as_secs());
    let said = Said::new("audit.unblur", &[("seconds", &UNBLUR_FOR.as_secs())]);
    audit.record_said(AuditAction::Unblur, TECHNICIAN, &peer.name(), &camera, &detail, Some(said));
    view.unblurred.open(index, Instant::now());
    Ok(Json(json!({ "unblurred_s": UNBLUR_FOR.as_secs() })))
}

/// The technicians' routes, over `view`.
pub fn router(view: Arc<CalibrateView>) -> axum::Router {
    use axum::routing::{get, post, put};
    axum::Router::new()
        .route("/calibrate", get(page))
        .route("/api/calibrate/cameras", get(cameras))
        .route("/api/calibrate/entrances", get(entrances))
        .route("/api/calibrate/{camera}/live", get(live))
        .route("/api/calibrate/{camera}/frame.jpg", get(frame))
        .route("/api/calibrate/{camera}/unblur", post(unblur))
        .route("/api/calibrate/{camera}/zones", put(save_zones))
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

    fn person(x: f32, y: f32) -> PersonView {
        PersonView { bbox: [x, y, 0.1, 0.2], foot: [x, y], seen: true, at_m: None, height_m: None }
    }

    #[test]
    fn people_are_listed_by_where_they_are_not_by_track() {
        let listed =
            in_picture_order(vec![person(0.8, 0.5), person(0.2, 0.9), person(0.2, 0.1), person(f32::NAN, 0.0)]);
        let feet: Vec<[f32; 2]> = listed.iter().map(|p| p.foot).collect();
        assert_eq!(feet[..3], [[0.2, 0.1], [0.2, 0.9], [0.8, 0.5]]);
        assert!(feet[3][0].is_nan(), "a hostile value sorts last, without a panic");
    }
}
