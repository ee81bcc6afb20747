//! Rewards redeemed as part of an order's registration (`rewards` in `POST /v1/registrations`):
//! each one a redemption of its own (exactly once, held, confirmed, released like one made on its
//! own), made under a key derived from the registration's id, so that the registration's
//! `Idempotency-Key` covers them: a retry of the order finds them (or makes the ones a crash left
//! out) instead of redeeming again. They are redeemed once the order's sales are stored and not
//! refused; a hold's rewards are held as long as its sales, and confirmed or released with them.

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::UitpasNumber;
use crate::http::AppState;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::rewards::redemptions::RedemptionView;
use crate::http::rewards::reward_id_of;
use crate::rewards::{HoldOutcome, NewRedemption, RedeemOutcome, Redemption};

/// The most rewards one order redeems.
pub const MAX_REWARDS: usize = 5;

/// A reward to redeem with the order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RewardRequest {
    /// UiTPAS's reward id (from `GET /v1/rewards`).
    #[schema(example = "5687", min_length = 1, max_length = 100)]
    pub reward_id: String,
    #[schema(example = "0900000095902", pattern = "^[0-9]{13}$")]
    pub uitpas_number: String,
}

/// A reward of the order, checked.
#[derive(Debug, Clone)]
pub struct NewReward {
    pub reward_id: String,
    pub uitpas_number: UitpasNumber,
}

/// What became of a reward redeemed with the order: its redemption (`redemption`, with its
/// status: `redeemed`, `held`, `pending`, `rejected` with UiTPAS's problem, …), or, when none
/// was stored, why (`problem`: `redemption-in-progress` when the pass has another unsettled
/// redemption of the reward).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderReward {
    pub reward_id: String,
    pub uitpas_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redemption: Option<RedemptionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

impl From<Redemption> for OrderReward {
    fn from(r: Redemption) -> Self {
        Self {
            reward_id: r.reward_id.clone(),
            uitpas_number: r.uitpas_number.as_str().to_owned(),
            redemption: Some(RedemptionView::from(r)),
            problem: None,
        }
    }
}

/// Checks the order's rewards; their normal form goes into the registration's request (so that a
/// key reused with other rewards is told apart).
pub fn validate(rewards: Option<Vec<RewardRequest>>) -> ApiResult<Vec<NewReward>> {
    let rewards = rewards.unwrap_or_default();
    if rewards.len() > MAX_REWARDS {
        return Err(ApiError::invalid(
            "/rewards",
            format!("at most {MAX_REWARDS} rewards per order"),
        ));
    }
    rewards
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let reward_id = reward_id_of(&r.reward_id)
                .map_err(|_| ApiError::invalid(&format!("/rewards/{i}/rewardId"), "must be UiTPAS's reward id"))?;
            let uitpas_number = UitpasNumber::parse(&r.uitpas_number)
                .map_err(|why| ApiError::invalid(&format!("/rewards/{i}/uitpasNumber"), why.to_string()))?;
            Ok(NewReward {
                reward_id,
                uitpas_number,
            })
        })
        .collect()
}

pub fn normal(rewards: &[NewReward]) -> serde_json::Value {
    json!(
        rewards
            .iter()
            .map(|r| json!({"rewardId": r.reward_id, "uitpasNumber": r.uitpas_number.as_str()}))
            .collect::<Vec<_>>()
    )
}

/// The idempotency key of the `i`-th reward of a registration. A shop's own key never has this
/// form (`POST /v1/reward-redemptions` refuses it).
pub fn key(registration_id: Uuid, i: usize) -> String {
    format!("{KEY_PREFIX}{registration_id}/reward/{i}")
}

pub const KEY_PREFIX: &str = "registration/";

fn keys(registration_id: Uuid) -> Vec<String> {
    (0..MAX_REWARDS).map(|i| key(registration_id, i)).collect()
}

/// Redeems the order's rewards, each exactly once (a retry of the order finds them), as holds
/// for `hold` when the order is a hold.
pub async fn redeem(
    state: &AppState,
    customer_id: Uuid,
    registration_id: Uuid,
    order_id: &str,
    hold: Option<Duration>,
    rewards: &[NewReward],
) -> anyhow::Result<Vec<OrderReward>> {
    let mut outcomes = Vec::with_capacity(rewards.len());
    for (i, reward) in rewards.iter().enumerate() {
        let new = NewRedemption {
            customer_id,
            idempotency_key: key(registration_id, i),
            request: json!({
                "rewardId": reward.reward_id,
                "uitpasNumber": reward.uitpas_number.as_str(),
                "orderId": order_id,
                "hold": hold.map(|ttl| json!({"expiresIn": ttl.as_secs()})),
                "registrationId": registration_id,
            }),
            reward_id: reward.reward_id.clone(),
            uitpas_number: reward.uitpas_number.clone(),
            order_id: Some(order_id.to_owned()),
            registration_id: Some(registration_id),
            hold,
        };
        let outcome = match crate::db::retry_on_dead_connection(|| state.rewards.redeem(new.clone())).await? {
            RedeemOutcome::Stored(redemption) => OrderReward::from(*redemption),
            RedeemOutcome::Rejected(problem) => match problem.redemption_id {
                Some(id) => match state.rewards.redemption(id).await? {
                    Some(redemption) => OrderReward::from(redemption),
                    None => refused(reward, *problem),
                },
                None => refused(reward, *problem),
            },
            RedeemOutcome::Busy(other) => {
                let mut problem = Problem::ours(
                    "redemption-in-progress",
                    StatusCode::CONFLICT,
                    "This pass has an unsettled redemption of this reward",
                )
                .with_detail(
                    "Another redemption of this reward by this pass is not settled yet; this one was not made.",
                );
                problem.redemption_id = (!other.is_nil()).then_some(other);
                refused(reward, problem)
            }
            // The registration's request (with its rewards) matched, so its rewards' do.
            RedeemOutcome::KeyReused => {
                anyhow::bail!("a reward of registration {registration_id} under another request")
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn refused(reward: &NewReward, problem: Problem) -> OrderReward {
    OrderReward {
        reward_id: reward.reward_id.clone(),
        uitpas_number: reward.uitpas_number.as_str().to_owned(),
        redemption: None,
        problem: Some(problem),
    }
}

/// The rewards redeemed with a registration, as they stand.
pub async fn of(state: &AppState, customer_id: Uuid, registration_id: Uuid) -> anyhow::Result<Vec<OrderReward>> {
    let redemptions = state.rewards.by_keys(customer_id, &keys(registration_id)).await?;
    Ok(redemptions.into_iter().map(OrderReward::from).collect())
}

/// Confirms (`confirm`) or releases the holds of the rewards redeemed with a registration whose
/// hold was confirmed or released; those not held (refused, or held no more) are left as they are.
pub async fn end_holds(
    state: &AppState,
    customer_id: Uuid,
    registration_id: Uuid,
    confirm: bool,
) -> anyhow::Result<Vec<OrderReward>> {
    let mut outcomes = Vec::new();
    for redemption in state.rewards.by_keys(customer_id, &keys(registration_id)).await? {
        let id = redemption.id;
        let ended = if confirm {
            state.rewards.confirm(id).await?
        } else {
            state.rewards.release(id).await?
        };
        outcomes.push(OrderReward::from(match ended {
            HoldOutcome::Done(r) | HoldOutcome::Ended(r) => *r,
            _ => redemption,
        }));
    }
    Ok(outcomes)
}
