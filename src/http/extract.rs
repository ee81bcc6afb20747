//! Extractors that answer a malformed request with our problem+json instead of axum's plain text,
//! and the checks of the inputs many requests share (ids in paths, pages, free texts).

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

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

/// The most items a page of a search holds.
pub const MAX_PAGE: u32 = 100;

/// The page of a search: its query's `start` and `limit` (documented once, for every search, by
/// `params(TheFilter, Paging)`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Skip this many (default 0).
    #[param(minimum = 0, maximum = 2147483647)]
    pub start: Option<u32>,
    /// At most this many, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// A paged search's query: its filter `F` (the other parameters; an unknown one is refused when
/// `F` denies unknown fields) and its page, checked: `start` 0 to 2³¹−1, `limit` 1 to
/// [`MAX_PAGE`] (default 20). Rejections are problems, as [`Query`]'s.
#[derive(Debug)]
pub struct Search<F> {
    pub filter: F,
    pub start: i64,
    pub limit: i64,
}

impl<S: Send + Sync, F: DeserializeOwned> FromRequestParts<S> for Search<F> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(bad_query)?;
        let (paging, filter): (Vec<_>, Vec<_>) = pairs
            .into_iter()
            .partition(|(name, _)| name == "start" || name == "limit");
        let paging: Paging = reparse(&paging)?;
        let filter: F = reparse(&filter)?;
        let start = paging.start.unwrap_or(0);
        if start > i32::MAX as u32 {
            return Err(ApiError::invalid("/start", "must be 0 to 2147483647"));
        }
        let limit = paging.limit.unwrap_or(20);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::invalid("/limit", format!("must be 1 to {MAX_PAGE}")));
        }
        Ok(Search {
            filter,
            start: i64::from(start),
            limit: i64::from(limit),
        })
    }
}

/// `pairs` read as a `T`, as a query string of them would be.
fn reparse<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, ApiError> {
    let query = serde_urlencoded::to_string(pairs).map_err(|e| ApiError::Internal(e.into()))?;
    serde_urlencoded::from_str(&query).map_err(bad_query)
}

fn bad_query(error: serde_urlencoded::de::Error) -> ApiError {
    ApiError::InvalidRequest {
        detail: format!("Failed to deserialize query string: {error}"),
        errors: Vec::new(),
    }
}

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
