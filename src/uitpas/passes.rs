//! UiTPAS passes and tariffs: `GET /passes/{uitpasNumber}`, `GET /tariffs`, `GET /tariffs/static`.

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

/// The part of `GET /passes/{uitpasNumber}` a checkout needs. The personal fields (name, points,
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
    /// `GET /passes/{uitpasNumber}`.
    pub async fn pass(&self, number: &UitpasNumber) -> Result<Pass, UpstreamError> {
        let path = format!("/passes/{}", number.as_str());
        self.call("get-passes-uitpasNumber", Method::GET, &self.api(&path), &[], None)
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
