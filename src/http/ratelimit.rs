//! The public endpoints' rate limits (governor's GCRA): one per client address — an IPv4 address,
//! or an IPv6 /64, since one machine gets a whole /64 and picks any address in it — and one per
//! credential (a checkout token, or all the browsers of a publishable key together). A request
//! must pass both; a quote costs what it asks of UiTPAS. Over a limit: 429 with `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::customers::{KeyHash, KeyKind};

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

pub struct Limits {
    addresses: Option<DefaultKeyedRateLimiter<Address>>,
    tokens: Option<DefaultKeyedRateLimiter<KeyHash>>,
    keys: Option<DefaultKeyedRateLimiter<KeyHash>>,
    clock: DefaultClock,
}

fn quota(per_second: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl Limits {
    /// `per_address` also limits each checkout token; `per_key` each publishable key. `None` when
    /// both are 0 (no limit).
    pub fn new(per_address: u32, per_key: u32) -> Option<Self> {
        if per_address == 0 && per_key == 0 {
            return None;
        }
        Some(Self {
            addresses: quota(per_address).map(RateLimiter::keyed),
            tokens: quota(per_address).map(RateLimiter::keyed),
            keys: quota(per_key).map(RateLimiter::keyed),
            clock: DefaultClock::default(),
        })
    }

    /// Takes `cost` units for the address and for the credential; `Err(seconds)` to wait.
    pub fn check(&self, address: Option<IpAddr>, credential: Option<(KeyHash, KeyKind)>, cost: u32) -> Result<(), u64> {
        let Some(cost) = NonZeroU32::new(cost) else {
            return Ok(());
        };
        if let (Some(limiter), Some(address)) = (&self.addresses, address) {
            self.take(limiter, &Address::from(address), cost)?;
        }
        match credential {
            Some((hash, KeyKind::Secret)) => {
                if let Some(limiter) = &self.tokens {
                    self.take(limiter, &hash, cost)?;
                }
            }
            Some((hash, KeyKind::Publishable)) => {
                if let Some(limiter) = &self.keys {
                    self.take(limiter, &hash, cost)?;
                }
            }
            None => {}
        }
        Ok(())
    }

    fn take<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
        cost: NonZeroU32,
    ) -> Result<(), u64> {
        if limiter.len() > MAX_TRACKED {
            limiter.retain_recent();
        }
        match limiter.check_key_n(key, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now()).as_secs().max(1)),
            // More than a whole burst at once: never possible; wait a second and ask for less.
            Err(_) => Err(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_applies_per_address() {
        let limits = Limits::new(2, 0).unwrap();
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
        let limits = Limits::new(1, 0).unwrap();
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
        let limits = Limits::new(5, 0).unwrap();
        let token = ([7u8; 32], KeyKind::Secret);
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
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(Limits::new(0, 0).is_none());
    }
}
