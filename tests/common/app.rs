//! Typed helpers on [`TestApp`] for what many tests ask of the app and its sandbox, and bounded
//! waits.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::{Answer, TestApp};

/// How long a bounded wait pauses between two polls.
const POLL: Duration = Duration::from_millis(20);

/// What one poll of a bounded wait found: done (with a value), or not yet (with what it saw, for
/// the message of a wait that runs out).
pub trait Progress {
    type Done;
    fn progress(self) -> Result<Self::Done, String>;
}

impl Progress for bool {
    type Done = ();
    fn progress(self) -> Result<(), String> {
        if self { Ok(()) } else { Err(String::new()) }
    }
}

impl<T> Progress for Option<T> {
    type Done = T;
    fn progress(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

impl<T, E: Display> Progress for Result<T, E> {
    type Done = T;
    fn progress(self) -> Result<T, String> {
        self.map_err(|seen| seen.to_string())
    }
}

/// Polls `check` until it is done, for at most `limit`, doing `between` after each poll that is
/// not; fails saying `what` did not happen in time, and what the last poll saw.
async fn bounded<P: Progress, B: Future<Output = ()>>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> P,
    mut between: impl FnMut() -> B,
) -> P::Done {
    let deadline = Instant::now() + limit;
    loop {
        match check().await.progress() {
            Ok(done) => return done,
            Err(seen) => {
                assert!(Instant::now() < deadline, "{what} within {limit:?}: {seen}");
                between().await;
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Polls `check` until it holds (`true`, `Some`, `Ok`), for at most `limit`; its value.
pub async fn until<P: Progress>(what: &str, limit: Duration, check: impl AsyncFnMut() -> P) -> P::Done {
    bounded(what, limit, check, || async {}).await
}

impl TestApp {
    /// Every redemption the sandbox ever made, cancelled ones included.
    pub async fn sandbox_redemptions(&self) -> Vec<Value> {
        super::sandbox_get(&self.sandbox, "/_sandbox/rewards/redeemed").await["redeemedRewards"]
            .as_array()
            .cloned()
            .expect("a list of redemptions")
    }

    /// The redemptions the sandbox holds that are not cancelled.
    pub async fn live_redemptions(&self) -> Vec<Value> {
        let mut all = self.sandbox_redemptions().await;
        all.retain(|r| r["cancelledAt"].is_null());
        all
    }

    /// [`until`], working the worker's queue ([`Self::drain`]) between polls.
    pub async fn drain_until<P: Progress>(
        &self,
        what: &str,
        limit: Duration,
        check: impl AsyncFnMut() -> P,
    ) -> P::Done {
        bounded(what, limit, check, || async {
            self.drain().await;
        })
        .await
    }

    /// `GET /v1/registrations/{id}` with the shop key, which must answer 200; the registration.
    pub async fn registration(&self, id: &str) -> Value {
        let read = self
            .shop(Method::GET, &format!("/v1/registrations/{id}"), None, &[])
            .await;
        assert_eq!(read.status, 200, "{}", read.body);
        read.body
    }

    /// The sandbox's active sales.
    pub async fn active_sales(&self) -> Vec<Value> {
        self.sandbox_ledger()
            .await
            .into_iter()
            .filter(|s| s["status"] == "ACTIVE")
            .collect()
    }

    /// A request with another key than the shop's (an admin key, a customer's key), and an
    /// Idempotency-Key when given.
    pub async fn with_key(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Answer {
        let auth = format!("Bearer {key}");
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(idempotency_key) = idempotency_key {
            headers.push(("idempotency-key", idempotency_key));
        }
        self.request(method, path, body, &headers).await
    }

    /// `POST /v1/registrations` with another key than the shop's (another customer's), and an
    /// Idempotency-Key.
    pub async fn register_as(&self, key: &str, idempotency_key: &str, body: Value) -> Answer {
        self.with_key(
            key,
            Method::POST,
            "/v1/registrations",
            Some(body),
            Some(idempotency_key),
        )
        .await
    }

    /// `POST /v1/checkout-tokens` with the shop key.
    pub async fn mint_checkout_token(&self, body: Value) -> Answer {
        self.shop(Method::POST, "/v1/checkout-tokens", Some(body), &[]).await
    }

    /// A token of the sandbox for the organizer's box office: another client of UiTPAS.
    pub async fn box_office_token(&self) -> String {
        super::sandbox_token(&self.http, &self.sandbox.base_url(), "box-office").await
    }

    /// Sells at the sandbox with `token` (as the box office would): these ticket sales, in UiTPAS's
    /// words ([`super::fixtures::uitpas_sale`]); the sales made.
    pub async fn sell_at_uitpas(&self, token: &str, sales: &[Value]) -> Vec<Value> {
        let answer = self
            .http
            .post(format!("{}/ticket-sales", self.sandbox.base_url()))
            .bearer_auth(token)
            .json(sales)
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "the box office sells: {}",
            answer.status()
        );
        answer.json().await.unwrap()
    }
}
