//! What an attacker gets through each door to a pass's status (issue 21): distinct pass numbers
//! answered per minute, as the configured limits allow them and as measured against a service
//! started here, in-process, on the embedded sandbox with a database of its own (dropped at the
//! end).
//!
//! `bench/oracle` (or `cargo run --example bench-oracle`); `ORACLE_SECONDS` (default 10) is the
//! length of each measurement, `PG_URL` the PostgreSQL server (default
//! `postgres://postgres@127.0.0.1:5432`). The limits are the service's own settings, read from the
//! environment as the service reads them (`PUBLIC_RATE_LIMIT`, `PUBLISHABLE_KEY_RATE_LIMIT`,
//! `DOOR_RATE_LIMIT`, `REWARDS_RATE_LIMIT`): their defaults unless set. Every figure is per replica.
//!
//! Each measurement asks for a new synthetic pass (`0999…`) with every request, from 8 workers at
//! once, for `ORACLE_SECONDS`; a number is "answered" unless the answer is 429 or a spent token's
//! 403 (a 404 tells the attacker something too). The per-minute figure is the steady rate after
//! the first burst: (answered − burst) / seconds × 60.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use sqlx::Connection;
use uitpas_checkout::Config;
use uitpas_checkout::config::{HumanDuration, ReconcileAt, Secret, SecretList};
use uitpas_checkout::sandbox::dataset::synthetic_active_pass;

const SHOP_KEY: &str = "sk_oracle-shop-key-0123456789";
const PUBLISHABLE_KEY: &str = "pk_oracle-publishable-0123456789";
const TEST_EVENT: &str = "5a0967f9-cc06-4c3c-9206-30481a767434";
const WORKERS: u64 = 8;

/// Where each request seems to come from (the service trusts `x-forwarded-for` here).
#[derive(Clone, Copy)]
enum From {
    OneAddress,
    /// A new address per request, all in one IPv6 /64.
    OneSlash64,
    /// A new /64 per request.
    NewSlash64,
}

impl From {
    fn address(self, i: u64) -> String {
        match self {
            From::OneAddress => "192.0.2.1".into(),
            From::OneSlash64 => format!("2001:db8:1:2:{:x}:{:x}::1", i >> 16 & 0xffff, i & 0xffff),
            From::NewSlash64 => format!("2001:db8:{:x}:{:x}::1", i >> 16 & 0xffff, i & 0xffff),
        }
    }
}

struct Door {
    name: &'static str,
    from: From,
    /// `Bearer …`
    auth: String,
    /// Which endpoint it asks.
    path: Path,
    /// The configured figure per minute and the burst before it (`None`: no limit).
    limit_per_minute: Option<u64>,
    burst: u64,
    /// A total over the credential's life (a checkout token's budget), not a rate.
    lifetime: Option<u64>,
}

/// The endpoints that answer a pass's status or data.
#[derive(Clone, Copy)]
enum Path {
    /// `GET /v1/passes/{n}`
    Public,
    /// `GET /v1/door/passes?identifier=`
    Door,
    /// `GET /v1/rewards/5687/redeem-status?uitpasNumber=`
    RedeemStatus,
}

impl Path {
    fn url(self, base: &str, number: &str) -> String {
        match self {
            Self::Public => format!("{base}/v1/passes/{number}"),
            Self::Door => format!("{base}/v1/door/passes?identifier={number}"),
            Self::RedeemStatus => format!("{base}/v1/rewards/5687/redeem-status?uitpasNumber={number}"),
        }
    }
}

/// Runs one door for `seconds`: how many distinct numbers were answered.
async fn measure(http: &reqwest::Client, base: &str, door: &Door, seconds: u64, first: u64) -> u64 {
    let next = Arc::new(AtomicU64::new(first));
    let answered = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (http, next, answered) = (http.clone(), next.clone(), answered.clone());
        let (base, auth, from, path) = (base.to_owned(), door.auth.clone(), door.from, door.path);
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let number = synthetic_active_pass(i);
                let url = path.url(&base, &number);
                let Ok(answer) = http
                    .get(url)
                    .header("authorization", &auth)
                    .header("x-forwarded-for", from.address(i))
                    .send()
                    .await
                else {
                    continue;
                };
                let status = answer.status().as_u16();
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                let spent = status == 403 && body["type"] == "urn:uitpas-checkout:problem:checkout-token-budget-spent";
                if status != 429 && !spent {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                if status == 429 || spent {
                    // A refusal costs the attacker nothing: ask again at once, but let the
                    // other workers run.
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    answered.load(Ordering::Relaxed)
}

fn per_minute(per_second: u32) -> Option<u64> {
    (per_second > 0).then(|| u64::from(per_second) * 60)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("ORACLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let pg = std::env::var("PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("oracle_{}", uuid::Uuid::new_v4().simple());

    // The service's own settings from the environment, as it reads them; then what this run needs.
    let mut config = Config::parse_from(["uitpas-checkout"]);
    config.listen_addr = "127.0.0.1:0".parse()?;
    config.database_url = Secret::new(format!("{pg}/{name}"));
    config.uitpas_client_id = None;
    config.uitpas_client_secret = None;
    config.shop_api_keys = Some(SecretList(vec![Secret::new(SHOP_KEY)]));
    config.publishable_keys = Some(SecretList(vec![Secret::new(PUBLISHABLE_KEY)]));
    config.client_ip_header = Some("x-forwarded-for".into());
    config.operator_keys = Some(SecretList(vec![Secret::new("op_oracle-operator-0123456789")]));
    config.reconcile_at = ReconcileAt(None);
    config.replay_poll_interval = HumanDuration(Duration::from_secs(3600));
    let (per_address, per_key, door, rewards) = (
        config.public_rate_limit,
        config.publishable_key_rate_limit,
        config.door_rate_limit,
        config.rewards_rate_limit,
    );

    let app = uitpas_checkout::build(config).await?;
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;

    let minted: Value = http
        .post(format!("{base}/v1/checkout-tokens"))
        .bearer_auth(SHOP_KEY)
        .json(&json!({"eventIds": [TEST_EVENT], "maxPasses": 50, "expiresIn": 7200}))
        .send()
        .await?
        .json()
        .await?;
    let token = minted["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no checkout token: {minted}"))?;

    let publishable = format!("Bearer {PUBLISHABLE_KEY}");
    let address_limit = per_minute(per_address);
    let doors = [
        Door {
            name: "public, publishable key, one IPv4 address",
            from: From::OneAddress,
            auth: publishable.clone(),
            path: Path::Public,
            limit_per_minute: address_limit,
            burst: u64::from(per_address) * 2,
            lifetime: None,
        },
        Door {
            name: "public, publishable key, a new address per request in one IPv6 /64",
            from: From::OneSlash64,
            auth: publishable.clone(),
            path: Path::Public,
            limit_per_minute: address_limit,
            burst: u64::from(per_address) * 2,
            lifetime: None,
        },
        Door {
            name: "public, publishable key (or secret key), a new /64 per request",
            from: From::NewSlash64,
            auth: publishable.clone(),
            path: Path::Public,
            limit_per_minute: per_minute(per_key),
            burst: u64::from(per_key) * 2,
            lifetime: None,
        },
        Door {
            name: "public, one checkout token (maxPasses 50, the most), a new /64 per request",
            from: From::NewSlash64,
            auth: format!("Bearer {token}"),
            path: Path::Public,
            limit_per_minute: address_limit,
            burst: u64::from(per_address) * 2,
            lifetime: Some(50),
        },
        Door {
            name: "door (GET /v1/door/passes), one secret key, a new /64 per request",
            from: From::NewSlash64,
            auth: format!("Bearer {SHOP_KEY}"),
            path: Path::Door,
            limit_per_minute: (door > 0).then_some(u64::from(door)),
            burst: u64::from(door / 6).max(1),
            lifetime: None,
        },
        Door {
            name: "a reward's redeem-status (points balance), one secret key, a new /64 per request",
            from: From::NewSlash64,
            auth: format!("Bearer {SHOP_KEY}"),
            path: Path::RedeemStatus,
            limit_per_minute: (rewards > 0).then_some(u64::from(rewards)),
            burst: u64::from(rewards / 6).max(1),
            lifetime: None,
        },
    ];

    println!("Distinct pass numbers an attacker gets, per replica ({seconds} s per door, 8 workers):");
    println!();
    println!(
        "| door | configured: per minute (burst) | measured in {seconds} s | measured: per minute after the burst |"
    );
    println!("| --- | --- | --- | --- |");
    for (i, door) in doors.iter().enumerate() {
        let answered = measure(&http, &base, door, seconds, 1_000_000 * (i as u64 + 1)).await;
        let configured = match (door.lifetime, door.limit_per_minute) {
            (Some(total), Some(rate)) => format!("{total} in the token's life (≤ {rate}/min while it lasts)"),
            (Some(total), None) => format!("{total} in the token's life"),
            (None, Some(rate)) => format!("{rate} ({})", door.burst),
            (None, None) => "no limit".into(),
        };
        let steady = match door.lifetime {
            Some(_) => format!("{answered} in all"),
            None => {
                let after_burst = answered.saturating_sub(door.burst.min(answered));
                format!("{}", after_burst * 60 / seconds.max(1))
            }
        };
        println!("| {} | {configured} | {answered} | {steady} |", door.name);
    }

    let _ = stop.send(());
    let _ = running.await;
    if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{pg}/postgres")).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
    Ok(())
}
