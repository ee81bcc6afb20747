//! `/v1/registrations` (shop key): the sales of an order, registered at UiTPAS exactly once
//! ([`register`]), read one by one, and listed page by page like the ticket-sale search.

pub mod register;
pub mod rewards;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::extract::{Paging, Search, optional_text, uuid_path};
use super::problem::{ApiError, ApiResult, Problem};
use super::views::Registration;
use crate::db::retry_on_dead_connection;
use crate::http::responses::{BadFilter, DatabaseUnavailable, ShopKeyRefused};
use crate::ledger::list::RegistrationFilter;

pub use register::{HoldRequest, OrderIdTaken, RegistrationRequest, TicketRequest};
/// 404 unless registration `id` is the caller's (another customer's is not even said to exist).
pub(super) async fn owned_registration(state: &AppState, caller: &Caller, id: uuid::Uuid) -> ApiResult<()> {
    let owner = retry_on_dead_connection(|| async {
        Ok::<_, anyhow::Error>(
            sqlx::query_scalar!("SELECT customer_id FROM registrations WHERE id = $1", id)
                .fetch_optional(state.ledger.db())
                .await?,
        )
    })
    .await?;
    owner.filter(|o| caller.owns(*o)).map(drop).ok_or(ApiError::NotFound)
}

/// A registration with its status and ticket sales.
#[utoipa::path(
    get,
    path = "/v1/registrations/{id}",
    tag = "shop",
    operation_id = "get-registration",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The registration id")),
    responses(
        (status = 200, description = "The registration", body = Registration),
        ShopKeyRefused,
        (status = 404, description = "No such registration", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn get_registration(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Registration>> {
    let id = uuid_path(&id)?;
    let registration = retry_on_dead_connection(|| state.ledger.registration(id))
        .await?
        .filter(|r| caller.owns(r.customer_id))
        .ok_or(ApiError::NotFound)?;
    let customer_id = registration.customer_id;
    let mut view = Registration::from(registration);
    view.rewards = retry_on_dead_connection(|| rewards::of(&state, customer_id, id)).await?;
    Ok(axum::Json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegistrationSearch {
    /// The shop's order id: every registration made for the order (a rejected or released one
    /// and the one that followed it).
    pub order_id: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// A page of registrations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationPage {
    pub total_items: i64,
    pub member: Vec<Registration>,
}

/// Lists the shop's registrations by order and period, oldest first, each as
/// `GET /v1/registrations/{id}` answers it (its status, hold, problem and ticket sales).
#[utoipa::path(
    get,
    path = "/v1/registrations",
    tag = "shop",
    operation_id = "list-registrations",
    security(("shopKey" = [])),
    params(RegistrationSearch, Paging),
    responses(
        (status = 200, description = "The matching registrations", body = RegistrationPage),
        BadFilter,
        ShopKeyRefused,
        DatabaseUnavailable,
    )
)]
pub async fn list_registrations(
    State(state): State<AppState>,
    caller: Caller,
    Search {
        filter: q,
        start,
        limit,
    }: Search<RegistrationSearch>,
) -> ApiResult<axum::Json<RegistrationPage>> {
    let filter = RegistrationFilter {
        customer_id: caller.customer.id,
        order_id: optional_text(q.order_id.as_deref(), "/orderId")?,
        from: q.from,
        to: q.to,
    };
    let (total, page) = retry_on_dead_connection(|| state.ledger.registrations(&filter, start, limit)).await?;
    Ok(axum::Json(RegistrationPage {
        total_items: total,
        member: page.into_iter().map(Registration::from).collect(),
    }))
}
