//! Reconciliation with UiTPAS: the ledger's sales of an event against UiTPAS's list of the
//! event's active sales (`GET /ticket-sales?eventId=`), stored as a report.
//!
//! **Reading a busy event whole.** The list is read in pages of at most 500 that overlap by 50;
//! each page must hold the last sale of the page before it (the *anchor*), so a sale added or
//! cancelled by someone else meanwhile shifts the list without hiding anything. When the list moved
//! more than the overlap, the page is read again from further back, once; if the anchor is still
//! gone the report is *inconclusive*, never a list of false discrepancies. A sale registered here
//! while the list was read may not have been listed yet: only sales registered before the run
//! (by PostgreSQL's clock: UiTPAS committed them before we recorded them) are judged missing. A run makes at most `RECONCILE_MAX_CALLS`
//! calls; an event it cannot finish within them is inconclusive too.
//!
//! **Whose sale it is.** A run compares one customer's sales of an event with the list UiTPAS
//! gives that customer's credentials; an event two customers sell has a run for each. A sale at
//! UiTPAS that this customer's ledger does not know is another customer's of this service when
//! that customer's ledger holds it (its id, or its marker); *ours* when its label carries the
//! marker of one of this customer's sales (`uc-<16 hex>`, see
//! [`crate::ledger::reconcile::marker_in`]): a double, or a registration the worker has not
//! adopted yet. Without such a marker it is another client's (a box office, another shop).
//!
//! **A report adds up.** Every sale UiTPAS lists is on exactly one line (a sale of ours whose work
//! has not settled — a cancellation in flight or refused — is `unsettled`), so UiTPAS's count is
//! the sum of every line but `missing_at_uitpas` ([`balances`]).

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::customers::{Customers, DEFAULT_CUSTOMER};
use crate::domain::mask;
use crate::ledger::reconcile::{OVERLAP, PAGE, marker, marker_in};
use crate::uitpas::{RegisteredTicketSale, UitpasClient};

/// The kinds of lines of a report, in the order the console shows them.
pub const KINDS: [&str; 7] = [
    "missing_at_uitpas",
    "active_at_uitpas",
    "unknown_ours",
    "unknown_other",
    "unsettled",
    "other_customer",
    "matched",
];

/// The kind of the lines that are not in UiTPAS's list (every other line is one listed sale).
pub const NOT_LISTED: &str = "missing_at_uitpas";

/// Whether a report's lines account for every sale UiTPAS listed: UiTPAS's count is the number of
/// its lines but the ones UiTPAS did not list.
pub fn balances(uitpas_sales: usize, items: &[Item]) -> bool {
    items.iter().filter(|i| i.kind != NOT_LISTED).count() == uitpas_sales
}

/// The kinds that are discrepancies (everything but `matched`).
pub const DISCREPANCIES: [&str; 4] = ["missing_at_uitpas", "active_at_uitpas", "unknown_ours", "unknown_other"];

/// Runs reconciliations and stores their reports. Cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    pub db: PgPool,
    /// The customers: an event's sales are read with the client of the customer who sold them.
    pub customers: Customers,
    pub max_calls: u32,
}

/// One line of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: &'static str,
    pub ticket_sale_id: Option<Uuid>,
    pub uitpas_ticket_sale_id: Option<String>,
    pub uitpas_number: Option<String>,
    pub tariff_type: Option<String>,
    pub regular_price_cents: Option<i64>,
    pub tariff_price_cents: Option<i64>,
    pub label: Option<String>,
}

/// A ledger sale of the event, as the comparison needs it.
#[derive(Debug, Clone)]
pub struct LedgerSale {
    pub id: Uuid,
    pub uitpas_ticket_sale_id: Option<String>,
    pub status: String,
    pub uitpas_number: String,
    pub tariff_type: Option<String>,
    pub regular_price_cents: i64,
    pub tariff_price_cents: Option<i64>,
    pub regular_price_label: Option<String>,
    pub registered_at: Option<DateTime<Utc>>,
}

/// What reading an event's list found.
#[derive(Debug)]
pub enum Read {
    /// Every sale listed during the read, by id.
    Complete(HashMap<String, RegisteredTicketSale>),
    Inconclusive(String),
}

/// Reads the whole list of an event's active sales, within `budget` calls (counted in `calls`).
pub async fn read_event(uitpas: &UitpasClient, event: &str, budget: u32, calls: &mut u32) -> anyhow::Result<Read> {
    let mut seen: HashMap<String, RegisteredTicketSale> = HashMap::new();
    let mut start: u32 = 0;
    let mut anchor: Option<String> = None;
    let mut reread = false;
    loop {
        if *calls >= budget {
            return Ok(Read::Inconclusive(format!(
                "the bound of {budget} calls per run was reached before the list was read whole"
            )));
        }
        *calls += 1;
        let page = uitpas
            .ticket_sales_of_event(event, start, PAGE)
            .await
            .with_context(|| format!("GET /ticket-sales?eventId={event}&start={start}"))?;
        if let Some(a) = &anchor
            && !page.member.iter().any(|s| &s.id == a)
        {
            if reread {
                return Ok(Read::Inconclusive(
                    "the event's sales moved more than a page while they were read".into(),
                ));
            }
            // Sales before this page were cancelled meanwhile: look further back, once.
            reread = true;
            start = start.saturating_sub(PAGE - OVERLAP);
            continue;
        }
        reread = false;
        let len = page.member.len() as u32;
        anchor = page.member.last().map(|s| s.id.clone());
        for sale in page.member {
            seen.insert(sale.id.clone(), sale);
        }
        if start + len >= page.total_items {
            return Ok(Read::Complete(seen));
        }
        if len == 0 {
            return Ok(Read::Inconclusive(
                "UiTPAS counted sales of the event that it did not list".into(),
            ));
        }
        start = start + len - OVERLAP.min(len.saturating_sub(1));
    }
}

/// What the other customers of the service hold of an event: their sales' UiTPAS ids and markers.
#[derive(Debug, Default)]
pub struct Others {
    pub uitpas_ids: HashSet<String>,
    pub markers: HashSet<String>,
}

/// Compares one customer's ledger sales of an event with UiTPAS's list, read whole from `started`
/// on; `others` is what the service's other customers hold of the event. Every listed sale is on
/// exactly one line.
pub fn compare(
    ledger: &[LedgerSale],
    uitpas: &HashMap<String, RegisteredTicketSale>,
    others: &Others,
    started: DateTime<Utc>,
) -> Vec<Item> {
    let mut items = Vec::new();
    let known: HashSet<&str> = ledger
        .iter()
        .filter_map(|s| s.uitpas_ticket_sale_id.as_deref())
        .collect();
    let markers: HashMap<String, Uuid> = ledger.iter().map(|s| (marker(s.id), s.id)).collect();
    let from_ledger = |kind: &'static str, s: &LedgerSale| Item {
        kind,
        ticket_sale_id: Some(s.id),
        uitpas_ticket_sale_id: s.uitpas_ticket_sale_id.clone(),
        uitpas_number: Some(mask(&s.uitpas_number)),
        tariff_type: s.tariff_type.clone(),
        regular_price_cents: Some(s.regular_price_cents),
        tariff_price_cents: s.tariff_price_cents,
        label: s.regular_price_label.clone(),
    };
    for sale in ledger {
        let Some(id) = sale.uitpas_ticket_sale_id.as_deref() else {
            continue;
        };
        let listed = uitpas.contains_key(id);
        match (sale.status.as_str(), listed) {
            ("registered", true) => items.push(from_ledger("matched", sale)),
            // Recorded here after the list was first read: it may not have been listed yet. One
            // recorded before was committed at UiTPAS before (both times are PostgreSQL's).
            ("registered", false) if sale.registered_at.is_none_or(|at| at >= started) => {}
            ("registered", false) => items.push(from_ledger("missing_at_uitpas", sale)),
            ("cancelled", true) => items.push(from_ledger("active_at_uitpas", sale)),
            // Listed while the ledger's work on it goes on (or waits for a person): on a line
            // of its own, so that the report adds up.
            (_, true) => items.push(from_ledger("unsettled", sale)),
            // Cancelled on both sides; a cancellation in flight is the worker's.
            _ => {}
        }
    }
    let mut unknown: Vec<&RegisteredTicketSale> = uitpas.values().filter(|s| !known.contains(s.id.as_str())).collect();
    unknown.sort_by(|a, b| (a.creation_date, &a.id).cmp(&(b.creation_date, &b.id)));
    for sale in unknown {
        let found = sale.regular_price_label.as_deref().and_then(marker_in);
        let ours = found.and_then(|m| markers.get(m).copied());
        let another_customers =
            others.uitpas_ids.contains(&sale.id) || found.is_some_and(|m| others.markers.contains(m));
        items.push(Item {
            kind: match (ours, another_customers) {
                (Some(_), _) => "unknown_ours",
                (None, true) => "other_customer",
                (None, false) => "unknown_other",
            },
            ticket_sale_id: ours,
            uitpas_ticket_sale_id: Some(sale.id.clone()),
            uitpas_number: Some(mask(&sale.uitpas_number)),
            tariff_type: sale.tariff.kind.map(|k| {
                serde_json::to_value(k)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
            regular_price_cents: Some(sale.regular_price.cents()),
            tariff_price_cents: sale.tariff.price.map(|p| p.cents()),
            label: sale.regular_price_label.clone(),
        });
    }
    items
}

impl Reconciler {
    /// The events the ledger knows: every event with a sale UiTPAS confirmed.
    pub async fn events(&self) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar!(
            "SELECT DISTINCT event_id FROM ticket_sales WHERE uitpas_ticket_sale_id IS NOT NULL ORDER BY event_id"
        )
        .fetch_all(&self.db)
        .await
    }

    /// The customers who sold an event (whose sales UiTPAS confirmed); the default customer when
    /// none did, so that an event can still be looked at.
    pub async fn sellers(&self, event: &str) -> sqlx::Result<Vec<Uuid>> {
        let sellers: Vec<Uuid> = sqlx::query_scalar!(
            "SELECT DISTINCT r.customer_id FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
             WHERE t.event_id = $1 AND t.uitpas_ticket_sale_id IS NOT NULL ORDER BY r.customer_id",
            event
        )
        .fetch_all(&self.db)
        .await?;
        Ok(if sellers.is_empty() {
            vec![DEFAULT_CUSTOMER]
        } else {
            sellers
        })
    }

    /// Stores a new run of one customer's sales of one event, `running`, and returns its id.
    pub async fn begin(&self, event: &str, customer: Uuid, trigger: &str) -> sqlx::Result<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query!(
            "INSERT INTO reconciliation_runs (id, event_id, customer_id, trigger, status) VALUES ($1, $2, $3, $4, 'running')",
            id,
            event,
            customer,
            trigger
        )
        .execute(&self.db)
        .await?;
        Ok(id)
    }

    /// Stores a run for every customer who sold `event` ([`Self::sellers`]); their ids.
    pub async fn begin_event(&self, event: &str, trigger: &str) -> sqlx::Result<Vec<(Uuid, Uuid)>> {
        let mut runs = Vec::new();
        for customer in self.sellers(event).await? {
            runs.push((self.begin(event, customer, trigger).await?, customer));
        }
        Ok(runs)
    }

    /// Reconciles one customer's sales of one event into the run `run` (made with
    /// [`Self::begin`]), within `budget` calls (the calls it makes are added to `calls`). Never
    /// fails: a failure is the report's status.
    pub async fn run(&self, run: Uuid, event: &str, customer: Uuid, budget: u32, calls: &mut u32) {
        let before = *calls;
        let outcome = self.reconcile(run, event, customer, budget, calls).await;
        let used = i32::try_from(*calls - before).unwrap_or(i32::MAX);
        let (status, note) = match outcome {
            Ok(None) => ("complete", None),
            Ok(Some(why)) => ("inconclusive", Some(why)),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), event, "a reconciliation failed");
                ("failed", Some(format!("{e:#}")))
            }
        };
        let stored = sqlx::query!(
            "UPDATE reconciliation_runs SET status = $2, note = $3, calls = $4, finished_at = now() WHERE id = $1",
            run,
            status,
            note,
            used
        )
        .execute(&self.db)
        .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, %run, "cannot store the end of a reconciliation");
        }
        tracing::info!(%run, event, status, calls = used, "reconciliation finished");
    }

    /// `Ok(None)` complete, `Ok(Some(why))` inconclusive.
    async fn reconcile(
        &self,
        run: Uuid,
        event: &str,
        customer: Uuid,
        budget: u32,
        calls: &mut u32,
    ) -> anyhow::Result<Option<String>> {
        let started: DateTime<Utc> = sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
            .fetch_one(&self.db)
            .await?;
        let client = self.customers.client(customer)?;
        let read = read_event(&client, event, budget, calls).await?;
        let listed = match read {
            Read::Complete(listed) => listed,
            Read::Inconclusive(why) => return Ok(Some(why)),
        };
        let ledger: Vec<LedgerSale> = sqlx::query_as!(
            LedgerSale,
            r#"SELECT id, uitpas_ticket_sale_id, status, uitpas_number, tariff_type, regular_price_cents,
                      tariff_price_cents, regular_price_label, registered_at
               FROM ticket_sales t WHERE event_id = $1
                 AND (SELECT customer_id FROM registrations r WHERE r.id = t.registration_id) = $2"#,
            event,
            customer
        )
        .fetch_all(&self.db)
        .await?;
        // What the other customers hold of the event (read after the list: a sale another
        // customer registered while it was read is theirs too).
        let others: Vec<(Uuid, Option<String>)> = sqlx::query!(
            r#"SELECT t.id, t.uitpas_ticket_sale_id FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
               WHERE t.event_id = $1 AND r.customer_id <> $2"#,
            event,
            customer
        )
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.uitpas_ticket_sale_id))
        .collect();
        let others = Others {
            markers: others.iter().map(|(id, _)| marker(*id)).collect(),
            uitpas_ids: others.into_iter().filter_map(|(_, uitpas)| uitpas).collect(),
        };
        let items = compare(&ledger, &listed, &others, started);
        anyhow::ensure!(
            balances(listed.len(), &items),
            "the report does not account for every sale UiTPAS listed (a bug: please report it)"
        );
        let mut tx = crate::db::begin(&self.db).await?;
        for item in &items {
            sqlx::query!(
                r#"INSERT INTO reconciliation_items (run_id, kind, ticket_sale_id, uitpas_ticket_sale_id, uitpas_number,
                                                     tariff_type, regular_price_cents, tariff_price_cents, label)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
                run,
                item.kind,
                item.ticket_sale_id,
                item.uitpas_ticket_sale_id,
                item.uitpas_number,
                item.tariff_type,
                item.regular_price_cents,
                item.tariff_price_cents,
                item.label
            )
            .execute(&mut *tx)
            .await?;
        }
        // A sale of ours the ledger does not record, of an order that settled: a stray (a double,
        // or a sale of an order that ended without it), cancelled at UiTPAS through the outbox.
        for item in items.iter().filter(|i| i.kind == "unknown_ours") {
            if let (Some(ours), Some(theirs)) = (item.ticket_sale_id, item.uitpas_ticket_sale_id.as_deref()) {
                crate::ledger::Ledger::stray_found(&mut tx, ours, theirs).await?;
            }
        }
        sqlx::query!(
            "UPDATE reconciliation_runs SET uitpas_sales = $2 WHERE id = $1",
            run,
            i32::try_from(listed.len()).unwrap_or(i32::MAX)
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    /// One run over every event the ledger knows, for each customer who sold it, sharing one
    /// bound on calls. Returns the runs.
    pub async fn run_all(&self, trigger: &str) -> anyhow::Result<Vec<Uuid>> {
        let mut calls = 0;
        let mut runs = Vec::new();
        for event in self.events().await? {
            for (run, customer) in self.begin_event(&event, trigger).await? {
                self.run(run, &event, customer, self.max_calls, &mut calls).await;
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// Claims today's daily run (UTC) for this replica: `true` for exactly one replica a day.
    pub async fn claim_day(&self, day: chrono::NaiveDate) -> sqlx::Result<bool> {
        let done = sqlx::query!(
            "INSERT INTO reconciliation_days (day) VALUES ($1) ON CONFLICT DO NOTHING",
            day
        )
        .execute(&self.db)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The daily reconciliation: once `at` (UTC) has passed on a day, the replica that claims the day
/// runs it; checked every minute, so a service started later that day catches up. Ends when
/// `stop` turns true.
pub async fn daily(reconciler: Reconciler, at: chrono::NaiveTime, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = Utc::now();
        if now.time() >= at {
            match reconciler.claim_day(now.date_naive()).await {
                Ok(true) => {
                    tracing::info!("daily reconciliation with UiTPAS started");
                    if let Err(e) = reconciler.run_all("daily").await {
                        tracing::warn!(error = format!("{e:#}"), "the daily reconciliation failed");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim the daily reconciliation"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Discrepancies by kind in the latest complete report of every event and customer (for `/metrics`).
pub async fn discrepancies(db: &PgPool) -> sqlx::Result<Vec<(String, i64)>> {
    Ok(sqlx::query!(
        r#"WITH latest AS (
               SELECT DISTINCT ON (event_id, customer_id) id FROM reconciliation_runs
               WHERE status = 'complete' ORDER BY event_id, customer_id, created_at DESC)
           SELECT i.kind, count(*) AS "count!" FROM reconciliation_items i JOIN latest l ON l.id = i.run_id
           WHERE i.kind = ANY($1) GROUP BY i.kind"#,
        &DISCREPANCIES[..] as &[&str]
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.kind, r.count))
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Money;
    use crate::uitpas::ConfirmedTariff;

    fn ours(n: u128, uitpas: &str, status: &str, registered_at: i64) -> LedgerSale {
        LedgerSale {
            id: Uuid::from_u128(n << 64),
            uitpas_ticket_sale_id: Some(uitpas.into()),
            status: status.into(),
            uitpas_number: "0900000067513".into(),
            tariff_type: Some("SOCIALTARIFF".into()),
            regular_price_cents: 1000,
            tariff_price_cents: Some(200),
            regular_price_label: None,
            registered_at: DateTime::from_timestamp(registered_at, 0),
        }
    }

    fn theirs(id: &str, label: Option<String>) -> (String, RegisteredTicketSale) {
        let sale = RegisteredTicketSale {
            id: id.into(),
            event_id: "e".into(),
            uitpas_number: "0900000067513".into(),
            regular_price: Money::from_cents(1000).unwrap(),
            regular_price_label: label,
            creation_date: DateTime::from_timestamp(5, 0),
            tariff: ConfirmedTariff {
                id: "t".into(),
                name: None,
                price: Some(Money::from_cents(200).unwrap()),
                kind: None,
            },
        };
        (id.into(), sale)
    }

    #[test]
    fn every_kind_of_line_is_told_apart() {
        let ledger = vec![
            ours(1, "u1", "registered", 10),
            ours(2, "u2", "registered", 10),  // cancelled at the box office
            ours(3, "u3", "cancelled", 10),   // still active at UiTPAS
            ours(4, "u4", "registered", 100), // registered during the run, not listed yet
            ours(5, "u5", "cancelling", 10),  // the worker's
        ];
        let listed: HashMap<String, RegisteredTicketSale> = [
            theirs("u1", None),
            theirs("u3", None),
            theirs("double", Some(format!("Volwassenen ({})", marker(ledger[0].id)))),
            theirs("box", Some("Kassa".into())),
            theirs("other-shop", Some("uc-00000000000000ff".into())),
        ]
        .into_iter()
        .collect();
        let items = compare(
            &ledger,
            &listed,
            &Others::default(),
            DateTime::from_timestamp(50, 0).unwrap(),
        );
        let kind_of = |uitpas: &str| {
            items
                .iter()
                .find(|i| i.uitpas_ticket_sale_id.as_deref() == Some(uitpas))
                .map(|i| i.kind)
        };
        assert_eq!(kind_of("u1"), Some("matched"));
        assert_eq!(kind_of("u2"), Some("missing_at_uitpas"));
        assert_eq!(kind_of("u3"), Some("active_at_uitpas"));
        assert_eq!(kind_of("u4"), None);
        assert_eq!(kind_of("u5"), None);
        assert_eq!(kind_of("double"), Some("unknown_ours"));
        assert_eq!(kind_of("box"), Some("unknown_other"));
        assert_eq!(kind_of("other-shop"), Some("unknown_other"));
        let double = items.iter().find(|i| i.kind == "unknown_ours").unwrap();
        assert_eq!(double.ticket_sale_id, Some(ledger[0].id));
        assert_eq!(double.uitpas_number.as_deref(), Some("0900****7513"));
        assert!(balances(listed.len(), &items));
    }

    #[test]
    fn a_sale_still_being_cancelled_and_another_customers_sales_are_on_lines_and_it_adds_up() {
        let ledger = vec![ours(1, "u1", "cancelling", 10), ours(2, "u2", "registered", 10)];
        let listed: HashMap<String, RegisteredTicketSale> = [
            theirs("u1", None),
            theirs("u2", None),
            theirs("b1", None),
            theirs("b2", Some("uc-00000000000000ff".into())),
            theirs("box", Some("Kassa".into())),
        ]
        .into_iter()
        .collect();
        let others = Others {
            uitpas_ids: ["b1".to_owned()].into(),
            markers: ["uc-00000000000000ff".to_owned()].into(),
        };
        let items = compare(&ledger, &listed, &others, DateTime::from_timestamp(50, 0).unwrap());
        let kind_of = |uitpas: &str| {
            items
                .iter()
                .find(|i| i.uitpas_ticket_sale_id.as_deref() == Some(uitpas))
                .map(|i| i.kind)
        };
        assert_eq!(kind_of("u1"), Some("unsettled"));
        assert_eq!(kind_of("u2"), Some("matched"));
        assert_eq!(kind_of("b1"), Some("other_customer"));
        assert_eq!(kind_of("b2"), Some("other_customer"));
        assert_eq!(kind_of("box"), Some("unknown_other"));
        assert!(balances(listed.len(), &items), "{items:?}");
    }
}
