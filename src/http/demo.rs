//! A demo shop at `/demo`, served only when the service runs on the sandbox (never in production):
//! a cart with two activities, the UiTPAS field, the tariffs per line, a "pay" button that holds
//! the discount before payment, a payment step (success confirms the hold, failure releases it,
//! walking away lets it expire) and a cancel button per ticket. The page calls the public API like
//! a real checkout; its "shop backend" routes (`/demo/api/...`) call the ledger in-process, so no
//! shop key ever reaches the page.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use super::AppState;
use super::auth::Caller;
use super::extract::Json;
use super::holds::{confirm_hold, release_hold};
use super::problem::{ApiError, ApiResult};
use super::shop::{HoldRequest, RegistrationRequest, cancel_ticket_sale, post_registration};

/// The demo's hold, in seconds, when the page asks for none: short, so that walking away is
/// seen to expire while one watches (the page shows a countdown).
const DEMO_HOLD_SECONDS: u32 = 20;

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
        .route("/demo/api/orders", post(pay))
        .route("/demo/api/orders/{id}/confirm", post(paid))
        .route("/demo/api/orders/{id}/release", post(payment_failed))
        .route("/demo/api/ticket-sales/{id}", delete(cancel))
        .route("/demo/api/registrations/{id}", get(registration))
}

/// The demo shop backend's "pay": holds the order's UiTPAS tickets before payment (the page sends
/// the order, an Idempotency-Key it keeps for retries, and may ask for a hold's length with
/// `hold.expiresIn`; `DEMO_HOLD_SECONDS` otherwise).
async fn pay(
    state: State<AppState>,
    headers: HeaderMap,
    Json(mut body): Json<RegistrationRequest>,
) -> ApiResult<Response> {
    let hold = body.hold.get_or_insert(HoldRequest { expires_in: None });
    hold.expires_in.get_or_insert(DEMO_HOLD_SECONDS);
    let caller = Caller::shop_of(state.customers.default_customer());
    post_registration(state, caller, headers, Json(body)).await
}

/// The payment succeeded: confirms the hold (409 `hold-expired` when it came too late).
async fn paid(state: State<AppState>, id: Path<String>) -> ApiResult<Response> {
    let caller = Caller::shop_of(state.customers.default_customer());
    confirm_hold(state, caller, id).await
}

/// The payment failed: releases the hold, its sales are cancelled at UiTPAS.
async fn payment_failed(state: State<AppState>, id: Path<String>) -> ApiResult<Response> {
    let caller = Caller::shop_of(state.customers.default_customer());
    release_hold(state, caller, id).await
}

/// The demo shop backend's refund: cancels one ticket sale.
async fn cancel(state: State<AppState>, id: Path<String>) -> ApiResult<Response> {
    let caller = Caller::shop_of(state.customers.default_customer());
    cancel_ticket_sale(state, caller, id).await
}

async fn registration(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let registration = crate::db::retry_on_dead_connection(|| state.ledger.registration(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((
        StatusCode::OK,
        axum::Json(super::views::Registration::from(registration)),
    )
        .into_response())
}
