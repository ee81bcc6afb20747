//! A demo shop at `/demo`, served only when the service runs on the sandbox (never in production):
//! a cart, the UiTPAS field, the tariffs per line, a reward to pay with the pass's points when it
//! has enough, a "pay" button that holds the discount before payment, a payment step (success
//! confirms the hold, failure releases it, walking away lets it expire; the reward is redeemed
//! once paid) and a cancel button per ticket.
//!
//! Two shops, each a customer of its own with its own publiq credentials and organizer: the
//! default customer's (publiq's test event and the limited event) and "Organisatie B"'s (the
//! sandbox's second client, `sandbox-customer-b`, made at start by `dev::demo_customer`; its
//! event is of another organizer). The page picks one (`?shop=b`) and calls the public API like a
//! real checkout, with a checkout token its "shop backend" mints for that shop's cart. The backend
//! routes (`/demo/api/...`) act in-process as the chosen shop, so no secret key ever reaches the
//! page, and one shop's registrations and sales are not found through the other.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;

use super::AppState;
use super::auth::Caller;
use super::checkout_tokens::CheckoutToken;
use super::extract::{Json, Query};
use super::holds::{confirm_hold, release_hold};
use super::problem::{ApiError, ApiResult, Problem};
use super::registrations::get_registration;
use super::registrations::register::{HoldRequest, RegistrationRequest, post_registration};
use super::rewards::redemptions::{RedemptionRequest, post_redemption};
use super::ticket_sales::cancel_ticket_sale;
use crate::customers::Customer;
use crate::sandbox::dataset::{LIMITED_EVENT, NO_PERMISSION_EVENT, TEST_EVENT};

/// The name of the demo's second shop's customer (made at start on the embedded sandbox).
pub const SHOP_B_NAME: &str = "Demo: Organisatie B";

/// The demo's hold, in seconds, when the page asks for none: short, so that walking away is
/// seen to expire while one watches (the page shows a countdown).
const DEMO_HOLD_SECONDS: u32 = 20;

/// What a checkout token of the demo may do: the API's defaults (10 passes, 30 minutes), and 20
/// requests a second of its own (a buyer trying numbers and tariffs on a busy page).
const TOKEN_PASSES: u32 = 10;
const TOKEN_RATE: u32 = 20;
const TOKEN_TTL: Duration = Duration::from_secs(1800);

/// The events each shop sells: the cart its checkout tokens are minted for.
const DEFAULT_SHOP_EVENTS: [&str; 2] = [TEST_EVENT, LIMITED_EVENT];
const SHOP_B_EVENTS: [&str; 1] = [NO_PERMISSION_EVENT];

const INDEX: &str = include_str!("../../demo/index.html");
const SCRIPT: &str = include_str!("../../demo/app.js");
const STYLE: &str = include_str!("../../demo/style.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The demo's routes; `AppState` provides the ledger its shop backend uses.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/demo", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/demo/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route(
            "/demo/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/demo/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/demo/api/checkout-token", post(checkout_token))
        .route("/demo/api/orders", post(pay))
        .route("/demo/api/orders/{id}/confirm", post(paid))
        .route("/demo/api/orders/{id}/release", post(payment_failed))
        .route("/demo/api/reward-redemptions", post(redeem_reward))
        .route("/demo/api/ticket-sales/{id}", delete(cancel))
        .route("/demo/api/registrations/{id}", get(registration))
}

/// Which shop the page is buying at: `?shop=b`, or none for the default customer's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopQuery {
    shop: Option<String>,
}

/// The chosen shop: its customer and the events it sells.
fn shop(state: &AppState, query: &ShopQuery) -> ApiResult<(Arc<Customer>, &'static [&'static str])> {
    match query.shop.as_deref() {
        None | Some("" | "default") => Ok((state.customers.default_customer(), &DEFAULT_SHOP_EVENTS)),
        Some("b") => state
            .customers
            .all()
            .into_iter()
            .find(|c| c.name == SHOP_B_NAME && !c.disabled)
            .map(|c| (c, &SHOP_B_EVENTS[..]))
            .ok_or_else(|| {
                ApiError::Problem(Box::new(
                    Problem::ours(
                        "demo-shop-unavailable",
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The demo's second shop is not available",
                    )
                    .with_detail(format!(
                        "No enabled customer named \"{SHOP_B_NAME}\" could be loaded (see the service's log)."
                    )),
                ))
            }),
        Some(_) => Err(ApiError::invalid("/shop", "must be default or b")),
    }
}

fn caller(state: &AppState, query: &ShopQuery) -> ApiResult<Caller> {
    shop(state, query).map(|(customer, _)| Caller::shop_of(customer))
}

/// The demo shop backend's checkout token for its cart (`POST /v1/checkout-tokens` as a shop
/// backend would call it): the page sends it as `Authorization: Bearer ct_…` to the public API.
async fn checkout_token(State(state): State<AppState>, Query(query): Query<ShopQuery>) -> ApiResult<Response> {
    let (customer, events) = shop(&state, &query)?;
    let events: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
    let (token, expires_at) = state
        .public
        .mint(customer.id, &events, TOKEN_PASSES, Some(TOKEN_RATE), TOKEN_TTL)
        .await
        .map_err(anyhow::Error::from)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CheckoutToken {
            token,
            expires_at,
            event_ids: events,
            max_passes: TOKEN_PASSES,
            rate_limit: TOKEN_RATE,
        }),
    )
        .into_response())
}

/// The demo shop backend's "pay": holds the order's UiTPAS tickets before payment (the page sends
/// the order, an Idempotency-Key it keeps for retries, and may ask for a hold's length with
/// `hold.expiresIn`; `DEMO_HOLD_SECONDS` otherwise).
async fn pay(
    state: State<AppState>,
    Query(query): Query<ShopQuery>,
    headers: HeaderMap,
    Json(mut body): Json<RegistrationRequest>,
) -> ApiResult<Response> {
    let caller = caller(&state, &query)?;
    let hold = body.hold.get_or_insert(HoldRequest { expires_in: None });
    hold.expires_in.get_or_insert(DEMO_HOLD_SECONDS);
    post_registration(state, caller, headers, Json(body)).await
}

/// The demo shop backend redeems the reward the buyer picked in the element, once paid
/// (`POST /v1/reward-redemptions` with the page's Idempotency-Key, kept for retries).
async fn redeem_reward(
    state: State<AppState>,
    Query(query): Query<ShopQuery>,
    headers: HeaderMap,
    body: Json<RedemptionRequest>,
) -> ApiResult<Response> {
    let caller = caller(&state, &query)?;
    post_redemption(state, caller, headers, body).await
}

/// The payment succeeded: confirms the hold (409 `hold-expired` when it came too late).
async fn paid(state: State<AppState>, Query(query): Query<ShopQuery>, id: Path<String>) -> ApiResult<Response> {
    let caller = caller(&state, &query)?;
    confirm_hold(state, caller, id).await
}

/// The payment failed: releases the hold, its sales are cancelled at UiTPAS.
async fn payment_failed(
    state: State<AppState>,
    Query(query): Query<ShopQuery>,
    id: Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&state, &query)?;
    release_hold(state, caller, id).await
}

/// The demo shop backend's refund: cancels one ticket sale (another shop's is not found).
async fn cancel(state: State<AppState>, Query(query): Query<ShopQuery>, id: Path<String>) -> ApiResult<Response> {
    let caller = caller(&state, &query)?;
    cancel_ticket_sale(state, caller, id).await
}

/// One of the shop's registrations (another shop's is not found).
async fn registration(state: State<AppState>, Query(query): Query<ShopQuery>, id: Path<String>) -> ApiResult<Response> {
    let caller = caller(&state, &query)?;
    Ok(get_registration(state, caller, id).await?.into_response())
}
