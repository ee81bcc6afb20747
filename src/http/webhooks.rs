//! `GET /v1/webhook-deliveries`: the webhook events and how their delivery went.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::extract::{Query, page};
use super::problem::{ApiResult, Problem};
use crate::webhooks::Delivery;

const MAX_PAGE: u32 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliverySearch {
    /// Only events not delivered yet (pending or failing).
    pub undelivered: Option<bool>,
    #[param(minimum = 0, maximum = 2147483647)]
    pub start: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub total_items: i64,
    pub member: Vec<Delivery>,
}

/// Webhook events, newest first, with their attempts and the receiver's last answer.
#[utoipa::path(
    get,
    path = "/v1/webhook-deliveries",
    tag = "shop",
    operation_id = "list-webhook-deliveries",
    security(("shopKey" = [])),
    params(DeliverySearch),
    responses(
        (status = 200, description = "The events and their deliveries", body = DeliveryPage),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: super::auth::Caller,
    Query(q): Query<DeliverySearch>,
) -> ApiResult<axum::Json<DeliveryPage>> {
    let (start, limit) = page(q.start, q.limit, MAX_PAGE)?;
    let customer = Some(caller.customer.id);
    let (total, member) =
        crate::webhooks::deliveries(&state.db, customer, q.undelivered.unwrap_or(false), start, limit)
            .await
            .map_err(anyhow::Error::from)?;
    Ok(axum::Json(DeliveryPage {
        total_items: total,
        member,
    }))
}
