//! Memory per cached pass: builds the service's own pass cache (`uitpas_checkout::cache::PassCache`,
//! with the capacity `app.rs` gives it), fills it with N typical pass statuses (an ACTIVE social tariff
//! with one of 730 end dates, or none; no messages) through the same `get_with` the handler uses, lets the cache
//! finish its pending bookkeeping, and divides the growth of the resident set by N.
//!
//! `cargo run --release --example bench-memory -- [N]` (default 1 000 000); prints one JSON line.

use std::time::{Duration, Instant};

/// The service's allocator (`src/main.rs`), so that the figure is the service's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use uitpas_checkout::cache::{PassCache, PassStatus};
use uitpas_checkout::metrics::Metrics;
use uitpas_checkout::uitpas::{PassType, SocialTariff, SocialTariffStatus};

/// `PASS_CACHE_ENTRIES` in `src/app.rs` (private there).
const CAPACITY: u64 = 2_000_000;
const TTL: Duration = Duration::from_secs(86_400);
/// x86-64 Linux.
const PAGE_SIZE: u64 = 4096;

/// Resident set size in bytes, from `/proc/self/statm` (second field, in pages).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm's resident field");
    pages * PAGE_SIZE
}

/// The `n`-th synthetic pass number (`0999…`, 12th digit even, Luhn check digit) as the cache key.
fn pass_key(n: u64) -> u64 {
    uitpas_checkout::sandbox::dataset::synthetic_active_pass(n)
        .parse()
        .expect("digits")
}

/// The `i`-th pass's status: an ACTIVE social tariff ending on one of 730 days (two years of end
/// dates), one pass in ten without a social tariff; so the cache holds many distinct statuses, as
/// in production, not one.
fn typical(i: u64) -> PassStatus {
    if i % 10 == 9 {
        return PassStatus {
            pass_type: PassType::Individual,
            social_tariff: SocialTariff {
                status: SocialTariffStatus::None,
                end_date: None,
            },
            messages: Vec::new(),
        };
    }
    let day = i64::try_from(i % 730).expect("small");
    PassStatus {
        pass_type: PassType::Individual,
        social_tariff: SocialTariff {
            status: SocialTariffStatus::Active,
            end_date: chrono::DateTime::from_timestamp(1_830_297_600 + day * 86_400, 0),
        },
        messages: Vec::new(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a number"))
        .unwrap_or(1_000_000);
    let cache = PassCache::new(TTL, CAPACITY, Metrics::new());
    // Touch the cache once so that its lazily made parts exist before the first measurement.
    let _ = cache.get_with(1, async { Ok(typical(0)) }).await;
    let before = rss();
    let started = Instant::now();
    for i in 0..n {
        let key = pass_key(i);
        cache
            .get_with(key, async { Ok(typical(i)) })
            .await
            .expect("a load that cannot fail");
    }
    let filled_s = started.elapsed().as_secs_f64();
    // moka applies its write log in batches, on access, at most every 300 ms: access it after a
    // pause until every entry is accounted for (what `run_pending_tasks` would do; not public here).
    for _ in 0..20 {
        if cache.entry_count() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(350)).await;
        let _ = cache.get_with(pass_key(0), async { Ok(typical(0)) }).await;
    }
    let after = rss();
    let per_entry = (after.saturating_sub(before)) as f64 / n as f64;

    // The floor: moka itself, same capacity and TTL, an integer key and no value at all.
    let floor: moka::future::Cache<u64, ()> = moka::future::Cache::builder()
        .time_to_live(TTL)
        .max_capacity(CAPACITY)
        .build();
    floor.insert(1, ()).await;
    floor.run_pending_tasks().await;
    let floor_before = rss();
    for i in 0..n {
        floor.insert(pass_key(i), ()).await;
    }
    floor.run_pending_tasks().await;
    let floor_after = rss();
    let floor_per_entry = (floor_after.saturating_sub(floor_before)) as f64 / n as f64;
    println!(
        "{{\"entries\":{n},\"entry_count\":{},\"rss_before\":{before},\"rss_after\":{after},\"bytes_per_entry\":{per_entry:.1},\"fill_seconds\":{filled_s:.2},\"value_size\":{},\"arc_value_size\":{},\"moka_floor_bytes_per_entry\":{floor_per_entry:.1},\"moka_floor_entry_count\":{}}}",
        cache.entry_count(),
        std::mem::size_of::<PassStatus>(),
        std::mem::size_of::<PassStatus>() + 16,
        floor.entry_count(),
    );
}
