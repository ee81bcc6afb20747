//! A demo shop at `/demo`, served only when the service runs on the sandbox (never in production):
//! a cart with two activities, the UiTPAS field, the tariffs per line, a "pay" button and a cancel
//! button per ticket. The page calls the public API like a real checkout; its "shop backend"
//! routes (`/demo/api/...`) call the ledger in-process, so no shop key ever reaches the page.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use super::AppState;
use super::extract::Json;
use super::problem::{ApiError, ApiResult};
use super::shop::{RegistrationRequest, cancel_ticket_sale, post_registration};

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
        .route("/demo/api/ticket-sales/{id}", delete(cancel))
        .route("/demo/api/registrations/{id}", get(registration))
}

/// The demo shop backend's "pay": registers the order's UiTPAS tickets (the page sends the order
/// and an Idempotency-Key it keeps for retries).
async fn pay(state: State<AppState>, headers: HeaderMap, body: Json<RegistrationRequest>) -> ApiResult<Response> {
    post_registration(state, headers, body).await
}

/// The demo shop backend's refund: cancels one ticket sale.
async fn cancel(state: State<AppState>, id: Path<String>) -> ApiResult<Response> {
    cancel_ticket_sale(state, id).await
}

async fn registration(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let registration = crate::db::retry_on_dead_connection(|| state.ledger.registration(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::OK, axum::Json(registration)).into_response())
}
