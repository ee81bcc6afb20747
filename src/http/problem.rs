//! The one error type of the HTTP layer, rendered as RFC 9457 `application/problem+json`.
//!
//! Problems of our own have a `urn:uitpas-checkout:problem:<slug>` type; a refusal by UiTPAS keeps
//! publiq's `type`, `title`, `detail`, `endUserMessage`, `schemaErrors` and `jsonPointer`, so the
//! shop can show the buyer what UiTPAS said. 5xx bodies say nothing internal; the cause chain is
//! logged once, inside the request's span.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::UitpasNumberError;
use crate::uitpas::{EndUserMessage, SchemaError, UpstreamError};

const OUR_TYPE: &str = "urn:uitpas-checkout:problem:";

/// An RFC 9457 problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Identifies the kind of problem; compare it whole. publiq's types
    /// (`https://api.publiq.be/probs/...`) are passed on unchanged.
    #[serde(rename = "type")]
    #[schema(example = "https://api.publiq.be/probs/uitpas/social-tariff-expired")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A message to show the buyer, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_user_message: Option<EndUserMessage>,
    /// What is wrong in the request, field by field (JSON pointers into the body or query).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schema_errors: Vec<SchemaError>,
    /// The item of a request that UiTPAS refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
}

impl Problem {
    pub fn ours(slug: &str, status: StatusCode, title: &str) -> Self {
        Self {
            kind: format!("{OUR_TYPE}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            end_user_message: None,
            schema_errors: Vec::new(),
            json_pointer: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (status, axum::Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: bad JSON, wrong types, missing or unknown query values.
    #[error("invalid request: {detail}")]
    InvalidRequest {
        detail: String,
        errors: Vec<SchemaError>,
    },
    #[error("invalid UiTPAS number: {0}")]
    InvalidUitpasNumber(UitpasNumberError),
    /// A request the framework refused before a handler ran (too large, not JSON, …).
    #[error("request rejected ({status}): {detail}")]
    Rejected { status: StatusCode, detail: String },
    #[error("not found")]
    NotFound,
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
                let mut p = Problem::ours(
                    "invalid-request",
                    StatusCode::BAD_REQUEST,
                    "Invalid request",
                )
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
            ApiError::NotFound => Problem::ours("not-found", StatusCode::NOT_FOUND, "Not found")
                .with_detail("No resource exists at this URL."),
            ApiError::Unauthorized => {
                Problem::ours("unauthorized", StatusCode::UNAUTHORIZED, "Unauthorized").with_detail(
                    "This endpoint needs the shop's API key: Authorization: Bearer <key>.",
                )
            }
            ApiError::RateLimited { retry_after_s } => Problem::ours(
                "rate-limited",
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
            )
            .with_detail(format!(
                "Too many requests from this address; retry after {retry_after_s} s."
            )),
            ApiError::Upstream(e) => upstream_problem(e),
            ApiError::Internal(_) => Problem::ours(
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
            )
            .with_detail("Something went wrong on our side; it has been logged."),
        }
    }
}

fn upstream_problem(e: &UpstreamError) -> Problem {
    match e {
        UpstreamError::Problem { status, problem } => Problem {
            kind: problem.kind.clone(),
            title: problem.title.clone(),
            status: *status,
            detail: problem.detail.clone(),
            end_user_message: problem.end_user_message.clone(),
            schema_errors: problem.schema_errors.clone(),
            json_pointer: problem.json_pointer.clone(),
        },
        UpstreamError::Timeout => Problem::ours(
            "upstream-timeout",
            StatusCode::GATEWAY_TIMEOUT,
            "UiTPAS did not answer in time",
        )
        .with_detail("UiTPAS did not answer in time; try again."),
        _ => Problem::ours(
            "upstream-unavailable",
            StatusCode::BAD_GATEWAY,
            "UiTPAS is unavailable",
        )
        .with_detail("UiTPAS could not be reached or answered with an error; try again."),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        match &self {
            ApiError::Internal(e) => tracing::error!(error = format!("{e:#}"), "request failed"),
            ApiError::Upstream(e @ UpstreamError::Problem { .. }) => {
                tracing::info!(error = %e, "UiTPAS refused")
            }
            ApiError::Upstream(e) => tracing::warn!(error = %e, "UiTPAS call failed"),
            _ => {}
        }
        let retry_after = match self {
            ApiError::RateLimited { retry_after_s } => Some(retry_after_s),
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
