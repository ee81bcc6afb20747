//! `/v1/rewards` and `/v1/reward-redemptions` (shop key): the rewards the customer's organizers
//! offer for UiTPAS points and whether a pass can redeem one (here); redemptions made exactly
//! once per `Idempotency-Key`, read, listed and cancelled ([`redemptions`]); held before payment,
//! confirmed or released ([`holds`]); retried or abandoned when they need a person ([`attention`]).

pub mod attention;
pub mod holds;
pub mod redemptions;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::extract::Query;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::ratelimit::CustomerLimit;
use crate::http::responses::ShopKeyRefused;
use crate::http::tariffs::uitpas_number;
use crate::uitpas::{Reward, RewardType};

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
        ShopKeyRefused,
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
/// confirm before redeeming. When not redeemable, show `message`. A points balance is personal
/// data: each check costs one of the customer's `REWARDS_RATE_LIMIT` a minute (a malformed request
/// costs nothing).
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
        ShopKeyRefused,
        (status = 403, description = "UiTPAS refused: the customer lacks REWARDS_REDEEM for the reward's organizer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reward (UiTPAS's reward-not-found)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The customer's redeem-status checks are over `REWARDS_RATE_LIMIT` a minute (`rate-limited`; it tells a pass's points balance); retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_redeem_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(reward_id): Path<String>,
    Query(q): Query<RedeemStatusQuery>,
) -> ApiResult<Response> {
    let reward_id = reward_id_of(&reward_id)?;
    let number = uitpas_number(q.uitpas_number.as_deref())?;
    if let Some(refused) = CustomerLimit::refusal(state.rewards_limit.as_ref(), caller.customer.id) {
        return Ok(refused);
    }
    let check = state.rewards.check(&caller.customer, &reward_id, &number).await?;
    Ok(axum::Json(RedeemStatusView {
        redeemable: check.status.redeemable,
        reason: check.status.reason.filter(|_| !check.status.redeemable),
        message: check.status.message.filter(|_| !check.status.redeemable),
        points_balance: check.points_balance,
        points: check.reward.points,
        reward: RewardView::from(check.reward.as_ref()),
    })
    .into_response())
}

/// A reward id: what UiTPAS names it, within reason.
pub(in crate::http) fn reward_id_of(raw: &str) -> ApiResult<String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 100 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ApiError::invalid(
            "/rewardId",
            "must be UiTPAS's reward id: 1 to 100 letters, digits or dashes",
        ));
    }
    Ok(id.to_owned())
}
