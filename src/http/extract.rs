//! Extractors that answer a malformed request with our problem+json instead of axum's plain text,
//! and the checks of the inputs many requests share (ids in paths, pages, free texts).

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;

use super::problem::{ApiError, ApiResult};

/// `axum::Json`, with rejections as problems (400 bad JSON or types, 413 too large, 415 not JSON).
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

/// `axum::extract::Query`, with rejections as problems.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let detail = rejection.body_text();
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::Rejected {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                detail: "The request body is too large.".into(),
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::Rejected {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                detail: "The request body must be JSON (Content-Type: application/json).".into(),
            },
            _ => ApiError::InvalidRequest {
                detail,
                errors: Vec::new(),
            },
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::InvalidRequest {
            detail: rejection.body_text(),
            errors: Vec::new(),
        }
    }
}

/// Our id in a path: a string that is not a UUID names nothing, so it is 404 rather than 400.
pub fn uuid_path(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::NotFound)
}

/// `start` and `limit` of a paged search, checked: `limit` defaults to 20 and is at most `max`.
pub fn page(start: Option<u32>, limit: Option<u32>, max: u32) -> Result<(i64, i64), ApiError> {
    let start = start.unwrap_or(0);
    if start > i32::MAX as u32 {
        return Err(ApiError::invalid("/start", "must be 0 to 2147483647"));
    }
    let limit = limit.unwrap_or(20);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid("/limit", format!("must be 1 to {max}")));
    }
    Ok((i64::from(start), i64::from(limit)))
}

/// The most items a page of a search holds.
pub const MAX_PAGE: u32 = 100;

/// The longest free text a request may give (an order id, a label, a reference).
const MAX_TEXT: usize = 200;

/// A free text of a request, trimmed: 1 to [`MAX_TEXT`] characters, none a control character.
pub fn text(value: &str, pointer: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(
            pointer,
            format!("must have 1 to {MAX_TEXT} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(pointer, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

pub fn optional_text(value: Option<&str>, pointer: &str) -> ApiResult<Option<String>> {
    value.map(|v| text(v, pointer)).transpose()
}
