//! After the load: waiting for the ledger to settle, and reading what the service has at the end
//! (its ledger, its webhook events and how their deliveries went).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::Method;
use sqlx::PgPool;

use crate::load::{Answer, Load};
use crate::upstream::sandbox_stats;

/// Waits until nothing is left to do: no job (but webhook deliveries given up: those stay parked
/// for a person), no pending registration, no cancelling sale, no redemption pending, cancelling
/// or held, and no request UiTPAS still holds
/// (a late one commits when its delay ends, and may leave work behind). `None` when that is not
/// so within `limit`.
pub async fn settle(
    db: &PgPool,
    http: &reqwest::Client,
    base: &str,
    limit: Duration,
) -> anyhow::Result<Option<Duration>> {
    let start = Instant::now();
    let deadline = start + limit;
    let mut last_report = Instant::now();
    loop {
        let (jobs, deliveries, pending, cancelling, redemptions): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM jobs WHERE kind <> 'deliver_webhook'),
                    (SELECT count(*) FROM jobs WHERE kind = 'deliver_webhook' AND parked_at IS NULL),
                    (SELECT count(*) FROM registrations WHERE status = 'pending'),
                    (SELECT count(*) FROM ticket_sales WHERE status = 'cancelling'),
                    (SELECT count(*) FROM reward_redemptions
                      WHERE status IN ('pending', 'cancelling') OR hold_state = 'held')",
        )
        .fetch_one(db)
        .await?;
        let (_, held) = sandbox_stats(http, base).await?;
        if jobs == 0 && deliveries == 0 && pending == 0 && cancelling == 0 && redemptions == 0 && held == 0 {
            return Ok(Some(start.elapsed()));
        }
        let state = format!(
            "jobs={jobs} webhook deliveries={deliveries} pending={pending} cancelling={cancelling} redemptions unsettled={redemptions} held by UiTPAS={held}"
        );
        if Instant::now() >= deadline {
            println!("not settled after {limit:?}: {state}");
            return Ok(None);
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            println!("[settling {:5.1}s] {state}", start.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A ledger line, as the verdict needs it.
#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub idempotency_key: String,
    pub registration_id: String,
    pub registration_status: String,
    /// `held`, `confirmed`, `released` or `expired` for a hold; `None` otherwise.
    pub hold_state: Option<String>,
    pub sale_id: String,
    pub status: String,
    pub uitpas_id: Option<String>,
    /// When the order was stored and its line registered and cancelled, and the strays found of
    /// it: how a double came about.
    pub timings: String,
}

pub async fn read_ledger(db: &PgPool) -> anyhow::Result<Vec<LedgerRow>> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        Option<String>,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.idempotency_key, r.id::text, r.status, r.hold_state, t.id::text, t.status, t.uitpas_ticket_sale_id,
                format('stored %s, registered %s, cancelled %s, strays %s', r.created_at, t.registered_at,
                       t.cancelled_at,
                       (SELECT string_agg(format('%s found %s cancelled %s', s.uitpas_ticket_sale_id, s.found_at,
                                                 s.cancelled_at), '; ')
                        FROM stray_sales s WHERE s.ticket_sale_id = t.id))
         FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                idempotency_key,
                registration_id,
                registration_status,
                hold_state,
                sale_id,
                status,
                uitpas_id,
                timings,
            )| {
                LedgerRow {
                    timings,
                    idempotency_key,
                    registration_id,
                    registration_status,
                    hold_state,
                    sale_id,
                    status,
                    uitpas_id,
                }
            },
        )
        .collect())
}

/// A stored webhook event.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    pub id: String,
    pub kind: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub delivered: bool,
}

pub async fn read_webhook_events(db: &PgPool) -> anyhow::Result<Vec<WebhookEvent>> {
    let rows: Vec<(String, String, i32, Option<String>, bool)> = sqlx::query_as(
        "SELECT id::text, type, attempts, last_error, delivered_at IS NOT NULL FROM webhook_events ORDER BY created_at",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, attempts, last_error, delivered)| WebhookEvent {
            id,
            kind,
            attempts,
            last_error,
            delivered,
        })
        .collect())
}

/// How the service says each event's delivery went, as the shop reads it
/// (`GET /v1/webhook-deliveries`, every page): event id → (`status`, `attempts`). The status is
/// `delivered`, `pending`, `failing` (tried, to be tried again) or `failed` (given up after
/// WEBHOOK_MAX_ATTEMPTS attempts).
pub async fn read_deliveries(load: &Load) -> anyhow::Result<HashMap<String, (String, i64)>> {
    let mut deliveries = HashMap::new();
    let mut start = 0usize;
    loop {
        let path = format!("/v1/webhook-deliveries?start={start}&limit=100");
        let page = match load.send(Method::GET, &path, None, None).await {
            Answer::Final(200, page) => page,
            Answer::Final(status, answer) => anyhow::bail!("GET {path} answered {status}: {answer}"),
            Answer::Unanswered(why) => anyhow::bail!("GET {path} got no answer: {why}"),
        };
        let members = page["member"].as_array().context("a page of webhook deliveries")?;
        for m in members {
            if let (Some(id), Some(status)) = (m["id"].as_str(), m["status"].as_str()) {
                deliveries.insert(id.to_owned(), (status.to_owned(), m["attempts"].as_i64().unwrap_or(0)));
            }
        }
        start += members.len();
        let total = page["totalItems"].as_u64().unwrap_or(0);
        if members.is_empty() || start as u64 >= total {
            return Ok(deliveries);
        }
    }
}
