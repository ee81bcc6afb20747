//! The reward redemptions of the load: a shop paying with UiTPAS points (`POST
//! /v1/reward-redemptions` with an Idempotency-Key), some as holds before payment (confirmed,
//! released or left to expire), some cancelled after; sent like the orders (the same request
//! again on another replica after a connection error or a 5xx) while the same faults hit them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::bail;
use reqwest::Method;
use serde_json::{Value, json};

use crate::load::{Answer, CancelRecord, HoldFate, Load, synthetic_active};
use crate::{HOLD_EXPIRES_IN, MAX_NOT_YET, MAX_TRIES};

/// A points reward without limits (10 points): the bulk.
pub const POINTS_REWARD: &str = "5687";
/// A points reward of one per week per passholder (5 points): a second is refused, legitimately.
pub const WEEKLY_REWARD: &str = "5823";
/// The points each pass of the redemptions gets before the load: never the reason of a refusal.
pub const POINTS: i64 = 1_000_000;
/// The redemptions' passes: synthetic passes far from the orders' (which start at 0).
const FIRST_PASS: usize = 5_000_000;

/// What the shop was told on `POST /v1/reward-redemptions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewardTold {
    /// 201 `redeemed`.
    Redeemed,
    /// 201 `held` (a hold).
    Held,
    /// 202 `pending`.
    Pending,
    /// 409 `redemption-in-progress`: the pass has another unsettled redemption of the reward;
    /// nothing stored. A legitimate answer.
    Busy,
    /// Another 4xx (a weekly reward already taken this week: legitimate).
    Refused,
    /// No final answer within the bounded retries.
    Unanswered,
}

/// What the confirm or the release of a held redemption answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewardHoldAnswer {
    NotAsked,
    /// 200 on confirm, with the UiTPAS id it showed (none while pending).
    Confirmed(Option<String>),
    /// 200 on release.
    Released,
    /// Another answer (409 `hold-expired`, …): status and problem type.
    Refused(u16, String),
    Unanswered,
}

#[derive(Debug, Clone)]
pub struct RedemptionRecord {
    pub key: String,
    pub reward: &'static str,
    pub hold: Option<(HoldFate, u64)>,
    pub told: RewardTold,
    pub problem: Option<String>,
    /// Our redemption id, from a 201 or 202.
    pub id: Option<String>,
    /// The UiTPAS id a 201 carried.
    pub told_uitpas_id: Option<String>,
    pub answer: RewardHoldAnswer,
    pub cancel: CancelRecord,
}

impl RedemptionRecord {
    /// Whether the shop was told that the reward is redeemed for good: a 201 `redeemed` it did
    /// not cancel, or a hold confirmed (200) with a UiTPAS id. (A hold confirmed while pending
    /// may still be refused by UiTPAS, e.g. the weekly reward: then it ends rejected.)
    pub fn told_redeemed(&self) -> bool {
        (self.told == RewardTold::Redeemed && !matches!(self.cancel, CancelRecord::Made(_)))
            || matches!(self.answer, RewardHoldAnswer::Confirmed(Some(_)))
    }
}

/// The redemptions' share of the load: their passes and counters.
pub struct RewardLoad {
    pub load: Arc<Load>,
    pub passes: Vec<String>,
    pub count: usize,
    pub next: AtomicUsize,
    pub done: AtomicUsize,
    pub redeemed: AtomicUsize,
    pub pending: AtomicUsize,
    pub busy: AtomicUsize,
    pub refused: AtomicUsize,
    pub confirmed: AtomicUsize,
    pub released: AtomicUsize,
    pub cancels: AtomicUsize,
}

impl RewardLoad {
    /// `count` redemptions over half as many passes (so that a pass sometimes has one unsettled
    /// already, and is answered 409).
    pub fn new(load: Arc<Load>, count: usize) -> Self {
        let pool = (count / 2).max(1);
        RewardLoad {
            load,
            passes: (0..pool).map(|n| synthetic_active(FIRST_PASS + n)).collect(),
            count,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            redeemed: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            confirmed: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            cancels: AtomicUsize::new(0),
        }
    }

    /// Gives every pass of the redemptions plenty of points (`PUT /_sandbox/passes/{n}/points`).
    pub async fn give_points(&self, http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
        for chunk in self.passes.chunks(32) {
            let puts = chunk.iter().map(|pass| async move {
                let response = http
                    .put(format!("{base}/_sandbox/passes/{pass}/points"))
                    .json(&json!({"points": POINTS}))
                    .send()
                    .await?;
                if !response.status().is_success() {
                    bail!("PUT points of {pass}: {}", response.status());
                }
                Ok(())
            });
            for put in futures::future::join_all(puts).await {
                put?;
            }
        }
        Ok(())
    }

    /// One redemption: a hold (`--hold-rate`), confirmed, released or left to expire; or a plain
    /// one, cancelled with `--cancel-rate`.
    async fn redeem(&self, i: usize) -> RedemptionRecord {
        let load = &self.load;
        let key = format!("chaos-{}-reward-{i}", load.run_id);
        let pass = self.passes[fastrand::usize(..self.passes.len())].clone();
        let reward = if fastrand::u32(0..10) == 0 {
            WEEKLY_REWARD
        } else {
            POINTS_REWARD
        };
        let hold = (fastrand::f64() < load.hold_rate).then(|| {
            let fate = match fastrand::u32(0..4) {
                0 | 1 => HoldFate::Confirm,
                2 => HoldFate::Release,
                _ => HoldFate::Expire,
            };
            (fate, fastrand::u64(HOLD_EXPIRES_IN))
        });
        let mut body = json!({
            "rewardId": reward,
            "uitpasNumber": pass,
            "orderId": format!("order-{}-reward-{i}", load.run_id),
        });
        if let Some((_, expires_in)) = hold {
            body["hold"] = json!({"expiresIn": expires_in});
        }
        let mut record = RedemptionRecord {
            key: key.clone(),
            reward,
            hold,
            told: RewardTold::Unanswered,
            problem: None,
            id: None,
            told_uitpas_id: None,
            answer: RewardHoldAnswer::NotAsked,
            cancel: CancelRecord::NotAsked,
        };
        match load
            .send(Method::POST, "/v1/reward-redemptions", Some(&key), Some(&body))
            .await
        {
            Answer::Final(status @ (201 | 202), answer) => {
                record.id = answer["id"].as_str().map(str::to_owned);
                record.told = match (status, answer["status"].as_str()) {
                    (201, Some("held")) => RewardTold::Held,
                    (201, _) => RewardTold::Redeemed,
                    _ => RewardTold::Pending,
                };
                if status == 201 {
                    record.told_uitpas_id = answer["uitpasRedemptionId"].as_str().map(str::to_owned);
                    self.redeemed.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.pending.fetch_add(1, Ordering::Relaxed);
                }
            }
            Answer::Final(status, answer) => {
                let kind = answer["type"].as_str().unwrap_or("(no problem type)");
                record.problem = Some(format!("{status} {kind}"));
                if status == 409 && kind.ends_with(":redemption-in-progress") {
                    record.told = RewardTold::Busy;
                    self.busy.fetch_add(1, Ordering::Relaxed);
                } else {
                    record.told = RewardTold::Refused;
                    self.refused.fetch_add(1, Ordering::Relaxed);
                }
                return record;
            }
            Answer::Unanswered(why) => {
                eprintln!("chaos: redemption {key} got no answer after {MAX_TRIES} tries: {why}");
                return record;
            }
        }
        let Some(id) = record.id.clone() else {
            return record;
        };
        match hold {
            Some((fate, expires_in)) => record.answer = self.end_hold(&key, &id, fate, expires_in).await,
            None if fastrand::f64() < load.cancel_rate => {
                record.cancel = self.cancel(&id).await;
                if matches!(record.cancel, CancelRecord::Made(_)) {
                    self.cancels.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {}
        }
        record
    }

    /// After the "payment": confirm or release the hold (now and then a confirm right around its
    /// expiry, racing the worker), or nothing (it expires).
    async fn end_hold(&self, key: &str, id: &str, fate: HoldFate, expires_in: u64) -> RewardHoldAnswer {
        let ms = expires_in * 1000;
        let (action, pause) = match fate {
            HoldFate::Expire => return RewardHoldAnswer::NotAsked,
            HoldFate::Confirm if fastrand::u32(0..6) == 0 => ("confirm", fastrand::u64(ms - 300..ms + 300)),
            HoldFate::Confirm => ("confirm", fastrand::u64(0..ms * 6 / 10)),
            HoldFate::Release => ("release", fastrand::u64(0..ms * 6 / 10)),
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let path = format!("/v1/reward-redemptions/{id}/{action}");
        match self.load.send(Method::POST, &path, None, None).await {
            Answer::Final(200, view) if action == "confirm" => {
                self.confirmed.fetch_add(1, Ordering::Relaxed);
                RewardHoldAnswer::Confirmed(view["uitpasRedemptionId"].as_str().map(str::to_owned))
            }
            Answer::Final(200, _) => {
                self.released.fetch_add(1, Ordering::Relaxed);
                RewardHoldAnswer::Released
            }
            Answer::Final(status, answer) => RewardHoldAnswer::Refused(
                status,
                answer["type"].as_str().unwrap_or("(no problem type)").to_owned(),
            ),
            Answer::Unanswered(why) => {
                eprintln!("chaos: {action} of redemption {key} got no answer after {MAX_TRIES} tries: {why}");
                RewardHoldAnswer::Unanswered
            }
        }
    }

    /// Cancels a redemption (the points back): until 204 or 202; a 409 (`not-redeemed`) is
    /// asked again while the redemption is pending, and ends the cancellation once it is
    /// rejected (nothing to cancel).
    async fn cancel(&self, id: &str) -> CancelRecord {
        let path = format!("/v1/reward-redemptions/{id}");
        for _ in 0..MAX_NOT_YET {
            match self.load.send(Method::DELETE, &path, None, None).await {
                Answer::Final(status @ (204 | 202), _) => return CancelRecord::Made(status),
                Answer::Final(409, answer) => {
                    if let Answer::Final(200, view) = self.load.send(Method::GET, &path, None, None).await
                        && view["status"] == "rejected"
                    {
                        return CancelRecord::Refused(409, kind(&answer));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Answer::Final(status, answer) => {
                    eprintln!("chaos: cancelling redemption {id} answered {status} {}", kind(&answer));
                    return CancelRecord::Refused(status, kind(&answer));
                }
                Answer::Unanswered(why) => {
                    eprintln!("chaos: cancelling redemption {id} got no answer after {MAX_TRIES} tries: {why}");
                    return CancelRecord::Unanswered;
                }
            }
        }
        eprintln!("chaos: cancelling redemption {id} still answered 409 after {MAX_NOT_YET} tries");
        CancelRecord::GaveUp
    }
}

fn kind(answer: &Value) -> String {
    answer["type"].as_str().unwrap_or("(no problem type)").to_owned()
}

/// The redemptions, `concurrency` at a time, spread over the orders: the i-th of n waits until
/// i/n of the `sales` orders are answered (so that they meet the kills, pauses and crashes).
pub async fn run_redemptions(rewards: Arc<RewardLoad>, sales: usize, concurrency: usize) -> Vec<RedemptionRecord> {
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let rewards = rewards.clone();
        workers.push(tokio::spawn(async move {
            let mut records = Vec::new();
            loop {
                let i = rewards.next.fetch_add(1, Ordering::Relaxed);
                if i >= rewards.count {
                    break;
                }
                let due = i * sales / rewards.count.max(1);
                while rewards.load.done.load(Ordering::Relaxed) < due && !rewards.load.finished.load(Ordering::Relaxed)
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                records.push(rewards.redeem(i).await);
                rewards.done.fetch_add(1, Ordering::Relaxed);
            }
            records
        }));
    }
    let mut records = Vec::with_capacity(rewards.count);
    for worker in workers {
        match worker.await {
            Ok(r) => records.extend(r),
            Err(e) => eprintln!("chaos: a redemption worker failed: {e}"),
        }
    }
    records
}
