//! Registering and cancelling: the calls to UiTPAS around the ledger's writes.
//!
//! Each call to UiTPAS is made under a lease of the outbox ([`crate::outbox`]), never under a row
//! lock: the handler that stores a new registration holds the first lease itself and calls UiTPAS
//! at once; whatever it cannot settle, the worker retries. Settling is fenced by the job's
//! `attempts`, so a worker that lost its lease records nothing, and a settlement commits before
//! the shop is told "registered".

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::reconcile;
use super::store::{self, Confirmation};
use super::{Hold, HoldState, NewTicketSale, Registration, RegistrationStatus, SaleStatus, TicketSale, TicketSaleRow};
use crate::customers::Customers;
use crate::domain::{EventId, Money, UitpasNumber};
use crate::outbox::{self, JobKind, Lease, LeaseLost, Outbox, Renewing, Sending};
use crate::problem::Problem;
use crate::uitpas::{
    EndUserMessage, Gated, RegisteredTicketSale, TariffRef, TicketSalePage, TicketSaleRequest, UitpasClient,
    UpstreamError,
};
use crate::webhooks::{EventType, Webhooks};

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
    /// The customer whose shop sends it.
    pub customer_id: Uuid,
    pub idempotency_key: String,
    pub order_id: String,
    pub request: serde_json::Value,
    pub tickets: Vec<NewTicket>,
    /// A hold before payment, for this long; `None`: the order is paid.
    pub hold: Option<Duration>,
}

#[derive(Debug)]
pub enum RegisterOutcome {
    /// Registered, or pending (stored, to be registered by the worker): see its status.
    Stored(Registration),
    /// UiTPAS refused the order; nothing was registered.
    Rejected(Problem),
    /// The idempotency key was used before for another request.
    KeyReused,
    /// Another Idempotency-Key's registration of this order id is live (not rejected, not a
    /// released or expired hold): nothing was stored.
    OrderIdTaken(Box<Registration>),
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

/// Whether a ticket sale can be checked in now.
#[derive(Debug)]
pub enum CheckinStatusOutcome {
    Known {
        allowed: bool,
        /// UiTPAS's reason, when not allowed.
        end_user_message: Option<EndUserMessage>,
        /// When this sale was checked in, if it was.
        checked_in_at: Option<DateTime<Utc>>,
    },
    NotFound,
    /// Only a registered sale can be checked in.
    NotRegistered(SaleStatus),
    /// UiTPAS refused to tell (e.g. 404 `passholder-not-found`, 403 `auth/forbidden`).
    Refused(Box<Problem>),
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

/// Everything that registers and cancels sales. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    db: PgPool,
    outbox: Outbox,
    customers: Customers,
    webhooks: Webhooks,
    /// How long a retried request waits for the first one's call to UiTPAS to end.
    wait_in_flight: Duration,
}

/// What became of a registration sent to UiTPAS.
enum Sent {
    /// Confirmed and recorded: the sales as now stored.
    Registered(Vec<TicketSaleRow>),
    /// Refused by UiTPAS and recorded so.
    Rejected(Box<Problem>),
    /// Nothing recorded (no clear answer, the lease was lost, or a person is needed): the job
    /// stays, for a later attempt or a person.
    Unsettled,
}

/// What an answer of UiTPAS means for the work that asked it.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// A clear "no" to this request: nothing was done, and the same request will not succeed.
    Refused,
    /// It cannot succeed without a person: credentials refused with a fresh token, a missing
    /// permission (403), a token server that refuses the credentials.
    NeedsPerson,
    /// Answered, so the request ended upstream, without a clear outcome (5xx, 429): try later.
    Ended,
    /// No answer (timeout, reset) or a gateway's (502, 504): the request may still be running
    /// upstream and commit.
    Unknown,
}

fn verdict(e: &UpstreamError) -> Verdict {
    match e {
        UpstreamError::Problem { status: 401 | 403, .. } | UpstreamError::Status(401 | 403) => Verdict::NeedsPerson,
        UpstreamError::Token(status) if (400..500).contains(status) && *status != 429 => Verdict::NeedsPerson,
        UpstreamError::Problem { status, .. }
            if (400..500).contains(status) && ![404, 408, 409, 429].contains(status) =>
        {
            Verdict::Refused
        }
        UpstreamError::Status(502 | 504) | UpstreamError::Timeout | UpstreamError::Unreachable(_) => Verdict::Unknown,
        _ => Verdict::Ended,
    }
}

/// The problem shown for work that needs a person.
fn attention_problem(e: &UpstreamError) -> Problem {
    match e {
        UpstreamError::Problem { .. } => Problem::from_upstream(e),
        UpstreamError::Token(_) => Problem::ours(
            "upstream-credentials-refused",
            StatusCode::BAD_GATEWAY,
            "publiq's token server refused the credentials",
        )
        .with_detail(format!("{e}; check UITPAS_CLIENT_ID and UITPAS_CLIENT_SECRET.")),
        _ => Problem::ours(
            "upstream-credentials-refused",
            StatusCode::BAD_GATEWAY,
            "UiTPAS refused the service's credentials",
        )
        .with_detail(format!(
            "{e}, also with a fresh token; check the client's credentials and permissions."
        )),
    }
}

impl Ledger {
    pub fn new(db: PgPool, outbox: Outbox, customers: Customers, webhooks: Webhooks, wait_in_flight: Duration) -> Self {
        Self {
            db,
            outbox,
            customers,
            webhooks,
            wait_in_flight,
        }
    }

    pub(crate) fn webhooks(&self) -> &Webhooks {
        &self.webhooks
    }

    pub fn db(&self) -> &PgPool {
        &self.db
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn customers(&self) -> &Customers {
        &self.customers
    }

    // --- registrations ---

    /// Stores the order and registers it at UiTPAS, once per idempotency key.
    ///
    /// A new order costs two statements: storing it (with its job, leased to this request, and
    /// the start of the send recorded) and, after UiTPAS's answer, settling it (committed before
    /// the answer says "registered"); the answer is built from what was stored and confirmed.
    #[tracing::instrument(skip_all, fields(order_id = %new.order_id), err)]
    pub async fn register(&self, new: NewRegistration) -> anyhow::Result<RegisterOutcome> {
        let id = Uuid::new_v4();
        let sales = expand(&new.tickets);
        let row = store::NewRegistrationRow {
            id,
            customer_id: new.customer_id,
            idempotency_key: &new.idempotency_key,
            request: &new.request,
            order_id: &new.order_id,
        };
        let started = Instant::now();
        let lease_ms = self.outbox.policy().lease.as_secs_f64() * 1000.0;
        let hold_ms = new.hold.map(|ttl| ttl.as_secs_f64() * 1000.0);
        let stored = match store::insert_registration(&self.db, &row, &sales, lease_ms, hold_ms).await {
            // The order id is taken: by another key's registration (the shop's mistake), or by
            // this key's own, sent twice at once (answered below, as a retry is).
            Err(e) if store::is_order_id_taken(&e) => match self.order_id_taken(&new).await? {
                Some(taken) => return Ok(taken),
                None => None,
            },
            stored => stored.context("storing the registration")?,
        };
        if let Some((created_at, hold_expires_at)) = stored {
            tracing::info!(registration_id = %id, sales = sales.len(), "registration stored");
            let rows: Vec<TicketSaleRow> = sales
                .into_iter()
                .map(|s| s.into_pending_row(new.customer_id, id, &new.order_id, created_at))
                .collect();
            let lease = self.outbox.first_lease(JobKind::Register, id, started, true);
            // The answer tells the shop this attempt's outcome: no webhook for it.
            return match self.send(lease, rows, false).await? {
                Sent::Registered(rows) => Ok(RegisterOutcome::Stored(Registration {
                    id,
                    customer_id: new.customer_id,
                    order_id: new.order_id,
                    status: if hold_expires_at.is_some() {
                        RegistrationStatus::Held
                    } else {
                        RegistrationStatus::Registered
                    },
                    problem: None,
                    hold: hold_expires_at.map(|expires_at| Hold {
                        state: HoldState::Held,
                        expires_at,
                    }),
                    ticket_sales: rows.into_iter().map(TicketSale::try_from).collect::<Result<_, _>>()?,
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
        let existing = store::registration_by_key(&self.db, new.customer_id, &new.idempotency_key)
            .await?
            .context("the registration of an existing idempotency key")?;
        if existing.request != new.request {
            return Ok(RegisterOutcome::KeyReused);
        }
        self.outbox
            .wait_while_in_flight(JobKind::Register, existing.id, self.wait_in_flight)
            .await?;
        self.outcome(existing.id).await
    }

    /// The live registration that holds `new`'s order id, unless it is `new`'s key's own.
    async fn order_id_taken(&self, new: &NewRegistration) -> anyhow::Result<Option<RegisterOutcome>> {
        if store::registration_by_key(&self.db, new.customer_id, &new.idempotency_key)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let live = store::live_registration_by_order(&self.db, new.customer_id, &new.order_id)
            .await?
            .context("the live registration of a taken order id")?;
        let registration = self.registration(live.id).await?.context("a stored registration")?;
        Ok(Some(RegisterOutcome::OrderIdTaken(Box::new(registration))))
    }

    async fn outcome(&self, id: Uuid) -> anyhow::Result<RegisterOutcome> {
        let registration = self.registration(id).await?.context("a stored registration")?;
        if registration.status == RegistrationStatus::Rejected
            && let Some(problem) = &registration.problem
        {
            let mut problem = problem.clone();
            problem.registration_id = Some(id);
            return Ok(RegisterOutcome::Rejected(problem));
        }
        Ok(RegisterOutcome::Stored(registration))
    }

    /// A registration with its ticket sales.
    pub async fn registration(&self, id: Uuid) -> anyhow::Result<Option<Registration>> {
        let mut conn = self.db.acquire().await?;
        let Some(row) = store::registration(&mut conn, id).await? else {
            return Ok(None);
        };
        let sales = store::sales_of_registration(&mut conn, id).await?;
        let attention = outbox::attention(&mut conn, JobKind::Register, id).await?;
        let hold = row.hold.map(|(state, expires_at)| Hold { state, expires_at });
        let (status, problem) = match (row.status, attention) {
            (RegistrationStatus::Rejected, _) => (
                RegistrationStatus::Rejected,
                row.problem
                    .map(serde_json::from_value)
                    .transpose()
                    .context("a stored problem")?,
            ),
            (_, _) if hold.as_ref().is_some_and(|h| h.state == HoldState::Released) => {
                (RegistrationStatus::Released, None)
            }
            (_, _) if hold.as_ref().is_some_and(|h| h.state == HoldState::Expired) => {
                (RegistrationStatus::Expired, None)
            }
            (RegistrationStatus::Pending, Some(a)) => (
                RegistrationStatus::NeedsAttention,
                a.problem
                    .map(serde_json::from_value)
                    .transpose()
                    .context("a parked job's problem")?,
            ),
            (RegistrationStatus::Registered, _) if hold.as_ref().is_some_and(|h| h.state == HoldState::Held) => {
                (RegistrationStatus::Held, None)
            }
            (status, _) => (status, None),
        };
        Ok(Some(Registration {
            id: row.id,
            customer_id: row.customer_id,
            order_id: row.order_id,
            status,
            problem,
            hold,
            ticket_sales: sales.into_iter().map(TicketSale::try_from).collect::<Result<_, _>>()?,
            created_at: row.created_at,
        }))
    }

    /// One attempt to settle a registration, under `lease`.
    ///
    /// The rule that keeps it exactly once: look at UiTPAS first, and adopt the sales that carry
    /// this registration's markers; send again only when UiTPAS has none **and** no earlier send
    /// can still commit (its answer came, or [`outbox::Policy::send_open_for`] has passed since it
    /// started). No look is needed when nothing was ever sent that may have committed (every
    /// send was answered without committing, or a look found none after the window).
    ///
    /// A registration given up while it was parked (abandoned by a person, or its hold ended) is
    /// `rejected` and keeps its job until UiTPAS holds none of its sales: see [`Self::clean_up`].
    #[tracing::instrument(skip_all, fields(registration_id = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    pub async fn attempt_register(&self, mut lease: Lease) -> anyhow::Result<()> {
        let id = lease.job.subject_id;
        let (registration, sales) = {
            let mut conn = self.db.acquire().await?;
            let registration = store::registration(&mut conn, id).await?;
            (registration, store::sales_of_registration(&mut conn, id).await?)
        };
        let Some(registration) = registration.filter(|r| {
            matches!(r.status, RegistrationStatus::Pending | RegistrationStatus::Rejected) && !sales.is_empty()
        }) else {
            lease.finish_alone().await?;
            return Ok(());
        };
        // Measured before looking: a look that starts after the window can trust an absence.
        let window_left = lease.settle_window_left();
        let client = self.customers.client(registration.customer_id)?;
        let look = if lease.open_send_age.is_none() && lease.nothing_upstream {
            Look::Absent
        } else {
            self.look(&client, &mut lease, registration.created_at, &sales).await?
        };
        if registration.status == RegistrationStatus::Rejected {
            return self.clean_up(&client, lease, look, window_left).await;
        }
        match look {
            Look::Inconclusive(why) => {
                let looking_for = (Utc::now() - registration.created_at).to_std().unwrap_or_default();
                if why != UNREADABLE && looking_for > LOOK_PATIENCE {
                    let problem = inconclusive_problem(why);
                    self.park(lease, &problem, why, Some(EventType::RegistrationNeedsAttention))
                        .await?;
                } else {
                    tracing::info!(why, "could not tell whether UiTPAS has the sales; looking again later");
                    lease.retry_later(why, false).await?;
                }
            }
            Look::Forbidden(e) => {
                let problem = attention_problem(&e);
                self.park(
                    lease,
                    &problem,
                    &e.to_string(),
                    Some(EventType::RegistrationNeedsAttention),
                )
                .await?;
            }
            Look::TooBusy(event) => {
                let problem = too_busy_problem(&event);
                self.park(
                    lease,
                    &problem,
                    "more sales of the event since the order than a look reads",
                    Some(EventType::RegistrationNeedsAttention),
                )
                .await?;
            }
            Look::Partial { theirs } => {
                let problem = Problem::ours(
                    "partially-registered",
                    StatusCode::CONFLICT,
                    "UiTPAS holds only part of this order",
                )
                .with_detail(format!(
                    "UiTPAS has {} of the order's {} sales; an all-or-nothing batch cannot do that, so a person \
                     must look (was a sale cancelled at UiTPAS directly?). Abandoning the order (or releasing \
                     its hold) cancels what UiTPAS holds of it.",
                    theirs.len(),
                    sales.len()
                ));
                self.park(
                    lease,
                    &problem,
                    "UiTPAS holds part of the order",
                    Some(EventType::RegistrationNeedsAttention),
                )
                .await?;
            }
            Look::Found { confirmations, doubles } => {
                if !doubles.is_empty() {
                    tracing::warn!(
                        doubles = doubles.len(),
                        "UiTPAS holds an order's sale twice: cancelling the double"
                    );
                    for double in &doubles {
                        if let Err(e) = cancel_at_uitpas(&client, &mut lease, double).await? {
                            lease.retry_later(&format!("cancelling a double: {e}"), false).await?;
                            return Ok(());
                        }
                    }
                }
                tracing::info!("UiTPAS already has this registration's sales: adopted");
                self.settle_registered(lease, &confirmations, true).await?;
            }
            Look::Absent if !window_left.is_zero() => {
                // The earlier send may still commit: only look, until the window has passed.
                let delay = lease
                    .policy()
                    .delay(lease.job.attempts)
                    .min(window_left + Duration::from_millis(100));
                tracing::info!(
                    window_left_ms = window_left.as_millis() as u64,
                    "UiTPAS has none of the sales yet, but the earlier send may still commit: not sending again"
                );
                lease
                    .retry_after(delay, "waiting for the earlier send to settle", false)
                    .await?;
            }
            Look::Absent if registration.hold.is_some_and(|(state, _)| state.ended()) => {
                // The hold was released or expired before UiTPAS registered anything: nothing to
                // register, nothing to cancel.
                let problem = Problem::ours("hold-ended", StatusCode::CONFLICT, "The hold ended").with_detail(
                    "The hold was released or expired before UiTPAS registered its sales; nothing was registered.",
                );
                let mut tx = self.db.begin().await?;
                if lease.finish(&mut tx).await? {
                    store::mark_rejected(&mut tx, id, &serde_json::to_value(&problem)?).await?;
                    self.webhooks
                        .enqueue(&mut tx, EventType::RegistrationRejected, id)
                        .await?;
                    tx.commit().await?;
                }
            }
            Look::Absent => {
                tracing::info!("UiTPAS has none of this registration's sales: sending it again");
                // Known now: nothing of it is at UiTPAS, and no earlier send can still commit.
                lease.nothing_upstream = true;
                self.send(lease, sales, true).await?;
            }
        }
        Ok(())
    }

    /// One attempt to undo at UiTPAS a registration given up while parked (it reads `rejected`):
    /// every sale UiTPAS holds with one of its markers is cancelled, and the work ends once no
    /// send of it can still commit. A look that cannot conclude parks it (abandoning it again
    /// then drops it).
    async fn clean_up(
        &self,
        client: &UitpasClient,
        mut lease: Lease,
        look: Look,
        window_left: Duration,
    ) -> anyhow::Result<()> {
        let theirs = match look {
            Look::Inconclusive(why) => {
                lease.retry_later(why, false).await?;
                return Ok(());
            }
            Look::TooBusy(event) => {
                let problem = too_busy_problem(&event);
                self.park(
                    lease,
                    &problem,
                    "more sales of the event since the order than a look reads",
                    None,
                )
                .await?;
                return Ok(());
            }
            Look::Forbidden(e) => {
                self.park(lease, &attention_problem(&e), &e.to_string(), None).await?;
                return Ok(());
            }
            Look::Found { confirmations, doubles } => confirmations
                .into_iter()
                .map(|c| c.uitpas_ticket_sale_id)
                .chain(doubles)
                .collect(),
            Look::Partial { theirs } => theirs,
            Look::Absent => Vec::new(),
        };
        for sale in &theirs {
            if let Err(e) = cancel_at_uitpas(client, &mut lease, sale).await? {
                lease
                    .retry_later(&format!("cancelling a sale of a given-up order: {e}"), false)
                    .await?;
                return Ok(());
            }
        }
        if !theirs.is_empty() {
            tracing::warn!(
                sales = theirs.len(),
                "UiTPAS held sales of an order that was given up: cancelled"
            );
        }
        if window_left.is_zero() {
            lease.finish_alone().await?;
        } else {
            // A send may still commit: watch for it until the window has passed.
            let delay = lease
                .policy()
                .delay(lease.job.attempts)
                .min(window_left + Duration::from_millis(100));
            lease
                .retry_after(delay, "watching for a late commit of a given-up order", false)
                .await?;
        }
        Ok(())
    }

    /// Sends a pending registration's sales to UiTPAS under `lease` and settles the answer;
    /// `notify`: the shop hears the outcome through a webhook (no HTTP answer tells it).
    async fn send(&self, mut lease: Lease, mut sales: Vec<TicketSaleRow>, notify: bool) -> anyhow::Result<Sent> {
        let batch: Vec<TicketSaleRequest> = sales
            .iter()
            .map(|s| TicketSaleRequest {
                uitpas_number: s.uitpas_number.clone(),
                event_id: s.event_id.clone(),
                regular_price: Money::from_cents(s.regular_price_cents).unwrap_or_default(),
                regular_price_label: Some(reconcile::label_with_marker(s.regular_price_label.as_deref(), s.id)),
                tariff: TariffRef {
                    id: s.tariff_id.clone(),
                },
            })
            .collect();
        let Some(customer) = sales.first().map(|s| s.customer_id) else {
            return Ok(Sent::Unsettled);
        };
        // The send is recorded (and the lease checked) with the token in hand, right before the
        // request is written: see `uitpas::gate`.
        let answer = self
            .customers
            .client(customer)?
            .register_ticket_sales(&batch, &mut Sending(&mut lease))
            .await;
        let answer = match answer {
            Gated::Called(answer) => answer,
            Gated::Refused(e) if e.is::<LeaseLost>() => {
                tracing::info!("{e}: not sending");
                return Ok(Sent::Unsettled);
            }
            Gated::Refused(e) => return Err(e),
        };
        match answer {
            Ok(registered) => {
                let confirmations = confirm(&sales, registered);
                if confirmations.len() != sales.len() {
                    // Answered, so ended; the next attempt adopts what UiTPAS has by the markers.
                    // (UiTPAS committed: not "ended without committing", so the next attempt looks.)
                    lease
                        .retry_later("UiTPAS's answer does not match the sales sent", false)
                        .await?;
                    return Ok(Sent::Unsettled);
                }
                let Some(at) = self.settle_registered(lease, &confirmations, notify).await? else {
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
            Err(e) => match verdict(&e) {
                Verdict::Refused => {
                    let problem = refusal_problem(&e, &sales);
                    tracing::info!(problem = %problem.kind, "UiTPAS refused the registration");
                    let mut tx = self.db.begin().await?;
                    if lease.finish(&mut tx).await? {
                        let value = serde_json::to_value(&problem)?;
                        store::mark_rejected(&mut tx, lease.job.subject_id, &value).await?;
                        if notify {
                            self.webhooks
                                .enqueue(&mut tx, EventType::RegistrationRejected, lease.job.subject_id)
                                .await?;
                        }
                        tx.commit().await?;
                        return Ok(Sent::Rejected(Box::new(problem)));
                    }
                    Ok(Sent::Unsettled)
                }
                Verdict::NeedsPerson => {
                    let problem = attention_problem(&e);
                    let event = notify.then_some(EventType::RegistrationNeedsAttention);
                    lease.send_answered();
                    self.park(lease, &problem, &e.to_string(), event).await?;
                    Ok(Sent::Unsettled)
                }
                Verdict::Ended => {
                    tracing::warn!(error = %e, "registration not confirmed: it stays pending");
                    lease.retry_later(&e.to_string(), true).await?;
                    Ok(Sent::Unsettled)
                }
                Verdict::Unknown => {
                    tracing::warn!(error = %e, "registration outcome unknown: it stays pending");
                    lease.retry_later(&e.to_string(), false).await?;
                    Ok(Sent::Unsettled)
                }
            },
        }
    }

    /// Records what UiTPAS confirmed, durably, if `lease` still holds the job; when it was
    /// recorded, or `None` if nothing was (the lease was lost, or a confirmed sale is recorded
    /// elsewhere: the next attempt looks at UiTPAS).
    async fn settle_registered(
        &self,
        lease: Lease,
        confirmations: &[Confirmation],
        notify: bool,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let settled = if notify && self.webhooks.enabled() {
            self.settle_registered_notifying(lease.job, confirmations).await
        } else {
            let mut conn = self.db.acquire().await?;
            store::settle_registered(&mut conn, lease.job, confirmations).await
        };
        match settled {
            Ok(Some(at)) => {
                tracing::info!(sales = confirmations.len(), "registered at UiTPAS");
                Ok(Some(at))
            }
            Ok(None) => {
                tracing::warn!("lost the lease before settling; the next attempt will adopt the sales");
                Ok(None)
            }
            // A UiTPAS sale this attempt confirmed is already recorded for another line: it cannot
            // be, since markers tie a sale to one line; look again later rather than record it.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                lease
                    .retry_later("a confirmed UiTPAS sale is recorded elsewhere", false)
                    .await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Settles, and stores the webhook event telling it, in one transaction.
    async fn settle_registered_notifying(
        &self,
        job: outbox::Job,
        confirmations: &[Confirmation],
    ) -> sqlx::Result<Option<DateTime<Utc>>> {
        let mut tx = self.db.begin().await?;
        let at = store::settle_registered(&mut tx, job, confirmations).await?;
        if at.is_some() {
            self.webhooks
                .enqueue(&mut tx, EventType::RegistrationRegistered, job.subject_id)
                .await?;
        }
        tx.commit().await?;
        Ok(at)
    }

    /// Parks work for a person, with the webhook event telling it when `event` is given.
    async fn park(&self, lease: Lease, problem: &Problem, error: &str, event: Option<EventType>) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if lease.park_in(&mut tx, &serde_json::to_value(problem)?, error).await?
            && let Some(event) = event
        {
            self.webhooks.enqueue(&mut tx, event, lease.job.subject_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Looks for this registration's sales at UiTPAS, by their markers, among the sales of its
    /// events created since it was stored.
    async fn look(
        &self,
        client: &UitpasClient,
        lease: &mut Lease,
        stored_at: DateTime<Utc>,
        sales: &[TicketSaleRow],
    ) -> anyhow::Result<Look> {
        let floor = stored_at - reconcile::CLOCK_MARGIN;
        let events: BTreeSet<&str> = sales.iter().map(|s| s.event_id.as_str()).collect();
        let mut found = Vec::new();
        for event in events {
            let mut pages = EventPages {
                uitpas: client,
                lease: &mut *lease,
                event,
            };
            match reconcile::sales_since(&mut pages, floor).await {
                Ok(reconcile::Scan::Complete(sales)) => found.extend(sales),
                Ok(reconcile::Scan::Inconclusive(why)) => return Ok(Look::Inconclusive(why)),
                Ok(reconcile::Scan::TooBusy) => return Ok(Look::TooBusy(event.to_owned())),
                Err(e) => match e.downcast::<UpstreamError>() {
                    // A client without TICKETSALES_SEARCH (403), or refused credentials: no look
                    // will do better until a person fixes it.
                    Ok(e) if verdict(&e) == Verdict::NeedsPerson => return Ok(Look::Forbidden(e)),
                    Ok(_) => return Ok(Look::Inconclusive(UNREADABLE)),
                    Err(e) => return Err(e),
                },
            }
        }
        let mut by_marker = reconcile::by_marker(found);
        let mut confirmations = Vec::with_capacity(sales.len());
        let mut doubles = Vec::new();
        for ours in sales {
            let Some(mut theirs) = by_marker.remove(&reconcile::marker(ours.id)).filter(|l| !l.is_empty()) else {
                continue;
            };
            let first = theirs.remove(0);
            doubles.extend(theirs.into_iter().map(|s| s.id));
            confirmations.push(confirmation(ours.id, first));
        }
        Ok(match confirmations.len() {
            0 => Look::Absent,
            n if n == sales.len() => Look::Found { confirmations, doubles },
            _ => Look::Partial {
                theirs: confirmations
                    .into_iter()
                    .map(|c| c.uitpas_ticket_sale_id)
                    .chain(doubles)
                    .collect(),
            },
        })
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
                let lease = self.outbox.enqueue_leased(&mut tx, JobKind::Cancel, id).await?;
                tx.commit().await?;
                if let Some(lease) = lease {
                    self.attempt_cancel(lease, false).await?;
                }
            }
            Some(SaleStatus::Cancelling) => {
                tx.commit().await?;
                self.outbox
                    .wait_while_in_flight(JobKind::Cancel, id, self.wait_in_flight)
                    .await?;
            }
        }
        let sale = self.ticket_sale(id).await?.context("a stored ticket sale")?;
        Ok(match sale.status {
            SaleStatus::Cancelled => CancelOutcome::Cancelled,
            _ => CancelOutcome::Pending(Box::new(sale)),
        })
    }

    /// One attempt to cancel a sale at UiTPAS, under `lease`: a checked-in sale's check-in is
    /// undone first ([`Self::undo_checkin`]), then the sale is cancelled.
    #[tracing::instrument(skip_all, fields(ticket_sale_id = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    /// `notify`: the shop hears the outcome through a webhook (no HTTP answer tells it).
    pub async fn attempt_cancel(&self, mut lease: Lease, notify: bool) -> anyhow::Result<()> {
        let sale = {
            let mut conn = self.db.acquire().await?;
            store::ticket_sale(&mut conn, lease.job.subject_id).await?
        };
        let found = match sale {
            Some(s) if s.status == SaleStatus::Cancelling.as_str() => {
                s.uitpas_ticket_sale_id.map(|id| (s.customer_id, id))
            }
            _ => None,
        };
        let Some((customer, uitpas_id)) = found else {
            lease.finish_alone().await?;
            return Ok(());
        };
        let client = self.customers.client(customer)?;
        if let Err(e) = self.undo_checkin(&client, &mut lease).await {
            return match e.downcast::<UpstreamError>() {
                Ok(e) => {
                    self.cancel_failed(lease, e, notify, "the check-in was not undone")
                        .await
                }
                Err(e) => Err(e),
            };
        }
        match client.cancel_ticket_sale(&uitpas_id, &mut Renewing(&mut lease)).await {
            Gated::Refused(e) => Err(e),
            Gated::Called(Ok(())) => self.settle_cancelled(lease, notify).await,
            // 404 ticket-sale-not-found: an earlier attempt cancelled it and its answer was lost.
            Gated::Called(Err(UpstreamError::Problem { problem, .. })) if problem.is("ticket-sale-not-found") => {
                tracing::info!("UiTPAS no longer has the sale: already cancelled");
                self.settle_cancelled(lease, notify).await
            }
            Gated::Called(Err(e)) => self.cancel_failed(lease, e, notify, "cancellation not confirmed").await,
        }
    }

    /// A cancellation's call to UiTPAS failed: parked for a person when UiTPAS refused it or the
    /// credentials (a 4xx other than 404), else replayed later.
    async fn cancel_failed(&self, lease: Lease, e: UpstreamError, notify: bool, what: &str) -> anyhow::Result<()> {
        if matches!(verdict(&e), Verdict::Refused | Verdict::NeedsPerson) {
            let problem = match &e {
                UpstreamError::Problem { .. } => Problem::from_upstream(&e),
                _ => attention_problem(&e),
            };
            let event = notify.then_some(EventType::TicketSaleNeedsAttention);
            return self.park(lease, &problem, &e.to_string(), event).await;
        }
        tracing::warn!(error = %e, "{what}: it will be replayed");
        lease.retry_later(&e.to_string(), true).await?;
        Ok(())
    }

    /// Undoes the UiTPAS check-in of a sale being cancelled (a refund after the passholder came
    /// in), unless another registered ticket of the pass shares it (UiTPAS checks a passholder in
    /// once per event and day). Once in effect: the undo is recorded, fenced by the lease, before
    /// the sale is cancelled, and a replay whose earlier `DELETE` was carried out but not answered
    /// gets 404, which means undone. An upstream error is returned as such (an `UpstreamError`).
    async fn undo_checkin(&self, client: &UitpasClient, lease: &mut Lease) -> anyhow::Result<()> {
        let id = lease.job.subject_id;
        let Some(checkin) = store::sale_checkin(&self.db, id).await? else {
            return Ok(());
        };
        let Some(checked_in_at) = checkin.checked_in_at else {
            return Ok(());
        };
        let checkin_id = match checkin.uitpas_checkin_id {
            Some(known) => known,
            None => {
                // Checked in before check-in ids were kept, or UiTPAS answered without one.
                let day = start_of_day(checked_in_at);
                let floor = day - reconcile::CLOCK_MARGIN;
                let found = self
                    .find_checkin(
                        client,
                        Some(&mut *lease),
                        &checkin.uitpas_number,
                        &checkin.event_id,
                        floor,
                    )
                    .await?;
                let Some(found) = found else {
                    tracing::warn!("UiTPAS lists no check-in of this sale: there is none to undo");
                    return Ok(());
                };
                store::adopt_checkin_id(&self.db, &checkin.uitpas_number, &checkin.event_id, day, &found).await?;
                found
            }
        };
        if store::checkin_shared(&self.db, id, &checkin_id).await? {
            tracing::info!("another registered ticket of the pass shares the check-in: it is kept");
            return Ok(());
        }
        lease.renew().await?;
        match client.delete_checkin(&checkin_id).await {
            Ok(()) => tracing::info!("check-in undone at UiTPAS"),
            Err(UpstreamError::Problem { status: 404, .. } | UpstreamError::Status(404)) => {
                tracing::info!("UiTPAS no longer has the check-in: already undone");
            }
            Err(e) => return Err(e.into()),
        }
        if !store::record_checkin_undone(&self.db, lease.job, &checkin_id).await? {
            return Err(LeaseLost.into());
        }
        Ok(())
    }

    async fn settle_cancelled(&self, lease: Lease, notify: bool) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if lease.finish(&mut tx).await? {
            store::mark_cancelled(&mut tx, lease.job.subject_id).await?;
            if notify {
                self.webhooks
                    .enqueue(&mut tx, EventType::TicketSaleCancelled, lease.job.subject_id)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// A ticket sale, with the problem of work on it that needs a person.
    pub async fn ticket_sale(&self, id: Uuid) -> anyhow::Result<Option<TicketSale>> {
        let mut conn = self.db.acquire().await?;
        store::ticket_sale(&mut conn, id)
            .await?
            .map(TicketSale::try_from)
            .transpose()
    }

    // --- work that needs a person ---

    /// Gives up a registration whose job is parked, in `tx`: it becomes `rejected` with the
    /// problem it was parked with, and its job is taken up again to cancel every sale UiTPAS
    /// holds of it ([`Self::clean_up`]): UiTPAS may hold some (a partial registration, a send
    /// that committed late). A registration rejected already (its clean-up was parked) drops its
    /// job, and so does one whose every send UiTPAS answered without committing (nothing of it
    /// can be there). `false` when its job is not parked.
    pub(crate) async fn give_up_parked(&self, tx: &mut sqlx::PgConnection, id: Uuid) -> anyhow::Result<bool> {
        let rejected = store::registration(&mut *tx, id)
            .await?
            .is_some_and(|r| r.status == RegistrationStatus::Rejected);
        if rejected {
            return Ok(Outbox::abandon_parked(&mut *tx, JobKind::Register, id).await?.is_some());
        }
        // Every send was answered without committing (UiTPAS refused the credentials, say):
        // nothing of it is at UiTPAS, so there is nothing to clean up.
        let problem = match Outbox::drop_parked_if_nothing_upstream(&mut *tx, JobKind::Register, id).await? {
            Some(problem) => problem,
            None => match Outbox::resume_parked(&mut *tx, JobKind::Register, id).await? {
                Some(problem) => problem,
                None => return Ok(false),
            },
        };
        store::mark_rejected(&mut *tx, id, &problem.unwrap_or_else(|| serde_json::json!({}))).await?;
        Ok(true)
    }

    /// Makes parked work due again now (after a person fixed the credentials or permission).
    pub async fn retry(&self, kind: JobKind, subject_id: Uuid) -> anyhow::Result<bool> {
        let retried = self.outbox.retry_parked(kind, subject_id).await?;
        if retried {
            tracing::info!(kind = kind.as_str(), subject = %subject_id, "parked work retried by a person");
        }
        Ok(retried)
    }

    /// Gives parked work up: a registration becomes rejected with its problem, and the worker
    /// cancels whatever UiTPAS holds of it ([`Self::give_up_parked`]); a cancellation is dropped
    /// and its sale stays registered. `false` when the work does not need attention.
    pub async fn abandon(&self, kind: JobKind, subject_id: Uuid) -> anyhow::Result<bool> {
        let mut tx = self.db.begin().await?;
        match kind {
            JobKind::Register => {
                if !self.give_up_parked(&mut tx, subject_id).await? {
                    return Ok(false);
                }
            }
            JobKind::Cancel => {
                if Outbox::abandon_parked(&mut tx, kind, subject_id).await?.is_none() {
                    return Ok(false);
                }
                store::undo_cancel(&mut tx, subject_id).await?
            }
            JobKind::CreateEvent | JobKind::UpdateEvent | JobKind::EndHold | JobKind::DeliverWebhook => {
                anyhow::bail!("only registrations and cancellations are abandoned")
            }
        }
        tx.commit().await?;
        tracing::info!(kind = kind.as_str(), subject = %subject_id, "parked work abandoned by a person");
        Ok(true)
    }
}

/// What a look at UiTPAS found of a registration's sales.
enum Look {
    /// Every sale, by its marker; `doubles` are UiTPAS ids of the same sale registered again.
    Found {
        confirmations: Vec<Confirmation>,
        doubles: Vec<String>,
    },
    /// None of them, in a complete reading.
    Absent,
    /// Some, not all: an all-or-nothing batch cannot end so. `theirs`: the UiTPAS ids found.
    Partial {
        theirs: Vec<String>,
    },
    Inconclusive(&'static str),
    /// More sales of this event since the order than one look reads: no later look will do.
    TooBusy(String),
    /// UiTPAS refused the look (no permission to search the sales, or the credentials).
    Forbidden(UpstreamError),
}

/// Why a look was inconclusive when UiTPAS could not be read: an outage, retried for as long as
/// it lasts (never parked for it).
const UNREADABLE: &str = "UiTPAS could not be read";

/// How long looks that stay inconclusive for other reasons (a list that moves while it is read,
/// in no order) are retried before the order is parked for a person, counted from when it was
/// stored.
pub const LOOK_PATIENCE: Duration = Duration::from_secs(15 * 60);

fn too_busy_problem(event: &str) -> Problem {
    Problem::ours(
        "unsettled-busy-event",
        StatusCode::CONFLICT,
        "UiTPAS cannot be searched for this order's sales",
    )
    .with_detail(format!(
        "UiTPAS lists {} sales or more of event {event} since shortly before the order was stored, more than \
         one look reads; the service cannot tell whether UiTPAS holds the order's sales (their \
         regularPriceLabel ends with the marker \"uc-…\" of each ticket sale). Find them in the organizer's \
         report, then retry (if UiTPAS holds none) or abandon the order (which cancels what can be found).",
        reconcile::MAX_SALES
    ))
}

fn inconclusive_problem(why: &str) -> Problem {
    Problem::ours(
        "unsettled-inconclusive",
        StatusCode::CONFLICT,
        "UiTPAS's list of the event's sales cannot be read reliably",
    )
    .with_detail(format!(
        "For {} minutes every look at UiTPAS was inconclusive ({why}); the service cannot tell whether UiTPAS \
         holds the order's sales. Retry later, or abandon the order.",
        LOOK_PATIENCE.as_secs() / 60
    ))
}

/// Cancels one UiTPAS sale under `lease` (renewed, fenced, right before the request is written);
/// `404 ticket-sale-not-found` means cancelled already. The inner error: UiTPAS did not confirm.
async fn cancel_at_uitpas(
    client: &UitpasClient,
    lease: &mut Lease,
    uitpas_id: &str,
) -> anyhow::Result<Result<(), UpstreamError>> {
    match client.cancel_ticket_sale(uitpas_id, &mut Renewing(lease)).await {
        Gated::Refused(e) => Err(e),
        Gated::Called(Ok(())) => Ok(Ok(())),
        Gated::Called(Err(UpstreamError::Problem { problem, .. })) if problem.is("ticket-sale-not-found") => Ok(Ok(())),
        Gated::Called(Err(e)) => Ok(Err(e)),
    }
}

/// An event's sales at UiTPAS, each page read under a renewed lease.
struct EventPages<'a> {
    uitpas: &'a UitpasClient,
    lease: &'a mut Lease,
    event: &'a str,
}

impl reconcile::Pages for EventPages<'_> {
    async fn page(&mut self, start: u32, limit: u32) -> anyhow::Result<TicketSalePage> {
        self.lease.renew().await?;
        Ok(self.uitpas.ticket_sales_of_event(self.event, start, limit).await?)
    }
}

/// Pairs UiTPAS's answer with our sales: by marker, or by position when UiTPAS did not return
/// the label (it answers in the order sent).
fn confirm(sales: &[TicketSaleRow], registered: Vec<RegisteredTicketSale>) -> Vec<Confirmation> {
    let by_marker: HashMap<String, usize> = registered
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((reconcile::marker_in(s.regular_price_label.as_deref()?)?.to_owned(), i)))
        .collect();
    let mut registered: Vec<Option<RegisteredTicketSale>> = registered.into_iter().map(Some).collect();
    sales
        .iter()
        .enumerate()
        .filter_map(|(position, ours)| {
            let i = by_marker.get(&reconcile::marker(ours.id)).copied().unwrap_or(position);
            let theirs = registered.get_mut(i)?.take()?;
            Some(confirmation(ours.id, theirs))
        })
        .collect()
}

impl Ledger {
    /// Checks the passholder of a registered sale in at its event (`POST /checkins`), keeping
    /// UiTPAS's id of the check-in so that a refund can undo it. Checking in again is not an
    /// error; another ticket of the same pass at the same event on the same day shares the
    /// check-in made for the first, without asking UiTPAS again (UiTPAS checks in once a day).
    #[tracing::instrument(skip_all, fields(ticket_sale_id = %id), err)]
    pub async fn check_in(&self, id: Uuid) -> anyhow::Result<CheckinOutcome> {
        let Some(sale) = self.ticket_sale(id).await? else {
            return Ok(CheckinOutcome::NotFound);
        };
        if sale.status != SaleStatus::Registered {
            return Ok(CheckinOutcome::NotRegistered(sale.status));
        }
        if sale.checked_in_at.is_none() {
            let today = start_of_day(Utc::now());
            let shared = store::shared_checkin(&self.db, id, &sale.uitpas_number, &sale.event_id, today).await?;
            if let Some(shared) = shared {
                if !store::mark_checked_in(&self.db, id, shared.as_deref()).await? {
                    return Ok(CheckinOutcome::NotRegistered(SaleStatus::Cancelled));
                }
            } else {
                let client = self.customers.client(sale.customer_id)?;
                let started = Utc::now();
                let checkin = match client.checkin(&sale.event_id, &sale.uitpas_number).await {
                    Ok(checkin) => checkin,
                    Err(e @ UpstreamError::Problem { .. }) => {
                        return Ok(CheckinOutcome::Refused(Box::new(Problem::from_upstream(&e))));
                    }
                    Err(e) => return Ok(CheckinOutcome::Unavailable(e)),
                };
                let checkin_id = match checkin.id.filter(|c| !c.is_empty()) {
                    Some(known) => Some(known),
                    // Not in the answer: looked for now; else by the cancellation, should it come.
                    None => self
                        .find_checkin(
                            &client,
                            None,
                            &sale.uitpas_number,
                            &sale.event_id,
                            started - reconcile::CLOCK_MARGIN,
                        )
                        .await
                        .inspect_err(|e| tracing::warn!(error = format!("{e:#}"), "cannot find the check-in's id"))
                        .ok()
                        .flatten(),
                };
                if !store::mark_checked_in(&self.db, id, checkin_id.as_deref()).await? {
                    // Cancelled while UiTPAS checked the passholder in: that check-in is undone
                    // at once (once; the cancellation did not see it).
                    if let Some(checkin_id) = &checkin_id
                        && let Err(e) = client.delete_checkin(checkin_id).await
                    {
                        tracing::warn!(error = %e, "a check-in of a sale cancelled meanwhile could not be undone");
                    }
                    return Ok(CheckinOutcome::NotRegistered(SaleStatus::Cancelled));
                }
            }
        }
        let sale = self.ticket_sale(id).await?.context("a stored ticket sale")?;
        Ok(CheckinOutcome::Done(Box::new(sale)))
    }

    /// Whether a registered sale can be checked in now: as `PATCH … {checkedIn: true}` would go.
    /// A sale checked in already, or whose pass another ticket checked in at the event today, is
    /// (it shares that check-in) without asking UiTPAS; otherwise UiTPAS says
    /// (`GET /checkin-status`), with its message when not.
    #[tracing::instrument(skip_all, fields(ticket_sale_id = %id), err)]
    pub async fn checkin_status(&self, id: Uuid) -> anyhow::Result<CheckinStatusOutcome> {
        let Some(sale) = self.ticket_sale(id).await? else {
            return Ok(CheckinStatusOutcome::NotFound);
        };
        if sale.status != SaleStatus::Registered {
            return Ok(CheckinStatusOutcome::NotRegistered(sale.status));
        }
        let shared = sale.checked_in_at.is_some()
            || store::shared_checkin(
                &self.db,
                id,
                &sale.uitpas_number,
                &sale.event_id,
                start_of_day(Utc::now()),
            )
            .await?
            .is_some();
        if shared {
            return Ok(CheckinStatusOutcome::Known {
                allowed: true,
                end_user_message: None,
                checked_in_at: sale.checked_in_at,
            });
        }
        let client = self.customers.client(sale.customer_id)?;
        Ok(match client.checkin_status(&sale.event_id, &sale.uitpas_number).await {
            Ok(status) => CheckinStatusOutcome::Known {
                allowed: status.allowed,
                end_user_message: status.end_user_message.filter(|_| !status.allowed),
                checked_in_at: None,
            },
            Err(e @ UpstreamError::Problem { .. }) => {
                CheckinStatusOutcome::Refused(Box::new(Problem::from_upstream(&e)))
            }
            Err(e) => CheckinStatusOutcome::Unavailable(e),
        })
    }

    /// Finds the id of the check-in of pass `number` at `event` made at or after `floor`, with
    /// `GET /checkins` (newest first; needs the passholder's id and the event's organizer): for
    /// an answer of `POST /checkins` without an id, and for a check-in recorded before ids were
    /// kept. `None` when UiTPAS lists none. Under a `lease`, it is renewed before every call.
    async fn find_checkin(
        &self,
        client: &UitpasClient,
        mut lease: Option<&mut Lease>,
        number: &str,
        event: &str,
        floor: DateTime<Utc>,
    ) -> anyhow::Result<Option<String>> {
        /// A passholder has few check-ins at one organizer's events since a given day.
        const PAGE: u32 = 50;
        const MAX_PAGES: u32 = 4;
        if let Some(lease) = lease.as_deref_mut() {
            lease.renew().await?;
        }
        let Some(passholder) = client.pass_by_identifier(number).await?.passholder_id else {
            return Ok(None);
        };
        if let Some(lease) = lease.as_deref_mut() {
            lease.renew().await?;
        }
        let Some(organizer) = client.event_organizer(event).await? else {
            return Ok(None);
        };
        for page in 0..MAX_PAGES {
            if let Some(lease) = lease.as_deref_mut() {
                lease.renew().await?;
            }
            let checkins = client.checkins(&passholder, &organizer, page * PAGE, PAGE).await?;
            for checkin in &checkins.member {
                if checkin.creation_date.is_some_and(|at| at < floor) {
                    return Ok(None);
                }
                let same_event = checkin
                    .event_id
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(event));
                let same_pass = checkin.uitpas_number.as_deref().is_none_or(|n| n == number);
                if same_event
                    && same_pass
                    && let Some(id) = &checkin.id
                {
                    return Ok(Some(id.clone()));
                }
            }
            if checkins.member.len() < PAGE as usize {
                break;
            }
        }
        Ok(None)
    }
}

/// The start of the (UTC) day of `at`: UiTPAS checks a passholder in once per event and day.
fn start_of_day(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive().and_hms_opt(0, 0, 0).map_or(at, |d| d.and_utc())
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
    fn answers_are_refusals_work_for_a_person_ended_or_unknown() {
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
        assert_eq!(verdict(&problem(400)), Verdict::Refused);
        assert_eq!(verdict(&problem(401)), Verdict::NeedsPerson, "401 after a fresh token");
        assert_eq!(verdict(&problem(403)), Verdict::NeedsPerson, "auth/forbidden");
        assert_eq!(verdict(&UpstreamError::Token(401)), Verdict::NeedsPerson);
        assert_eq!(verdict(&UpstreamError::Token(503)), Verdict::Ended);
        assert_eq!(verdict(&problem(429)), Verdict::Ended);
        assert_eq!(
            verdict(&UpstreamError::Status(503)),
            Verdict::Ended,
            "answered: it ended"
        );
        assert_eq!(
            verdict(&UpstreamError::Status(504)),
            Verdict::Unknown,
            "a gateway gave up: it may still commit"
        );
        assert_eq!(verdict(&UpstreamError::Timeout), Verdict::Unknown);
        assert_eq!(verdict(&UpstreamError::Unreachable("reset".into())), Verdict::Unknown);
    }
}
