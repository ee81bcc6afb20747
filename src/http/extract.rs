//! Extractors that answer a malformed request with our problem+json instead of axum's plain text.

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;

use super::problem::ApiError;

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
