//! Redemptions of rewards with UiTPAS points: made exactly once per `Idempotency-Key`, read,
//! listed and cancelled.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::reward_id_of;
use crate::db::retry_on_dead_connection;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::extract::{Json, Paging, Search, optional_text, text, uuid_path};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::registrations::register::{HoldRequest, hold_ttl, idempotency_key};
use crate::http::responses::{BadFilter, DatabaseUnavailable, ShopKeyRefused};
use crate::http::views::Hold;
use crate::rewards::{CancelOutcome, NewRedemption, RedeemOutcome, Redemption, RedemptionStatus};
use crate::uitpas::RedeemInfo;

/// The body of `POST /v1/reward-redemptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedemptionRequest {
    /// UiTPAS's reward id (from `GET /v1/rewards`).
    #[schema(example = "5687", min_length = 1, max_length = 100)]
    pub reward_id: String,
    #[schema(example = "0900000095902", pattern = "^[0-9]{13}$")]
    pub uitpas_number: String,
    /// The shop's order id, to find the redemption by.
    #[schema(example = "order-2026-0042", min_length = 1, max_length = 200)]
    pub order_id: Option<String>,
    /// Redeem now as a hold before payment (publiq's guide: right before payment): confirm it
    /// after payment (`POST /v1/reward-redemptions/{id}/confirm`) or release it when payment
    /// fails (`.../release`, the points come back); a hold not confirmed in time is released by
    /// the service.
    pub hold: Option<HoldRequest>,
}

/// A redemption of a reward with UiTPAS points.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionView {
    /// Ours, not UiTPAS's.
    pub id: uuid::Uuid,
    pub reward_id: String,
    pub uitpas_number: String,
    pub order_id: Option<String>,
    pub status: RedemptionStatus,
    /// UiTPAS's id of the redemption, once confirmed.
    pub uitpas_redemption_id: Option<String>,
    pub reward_title: Option<String>,
    /// The points it cost.
    pub points: Option<f64>,
    /// A code to show the passholder, for rewards that have one.
    pub redeem_code: Option<String>,
    /// What to show the passholder who redeemed.
    #[schema(value_type = Option<Object>)]
    pub redeem_info: Option<RedeemInfo>,
    /// Why UiTPAS refused it (`rejected`), or why it needs a person (`needs-attention`).
    pub problem: Option<Problem>,
    /// A hold before payment: `held`, `confirmed`, `released` or `expired`, and when an
    /// unconfirmed one is released.
    pub hold: Option<Hold>,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Redemption> for RedemptionView {
    fn from(r: Redemption) -> Self {
        Self {
            id: r.id,
            reward_id: r.reward_id,
            uitpas_number: r.uitpas_number.as_str().to_owned(),
            order_id: r.order_id,
            status: r.status,
            uitpas_redemption_id: r.uitpas_redemption_id,
            reward_title: r.reward_title,
            points: r.points,
            redeem_code: r.redeem_code,
            redeem_info: r.redeem_info,
            problem: r.problem,
            hold: r.hold.map(Hold::from),
            redeemed_at: r.redeemed_at,
            cancelled_at: r.cancelled_at,
            created_at: r.created_at,
        }
    }
}

/// Redeems a reward for a pass with its UiTPAS points, exactly once per `Idempotency-Key`.
///
/// Check `GET /v1/rewards/{rewardId}/redeem-status` first and ask the passholder to confirm.
/// 201: UiTPAS confirmed it (the points are spent). 202: stored, UiTPAS's answer is not known yet
/// (lost, or UiTPAS unreachable): the service settles it, never redeeming twice; read it again
/// later. A 4xx problem: UiTPAS refused it (not enough points, a limit reached, an expired
/// reward; a group pass cannot redeem), nothing is spent; show its `endUserMessage`. The same key
/// and body again get the same answer; the same key with another body gets 422.
#[utoipa::path(
    post,
    path = "/v1/reward-redemptions",
    tag = "shop",
    operation_id = "post-reward-redemption",
    security(("shopKey" = [])),
    params(("Idempotency-Key" = String, Header, description = "A unique key per redemption; reuse it when retrying")),
    request_body = RedemptionRequest,
    responses(
        (status = 201, description = "Redeemed at UiTPAS (status redeemed; or held, for a hold: confirm it after payment)", body = RedemptionView),
        (status = 202, description = "Stored; UiTPAS has not confirmed it yet (status pending): the service settles it", body = RedemptionView),
        (status = 400, description = "A malformed request (`invalid-request`), or refused by UiTPAS (its `type`, e.g. `https://api.publiq.be/probs/uitpas/reward-passholder-points-constraint`)", body = Problem, content_type = "application/problem+json"),
        ShopKeyRefused,
        (status = 404, description = "UiTPAS has no such reward (`reward-not-found`); nothing was spent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`redemption-in-progress`: this pass has another unsettled redemption of this reward (`redemptionId`); nothing was stored. Wait for it to settle", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request (`idempotency-key-reused`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS refused the service itself (its credentials or REWARDS_REDEEM permission): `needs-attention`, with `redemptionId`; nothing is spent until an operator acts", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn post_redemption(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(request): Json<RedemptionRequest>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    if key.starts_with(crate::http::registrations::rewards::KEY_PREFIX) {
        return Err(ApiError::invalid(
            "/headers/Idempotency-Key",
            "must not start with `registration/`: those keys are the service's own, for the rewards of an order",
        ));
    }
    let reward_id = reward_id_of(&request.reward_id)?;
    let number = crate::domain::UitpasNumber::parse(&request.uitpas_number)
        .map_err(|why| ApiError::invalid("/uitpasNumber", why.to_string()))?;
    let order_id = optional_text(request.order_id.as_deref(), "/orderId")?;
    let hold = hold_ttl(request.hold.as_ref(), state.config.hold_ttl.0)?;
    let new = NewRedemption {
        customer_id: caller.customer.id,
        idempotency_key: key,
        request: json!({
            "rewardId": reward_id,
            "uitpasNumber": number.as_str(),
            "orderId": order_id,
            "hold": hold.map(|ttl| json!({"expiresIn": ttl.as_secs()})),
        }),
        reward_id,
        uitpas_number: number,
        order_id,
        registration_id: None,
        hold,
    };
    Ok(
        match retry_on_dead_connection(|| state.rewards.redeem(new.clone())).await? {
            RedeemOutcome::Stored(redemption) => stored(*redemption),
            RedeemOutcome::Rejected(problem) => problem.into_response(),
            RedeemOutcome::Busy(other) => {
                let mut problem = Problem::ours(
                "redemption-in-progress",
                StatusCode::CONFLICT,
                "This pass has an unsettled redemption of this reward",
            )
            .with_detail(
                "Another redemption of this reward by this pass (redemptionId) is not settled yet; nothing was stored. \
                 Wait until it is (GET /v1/reward-redemptions/{id}), then redeem again if the passholder still wants to.",
            );
                problem.redemption_id = (!other.is_nil()).then_some(other);
                problem.into_response()
            }
            RedeemOutcome::KeyReused => Problem::ours(
                "idempotency-key-reused",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency-Key reused",
            )
            .with_detail("This Idempotency-Key was used for another request; use a new key for a new redemption.")
            .into_response(),
        },
    )
}

/// The answer for a stored redemption: 201 redeemed (or held), 202 pending, 502 needs-attention.
fn stored(redemption: Redemption) -> Response {
    let status = match redemption.status {
        RedemptionStatus::Redeemed | RedemptionStatus::Held => StatusCode::CREATED,
        RedemptionStatus::NeedsAttention => return needs_attention(&redemption).into_response(),
        _ => StatusCode::ACCEPTED,
    };
    (status, axum::Json(RedemptionView::from(redemption))).into_response()
}

/// A redemption UiTPAS refused in a way only a person can fix: never a 2xx.
pub(super) fn needs_attention(redemption: &Redemption) -> Problem {
    let why = redemption.problem.as_ref().map_or_else(
        || "UiTPAS refused the service".to_owned(),
        |p| p.detail.clone().unwrap_or_else(|| p.title.clone()),
    );
    let mut problem = Problem::ours(
        "needs-attention",
        StatusCode::BAD_GATEWAY,
        "UiTPAS refused the service: an operator must act",
    )
    .with_detail(format!(
        "{why} Nothing is redeemed until an operator fixes the cause; asking again with the same Idempotency-Key \
         answers its state then."
    ));
    problem.end_user_message = Some(crate::uitpas::EndUserMessage {
        nl: "Je UiTPAS-punten kunnen nu niet ingeruild worden. Probeer later opnieuw.".into(),
        fr: Some("Vos points UiTPAS ne peuvent pas être échangés pour le moment. Réessayez plus tard.".into()),
        de: None,
        en: Some("Your UiTPAS points cannot be redeemed right now. Try again later.".into()),
    });
    problem.redemption_id = Some(redemption.id);
    problem
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RedemptionSearch {
    /// The passholder's UiTPAS number.
    #[param(pattern = "^[0-9]{13}$")]
    pub uitpas_number: Option<String>,
    /// The shop's order id.
    pub order_id: Option<String>,
}

/// A page of redemptions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionPage {
    pub total_items: i64,
    pub member: Vec<RedemptionView>,
}

/// Lists the customer's redemptions, newest first, by pass or order.
#[utoipa::path(
    get,
    path = "/v1/reward-redemptions",
    tag = "shop",
    operation_id = "list-reward-redemptions",
    security(("shopKey" = [])),
    params(RedemptionSearch, Paging),
    responses(
        (status = 200, description = "The redemptions", body = RedemptionPage),
        BadFilter,
        ShopKeyRefused,
        DatabaseUnavailable,
    )
)]
pub async fn list_redemptions(
    State(state): State<AppState>,
    caller: Caller,
    Search {
        filter: q,
        start,
        limit,
    }: Search<RedemptionSearch>,
) -> ApiResult<axum::Json<RedemptionPage>> {
    let number = q
        .uitpas_number
        .as_deref()
        .map(|n| {
            crate::domain::UitpasNumber::parse(n).map_err(|why| ApiError::invalid("/uitpasNumber", why.to_string()))
        })
        .transpose()?;
    let order_id = q.order_id.as_deref().map(|o| text(o, "/orderId")).transpose()?;
    let (total, redemptions) = retry_on_dead_connection(|| {
        state.rewards.list(
            caller.customer.id,
            number.as_ref().map(|n| n.as_str()),
            order_id.as_deref(),
            start,
            limit,
        )
    })
    .await?;
    Ok(axum::Json(RedemptionPage {
        total_items: total,
        member: redemptions.into_iter().map(RedemptionView::from).collect(),
    }))
}

/// One redemption.
#[utoipa::path(
    get,
    path = "/v1/reward-redemptions/{id}",
    tag = "shop",
    operation_id = "get-reward-redemption",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The redemption id (ours, not UiTPAS's)")),
    responses(
        (status = 200, description = "The redemption", body = RedemptionView),
        ShopKeyRefused,
        (status = 404, description = "No such redemption", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn get_redemption(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RedemptionView>> {
    let id = uuid_path(&id)?;
    Ok(axum::Json(RedemptionView::from(
        owned_redemption(&state, &caller, id).await?,
    )))
}

/// Redemption `id`, when it is the caller's; 404 otherwise.
pub(super) async fn owned_redemption(state: &AppState, caller: &Caller, id: uuid::Uuid) -> ApiResult<Redemption> {
    retry_on_dead_connection(|| state.rewards.redemption(id))
        .await?
        .filter(|r| caller.owns(r.customer_id))
        .ok_or(ApiError::NotFound)
}

/// Cancels a redemption at UiTPAS: the points come back (a refund, or a buyer who did not buy).
///
/// 204: cancelled (also when it already was). 202: UiTPAS could not be reached; the cancellation
/// is stored and replayed until UiTPAS confirms it. 409: not redeemed (pending or rejected).
#[utoipa::path(
    delete,
    path = "/v1/reward-redemptions/{id}",
    tag = "shop",
    operation_id = "cancel-reward-redemption",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The redemption id (ours, not UiTPAS's)")),
    responses(
        (status = 204, description = "Cancelled at UiTPAS"),
        (status = 202, description = "Stored; the cancellation will be replayed until UiTPAS confirms it", body = RedemptionView),
        ShopKeyRefused,
        (status = 404, description = "No such redemption", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not-redeemed`: pending or rejected, nothing to cancel (yet)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS refused the cancellation (`needs-attention`): it stays redeemed until an operator acts", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn cancel_redemption(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_redemption(&state, &caller, id).await?;
    Ok(match retry_on_dead_connection(|| state.rewards.cancel(id)).await? {
        CancelOutcome::Cancelled => StatusCode::NO_CONTENT.into_response(),
        CancelOutcome::Pending(redemption) => match redemption.status {
            RedemptionStatus::NeedsAttention => needs_attention(&redemption).into_response(),
            _ => (StatusCode::ACCEPTED, axum::Json(RedemptionView::from(*redemption))).into_response(),
        },
        CancelOutcome::NotFound => return Err(ApiError::NotFound),
        CancelOutcome::NotRedeemed(status) => {
            let detail = match status {
                RedemptionStatus::Rejected => "UiTPAS refused this redemption: nothing was spent, nothing to cancel.",
                _ => "This redemption is not settled yet; cancel it once it is redeemed.",
            };
            Problem::ours("not-redeemed", StatusCode::CONFLICT, "Redemption not redeemed")
                .with_detail(detail)
                .into_response()
        }
    })
}
