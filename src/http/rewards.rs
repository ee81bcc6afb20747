//! `/v1/rewards` and `/v1/reward-redemptions` (shop key): the rewards the customer's organizers
//! offer for UiTPAS points, whether a pass can redeem one, and redemptions made exactly once per
//! `Idempotency-Key`, read, listed and cancelled.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::extract::{Json, MAX_PAGE, Query, optional_text, text, uuid_path};
use super::problem::{ApiError, ApiResult, Problem};
use super::registrations::register::idempotency_key;
use super::tariffs::uitpas_number;
use crate::db::retry_on_dead_connection;
use crate::rewards::{CancelOutcome, NewRedemption, RedeemOutcome, Redemption, RedemptionStatus};
use crate::uitpas::{RedeemInfo, Reward, RewardType};

/// A reward an organizer offers for UiTPAS points.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RewardView {
    /// UiTPAS's reward id.
    #[schema(example = "5687")]
    pub id: String,
    pub title: String,
    /// `POINTS`: bought with points; `WELCOME`: a welcome gift, free once.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "POINTS")]
    pub kind: RewardType,
    /// What it costs in points (none for a welcome reward).
    pub points: Option<f64>,
    pub description: Option<String>,
    /// When it can be redeemed; either end may be open.
    pub redeemable_from: Option<DateTime<Utc>>,
    pub redeemable_until: Option<DateTime<Utc>>,
    /// The organizers where it can be redeemed (UiTPAS organizer ids).
    pub organizer_ids: Vec<String>,
    pub online: Option<bool>,
    pub more_info_url: Option<String>,
    pub pictures: Vec<String>,
}

impl From<&Reward> for RewardView {
    fn from(r: &Reward) -> Self {
        let period = r.granting_period.or(r.redeem_period);
        Self {
            id: r.id.clone(),
            title: r.title.clone(),
            kind: r.kind,
            points: r.points,
            description: r.promotional_description.clone(),
            redeemable_from: period.and_then(|p| p.begin),
            redeemable_until: period.and_then(|p| p.end),
            organizer_ids: r.organizers.iter().map(|o| o.id.clone()).collect(),
            online: r.online,
            more_info_url: r.more_info_url.clone(),
            pictures: r.pictures.clone(),
        }
    }
}

/// The rewards of the customer's organizers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RewardList {
    pub member: Vec<RewardView>,
}

/// Lists the rewards the customer's organizers offer (those UiTPAS's GET /permissions lists for
/// its client), points and welcome rewards, as UiTPAS lists them; cached five minutes.
#[utoipa::path(
    get,
    path = "/v1/rewards",
    tag = "shop",
    operation_id = "list-rewards",
    security(("shopKey" = [])),
    responses(
        (status = 200, description = "The rewards", body = RewardList),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable, or it refused (its problem)", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_rewards(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<RewardList>> {
    let rewards = state.rewards.catalogue(&caller.customer).await?;
    Ok(axum::Json(RewardList {
        member: rewards.iter().map(RewardView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RedeemStatusQuery {
    /// The passholder's UiTPAS number.
    #[param(pattern = "^[0-9]{13}$")]
    pub uitpas_number: Option<String>,
}

/// Whether a pass can redeem a reward now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedeemStatusView {
    pub redeemable: bool,
    /// When not redeemable, UiTPAS's reason: `PASSHOLDER_POINTS` (not enough points),
    /// `PASSHOLDER_VOLUME`, `REWARD_VOLUME`, `REWARD_PERIOD`, `INVALID_CARD`,
    /// `PASSHOLDER_APPLICABLE_CARDSYSTEMS`, `PASSHOLDER_NO_ACTIVE_CARDSYSTEM`, or one added later.
    #[schema(example = "PASSHOLDER_POINTS")]
    pub reason: Option<String>,
    /// UiTPAS's message for the buyer, when not redeemable: show it.
    pub message: Option<String>,
    /// The pass's points balance, when UiTPAS told it.
    pub points_balance: Option<f64>,
    /// What the reward costs in points.
    pub points: Option<f64>,
    pub reward: RewardView,
}

/// Whether a pass can redeem a reward now (UiTPAS's redeem-status, never cached), with the pass's
/// points balance and the reward's cost: show the balance and the cost, and ask the passholder to
/// confirm before redeeming. When not redeemable, show `message`.
#[utoipa::path(
    get,
    path = "/v1/rewards/{rewardId}/redeem-status",
    tag = "shop",
    operation_id = "get-reward-redeem-status",
    security(("shopKey" = [])),
    params(("rewardId" = String, Path, description = "UiTPAS's reward id"), RedeemStatusQuery),
    responses(
        (status = 200, description = "Whether it can be redeemed", body = RedeemStatusView),
        (status = 400, description = "A missing or malformed uitpasNumber, or refused by UiTPAS (its problem, e.g. passholder-not-found)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "UiTPAS refused: the customer lacks REWARDS_REDEEM for the reward's organizer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reward (UiTPAS's reward-not-found)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_redeem_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(reward_id): Path<String>,
    Query(q): Query<RedeemStatusQuery>,
) -> ApiResult<axum::Json<RedeemStatusView>> {
    let reward_id = reward_id_of(&reward_id)?;
    let number = uitpas_number(q.uitpas_number.as_deref())?;
    let check = state.rewards.check(&caller.customer, &reward_id, &number).await?;
    Ok(axum::Json(RedeemStatusView {
        redeemable: check.status.redeemable,
        reason: check.status.reason.filter(|_| !check.status.redeemable),
        message: check.status.message.filter(|_| !check.status.redeemable),
        points_balance: check.points_balance,
        points: check.reward.points,
        reward: RewardView::from(check.reward.as_ref()),
    }))
}

/// A reward id: what UiTPAS names it, within reason.
fn reward_id_of(raw: &str) -> ApiResult<String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 100 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ApiError::invalid(
            "/rewardId",
            "must be UiTPAS's reward id: 1 to 100 letters, digits or dashes",
        ));
    }
    Ok(id.to_owned())
}

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
}

/// A redemption of a reward with UiTPAS points.
#[derive(Debug, Serialize, ToSchema)]
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
    pub redeemed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Redemption> for RedemptionView {
    fn from(r: Redemption) -> Self {
        Self {
            id: r.id,
            reward_id: r.reward_id,
            uitpas_number: r.uitpas_number,
            order_id: r.order_id,
            status: r.status,
            uitpas_redemption_id: r.uitpas_redemption_id,
            reward_title: r.reward_title,
            points: r.points,
            redeem_code: r.redeem_code,
            redeem_info: r.redeem_info,
            problem: r.problem,
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
        (status = 201, description = "Redeemed at UiTPAS", body = RedemptionView),
        (status = 202, description = "Stored; UiTPAS has not confirmed it yet (status pending): the service settles it", body = RedemptionView),
        (status = 400, description = "A malformed request (`invalid-request`), or refused by UiTPAS (its `type`, e.g. `https://api.publiq.be/probs/uitpas/reward-passholder-points-constraint`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "UiTPAS has no such reward (`reward-not-found`); nothing was spent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`redemption-in-progress`: this pass has another unsettled redemption of this reward (`redemptionId`); nothing was stored. Wait for it to settle", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request (`idempotency-key-reused`)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS refused the service itself (its credentials or REWARDS_REDEEM permission): `needs-attention`, with `redemptionId`; nothing is spent until an operator acts", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn post_redemption(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(request): Json<RedemptionRequest>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let reward_id = reward_id_of(&request.reward_id).map_err(|_| {
        ApiError::invalid(
            "/rewardId",
            "must be UiTPAS's reward id: 1 to 100 letters, digits or dashes",
        )
    })?;
    let number = crate::domain::UitpasNumber::parse(&request.uitpas_number)
        .map_err(|why| ApiError::invalid("/uitpasNumber", why.to_string()))?;
    let order_id = optional_text(request.order_id.as_deref(), "/orderId")?;
    let new = NewRedemption {
        customer_id: caller.customer.id,
        idempotency_key: key,
        request: json!({"rewardId": reward_id, "uitpasNumber": number.as_str(), "orderId": order_id}),
        reward_id,
        uitpas_number: number,
        order_id,
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

/// The answer for a stored redemption: 201 redeemed, 202 pending, 502 needs-attention.
fn stored(redemption: Redemption) -> Response {
    let status = match redemption.status {
        RedemptionStatus::Redeemed => StatusCode::CREATED,
        RedemptionStatus::NeedsAttention => return needs_attention(&redemption).into_response(),
        _ => StatusCode::ACCEPTED,
    };
    (status, axum::Json(RedemptionView::from(redemption))).into_response()
}

/// A redemption UiTPAS refused in a way only a person can fix: never a 2xx.
fn needs_attention(redemption: &Redemption) -> Problem {
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
    /// Skip this many (default 0).
    #[param(minimum = 0, maximum = 2147483647)]
    pub start: Option<u32>,
    /// At most this many, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
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
    params(RedemptionSearch),
    responses(
        (status = 200, description = "The redemptions", body = RedemptionPage),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn list_redemptions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RedemptionSearch>,
) -> ApiResult<axum::Json<RedemptionPage>> {
    let (start, limit) = super::extract::page(q.start, q.limit, MAX_PAGE)?;
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
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such redemption", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn get_redemption(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RedemptionView>> {
    let id = uuid_path(&id)?;
    retry_on_dead_connection(|| state.rewards.redemption(id))
        .await?
        .filter(|r| caller.owns(r.customer_id))
        .map(|r| axum::Json(RedemptionView::from(r)))
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
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such redemption", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not-redeemed`: pending or rejected, nothing to cancel (yet)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS refused the cancellation (`needs-attention`): it stays redeemed until an operator acts", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn cancel_redemption(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    let owned = retry_on_dead_connection(|| state.rewards.redemption(id))
        .await?
        .is_some_and(|r| caller.owns(r.customer_id));
    if !owned {
        return Err(ApiError::NotFound);
    }
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
