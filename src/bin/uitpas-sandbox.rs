//! `uitpas-sandbox`: an offline UiTPAS API 4.0, token server and UiTdatabank Entry API on one port.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use uitpas_checkout::sandbox::{self, SandboxConfig};

/// An offline stand-in for UiTPAS API 4.0, publiq's OAuth token server and the UiTdatabank Entry
/// API 3.0, playing publiq's test dataset. State is kept in memory.
///
/// Upstream operations: POST /realms/uitid/protocol/openid-connect/token and the old POST
/// /oauth/token (client credentials, form or JSON), GET /permissions,
/// GET /passes/{uitpasNumber}, GET /passes?identifier= (UiTPAS, chip or INSZ number),
/// GET /tariffs, GET /tariffs/static, POST /ticket-sales,
/// GET /ticket-sales?eventId=|passholderId=&organizerId=, DELETE /ticket-sales/{id},
/// POST /checkins, GET /checkins, DELETE /checkins/{checkinId}, GET /checkin-status,
/// GET /events/{eventId}/card-systems; the rewards GET /rewards, GET /rewards/{rewardId},
/// GET /rewards/{rewardId}/redeem-status, POST /rewards/redeemed, GET /rewards/redeemed and
/// DELETE /rewards/redeemed/{redeemedRewardId}; the Entry API's POST /events, GET, PUT and DELETE
/// /events/{eventId}, PUT /events/{eventId}/price-info, /calendar and /status; and a Search API's
/// GET /events?labels[]= (events by hidden label). Every operation but the token endpoint needs a
/// bearer token that this sandbox issued and that has not expired.
///
/// publiq's test dataset (2026-02): events 5a0967f9-cc06-4c3c-9206-30481a767434 (100 social
/// tariff sales per passholder a week), d83b5b8a-108a-45d6-9ac9-8bdc44a0a24a (1 a week) and
/// 373d6cee-b4ae-4637-9b7c-eeb79e45f044 (another organizer's: 403 but for sandbox-customer-b).
/// Passes: 0900000095902 and 1000000520006 no social tariff; 0900000067513 active (Gent);
/// 0900010959113 active in its grace period, with a message; 0900000031618 expired, with a
/// coupon; 0900000058918 expired; 0900000093204 active in Paspartoe, two coupons;
/// 0900000002312 blocked; family accounts 0900004518305 (none; its child's INSZ 20010170215
/// finds the same number) and 0900011902815 with child 0900011903417 (active); 0900000074519 and
/// 0900000020405 not registered to a passholder; group passes 0900000045410 (social tariff) and
/// 0900000191800 (a coupon, 50 a day). 0900000036112 and 0900000075706, replaced by publiq,
/// still work. Points: 0900000095902 has 100, 0900000067513 40. Rewards of the test organizer:
/// 5687 (10 points), 5688 (welcome), 5823 (5 points, once a week per passholder), 5824 (3
/// points, online, 10 a day in total, with a code), 5825 and 5826 (expired). Group passes cannot
/// redeem.
///
/// Clients (id / secret: organizer, permissions): uitpas-checkout-sandbox / sandbox: the test
/// organizer 0ce87cbc-9299-4528-8d35-92225dc9489f with TARIFFS_READ, TICKETSALES_REGISTER,
/// TICKETSALES_SEARCH, CHECKINS_READ, CHECKINS_WRITE, PASSES_READ, PASSES_INSZNUMBERS_READ,
/// PASSES_CHIPNUMBERS_READ, EVENTS_READ, REWARDS_READ and REWARDS_REDEEM; sandbox-customer-b / sandbox-b: the same for
/// organizer 6f1a8c3e-2b4d-4e7f-9a0b-c5d6e7f8a9b0 (of publiq's "Test event with no permission");
/// sandbox-no-register / sandbox-nr: the test organizer with TARIFFS_READ and TICKETSALES_SEARCH
/// only. Any other client id takes any non-empty secret and may do what uitpas-checkout-sandbox
/// may. A call without the permission for the event's organizer is 403
/// https://api.publiq.be/probs/auth/forbidden.
///
/// For tests and benchmarks: GET /_sandbox/stats (requests per operationId, and the delayed
/// requests held now), GET /_sandbox/ledger (every ticket sale with its status and label), GET
/// /_sandbox/rewards/redeemed (every redemption, cancelled ones too), GET and PUT
/// /_sandbox/passes/{uitpasNumber}/points with {"points": N} (a balance), PUT /_sandbox/faults with
/// {"operation": "<operationId>", "mode": "error"|"delay"|"drop-after-commit", "status": 503,
/// "delayMs": 2000, "times": 3, "probability": 0.3} (times absent: until cleared; probability
/// absent: every request), GET /_sandbox/faults, and DELETE /_sandbox/faults;
/// GET /_sandbox/clients/{clientId}/permissions, PUT with
/// [{"organizerId": "<uuid>", "permissions": ["TARIFFS_READ", ...]}] (replaces them, at once for
/// tokens already issued; in memory only) and DELETE (back to the start).
///
/// Synthetic passes: every Luhn-valid 13-digit number starting with 0999 exists, with an ACTIVE
/// social tariff when its 12th digit is even and NONE otherwise.
#[derive(Debug, Parser)]
#[command(name = "uitpas-sandbox", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port, printed at start).
    #[arg(long, env = "SANDBOX_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// Lifetime of issued access tokens, in seconds (publiq: 86400). Shorten it to test a
    /// client's token refresh.
    #[arg(long, env = "SANDBOX_TOKEN_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    token_ttl: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let running = sandbox::spawn(SandboxConfig {
        listen: args.listen,
        token_ttl: Duration::from_secs(args.token_ttl),
    })
    .await?;
    tracing::info!(url = %running.base_url(), token_ttl_s = args.token_ttl, "uitpas-sandbox listening");
    println!("uitpas-sandbox listening on {}", running.base_url());
    uitpas_checkout::app::shutdown_signal().await;
    tracing::info!("uitpas-sandbox stopping");
    running.shutdown().await;
    Ok(())
}
