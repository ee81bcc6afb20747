//! moka caches in front of UiTPAS: the social-tariff status of a pass (one day by default) and the
//! static tariffs of an event at a price. Concurrent misses for one key are coalesced into a single
//! upstream call; failures are not cached (a 404 may be a card registered a minute later).

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Money, UitpasNumber};
use crate::metrics::Metrics;
use crate::uitpas::{Pass, PassMessage, PassType, SocialTariff, Tariffs, UitpasClient, UpstreamError};

/// What the public pass endpoint tells the browser: no name, points, postal code or passholder id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassStatus {
    pub pass_type: PassType,
    pub social_tariff: SocialTariff,
    /// Messages UiTPAS says must be shown to the buyer.
    pub messages: Vec<PassMessage>,
}

impl From<Pass> for PassStatus {
    fn from(pass: Pass) -> Self {
        Self {
            pass_type: pass.pass_type,
            social_tariff: pass.social_tariff,
            messages: pass.messages,
        }
    }
}

/// Pass statuses, keyed by the UiTPAS number as an integer (13 digits fit in a `u64`).
#[derive(Clone)]
pub struct PassCache {
    cache: Cache<u64, Arc<PassStatus>>,
    metrics: Arc<Metrics>,
}

impl PassCache {
    pub fn new(ttl: Duration, max_entries: u64, metrics: Arc<Metrics>) -> Self {
        Self {
            cache: Cache::builder().time_to_live(ttl).max_capacity(max_entries).build(),
            metrics,
        }
    }

    /// The status of a pass: from the cache, or from one UiTPAS call shared by every concurrent caller.
    pub async fn get(&self, number: &UitpasNumber, client: &UitpasClient) -> Result<Arc<PassStatus>, UpstreamError> {
        let key = number.key();
        if let Some(hit) = self.cache.get(&key).await {
            self.metrics.cache("pass", true);
            return Ok(hit);
        }
        self.metrics.cache("pass", false);
        self.cache
            .try_get_with(key, async {
                client.pass(number).await.map(|p| Arc::new(PassStatus::from(p)))
            })
            .await
            .map_err(|e| (*e).clone())
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}

/// Static tariffs per event and regular price; they change with the event's UiTPAS settings,
/// which is rare, so an hour is plenty.
#[derive(Clone)]
pub struct StaticTariffCache {
    cache: Cache<(String, Money), Arc<Tariffs>>,
    metrics: Arc<Metrics>,
}

impl StaticTariffCache {
    pub fn new(ttl: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            cache: Cache::builder().time_to_live(ttl).max_capacity(100_000).build(),
            metrics,
        }
    }

    pub async fn get(
        &self,
        event_id: &str,
        price: Money,
        client: &UitpasClient,
    ) -> Result<Arc<Tariffs>, UpstreamError> {
        let key = (event_id.to_owned(), price);
        if let Some(hit) = self.cache.get(&key).await {
            self.metrics.cache("static_tariffs", true);
            return Ok(hit);
        }
        self.metrics.cache("static_tariffs", false);
        self.cache
            .try_get_with(key, async {
                client.static_tariffs(event_id, price).await.map(Arc::new)
            })
            .await
            .map_err(|e| (*e).clone())
    }
}
