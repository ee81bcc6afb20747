//! The rewards a pass could spend its points on, for a cart's quote: bounded, so that a quote never
//! asks UiTPAS once per reward of the catalogue.
//!
//! The catalogue is the customer's, cached ([`Rewards::catalogue`]); the balance is read once
//! (never cached); only the points rewards the balance can pay are asked about with UiTPAS's
//! `redeem-status`, and at most [`MAX_OFFER_CHECKS`] of them, concurrently. A reward the balance
//! cannot pay is `PASSHOLDER_POINTS` without asking; one beyond the bound is left unchecked.

use futures::StreamExt;

use super::Rewards;
use crate::customers::Customer;
use crate::domain::UitpasNumber;
use crate::uitpas::{Reward, RewardType, UpstreamError};

/// At most this many `redeem-status` checks for one quote.
pub const MAX_OFFER_CHECKS: usize = 3;
/// UiTPAS's reason for a balance below the cost.
pub const PASSHOLDER_POINTS: &str = "PASSHOLDER_POINTS";

/// What a quote will ask: the rewards to check (at most [`MAX_OFFER_CHECKS`]), the others the
/// balance could pay (unchecked) and those it cannot, each in the catalogue's order.
#[derive(Debug, Default)]
pub struct OfferPlan {
    pub to_check: Vec<Reward>,
    pub unchecked: Vec<Reward>,
    pub too_dear: Vec<Reward>,
}

/// One reward as the quote offers it.
#[derive(Debug, Clone)]
pub struct Offer {
    pub reward: Reward,
    /// UiTPAS's `redeem-status` was asked for it in this quote.
    pub checked: bool,
    pub redeemable: bool,
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl Rewards {
    /// The pass's points balance (`GET /passes`, never cached: personal data); none is 0.
    pub async fn balance(&self, customer: &Customer, number: &UitpasNumber) -> Result<f64, UpstreamError> {
        Ok(customer.client.points_of(number).await?.points.unwrap_or(0.0))
    }

    /// Splits the customer's points rewards by what `balance` can pay, first ones checked.
    pub async fn offer_plan(&self, customer: &Customer, balance: f64) -> Result<OfferPlan, UpstreamError> {
        Ok(plan_of(&self.catalogue(customer).await?, balance))
    }

    /// Asks UiTPAS's `redeem-status` for the plan's rewards to check (concurrently, a few at a
    /// time); a check that fails leaves its reward unchecked. In the catalogue's order: the
    /// checked, the unchecked, then those the balance cannot pay.
    pub async fn offers(&self, customer: &Customer, number: &UitpasNumber, plan: OfferPlan) -> Vec<Offer> {
        let client = &*customer.client;
        let checked: Vec<Offer> = futures::stream::iter(plan.to_check)
            .map(|reward| async move {
                match client.redeem_status(&reward.id, number).await {
                    Ok(status) => Offer {
                        checked: true,
                        redeemable: status.redeemable,
                        reason: status.reason.filter(|_| !status.redeemable),
                        message: status.message.filter(|_| !status.redeemable),
                        reward,
                    },
                    Err(e) => {
                        tracing::info!(error = %e, reward_id = %reward.id, "a quote's reward not checked");
                        unchecked(reward)
                    }
                }
            })
            .buffered(MAX_OFFER_CHECKS)
            .collect()
            .await;
        let mut offers = checked;
        offers.extend(plan.unchecked.into_iter().map(unchecked));
        offers.extend(plan.too_dear.into_iter().map(|reward| Offer {
            reward,
            checked: false,
            redeemable: false,
            reason: Some(PASSHOLDER_POINTS.to_owned()),
            message: None,
        }));
        offers
    }
}

/// The points rewards of `catalogue` by what `balance` can pay: the first [`MAX_OFFER_CHECKS`] it
/// can pay to check, the rest it can pay unchecked, and those it cannot.
fn plan_of(catalogue: &[Reward], balance: f64) -> OfferPlan {
    let mut plan = OfferPlan::default();
    for reward in catalogue.iter().filter(|r| r.kind == RewardType::Points) {
        let cost = reward.points.unwrap_or(0.0);
        if cost > balance {
            plan.too_dear.push(reward.clone());
        } else if plan.to_check.len() < MAX_OFFER_CHECKS {
            plan.to_check.push(reward.clone());
        } else {
            plan.unchecked.push(reward.clone());
        }
    }
    plan
}

fn unchecked(reward: Reward) -> Offer {
    Offer {
        reward,
        checked: false,
        redeemable: false,
        reason: None,
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reward(id: &str, kind: &str, points: f64) -> Reward {
        serde_json::from_value(serde_json::json!({"id": id, "title": id, "type": kind, "points": points})).unwrap()
    }

    #[test]
    fn at_most_three_rewards_the_balance_can_pay_are_checked_and_welcome_rewards_are_left_out() {
        let catalogue = [
            reward("a", "POINTS", 1.0),
            reward("welcome", "WELCOME", 0.0),
            reward("dear", "POINTS", 50.0),
            reward("b", "POINTS", 2.0),
            reward("c", "POINTS", 3.0),
            reward("d", "POINTS", 4.0),
        ];
        let plan = plan_of(&catalogue, 4.0);
        let ids = |rewards: &[Reward]| rewards.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&plan.to_check), ["a", "b", "c"]);
        assert_eq!(ids(&plan.unchecked), ["d"]);
        assert_eq!(ids(&plan.too_dear), ["dear"]);
        let none = plan_of(&catalogue, 0.0);
        assert!(none.to_check.is_empty() && none.unchecked.is_empty());
        assert_eq!(none.too_dear.len(), 5);
    }
}
