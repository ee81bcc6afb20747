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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
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
        self.get_with_shared(key, async { load.await.map(Arc::new) }).await
    }

    /// [`Self::get_with`] for a `load` that gives a value it may share with other keys.
    pub async fn get_with_shared(
        &self,
        key: K,
        load: impl Future<Output = Result<Arc<V>, UpstreamError>>,
    ) -> Result<Arc<V>, UpstreamError> {
        if let Some(hit) = self.cache.get(&key).await {
            self.metrics.cache(self.name, true);
            return Ok(hit);
        }
        self.metrics.cache(self.name, false);
        self.cache.try_get_with(key, load).await.map_err(|e| (*e).clone())
    }

    /// The cached value of `key`, counted as a hit, or `None` (not counted: the caller's
    /// [`Self::get_with`] counts its miss).
    pub async fn hit(&self, key: &K) -> Option<Arc<V>> {
        let hit = self.cache.get(key).await?;
        self.metrics.cache(self.name, true);
        Some(hit)
    }

    /// Keeps `value` for `key`, learnt by other means than the loader.
    pub async fn insert(&self, key: K, value: V) {
        self.cache.insert(key, Arc::new(value)).await;
    }

    /// Forgets `key`: the next [`Self::get_with`] loads it again.
    pub async fn invalidate(&self, key: &K) {
        self.cache.invalidate(key).await;
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}

/// A pass status as the pass cache keeps it: with its JSON answer, serialised once, and shared by
/// every pass that has the same status (most passes have one of a few).
#[derive(Debug)]
pub struct CachedStatus {
    pub status: PassStatus,
    /// The body of `GET /v1/passes/{uitpasNumber}`.
    pub json: axum::body::Bytes,
}

impl CachedStatus {
    fn new(status: PassStatus) -> Self {
        // Enums, a date and strings: serialising it cannot fail.
        let json = serde_json::to_vec(&status).expect("a pass status serialises");
        Self {
            status,
            json: json.into(),
        }
    }
}

/// How long a number UiTPAS does not know is answered from memory (a card registered meanwhile
/// shows up after this).
pub const UNKNOWN_PASS_TTL: Duration = Duration::from_secs(60);

/// Passes are cached per customer (UiTPAS answers each client by its own permissions): the
/// customer's slot goes above the 13 digits of the number (< 2^44).
pub fn pass_key(slot: u32, number: &UitpasNumber) -> u64 {
    number.key() | (u64::from(slot) << 44)
}

/// How many distinct statuses are kept for sharing (far more than there are in practice).
const DISTINCT_STATUSES: u64 = 10_000;

/// Pass statuses, keyed by the UiTPAS number as an integer (13 digits fit in a `u64`), in moka;
/// concurrent misses of one pass share one UiTPAS call.
#[derive(Clone)]
pub struct PassCache {
    passes: Coalesced<u64, CachedStatus>,
    /// Numbers UiTPAS does not know (404), briefly, so that repeated probes never reach UiTPAS.
    unknown: Cache<u64, UpstreamError>,
    /// The distinct statuses, so that a million passes with the same status hold one value.
    statuses: Cache<PassStatus, Arc<CachedStatus>>,
}

impl PassCache {
    pub fn new(ttl: Duration, max_entries: u64, metrics: Arc<Metrics>) -> Self {
        Self {
            passes: Coalesced::new("pass", ttl, max_entries, metrics),
            unknown: Cache::builder()
                .max_capacity(max_entries / 10 + 1)
                .time_to_live(UNKNOWN_PASS_TTL)
                .build(),
            statuses: Cache::builder()
                .max_capacity(DISTINCT_STATUSES)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The cached status of pass `key`, or the result of `load`, run once for all concurrent callers.
    pub async fn get_with(
        &self,
        key: u64,
        load: impl Future<Output = Result<PassStatus, UpstreamError>>,
    ) -> Result<Arc<CachedStatus>, UpstreamError> {
        if let Some(unknown) = self.unknown.get(&key).await {
            return Err(unknown);
        }
        let found = self
            .passes
            .get_with_shared(key, async {
                let status = load.await?;
                Ok(self
                    .statuses
                    .get_with(status.clone(), async { Arc::new(CachedStatus::new(status)) })
                    .await)
            })
            .await;
        if let Err(e @ UpstreamError::Problem { status: 404, .. }) = &found {
            self.unknown.insert(key, e.clone()).await;
        }
        found
    }

    /// The cached status of pass `key`, without loading it: one lookup, the common case. A number
    /// in the pass cache was answered by UiTPAS since it was last unknown, so it is not looked up
    /// among the unknown ones.
    pub async fn cached(&self, key: u64) -> Option<Arc<CachedStatus>> {
        self.passes.hit(&key).await
    }

    pub fn entry_count(&self) -> u64 {
        self.passes.entry_count()
    }
}

/// Static tariffs per event and regular price; they change with the event's UiTPAS settings, which
/// is rare.
pub type StaticTariffCache = Coalesced<(u32, String, Money), Tariffs>;

/// Whether an event takes part in UiTPAS, per customer (slot) and event.
pub type ParticipationCache = Coalesced<(u32, String), Vec<EventCardSystem>>;

/// The organizer of an event (Entry API), per customer (slot) and event; `None`: none, or it
/// could not be read.
pub type OrganizerCache = Coalesced<(u32, String), crate::uitpas::EventFacts>;

/// The status of a pass: from the cache, or from one UiTPAS call shared by every concurrent caller.
///
/// A hit is one lookup and no allocation; the miss path (with the UiTPAS call's large future) is
/// boxed, so that the future of every caller, hits included, stays small to move.
pub async fn pass_status(
    cache: &PassCache,
    slot: u32,
    number: &UitpasNumber,
    client: &UitpasClient,
) -> Result<Arc<CachedStatus>, UpstreamError> {
    let key = pass_key(slot, number);
    if let Some(hit) = cache.cached(key).await {
        return Ok(hit);
    }
    Box::pin(cache.get_with(key, async { client.pass(number).await.map(PassStatus::from) })).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uitpas::{PassType, SocialTariff, SocialTariffStatus};

    fn status(active: bool) -> PassStatus {
        PassStatus {
            pass_type: PassType::Individual,
            social_tariff: SocialTariff {
                status: if active {
                    SocialTariffStatus::Active
                } else {
                    SocialTariffStatus::None
                },
                end_date: None,
            },
            messages: Vec::new(),
        }
    }

    #[tokio::test]
    async fn passes_with_the_same_status_share_one_value_and_its_json() {
        let cache = PassCache::new(Duration::from_secs(60), 100, Metrics::new());
        let a = cache.get_with(1, async { Ok(status(true)) }).await.unwrap();
        let b = cache.get_with(2, async { Ok(status(true)) }).await.unwrap();
        let c = cache.get_with(3, async { Ok(status(false)) }).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b), "one value for one status");
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.status, status(false));
        let json: serde_json::Value = serde_json::from_slice(&a.json).unwrap();
        assert_eq!(json, serde_json::to_value(status(true)).unwrap());
        // A hit is the cached value, whatever the loader would say now.
        let again = cache.get_with(3, async { Ok(status(true)) }).await.unwrap();
        assert!(Arc::ptr_eq(&again, &c));
    }
}
