//! The sandbox as the campaign drives it: its token server, events, faults (errors, lost
//! answers, delays within and past the window, a slow token server), and what it has at the end.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::options::Options;
use crate::{TEST_ORGANIZER, UPSTREAM_TIMEOUT};

/// A token of the sandbox's token server for the given client.
pub async fn sandbox_token(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .json(&json!({
            "client_id": client_id,
            "client_secret": secret,
            "audience": "https://api.publiq.be",
            "grant_type": "client_credentials",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(token["access_token"].as_str().context("an access token")?.to_owned())
}

pub async fn create_events(http: &reqwest::Client, base: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let token = sandbox_token(http, base, "chaos", "chaos-secret").await?;
    let mut events = Vec::with_capacity(count);
    for i in 0..count {
        let body = json!({
            "mainLanguage": "nl",
            "name": {"nl": format!("Chaos {i}")},
            "calendarType": "permanent",
            "location": {"@id": format!("https://io-test.uitdatabank.be/places/{}", uuid::Uuid::new_v4())},
            "organizer": {"@id": format!("https://io-test.uitdatabank.be/organizers/{TEST_ORGANIZER}")},
            "terms": [{"id": "0.50.4.0.0", "domain": "eventtype"}],
            "priceInfo": [{"category": "base", "price": 10, "priceCurrency": "EUR"}],
        });
        let response = http
            .post(format!("{base}/events"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status != StatusCode::CREATED {
            bail!("POST /events answered {status}: {answer}");
        }
        events.push(answer["id"].as_str().context("the new event's id")?.to_owned());
    }
    Ok(events)
}

pub async fn set_faults(http: &reqwest::Client, base: &str, options: &Options) -> anyhow::Result<()> {
    let mut faults = Vec::new();
    for operation in [
        "post-ticket-sales",
        "delete-ticket-sales",
        "post-rewards-redeemed",
        "delete-rewards-redeemed-redeemedRewardId",
    ] {
        faults.push(json!({"operation": operation, "mode": "error", "status": 503, "probability": options.error_rate}));
        faults.push(json!({"operation": operation, "mode": "drop-after-commit", "probability": options.drop_rate}));
    }
    faults.push(json!({"operation": "get-ticket-sales", "mode": "error", "status": 503, "probability": 0.1}));
    // What a look at a pass's redemptions reads.
    faults.push(json!({"operation": "get-rewards-redeemed", "mode": "error", "status": 503, "probability": 0.1}));
    if options.delay_rate + options.late_rate > 0.0 {
        faults.extend(DELAYED.map(|operation| delay_fault(options, operation)));
    }
    if options.token_delay_rate > 0.0 {
        faults.push(token_delay_fault(options));
    }
    for fault in faults {
        let response = http.put(format!("{base}/_sandbox/faults")).json(&fault).send().await?;
        if !response.status().is_success() {
            bail!(
                "the sandbox refused the fault {fault}: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// The writes that are delayed (within the window and past it): a ticket sale and a redemption.
const DELAYED: [&str; 2] = ["post-ticket-sales", "post-rewards-redeemed"];

/// A delay of `operation` (the sandbox holds one delay per operation: [`rotate_delays`]
/// draws a new one now and then). With `--delay-rate` it is drawn between just over
/// UPSTREAM_TIMEOUT and --max-delay, within the window; with `--late-rate` past the window, by
/// 0.5 s to --late-by: the share of each is that of its rate.
fn delay_fault(options: &Options, operation: &str) -> Value {
    let probability = (options.delay_rate + options.late_rate).min(1.0);
    let late = fastrand::f64() * probability < options.late_rate;
    let (low, high) = if late {
        let end = options.window();
        (end + Duration::from_millis(500), end + options.late_by)
    } else {
        (UPSTREAM_TIMEOUT + Duration::from_millis(200), options.max_delay)
    };
    let (low, high) = (millis(low), millis(high));
    json!({
        "operation": operation,
        "mode": "delay",
        "delayMs": fastrand::u64(low..=high.max(low)),
        "probability": probability,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A late answer of the token server, drawn up to 90 % of UPSTREAM_TIMEOUT (so that the fetch
/// itself succeeds and the request leaves late).
fn token_delay_fault(options: &Options) -> Value {
    let high = (UPSTREAM_TIMEOUT.as_millis() as u64) * 9 / 10;
    json!({
        "operation": "post-oauth-token",
        "mode": "delay",
        "delayMs": fastrand::u64(high / 4..=high),
        "probability": options.token_delay_rate,
    })
}

/// Draws new delays every 200 ms, so that the delayed registrations (and token fetches) spread
/// over the whole range.
pub async fn rotate_delays(http: reqwest::Client, base: String, options: Options) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut faults = Vec::new();
        if options.delay_rate + options.late_rate > 0.0 {
            faults.extend(DELAYED.map(|operation| delay_fault(&options, operation)));
        }
        if options.token_delay_rate > 0.0 {
            faults.push(token_delay_fault(&options));
        }
        for fault in faults {
            let _ = http.put(format!("{base}/_sandbox/faults")).json(&fault).send().await;
        }
    }
}

/// Every active sale of the events as UiTPAS lists them (`GET /ticket-sales`, every page), with
/// its label: id → (event, label).
pub async fn active_sales(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    events: &[String],
) -> anyhow::Result<HashMap<String, (String, Option<String>)>> {
    let mut sales = HashMap::new();
    for event in events {
        let mut start = 0;
        loop {
            let page: Value = http
                .get(format!("{base}/ticket-sales"))
                .query(&[
                    ("eventId", event.as_str()),
                    ("start", &start.to_string()),
                    ("limit", "500"),
                ])
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let members = page["member"].as_array().context("a page of ticket sales")?;
            for m in members {
                if let Some(id) = m["id"].as_str() {
                    let label = m["regularPriceLabel"].as_str().map(str::to_owned);
                    sales.insert(id.to_owned(), (event.clone(), label));
                }
            }
            start += members.len();
            if members.is_empty() || start as u64 >= page["totalItems"].as_u64().unwrap_or(0) {
                break;
            }
        }
    }
    Ok(sales)
}

/// What UiTPAS (the sandbox) has at the end.
pub struct UitpasLedger {
    /// id → status (`ACTIVE`, `CANCELLED`), every sale ever made (`/_sandbox/ledger`).
    pub status: HashMap<String, String>,
    /// id → `regularPriceLabel`, of every sale that has one (so the service's markers).
    pub labels: HashMap<String, String>,
    /// id → when UiTPAS made it (`createdAt`).
    pub created: HashMap<String, String>,
}

/// Every sale UiTPAS ever made, cancelled ones included, with its label.
pub async fn uitpas_ledger(http: &reqwest::Client, base: &str) -> anyhow::Result<UitpasLedger> {
    let ledger: Value = http
        .get(format!("{base}/_sandbox/ledger"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let sales = ledger["ticketSales"].as_array().context("the sandbox ledger")?;
    let mut status = HashMap::new();
    let mut labels = HashMap::new();
    let mut created = HashMap::new();
    for s in sales {
        let Some(id) = s["id"].as_str() else { continue };
        if let Some(st) = s["status"].as_str() {
            status.insert(id.to_owned(), st.to_owned());
        }
        if let Some(label) = s["regularPriceLabel"].as_str() {
            labels.insert(id.to_owned(), label.to_owned());
        }
        if let Some(at) = s["createdAt"].as_str() {
            created.insert(id.to_owned(), at.to_owned());
        }
    }
    Ok(UitpasLedger {
        status,
        labels,
        created,
    })
}

/// The sandbox's counters: calls per operationId (those made), and the requests it holds
/// (delayed, not carried out yet).
pub async fn sandbox_stats(http: &reqwest::Client, base: &str) -> anyhow::Result<(BTreeMap<String, u64>, u64)> {
    let stats: Value = http
        .get(format!("{base}/_sandbox/stats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let calls = stats["operations"]
        .as_object()
        .map(|ops| {
            ops.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default();
    let held = stats["delayedInFlight"]
        .as_u64()
        .context("the sandbox's stats have no delayedInFlight")?;
    Ok((calls, held))
}

/// Clears every fault of the sandbox (requests it holds are still carried out).
pub async fn clear_faults(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let response = http.delete(format!("{base}/_sandbox/faults")).send().await?;
    if !response.status().is_success() {
        bail!("clearing the faults: {}", response.status());
    }
    Ok(())
}
