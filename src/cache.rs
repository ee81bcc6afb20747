//! moka caches in front of UiTPAS: the social-tariff status of a pass (one day by default) and the
//! static tariffs of an event at a price. Concurrent misses for one key are coalesced into a single
//! upstream call; failures are not cached (a 404 may be a card registered a minute later).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Money, UitpasNumber};
use crate::metrics::Metrics;
use crate::uitpas::{EventCardSystem, Pass, PassMessage, PassType, SocialTariff, Tariffs, UitpasClient, UpstreamError};

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

/// A moka cache in front of one kind of UiTPAS call: concurrent misses of one key share a single
/// load, and only successes are kept.
pub struct Coalesced<K, V> {
    cache: Cache<K, Arc<V>>,
    name: &'static str,
    metrics: Arc<Metrics>,
}

impl<K, V> Clone for Coalesced<K, V> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            name: self.name,
            metrics: self.metrics.clone(),
        }
    }
}

impl<K, V> Coalesced<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// `name` labels the cache's hit and miss metrics.
    pub fn new(name: &'static str, ttl: Duration, max_entries: u64, metrics: Arc<Metrics>) -> Self {
        Self {
            cache: Cache::builder().time_to_live(ttl).max_capacity(max_entries).build(),
            name,
            metrics,
        }
    }

    /// The cached value, or the result of `load`, run once for all concurrent callers of `key`.
    pub async fn get_with(
        &self,
        key: K,
        load: impl Future<Output = Result<V, UpstreamError>>,
    ) -> Result<Arc<V>, UpstreamError> {
        if let Some(hit) = self.cache.get(&key).await {
            self.metrics.cache(self.name, true);
            return Ok(hit);
        }
        self.metrics.cache(self.name, false);
        self.cache
            .try_get_with(key, async { load.await.map(Arc::new) })
            .await
            .map_err(|e| (*e).clone())
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}

/// Pass statuses, keyed by the UiTPAS number as an integer (13 digits fit in a `u64`).
pub type PassCache = Coalesced<u64, PassStatus>;

/// Static tariffs per event and regular price; they change with the event's UiTPAS settings, which
/// is rare.
pub type StaticTariffCache = Coalesced<(String, Money), Tariffs>;

/// Whether an event takes part in UiTPAS, per event.
pub type ParticipationCache = Coalesced<String, Vec<EventCardSystem>>;

/// The status of a pass: from the cache, or from one UiTPAS call shared by every concurrent caller.
pub async fn pass_status(
    cache: &PassCache,
    number: &UitpasNumber,
    client: &UitpasClient,
) -> Result<Arc<PassStatus>, UpstreamError> {
    cache
        .get_with(number.key(), async { client.pass(number).await.map(PassStatus::from) })
        .await
}
