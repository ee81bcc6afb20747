//! `GET /v1/webhook-deliveries`: the webhook events and how their delivery went; a delivery
//! given up retried on the shop's demand; and what an event's `data` is when it is delivered.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
#[allow(unused_imports)] // named by the OpenAPI path parameters
use uuid::Uuid;

use super::AppState;
use super::extract::{Paging, Search, uuid_path};
use super::problem::{ApiError, ApiResult, Problem};
use super::views;
use crate::activities::Activities;
use crate::http::responses::{BadFilter, ShopKeyRefused};
use crate::ledger::Ledger;
use crate::rewards::Rewards;
use crate::webhooks::deliver::Render;
use crate::webhooks::{Delivery, Resource};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliverySearch {
    /// Only events not delivered yet (pending or failing).
    pub undelivered: Option<bool>,
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
    params(DeliverySearch, Paging),
    responses(
        (status = 200, description = "The events and their deliveries", body = DeliveryPage),
        BadFilter,
        ShopKeyRefused,
    )
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: super::auth::Caller,
    Search {
        filter: q,
        start,
        limit,
    }: Search<DeliverySearch>,
) -> ApiResult<axum::Json<DeliveryPage>> {
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

/// Delivers a given-up event again: its delivery is retried now, with the backoff starting over
/// (and given up again after one more failed attempt).
#[utoipa::path(
    post,
    path = "/v1/webhook-deliveries/{id}/retry",
    tag = "shop",
    operation_id = "retry-webhook-delivery",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The event id (`Webhook-Id`)")),
    responses(
        (status = 202, description = "Due again now: its status reads `failing` until it is delivered", body = Delivery),
        ShopKeyRefused,
        (status = 404, description = "No such event of this customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`delivery-not-failed`: the event was delivered, or is still being retried", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retry_delivery(
    State(state): State<AppState>,
    caller: super::auth::Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<Delivery>)> {
    let id = uuid_path(&id)?;
    let customer = caller.customer.id;
    let retried = crate::webhooks::retry_given_up(&state.db, customer, id)
        .await
        .map_err(anyhow::Error::from)?;
    let delivery = crate::webhooks::delivery(&state.db, customer, id)
        .await
        .map_err(anyhow::Error::from)?
        .ok_or(ApiError::NotFound)?;
    if !retried {
        return Err(ApiError::Problem(Box::new(
            Problem::ours(
                "delivery-not-failed",
                StatusCode::CONFLICT,
                "The delivery was not given up",
            )
            .with_detail(format!(
                "This event is {}: only a delivery given up (`failed`) is retried on demand.",
                delivery.status
            )),
        )));
    }
    tracing::info!(event = %id, "webhook delivery retried by the shop");
    Ok((StatusCode::ACCEPTED, axum::Json(delivery)))
}

/// An event's `data` when it is delivered: its resource as it stands then, as the API shows it.
pub fn render(ledger: Ledger, activities: Activities, rewards: Rewards) -> Render {
    std::sync::Arc::new(move |resource, id| {
        let (ledger, activities, rewards) = (ledger.clone(), activities.clone(), rewards.clone());
        Box::pin(async move {
            Ok(match resource {
                Resource::Registration => {
                    serde_json::to_value(ledger.registration(id).await?.map(views::Registration::from))?
                }
                Resource::TicketSale => {
                    serde_json::to_value(ledger.ticket_sale(id).await?.map(views::TicketSale::from))?
                }
                Resource::Activity => match activities.shop_activity_id(id).await? {
                    Some((customer, shop_id)) => match activities.get(customer, &shop_id).await? {
                        Some(row) => serde_json::json!({
                            "shopActivityId": row.shop_activity_id,
                            "eventId": row.event_id,
                            "url": row.event_url,
                            "status": row.status,
                            "linked": row.linked,
                            "version": row.version,
                            "eventVersion": row.event_version,
                            "eventStatus": row.event_status,
                        }),
                        None => serde_json::Value::Null,
                    },
                    None => serde_json::Value::Null,
                },
                Resource::Redemption => serde_json::to_value(
                    rewards
                        .redemption(id)
                        .await?
                        .map(super::rewards::redemptions::RedemptionView::from),
                )?,
            })
        })
    })
}
