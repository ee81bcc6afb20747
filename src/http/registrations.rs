//! `GET /v1/registrations`: a shop's registrations, page by page, like the ticket-sale search.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::extract::Query;
use super::problem::{ApiResult, Problem};
use super::shop::{MAX_PAGE, optional_text};
use super::views::Registration;
use crate::db::retry_on_dead_connection;
use crate::ledger::list::RegistrationFilter;

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
    /// Skip this many (default 0).
    #[param(minimum = 0, maximum = 2147483647)]
    pub start: Option<u32>,
    /// At most this many, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
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
    params(RegistrationSearch),
    responses(
        (status = 200, description = "The matching registrations", body = RegistrationPage),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn list_registrations(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RegistrationSearch>,
) -> ApiResult<axum::Json<RegistrationPage>> {
    let (start, limit) = super::extract::page(q.start, q.limit, MAX_PAGE)?;
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
