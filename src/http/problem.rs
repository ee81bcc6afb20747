//! The one error type of the HTTP layer, rendered as RFC 9457 `application/problem+json`.
//!
//! Problems of our own have a `urn:uitpas-checkout:problem:<slug>` type; a refusal by UiTPAS keeps
//! publiq's `type`, `title`, `detail`, `endUserMessage`, `schemaErrors` and `jsonPointer`, so the
//! shop can show the buyer what UiTPAS said. 5xx bodies say nothing internal; the cause chain is
//! logged once, inside the request's span.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::UitpasNumberError;
pub use crate::problem::Problem;
use crate::uitpas::{EndUserMessage, SchemaError, UpstreamError};

/// The `Retry-After` of a database outage, in seconds: about what PostgreSQL takes to restart or
/// fail over. (Sooner, a retry mostly waits out the pool's acquire timeout, 5 s, and fails again.)
pub const DATABASE_RETRY_AFTER_S: u64 = 5;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: bad JSON, wrong types, missing or unknown query values.
    #[error("invalid request: {detail}")]
    InvalidRequest { detail: String, errors: Vec<SchemaError> },
    #[error("invalid UiTPAS number: {0}")]
    InvalidUitpasNumber(UitpasNumberError),
    /// A request the framework refused before a handler ran (too large, not JSON, …).
    #[error("request rejected ({status}): {detail}")]
    Rejected { status: StatusCode, detail: String },
    #[error("not found")]
    NotFound,
    /// A problem of our own, already written.
    #[error("{}", .0.title)]
    Problem(Box<Problem>),
    #[error("missing or wrong API key")]
    Unauthorized,
    #[error("too many requests")]
    RateLimited { retry_after_s: u64 },
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A bad value at `pointer` (`/lines/0/quantity`, or `/regularPrice` for a query parameter).
    pub fn invalid(pointer: &str, error: impl Into<String>) -> Self {
        let error = error.into();
        let name = pointer.trim_start_matches('/');
        ApiError::InvalidRequest {
            detail: format!("{name}: {error}"),
            errors: vec![SchemaError {
                json_pointer: pointer.to_owned(),
                error,
            }],
        }
    }

    pub fn problem(&self) -> Problem {
        match self {
            ApiError::InvalidRequest { detail, errors } => {
                let mut p = Problem::ours("invalid-request", StatusCode::BAD_REQUEST, "Invalid request")
                    .with_detail(detail.clone());
                p.schema_errors = errors.clone();
                p
            }
            ApiError::InvalidUitpasNumber(why) => {
                let mut p = Problem::ours(
                    "invalid-uitpas-number",
                    StatusCode::BAD_REQUEST,
                    "Invalid UiTPAS number",
                )
                .with_detail(why.to_string());
                p.end_user_message = Some(EndUserMessage {
                    nl: "Dit UiTPAS-nummer klopt niet. Controleer de 13 cijfers op je kaart.".into(),
                    fr: Some("Ce numéro UiTPAS n'est pas correct. Vérifiez les 13 chiffres sur votre carte.".into()),
                    de: None,
                    en: Some("This UiTPAS number is not right. Check the 13 digits on your card.".into()),
                });
                p
            }
            ApiError::Rejected { status, detail } => {
                let title = status.canonical_reason().unwrap_or("Rejected");
                let slug = title.to_lowercase().replace(' ', "-");
                Problem::ours(&slug, *status, title).with_detail(detail.clone())
            }
            ApiError::Problem(problem) => (**problem).clone(),
            ApiError::NotFound => Problem::ours("not-found", StatusCode::NOT_FOUND, "Not found")
                .with_detail("No resource exists at this URL."),
            ApiError::Unauthorized => Problem::ours("unauthorized", StatusCode::UNAUTHORIZED, "Unauthorized")
                .with_detail("This endpoint needs the shop's API key: Authorization: Bearer <key>."),
            ApiError::RateLimited { retry_after_s } => {
                Problem::ours("rate-limited", StatusCode::TOO_MANY_REQUESTS, "Too many requests").with_detail(format!(
                    "Too many requests from this address; retry after {retry_after_s} s."
                ))
            }
            ApiError::Upstream(e) => Problem::from_upstream(e),
            ApiError::Internal(e) if crate::db::is_unavailable(e) => Problem::ours(
                "database-unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
            )
            .with_detail(format!(
                "The service cannot reach its database right now; try again after {DATABASE_RETRY_AFTER_S} s (a registration with the same Idempotency-Key)."
            )),
            ApiError::Internal(_) => Problem::ours("internal", StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
                .with_detail("Something went wrong on our side; it has been logged."),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        match &self {
            ApiError::Internal(e) if crate::db::is_unavailable(e) => {
                tracing::warn!(error = format!("{e:#}"), "database unavailable")
            }
            ApiError::Internal(e) => tracing::error!(error = format!("{e:#}"), "request failed"),
            ApiError::Upstream(e @ UpstreamError::Problem { .. }) => {
                tracing::info!(error = %e, "UiTPAS refused")
            }
            ApiError::Upstream(e) => tracing::warn!(error = %e, "UiTPAS call failed"),
            _ => {}
        }
        let retry_after = match &self {
            ApiError::RateLimited { retry_after_s } => Some(*retry_after_s),
            ApiError::Internal(e) if crate::db::is_unavailable(e) => Some(DATABASE_RETRY_AFTER_S),
            _ => None,
        };
        let mut response = problem.into_response();
        if let Some(s) = retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
