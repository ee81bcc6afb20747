//! `POST /v1/checkout-tokens` (shop key): a short-lived token for one cart, which the shop's page
//! passes to the browser instead of (or beside) a publishable key. It opens the public endpoints
//! for the cart's events only, for a budget of distinct passes, until it expires: a leaked token
//! cannot be used to probe pass numbers at large.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::extract::Json;
use super::problem::{ApiError, ApiResult, Problem};
use super::tariffs::event_id;

const MAX_EVENTS: usize = 50;
const MAX_PASSES: u32 = 50;
const DEFAULT_PASSES: u32 = 10;
const DEFAULT_TTL_S: u32 = 1800;
const MAX_TTL_S: u32 = 7200;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckoutTokenRequest {
    /// The events of the cart: the token asks about these only.
    #[schema(min_items = 1, max_items = 50, example = json!(["5a0967f9-cc06-4c3c-9206-30481a767434"]))]
    pub event_ids: Vec<String>,
    /// How many different passes the token may look up (default 10).
    #[schema(minimum = 1, maximum = 50, default = 10)]
    pub max_passes: Option<u32>,
    /// Seconds until the token expires (default 1800).
    #[schema(minimum = 60, maximum = 7200, default = 1800)]
    pub expires_in: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutToken {
    /// `ct_…`: give it to the browser, which sends it as `Authorization: Bearer <token>`. It is
    /// shown once; only its digest is stored.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub event_ids: Vec<String>,
    pub max_passes: u32,
}

/// Mints a checkout token for one cart.
#[utoipa::path(
    post,
    path = "/v1/checkout-tokens",
    tag = "shop",
    operation_id = "post-checkout-token",
    security(("shopKey" = [])),
    request_body = CheckoutTokenRequest,
    responses(
        (status = 201, description = "The token (shown once)", body = CheckoutToken),
        (status = 400, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_checkout_token(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
    Json(body): Json<CheckoutTokenRequest>,
) -> ApiResult<Response> {
    if body.event_ids.is_empty() || body.event_ids.len() > MAX_EVENTS {
        return Err(ApiError::invalid(
            "/eventIds",
            format!("must list 1 to {MAX_EVENTS} events"),
        ));
    }
    let mut events = Vec::with_capacity(body.event_ids.len());
    for (i, raw) in body.event_ids.iter().enumerate() {
        let id = event_id(Some(raw), &format!("/eventIds/{i}"))?;
        events.push(id.as_str().to_owned());
    }
    events.sort();
    events.dedup();
    let max_passes = body.max_passes.unwrap_or(DEFAULT_PASSES);
    if !(1..=MAX_PASSES).contains(&max_passes) {
        return Err(ApiError::invalid("/maxPasses", format!("must be 1 to {MAX_PASSES}")));
    }
    let ttl = body.expires_in.unwrap_or(DEFAULT_TTL_S);
    if !(60..=MAX_TTL_S).contains(&ttl) {
        return Err(ApiError::invalid(
            "/expiresIn",
            format!("must be 60 to {MAX_TTL_S} seconds"),
        ));
    }
    let (token, expires_at) = state
        .public
        .mint(
            caller.customer.id,
            &events,
            max_passes,
            Duration::from_secs(u64::from(ttl)),
        )
        .await
        .map_err(anyhow::Error::from)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CheckoutToken {
            token,
            expires_at,
            event_ids: events,
            max_passes,
        }),
    )
        .into_response())
}
