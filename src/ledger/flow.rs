//! Registering and cancelling: the calls to UiTPAS around the ledger's writes.
//!
//! Each call to UiTPAS is made under a lease of the outbox ([`crate::outbox`]), never under a row
//! lock: the handler that stores a new registration holds the first lease itself and calls UiTPAS
//! at once; whatever it cannot settle, the worker retries. Settling is fenced by the job's
//! `attempts`, so a worker that lost its lease records nothing, and a settlement commits before
//! the shop is told "registered".

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::jobs::{self, Sent};
use super::store;
use super::{Hold, HoldState, NewTicketSale, Registration, RegistrationStatus, SaleStatus, TicketSale, TicketSaleRow};
use crate::customers::Customers;
use crate::domain::{EventId, Money, UitpasNumber};
use crate::outbox::{self, Kind, Outbox};
use crate::problem::Problem;
use crate::uitpas::{EndUserMessage, UpstreamError};
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
    pub(super) db: PgPool,
    pub(super) outbox: Outbox,
    pub(super) customers: Customers,
    pub(super) webhooks: Webhooks,
    /// How long a retried request waits for the first one's call to UiTPAS to end.
    wait_in_flight: Duration,
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
            let mut lease = self.outbox.first_lease(jobs::REGISTER, id, started, true);
            // The answer tells the shop this attempt's outcome: no webhook for it.
            // An error leaves the job leased: the worker takes it up when the lease runs out.
            let (sent, outcome) = self.send(&mut lease, rows, false).await?;
            self.outbox.record(lease, Ok(outcome)).await?;
            return match sent {
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
            .wait_while_in_flight(jobs::REGISTER, existing.id, self.wait_in_flight)
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
        let attention = outbox::attention(&mut conn, jobs::REGISTER, id).await?;
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

    // --- cancellations ---

    /// Cancels a ticket sale at UiTPAS; stored and replayed when UiTPAS cannot be reached.
    #[tracing::instrument(skip_all, fields(ticket_sale_id = %id), err)]
    pub async fn cancel(&self, id: Uuid) -> anyhow::Result<CancelOutcome> {
        let mut tx = crate::db::begin(&self.db).await?;
        let before = store::begin_cancel(&mut tx, id).await?;
        match before {
            None => return Ok(CancelOutcome::NotFound),
            Some(SaleStatus::Cancelled) => return Ok(CancelOutcome::Cancelled),
            Some(status @ (SaleStatus::Pending | SaleStatus::Rejected)) => {
                return Ok(CancelOutcome::NotRegistered(status));
            }
            Some(SaleStatus::Registered) => {
                let lease = self.outbox.enqueue_leased(&mut tx, jobs::CANCEL, id).await?;
                tx.commit().await?;
                self.outbox
                    .attempt_now(lease, async |lease| self.attempt_cancel(lease, false).await)
                    .await?;
            }
            Some(SaleStatus::Cancelling) => {
                tx.commit().await?;
                self.outbox
                    .wait_while_in_flight(jobs::CANCEL, id, self.wait_in_flight)
                    .await?;
            }
        }
        let sale = self.ticket_sale(id).await?.context("a stored ticket sale")?;
        Ok(match sale.status {
            SaleStatus::Cancelled => CancelOutcome::Cancelled,
            _ => CancelOutcome::Pending(Box::new(sale)),
        })
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
            return Ok(Outbox::abandon_parked(&mut *tx, jobs::REGISTER, id).await?.is_some());
        }
        // Every send was answered without committing (UiTPAS refused the credentials, say):
        // nothing of it is at UiTPAS, so there is nothing to clean up.
        let problem = match Outbox::drop_parked_if_nothing_upstream(&mut *tx, jobs::REGISTER, id).await? {
            Some(problem) => problem,
            None => match Outbox::resume_parked(&mut *tx, jobs::REGISTER, id).await? {
                Some(problem) => problem,
                None => return Ok(false),
            },
        };
        store::mark_rejected(&mut *tx, id, &problem.unwrap_or_else(|| serde_json::json!({}))).await?;
        Ok(true)
    }

    /// Makes parked work due again now (after a person fixed the credentials or permission).
    pub async fn retry(&self, kind: Kind, subject_id: Uuid) -> anyhow::Result<bool> {
        let retried = self.outbox.retry_parked(kind, subject_id).await?;
        if retried {
            tracing::info!(kind = kind.as_str(), subject = %subject_id, "parked work retried by a person");
        }
        Ok(retried)
    }

    /// Gives parked work up: a registration becomes rejected with its problem, and the worker
    /// cancels whatever UiTPAS holds of it ([`Self::give_up_parked`]); a cancellation is dropped
    /// and its sale stays registered. `false` when the work does not need attention.
    ///
    /// A registration that becomes rejected so is told to the shop (`registration.rejected`)
    /// also when the shop asked for it: the operator's console abandons it too, and the shop
    /// hears every later outcome by webhook.
    pub async fn abandon(&self, kind: Kind, subject_id: Uuid) -> anyhow::Result<bool> {
        let mut tx = crate::db::begin(&self.db).await?;
        match kind {
            jobs::REGISTER => {
                let was_pending = store::registration(&mut tx, subject_id)
                    .await?
                    .is_some_and(|r| r.status == RegistrationStatus::Pending);
                if !self.give_up_parked(&mut tx, subject_id).await? {
                    return Ok(false);
                }
                if was_pending {
                    self.webhooks
                        .enqueue(&mut tx, EventType::RegistrationRejected, subject_id)
                        .await?;
                }
            }
            jobs::CANCEL => {
                if Outbox::abandon_parked(&mut tx, kind, subject_id).await?.is_none() {
                    return Ok(false);
                }
                store::undo_cancel(&mut tx, subject_id).await?
            }
            _ => {
                anyhow::bail!("only registrations and cancellations are abandoned")
            }
        }
        tx.commit().await?;
        tracing::info!(kind = kind.as_str(), subject = %subject_id, "parked work abandoned by a person");
        Ok(true)
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
