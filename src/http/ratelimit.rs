//! A per-client-address token bucket for the public endpoints: `rate` requests per second, bursts
//! of twice that. Over it, 429 with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// Above this many tracked addresses, idle ones (full buckets) are forgotten.
const MAX_TRACKED: usize = 10_000;

impl RateLimiter {
    /// `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32) -> Option<Self> {
        (per_second > 0).then(|| Self {
            rate: f64::from(per_second),
            burst: f64::from(per_second) * 2.0,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one token for `addr`; `Err(seconds)` to wait when there is none.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > MAX_TRACKED {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(addr).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_applies() {
        let limiter = RateLimiter::new(2).unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        assert_eq!(limiter.check(ip, t0), Err(1));
        // Half a second later one token has come back.
        assert!(limiter.check(ip, t0 + Duration::from_millis(500)).is_ok());
        // Another address has its own bucket.
        assert!(limiter.check("10.0.0.1".parse().unwrap(), t0).is_ok());
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(RateLimiter::new(0).is_none());
    }
}
