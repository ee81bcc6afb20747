//! Shop endpoints for work that needs a person (`needs-attention`): UiTPAS refused the service's
//! credentials or permission, or refused a cancellation. Once the cause is fixed the shop retries
//! the work; or it abandons it: a registration then becomes `rejected` (UiTPAS did not register
//! it), a cancellation is dropped and its sale stays `registered`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::AppState;
use super::auth::Caller;
use super::extract::uuid_path;
use super::problem::{ApiError, ApiResult, Problem};
use super::views::{Registration, TicketSale};
use crate::outbox::JobKind;

fn not_parked() -> Response {
    Problem::ours("not-needing-attention", StatusCode::CONFLICT, "Nothing needs attention")
        .with_detail(
            "Only work with status needs-attention (or a ticket sale with needsAttention) can be retried or abandoned.",
        )
        .into_response()
}

async fn registration_view(state: &AppState, id: Uuid) -> ApiResult<Registration> {
    state
        .ledger
        .registration(id)
        .await?
        .map(Registration::from)
        .ok_or(ApiError::NotFound)
}

async fn sale_view(state: &AppState, id: Uuid) -> ApiResult<TicketSale> {
    state
        .ledger
        .ticket_sale(id)
        .await?
        .map(TicketSale::from)
        .ok_or(ApiError::NotFound)
}

#[utoipa::path(
    post,
    path = "/v1/registrations/{id}/retry",
    tag = "shop",
    operation_id = "retry-registration",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The registration id")),
    responses(
        (status = 202, description = "Due again now: the worker sends it (status pending)", body = Registration),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such registration", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It does not need attention (`not-needing-attention`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retry_registration(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    super::shop::owned_registration(&state, &caller, id).await?;
    let view = registration_view(&state, id).await?;
    if !state.ledger.retry(JobKind::Register, view.id).await? {
        return Ok(not_parked());
    }
    Ok((StatusCode::ACCEPTED, axum::Json(registration_view(&state, id).await?)).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/registrations/{id}/abandon",
    tag = "shop",
    operation_id = "abandon-registration",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The registration id")),
    responses(
        (status = 200, description = "Given up: rejected, with the problem that stopped it", body = Registration),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such registration", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It does not need attention (`not-needing-attention`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn abandon_registration(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    super::shop::owned_registration(&state, &caller, id).await?;
    let view = registration_view(&state, id).await?;
    if !state.ledger.abandon(JobKind::Register, view.id).await? {
        return Ok(not_parked());
    }
    Ok(axum::Json(registration_view(&state, id).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/ticket-sales/{id}/retry",
    tag = "shop",
    operation_id = "retry-ticket-sale-cancellation",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The ticket sale id (ours, not UiTPAS's)")),
    responses(
        (status = 202, description = "The cancellation is due again now (status cancelling)", body = TicketSale),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket sale", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Its cancellation does not need attention (`not-needing-attention`); a registration that does is retried with `POST /v1/registrations/{id}/retry`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retry_cancellation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    super::shop::owned_sale(&state, &caller, id).await?;
    sale_view(&state, id).await?;
    if !state.ledger.retry(JobKind::Cancel, id).await? {
        return Ok(not_parked());
    }
    Ok((StatusCode::ACCEPTED, axum::Json(sale_view(&state, id).await?)).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/ticket-sales/{id}/abandon",
    tag = "shop",
    operation_id = "abandon-ticket-sale-cancellation",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The ticket sale id (ours, not UiTPAS's)")),
    responses(
        (status = 200, description = "The cancellation is given up: the sale is registered at UiTPAS", body = TicketSale),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket sale", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Its cancellation does not need attention (`not-needing-attention`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn abandon_cancellation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    super::shop::owned_sale(&state, &caller, id).await?;
    sale_view(&state, id).await?;
    if !state.ledger.abandon(JobKind::Cancel, id).await? {
        return Ok(not_parked());
    }
    Ok(axum::Json(sale_view(&state, id).await?).into_response())
}
