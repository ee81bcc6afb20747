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
use crate::http::responses::ShopKeyRefused;
use crate::ledger::jobs::{CANCEL, REGISTER};

/// The answer to a request whose work UiTPAS refused in a way only a person can fix (the service's
/// credentials or permissions, a refused cancellation): 502 `needs-attention`, never a 2xx that a
/// shop could read as done. The work is stored as `needs-attention` and waits for an operator
/// (retry once the cause is fixed, or abandon); the same request again (the same Idempotency-Key)
/// answers its state then, and a webhook tells the shop how it ended. `upstream` is UiTPAS's
/// problem, as stored with the parked work.
pub fn needs_attention(what: Work, upstream: Option<&Problem>, registration_id: Option<Uuid>) -> Problem {
    let why = upstream.map_or_else(
        || "UiTPAS refused it".to_owned(),
        |p| match &p.detail {
            Some(detail) => format!("UiTPAS answered {} {} ({detail})", p.status, p.kind),
            None => format!("UiTPAS answered {} {}", p.status, p.kind),
        },
    );
    let (title, detail, nl, fr, en) = match what {
        Work::Registration => (
            "UiTPAS refused the service: an operator must act",
            format!(
                "{why}. Nothing is registered at UiTPAS, and nothing will be until an operator fixes the \
                 cause (the service's credentials or permissions) and retries, or abandons the \
                 registration. Do not give the discount as if it were registered. Asking again with \
                 the same Idempotency-Key answers its state then; the webhook registration.registered \
                 or registration.rejected says how it ended."
            ),
            "De UiTPAS-korting kan nu niet geregistreerd worden. Betaal het gewone tarief of probeer later opnieuw.",
            "La réduction UiTPAS ne peut pas être enregistrée pour le moment. Payez le tarif normal ou réessayez plus tard.",
            "The UiTPAS discount cannot be registered right now. Pay the regular price or try again later.",
        ),
        Work::Cancellation => (
            "UiTPAS refused the cancellation: an operator must act",
            format!(
                "{why}. The sale is still registered at UiTPAS; its cancellation waits for an operator \
                 (retry once the cause is fixed, or abandon it and keep the sale). The webhook \
                 ticket_sale.cancelled says when it is cancelled."
            ),
            "De annulering bij UiTPAS is nog niet gelukt; de organisator volgt dit op.",
            "L'annulation auprès d'UiTPAS n'a pas encore abouti ; l'organisateur s'en occupe.",
            "The cancellation at UiTPAS has not gone through yet; the organizer follows it up.",
        ),
    };
    let mut problem = Problem::ours("needs-attention", StatusCode::BAD_GATEWAY, title).with_detail(detail);
    problem.end_user_message = Some(crate::uitpas::EndUserMessage {
        nl: nl.into(),
        fr: Some(fr.into()),
        de: None,
        en: Some(en.into()),
    });
    problem.registration_id = registration_id;
    problem
}

/// What needs a person, for [`needs_attention`].
#[derive(Debug, Clone, Copy)]
pub enum Work {
    Registration,
    Cancellation,
}

/// 409 `not-needing-attention`: nothing of it waits for a person (also for redemptions).
pub(crate) fn not_parked() -> Response {
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
        ShopKeyRefused,
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
    super::registrations::owned_registration(&state, &caller, id).await?;
    let view = registration_view(&state, id).await?;
    if !state.ledger.retry(REGISTER, view.id).await? {
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
        ShopKeyRefused,
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
    super::registrations::owned_registration(&state, &caller, id).await?;
    let view = registration_view(&state, id).await?;
    if !state.ledger.abandon(REGISTER, view.id).await? {
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
        ShopKeyRefused,
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
    super::ticket_sales::owned_sale(&state, &caller, id).await?;
    sale_view(&state, id).await?;
    if !state.ledger.retry(CANCEL, id).await? {
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
        ShopKeyRefused,
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
    super::ticket_sales::owned_sale(&state, &caller, id).await?;
    sale_view(&state, id).await?;
    if !state.ledger.abandon(CANCEL, id).await? {
        return Ok(not_parked());
    }
    Ok(axum::Json(sale_view(&state, id).await?).into_response())
}
