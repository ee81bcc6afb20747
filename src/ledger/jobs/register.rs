//! The register job: settles a registration whose outcome at UiTPAS is not known yet (its answer
//! was lost, UiTPAS was down, the process died), or cleans up one given up while parked.
//!
//! The rule that keeps it exactly once: look at UiTPAS first ([`super::look`]), and adopt the
//! sales that carry this registration's markers; send again only when UiTPAS has none **and** no
//! earlier send can still commit.

use std::time::Duration;

use anyhow::Context;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};

use super::look::{LOOK_PATIENCE, Look, UNREADABLE, cancel_at_uitpas, confirm, inconclusive_problem, too_busy_problem};
use super::{attention_problem, verdict};
use crate::domain::Money;
use crate::ledger::flow::Ledger;
use crate::ledger::reconcile;
use crate::ledger::store::{self, Confirmation};
use crate::ledger::{RegistrationStatus, SaleStatus, TicketSaleRow};
use crate::outbox::{Lease, LeaseLost, Outcome, Sending};
use crate::problem::Problem;
use crate::uitpas::verdict::Verdict;
use crate::uitpas::{Gated, TariffRef, TicketSaleRequest, UitpasClient, UpstreamError};
use crate::webhooks::EventType;

/// What became of a registration sent to UiTPAS.
pub(in crate::ledger) enum Sent {
    /// Confirmed and recorded: the sales as now stored.
    Registered(Vec<TicketSaleRow>),
    /// Refused by UiTPAS and recorded so.
    Rejected(Box<Problem>),
    /// Nothing recorded (no clear answer, the lease was lost, or a person is needed): the job
    /// stays, for a later attempt or a person.
    Unsettled,
}

impl Ledger {
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
    pub(in crate::ledger) async fn attempt_register(&self, lease: &mut Lease) -> anyhow::Result<Outcome> {
        let id = lease.job.subject_id;
        let (registration, sales) = {
            let mut conn = self.db.acquire().await?;
            let registration = store::registration(&mut conn, id).await?;
            (registration, store::sales_of_registration(&mut conn, id).await?)
        };
        let Some(registration) = registration.filter(|r| {
            matches!(r.status, RegistrationStatus::Pending | RegistrationStatus::Rejected) && !sales.is_empty()
        }) else {
            return Ok(Outcome::Gone);
        };
        // Measured before looking: a look that starts after the window can trust an absence.
        let window_left = lease.settle_window_left();
        let client = self.customers.client(registration.customer_id)?;
        let look = if lease.open_send_age.is_none() && lease.nothing_upstream {
            Look::Absent
        } else {
            self.look(&client, lease, registration.created_at, &sales).await?
        };
        if registration.status == RegistrationStatus::Rejected {
            return self.clean_up(&client, lease, look, window_left).await;
        }
        Ok(match look {
            Look::Inconclusive(why) => {
                let looking_for = (Utc::now() - registration.created_at).to_std().unwrap_or_default();
                if why != UNREADABLE && looking_for > LOOK_PATIENCE {
                    let problem = inconclusive_problem(why);
                    self.park(lease, &problem, why, Some(EventType::RegistrationNeedsAttention))
                        .await?
                } else {
                    tracing::info!(why, "could not tell whether UiTPAS has the sales; looking again later");
                    Outcome::retry(why, false)
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
                .await?
            }
            Look::TooBusy(event) => {
                let problem = too_busy_problem(&event);
                self.park(
                    lease,
                    &problem,
                    "more sales of the event since the order than a look reads",
                    Some(EventType::RegistrationNeedsAttention),
                )
                .await?
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
                .await?
            }
            Look::Found { confirmations, doubles } => {
                if !doubles.is_empty() {
                    tracing::warn!(
                        doubles = doubles.len(),
                        "UiTPAS holds an order's sale twice: cancelling the double"
                    );
                    for double in &doubles {
                        if let Err(e) = cancel_at_uitpas(&client, lease, double).await? {
                            return Ok(Outcome::retry(format!("cancelling a double: {e}"), false));
                        }
                    }
                }
                tracing::info!("UiTPAS already has this registration's sales: adopted");
                self.settle_registered(lease, &confirmations, true).await?.1
            }
            Look::Absent if !window_left.is_zero() => {
                // The earlier send may still commit: only look, until the window has passed.
                let delay = lease.look_again_in();
                tracing::info!(
                    window_left_ms = window_left.as_millis() as u64,
                    "UiTPAS has none of the sales yet, but the earlier send may still commit: not sending again"
                );
                Outcome::retry_after(delay, "waiting for the earlier send to settle", false)
            }
            Look::Absent if registration.hold.is_some_and(|(state, _)| state.ended()) => {
                // The hold was released or expired before UiTPAS registered anything: nothing to
                // register, nothing to cancel.
                let problem = Problem::ours("hold-ended", StatusCode::CONFLICT, "The hold ended").with_detail(
                    "The hold was released or expired before UiTPAS registered its sales; nothing was registered.",
                );
                let mut tx = crate::db::begin(&self.db).await?;
                if lease.finish(&mut tx).await? {
                    store::mark_rejected(&mut tx, id, &serde_json::to_value(&problem)?).await?;
                    self.webhooks
                        .enqueue(&mut tx, EventType::RegistrationRejected, id)
                        .await?;
                    // A send UiTPAS commits later than its window would be a stray.
                    if lease.earlier_sends_may_commit() {
                        self.watch_later(&mut tx, id).await?;
                    }
                    tx.commit().await?;
                }
                Outcome::Recorded
            }
            Look::Absent => {
                tracing::info!("UiTPAS has none of this registration's sales: sending it again");
                // Known now: nothing of it is at UiTPAS, and no earlier send can still commit.
                lease.nothing_upstream = true;
                self.send(lease, sales, true).await?.1
            }
        })
    }

    /// One attempt to undo at UiTPAS a registration given up while parked (it reads `rejected`):
    /// every sale UiTPAS holds with one of its markers is cancelled, and the work ends once no
    /// send of it can still commit. A look that cannot conclude parks it (abandoning it again
    /// then drops it).
    async fn clean_up(
        &self,
        client: &UitpasClient,
        lease: &mut Lease,
        look: Look,
        window_left: Duration,
    ) -> anyhow::Result<Outcome> {
        let theirs = match look {
            Look::Inconclusive(why) => return Ok(Outcome::retry(why, false)),
            Look::TooBusy(event) => {
                let problem = too_busy_problem(&event);
                return self
                    .park(
                        lease,
                        &problem,
                        "more sales of the event since the order than a look reads",
                        None,
                    )
                    .await;
            }
            Look::Forbidden(e) => {
                return self.park(lease, &attention_problem(&e), &e.to_string(), None).await;
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
            if let Err(e) = cancel_at_uitpas(client, lease, sale).await? {
                return Ok(Outcome::retry(
                    format!("cancelling a sale of a given-up order: {e}"),
                    false,
                ));
            }
        }
        if !theirs.is_empty() {
            tracing::warn!(
                sales = theirs.len(),
                "UiTPAS held sales of an order that was given up: cancelled"
            );
        }
        if window_left.is_zero() {
            // Done; a send UiTPAS commits later than its window is left to the watch.
            let mut tx = crate::db::begin(&self.db).await?;
            if lease.finish(&mut tx).await? {
                if lease.earlier_sends_may_commit() {
                    self.watch_later(&mut tx, lease.job.subject_id).await?;
                }
                tx.commit().await?;
            }
            return Ok(Outcome::Recorded);
        }
        // A send may still commit: watch for it until the window has passed.
        let delay = lease.look_again_in();
        Ok(Outcome::retry_after(
            delay,
            "watching for a late commit of a given-up order",
            false,
        ))
    }

    /// Sends a pending registration's sales to UiTPAS under `lease` and settles the answer;
    /// `notify`: the shop hears the outcome through a webhook (no HTTP answer tells it).
    pub(in crate::ledger) async fn send(
        &self,
        lease: &mut Lease,
        mut sales: Vec<TicketSaleRow>,
        notify: bool,
    ) -> anyhow::Result<(Sent, Outcome)> {
        let batch: Vec<TicketSaleRequest> = sales
            .iter()
            .map(|s| {
                Ok(TicketSaleRequest {
                    uitpas_number: s.uitpas_number.clone(),
                    event_id: s.event_id.clone(),
                    regular_price: Money::from_cents(s.regular_price_cents)
                        .with_context(|| format!("{} cents in the database", s.regular_price_cents))?,
                    regular_price_label: Some(reconcile::label_with_marker(s.regular_price_label.as_deref(), s.id)),
                    tariff: TariffRef {
                        id: s.tariff_id.clone(),
                    },
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let Some(customer) = sales.first().map(|s| s.customer_id) else {
            return Ok((Sent::Unsettled, Outcome::Gone));
        };
        // The send is recorded (and the lease checked) with the token in hand, right before the
        // request is written: see `uitpas::gate`.
        let answer = self
            .customers
            .client(customer)?
            .register_ticket_sales(&batch, &mut Sending(lease))
            .await;
        let answer = match answer {
            Gated::Called(answer) => answer,
            Gated::Refused(e) if e.is::<LeaseLost>() => {
                tracing::info!("{e}: not sending");
                return Ok((Sent::Unsettled, Outcome::Recorded));
            }
            Gated::Refused(e) => return Err(e),
        };
        match answer {
            Ok(registered) => {
                let confirmations = confirm(&sales, registered);
                if confirmations.len() != sales.len() {
                    // Answered, so ended; the next attempt adopts what UiTPAS has by the markers.
                    // (UiTPAS committed: not "ended without committing", so the next attempt looks.)
                    let retry = Outcome::retry("UiTPAS's answer does not match the sales sent", false);
                    return Ok((Sent::Unsettled, retry));
                }
                let (Some(at), outcome) = self.settle_registered(lease, &confirmations, notify).await? else {
                    return Ok((Sent::Unsettled, Outcome::Recorded));
                };
                for (sale, confirmed) in sales.iter_mut().zip(confirmations) {
                    sale.uitpas_ticket_sale_id = Some(confirmed.uitpas_ticket_sale_id);
                    sale.tariff_name = confirmed.tariff_name;
                    sale.tariff_price_cents = confirmed.tariff_price_cents;
                    sale.tariff_type = confirmed.tariff_type;
                    sale.status = SaleStatus::Registered;
                    sale.registered_at = Some(at);
                }
                Ok((Sent::Registered(sales), outcome))
            }
            Err(e) => match verdict(&e) {
                Verdict::Refused => {
                    let problem = refusal_problem(&e, &sales);
                    tracing::info!(problem = %problem.kind, "UiTPAS refused the registration");
                    let mut tx = crate::db::begin(&self.db).await?;
                    if lease.finish(&mut tx).await? {
                        let value = serde_json::to_value(&problem)?;
                        store::mark_rejected(&mut tx, lease.job.subject_id, &value).await?;
                        if notify {
                            self.webhooks
                                .enqueue(&mut tx, EventType::RegistrationRejected, lease.job.subject_id)
                                .await?;
                        }
                        tx.commit().await?;
                        return Ok((Sent::Rejected(Box::new(problem)), Outcome::Recorded));
                    }
                    Ok((Sent::Unsettled, Outcome::Recorded))
                }
                Verdict::NeedsPerson => {
                    let problem = attention_problem(&e);
                    let event = notify.then_some(EventType::RegistrationNeedsAttention);
                    lease.send_answered();
                    Ok((
                        Sent::Unsettled,
                        self.park(lease, &problem, &e.to_string(), event).await?,
                    ))
                }
                Verdict::Ended => {
                    tracing::warn!(error = %e, "registration not confirmed: it stays pending");
                    Ok((Sent::Unsettled, Outcome::retry(e.to_string(), true)))
                }
                Verdict::Unknown => {
                    tracing::warn!(error = %e, "registration outcome unknown: it stays pending");
                    if !self.outbox.holds(lease.job).await? {
                        // Taken over while the request was out (this process was paused): the
                        // order may settle, or have settled, without this send, which may still
                        // commit; watched once it no longer can.
                        let mut conn = self.db.acquire().await?;
                        self.watch_after_lost_send(&mut conn, lease.job.subject_id).await?;
                    }
                    Ok((Sent::Unsettled, Outcome::retry(e.to_string(), false)))
                }
            },
        }
    }

    /// Records what UiTPAS confirmed, durably, if `lease` still holds the job; when it was
    /// recorded, or `None` if nothing was (the lease was lost, or a confirmed sale is recorded
    /// elsewhere: the next attempt looks at UiTPAS).
    async fn settle_registered(
        &self,
        lease: &Lease,
        confirmations: &[Confirmation],
        notify: bool,
    ) -> anyhow::Result<(Option<DateTime<Utc>>, Outcome)> {
        let settled = if notify && self.webhooks.enabled() {
            self.settle_registered_notifying(lease, confirmations).await
        } else {
            let mut conn = self.db.acquire().await?;
            store::settle_registered(&mut conn, lease.job, confirmations, self.watch_after(lease)).await
        };
        match settled {
            Ok(Some(at)) => {
                tracing::info!(sales = confirmations.len(), "registered at UiTPAS");
                Ok((Some(at), Outcome::Recorded))
            }
            Ok(None) => {
                // Another attempt took the job over: it adopts these sales by their markers, or
                // settled the order already without them (this process was paused past its lease
                // before it wrote the request): the watch finds them and cancels them.
                tracing::warn!("lost the lease before settling: the order is watched for strays");
                let mut conn = self.db.acquire().await?;
                Ledger::watch_now(&mut conn, lease.job.subject_id).await?;
                Ok((None, Outcome::Recorded))
            }
            // A UiTPAS sale this attempt confirmed is already recorded for another line: it cannot
            // be, since markers tie a sale to one line; look again later rather than record it.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok((
                None,
                Outcome::retry("a confirmed UiTPAS sale is recorded elsewhere", false),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// When an order settled under `lease` is watched for strays: once no earlier send of it can
    /// still commit, when one may (see [`Lease::earlier_sends_may_commit`]).
    fn watch_after(&self, lease: &Lease) -> Option<Duration> {
        lease
            .earlier_sends_may_commit()
            .then(|| self.outbox.policy().watch_after_settling())
    }

    /// Settles, and stores the webhook event telling it, in one transaction.
    async fn settle_registered_notifying(
        &self,
        lease: &Lease,
        confirmations: &[Confirmation],
    ) -> sqlx::Result<Option<DateTime<Utc>>> {
        let job = lease.job;
        let mut tx = crate::db::begin(&self.db).await?;
        let at = store::settle_registered(&mut tx, job, confirmations, self.watch_after(lease)).await?;
        if at.is_some() {
            self.webhooks
                .enqueue(&mut tx, EventType::RegistrationRegistered, job.subject_id)
                .await?;
        }
        tx.commit().await?;
        Ok(at)
    }

    /// Parks work for a person, with the webhook event telling it when `event` is given.
    pub(in crate::ledger) async fn park(
        &self,
        lease: &Lease,
        problem: &Problem,
        error: &str,
        event: Option<EventType>,
    ) -> anyhow::Result<Outcome> {
        let mut tx = crate::db::begin(&self.db).await?;
        if lease.park_in(&mut tx, &serde_json::to_value(problem)?, error).await?
            && let Some(event) = event
        {
            self.webhooks.enqueue(&mut tx, event, lease.job.subject_id).await?;
        }
        tx.commit().await?;
        Ok(Outcome::Recorded)
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
