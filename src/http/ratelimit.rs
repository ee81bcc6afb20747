//! The public endpoints' rate limits (governor's GCRA): one per client address — an IPv4 address,
//! or an IPv6 /64, since one machine gets a whole /64 and picks any address in it — and one per
//! credential (all the browsers of a publishable key together). A request must pass both; a quote
//! costs what it asks of UiTPAS. Over a limit: 429 with `Retry-After`.
//!
//! A request with a checkout token is counted against the token alone, never against its address:
//! the buyers behind one address (a library, an OCMW office) each have their own token, and its
//! own budget. A token's rate is the shop's choice when it mints it (up to
//! `CHECKOUT_TOKEN_MAX_RATE_LIMIT`), `PUBLIC_RATE_LIMIT` by default; the token is also bounded by
//! its events, its budget of distinct passes and its expiry.
//!
//! Two doors of the shop key have a limit of their own, per customer ([`CustomerLimit`]): the door
//! looks passes up by INSZ number (without a limit a leaked key is an INSZ → social-tariff
//! oracle), and a reward's redeem-status tells a pass's points balance.
//!
//! Every limit is kept in this replica's memory: with N replicas behind a balancer an attacker gets
//! up to N times each figure (README states them per replica). Refusals are counted on `/metrics`
//! (`uitpas_checkout_rate_limited_total{limit}`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use super::problem::Problem;
use crate::customers::KeyHash;
use crate::metrics::Metrics;

/// An address as the limit counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Address {
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6Prefix(u64),
}

impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Address::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Address::V4(v4.into()),
                None => Address::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Above this many tracked keys, the limiters forget the keys whose budget is full again.
const MAX_TRACKED: usize = 100_000;

/// What a public request is counted under, beside (or, for a token, instead of) its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A checkout token, with the rate its shop gave it (`None`: `PUBLIC_RATE_LIMIT`).
    Token { hash: KeyHash, per_second: Option<u32> },
    /// A customer's keys, all together (publishable keys, and secret keys on a public endpoint).
    Customer(KeyHash),
}

pub struct Limits {
    per_address: u32,
    addresses: Option<DefaultKeyedRateLimiter<Address>>,
    /// One limiter per rate that tokens were given, each keyed by token.
    tokens: RwLock<HashMap<NonZeroU32, Arc<DefaultKeyedRateLimiter<KeyHash>>>>,
    keys: Option<DefaultKeyedRateLimiter<KeyHash>>,
    clock: DefaultClock,
    metrics: Arc<Metrics>,
}

fn quota(per_second: u32) -> Option<Quota> {
    NonZeroU32::new(per_second).map(quota_of)
}

/// `rate` a second, in bursts of twice that.
fn quota_of(rate: NonZeroU32) -> Quota {
    let burst = NonZeroU32::new(rate.get().saturating_mul(2)).unwrap_or(rate);
    Quota::per_second(rate).allow_burst(burst)
}

impl Limits {
    /// `per_address` also limits each checkout token minted without a rate of its own; `per_key`
    /// each customer's keys. 0: no such limit.
    pub fn new(per_address: u32, per_key: u32, metrics: Arc<Metrics>) -> Self {
        Self {
            per_address,
            addresses: quota(per_address).map(RateLimiter::keyed),
            tokens: RwLock::new(HashMap::new()),
            keys: quota(per_key).map(RateLimiter::keyed),
            clock: DefaultClock::default(),
            metrics,
        }
    }

    /// Takes `cost` units for the address and the credential, or for the token alone;
    /// `Err(seconds)` to wait.
    pub fn check(&self, address: Option<IpAddr>, credential: Option<Credential>, cost: u32) -> Result<(), u64> {
        let Some(cost) = NonZeroU32::new(cost) else {
            return Ok(());
        };
        if let Some(Credential::Token { hash, per_second }) = credential {
            let Some(rate) = NonZeroU32::new(per_second.unwrap_or(self.per_address)) else {
                return Ok(());
            };
            return self
                .take(&self.token_limiter(rate), &hash, cost)
                .inspect_err(|_| self.metrics.rate_limited("checkout-token"));
        }
        if let (Some(limiter), Some(address)) = (&self.addresses, address) {
            self.take(limiter, &Address::from(address), cost)
                .inspect_err(|_| self.metrics.rate_limited("address"))?;
        }
        if let (Some(Credential::Customer(hash)), Some(limiter)) = (credential, &self.keys) {
            self.take(limiter, &hash, cost)
                .inspect_err(|_| self.metrics.rate_limited("customer-key"))?;
        }
        Ok(())
    }

    /// The limiter of the tokens of one rate (rates are few: at most the allowed maximum).
    fn token_limiter(&self, rate: NonZeroU32) -> Arc<DefaultKeyedRateLimiter<KeyHash>> {
        if let Some(limiter) = self.tokens.read().unwrap_or_else(|e| e.into_inner()).get(&rate) {
            return limiter.clone();
        }
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(rate)
            .or_insert_with(|| Arc::new(RateLimiter::keyed(quota_of(rate))))
            .clone()
    }

    fn take<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
        cost: NonZeroU32,
    ) -> Result<(), u64> {
        take(&self.clock, limiter, key, cost)
    }
}

fn take<K: std::hash::Hash + Eq + Clone>(
    clock: &DefaultClock,
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    cost: NonZeroU32,
) -> Result<(), u64> {
    if limiter.len() > MAX_TRACKED {
        limiter.retain_recent();
    }
    match limiter.check_key_n(key, cost) {
        Ok(Ok(())) => Ok(()),
        // Rounded up: a client that waits `Retry-After` seconds finds room.
        Ok(Err(not_until)) => Err(not_until.wait_time_from(clock.now()).as_secs_f64().ceil().max(1.0) as u64),
        // More than a whole burst at once: never possible; wait a second and ask for less.
        Err(_) => Err(1),
    }
}

/// How often the log says, per customer, that one of its pass-lookup budgets is spent: once per
/// burst of refusals, however many requests it holds.
const CUSTOMER_LOG_EVERY: Duration = Duration::from_secs(60);

/// What a [`CustomerLimit`] guards: the door's pass lookups or the rewards' redeem-status checks.
/// Both answer a pass's personal data to a secret key, so each has a budget per customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerDoor {
    /// `GET /v1/door/passes` and `GET /v1/ticket-sales/{id}/checkin-status` (`DOOR_RATE_LIMIT`).
    Door,
    /// `GET /v1/rewards/{id}/redeem-status` and quotes with `rewards`: a pass's points balance (`REWARDS_RATE_LIMIT`).
    Rewards,
}

impl CustomerDoor {
    /// The `limit` label of `uitpas_checkout_rate_limited_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Door => "door",
            Self::Rewards => "rewards",
        }
    }

    /// The setting that sets its figure.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Door => "DOOR_RATE_LIMIT",
            Self::Rewards => "REWARDS_RATE_LIMIT",
        }
    }
}

/// A per-customer limit of lookups that tell a pass's personal data to a secret key (its figure a
/// minute), all of a customer's secret keys together, so that no key (nor a customer with
/// several) is a faster oracle than that. Bursts of a sixth of the minute's figure (10 at 60): a
/// queue at the door, a rush at the checkout.
pub struct CustomerLimit {
    door: CustomerDoor,
    customers: DefaultKeyedRateLimiter<Uuid>,
    clock: DefaultClock,
    metrics: Arc<Metrics>,
    /// When each customer's refusals were last logged.
    logged: Mutex<HashMap<Uuid, Instant>>,
}

impl CustomerLimit {
    /// `None` when `per_minute` is 0 (no limit).
    pub fn new(door: CustomerDoor, per_minute: u32, metrics: Arc<Metrics>) -> Option<Self> {
        let rate = NonZeroU32::new(per_minute)?;
        let burst = NonZeroU32::new(per_minute / 6).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(rate).allow_burst(burst);
        Some(Self {
            door,
            customers: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            metrics,
            logged: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one lookup of `customer`'s; `Err(seconds)` to wait. Never sees the pass.
    pub fn check(&self, customer: Uuid) -> Result<(), u64> {
        let Err(retry_after_s) = take(&self.clock, &self.customers, &customer, NonZeroU32::MIN) else {
            return Ok(());
        };
        self.metrics.rate_limited(self.door.label());
        let now = Instant::now();
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.len() > MAX_TRACKED {
            logged.retain(|_, at| now.duration_since(*at) < CUSTOMER_LOG_EVERY);
        }
        let due = logged
            .get(&customer)
            .is_none_or(|at| now.duration_since(*at) >= CUSTOMER_LOG_EVERY);
        if due {
            logged.insert(customer, now);
            tracing::warn!(
                customer = %customer,
                retry_after_s,
                limit = self.door.setting(),
                "a customer's pass-lookup budget is spent: its lookups are refused (429) for now; \
                 said once a minute while it lasts"
            );
        }
        Err(retry_after_s)
    }

    /// Takes one lookup of `customer`'s from `limit` (none: no limit); `Some`: the 429 to answer
    /// instead, saying which budget and when to retry.
    pub fn refusal(limit: Option<&Self>, customer: Uuid) -> Option<Response> {
        let limit = limit?;
        limit.check(customer).err().map(|retry_after_s| {
            let what = match limit.door {
                CustomerDoor::Door => "looked up passes at the door",
                CustomerDoor::Rewards => "asked passes' reward status",
            };
            let mut response = Problem::ours("rate-limited", StatusCode::TOO_MANY_REQUESTS, "Too many requests")
                .with_detail(format!(
                    "This customer {what} faster than {} allows (per minute); retry after {retry_after_s} s.",
                    limit.door.setting()
                ))
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Arc<Metrics> {
        Metrics::new()
    }

    #[test]
    fn the_door_allows_a_burst_of_a_sixth_then_refuses_per_customer() {
        let door = CustomerLimit::new(CustomerDoor::Door, 60, metrics()).unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..10 {
            assert!(door.check(a).is_ok());
        }
        assert_eq!(door.check(a), Err(1), "one a second after the burst");
        assert!(door.check(b).is_ok(), "another customer has its own budget");
        assert!(CustomerLimit::new(CustomerDoor::Rewards, 0, metrics()).is_none());
    }

    #[test]
    fn a_burst_passes_then_the_rate_applies_per_address() {
        let limits = Limits::new(2, 0, metrics());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..4 {
            assert!(limits.check(Some(ip), None, 1).is_ok());
        }
        assert!(limits.check(Some(ip), None, 1).is_err());
        // Another address has its own budget.
        assert!(limits.check(Some("10.0.0.1".parse().unwrap()), None, 1).is_ok());
    }

    #[test]
    fn every_address_of_an_ipv6_64_shares_one_budget() {
        let limits = Limits::new(1, 0, metrics());
        assert!(limits.check(Some("2001:db8:1:2::1".parse().unwrap()), None, 2).is_ok());
        // Another address in the same /64: the same budget, spent.
        assert!(
            limits
                .check(Some("2001:db8:1:2:ffff::9".parse().unwrap()), None, 1)
                .is_err()
        );
        // The next /64 has its own.
        assert!(limits.check(Some("2001:db8:1:3::1".parse().unwrap()), None, 1).is_ok());
    }

    #[test]
    fn a_quote_costs_what_it_asks_and_a_token_has_its_own_budget() {
        let limits = Limits::new(5, 0, metrics());
        let token = Credential::Token {
            hash: [7u8; 32],
            per_second: None,
        };
        // Ten units at once from one address: the whole burst.
        assert!(
            limits
                .check(Some("192.0.2.1".parse().unwrap()), Some(token), 10)
                .is_ok()
        );
        // The token is spent, from any address.
        assert!(
            limits
                .check(Some("192.0.2.2".parse().unwrap()), Some(token), 1)
                .is_err()
        );
        // Its address is not: the token's requests are the token's alone.
        assert!(limits.check(Some("192.0.2.1".parse().unwrap()), None, 10).is_ok());
    }

    #[test]
    fn a_token_of_a_higher_rate_has_a_larger_budget_than_the_address() {
        let limits = Limits::new(5, 0, metrics());
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let token = |b: u8| Credential::Token {
            hash: [b; 32],
            per_second: Some(30),
        };
        for _ in 0..60 {
            assert!(limits.check(Some(ip), Some(token(1)), 1).is_ok());
        }
        assert!(limits.check(Some(ip), Some(token(1)), 1).is_err(), "its burst is 60");
        assert!(
            limits.check(Some(ip), Some(token(2)), 60).is_ok(),
            "another token has its own"
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let limits = Limits::new(0, 0, metrics());
        let token = Credential::Token {
            hash: [1u8; 32],
            per_second: None,
        };
        for _ in 0..1000 {
            assert!(limits.check(Some("127.0.0.1".parse().unwrap()), Some(token), 5).is_ok());
        }
    }
}
