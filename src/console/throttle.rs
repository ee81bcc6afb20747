//! The throttle of the console's logins: per client address and for all addresses together,
//! asked before a login's form is read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong keys an address may give before it is locked out.
const FREE_TRIES: u32 = 5;
/// The first lock-out, after [`FREE_TRIES`] wrong keys; each further wrong key doubles it.
const FIRST_LOCK: Duration = Duration::from_secs(1);
/// The longest lock-out.
const LONGEST_LOCK: Duration = Duration::from_secs(15 * 60);
/// An address that gave no wrong key for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// At most one log line per address (and one for the global budget) in this window.
const LOG_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Wrong keys per second all addresses together may give, in bursts of [`GLOBAL_BURST`].
const GLOBAL_PER_SECOND: f64 = 1.0;
const GLOBAL_BURST: f64 = 100.0;
/// The most addresses remembered; past it the forgotten ones are dropped, and a new address is
/// checked only while the global budget lasts.
const MOST_ADDRESSES: usize = 100_000;

/// The throttle of console logins, checked before the form is read.
///
/// Per address (an IPv4 address or an IPv6 /64, as the public rate limit counts them):
/// [`FREE_TRIES`] wrong keys, then a lock-out of 1 s that doubles with each further wrong key up
/// to 15 min; while locked, a login from the address is answered 429 with `Retry-After` and its
/// key is not even checked. An address is forgotten an hour after its last wrong key, or at once
/// when it logs in. Attempts in flight count as wrong until they are settled, so a thousand
/// concurrent tries get no more checks than a thousand in a row.
///
/// For all addresses together, a budget of wrong keys ([`GLOBAL_PER_SECOND`], bursts of
/// [`GLOBAL_BURST`]): once it is spent, an address that gave a wrong key is refused until the
/// budget refills, but an address that gave none is still checked: one that spreads its guesses
/// over many addresses gets one per address, and an operator's right key from another address is
/// never locked out.
///
/// One log line per address when its burst of wrong keys begins, then at most one per
/// [`LOG_WINDOW`] with the counts since the last: never a line per try, never the key tried.
#[derive(Default)]
pub struct LoginThrottle {
    state: Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    addresses: HashMap<IpAddr, Record>,
    /// The global budget: spent wrong keys, as time (a token bucket counted backwards).
    global: Option<(f64, Instant)>,
    global_logged: Option<Instant>,
}

struct Record {
    wrong: u32,
    in_flight: u32,
    locked_until: Option<Instant>,
    last_wrong: Option<Instant>,
    logged: Option<Instant>,
    wrong_unlogged: u32,
    refused_unlogged: u32,
}

/// Why a login was refused before its key was checked; retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_s: u64,
}

/// One login admitted by the throttle: say how it went ([`Attempt::right`] or [`Attempt::wrong`]);
/// dropped unsaid (the form was bad or never came), it counts for nothing.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    address: IpAddr,
    settled: bool,
}

/// The address as the throttle counts it: an IPv6 address by its /64.
fn counted(address: Option<IpAddr>) -> IpAddr {
    match address {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        Some(v4) => v4,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    }
}

fn seconds_until(until: Instant, now: Instant) -> u64 {
    until.saturating_duration_since(now).as_secs_f64().ceil().max(1.0) as u64
}

impl ThrottleState {
    /// Wrong keys the global budget still allows now.
    fn global_left(&mut self, now: Instant) -> f64 {
        let (left, at) = self.global.get_or_insert((GLOBAL_BURST, now));
        *left = (*left + now.duration_since(*at).as_secs_f64() * GLOBAL_PER_SECOND).min(GLOBAL_BURST);
        *at = now;
        *left
    }

    fn forget_old(&mut self, now: Instant) {
        self.addresses.retain(|_, r| !r.forgotten(now));
    }
}

impl Record {
    fn new() -> Self {
        Record {
            wrong: 0,
            in_flight: 0,
            locked_until: None,
            last_wrong: None,
            logged: None,
            wrong_unlogged: 0,
            refused_unlogged: 0,
        }
    }

    fn forgotten(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.locked_until.is_none_or(|until| until <= now)
            && self.last_wrong.is_none_or(|at| now.duration_since(at) >= FORGET_AFTER)
    }

    /// The line of this address, when none was written in the window.
    fn log(&mut self, address: IpAddr, now: Instant) {
        if self.logged.is_some_and(|at| now.duration_since(at) < LOG_WINDOW) {
            return;
        }
        let locked_s = self
            .locked_until
            .map_or(0, |until| until.saturating_duration_since(now).as_secs());
        tracing::warn!(
            client = %address,
            wrong = self.wrong_unlogged,
            refused = self.refused_unlogged,
            locked_s,
            "console: wrong operator keys from one address; its logins are throttled (logged at most once in 15 min)"
        );
        self.logged = Some(now);
        self.wrong_unlogged = 0;
        self.refused_unlogged = 0;
    }
}

impl LoginThrottle {
    fn state(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a login from `address` may be checked now.
    pub fn admit(&self, address: Option<IpAddr>) -> Result<Attempt<'_>, Throttled> {
        self.admit_at(address, Instant::now())
    }

    fn admit_at(&self, address: Option<IpAddr>, now: Instant) -> Result<Attempt<'_>, Throttled> {
        let address = counted(address);
        let mut state = self.state();
        let global_left = state.global_left(now);
        if !state.addresses.contains_key(&address) {
            if state.addresses.len() >= MOST_ADDRESSES {
                state.forget_old(now);
            }
            if state.addresses.len() < MOST_ADDRESSES {
                state.addresses.insert(address, Record::new());
            }
        }
        let refusal = match state.addresses.get_mut(&address) {
            // Too many addresses to remember this one: only the global budget counts it.
            None if global_left < 1.0 => Some(((1.0 - global_left) / GLOBAL_PER_SECOND).ceil().max(1.0) as u64),
            None => None,
            Some(record) => {
                if record.forgotten(now) {
                    *record = Record::new();
                }
                let allowed = FREE_TRIES.saturating_sub(record.wrong).max(1);
                if let Some(until) = record.locked_until.filter(|until| *until > now) {
                    Some(seconds_until(until, now))
                } else if record.in_flight >= allowed {
                    Some(1)
                } else if record.wrong > 0 && global_left < 1.0 {
                    Some(((1.0 - global_left) / GLOBAL_PER_SECOND).ceil().max(1.0) as u64)
                } else {
                    record.in_flight += 1;
                    None
                }
            }
        };
        let Some(retry_after_s) = refusal else {
            return Ok(Attempt {
                throttle: self,
                address,
                settled: false,
            });
        };
        if let Some(record) = state.addresses.get_mut(&address) {
            record.refused_unlogged += 1;
            record.log(address, now);
        }
        if global_left < 1.0
            && state
                .global_logged
                .is_none_or(|at| now.duration_since(at) >= LOG_WINDOW)
        {
            state.global_logged = Some(now);
            tracing::warn!(
                "console: wrong operator keys from many addresses; addresses that gave one are refused until the budget refills (logged at most once in 15 min)"
            );
        }
        Err(Throttled { retry_after_s })
    }
}

impl Attempt<'_> {
    /// The key was right: the address starts afresh.
    pub fn right(mut self) {
        self.settled = true;
        self.throttle.state().addresses.remove(&self.address);
    }

    /// The key was wrong.
    pub fn wrong(self) {
        self.wrong_at(Instant::now());
    }

    fn wrong_at(mut self, now: Instant) {
        self.settled = true;
        let mut state = self.throttle.state();
        let left = state.global_left(now);
        state.global = Some(((left - 1.0).max(0.0), now));
        if let Some(record) = state.addresses.get_mut(&self.address) {
            record.in_flight = record.in_flight.saturating_sub(1);
            record.wrong += 1;
            record.last_wrong = Some(now);
            if let Some(beyond) = record.wrong.checked_sub(FREE_TRIES) {
                let lock = FIRST_LOCK.saturating_mul(1u32 << beyond.min(20)).min(LONGEST_LOCK);
                record.locked_until = Some(now + lock);
            }
            record.wrong_unlogged += 1;
            record.log(self.address, now);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut state = self.throttle.state();
        if let Some(record) = state.addresses.get_mut(&self.address) {
            record.in_flight = record.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(address: &str) -> Option<IpAddr> {
        Some(address.parse().unwrap())
    }

    #[test]
    fn an_address_gets_five_tries_then_a_lock_out_that_doubles() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for _ in 0..FREE_TRIES {
            throttle.admit_at(at("203.0.113.7"), start).unwrap().wrong_at(start);
        }
        assert_eq!(
            throttle.admit_at(at("203.0.113.7"), start).err(),
            Some(Throttled { retry_after_s: 1 })
        );
        // Another address is not touched; nor the same one a second later.
        throttle.admit_at(at("198.51.100.9"), start).unwrap().right();
        let later = start + Duration::from_secs(1);
        throttle.admit_at(at("203.0.113.7"), later).unwrap().wrong_at(later);
        assert_eq!(
            throttle.admit_at(at("203.0.113.7"), later).err(),
            Some(Throttled { retry_after_s: 2 })
        );
        let mut now = later;
        for _ in 0..20 {
            now += LONGEST_LOCK;
            throttle.admit_at(at("203.0.113.7"), now).unwrap().wrong_at(now);
        }
        assert_eq!(
            throttle.admit_at(at("203.0.113.7"), now).err(),
            Some(Throttled { retry_after_s: 900 })
        );
        // An hour after its last wrong key (and the lock-out over), the address starts afresh.
        let forgotten = now + FORGET_AFTER;
        for _ in 0..FREE_TRIES {
            throttle
                .admit_at(at("203.0.113.7"), forgotten)
                .unwrap()
                .wrong_at(forgotten);
        }
    }

    #[test]
    fn tries_in_flight_count_and_an_ipv6_64_is_one_address() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        let flying: Vec<_> = (0..FREE_TRIES)
            .map(|i| throttle.admit_at(at(&format!("2001:db8::{i}")), now).unwrap())
            .collect();
        assert!(throttle.admit_at(at("2001:db8::ff"), now).is_err());
        assert!(throttle.admit_at(at("2001:db8:0:1::1"), now).is_ok(), "the next /64");
        drop(flying);
        // Dropped unsaid (a form that never came), they count for nothing.
        assert!(throttle.admit_at(at("2001:db8::1"), now).is_ok());
    }

    #[test]
    fn once_the_global_budget_is_spent_only_clean_addresses_are_checked() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        for i in 0..GLOBAL_BURST as u32 + 10 {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            throttle.admit_at(Some(address), now).unwrap().wrong_at(now);
        }
        assert!(throttle.admit_at(at("10.0.0.1"), now).is_err(), "it gave a wrong key");
        assert!(throttle.admit_at(at("192.0.2.1"), now).is_ok(), "a clean address");
        let refilled = now + Duration::from_secs(2);
        assert!(throttle.admit_at(at("10.0.0.1"), refilled).is_ok());
    }
}
