//! The other clients of UiTPAS: a box office selling the same lines as orders that wait, and the
//! seller of a busy event. Their sales must never be taken for ours, nor cancelled.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::load::Load;
use crate::upstream::{active_sales, sandbox_token};
use crate::{OTHERS_TIMEOUT, TARIFF};

/// Who, besides the service, sells at UiTPAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seller {
    /// The box office: the same passes, events, tariff and price as orders that wait.
    BoxOffice,
    /// The seller of the busy event: a steady stream of sales on one event.
    Busy,
}

impl Seller {
    pub fn label_prefix(self) -> &'static str {
        match self {
            Seller::BoxOffice => "kassa",
            Seller::Busy => "drukte",
        }
    }
}

/// Other UiTPAS clients (own client credentials, own token), selling directly at
/// `POST /ticket-sales`. Each sale carries a label of its own (never one of the service's
/// markers), so that a sale whose answer was lost can be found again.
pub struct Others {
    http: reqwest::Client,
    base: String,
    token: tokio::sync::Mutex<String>,
    run_id: String,
    next: AtomicU64,
    /// UiTPAS id → who sold it.
    ids: Mutex<HashMap<String, Seller>>,
    pub refused: Mutex<BTreeMap<String, u64>>,
    pub lost_answers: AtomicU64,
    pub gave_up: AtomicU64,
}

impl Others {
    pub async fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(OTHERS_TIMEOUT).build()?;
        let token = sandbox_token(&http, base, "chaos-box-office", "chaos-box-office-secret").await?;
        Ok(Self {
            http,
            base: base.to_owned(),
            token: tokio::sync::Mutex::new(token),
            run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            next: AtomicU64::new(0),
            ids: Mutex::new(HashMap::new()),
            refused: Mutex::new(BTreeMap::new()),
            lost_answers: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
        })
    }

    pub fn ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seller>> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn count(&self, who: Seller) -> usize {
        self.ids().values().filter(|s| **s == who).count()
    }

    async fn token(&self) -> String {
        self.token.lock().await.clone()
    }

    async fn renew_token(&self) {
        if let Ok(t) = sandbox_token(&self.http, &self.base, "chaos-box-office", "chaos-box-office-secret").await {
            *self.token.lock().await = t;
        }
    }

    /// Sells one ticket of `pass` for `event` at the tariff and price of the orders, until
    /// UiTPAS answers (a 503 is tried again; a lost answer is looked up by the sale's label).
    pub async fn sell(&self, who: Seller, event: &str, pass: &str) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let label = format!("{} {}-{n}", who.label_prefix(), self.run_id);
        let body = json!([{
            "uitpasNumber": pass,
            "eventId": event,
            "tariff": {"id": TARIFF},
            "regularPrice": 10,
            "regularPriceLabel": label,
        }]);
        for attempt in 0..50u64 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 * attempt.min(10))).await;
            }
            let token = self.token().await;
            let response = self
                .http
                .post(format!("{}/ticket-sales", self.base))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(_) => {
                    // No answer: did UiTPAS make the sale? Look for its label.
                    self.lost_answers.fetch_add(1, Ordering::Relaxed);
                    match self.find(event, &label).await {
                        Some(ids) if !ids.is_empty() => {
                            self.ids().extend(ids.into_iter().map(|id| (id, who)));
                            return;
                        }
                        _ => continue,
                    }
                }
            };
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                let mut ids = self.ids();
                for sale in answer.as_array().into_iter().flatten() {
                    if let Some(id) = sale["id"].as_str() {
                        ids.insert(id.to_owned(), who);
                    }
                }
                return;
            }
            if status == StatusCode::UNAUTHORIZED {
                self.renew_token().await;
                continue;
            }
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                continue;
            }
            let kind = answer["type"].as_str().unwrap_or("(no problem type)");
            let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
            *refused.entry(format!("{status} {kind}")).or_insert(0) += 1;
            return;
        }
        self.gave_up.fetch_add(1, Ordering::Relaxed);
        eprintln!("chaos: the {who:?} seller gave up on {label}");
    }

    /// The ids of the event's active sales carrying `label`; `None` when the list cannot be read.
    async fn find(&self, event: &str, label: &str) -> Option<Vec<String>> {
        for _ in 0..20 {
            let token = self.token().await;
            match active_sales(&self.http, &self.base, &token, &[event.to_owned()]).await {
                Ok(sales) => {
                    return Some(
                        sales
                            .into_iter()
                            .filter(|(_, (_, l))| l.as_deref() == Some(label))
                            .map(|(id, _)| id)
                            .collect(),
                    );
                }
                // get-ticket-sales fails one time in ten.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        None
    }
}

/// The busy event's seller: a sale on `event` every `every`, each for a pass of its own (so that
/// no limit of UiTPAS is reached), until the load is done and at least `min` were made.
pub async fn busy_seller(others: Arc<Others>, load: Arc<Load>, event: String, every: Duration, min: usize) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(32));
    let mut n = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let made = others.count(Seller::Busy);
        if load.finished.load(Ordering::Relaxed) && made >= min {
            break;
        }
        // Bounded: once the load is done, give up after three times `min` tries without reaching it.
        if load.finished.load(Ordering::Relaxed) && n > (min as u64) * 3 {
            break;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (others, event) = (others.clone(), event.clone());
        let pass = uitpas_checkout::sandbox::dataset::synthetic_active_pass(5_000_000 + n);
        n += 1;
        tasks.spawn(async move {
            others.sell(Seller::Busy, &event, &pass).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(every).await;
    }
    while tasks.join_next().await.is_some() {}
}
