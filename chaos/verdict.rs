//! The verdict: the shop's answers, the service's ledger and UiTPAS's own ledger compared, and the
//! counts that must all be 0.

use std::collections::{BTreeMap, HashMap, HashSet};

use uitpas_checkout::ledger::reconcile::{marker, marker_in};

use crate::load::{CancelRecord, HoldAnswer, HoldRecord, OrderRecord, Told};
use crate::others::Seller;
use crate::settle::{LedgerRow, WebhookEvent};

/// The counts of the verdict.
#[derive(Debug, Default)]
pub struct Verdict {
    pub sales_lost: usize,
    pub sales_registered_twice: usize,
    pub cancellations_not_settled: usize,
    pub work_done_twice: i64,
    pub cancelled_unasked: usize,
    pub ledger_ids_missing_at_uitpas: usize,
    pub sales_adopted_from_other_clients: usize,
    pub other_clients_sales_cancelled: usize,
    /// Sales at UiTPAS carrying the marker of a ledger line that holds another sale: made by a
    /// send that committed after its window (any status). Not counted by themselves when the run
    /// has faults beyond the window (they must then be undone: see `doubles_left`), counted in
    /// `sales_registered_twice` otherwise.
    pub doubles_made: usize,
    /// Of those, the ones cancelled at UiTPAS by the end.
    pub doubles_cancelled: usize,
    /// Sales `ACTIVE` at UiTPAS at the end beyond what their marker's ledger line should have:
    /// one for a line `registered` (of a registration `registered`, not a released or expired
    /// hold), none for any other (cancelled, of a registration rejected, of a hold released or
    /// expired). Must be 0.
    pub doubles_left: usize,
    pub examples: Vec<String>,
}

impl Verdict {
    fn example(&mut self, s: String) {
        if self.examples.len() < 20 {
            self.examples.push(s);
        }
    }
}

/// What the campaign knows of UiTPAS's sales.
pub struct UitpasView<'a> {
    /// id → status, every sale ever made (`/_sandbox/ledger`).
    pub status: &'a HashMap<String, String>,
    /// id → `regularPriceLabel`, every sale that has one (cancelled ones included).
    pub labels: &'a HashMap<String, String>,
    /// id → when UiTPAS made it, to tell how a double came about.
    pub created: &'a HashMap<String, String>,
    /// The sales of the other clients (the box office, the busy event's seller).
    pub others: &'a HashMap<String, Seller>,
    /// Whether the run had faults that can make UiTPAS commit a send after its window (late
    /// answers, paused replicas): a double is then expected now and then, and must be undone.
    pub beyond_window: bool,
}

/// How many of a line's sales should be active at UiTPAS at the end: one when the line ended
/// registered (and its registration too, and it is no hold released or expired), none otherwise.
fn active_expected(row: &LedgerRow) -> usize {
    let kept = row.status == "registered"
        && row.registration_status == "registered"
        && !matches!(row.hold_state.as_deref(), Some("released" | "expired"));
    usize::from(kept)
}

pub fn judge(orders: &[OrderRecord], ledger: &[LedgerRow], view: &UitpasView<'_>) -> Verdict {
    let uitpas = view.status;
    let mut v = Verdict::default();
    let by_key: HashMap<&str, &LedgerRow> = ledger.iter().map(|r| (r.idempotency_key.as_str(), r)).collect();
    let by_sale: HashMap<&str, &LedgerRow> = ledger.iter().map(|r| (r.sale_id.as_str(), r)).collect();
    let mut by_uitpas: HashMap<&str, Vec<&LedgerRow>> = HashMap::new();
    for row in ledger {
        if let Some(id) = &row.uitpas_id {
            by_uitpas.entry(id.as_str()).or_default().push(row);
        }
    }
    // Marker → the ledger line it is the marker of.
    let by_marker: HashMap<String, &LedgerRow> = ledger
        .iter()
        .filter_map(|r| Some((marker(uuid::Uuid::parse_str(&r.sale_id).ok()?), r)))
        .collect();

    for o in orders
        .iter()
        .filter(|o| matches!(o.told, Told::Registered | Told::Pending))
    {
        let lost = match by_key.get(o.key.as_str()) {
            None => Some("no ledger row".to_owned()),
            Some(row) if row.registration_status != "registered" => {
                Some(format!("registration is {}", row.registration_status))
            }
            Some(row) => match &row.uitpas_id {
                None => Some(format!("sale {} has no UiTPAS id", row.sale_id)),
                Some(id) if !uitpas.contains_key(id) => Some(format!("UiTPAS has no sale {id}")),
                Some(id) if o.told_uitpas_id.as_ref().is_some_and(|told| told != id) => {
                    Some(format!("told UiTPAS id {:?}, ledger has {id}", o.told_uitpas_id))
                }
                Some(_) => None,
            },
        };
        if let Some(why) = lost {
            v.sales_lost += 1;
            v.example(format!("lost: order {} ({:?}): {why}", o.key, o.told));
        }
    }

    // Every sale of ours at UiTPAS is the sale of exactly one ledger line, the one whose marker it
    // carries; or a double of that line, made by a send that committed after its window.
    let mut active_by_marker: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, status) in uitpas {
        if let Some(who) = view.others.get(id) {
            if status == "CANCELLED" {
                v.other_clients_sales_cancelled += 1;
                v.example(format!(
                    "others' sale cancelled: UiTPAS sale {id} of the {who:?} seller is CANCELLED"
                ));
            }
            continue;
        }
        let label = view.labels.get(id);
        let carried = label.map(String::as_str).and_then(marker_in);
        if status == "ACTIVE"
            && let Some(m) = carried
        {
            active_by_marker.entry(m).or_default().push(id.as_str());
        }
        match by_uitpas.get(id.as_str()).map(Vec::as_slice) {
            Some([row, ..]) => {
                let expected = uuid::Uuid::parse_str(&row.sale_id).ok().map(marker);
                if carried != expected.as_deref() {
                    v.sales_registered_twice += 1;
                    v.example(format!(
                        "twice: UiTPAS sale {id} (label {label:?}) is the sale of ledger line {} (marker {expected:?})",
                        row.sale_id
                    ));
                }
            }
            None | Some([]) => match carried.and_then(|m| by_marker.get(m)) {
                Some(row) => {
                    v.doubles_made += 1;
                    if status == "CANCELLED" {
                        v.doubles_cancelled += 1;
                    }
                    if !view.beyond_window {
                        v.sales_registered_twice += 1;
                        v.example(format!(
                            "twice: UiTPAS sale {id} ({status}) carries the marker of ledger line {} (order {}), which holds {:?}",
                            row.sale_id, row.idempotency_key, row.uitpas_id
                        ));
                    }
                }
                None => {
                    v.sales_registered_twice += 1;
                    v.example(format!(
                        "twice: UiTPAS sale {id} ({status}, label {label:?}) is in no ledger row"
                    ));
                }
            },
        }
    }
    // Doubles left: more sales active under a marker than its line should have.
    for (m, ids) in &active_by_marker {
        let Some(row) = by_marker.get(*m) else {
            continue; // in no ledger row: counted above
        };
        let extra = ids.len().saturating_sub(active_expected(row));
        if extra > 0 {
            v.doubles_left += extra;
            let made: Vec<String> = ids
                .iter()
                .map(|id| format!("{id} made {}", view.created.get(*id).map_or("?", String::as_str)))
                .collect();
            v.example(format!(
                "double left: {} UiTPAS sales ACTIVE with marker {m} ({}) of ledger line {} (order {}: sale {}, registration {}, hold {:?}, UiTPAS id {:?}; {})",
                ids.len(),
                made.join(", "),
                row.sale_id,
                row.idempotency_key,
                row.status,
                row.registration_status,
                row.hold_state,
                row.uitpas_id,
                row.timings
            ));
        }
    }
    for row in ledger {
        if let Some(id) = &row.uitpas_id
            && let Some(who) = view.others.get(id)
        {
            v.sales_adopted_from_other_clients += 1;
            v.example(format!(
                "adopted: ledger line {} (order {}) holds UiTPAS sale {id} of the {who:?} seller",
                row.sale_id, row.idempotency_key
            ));
        }
    }
    for (id, rows) in &by_uitpas {
        if rows.len() > 1 {
            v.sales_registered_twice += rows.len() - 1;
            v.example(format!("twice: UiTPAS sale {id} is recorded {} times", rows.len()));
        }
    }

    judge_cancellations(&mut v, orders, ledger, uitpas, &by_sale, &by_uitpas);

    for row in ledger {
        if let Some(id) = &row.uitpas_id
            && !uitpas.contains_key(id)
        {
            v.ledger_ids_missing_at_uitpas += 1;
        }
    }
    let with_id = ledger
        .iter()
        .filter(|r| r.uitpas_id.as_ref().is_some_and(|id| !view.others.contains_key(id)))
        .count();
    let ours = uitpas.keys().filter(|id| !view.others.contains_key(*id)).count();
    v.work_done_twice = i64::try_from(ours).unwrap_or(i64::MAX) - i64::try_from(with_id).unwrap_or(i64::MAX);
    v
}

/// `cancellations_not_settled` and `cancelled_unasked`.
fn judge_cancellations(
    v: &mut Verdict,
    orders: &[OrderRecord],
    ledger: &[LedgerRow],
    uitpas: &HashMap<String, String>,
    by_sale: &HashMap<&str, &LedgerRow>,
    by_uitpas: &HashMap<&str, Vec<&LedgerRow>>,
) {
    let mut asked: HashSet<&str> = HashSet::new();
    for o in orders {
        let Some(sale_id) = o.sale_id.as_deref() else {
            continue;
        };
        if o.cancel != CancelRecord::NotAsked {
            asked.insert(sale_id);
        }
        if !matches!(o.cancel, CancelRecord::Made(_)) {
            continue;
        }
        let problem = match by_sale.get(sale_id) {
            None => Some("no ledger row".to_owned()),
            Some(row) if row.status != "cancelled" => Some(format!("ledger row is {}", row.status)),
            Some(row) => match row.uitpas_id.as_ref().and_then(|id| uitpas.get(id)) {
                Some(s) if s == "CANCELLED" => None,
                other => Some(format!("UiTPAS sale {:?} is {other:?}", row.uitpas_id)),
            },
        };
        if let Some(why) = problem {
            v.cancellations_not_settled += 1;
            v.example(format!("not settled: cancel of {sale_id} (order {}): {why}", o.key));
        }
    }
    let made: HashSet<&str> = orders
        .iter()
        .filter(|o| matches!(o.cancel, CancelRecord::Made(_)))
        .filter_map(|o| o.sale_id.as_deref())
        .collect();
    for (id, status) in uitpas.iter().filter(|(_, s)| s.as_str() == "CANCELLED") {
        for row in by_uitpas.get(id.as_str()).into_iter().flatten() {
            if row.status != "cancelled" && !made.contains(row.sale_id.as_str()) {
                v.cancellations_not_settled += 1;
                v.example(format!(
                    "not settled: UiTPAS sale {id} is {status}, its ledger row is {}",
                    row.status
                ));
            }
        }
    }
    // The sales of a hold released or expired are cancelled without a cancellation of the shop.
    for row in ledger {
        if matches!(row.hold_state.as_deref(), Some("released" | "expired")) {
            asked.insert(row.sale_id.as_str());
        }
    }
    for row in ledger {
        if matches!(row.status.as_str(), "cancelled" | "cancelling") && !asked.contains(row.sale_id.as_str()) {
            v.cancelled_unasked += 1;
            v.example(format!(
                "unasked: sale {} is {} but no cancel was sent",
                row.sale_id, row.status
            ));
        }
    }
}

/// The counts of the webhooks.
#[derive(Debug, Default)]
pub struct WebhookVerdict {
    /// Events whose id the receiver never accepted, and that were not given up after
    /// WEBHOOK_MAX_ATTEMPTS attempts (with examples).
    pub never_delivered: Vec<String>,
    /// Events neither delivered nor given up at the end (`pending` or `failing`).
    pub queued: usize,
    /// Events given up (`failed`), of those the receiver never takes, and of others (given up
    /// after WEBHOOK_MAX_ATTEMPTS failures while the faults lasted: allowed, but rare).
    pub given_up: usize,
    pub given_up_of_dead: usize,
    /// Events the receiver never takes (`--webhook-dead-rate`).
    pub dead: usize,
    /// Statuses as the shop reads them.
    pub statuses: BTreeMap<String, usize>,
}

/// `events`: the database's; `accepted`: the ids the receiver took; `deliveries`: what
/// `GET /v1/webhook-deliveries` says of each (status, attempts); `dead`: whether the receiver
/// never takes an event.
pub fn judge_webhooks(
    events: &[WebhookEvent],
    accepted: &HashMap<String, u32>,
    deliveries: &HashMap<String, (String, i64)>,
    dead: &dyn Fn(&str) -> bool,
    max_attempts: u32,
) -> WebhookVerdict {
    let mut v = WebhookVerdict::default();
    for e in events {
        let (status, attempts) = deliveries
            .get(&e.id)
            .map_or(("(not listed)", -1), |(s, a)| (s.as_str(), *a));
        *v.statuses.entry(status.to_owned()).or_insert(0) += 1;
        let is_dead = dead(&e.id);
        v.dead += usize::from(is_dead);
        let given_up = status == "failed" && attempts >= i64::from(max_attempts);
        if status == "failed" {
            v.given_up += 1;
            v.given_up_of_dead += usize::from(is_dead);
        }
        if matches!(status, "pending" | "failing") {
            v.queued += 1;
        }
        if !accepted.contains_key(&e.id) && !given_up {
            v.never_delivered.push(format!(
                "webhook event {} ({}) never received: {status} after {} attempts (listed: {attempts}), delivered_at set: {}, last error {:?}{}",
                e.id,
                e.kind,
                e.attempts,
                e.delivered,
                e.last_error,
                if is_dead { "; the receiver never takes it" } else { "" }
            ));
        }
    }
    v
}

/// The counts of the holds.
#[derive(Debug, Default)]
pub struct HoldVerdict {
    /// Holds the shop did not confirm (released, expired, or a confirm refused) whose sales are
    /// still active at UiTPAS, or that ended confirmed all the same.
    pub sales_left_registered_for_unconfirmed_holds: usize,
    /// Holds answered 200 on confirm that do not end confirmed and registered, each sale
    /// registered in the ledger with the UiTPAS id of the 200, and active at UiTPAS.
    pub confirmed_holds_lost: usize,
    pub examples: Vec<String>,
}

pub fn judge_holds(holds: &[HoldRecord], ledger: &[LedgerRow], uitpas: &HashMap<String, String>) -> HoldVerdict {
    let mut v = HoldVerdict::default();
    let mut by_key: HashMap<&str, Vec<&LedgerRow>> = HashMap::new();
    for row in ledger {
        by_key.entry(row.idempotency_key.as_str()).or_default().push(row);
    }
    let at_uitpas = |row: &LedgerRow| {
        row.uitpas_id
            .as_ref()
            .map(|id| uitpas.get(id).map_or("unknown to UiTPAS", String::as_str))
            .unwrap_or("(no UiTPAS id)")
            .to_owned()
    };
    for h in holds {
        let rows = by_key.get(h.key.as_str()).map(Vec::as_slice).unwrap_or_default();
        let registration = rows.first().map_or("(none)", |r| r.registration_id.as_str());
        let state = rows.first().and_then(|r| r.hold_state.as_deref());
        let note = |v: &mut HoldVerdict, why: String| {
            if v.examples.len() < 20 {
                v.examples.push(format!(
                    "hold {} (registration {registration}, {:?}, expiresIn {} s, told {:?}, {:?}): {why}",
                    h.key, h.fate, h.expires_in, h.told, h.answer
                ));
            }
        };
        if let HoldAnswer::Confirmed { sales, .. } = &h.answer {
            let mut problems = Vec::new();
            if rows.is_empty() {
                problems.push("no ledger row".to_owned());
            }
            if !rows.is_empty() && state != Some("confirmed") {
                problems.push(format!("the hold is {state:?}"));
            }
            for row in rows {
                if row.registration_status != "registered" {
                    problems.push(format!("the registration is {}", row.registration_status));
                }
                let uitpas_status = at_uitpas(row);
                if row.status != "registered" || uitpas_status != "ACTIVE" {
                    problems.push(format!(
                        "sale {} is {} in the ledger, UiTPAS sale {:?} is {uitpas_status}",
                        row.sale_id, row.status, row.uitpas_id
                    ));
                }
                let told = sales
                    .iter()
                    .find(|(id, _)| *id == row.sale_id)
                    .and_then(|(_, u)| u.as_ref());
                if told.is_some_and(|told| Some(told) != row.uitpas_id.as_ref()) {
                    problems.push(format!(
                        "sale {}: told UiTPAS id {told:?}, ledger has {:?}",
                        row.sale_id, row.uitpas_id
                    ));
                }
            }
            if !problems.is_empty() {
                v.confirmed_holds_lost += 1;
                note(&mut v, format!("confirmed hold lost: {}", problems.join("; ")));
            }
            continue;
        }
        if state == Some("confirmed") {
            // The shop never heard that it was confirmed: it took no payment for it, or refunded.
            // (A confirm that got no answer at all is another failure: unanswered.)
            if h.answer != HoldAnswer::Unanswered {
                v.sales_left_registered_for_unconfirmed_holds += 1;
                note(
                    &mut v,
                    "the hold ended confirmed, although the shop was not told so".to_owned(),
                );
            }
            continue;
        }
        let active: Vec<String> = rows
            .iter()
            .filter(|row| at_uitpas(row) == "ACTIVE")
            .map(|row| {
                format!(
                    "sale {} ({} in the ledger, UiTPAS sale {:?} ACTIVE)",
                    row.sale_id, row.status, row.uitpas_id
                )
            })
            .collect();
        if !active.is_empty() {
            v.sales_left_registered_for_unconfirmed_holds += 1;
            note(
                &mut v,
                format!(
                    "the hold is {state:?} but its sales are active at UiTPAS: {}",
                    active.join("; ")
                ),
            );
        }
    }
    v
}

pub fn histogram<'a>(items: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for item in items {
        *h.entry(item.to_owned()).or_insert(0) += 1;
    }
    h
}
