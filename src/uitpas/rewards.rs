//! UiTPAS rewards ("pay with UiTPAS points"): an organizer's rewards, whether a pass can redeem
//! one, redeeming (`POST /rewards/redeemed`, behind a [`SendGate`]), a pass's redemptions, and
//! cancelling one. Redeeming and cancelling need `REWARDS_REDEEM` for the reward's organizer,
//! reading redemptions `REWARDS_READ`.
//!
//! Like `POST /ticket-sales`, redeeming takes no reference of the caller's: a lost answer is
//! settled by reading the pass's redemptions ([`UitpasClient::redemptions_of_pass`]).

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Gated, SendGate, UitpasClient, UpstreamError, urlencode_segment};
use crate::domain::UitpasNumber;

impl UitpasClient {
    /// `GET /rewards?organizerId=…&type=ANY`: one page of the rewards these organizers offer.
    pub async fn rewards(&self, organizers: &[&str], start: u32, limit: u32) -> Result<RewardPage, UpstreamError> {
        let (start, limit) = (start.to_string(), limit.to_string());
        let mut query: Vec<(&str, &str)> = organizers.iter().map(|o| ("organizerId", *o)).collect();
        query.extend([("type", "ANY"), ("start", start.as_str()), ("limit", limit.as_str())]);
        self.call("get-rewards", Method::GET, &self.api("/rewards"), &query, None)
            .await
    }

    /// `GET /rewards/{rewardId}`: one reward.
    pub async fn reward(&self, reward_id: &str) -> Result<Reward, UpstreamError> {
        let url = self.api(&format!("/rewards/{}", urlencode_segment(reward_id)));
        self.call("get-rewards-id", Method::GET, &url, &[], None).await
    }

    /// `GET /rewards/{rewardId}/redeem-status?uitpasNumber=`: whether the pass can redeem it now.
    pub async fn redeem_status(&self, reward_id: &str, number: &UitpasNumber) -> Result<RedeemStatus, UpstreamError> {
        let url = self.api(&format!("/rewards/{}/redeem-status", urlencode_segment(reward_id)));
        let query = [("uitpasNumber", number.as_str())];
        self.call("get-rewards-id-redeem-status", Method::GET, &url, &query, None)
            .await
    }

    /// `POST /rewards/redeemed`: the pass spends its points on the reward. Not idempotent: a lost
    /// answer leaves the outcome unknown, to be settled with [`Self::redemptions_of_pass`].
    ///
    /// `gate` opens right before the request is written, with the token in hand (see [`super::gate`]).
    pub async fn redeem<G: SendGate>(
        &self,
        reward_id: &str,
        number: &UitpasNumber,
        gate: &mut G,
    ) -> Gated<RedeemedReward, G::Error> {
        let body = serde_json::json!({"rewardId": reward_id, "uitpasNumber": number.as_str()});
        self.call_gated(
            "post-rewards-redeemed",
            Method::POST,
            &self.api("/rewards/redeemed"),
            &[],
            Some(&body),
            gate,
        )
        .await
    }

    /// `GET /rewards/redeemed?uitpasNumber=&start=&limit=`: one page of a pass's redemptions
    /// (cancelled ones are not listed).
    pub async fn redemptions_of_pass(
        &self,
        number: &UitpasNumber,
        start: u32,
        limit: u32,
    ) -> Result<RedeemedRewardPage, UpstreamError> {
        let (start, limit) = (start.to_string(), limit.to_string());
        let query = [
            ("uitpasNumber", number.as_str()),
            ("start", start.as_str()),
            ("limit", limit.as_str()),
        ];
        self.call(
            "get-rewards-redeemed",
            Method::GET,
            &self.api("/rewards/redeemed"),
            &query,
            None,
        )
        .await
    }

    /// `DELETE /rewards/redeemed/{redeemedRewardId}`: the points come back. A replay is answered
    /// 404 (already cancelled), which the caller reads as done. `gate` opens right before the
    /// request is written.
    pub async fn cancel_redemption<G: SendGate>(&self, redeemed_id: &str, gate: &mut G) -> Gated<(), G::Error> {
        let url = self.api(&format!("/rewards/redeemed/{}", urlencode_segment(redeemed_id)));
        self.call_no_content("delete-rewards-redeemed-redeemedRewardId", Method::DELETE, &url, gate)
            .await
    }
}

/// A reward as UiTPAS describes it, as far as a checkout uses it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reward {
    #[serde(default)]
    pub id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: RewardType,
    #[serde(default)]
    pub promotional_description: Option<String>,
    /// What it costs in points (none for a welcome reward).
    #[serde(default)]
    pub points: Option<f64>,
    #[serde(default)]
    pub granting_period: Option<Period>,
    #[serde(default)]
    pub redeem_period: Option<Period>,
    #[serde(default)]
    pub organizers: Vec<RewardOrganizer>,
    #[serde(default)]
    pub more_info_url: Option<String>,
    #[serde(default)]
    pub practical_info: Option<String>,
    #[serde(default)]
    pub pictures: Vec<String>,
    #[serde(default)]
    pub online: Option<bool>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A period; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct Period {
    #[serde(default)]
    pub begin: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
}

/// An organizer where a reward can be redeemed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RewardOrganizer {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RewardType {
    Points,
    Welcome,
    /// A type publiq adds later: read, never a reason to misread a redemption's answer.
    #[serde(other)]
    Other,
}

/// A page of rewards.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RewardPage {
    #[serde(default)]
    pub total_items: u64,
    #[serde(default)]
    pub member: Vec<Reward>,
}

/// Whether a pass can redeem a reward now; when not, why, with the message to show.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeemStatus {
    pub redeemable: bool,
    /// One of publiq's reasons (`PASSHOLDER_POINTS`, `PASSHOLDER_VOLUME`, `REWARD_PERIOD`, …);
    /// kept as text, so that a reason added later still reaches the buyer.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// A redemption at UiTPAS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeemedReward {
    pub id: String,
    pub reward: Reward,
    pub redeem_date: DateTime<Utc>,
    #[serde(default)]
    pub redeem_info: Option<RedeemInfo>,
    #[serde(default)]
    pub redeem_code: Option<String>,
}

/// What to show the passholder who redeemed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct RedeemInfo {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
}

/// A page of a pass's redemptions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeemedRewardPage {
    #[serde(default)]
    pub total_items: u64,
    #[serde(default)]
    pub member: Vec<RedeemedReward>,
}

impl UitpasClient {
    /// `GET /passes?identifier=`, for the points balance only (personal data: never cached, never
    /// shown to anyone but the shop that asks for its buyer).
    pub async fn points_of(&self, number: &UitpasNumber) -> Result<PassPoints, UpstreamError> {
        let query = [("identifier", number.as_str())];
        self.call("get-passes", Method::GET, &self.api("/passes"), &query, None)
            .await
    }
}

/// A pass's points balance.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PassPoints {
    #[serde(default)]
    pub points: Option<f64>,
}
