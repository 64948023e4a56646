//! The operators' blurred stills (`lintel run --operator-stills`, off by default): the newest
//! picture of a camera, so an operator can see for themselves that it was moved or lost focus.
//! Hidden exactly as the set-up page's picture is ([`picture::served`]: everyone tracked, every
//! box the detector found, everything that differs from the learned empty scene; all of it while
//! the scene is learned), and never unblurred: a technician's unblur window does not reach here.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;

use super::api_error::ApiError;
use super::auth::Operator;
use crate::live::LiveFrames;
use crate::setup::picture::{self, Hiding};

/// The cameras (site-file order) and the node's live frames.
#[derive(Debug)]
pub struct OperatorStills {
    cameras: Vec<String>,
    live: LiveFrames,
}

impl OperatorStills {
    /// Stills of `cameras` (their ids, in site-file order) from `live`.
    pub fn new(cameras: Vec<String>, live: LiveFrames) -> Arc<Self> {
        Arc::new(Self { cameras, live })
    }
}

/// `GET /api/cameras/{camera}/still.jpg` (operators and technicians): the newest picture, hidden.
pub async fn still(
    State(stills): State<Arc<OperatorStills>>,
    _: Operator,
    Path(camera): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let index = stills.cameras.iter().position(|c| *c == camera).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no camera {:?}",
            camera.chars().filter(|c| !c.is_control()).take(64).collect::<String>()
        ))
    })?;
    stills.live.watch(index);
    let latest = stills.live.latest(index).ok_or(ApiError::NotYet("no frame from this camera yet\n"))?;
    // Asked a moment ago: the next frame brings its picture.
    let live = latest.picture.clone().ok_or(ApiError::NotYet("the picture is on its way\n"))?;
    let hidden = Hiding::of(&live.hidden, false);
    let jpeg = tokio::task::spawn_blocking(move || {
        picture::encode_jpeg(&picture::served(&live.pixels, &live.hidden, false, None))
    })
    .await
    .map_err(|e| ApiError::internal("cannot encode the picture\n", e))??;
    let headers = [(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")];
    Ok((headers, [("x-lintel-blurred", "1"), ("x-lintel-hidden", hidden.name())], jpeg))
}

/// The stills' route, over `stills`.
pub fn router(stills: Arc<OperatorStills>) -> axum::Router {
    axum::Router::new().route("/api/cameras/{camera}/still.jpg", axum::routing::get(still)).with_state(stills)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use axum::body::to_bytes;
    use axum::response::IntoResponse;

    use super::*;
    use crate::analysis::FrameAnalysis;
    use crate::live::{LiveFrame, LivePicture, Picture};
    use crate::privacy::Hidden;
    use crate::web::Role;

    /// A camera's frame: a picture of stripes (what a pixelation changes) with one person's box.
    fn live_frame() -> (Picture, Hidden, Arc<LiveFrame>) {
        let (width, height) = (64u32, 48u32);
        let rgb = (0..width * height).flat_map(|i| if (i % width) % 2 == 0 { [250u8; 3] } else { [5u8; 3] }).collect();
        let pixels = Picture { width, height, rgb };
        // The scene learned, nothing moving: only the person's box is hidden.
        let mut hidden = Hidden::everything(width, height);
        hidden.mask.hidden.fill(false);
        hidden.mask.unknown = 0.0;
        hidden.boxes = vec![[8.0, 8.0, 24.0, 32.0]];
        let picture = Arc::new(LivePicture { pixels: pixels.clone(), hidden: hidden.clone() });
        let analysis = FrameAnalysis {
            index: 0,
            pts: None,
            size: (width, height),
            detected: true,
            detections: 1,
            implausible: 0,
            embedded: 0,
            people: Vec::new(),
            events: Vec::new(),
        };
        (pixels, hidden, Arc::new(LiveFrame { wall: SystemTime::now(), picture: Some(picture), analysis }))
    }

    async fn answer(stills: &Arc<OperatorStills>, camera: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let response = still(State(Arc::clone(stills)), Operator(Role::Operator), Path(camera.into())).await;
        let response = response.into_response();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        (status, headers, to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn a_still_is_the_hidden_picture_never_the_clear_one() {
        let live = LiveFrames::default();
        let stills = OperatorStills::new(vec!["cam-1".into()], live.clone());
        assert_eq!(answer(&stills, "cam-1").await.0, 503, "no frame yet");
        assert_eq!(answer(&stills, "cam-9").await.0, 404);
        let (pixels, hidden, frame) = live_frame();
        live.put(0, (*frame).clone());
        let (status, headers, body) = answer(&stills, "cam-1").await;
        assert_eq!(status, 200);
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!((header("x-lintel-blurred"), header("x-lintel-hidden")), (Some("1"), Some("people_and_motion")));
        // Byte for byte the set-up page's hidden picture, and not its clear one.
        let hidden_jpeg = picture::encode_jpeg(&picture::served(&pixels, &hidden, false, None)).unwrap();
        let clear_jpeg = picture::encode_jpeg(&picture::served(&pixels, &hidden, true, None)).unwrap();
        assert_ne!(hidden_jpeg, clear_jpeg, "the test's picture has nothing to hide");
        assert_eq!(body, hidden_jpeg);
    }
}
