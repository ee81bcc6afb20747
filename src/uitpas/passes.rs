//! UiTPAS passes and tariffs: `GET /passes?identifier=`, `GET /tariffs`, `GET /tariffs/static`.
//!
//! A pass is looked up with `GET /passes?identifier=` (`get-passes`) and its UiTPAS number;
//! `GET /passes/{uitpasNumber}` (`get-passes-uitpasNumber`), deprecated by publiq since
//! 2026-03-24, is never called.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{EndUserMessage, UitpasClient, UpstreamError};
use crate::domain::{Money, UitpasNumber};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PassType {
    Individual,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SocialTariffStatus {
    Active,
    Expired,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocialTariff {
    pub status: SocialTariffStatus,
    /// Informative only: the status decides (it can stay ACTIVE past this date, a grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageLevel {
    Info,
    Warn,
    Error,
}

/// A message UiTPAS says must be shown to the buyer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct PassMessage {
    pub level: MessageLevel,
    pub text: String,
}

/// The part of `GET /passes?identifier=` a checkout needs. The personal fields (name, points,
/// postal code, passholder id) are not even read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pass {
    pub pass_type: PassType,
    pub social_tariff: SocialTariff,
    #[serde(default)]
    pub messages: Vec<PassMessage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffType {
    Socialtariff,
    Coupon,
}

/// A discounted tariff and how many more tickets a pass may buy at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AvailableTariff {
    pub id: String,
    pub name: String,
    /// Price in euros.
    #[schema(value_type = f64, example = 2.0)]
    pub price: Money,
    #[serde(rename = "type")]
    pub kind: TariffType,
    pub remaining: u32,
}

/// `GET /tariffs` and `GET /tariffs/static`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tariffs {
    #[serde(default)]
    pub available: Vec<AvailableTariff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user_message: Option<EndUserMessage>,
}

/// The `type` filter of `GET /tariffs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffFilter {
    #[default]
    Any,
    Socialtariff,
    Coupon,
}

impl TariffFilter {
    fn as_str(self) -> &'static str {
        match self {
            TariffFilter::Any => "ANY",
            TariffFilter::Socialtariff => "SOCIALTARIFF",
            TariffFilter::Coupon => "COUPON",
        }
    }
}

impl UitpasClient {
    /// A pass by its UiTPAS number: `GET /passes?identifier=<number>` (`get-passes`), which
    /// answers one pass, or 404 `pass-not-found` for a number UiTPAS does not know (as the
    /// deprecated `GET /passes/{uitpasNumber}` did). A card that is not active is refused with 400
    /// `invalid-card-status` and its `cardStatus` (e.g. `BLOCKED`), which reaches the buyer's
    /// problem. The number travels in the query string; errors carry no URL and metrics only the
    /// operation, so it is never logged.
    pub async fn pass(&self, number: &UitpasNumber) -> Result<Pass, UpstreamError> {
        let query = [("identifier", number.as_str())];
        self.call("get-passes", Method::GET, &self.api("/passes"), &query, None)
            .await
    }

    /// `GET /tariffs`: the tariffs a pass may pay for an event at a regular price.
    pub async fn tariffs(
        &self,
        event_id: &str,
        number: &UitpasNumber,
        regular_price: Money,
        filter: TariffFilter,
    ) -> Result<Tariffs, UpstreamError> {
        let price = regular_price.to_string();
        let query = [
            ("eventId", event_id),
            ("uitpasNumber", number.as_str()),
            ("regularPrice", price.as_str()),
            ("type", filter.as_str()),
        ];
        self.call("get-tariffs", Method::GET, &self.api("/tariffs"), &query, None)
            .await
    }

    /// `GET /tariffs/static`: the social tariff of an event before the pass is known.
    pub async fn static_tariffs(&self, event_id: &str, regular_price: Money) -> Result<Tariffs, UpstreamError> {
        let price = regular_price.to_string();
        let query = [("eventId", event_id), ("regularPrice", price.as_str())];
        self.call(
            "get-tariffs-static",
            Method::GET,
            &self.api("/tariffs/static"),
            &query,
            None,
        )
        .await
    }
}
