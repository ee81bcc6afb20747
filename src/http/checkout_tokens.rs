//! `POST /v1/checkout-tokens` (shop key): a short-lived token for one cart, which the shop's page
//! passes to the browser instead of (or beside) a publishable key. It opens the public endpoints
//! for the cart's events only, for a budget of distinct passes, until it expires: a leaked token
//! cannot be used to probe pass numbers at large.
//!
//! Its events are the customer's to sell: an event UiTdatabank does not know is refused (400
//! `event-not-found`), and so is one whose organizer the customer has no `TICKETSALES_REGISTER`
//! permission for (403 `permission-missing`), as a registration for it would be.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::extract::Json;
use super::permission::{may_register, permission_missing};
use super::problem::{ApiError, ApiResult, Problem};
use super::tariffs::event_id;
use crate::customers::Customer;
use crate::http::responses::ShopKeyRefused;
use crate::uitpas::{SchemaError, UpstreamError};

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
    /// The token's own rate limit: public requests per second, in bursts of twice that (default
    /// the service's `PUBLIC_RATE_LIMIT`, 5), at most `CHECKOUT_TOKEN_MAX_RATE_LIMIT` (50). A
    /// request with the token counts against the token only, never against the address it comes
    /// from: buyers behind one address (a library, an OCMW office) each have their own.
    #[schema(minimum = 1, example = 20)]
    pub rate_limit: Option<u32>,
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
    /// The token's requests a second (bursts of twice that); 0: not limited (`PUBLIC_RATE_LIMIT=0`).
    pub rate_limit: u32,
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
        (status = 400, description = "Invalid request (`invalid-request`: e.g. a `rateLimit` above `CHECKOUT_TOKEN_MAX_RATE_LIMIT`), or an event UiTdatabank does not know (`event-not-found`; `schemaErrors` names it)", body = Problem, content_type = "application/problem+json"),
        ShopKeyRefused,
        (status = 403, description = "An event of an organizer the customer may not register UiTPAS sales for (`permission-missing`)", body = Problem, content_type = "application/problem+json"),
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
    let pointers: Vec<(String, String)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.clone(), format!("/eventIds/{i}")))
        .collect();
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
    let max_rate = state.config.checkout_token_max_rate_limit;
    match body.rate_limit {
        Some(rate) if !(1..=max_rate).contains(&rate) => {
            return Err(ApiError::invalid(
                "/rateLimit",
                if max_rate == 0 {
                    "may not be set: this service gives every token PUBLIC_RATE_LIMIT (CHECKOUT_TOKEN_MAX_RATE_LIMIT is 0)"
                        .to_owned()
                } else {
                    format!("must be 1 to {max_rate} requests a second (CHECKOUT_TOKEN_MAX_RATE_LIMIT)")
                },
            ));
        }
        _ => {}
    }
    for (event, pointer) in &pointers {
        check_event(&state, &caller.customer, event, pointer).await?;
    }
    let (token, expires_at) = state
        .public
        .mint(
            caller.customer.id,
            &events,
            max_passes,
            body.rate_limit,
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
            rate_limit: body.rate_limit.unwrap_or(state.config.public_rate_limit),
        }),
    )
        .into_response())
}

/// Refuses an event UiTdatabank does not know, or one whose organizer `customer` may not register
/// sales for. The organizer comes from the cache that registrations read (Entry API
/// `GET /events/{id}`); an event whose organizer cannot be told now (UiTdatabank unreachable,
/// permissions not read yet) is let through, as a registration is: the token still limits its
/// holder to its events and its budget of passes.
async fn check_event(state: &AppState, customer: &Customer, event: &str, pointer: &str) -> ApiResult<()> {
    let key = (customer.slot, event.to_owned());
    if state.organizers.hit(&key).await.is_none() {
        match customer.client.event_facts(event).await {
            Ok(facts) => state.organizers.insert(key, facts).await,
            Err(e) if is_not_found(&e) => return Err(event_not_found(pointer)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an event's organizer; the checkout token is minted unchecked");
                return Ok(());
            }
        }
    }
    match may_register(state, customer, event).await {
        Some(Err(organizer)) => Err(permission_missing(&organizer)),
        _ => Ok(()),
    }
}

fn is_not_found(e: &UpstreamError) -> bool {
    let e = match e {
        UpstreamError::UiTdatabank(inner) => inner.as_ref(),
        e => e,
    };
    matches!(
        e,
        UpstreamError::Problem { status: 404, .. } | UpstreamError::Status(404)
    )
}

fn event_not_found(pointer: &str) -> ApiError {
    let error = "UiTdatabank has no event with this id";
    let mut problem = Problem::ours("event-not-found", StatusCode::BAD_REQUEST, "No such UiTdatabank event")
        .with_detail(format!("{pointer}: {error}; no checkout token was made."));
    problem.schema_errors = vec![SchemaError {
        json_pointer: pointer.into(),
        error: error.into(),
    }];
    ApiError::Problem(Box::new(problem))
}
