//! What the campaign observed at the end, the failures it makes of it, the result block on the
//! terminal and `result.json`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use crate::drive::Driven;
use crate::load::{CancelRecord, HoldAnswer, HoldFate, HoldRecord, Load, Told};
use crate::options::Options;
use crate::others::{Others, Seller};
use crate::receiver::Receiver;
use crate::replicas::Fleet;
use crate::settle::{LedgerRow, WebhookEvent};
use crate::upstream::UitpasLedger;
use crate::verdict::{HoldVerdict, Verdict, WebhookVerdict, histogram};
use crate::verdict_rewards::{RewardRow, RewardVerdict, UitpasRedemption, rewards_summary, rewards_unanswered};
use crate::{HOLD_EXPIRES_IN, REPLAY_LEASE, UPSTREAM_TIMEOUT, WEBHOOK_TIMEOUT};

/// Everything the verdict and the result block are made of.
pub struct Outcome<'a> {
    pub options: &'a Options,
    pub driven: &'a Driven,
    pub load: &'a Load,
    pub fleet: &'a Fleet,
    pub receiver: &'a Receiver,
    pub others: Option<&'a Others>,
    pub settled: Option<Duration>,
    pub orders_pending_at_end: i64,
    pub ledger: &'a [LedgerRow],
    pub uitpas: &'a UitpasLedger,
    pub others_ids: &'a HashMap<String, Seller>,
    pub upstream_calls: BTreeMap<String, u64>,
    pub busy_listed: usize,
    pub webhook_events: &'a [WebhookEvent],
    pub verdict: Verdict,
    pub hold_verdict: HoldVerdict,
    pub webhooks: WebhookVerdict,
    pub reward_rows: &'a [RewardRow],
    pub uitpas_redemptions: &'a [UitpasRedemption],
    pub rewards: RewardVerdict,
}

/// The other clients' sales: those they were told of, and any with their label (one whose answer
/// was lost).
pub fn others_sales(others: Option<&Others>, labels: &HashMap<String, String>) -> HashMap<String, Seller> {
    let mut ids: HashMap<String, Seller> = others.map(|o| o.ids().clone()).unwrap_or_default();
    for (id, label) in labels {
        for who in [Seller::BoxOffice, Seller::Busy] {
            if label.starts_with(&format!("{} ", who.label_prefix())) {
                ids.entry(id.clone()).or_insert(who);
            }
        }
    }
    ids
}

impl Outcome<'_> {
    fn unanswered(&self) -> usize {
        let (orders, holds) = (&self.driven.orders, &self.driven.holds);
        orders.iter().filter(|o| o.told == Told::Unanswered).count()
            + orders.iter().filter(|o| o.cancel == CancelRecord::Unanswered).count()
            + holds
                .iter()
                .filter(|h| h.told == Told::Unanswered || h.answer == HoldAnswer::Unanswered)
                .count()
            + rewards_unanswered(&self.driven.redemptions)
    }

    fn webhook_ids_unknown(&self) -> usize {
        let event_ids: HashSet<&str> = self.webhook_events.iter().map(|e| e.id.as_str()).collect();
        self.receiver
            .accepted()
            .keys()
            .filter(|id| !event_ids.contains(id.as_str()))
            .count()
    }

    /// Doubles the run allows: made by faults past the window, and undone (cancelled) by the end.
    fn doubles_allowed(&self) -> i64 {
        if self.options.beyond_window() {
            i64::try_from(self.verdict.doubles_made).unwrap_or(i64::MAX)
        } else {
            0
        }
    }

    /// Why the verdict fails; empty when it passes.
    pub fn failures(&self) -> Vec<&'static str> {
        let (v, h, w, o) = (&self.verdict, &self.hold_verdict, &self.webhooks, self.options);
        let checks = [
            (v.sales_lost > 0, "sales_lost"),
            (v.sales_registered_twice > 0, "sales_registered_twice"),
            (v.doubles_left > 0, "doubles_left"),
            (v.cancellations_not_settled > 0, "cancellations_not_settled"),
            (v.work_done_twice != self.doubles_allowed(), "work_done_twice"),
            (v.cancelled_unasked > 0, "cancelled_unasked"),
            (v.ledger_ids_missing_at_uitpas > 0, "ledger_ids_missing_at_uitpas"),
            (
                v.sales_adopted_from_other_clients > 0,
                "sales_adopted_from_other_clients",
            ),
            (v.other_clients_sales_cancelled > 0, "other_clients_sales_cancelled"),
            (self.load.ids_changed_after_told() > 0, "ids_changed_after_told"),
            (self.orders_pending_at_end > 0, "orders_pending_at_end"),
            (
                h.sales_left_registered_for_unconfirmed_holds > 0,
                "sales_left_registered_for_unconfirmed_holds",
            ),
            (h.confirmed_holds_lost > 0, "confirmed_holds_lost"),
            (self.rewards.lost > 0, "rewards_lost"),
            (self.rewards.twice > 0, "rewards_redeemed_twice"),
            (
                self.rewards.left_for_unconfirmed_holds > 0,
                "rewards_left_redeemed_for_unconfirmed_holds",
            ),
            (
                self.rewards.cancellations_not_settled > 0,
                "reward_cancellations_not_settled",
            ),
            (!w.never_delivered.is_empty(), "webhook_events_never_delivered"),
            (w.queued > 0, "webhooks_queued"),
            (
                self.receiver.invalid.load(Ordering::Relaxed) > 0,
                "webhook_signatures_invalid",
            ),
            (self.webhook_ids_unknown() > 0, "webhook ids unknown to the database"),
            (
                self.driven.pg_crashes < u64::from(o.pg_crashes),
                "too few PostgreSQL crashes",
            ),
            (
                o.busy_sales > 0 && self.busy_listed <= 500,
                "the busy event has 500 sales or fewer",
            ),
            (
                self.load.rereads_unanswered.load(Ordering::Relaxed) > 0,
                "read-backs unanswered",
            ),
            (
                self.fleet.exits.load(Ordering::Relaxed) > 0,
                "replicas ended by themselves",
            ),
            (self.settled.is_none(), "not settled"),
            (self.driven.kills < u64::from(o.kills), "too few kills"),
            (self.driven.stops < u64::from(o.stops()), "too few pauses (SIGSTOP)"),
            (self.unanswered() > 0, "unanswered"),
            (!self.server_errors().is_empty(), "service 5xx answers"),
        ];
        checks
            .into_iter()
            .filter(|(failed, _)| *failed)
            .map(|(_, name)| name)
            .collect()
    }

    fn server_errors(&self) -> BTreeMap<String, u64> {
        self.load
            .server_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn holds_summary(&self) -> Value {
        let holds = &self.driven.holds;
        let count = |f: &dyn Fn(&HoldRecord) -> bool| holds.iter().filter(|h| f(h)).count();
        let refused: Vec<String> = holds
            .iter()
            .filter_map(|h| match &h.answer {
                HoldAnswer::Refused(status, kind) => Some(format!("{status} {kind}")),
                _ => None,
            })
            .collect();
        let states: HashMap<&str, &str> = self
            .ledger
            .iter()
            .filter_map(|r| Some((r.idempotency_key.as_str(), r.hold_state.as_deref()?)))
            .collect();
        json!({
            "made": count(&|h| matches!(h.told, Told::Registered | Told::Pending)),
            "told_held_201": count(&|h| h.told == Told::Registered),
            "told_pending_202": count(&|h| h.told == Told::Pending),
            "confirmed_200": count(&|h| matches!(h.answer, HoldAnswer::Confirmed { .. })),
            "released_200": count(&|h| h.answer == HoldAnswer::Released),
            "left_to_expire": count(&|h| h.fate == HoldFate::Expire && matches!(h.told, Told::Registered | Told::Pending)),
            "refused": histogram(refused.iter().map(String::as_str)),
            "end_states": histogram(holds.iter().filter_map(|h| states.get(h.key.as_str()).copied())),
        })
    }

    fn webhooks_summary(&self) -> Value {
        let r = self.receiver;
        let duplicates: u32 = r.accepted().values().map(|n| n.saturating_sub(1)).sum();
        json!({
            "events": self.webhook_events.len(),
            "by_type": histogram(self.webhook_events.iter().map(|e| e.kind.as_str())),
            "by_status": self.webhooks.statuses,
            "requests": r.requests.load(Ordering::Relaxed),
            "answered_500": r.answered_500.load(Ordering::Relaxed),
            "hung": r.hung.load(Ordering::Relaxed),
            "never_taken": self.webhooks.dead,
            "deliveries_of_never_taken": r.dead_deliveries.load(Ordering::Relaxed),
            "received_again": duplicates,
            "ids_unknown_to_the_database": self.webhook_ids_unknown(),
        })
    }

    /// The result block, as `result.json` has it.
    pub fn result(&self) -> Value {
        let (o, d, v, h, w, load) = (
            self.options,
            self.driven,
            &self.verdict,
            &self.hold_verdict,
            &self.webhooks,
            self.load,
        );
        let orders = &d.orders;
        let count = |t: Told| orders.iter().filter(|o| o.told == t).count();
        let cancels = |f: &dyn Fn(&CancelRecord) -> bool| orders.iter().filter(|o| f(&o.cancel)).count();
        let rejections = histogram(
            orders
                .iter()
                .filter_map(|o| o.problem.as_deref())
                .chain(d.holds.iter().filter_map(|h| h.problem.as_deref())),
        );
        let others = self.others.map(|o| {
            json!({
                "box_office_sales": o.count(Seller::BoxOffice),
                "busy_event_sales": o.count(Seller::Busy),
                "lost_answers": o.lost_answers.load(Ordering::Relaxed),
                "refused": o.refused.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                "gave_up": o.gave_up.load(Ordering::Relaxed),
            })
        });
        let is_others = |id: &String| self.others_ids.contains_key(id);
        let uitpas = &self.uitpas.status;
        json!({
            "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "options": {
                "sales": o.sales, "redemptions": o.redemptions(), "concurrency": o.concurrency, "events": o.events,
                "replicas": o.replicas, "kills": o.kills, "killEverySeconds": o.kill_every.as_secs_f64(),
                "stops": o.stops(), "stopEverySeconds": o.stop_every.as_secs_f64(), "stopForSeconds": o.stop_for.as_secs_f64(),
                "errorRate": o.error_rate, "dropRate": o.drop_rate, "cancelRate": o.cancel_rate,
                "holdRate": o.hold_rate, "holdExpiresInSeconds": [HOLD_EXPIRES_IN.start(), HOLD_EXPIRES_IN.end()],
                "webhookErrorRate": o.webhook_error_rate, "webhookHangRate": o.webhook_hang_rate,
                "webhookDeadRate": o.webhook_dead_rate, "webhookMaxAttempts": o.webhook_max_attempts,
                "webhookTimeoutSeconds": WEBHOOK_TIMEOUT.as_secs_f64(),
                "settleTimeoutSeconds": o.settle_timeout.as_secs_f64(),
                "delayRate": o.delay_rate, "maxDelaySeconds": o.max_delay.as_secs_f64(),
                "lateRate": o.late_rate, "lateBySeconds": o.late_by.as_secs_f64(),
                "tokenTtlSeconds": o.token_ttl.as_secs_f64(), "tokenDelayRate": o.token_delay_rate,
                "settleWindowSeconds": o.settle_window.as_secs_f64(), "windowSeconds": o.window().as_secs_f64(),
                "upstreamTimeoutSeconds": UPSTREAM_TIMEOUT.as_secs_f64(), "replayLeaseSeconds": REPLAY_LEASE.as_secs_f64(),
                "boxOfficeRate": o.box_office_rate, "busySales": o.busy_sales,
                "busyEverySeconds": o.busy_every.as_secs_f64(),
                "pgCrashes": o.pg_crashes, "pgDownSeconds": o.pg_down.as_secs_f64(),
            },
            "orders": orders.len(),
            "told_registered": count(Told::Registered),
            "told_pending": count(Told::Pending),
            "told_rejected": count(Told::Rejected),
            "rejections": rejections,
            "unanswered": self.unanswered(),
            "cancels_requested": cancels(&|c| matches!(c, CancelRecord::Made(_))),
            "cancels_told_202": cancels(&|c| *c == CancelRecord::Made(202)),
            "cancels_gave_up": cancels(&|c| *c == CancelRecord::GaveUp),
            "cancels_refused": cancels(&|c| matches!(c, CancelRecord::Refused(..))),
            "holds": self.holds_summary(),
            "redemptions": rewards_summary(&d.redemptions, self.reward_rows, self.uitpas_redemptions),
            "reward_doubles_past_window": self.rewards.doubles_past_window,
            "reward_doubles_past_window_examples": self.rewards.past_window_examples,
            "webhooks": self.webhooks_summary(),
            "kills": d.kills,
            "stops": d.stops,
            "pg_crashes": d.pg_crashes,
            "replicas": o.replicas,
            "replica_exits": self.fleet.exits.load(Ordering::Relaxed),
            "replica_start_failures": self.fleet.start_failures.load(Ordering::Relaxed),
            "client_retries": load.retries.load(Ordering::Relaxed),
            "connection_errors": load.connection_errors.load(Ordering::Relaxed),
            "server_errors": self.server_errors(),
            "server_errors_while_postgres_down": load.outage_errors.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "server_errors_after_a_pause": load.pause_errors.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "other_clients": others,
            "busy_event_sales_listed": self.busy_listed,
            "rereads": load.rereads.load(Ordering::Relaxed),
            "rereads_unanswered": load.rereads_unanswered.load(Ordering::Relaxed),
            "load_seconds": (d.load_seconds * 10.0).round() / 10.0,
            "settle_seconds": self.settled.map(|s| (s.as_secs_f64() * 10.0).round() / 10.0),
            "ledger_sales": histogram(self.ledger.iter().map(|r| r.status.as_str())),
            "uitpas_sales": histogram(uitpas.iter().filter(|(id, _)| !is_others(id)).map(|(_, s)| s.as_str())),
            "uitpas_sales_of_other_clients": histogram(uitpas.iter().filter(|(id, _)| is_others(id)).map(|(_, s)| s.as_str())),
            "doubles_made": v.doubles_made,
            "doubles_cancelled": v.doubles_cancelled,
            "sales_lost": v.sales_lost,
            "sales_registered_twice": v.sales_registered_twice,
            "doubles_left": v.doubles_left,
            "cancellations_not_settled": v.cancellations_not_settled,
            "work_done_twice": v.work_done_twice,
            "cancelled_unasked": v.cancelled_unasked,
            "ledger_ids_missing_at_uitpas": v.ledger_ids_missing_at_uitpas,
            "sales_adopted_from_other_clients": v.sales_adopted_from_other_clients,
            "other_clients_sales_cancelled": v.other_clients_sales_cancelled,
            "ids_changed_after_told": load.ids_changed_after_told(),
            "ids_changed_examples": load.ids_changed.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            "orders_pending_at_end": self.orders_pending_at_end,
            "sales_left_registered_for_unconfirmed_holds": h.sales_left_registered_for_unconfirmed_holds,
            "confirmed_holds_lost": h.confirmed_holds_lost,
            "rewards_lost": self.rewards.lost,
            "rewards_redeemed_twice": self.rewards.twice,
            "rewards_left_redeemed_for_unconfirmed_holds": self.rewards.left_for_unconfirmed_holds,
            "reward_cancellations_not_settled": self.rewards.cancellations_not_settled,
            "reward_examples": self.rewards.examples,
            "webhook_events_never_delivered": w.never_delivered.len(),
            "webhooks_queued": w.queued,
            "webhooks_given_up": w.given_up,
            "webhooks_given_up_never_taken": w.given_up_of_dead,
            "webhook_signatures_invalid": self.receiver.invalid.load(Ordering::Relaxed),
            "hold_examples": h.examples,
            "webhook_examples": w.never_delivered.iter().take(20).collect::<Vec<_>>(),
            "webhook_invalid_examples": self.receiver.invalid_examples(),
            "upstream_calls": self.upstream_calls,
            "failures": self.failures(),
            "examples": v.examples,
        })
    }

    /// Prints the result block and writes `result.json`; whether the verdict passes.
    pub fn report(&self) -> anyhow::Result<bool> {
        let result = self.result();
        print_result(&result, self.options);
        let failures = self.failures();
        let path = self.options.logs.join("result.json");
        std::fs::write(&path, serde_json::to_string_pretty(&result)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("result      {}", path.display());
        Ok(failures.is_empty())
    }
}

fn print_result(r: &Value, o: &Options) {
    let line = |name: &str, value: String| println!("  {name:<30} {value}");
    let n = |key: &str| r[key].to_string();
    println!();
    println!("== chaos result");
    line("orders", n("orders"));
    line("told_registered (201)", n("told_registered"));
    line("told_pending (202)", n("told_pending"));
    line(
        "told_rejected (4xx)",
        format!("{} {}", r["told_rejected"], r["rejections"]),
    );
    line("unanswered", n("unanswered"));
    line(
        "cancels_requested (204/202)",
        format!(
            "{} (202: {}; gave up on 409: {}; refused: {})",
            r["cancels_requested"], r["cancels_told_202"], r["cancels_gave_up"], r["cancels_refused"]
        ),
    );
    line("holds", n("holds"));
    line("redemptions", n("redemptions"));
    line("webhooks", n("webhooks"));
    line("kills", format!("{} of {}", r["kills"], o.kills));
    line(
        "pauses (SIGSTOP)",
        format!("{} of {} (1 s to {:?} each)", r["stops"], o.stops(), o.stop_for),
    );
    line(
        "PostgreSQL crashes",
        format!(
            "{} of {} (-m immediate, down {:?})",
            r["pg_crashes"], o.pg_crashes, o.pg_down
        ),
    );
    line("replicas", n("replicas"));
    line("replicas ended by themselves", n("replica_exits"));
    line("client retries", n("client_retries"));
    line("connection errors", n("connection_errors"));
    line("service 5xx answers", n("server_errors"));
    line("5xx while PostgreSQL down", n("server_errors_while_postgres_down"));
    line("503s through a pause", n("server_errors_after_a_pause"));
    line("other clients", n("other_clients"));
    line("busy event: sales listed", n("busy_event_sales_listed"));
    line(
        "read-backs of 201s",
        format!("{} (unanswered: {})", r["rereads"], r["rereads_unanswered"]),
    );
    line("load_seconds", n("load_seconds"));
    line(
        "settle_seconds",
        r["settle_seconds"].as_f64().map_or_else(
            || format!("NOT SETTLED within {:?}", o.settle_timeout),
            |s| format!("{s:.1}"),
        ),
    );
    line("ledger sales", n("ledger_sales"));
    line("UiTPAS sales (ours)", n("uitpas_sales"));
    line("UiTPAS sales (others')", n("uitpas_sales_of_other_clients"));
    line(
        "doubles made (cancelled)",
        format!("{} ({})", r["doubles_made"], r["doubles_cancelled"]),
    );
    line(
        "reward doubles past window",
        format!(
            "{} (README Limits (e): left by the redemption watch)",
            r["reward_doubles_past_window"]
        ),
    );
    line(
        "webhooks given up",
        format!(
            "{} (of events the receiver never takes: {})",
            r["webhooks_given_up"], r["webhooks_given_up_never_taken"]
        ),
    );
    line("upstream_calls", n("upstream_calls"));
    println!("  --");
    for key in [
        "sales_lost",
        "sales_registered_twice",
        "doubles_left",
        "cancellations_not_settled",
        "work_done_twice",
        "cancelled_unasked",
        "ledger_ids_missing_at_uitpas",
        "sales_adopted_from_other_clients",
        "other_clients_sales_cancelled",
        "ids_changed_after_told",
        "orders_pending_at_end",
        "sales_left_registered_for_unconfirmed_holds",
        "confirmed_holds_lost",
        "rewards_lost",
        "rewards_redeemed_twice",
        "rewards_left_redeemed_for_unconfirmed_holds",
        "reward_cancellations_not_settled",
        "webhook_events_never_delivered",
        "webhooks_queued",
        "webhook_signatures_invalid",
    ] {
        line(key, n(key));
    }
    for key in [
        "examples",
        "hold_examples",
        "reward_examples",
        "webhook_examples",
        "webhook_invalid_examples",
        "ids_changed_examples",
    ] {
        for e in r[key].as_array().into_iter().flatten().take(20) {
            let e = e.as_str().map_or_else(|| e.to_string(), str::to_owned);
            if key == "webhook_invalid_examples" {
                println!("  ! webhook refused: {e}");
            } else {
                println!("  ! {e}");
            }
        }
    }
    let failures: Vec<&str> = r["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !failures.is_empty() {
        println!("  failed: {}", failures.join(", "));
    }
}
