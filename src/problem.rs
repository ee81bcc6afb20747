//! RFC 9457 problem details, shared by the HTTP layer and the ledger (which stores the problem
//! UiTPAS answered for a refused registration, to answer the same to a retry).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::uitpas::{EndUserMessage, SchemaError, UpstreamError};

const OUR_TYPE: &str = "urn:uitpas-checkout:problem:";

/// An RFC 9457 problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Identifies the kind of problem; compare it whole. publiq's types
    /// (`https://api.publiq.be/probs/...`) are passed on unchanged.
    #[serde(rename = "type")]
    #[schema(example = "https://api.publiq.be/probs/uitpas/social-tariff-expired")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A message to show the buyer, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user_message: Option<EndUserMessage>,
    /// What is wrong in the request, field by field (JSON pointers into the body or query).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_errors: Vec<SchemaError>,
    /// The item of a request that UiTPAS refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
    /// The registration a refusal belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_id: Option<uuid::Uuid>,
    /// The reward redemption a refusal belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redemption_id: Option<uuid::Uuid>,
    /// Extension member: the card's actual status when UiTPAS refused it as not active
    /// (`https://api.publiq.be/probs/uitpas/invalid-card-status`), passed on as UiTPAS gave it:
    /// `BLOCKED`, `DELETED`, `PROVISIONED`, `LOCAL_STOCK`, … (compare known values, expect others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "BLOCKED")]
    pub card_status: Option<String>,
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
            registration_id: None,
            redemption_id: None,
            card_status: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The problem to answer for a failed UiTPAS call: publiq's own when UiTPAS refused, else a
    /// 502 or 504 of ours that says nothing internal.
    pub fn from_upstream(e: &UpstreamError) -> Problem {
        let (api, e) = match e {
            UpstreamError::UiTdatabank(inner) => ("UiTdatabank", inner.as_ref()),
            e => ("UiTPAS", e),
        };
        match e {
            UpstreamError::Problem { status, problem } => Problem {
                kind: problem.kind.clone(),
                title: problem.title.clone(),
                status: *status,
                detail: problem.detail.clone(),
                end_user_message: problem.end_user_message.clone(),
                schema_errors: problem.schema_errors.clone(),
                json_pointer: problem.json_pointer.clone(),
                registration_id: None,
                redemption_id: None,
                card_status: problem.card_status.clone(),
            },
            UpstreamError::Timeout => Problem::ours(
                "upstream-timeout",
                StatusCode::GATEWAY_TIMEOUT,
                &format!("{api} did not answer in time"),
            )
            .with_detail(format!("{api} did not answer in time; try again.")),
            _ => Problem::ours(
                "upstream-unavailable",
                StatusCode::BAD_GATEWAY,
                &format!("{api} is unavailable"),
            )
            .with_detail(format!(
                "{api} could not be reached or answered with an error; try again."
            )),
        }
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
