//! Sales UiTPAS holds with one of our markers that the ledger does not record: strays.
//!
//! A registration settled by the worker may still get a sale from a send that commits after it
//! settled: one that UiTPAS committed later than the settle window, or one written by a process
//! paused between its last lease check and the write. Its marker makes it visible. The **watch**
//! (`watch_sales`) looks once every send recorded before the settlement can no longer commit
//! ([`crate::outbox::Policy::watch_after_settling`] after it), and a send answered 201 after its order
//! settled without it has the watch run at once; whatever UiTPAS holds with a marker of the order
//! besides the sale the ledger records for it (every one, for an order that ended without sales)
//! is a stray, stored and cancelled at UiTPAS by its own job (`cancel_stray`), and the shop hears
//! `ticket_sale.stray_cancelled`. The daily reconciliation starts the same watch for what it finds
//! older (a paused send whose answer was lost as well).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::look::{Scanned, cancel_at_uitpas};
use super::{WATCH, attention_problem, verdict};
use crate::ledger::flow::Ledger;
use crate::ledger::{RegistrationStatus, reconcile, store};
use crate::outbox::{Lease, Outbox, Outcome};
use crate::uitpas::verdict::Verdict;
use crate::webhooks::EventType;

impl Ledger {
    /// Watches a settled registration for strays now (the daily reconciliation found one of its
    /// markers unrecorded, or a send of it was answered after it settled), in `tx`.
    pub async fn watch_now(tx: &mut sqlx::PgConnection, registration_id: Uuid) -> sqlx::Result<()> {
        if !Outbox::enqueue(&mut *tx, WATCH, registration_id, None).await? {
            Outbox::make_due(tx, WATCH, registration_id).await?;
        }
        Ok(())
    }

    /// Stores a stray the daily reconciliation found (UiTPAS's `uitpas_id` carries the marker of
    /// our sale `ticket_sale_id`), with its cancellation job, in `tx`, unless the sale's order has
    /// not settled yet (the register job adopts by marker) or it is known already.
    pub async fn stray_found(tx: &mut sqlx::PgConnection, ticket_sale_id: Uuid, uitpas_id: &str) -> sqlx::Result<()> {
        if !store::order_settled(&mut *tx, ticket_sale_id, uitpas_id).await? {
            return Ok(());
        }
        if let Some(stray) = store::add_stray(&mut *tx, ticket_sale_id, uitpas_id).await? {
            tracing::warn!("the reconciliation found a stray sale at UiTPAS: cancelling it");
            Outbox::enqueue(tx, super::CANCEL_STRAY, stray, None).await?;
        }
        Ok(())
    }

    /// Watches a registration the worker ended for strays once no send of it can still commit,
    /// in `tx` (with what records the end).
    pub(in crate::ledger) async fn watch_later(
        &self,
        tx: &mut sqlx::PgConnection,
        registration_id: Uuid,
    ) -> sqlx::Result<()> {
        let due =
            Utc::now() + chrono::Duration::from_std(self.outbox.policy().watch_after_settling()).unwrap_or_default();
        Outbox::enqueue_not_before(tx, WATCH, registration_id, due).await?;
        Ok(())
    }

    /// Watches a registration for strays after a send of it whose claim was taken over while it
    /// was out ended without an answer: once that send can no longer commit (two windows, to
    /// cover a UiTPAS that commits a little later than its window too).
    pub(in crate::ledger) async fn watch_after_lost_send(
        &self,
        conn: &mut sqlx::PgConnection,
        registration_id: Uuid,
    ) -> sqlx::Result<()> {
        let window = chrono::Duration::from_std(self.outbox.policy().send_open_for()).unwrap_or_default();
        Outbox::enqueue_not_before(conn, WATCH, registration_id, Utc::now() + window * 2).await?;
        Ok(())
    }

    /// One look for the strays of a settled registration, under `lease`: each found is stored
    /// with its cancellation job, in one transaction that ends the watch.
    #[tracing::instrument(skip_all, fields(registration_id = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    pub(in crate::ledger) async fn attempt_watch(&self, lease: &mut Lease) -> anyhow::Result<Outcome> {
        let id = lease.job.subject_id;
        let (registration, sales) = {
            let mut conn = self.db.acquire().await?;
            let registration = store::registration(&mut conn, id).await?;
            (registration, store::sales_of_registration(&mut conn, id).await?)
        };
        let Some(registration) = registration.filter(|_| !sales.is_empty()) else {
            return Ok(Outcome::Gone);
        };
        if registration.status == RegistrationStatus::Pending {
            // The register job settles it first (adopting one sale per marker, cancelling the
            // rest); the watch looks after that.
            return Ok(Outcome::retry("waiting for the registration to settle", true));
        }
        let client = self.customers.client(registration.customer_id)?;
        let mut found = match self.scan(&client, lease, registration.created_at, &sales).await? {
            Scanned::Complete(found) => found,
            Scanned::Inconclusive(why) => return Ok(Outcome::retry(why, true)),
            Scanned::TooBusy(event) => {
                tracing::warn!(%event, "too many sales of the event to watch for strays: the daily reconciliation will");
                return Ok(Outcome::Gone);
            }
            Scanned::Forbidden(e) => {
                tracing::warn!(error = %e, "UiTPAS refused the watch for strays: the daily reconciliation will look");
                return Ok(Outcome::Gone);
            }
        };
        let mut strays = Vec::new();
        for ours in &sales {
            let theirs = found.remove(&reconcile::marker(ours.id)).unwrap_or_default();
            let keep: HashSet<&str> = ours.uitpas_ticket_sale_id.as_deref().into_iter().collect();
            strays.extend(
                theirs
                    .into_iter()
                    .filter(|s| !keep.contains(s.id.as_str()))
                    .map(|s| (ours.id, s.id)),
            );
        }
        if strays.is_empty() {
            return Ok(Outcome::Gone);
        }
        tracing::warn!(
            strays = strays.len(),
            status = ?registration.status,
            "UiTPAS holds sales of this order the ledger does not record: cancelling them"
        );
        let mut tx = crate::db::begin(&self.db).await?;
        for (ticket_sale_id, uitpas_id) in &strays {
            if let Some(stray) = store::add_stray(&mut tx, *ticket_sale_id, uitpas_id).await? {
                Outbox::enqueue(&mut tx, super::CANCEL_STRAY, stray, None).await?;
            }
        }
        if lease.finish(&mut tx).await? {
            tx.commit().await?;
        }
        Ok(Outcome::Recorded)
    }

    /// One attempt to cancel a stray at UiTPAS, under `lease` (renewed, fenced, right before the
    /// request is written); `404 ticket-sale-not-found` means cancelled already.
    #[tracing::instrument(skip_all, fields(stray = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    pub(in crate::ledger) async fn attempt_cancel_stray(&self, lease: &mut Lease) -> anyhow::Result<Outcome> {
        let Some(stray) = store::stray(&self.db, lease.job.subject_id).await? else {
            return Ok(Outcome::Gone);
        };
        if stray.cancelled_at.is_some() {
            return Ok(Outcome::Gone);
        }
        let client = self.customers.client(stray.customer_id)?;
        match cancel_at_uitpas(&client, lease, &stray.uitpas_ticket_sale_id).await? {
            Ok(()) => {
                let mut tx = crate::db::begin(&self.db).await?;
                if lease.finish(&mut tx).await? {
                    store::stray_cancelled(&mut tx, stray.id).await?;
                    self.webhooks
                        .enqueue(&mut tx, EventType::TicketSaleStrayCancelled, stray.ticket_sale_id)
                        .await?;
                    tx.commit().await?;
                    tracing::info!("a stray sale cancelled at UiTPAS");
                }
                Ok(Outcome::Recorded)
            }
            Err(e) if matches!(verdict(&e), Verdict::Refused | Verdict::NeedsPerson) => {
                lease.send_answered();
                Ok(Outcome::Park {
                    problem: serde_json::to_value(attention_problem(&e))?,
                    error: e.to_string(),
                })
            }
            Err(e) => Ok(Outcome::retry(e.to_string(), true)),
        }
    }
}

/// A stray as stored.
pub struct Stray {
    pub id: Uuid,
    pub ticket_sale_id: Uuid,
    pub customer_id: Uuid,
    pub uitpas_ticket_sale_id: String,
    pub cancelled_at: Option<DateTime<Utc>>,
}
