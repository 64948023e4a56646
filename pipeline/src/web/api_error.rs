//! The one error the web's handlers answer with: each turns into a status code and the body the
//! pages read (plain text, or JSON with an `error` field and, for a refused save, where on the
//! page it belongs). What went wrong inside the node goes to its log, never to the answer.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::setup::{Place, SetupError};
#[cfg(test)]
use crate::{live::Said, setup::Refusal};

/// Why a request was not answered as asked.
#[derive(Debug)]
pub enum ApiError {
    /// What the set-up refused or could not do.
    Setup(SetupError),
    /// 503, plain text: what is not there yet (a camera's first frame), worth asking again.
    NotYet(&'static str),
    /// 404, plain text: what the path names does not exist (`no alert 7`).
    NotFound(String),
    /// 500, plain text: `answer` tells the person where to look; `cause` goes to the node's log.
    Internal { answer: &'static str, cause: String },
}

impl ApiError {
    /// A failure inside the node: `answer` is what the person reads, `cause` is logged.
    pub fn internal(answer: &'static str, cause: impl std::fmt::Display) -> Self {
        Self::Internal { answer, cause: cause.to_string() }
    }
}

impl From<SetupError> for ApiError {
    fn from(error: SetupError) -> Self {
        Self::Setup(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Setup(error) => setup_answer(error),
            Self::NotYet(text) => (StatusCode::SERVICE_UNAVAILABLE, text).into_response(),
            Self::NotFound(text) => (StatusCode::NOT_FOUND, format!("{text}\n")).into_response(),
            Self::Internal { answer, cause } => internal(answer, &cause),
        }
    }
}

/// A refusal in JSON: `error` (English, for scripts and logs), and `code` and `params` (the
/// catalogue key and its values) for a page to say it in its reader's language.
fn setup_answer(error: SetupError) -> Response {
    let said = error.said();
    let json_error = |status: StatusCode, mut body: Value| {
        body["code"] = json!(said.code);
        body["params"] = json!(said.params);
        (status, Json(body)).into_response()
    };
    match &error {
        SetupError::NoCamera(_) => (StatusCode::NOT_FOUND, format!("{error}\n")).into_response(),
        SetupError::Refused(why) => json_error(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": why.to_string() })),
        SetupError::NotSaved { reason, at, .. } => {
            json_error(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": reason, "at": at.map(place) }))
        }
        SetupError::EstimationUnderWay => json_error(StatusCode::CONFLICT, json!({ "error": error.to_string() })),
        SetupError::NoEstimation => json_error(StatusCode::NOT_FOUND, json!({ "error": error.to_string() })),
        SetupError::Encoding(_) => internal("cannot encode the picture\n", &error),
        SetupError::ValidationNotKept { .. } => {
            internal("the validation could not be kept; see the node's log\n", &error)
        }
    }
}

/// Where on the page a refused save belongs: `{"zone": i}`, or `{"part": "lens" | "floor"}`.
fn place(place: Place) -> Value {
    match place {
        Place::Zone(i) => json!({ "zone": i }),
        Place::Lens => json!({ "part": "lens" }),
        Place::Floor => json!({ "part": "floor" }),
    }
}

fn internal(answer: &'static str, cause: &dyn std::fmt::Display) -> Response {
    tracing::error!("{cause}");
    (StatusCode::INTERNAL_SERVER_ERROR, answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(error: impl Into<ApiError>) -> (StatusCode, String, Option<String>) {
        let response = error.into().into_response();
        let status = response.status();
        let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async { axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap() });
        (status, String::from_utf8(body.to_vec()).unwrap(), kind)
    }

    fn json_of(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn an_unknown_camera_is_a_404_in_one_line_of_text() {
        let (status, body, kind) = answer(SetupError::NoCamera("door-2".into()));
        assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, "no camera \"door-2\" in the site file\n"));
        assert!(kind.unwrap().starts_with("text/plain"));
    }

    #[test]
    fn refused_input_is_a_422_with_the_reason_and_a_refused_save_says_where() {
        let (status, body, _) = answer(SetupError::from(Refusal::LineTwoPoints { zone: "东门".into() }));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            json_of(&body),
            json!({
                "error": "zone \"东门\": a line has two points",
                "code": "setup.refused.line_two_points",
                "params": { "zone": "东门" },
            })
        );
        for (at, expected) in [
            (Some(Place::Zone(2)), json!({ "zone": 2 })),
            (Some(Place::Lens), json!({ "part": "lens" })),
            (Some(Place::Floor), json!({ "part": "floor" })),
            (None, Value::Null),
        ] {
            let said = Said::new("site.empty", &[("line", &3), ("field", &"zone[1].name")]);
            let reason = "site.toml:3: zone[1].name: is empty".to_string();
            let (status, body, _) = answer(SetupError::NotSaved { reason, said, at });
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(
                json_of(&body),
                json!({
                    "error": "site.toml:3: zone[1].name: is empty",
                    "code": "site.empty",
                    "params": { "line": "3", "field": "zone[1].name" },
                    "at": expected,
                })
            );
        }
    }

    #[test]
    fn estimations_answer_409_while_busy_and_404_when_there_is_none() {
        let (status, body, _) = answer(SetupError::EstimationUnderWay);
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(json_of(&body)["error"], "a lens estimation is already under way on this camera");
        assert_eq!(json_of(&body)["code"], "setup.estimation_under_way");
        let (status, body, _) = answer(SetupError::NoEstimation);
        assert_eq!(
            (status, json_of(&body)),
            (
                StatusCode::NOT_FOUND,
                json!({ "error": "no estimation on this camera", "code": "setup.no_estimation", "params": {} })
            )
        );
    }

    #[test]
    fn a_failure_inside_the_node_says_where_to_look_and_not_what_happened() {
        let cause = std::io::Error::other("disk full at /var/lib/lintel");
        let error =
            SetupError::ValidationNotKept { path: "/var/lib/lintel/site.toml.validation.jsonl".into(), error: cause };
        let (status, body, _) = answer(error);
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "the validation could not be kept; see the node's log\n")
        );
        let (status, body, _) = answer(ApiError::internal("the save failed; see the node's log\n", "task panicked"));
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "the save failed; see the node's log\n")
        );
        let (status, body, _) = answer(ApiError::NotYet("no frame from this camera yet\n"));
        assert_eq!((status, body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "no frame from this camera yet\n"));
        let (status, body, _) = answer(ApiError::NotFound("no alert 7".into()));
        assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, "no alert 7\n"));
    }
}
