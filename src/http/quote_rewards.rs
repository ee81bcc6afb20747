//! The `rewards` part of a quote (`POST /v1/quotes` with `rewards: true`): the rewards the quote's
//! pass could spend its points on, with its balance. See [`crate::rewards::offers`] for the bound.
//!
//! The balance is personal data, and the quote is public: it is given only for the quote's own
//! pass (the top-level number, else the first line's), which has passed the same gate as its
//! social-tariff status (a checkout token's events and `maxPasses`, the origin), and it costs the
//! rate limit one unit more (charged with the quote's), plus one per `redeem-status` check (over
//! the limit, the rewards are left unchecked): a quote with rewards answers fewer passes a second
//! than a pass lookup, never more. It is never cached or logged.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Caller, charge};
use super::problem::{ApiError, Problem};
use crate::cache::PassStatus;
use crate::domain::UitpasNumber;
use crate::rewards::offers::Offer;
use crate::uitpas::PassType;

/// UiTPAS's reason for a card that cannot redeem (a group pass, a blocked card).
const INVALID_CARD: &str = "INVALID_CARD";
const GROUP_PASS_MESSAGE: &str = "Met een groepspas kan je geen voordelen omruilen.";

/// The rewards the quote's pass could spend its points on.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotedRewards {
    /// The pass these rewards are for: the top-level `uitpasNumber`, else the first line's.
    pub uitpas_number: String,
    /// False when the pass cannot redeem rewards at all: a group pass (`reason` `INVALID_CARD`).
    /// UiTPAS is then not asked, and `rewards` is empty.
    pub can_redeem: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "INVALID_CARD")]
    pub reason: Option<String>,
    /// The message to show the buyer when `canRedeem` is false (Dutch, like UiTPAS's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The pass's points balance (personal data: show it to the buyer, never keep or log it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_balance: Option<f64>,
    /// The customer's points rewards: first those asked about (at most 3, among those the
    /// balance can pay), then those the balance could pay that were not asked about, then those
    /// it cannot pay (`reason` `PASSHOLDER_POINTS`, found without asking UiTPAS).
    pub rewards: Vec<QuotedReward>,
    /// Why the balance or the rewards could not be read (UiTPAS's problem, or 429 `rate-limited`
    /// past the customer's `REWARDS_RATE_LIMIT`); the rest of the quote stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

/// A reward and whether the pass can redeem it now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotedReward {
    #[schema(example = "5687")]
    pub id: String,
    pub title: String,
    /// What it costs in points.
    pub points: Option<f64>,
    pub online: Option<bool>,
    /// Whether UiTPAS's `redeem-status` was asked for it in this quote. An unchecked reward the
    /// balance can pay may still be refused: ask `GET /v1/rewards/{id}/redeem-status` from the
    /// shop backend, or redeem it and show the refusal.
    pub checked: bool,
    /// True only when UiTPAS said so now: offer it.
    pub redeemable: bool,
    /// UiTPAS's reason when not redeemable: `PASSHOLDER_POINTS`, `PASSHOLDER_VOLUME`,
    /// `REWARD_VOLUME`, `REWARD_PERIOD`, `INVALID_CARD`, or one added later.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "PASSHOLDER_VOLUME")]
    pub reason: Option<String>,
    /// UiTPAS's message for the buyer, when it was asked and said no: show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<Offer> for QuotedReward {
    fn from(offer: Offer) -> Self {
        Self {
            id: offer.reward.id,
            title: offer.reward.title,
            points: offer.reward.points,
            online: offer.reward.online,
            checked: offer.checked,
            redeemable: offer.redeemable,
            reason: offer.reason,
            message: offer.message,
        }
    }
}

/// The rewards part of a quote for `number`, whose status the quote already read (and charged).
pub async fn quote_rewards(
    state: &AppState,
    caller: &Caller,
    number: &UitpasNumber,
    pass: &PassStatus,
) -> QuotedRewards {
    let mut answer = QuotedRewards {
        uitpas_number: number.as_str().to_owned(),
        can_redeem: true,
        reason: None,
        message: None,
        points_balance: None,
        rewards: Vec::new(),
        problem: None,
    };
    if pass.pass_type == PassType::Group {
        answer.can_redeem = false;
        answer.reason = Some(INVALID_CARD.to_owned());
        answer.message = Some(GROUP_PASS_MESSAGE.to_owned());
        return answer;
    }
    // A balance is what a reward's redeem-status tells: the customer's REWARDS_RATE_LIMIT bounds
    // both doors together, whatever key or token asks (the public budgets alone allow thousands
    // of quotes a minute).
    if let Some(limit) = state.rewards_limit.as_ref()
        && let Err(retry_after_s) = limit.check(caller.customer.id)
    {
        answer.problem = Some(
            Problem::ours("rate-limited", StatusCode::TOO_MANY_REQUESTS, "Too many requests").with_detail(format!(
                "This customer's passes' points balances were asked faster than REWARDS_RATE_LIMIT allows (per minute); \
                 the rewards part is left out, the rest of the quote stands. Retry after {retry_after_s} s."
            )),
        );
        return answer;
    }
    // The balance's unit was charged with the quote's; each check is charged before it is made.
    let customer = &caller.customer;
    let planned = async {
        let balance = state.rewards.balance(customer, number).await?;
        let plan = state.rewards.offer_plan(customer, balance).await?;
        Ok::<_, crate::uitpas::UpstreamError>((balance, plan))
    };
    let (balance, mut plan) = match planned.await {
        Ok(planned) => planned,
        Err(e) => {
            tracing::info!(error = %e, "no rewards for a quote");
            answer.problem = Some(ApiError::Upstream(e).problem());
            return answer;
        }
    };
    answer.points_balance = Some(balance);
    let checks = u32::try_from(plan.to_check.len()).unwrap_or(u32::MAX);
    if checks > 0 && charge(state, caller, checks).is_err() {
        // Over the rate limit: the rewards stay unchecked rather than failing the whole quote.
        let to_check = std::mem::take(&mut plan.to_check);
        plan.unchecked.splice(0..0, to_check);
    }
    let offers = state.rewards.offers(customer, number, plan).await;
    answer.rewards = offers.into_iter().map(QuotedReward::from).collect();
    answer
}
