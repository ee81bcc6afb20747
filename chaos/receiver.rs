//! The shop's webhook receiver: verifies every delivery as a shop must (with the library's
//! [`webhooks::verify`](uitpas_checkout::webhooks::verify)), records the event ids it accepted, and
//! fails now and then while the faults last. Some events it never takes (`--webhook-dead-rate`):
//! every delivery of those hangs, also after the faults are cleared, until the service gives it up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use uitpas_checkout::config::Secret;
use uitpas_checkout::webhooks::{SIGNATURE_HEADER, verify::verify};

use crate::{WEBHOOK_HANG, WEBHOOK_SECRET};

/// How far a delivery's timestamp may be from the receiver's clock.
const TOLERANCE: Duration = Duration::from_secs(300);

/// The shop backend's webhook endpoint: verifies every delivery's signature and records the event
/// ids it accepted; while the faults last it answers 500 or hangs past WEBHOOK_TIMEOUT now and then.
pub struct Receiver {
    pub faulty: AtomicBool,
    error_rate: f64,
    hang_rate: f64,
    dead_rate: f64,
    /// Event id → times accepted (a valid signature, answered 200 in time).
    accepted: Mutex<HashMap<String, u32>>,
    pub requests: AtomicU64,
    pub answered_500: AtomicU64,
    pub hung: AtomicU64,
    /// Deliveries of the events it never takes (each hung).
    pub dead_deliveries: AtomicU64,
    /// Deliveries whose signature (or `Webhook-Id`, or body) did not verify: answered 400.
    pub invalid: AtomicU64,
    invalid_examples: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Receiver {
    pub fn new(error_rate: f64, hang_rate: f64, dead_rate: f64) -> Self {
        Receiver {
            faulty: AtomicBool::new(true),
            error_rate,
            hang_rate,
            dead_rate,
            accepted: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            answered_500: AtomicU64::new(0),
            hung: AtomicU64::new(0),
            dead_deliveries: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            invalid_examples: Mutex::new(Vec::new()),
        }
    }

    pub fn accepted(&self) -> MutexGuard<'_, HashMap<String, u32>> {
        lock(&self.accepted)
    }

    pub fn invalid_examples(&self) -> Vec<String> {
        lock(&self.invalid_examples).clone()
    }

    /// Whether the receiver never takes this event: drawn from the event id itself (random), so
    /// every delivery of it gets the same answer, whichever replica sends it.
    pub fn never_takes(&self, id: &str) -> bool {
        let Ok(id) = uuid::Uuid::parse_str(id) else {
            return false;
        };
        let tail = u64::from_le_bytes(id.as_bytes()[8..16].try_into().unwrap_or([0; 8]));
        (tail as f64 / u64::MAX as f64) < self.dead_rate
    }

    /// Listens on a free loopback port: `POST /webhooks`.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .route("/webhooks", axum::routing::post(receive_webhook))
            .with_state(self.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("chaos: the webhook receiver stopped: {e}");
            }
        });
        Ok((addr, task))
    }
}

/// Checks a delivery as a shop must: the signature header against the raw body with the secret
/// (`webhooks::verify`, 5 minutes of tolerance), and `Webhook-Id` the body's `id`. The event id.
fn check_delivery(headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Uitpas-Checkout-Signature header")?;
    verify(
        &[Secret::new(WEBHOOK_SECRET)],
        header,
        body,
        chrono::Utc::now(),
        TOLERANCE,
    )
    .map_err(|e| format!("{e} ({header:?})"))?;
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let id = value["id"].as_str().ok_or("the body has no id")?;
    let header_id = headers.get("webhook-id").and_then(|v| v.to_str().ok());
    if header_id != Some(id) {
        return Err(format!("Webhook-Id {header_id:?} is not the body's id {id}"));
    }
    if value["type"].as_str().is_none_or(str::is_empty) {
        return Err(format!("event {id} has no type"));
    }
    Ok(id.to_owned())
}

async fn receive_webhook(
    axum::extract::State(receiver): axum::extract::State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    receiver.requests.fetch_add(1, Ordering::Relaxed);
    let id = match check_delivery(&headers, &body) {
        Ok(id) => id,
        Err(why) => {
            receiver.invalid.fetch_add(1, Ordering::Relaxed);
            let mut examples = lock(&receiver.invalid_examples);
            if examples.len() < 20 {
                eprintln!("chaos: webhook refused: {why}");
                examples.push(why);
            }
            return StatusCode::BAD_REQUEST;
        }
    };
    if receiver.never_takes(&id) {
        // Past WEBHOOK_TIMEOUT, every time: the service must give this one up.
        receiver.dead_deliveries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(WEBHOOK_HANG).await;
        return StatusCode::OK;
    }
    if receiver.faulty.load(Ordering::SeqCst) {
        let roll = fastrand::f64();
        if roll < receiver.error_rate {
            receiver.answered_500.fetch_add(1, Ordering::Relaxed);
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        if roll < receiver.error_rate + receiver.hang_rate {
            // Past WEBHOOK_TIMEOUT: the replica gave up, so this one does not count as received.
            receiver.hung.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(WEBHOOK_HANG).await;
            return StatusCode::OK;
        }
    }
    *receiver.accepted().entry(id).or_insert(0) += 1;
    StatusCode::OK
}
