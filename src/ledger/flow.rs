//! Registering and cancelling: the calls to UiTPAS around the ledger's writes.
//!
//! Each call to UiTPAS is made under a job lease (`jobs.locked_until`), never under a row lock:
//! the handler that stores a new registration holds the first lease itself and calls UiTPAS at
//! once; whatever it cannot settle, the worker retries with capped exponential backoff and jitter.
//! Settling is fenced by the job's `attempts`, so a worker that lost its lease records nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, Confirmation, Job};
use super::{JobKind, NewTicketSale, Registration, RegistrationStatus, SaleStatus, TicketSale, TicketSaleRow};
use crate::domain::{EventId, Money, UitpasNumber};
use crate::problem::Problem;
use crate::uitpas::{RegisteredTicketSale, TariffRef, TicketSaleRequest, UitpasClient, UpstreamError};

/// A ticket of an order, validated.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub event_id: EventId,
    pub uitpas_number: UitpasNumber,
    pub tariff_id: String,
    pub regular_price: Money,
    pub regular_price_label: Option<String>,
    pub quantity: u32,
    pub external_id: Option<String>,
    pub paid_price: Option<Money>,
    pub vat: Option<f64>,
}

/// An order to register, validated; `request` is its normalised form, compared on a retry.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub idempotency_key: String,
    pub order_id: String,
    pub request: serde_json::Value,
    pub tickets: Vec<NewTicket>,
}

#[derive(Debug)]
pub enum RegisterOutcome {
    /// Registered, or pending (stored, to be registered by the worker): see its status.
    Stored(Registration),
    /// UiTPAS refused the order; nothing was registered.
    Rejected(Problem),
    /// The idempotency key was used before for another request.
    KeyReused,
}

#[derive(Debug)]
pub enum CheckinOutcome {
    Done(Box<TicketSale>),
    NotFound,
    /// Only a registered sale can be checked in.
    NotRegistered(SaleStatus),
    /// UiTPAS refused the check-in (e.g. `checkin-not-allowed`, outside the event's hours).
    Refused(Box<Problem>),
    /// UiTPAS could not be asked: nothing was recorded, the door staff may try again.
    Unavailable(UpstreamError),
}

#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled,
    /// Stored; the worker will cancel it at UiTPAS.
    Pending(Box<TicketSale>),
    NotFound,
    /// The sale is not registered (pending or rejected): nothing to cancel at UiTPAS yet.
    NotRegistered(SaleStatus),
}

/// How the ledger retries.
#[derive(Debug, Clone, Copy)]
pub struct ReplayPolicy {
    /// How long one attempt may hold a job; more than the upstream timeout.
    pub lease: Duration,
    /// The first retry delay; doubled per attempt up to `max_delay`, with ±25 % jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// How long a retried request waits for the first one's call to UiTPAS to end.
    pub wait_in_flight: Duration,
}

impl ReplayPolicy {
    /// The delay before attempt `attempts + 1`.
    pub fn delay(&self, attempts: i32) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
        let base = self.base_delay.saturating_mul(1 << exp).min(self.max_delay);
        base.mul_f64(0.75 + fastrand::f64() * 0.5)
    }
}

/// Everything that registers and cancels sales. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    db: PgPool,
    /// Where settlements commit asynchronously ([`store::settlement_pool`]).
    settle: PgPool,
    uitpas: Arc<UitpasClient>,
    policy: ReplayPolicy,
}

/// What became of a registration sent to UiTPAS.
enum Sent {
    /// Confirmed and recorded: the sales as now stored.
    Registered(Vec<TicketSaleRow>),
    /// Refused by UiTPAS and recorded so.
    Rejected(Box<Problem>),
    /// Nothing recorded (no clear answer, or the lease was lost): the job stays for a later attempt.
    Unsettled,
}

/// The page size used to read an event's sales back from UiTPAS (its maximum).
const RECONCILE_PAGE: u32 = 500;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Ledger {
    pub fn new(db: PgPool, uitpas: Arc<UitpasClient>, policy: ReplayPolicy) -> Self {
        let settle = store::settlement_pool(&db);
        Self {
            db,
            settle,
            uitpas,
            policy,
        }
    }

    pub fn db(&self) -> &PgPool {
        &self.db
    }

    pub fn policy(&self) -> ReplayPolicy {
        self.policy
    }

    // --- registrations ---

    /// Stores the order and registers it at UiTPAS, once per idempotency key.
    ///
    /// A new order costs two statements: storing it (with its job, leased to this request) and,
    /// after UiTPAS's answer, settling it; the answer is built from what was stored and confirmed.
    #[tracing::instrument(skip_all, fields(order_id = %new.order_id), err)]
    pub async fn register(&self, new: NewRegistration) -> anyhow::Result<RegisterOutcome> {
        let id = Uuid::new_v4();
        let sales = expand(&new.tickets);
        let row = store::NewRegistrationRow {
            id,
            idempotency_key: &new.idempotency_key,
            request: &new.request,
            order_id: &new.order_id,
        };
        let stored = store::insert_registration(&self.db, &row, &sales, ms(self.policy.lease))
            .await
            .context("storing the registration")?;
        if let Some(created_at) = stored {
            tracing::info!(registration_id = %id, sales = sales.len(), "registration stored");
            let rows: Vec<TicketSaleRow> = sales
                .into_iter()
                .map(|s| s.into_pending_row(id, &new.order_id, created_at))
                .collect();
            let job = Job {
                kind: JobKind::Register,
                subject_id: id,
                attempts: 1,
            };
            return match self.send(job, rows).await? {
                Sent::Registered(rows) => Ok(RegisterOutcome::Stored(Registration {
                    id,
                    order_id: new.order_id,
                    status: RegistrationStatus::Registered,
                    ticket_sales: rows.into_iter().map(TicketSale::from).collect(),
                    created_at,
                })),
                Sent::Rejected(problem) => {
                    let mut problem = *problem;
                    problem.registration_id = Some(id);
                    Ok(RegisterOutcome::Rejected(problem))
                }
                Sent::Unsettled => self.outcome(id).await,
            };
        }
        let existing = store::registration_by_key(&self.db, &new.idempotency_key)
            .await?
            .context("the registration of an existing idempotency key")?;
        if existing.request != new.request {
            return Ok(RegisterOutcome::KeyReused);
        }
        self.wait_while_in_flight(JobKind::Register, existing.id).await?;
        self.outcome(existing.id).await
    }

    /// Waits (bounded) while another request or worker is calling UiTPAS for this subject, so
    /// that a retry gets the answer of the first request rather than "pending".
    async fn wait_while_in_flight(&self, kind: JobKind, subject: Uuid) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.policy.wait_in_flight;
        while Instant::now() < deadline && store::job_in_flight(&self.db, kind, subject).await? {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    async fn outcome(&self, id: Uuid) -> anyhow::Result<RegisterOutcome> {
        let row = store::registration(&self.db, id)
            .await?
            .context("a stored registration")?;
        if row.status == RegistrationStatus::Rejected
            && let Some(problem) = row.problem
        {
            let mut problem: Problem = serde_json::from_value(problem).context("a stored problem")?;
            problem.registration_id = Some(id);
            return Ok(RegisterOutcome::Rejected(problem));
        }
        Ok(RegisterOutcome::Stored(
            self.registration(id).await?.context("a stored registration")?,
        ))
    }

    /// A registration with its ticket sales.
    pub async fn registration(&self, id: Uuid) -> anyhow::Result<Option<Registration>> {
        let Some(row) = store::registration(&self.db, id).await? else {
            return Ok(None);
        };
        let mut conn = self.db.acquire().await?;
        let sales = store::sales_of_registration(&mut conn, id).await?;
        Ok(Some(Registration {
            id: row.id,
            order_id: row.order_id,
            status: row.status,
            ticket_sales: sales.into_iter().map(TicketSale::from).collect(),
            created_at: row.created_at,
        }))
    }

    /// One attempt to settle a registration under the lease `job`.
    #[tracing::instrument(skip_all, fields(registration_id = %job.subject_id, attempt = job.attempts), err)]
    pub async fn attempt_register(&self, job: Job) -> anyhow::Result<()> {
        let id = job.subject_id;
        let registration = store::registration(&self.db, id).await?;
        let sales = {
            let mut conn = self.db.acquire().await?;
            store::sales_of_registration(&mut conn, id).await?
        };
        if registration.is_none_or(|r| r.status != RegistrationStatus::Pending) || sales.is_empty() {
            let mut tx = self.db.begin().await?;
            store::finish_job(&mut tx, job).await?;
            tx.commit().await?;
            return Ok(());
        }
        // A previous attempt may have reached UiTPAS with its answer lost: look before sending.
        if job.attempts > 1 {
            match self.reconcile(&sales).await {
                Ok(Some(confirmations)) => {
                    tracing::info!("UiTPAS already has this registration's sales: adopted");
                    self.settle_registered(job, &confirmations).await?;
                    return Ok(());
                }
                Ok(None) => tracing::info!("UiTPAS has none of this registration's sales: sending it again"),
                Err(e) => return self.retry_later(job, &e.to_string()).await,
            }
        }
        self.send(job, sales).await?;
        Ok(())
    }

    /// Sends a pending registration's sales to UiTPAS under the lease `job` and settles the answer.
    async fn send(&self, job: Job, mut sales: Vec<TicketSaleRow>) -> anyhow::Result<Sent> {
        let batch: Vec<TicketSaleRequest> = sales
            .iter()
            .map(|s| TicketSaleRequest {
                uitpas_number: s.uitpas_number.clone(),
                event_id: s.event_id.clone(),
                regular_price: Money::from_cents(s.regular_price_cents).unwrap_or_default(),
                regular_price_label: s.regular_price_label.clone(),
                tariff: TariffRef {
                    id: s.tariff_id.clone(),
                },
            })
            .collect();
        match self.uitpas.register_ticket_sales(&batch).await {
            Ok(registered) => {
                let confirmations: Vec<Confirmation> = sales
                    .iter()
                    .zip(registered)
                    .map(|(ours, theirs)| confirmation(ours.id, theirs))
                    .collect();
                let Some(at) = self.settle_registered(job, &confirmations).await? else {
                    return Ok(Sent::Unsettled);
                };
                for (sale, confirmed) in sales.iter_mut().zip(confirmations) {
                    sale.uitpas_ticket_sale_id = Some(confirmed.uitpas_ticket_sale_id);
                    sale.tariff_name = confirmed.tariff_name;
                    sale.tariff_price_cents = confirmed.tariff_price_cents;
                    sale.tariff_type = confirmed.tariff_type;
                    sale.status = SaleStatus::Registered.as_str().to_owned();
                    sale.registered_at = Some(at);
                }
                Ok(Sent::Registered(sales))
            }
            Err(e) if is_refusal(&e) => {
                let problem = refusal_problem(&e, &sales);
                tracing::info!(problem = %problem.kind, "UiTPAS refused the registration");
                // Committed synchronously, unlike the other settlements: the shop is told "refused",
                // and a refusal lost in a crash would send the order again.
                let mut tx = self.db.begin().await?;
                if store::finish_job(&mut tx, job).await? {
                    let value = serde_json::to_value(&problem)?;
                    store::mark_rejected(&mut tx, job.subject_id, &value).await?;
                    tx.commit().await?;
                    return Ok(Sent::Rejected(Box::new(problem)));
                }
                Ok(Sent::Unsettled)
            }
            Err(e) => {
                tracing::warn!(error = %e, "registration outcome unknown: it stays pending");
                self.retry_later(job, &e.to_string()).await?;
                Ok(Sent::Unsettled)
            }
        }
    }

    /// Records what UiTPAS confirmed; when it was recorded, or `None` if nothing was (the lease
    /// was lost, or a confirmed sale is recorded elsewhere: the next attempt looks at UiTPAS).
    async fn settle_registered(
        &self,
        job: Job,
        confirmations: &[Confirmation],
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        match store::settle_registered(&self.settle, job, confirmations).await {
            Ok(Some(at)) => {
                tracing::info!(sales = confirmations.len(), "registered at UiTPAS");
                Ok(Some(at))
            }
            Ok(None) => {
                tracing::warn!("lost the lease before settling; the next attempt will adopt the sales");
                Ok(None)
            }
            // A UiTPAS sale this attempt confirmed is already recorded for another line (an
            // ambiguous registration adopted it): settle again later, by looking at UiTPAS.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                self.retry_later(job, "a confirmed UiTPAS sale is recorded elsewhere")
                    .await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn retry_later(&self, job: Job, error: &str) -> anyhow::Result<()> {
        let delay = self.policy.delay(job.attempts);
        store::release_job(&self.db, job, ms(delay), error).await?;
        Ok(())
    }

    /// Looks for this registration's sales at UiTPAS among those the ledger does not know.
    /// `Some` when every line has one (the batch is all-or-nothing, so a partial match is someone
    /// else's sales), `None` when UiTPAS has none.
    async fn reconcile(&self, sales: &[TicketSaleRow]) -> anyhow::Result<Option<Vec<Confirmation>>> {
        let events: BTreeSet<&str> = sales.iter().map(|s| s.event_id.as_str()).collect();
        let mut found: Vec<RegisteredTicketSale> = Vec::new();
        for event in events {
            let mut start = 0;
            let mut total = None;
            loop {
                let page = self.uitpas.ticket_sales_of_event(event, start, RECONCILE_PAGE).await?;
                // A sale registered or cancelled between two pages shifts the list: one of ours could
                // fall between them and look absent, and sending the order again would double it.
                // Such a reading is inconclusive: look again later.
                if *total.get_or_insert(page.total_items) != page.total_items {
                    anyhow::bail!("the event's sales changed while they were read; looking again later");
                }
                let n = u32::try_from(page.member.len()).unwrap_or(u32::MAX);
                found.extend(page.member);
                start += n;
                if n == 0 || start >= page.total_items {
                    break;
                }
            }
        }
        let ids: Vec<String> = found.iter().map(|s| s.id.clone()).collect();
        let known: BTreeSet<String> = {
            let mut conn = self.db.acquire().await?;
            store::known_uitpas_ids(&mut conn, &ids).await?.into_iter().collect()
        };
        let mut candidates: HashMap<(String, String, String, i64), Vec<RegisteredTicketSale>> = HashMap::new();
        for sale in found.into_iter().filter(|s| !known.contains(&s.id)) {
            let key = (
                sale.event_id.clone(),
                sale.uitpas_number.clone(),
                sale.tariff.id.clone(),
                sale.regular_price.cents(),
            );
            candidates.entry(key).or_default().push(sale);
        }
        let mut confirmations = Vec::with_capacity(sales.len());
        for ours in sales {
            let key = (
                ours.event_id.clone(),
                ours.uitpas_number.clone(),
                ours.tariff_id.clone(),
                ours.regular_price_cents,
            );
            match candidates
                .get_mut(&key)
                .and_then(|c| (!c.is_empty()).then(|| c.remove(0)))
            {
                Some(theirs) => confirmations.push(confirmation(ours.id, theirs)),
                None => return Ok(None),
            }
        }
        Ok(Some(confirmations))
    }

    // --- cancellations ---

    /// Cancels a ticket sale at UiTPAS; stored and replayed when UiTPAS cannot be reached.
    #[tracing::instrument(skip_all, fields(ticket_sale_id = %id), err)]
    pub async fn cancel(&self, id: Uuid) -> anyhow::Result<CancelOutcome> {
        let mut tx = self.db.begin().await?;
        let before = store::begin_cancel(&mut tx, id).await?;
        match before {
            None => return Ok(CancelOutcome::NotFound),
            Some(SaleStatus::Cancelled) => return Ok(CancelOutcome::Cancelled),
            Some(status @ (SaleStatus::Pending | SaleStatus::Rejected)) => {
                return Ok(CancelOutcome::NotRegistered(status));
            }
            Some(SaleStatus::Registered) => {
                store::insert_job(&mut tx, JobKind::Cancel, id, ms(self.policy.lease)).await?;
                tx.commit().await?;
                self.attempt_cancel(Job {
                    kind: JobKind::Cancel,
                    subject_id: id,
                    attempts: 1,
                })
                .await?;
            }
            Some(SaleStatus::Cancelling) => {
                tx.commit().await?;
                self.wait_while_in_flight(JobKind::Cancel, id).await?;
            }
        }
        let mut conn = self.db.acquire().await?;
        let sale = store::ticket_sale(&mut conn, id)
            .await?
            .context("a stored ticket sale")?;
        Ok(match SaleStatus::parse(&sale.status) {
            SaleStatus::Cancelled => CancelOutcome::Cancelled,
            _ => CancelOutcome::Pending(Box::new(sale.into())),
        })
    }

    #[tracing::instrument(skip_all, fields(ticket_sale_id = %job.subject_id, attempt = job.attempts), err)]
    pub async fn attempt_cancel(&self, job: Job) -> anyhow::Result<()> {
        let sale = {
            let mut conn = self.db.acquire().await?;
            store::ticket_sale(&mut conn, job.subject_id).await?
        };
        let uitpas_id = match sale {
            Some(s) if s.status == SaleStatus::Cancelling.as_str() => s.uitpas_ticket_sale_id,
            _ => None,
        };
        let Some(uitpas_id) = uitpas_id else {
            let mut tx = self.db.begin().await?;
            store::finish_job(&mut tx, job).await?;
            tx.commit().await?;
            return Ok(());
        };
        match self.uitpas.cancel_ticket_sale(&uitpas_id).await {
            // 404 ticket-sale-not-found: an earlier attempt cancelled it and its answer was lost.
            Ok(()) => self.settle_cancelled(job).await,
            Err(UpstreamError::Problem { problem, .. }) if problem.is("ticket-sale-not-found") => {
                tracing::info!("UiTPAS no longer has the sale: already cancelled");
                self.settle_cancelled(job).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "cancellation not confirmed: it will be replayed");
                self.retry_later(job, &e.to_string()).await
            }
        }
    }

    async fn settle_cancelled(&self, job: Job) -> anyhow::Result<()> {
        let mut tx = self.settle.begin().await?;
        if store::finish_job(&mut tx, job).await? {
            store::mark_cancelled(&mut tx, job.subject_id).await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

impl Ledger {
    /// Checks the passholder of a registered sale in at its event (`POST /checkins`). Checking in
    /// again is not an error; another ticket of the same pass at the same event on the same day
    /// is checked in without asking UiTPAS again (UiTPAS gives points once a day).
    #[tracing::instrument(skip_all, fields(ticket_sale_id = %id), err)]
    pub async fn check_in(&self, id: Uuid) -> anyhow::Result<CheckinOutcome> {
        let sale = {
            let mut conn = self.db.acquire().await?;
            store::ticket_sale(&mut conn, id).await?
        };
        let Some(sale) = sale else {
            return Ok(CheckinOutcome::NotFound);
        };
        let status = SaleStatus::parse(&sale.status);
        if status != SaleStatus::Registered {
            return Ok(CheckinOutcome::NotRegistered(status));
        }
        if sale.checked_in_at.is_none() {
            let today = Utc::now()
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|d| d.and_utc())
                .unwrap_or_else(Utc::now);
            let already = store::checked_in_since(&self.db, &sale.uitpas_number, &sale.event_id, today).await?;
            if !already {
                match self.uitpas.checkin(&sale.event_id, &sale.uitpas_number).await {
                    Ok(_) => {}
                    Err(e @ UpstreamError::Problem { .. }) => {
                        return Ok(CheckinOutcome::Refused(Box::new(Problem::from_upstream(&e))));
                    }
                    Err(e) => return Ok(CheckinOutcome::Unavailable(e)),
                }
            }
            if !store::mark_checked_in(&self.db, id).await? {
                return Ok(CheckinOutcome::NotRegistered(SaleStatus::Cancelled));
            }
        }
        let mut conn = self.db.acquire().await?;
        let sale = store::ticket_sale(&mut conn, id)
            .await?
            .context("a stored ticket sale")?;
        Ok(CheckinOutcome::Done(Box::new(sale.into())))
    }
}

/// N tickets of a line become N sales, in order.
fn expand(tickets: &[NewTicket]) -> Vec<NewTicketSale> {
    let mut sales = Vec::new();
    for (i, t) in tickets.iter().enumerate() {
        for _ in 0..t.quantity {
            sales.push(NewTicketSale {
                id: Uuid::new_v4(),
                position: i32::try_from(sales.len()).unwrap_or(i32::MAX),
                ticket_index: i32::try_from(i).unwrap_or(i32::MAX),
                event_id: t.event_id.to_string(),
                uitpas_number: t.uitpas_number.as_str().to_owned(),
                tariff_id: t.tariff_id.clone(),
                regular_price_cents: t.regular_price.cents(),
                regular_price_label: t.regular_price_label.clone(),
                external_id: t.external_id.clone(),
                paid_price_cents: t.paid_price.map(Money::cents),
                vat: t.vat,
            });
        }
    }
    sales
}

fn confirmation(ticket_sale_id: Uuid, theirs: RegisteredTicketSale) -> Confirmation {
    Confirmation {
        ticket_sale_id,
        uitpas_ticket_sale_id: theirs.id,
        tariff_name: theirs.tariff.name,
        tariff_price_cents: theirs.tariff.price.map(Money::cents),
        tariff_type: theirs.tariff.kind.map(|k| match k {
            crate::uitpas::TariffType::Socialtariff => "SOCIALTARIFF".to_owned(),
            crate::uitpas::TariffType::Coupon => "COUPON".to_owned(),
        }),
    }
}

/// A clear "no" from UiTPAS: a problem answered to a request it did not carry out. Auth errors,
/// rate limits and 5xx are not: the same request may well succeed later.
fn is_refusal(e: &UpstreamError) -> bool {
    matches!(e, UpstreamError::Problem { status, .. } if (400..500).contains(status) && ![401, 403, 404, 408, 409, 429].contains(status))
}

/// UiTPAS's problem, with its pointer into the batch turned into one into the shop's request.
fn refusal_problem(e: &UpstreamError, sales: &[TicketSaleRow]) -> Problem {
    let mut problem = Problem::from_upstream(e);
    let to_ticket = |pointer: &str| -> Option<String> {
        let rest = pointer.strip_prefix('/')?;
        let (index, tail) = rest.split_once('/').map_or((rest, ""), |(i, t)| (i, t));
        let position: usize = index.parse().ok()?;
        let ticket = sales.get(position)?.ticket_index;
        Some(if tail.is_empty() {
            format!("/tickets/{ticket}")
        } else {
            format!("/tickets/{ticket}/{}", rename_field(tail))
        })
    };
    problem.json_pointer = problem.json_pointer.as_deref().and_then(to_ticket);
    for error in &mut problem.schema_errors {
        if let Some(p) = to_ticket(&error.json_pointer) {
            error.json_pointer = p;
        }
    }
    problem
}

/// UiTPAS's field names in a pointer tail, as the shop's request names them.
fn rename_field(tail: &str) -> String {
    match tail {
        "tariff/id" | "tariff" => "tariffId".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_delay_doubles_up_to_its_cap_with_jitter() {
        let policy = ReplayPolicy {
            lease: Duration::from_secs(60),
            base_delay: Duration::from_millis(1000),
            max_delay: Duration::from_secs(60),
            wait_in_flight: Duration::from_secs(5),
        };
        for _ in 0..100 {
            let first = policy.delay(1);
            assert!(
                first >= Duration::from_millis(750) && first <= Duration::from_millis(1250),
                "{first:?}"
            );
            let third = policy.delay(3);
            assert!(
                third >= Duration::from_millis(3000) && third <= Duration::from_millis(5000),
                "{third:?}"
            );
            let late = policy.delay(40);
            assert!(
                late <= Duration::from_secs(75) && late >= Duration::from_secs(45),
                "{late:?}"
            );
        }
    }

    #[test]
    fn refusals_are_4xx_problems_but_not_auth_or_rate_limits() {
        let problem = |status| UpstreamError::Problem {
            status,
            problem: Box::new(crate::uitpas::PubliqProblem {
                kind: "https://api.publiq.be/probs/uitpas/maximum-reached".into(),
                title: "Maximum reached".into(),
                detail: None,
                end_user_message: None,
                schema_errors: Vec::new(),
                json_pointer: Some("/2".into()),
            }),
        };
        assert!(is_refusal(&problem(400)));
        assert!(!is_refusal(&problem(401)));
        assert!(!is_refusal(&problem(429)));
        assert!(!is_refusal(&UpstreamError::Status(503)));
        assert!(!is_refusal(&UpstreamError::Timeout));
        assert!(!is_refusal(&UpstreamError::Unreachable("reset".into())));
    }
}
