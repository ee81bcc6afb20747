//! `GET /v1/passes/{uitpasNumber}`: the social-tariff status of a pass, cached per pass.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::AppState;
use super::auth::{Caller, Via};
use super::problem::{ApiError, ApiResult, Problem};
use crate::cache::PassStatus;
use crate::domain::UitpasNumber;

/// How long a browser may reuse an answer: short, so a renewed social tariff shows up soon.
const BROWSER_MAX_AGE: &str = "private, max-age=300";

/// The social-tariff status of a pass and the messages that must be shown to the buyer.
///
/// The number is checked locally first (13 digits, Luhn check digit): a mistyped number is
/// answered with 400 and never reaches UiTPAS. Answers are cached per pass for `PASS_CACHE_TTL`,
/// and concurrent lookups of one pass share one UiTPAS call (`GET /passes?identifier=`). A card
/// UiTPAS refuses as not active is answered 400 `invalid-card-status` with its `cardStatus`
/// (`BLOCKED`, `DELETED`, …) and UiTPAS's `endUserMessage` to show.
#[utoipa::path(
    get,
    path = "/v1/passes/{uitpasNumber}",
    tag = "public",
    operation_id = "get-pass",
    security((), ("publicKey" = [])),
    params(("uitpasNumber" = String, Path, description = "The 13-digit UiTPAS number (its last digit a Luhn check digit)", example = "0900000067513", pattern = "^[0-9]{13}$")),
    responses(
        (status = 200, description = "The pass's social-tariff status", body = PassStatus),
        (status = 400, description = "Mistyped number (`invalid-uitpas-number`), or a card UiTPAS refuses: `https://api.publiq.be/probs/uitpas/invalid-card-status` with the card's `cardStatus` (e.g. `BLOCKED`), or `https://api.publiq.be/probs/uitpas/passholder-blocked`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No publishable key or checkout token (production), or an expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The checkout token's budget of passes is spent (`checkout-token-budget-spent`), the origin is not the customer's, or the customer is disabled", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pass (`https://api.publiq.be/probs/uitpas/pass-not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_pass(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> ApiResult<Response> {
    let number = UitpasNumber::parse(&number).map_err(ApiError::InvalidUitpasNumber)?;
    if matches!(caller.via, Via::CheckoutToken(_)) {
        // Boxed: its PostgreSQL transaction would make every lookup's future large to move.
        Box::pin(state.public.charge_pass(&caller, &number)).await?;
    }
    let customer = &caller.customer;
    let cached = crate::cache::pass_status(&state.passes, customer.slot, &number, &customer.client).await?;
    Ok(answer(cached.json.clone()))
}

/// The 200 answer: its headers set directly, in a map sized for those the middleware adds
/// (CORS, request id) and hyper's own.
fn answer(json: Bytes) -> Response {
    let mut response = Response::new(Body::from(json));
    let headers = response.headers_mut();
    headers.reserve(8);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(BROWSER_MAX_AGE));
    response
}
