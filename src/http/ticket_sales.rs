//! `/v1/ticket-sales` (shop key): the ticket sales of the shop's registrations, searched and read;
//! cancelled at UiTPAS (a refund), or their passholder checked in at the event.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::attention::Work;
use super::auth::Caller;
use super::extract::{Json, Paging, Search, optional_text, uuid_path};
use super::problem::{ApiError, ApiResult, Problem};
use super::tariffs::event_id;
use super::views::TicketSale;
use crate::db::retry_on_dead_connection;
use crate::http::responses::{BadFilter, DatabaseUnavailable, ShopKeyRefused};
use crate::ledger::SaleStatus;
use crate::ledger::flow::{CancelOutcome, CheckinOutcome};
use crate::ledger::store::SaleFilter;

/// 404 unless ticket sale `id` is the caller's.
pub(super) async fn owned_sale(state: &AppState, caller: &Caller, id: uuid::Uuid) -> ApiResult<()> {
    let owner = retry_on_dead_connection(|| async {
        Ok::<_, anyhow::Error>(
            sqlx::query_scalar!(
                "SELECT r.customer_id FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
                 WHERE t.id = $1",
                id
            )
            .fetch_optional(state.ledger.db())
            .await?,
        )
    })
    .await?;
    owner.filter(|o| caller.owns(*o)).map(drop).ok_or(ApiError::NotFound)
}
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SaleSearch {
    /// The shop's order id.
    pub order_id: Option<String>,
    /// The passholder's UiTPAS number.
    #[param(pattern = "^[0-9]{13}$")]
    pub uitpas_number: Option<String>,
    /// The UiTdatabank event id.
    #[param(format = Uuid)]
    pub event_id: Option<String>,
    /// pending, registered, rejected, cancelling or cancelled.
    #[param(inline)]
    pub status: Option<SaleStatus>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// A page of ticket sales.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketSalePage {
    pub total_items: i64,
    pub member: Vec<TicketSale>,
}

/// Searches ticket sales by order, passholder, event, status and period, oldest first.
#[utoipa::path(
    get,
    path = "/v1/ticket-sales",
    tag = "shop",
    operation_id = "search-ticket-sales",
    security(("shopKey" = [])),
    params(SaleSearch, Paging),
    responses(
        (status = 200, description = "The matching ticket sales", body = TicketSalePage),
        BadFilter,
        ShopKeyRefused,
        DatabaseUnavailable,
    )
)]
pub async fn search_ticket_sales(
    State(state): State<AppState>,
    caller: Caller,
    Search {
        filter: q,
        start,
        limit,
    }: Search<SaleSearch>,
) -> ApiResult<axum::Json<TicketSalePage>> {
    let filter = SaleFilter {
        customer_id: caller.customer.id,
        order_id: optional_text(q.order_id.as_deref(), "/orderId")?,
        uitpas_number: q
            .uitpas_number
            .as_deref()
            .map(|n| {
                crate::domain::UitpasNumber::parse(n)
                    .map(|n| n.as_str().to_owned())
                    .map_err(|why| ApiError::invalid("/uitpasNumber", why.to_string()))
            })
            .transpose()?,
        event_id: q
            .event_id
            .as_deref()
            .map(|e| event_id(Some(e), "/eventId").map(|e| e.to_string()))
            .transpose()?,
        status: q.status,
        from: q.from,
        to: q.to,
    };
    let (total, rows) = retry_on_dead_connection(|| async {
        crate::ledger::store::search_sales(state.ledger.db(), &filter, start, limit)
            .await
            .map_err(anyhow::Error::from)
    })
    .await?;
    Ok(axum::Json(TicketSalePage {
        total_items: total,
        member: rows
            .into_iter()
            .map(|row| crate::ledger::TicketSale::try_from(row).map(TicketSale::from))
            .collect::<anyhow::Result<_>>()?,
    }))
}

/// One ticket sale.
#[utoipa::path(
    get,
    path = "/v1/ticket-sales/{id}",
    tag = "shop",
    operation_id = "get-ticket-sale",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The ticket sale id (ours, not UiTPAS's)")),
    responses(
        (status = 200, description = "The ticket sale", body = TicketSale),
        ShopKeyRefused,
        (status = 404, description = "No such ticket sale", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn get_ticket_sale(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<TicketSale>> {
    let id = uuid_path(&id)?;
    retry_on_dead_connection(|| state.ledger.ticket_sale(id))
        .await?
        .filter(|t| caller.owns(t.customer_id))
        .map(|t| axum::Json(TicketSale::from(t)))
        .ok_or(ApiError::NotFound)
}

/// Cancels a ticket sale at UiTPAS (a refund or an unsubscription).
///
/// A checked-in sale's check-in is undone at UiTPAS first (`DELETE /checkins/{checkinId}`; kept
/// while another registered ticket of the same pass shares it), then the sale is cancelled; both
/// are replayed until UiTPAS confirms. 204: cancelled (also when it already was). 202: UiTPAS could not be reached; the cancellation
/// is stored and replayed until UiTPAS confirms it. 409: the sale is not registered (pending or
/// rejected).
#[utoipa::path(
    delete,
    path = "/v1/ticket-sales/{id}",
    tag = "shop",
    operation_id = "cancel-ticket-sale",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The ticket sale id (ours, not UiTPAS's)")),
    responses(
        (status = 204, description = "Cancelled at UiTPAS"),
        (status = 202, description = "Stored; the cancellation will be replayed until UiTPAS confirms it", body = TicketSale),
        ShopKeyRefused,
        (status = 404, description = "No such ticket sale", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not registered (pending or rejected): nothing to cancel", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS refused the cancellation (`needs-attention`): the sale stays registered and the cancellation waits for an operator; the webhook `ticket_sale.cancelled` says when it is done", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn cancel_ticket_sale(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_sale(&state, &caller, id).await?;
    Ok(match retry_on_dead_connection(|| state.ledger.cancel(id)).await? {
        CancelOutcome::Cancelled => StatusCode::NO_CONTENT.into_response(),
        CancelOutcome::Pending(sale) => match &sale.needs_attention {
            // A cancellation UiTPAS refused will not finish by itself: not a 2xx.
            Some(problem) => {
                super::attention::needs_attention(Work::Cancellation, Some(problem), Some(sale.registration_id))
                    .into_response()
            }
            None => (StatusCode::ACCEPTED, axum::Json(TicketSale::from(*sale))).into_response(),
        },
        CancelOutcome::NotFound => return Err(ApiError::NotFound),
        CancelOutcome::NotRegistered(status) => {
            let detail = match status {
                SaleStatus::Rejected => "UiTPAS refused this sale's registration: there is nothing to cancel.",
                _ => "This sale is not registered at UiTPAS yet; cancel it once its registration is settled.",
            };
            Problem::ours("not-registered", StatusCode::CONFLICT, "Ticket sale not registered")
                .with_detail(detail)
                .into_response()
        }
    })
}

/// The body of `PATCH /v1/ticket-sales/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketSalePatch {
    /// `true` checks the passholder in at the event (`POST /checkins` at UiTPAS: points).
    pub checked_in: bool,
}

/// Checks the passholder of a ticket sale in at its event.
///
/// Checking in again is not an error. UiTPAS's refusal (e.g. `checkin-not-allowed` outside the
/// event's hours) is passed on with its `endUserMessage`.
#[utoipa::path(
    patch,
    path = "/v1/ticket-sales/{id}",
    tag = "shop",
    operation_id = "patch-ticket-sale",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The ticket sale id (ours, not UiTPAS's)")),
    request_body = TicketSalePatch,
    responses(
        (status = 200, description = "Checked in", body = TicketSale),
        (status = 400, description = "A bad body, or UiTPAS refused the check-in (its problem)", body = Problem, content_type = "application/problem+json"),
        ShopKeyRefused,
        (status = 404, description = "No such ticket sale", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not registered (pending, rejected or cancelled)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn patch_ticket_sale(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<TicketSalePatch>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_sale(&state, &caller, id).await?;
    if !patch.checked_in {
        return Err(ApiError::invalid(
            "/checkedIn",
            "only true is accepted: a check-in is undone by cancelling the sale (DELETE /v1/ticket-sales/{id})",
        ));
    }
    Ok(match retry_on_dead_connection(|| state.ledger.check_in(id)).await? {
        CheckinOutcome::Done(sale) => axum::Json(TicketSale::from(*sale)).into_response(),
        CheckinOutcome::NotFound => return Err(ApiError::NotFound),
        CheckinOutcome::NotRegistered(status) => {
            Problem::ours("not-registered", StatusCode::CONFLICT, "Ticket sale not registered")
                .with_detail(format!(
                    "Only a registered ticket sale can be checked in; this one is {}.",
                    status.as_str()
                ))
                .into_response()
        }
        CheckinOutcome::Refused(problem) => (*problem).into_response(),
        CheckinOutcome::Unavailable(e) => return Err(ApiError::Upstream(e)),
    })
}
