//! Prometheus metrics, one registry per running app (tests run several apps in one process), served
//! at `/metrics`. Labels are bounded: routes are matched templates, never raw paths.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HoldLabels {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.1 ms … ~3.3 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The metrics counted on every request (requests by route and status, cache lookups), by their
/// labels: a metric family finds a label set under a lock, by hashing its strings; each thread
/// keeps the handles it used last instead. The labels are `'static` and compared by address (a
/// label with another address is only a new entry, counted in the same metric).
#[derive(Clone, Copy)]
struct Key {
    metrics: u64,
    labels: [&'static str; 2],
    number: u16,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.metrics == other.metrics
            && self.number == other.number
            && std::ptr::eq(self.labels[0], other.labels[0])
            && std::ptr::eq(self.labels[1], other.labels[1])
    }
}

enum Handle {
    Request(Counter, Histogram),
    Counter(Counter),
}

/// Handles per thread, at most this many (then forgotten, and found again in the families).
const HANDLES_PER_THREAD: usize = 64;

thread_local! {
    static HANDLES: RefCell<Vec<(Key, Handle)>> = const { RefCell::new(Vec::new()) };
}

fn remember(key: Key, handle: Handle) {
    HANDLES.with_borrow_mut(|handles| {
        if handles.len() >= HANDLES_PER_THREAD {
            handles.clear();
        }
        handles.push((key, handle));
    });
}

/// Every metric of the service.
pub struct Metrics {
    /// This registry among those of the process (tests run several apps in one process), for
    /// [`HANDLES`].
    id: u64,
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_latency: HistogramFamily<RouteLabels>,
    pub cache_lookups: Family<CacheLabels, Counter>,
    pub upstream_requests: Family<UpstreamLabels, Counter>,
    pub upstream_latency: HistogramFamily<OperationLabels>,
    pub token_refreshes: Counter,
    /// Client connections open now (at most `MAX_CONNECTIONS`).
    pub http_connections: Gauge,
    /// Set from the database at each scrape ([`crate::outbox::backlog`]).
    pub jobs: Family<JobLabels, Gauge>,
    pub jobs_needing_attention: Family<JobLabels, Gauge>,
    /// Holds by state, set from the database at each scrape.
    pub holds: Family<HoldLabels, Gauge>,
    pub jobs_oldest_age: Family<JobLabels, Gauge<f64, AtomicU64>>,
    /// Discrepancies by kind in the latest complete reconciliation of every event.
    pub reconciliation_discrepancies: Family<KindLabels, Gauge>,
    /// Client connections closed for being slow: a late body, or shed at `MAX_CONNECTIONS`.
    pub http_slow_clients: Family<ReasonLabels, Counter>,
    /// Console logins by outcome: ok, wrong (a wrong key), throttled (refused unchecked).
    pub console_logins: Family<OutcomeLabels, Counter>,
    /// Requests refused by a rate limit (429), by limit.
    pub rate_limited: Family<LimitLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("uitpas_checkout");
        let http_requests = Family::<RequestLabels, Counter>::default();
        let http_latency: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        let cache_lookups = Family::<CacheLabels, Counter>::default();
        let upstream_requests = Family::<UpstreamLabels, Counter>::default();
        let upstream_latency: HistogramFamily<OperationLabels> = Family::new_with_constructor(latency_histogram);
        let token_refreshes = Counter::default();
        let http_connections = Gauge::default();
        let jobs = Family::<JobLabels, Gauge>::default();
        let jobs_needing_attention = Family::<JobLabels, Gauge>::default();
        let holds = Family::<HoldLabels, Gauge>::default();
        let jobs_oldest_age = Family::<JobLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by matched route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by matched route",
            http_latency.clone(),
        );
        registry.register(
            "cache_lookups",
            "Cache lookups, by cache and hit or miss",
            cache_lookups.clone(),
        );
        registry.register(
            "upstream_requests",
            "Calls to UiTPAS and UiTdatabank, by operationId and outcome",
            upstream_requests.clone(),
        );
        registry.register(
            "upstream_request_duration_seconds",
            "Latency of calls to UiTPAS and UiTdatabank, by operationId",
            upstream_latency.clone(),
        );
        registry.register(
            "token_refreshes",
            "Access tokens fetched from the token server",
            token_refreshes.clone(),
        );
        registry.register(
            "http_connections",
            "Client connections open now; at MAX_CONNECTIONS, the one that waited longest on its client is closed for a new one",
            http_connections.clone(),
        );
        registry.register(
            "jobs",
            "Registrations, cancellations and events not settled yet (replayed by the worker), by kind",
            jobs.clone(),
        );
        registry.register(
            "jobs_needing_attention",
            "Work parked until a person retries or abandons it (credentials or permission refused, a cancellation refused), by kind: alert when above 0",
            jobs_needing_attention.clone(),
        );
        registry.register(
            "holds",
            "Holds before payment by state: held (open), confirmed, released, expired",
            holds.clone(),
        );
        registry.register(
            "jobs_oldest_age_seconds",
            "Age of the oldest job not settled yet, by kind (0 when none): alert when it keeps growing",
            jobs_oldest_age.clone(),
        );
        let reconciliation_discrepancies = Family::<KindLabels, Gauge>::default();
        registry.register(
            "reconciliation_discrepancies",
            "Discrepancies between the ledger and UiTPAS in the latest complete reconciliation of every event, by kind (missing_at_uitpas, active_at_uitpas, unknown_ours, unknown_other)",
            reconciliation_discrepancies.clone(),
        );
        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429 by a rate limit of this replica, by limit: address (an IPv4 address or IPv6 /64), checkout-token, customer-key (a publishable or secret key on the public endpoints), door (DOOR_RATE_LIMIT), rewards (REWARDS_RATE_LIMIT)",
            rate_limited.clone(),
        );
        let http_slow_clients = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "http_slow_clients",
            "Client connections closed for being slow, by reason: body-timeout (answered 408), shed-at-cap (at MAX_CONNECTIONS, the one that waited longest on its client)",
            http_slow_clients.clone(),
        );
        let console_logins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "console_logins",
            "Console logins by outcome: ok, wrong (a wrong operator key), throttled (refused with 429, the key not checked)",
            console_logins.clone(),
        );
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Arc::new(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            registry,
            http_requests,
            http_latency,
            cache_lookups,
            upstream_requests,
            upstream_latency,
            token_refreshes,
            http_connections,
            jobs,
            jobs_needing_attention,
            holds,
            jobs_oldest_age,
            reconciliation_discrepancies,
            rate_limited,
            http_slow_clients,
            console_logins,
        })
    }

    /// A console login, by outcome.
    pub fn console_login(&self, outcome: &'static str) {
        self.console_logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// One answered HTTP request: counted by route and status, its latency by route.
    pub fn request(&self, method: &'static str, route: &'static str, status: u16, elapsed: Duration) {
        let key = Key {
            metrics: self.id,
            labels: [method, route],
            number: status,
        };
        let seconds = elapsed.as_secs_f64();
        let found = HANDLES.with_borrow(|handles| {
            handles.iter().find(|(k, _)| *k == key).map(|(_, handle)| match handle {
                Handle::Request(counter, histogram) => {
                    counter.inc();
                    histogram.observe(seconds);
                }
                Handle::Counter(_) => unreachable!("a request's key holds a request's handles"),
            })
        });
        if found.is_none() {
            let counter = self
                .http_requests
                .get_or_create(&RequestLabels { method, route, status })
                .clone();
            let histogram = self.http_latency.get_or_create(&RouteLabels { method, route }).clone();
            counter.inc();
            histogram.observe(seconds);
            remember(key, Handle::Request(counter, histogram));
        }
    }

    pub fn cache(&self, cache: &'static str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        let key = Key {
            metrics: self.id,
            labels: [cache, result],
            number: u16::MAX,
        };
        let found = HANDLES.with_borrow(|handles| {
            handles.iter().find(|(k, _)| *k == key).map(|(_, handle)| match handle {
                Handle::Counter(counter) => {
                    counter.inc();
                }
                Handle::Request(..) => unreachable!("a cache's key holds a counter"),
            })
        });
        if found.is_none() {
            let counter = self.cache_lookups.get_or_create(&CacheLabels { cache, result }).clone();
            counter.inc();
            remember(key, Handle::Counter(counter));
        }
    }

    pub fn upstream(&self, operation: &'static str, outcome: &'static str, elapsed: Duration) {
        self.upstream_requests
            .get_or_create(&UpstreamLabels { operation, outcome })
            .inc();
        self.upstream_latency
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    /// A request refused by the rate limit `limit`.
    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited.get_or_create(&LimitLabels { limit }).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
