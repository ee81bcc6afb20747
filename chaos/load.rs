//! The load: orders (registered, sometimes cancelled) and holds (confirmed, released or left to
//! expire), sent as a shop would, to a random live replica, the same request again on another
//! one after a connection error or a 5xx.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::options::Options;
use crate::others::{Others, Seller};
use crate::postgres::Postgres;
use crate::replicas::Fleet;
use crate::{HOLD_EXPIRES_IN, MAX_NOT_YET, MAX_TRIES, OUTAGE_TRIES, SHOP_KEY, TARIFF};

/// What the shop was told about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    Registered,
    Pending,
    Rejected,
    /// No final answer within the bounded retries.
    Unanswered,
}

/// What became of an order's cancellation, seen from the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelRecord {
    NotAsked,
    /// The service took it: 204 (cancelled) or 202 (cancelling).
    Made(u16),
    /// Still 409 (not registered) after every try.
    GaveUp,
    /// Another 4xx.
    Refused(u16, String),
    /// No final answer within the bounded retries.
    Unanswered,
}

#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub key: String,
    pub told: Told,
    pub problem: Option<String>,
    /// The ledger's ticket-sale id, from a 201 or 202.
    pub sale_id: Option<String>,
    /// The UiTPAS id a 201 carried.
    pub told_uitpas_id: Option<String>,
    pub cancel: CancelRecord,
}

/// What the shop does with a hold after the "payment".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldFate {
    /// Paid: confirm it (now and then right around its expiry, racing the worker).
    Confirm,
    /// Payment failed: release it.
    Release,
    /// The buyer walked away: nothing, it expires.
    Expire,
}

/// What the confirm or the release of a hold answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldAnswer {
    NotAsked,
    /// 200 on confirm: the registration's status and its (ledger id, UiTPAS id) sales.
    Confirmed {
        status: String,
        sales: Vec<(String, Option<String>)>,
    },
    /// 200 on release.
    Released,
    /// Another answer (409 `hold-expired`, …): the status and problem type.
    Refused(u16, String),
    /// No final answer within the bounded retries.
    Unanswered,
}

/// The problem type of the service's 503 when it could not get a database connection in time.
const DATABASE_UNAVAILABLE: &str = "urn:uitpas-checkout:problem:database-unavailable";

#[derive(Debug, Clone)]
pub struct HoldRecord {
    pub key: String,
    pub fate: HoldFate,
    pub expires_in: u64,
    /// 201 (held) or 202 (pending) on `POST /v1/registrations`, a 4xx, or nothing.
    pub told: Told,
    pub problem: Option<String>,
    pub registration_id: Option<String>,
    pub answer: HoldAnswer,
}

/// What an order answered 201 told the shop: read back later, it must never read as less.
#[derive(Debug, Clone)]
pub struct ToldRegistered {
    pub key: String,
    pub registration_id: String,
    /// (ledger ticket-sale id, UiTPAS id), as in the 201.
    pub sales: Vec<(String, Option<String>)>,
}

/// What every load task shares.
pub struct Load {
    pub http: reqwest::Client,
    pub fleet: Arc<Fleet>,
    pub run_id: String,
    pub events: Vec<String>,
    pub passes: Vec<String>,
    pub cancel_rate: f64,
    pub hold_rate: f64,
    /// Holds made (answered 201 or 202), confirmed (200) and released (200).
    pub holds: AtomicUsize,
    pub holds_confirmed: AtomicUsize,
    pub holds_released: AtomicUsize,
    pub next: AtomicUsize,
    pub done: AtomicUsize,
    pub registered: AtomicUsize,
    pub pending: AtomicUsize,
    pub rejected: AtomicUsize,
    pub cancels: AtomicUsize,
    pub retries: AtomicU64,
    /// Requests to a replica in flight now.
    pub in_flight: AtomicUsize,
    /// Requests that got no answer (connection refused or reset, timeout): what kills cause.
    pub connection_errors: AtomicU64,
    /// 5xx answers of the service, by `METHOD route status problem-type`: none is expected, as
    /// an outage of UiTPAS is answered 202 on both shop endpoints.
    pub server_errors: Mutex<BTreeMap<String, u64>>,
    /// The same, while PostgreSQL was down (or within [`OUTAGE_GRACE`] of its return): expected.
    pub outage_errors: Mutex<BTreeMap<String, u64>>,
    /// The service's 503 `database-unavailable` to requests in flight while their replica was
    /// paused (SIGSTOP): its pool's wait for a connection timed out when it resumed. Expected.
    pub pause_errors: Mutex<BTreeMap<String, u64>>,
    /// Set once every order has been answered.
    pub finished: AtomicBool,
    pub others: Option<Arc<Others>>,
    pub box_office_rate: f64,
    pub pg: Option<Arc<Postgres>>,
    /// Every order answered 201, in the order of the answers.
    pub told: Mutex<Vec<ToldRegistered>>,
    /// Read-backs of what was told: done, and those that read less (with examples).
    pub rereads: AtomicU64,
    pub ids_changed: Mutex<Vec<String>>,
    pub ids_changed_keys: Mutex<HashSet<String>>,
    pub rereads_unanswered: AtomicU64,
}

pub enum Answer {
    Final(u16, Value),
    Unanswered(String),
}

impl Load {
    /// The load of the campaign: `--sales` orders on `events`, for passes from a pool of a quarter
    /// as many synthetic passes (so passes repeat).
    pub fn new(
        http: reqwest::Client,
        fleet: Arc<Fleet>,
        events: Vec<String>,
        options: &Options,
        others: Option<Arc<Others>>,
        pg: Option<Arc<Postgres>>,
    ) -> Self {
        let pool = (options.sales / 4).max(1);
        Load {
            http,
            fleet,
            run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            events,
            passes: (0..pool).map(synthetic_active).collect(),
            cancel_rate: options.cancel_rate,
            hold_rate: options.hold_rate,
            holds: AtomicUsize::new(0),
            holds_confirmed: AtomicUsize::new(0),
            holds_released: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            registered: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            cancels: AtomicUsize::new(0),
            retries: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            connection_errors: AtomicU64::new(0),
            server_errors: Mutex::new(BTreeMap::new()),
            outage_errors: Mutex::new(BTreeMap::new()),
            pause_errors: Mutex::new(BTreeMap::new()),
            finished: AtomicBool::new(false),
            others,
            box_office_rate: options.box_office_rate,
            pg,
            told: Mutex::new(Vec::new()),
            rereads: AtomicU64::new(0),
            ids_changed: Mutex::new(Vec::new()),
            ids_changed_keys: Mutex::new(HashSet::new()),
            rereads_unanswered: AtomicU64::new(0),
        }
    }

    /// Sends one request to a random live replica; on a connection error or a 5xx, the same
    /// request again on another one, after a short pause, at most `MAX_TRIES` times. Tries while
    /// PostgreSQL is down on purpose (its crash recovery can take tens of seconds) do not count,
    /// up to [`OUTAGE_TRIES`] of them.
    pub async fn send(&self, method: Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Answer {
        let mut last = None;
        let mut why = String::from("no live replica");
        let (mut attempt, mut outage_tries) = (0u32, 0u32);
        let mut first = true;
        loop {
            if !first {
                self.retries.fetch_add(1, Ordering::Relaxed);
                let down = self.pg.as_ref().is_some_and(|pg| pg.in_outage(Instant::now()));
                if down && outage_tries < OUTAGE_TRIES {
                    outage_tries += 1;
                } else {
                    attempt += 1;
                }
                if attempt >= MAX_TRIES {
                    break;
                }
                let pause = if down { 200 } else { 20 * u64::from(attempt.min(10)) };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            first = false;
            let Some(addr) = self.fleet.pick(last) else {
                why = "no live replica".into();
                continue;
            };
            last = Some(addr);
            let mut request = self
                .http
                .request(method.clone(), format!("http://{addr}{path}"))
                .bearer_auth(SHOP_KEY);
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            let sent_at = Instant::now();
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    response.bytes().await.map(|b| (status, b))
                }
                Err(e) => Err(e),
            };
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            let (status, bytes) = match answer {
                Ok(a) => a,
                Err(e) => {
                    self.connection_errors.fetch_add(1, Ordering::Relaxed);
                    why = format!("{addr}: {e}");
                    continue;
                }
            };
            if status >= 500 {
                // A request sent while PostgreSQL was down may be answered after it is back (it
                // waited for a connection): its 503 is the outage's too.
                let during_outage = self
                    .pg
                    .as_ref()
                    .is_some_and(|pg| pg.in_outage(sent_at) || pg.in_outage(Instant::now()));
                why = format!("{addr}: {status} {}", String::from_utf8_lossy(&bytes));
                let kind = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "(no problem type)".to_owned());
                let route = if path.starts_with("/v1/ticket-sales/") {
                    "/v1/ticket-sales/{id}"
                } else {
                    path
                };
                let route = if path.starts_with("/v1/registrations/") {
                    "/v1/registrations/{id}"
                } else if path.starts_with("/v1/reward-redemptions/") {
                    "/v1/reward-redemptions/{id}"
                } else {
                    route
                };
                // A replica paused (SIGSTOP) while the request waited for one of its database
                // connections times the wait out when it resumes: its 503 (nothing stored, the
                // request sent again) is the pause's.
                let during_pause =
                    kind == DATABASE_UNAVAILABLE && self.fleet.paused_between(addr, sent_at, Instant::now());
                let errors = if during_outage {
                    &self.outage_errors
                } else if during_pause {
                    &self.pause_errors
                } else {
                    &self.server_errors
                };
                let mut errors = errors.lock().unwrap_or_else(|e| e.into_inner());
                *errors.entry(format!("{method} {route} {status} {kind}")).or_insert(0) += 1;
                continue;
            }
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Answer::Final(status, value);
        }
        Answer::Unanswered(why)
    }

    pub async fn order(&self, i: usize) -> OrderRecord {
        let key = format!("chaos-{}-{i}", self.run_id);
        let event = self.events[fastrand::usize(..self.events.len())].clone();
        let pass = self.passes[fastrand::usize(..self.passes.len())].clone();
        let body = json!({
            "orderId": format!("order-{}-{i}", self.run_id),
            "tickets": [{
                "eventId": event,
                "uitpasNumber": pass,
                "tariffId": TARIFF,
                "regularPrice": 10,
                "quantity": 1,
            }],
        });
        // The box office sells the same line while the order is in flight…
        let box_office = self.others.clone().filter(|_| fastrand::f64() < self.box_office_rate);
        let mut box_office_sales = Vec::new();
        box_office_sales.extend(box_office.clone().map(|others| {
            let (event, pass) = (event.clone(), pass.clone());
            tokio::spawn(async move {
                // Land within the order's own call to UiTPAS, or just after it.
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..1500))).await;
                others.sell(Seller::BoxOffice, &event, &pass).await;
            })
        }));
        let mut record = OrderRecord {
            key: key.clone(),
            told: Told::Unanswered,
            problem: None,
            sale_id: None,
            told_uitpas_id: None,
            cancel: CancelRecord::NotAsked,
        };
        match self
            .send(Method::POST, "/v1/registrations", Some(&key), Some(&body))
            .await
        {
            Answer::Final(status @ (201 | 202), answer) => {
                let sale = &answer["ticketSales"][0];
                record.sale_id = sale["id"].as_str().map(str::to_owned);
                if status == 201 {
                    record.told = Told::Registered;
                    record.told_uitpas_id = sale["uitpasTicketSaleId"].as_str().map(str::to_owned);
                    self.registered.fetch_add(1, Ordering::Relaxed);
                    let told = ToldRegistered {
                        key: key.clone(),
                        registration_id: answer["id"].as_str().unwrap_or_default().to_owned(),
                        sales: answer["ticketSales"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|s| {
                                (
                                    s["id"].as_str().unwrap_or_default().to_owned(),
                                    s["uitpasTicketSaleId"].as_str().map(str::to_owned),
                                )
                            })
                            .collect(),
                    };
                    self.told.lock().unwrap_or_else(|e| e.into_inner()).push(told);
                } else {
                    record.told = Told::Pending;
                    self.pending.fetch_add(1, Ordering::Relaxed);
                    // …and again while it waits for the worker.
                    if let Some(others) = box_office.clone() {
                        let (event, pass) = (event.clone(), pass.clone());
                        box_office_sales.push(tokio::spawn(async move {
                            others.sell(Seller::BoxOffice, &event, &pass).await;
                        }));
                    }
                }
            }
            Answer::Final(status, answer) => {
                record.told = Told::Rejected;
                let kind = answer["type"].as_str().unwrap_or("(no problem type)");
                record.problem = Some(format!("{status} {kind}"));
                self.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Answer::Unanswered(why) => {
                eprintln!("chaos: order {key} got no answer after {MAX_TRIES} tries: {why}");
            }
        }
        for sale in box_office_sales {
            let _ = sale.await;
        }
        if let Some(sale_id) = record.sale_id.clone()
            && fastrand::f64() < self.cancel_rate
        {
            record.cancel = self.cancel(&sale_id).await;
            if matches!(record.cancel, CancelRecord::Made(_)) {
                self.cancels.fetch_add(1, Ordering::Relaxed);
            }
        }
        record
    }

    /// A hold before payment: registered now with a short `expiresIn`, then, after the
    /// "payment", confirmed or released, or left to expire (see [`HoldFate`]). Confirm and
    /// release are retried like orders: on a connection error or a 5xx, the same request to
    /// another replica.
    pub async fn hold(&self, i: usize) -> HoldRecord {
        let key = format!("chaos-{}-{i}", self.run_id);
        let event = self.events[fastrand::usize(..self.events.len())].clone();
        let pass = self.passes[fastrand::usize(..self.passes.len())].clone();
        let expires_in = fastrand::u64(HOLD_EXPIRES_IN);
        let fate = match fastrand::u32(0..4) {
            0 | 1 => HoldFate::Confirm,
            2 => HoldFate::Release,
            _ => HoldFate::Expire,
        };
        let body = json!({
            "orderId": format!("order-{}-{i}", self.run_id),
            "hold": {"expiresIn": expires_in},
            "tickets": [{
                "eventId": event,
                "uitpasNumber": pass,
                "tariffId": TARIFF,
                "regularPrice": 10,
                "quantity": 1,
            }],
        });
        let mut record = HoldRecord {
            key: key.clone(),
            fate,
            expires_in,
            told: Told::Unanswered,
            problem: None,
            registration_id: None,
            answer: HoldAnswer::NotAsked,
        };
        match self
            .send(Method::POST, "/v1/registrations", Some(&key), Some(&body))
            .await
        {
            Answer::Final(status @ (201 | 202), answer) => {
                record.told = if status == 201 { Told::Registered } else { Told::Pending };
                record.registration_id = answer["id"].as_str().map(str::to_owned);
                self.holds.fetch_add(1, Ordering::Relaxed);
            }
            Answer::Final(status, answer) => {
                record.told = Told::Rejected;
                let kind = answer["type"].as_str().unwrap_or("(no problem type)");
                record.problem = Some(format!("{status} {kind}"));
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return record;
            }
            Answer::Unanswered(why) => {
                eprintln!("chaos: hold {key} got no answer after {MAX_TRIES} tries: {why}");
                return record;
            }
        }
        let Some(id) = record.registration_id.clone() else {
            return record;
        };
        let ms = expires_in * 1000;
        let (action, pause) = match fate {
            HoldFate::Expire => return record,
            // One confirm in six comes right around the expiry: it races the worker's expiry.
            HoldFate::Confirm if fastrand::u32(0..6) == 0 => ("confirm", fastrand::u64(ms - 300..ms + 300)),
            HoldFate::Confirm => ("confirm", fastrand::u64(0..ms * 6 / 10)),
            HoldFate::Release => ("release", fastrand::u64(0..ms * 6 / 10)),
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let path = format!("/v1/registrations/{id}/{action}");
        record.answer = match self.send(Method::POST, &path, None, None).await {
            Answer::Final(200, view) if action == "confirm" => {
                self.holds_confirmed.fetch_add(1, Ordering::Relaxed);
                let status = view["status"].as_str().unwrap_or("(none)").to_owned();
                let sales: Vec<(String, Option<String>)> = view["ticketSales"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        (
                            s["id"].as_str().unwrap_or_default().to_owned(),
                            s["uitpasTicketSaleId"].as_str().map(str::to_owned),
                        )
                    })
                    .collect();
                // A confirmed hold is an order told registered: read back like one.
                if status == "registered" && sales.iter().all(|(_, uitpas)| uitpas.is_some()) {
                    self.told
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(ToldRegistered {
                            key: key.clone(),
                            registration_id: id.clone(),
                            sales: sales.clone(),
                        });
                }
                HoldAnswer::Confirmed { status, sales }
            }
            Answer::Final(200, _) => {
                self.holds_released.fetch_add(1, Ordering::Relaxed);
                HoldAnswer::Released
            }
            Answer::Final(status, answer) => HoldAnswer::Refused(
                status,
                answer["type"].as_str().unwrap_or("(no problem type)").to_owned(),
            ),
            Answer::Unanswered(why) => {
                eprintln!("chaos: {action} of hold {key} got no answer after {MAX_TRIES} tries: {why}");
                HoldAnswer::Unanswered
            }
        };
        record
    }

    pub async fn cancel(&self, sale_id: &str) -> CancelRecord {
        let path = format!("/v1/ticket-sales/{sale_id}");
        for _ in 0..MAX_NOT_YET {
            match self.send(Method::DELETE, &path, None, None).await {
                Answer::Final(status @ (204 | 202), _) => return CancelRecord::Made(status),
                // Not registered yet: the pending registration will settle; ask again later.
                Answer::Final(409, _) => tokio::time::sleep(Duration::from_millis(200)).await,
                Answer::Final(status, answer) => {
                    let kind = answer["type"].as_str().unwrap_or("(no problem type)").to_owned();
                    eprintln!("chaos: cancelling {sale_id} answered {status} {kind}");
                    return CancelRecord::Refused(status, kind);
                }
                Answer::Unanswered(why) => {
                    eprintln!("chaos: cancelling {sale_id} got no answer after {MAX_TRIES} tries: {why}");
                    return CancelRecord::Unanswered;
                }
            }
        }
        eprintln!("chaos: cancelling {sale_id} still answered 409 after {MAX_NOT_YET} tries");
        CancelRecord::GaveUp
    }
}

/// The orders and the holds (`--hold-rate` of the `sales`), `concurrency` at a time.
pub async fn run_load(load: Arc<Load>, sales: usize, concurrency: usize) -> (Vec<OrderRecord>, Vec<HoldRecord>) {
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let load = load.clone();
        workers.push(tokio::spawn(async move {
            let (mut orders, mut holds) = (Vec::new(), Vec::new());
            loop {
                let i = load.next.fetch_add(1, Ordering::Relaxed);
                if i >= sales {
                    break;
                }
                if fastrand::f64() < load.hold_rate {
                    holds.push(load.hold(i).await);
                } else {
                    orders.push(load.order(i).await);
                }
                load.done.fetch_add(1, Ordering::Relaxed);
            }
            (orders, holds)
        }));
    }
    let (mut orders, mut holds) = (Vec::with_capacity(sales), Vec::new());
    for worker in workers {
        match worker.await {
            Ok((o, h)) => {
                orders.extend(o);
                holds.extend(h);
            }
            Err(e) => eprintln!("chaos: a load worker failed: {e}"),
        }
    }
    (orders, holds)
}

/// Synthetic passes of the sandbox: `0999…`, Luhn-valid, 12th digit even = social tariff ACTIVE.
pub fn synthetic_active(n: usize) -> String {
    uitpas_checkout::sandbox::dataset::synthetic_active_pass(n as u64)
}
