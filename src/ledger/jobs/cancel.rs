//! The cancel job: cancels a ticket sale at UiTPAS, undoing its check-in first, replayed until
//! UiTPAS confirms (a replay whose earlier call was carried out is answered 404: done).

use super::{attention_problem, verdict};
use crate::ledger::checkins::start_of_day;
use crate::ledger::flow::Ledger;
use crate::ledger::reconcile;
use crate::ledger::{SaleStatus, store};
use crate::outbox::{Lease, LeaseLost, Outcome, Renewing};
use crate::problem::Problem;
use crate::uitpas::verdict::Verdict;
use crate::uitpas::{Gated, UitpasClient, UpstreamError};
use crate::webhooks::EventType;

impl Ledger {
    /// One attempt to cancel a sale at UiTPAS, under `lease`: a checked-in sale's check-in is
    /// undone first ([`Self::undo_checkin`]), then the sale is cancelled.
    #[tracing::instrument(skip_all, fields(ticket_sale_id = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    /// `notify`: the shop hears the outcome through a webhook (no HTTP answer tells it).
    pub(in crate::ledger) async fn attempt_cancel(&self, lease: &mut Lease, notify: bool) -> anyhow::Result<Outcome> {
        let sale = {
            let mut conn = self.db.acquire().await?;
            store::ticket_sale(&mut conn, lease.job.subject_id).await?
        };
        let found = match sale {
            Some(s) if s.status == SaleStatus::Cancelling => s.uitpas_ticket_sale_id.map(|id| (s.customer_id, id)),
            _ => None,
        };
        let Some((customer, uitpas_id)) = found else {
            return Ok(Outcome::Gone);
        };
        let client = self.customers.client(customer)?;
        if let Err(e) = self.undo_checkin(&client, lease).await {
            return match e.downcast::<UpstreamError>() {
                Ok(e) => {
                    self.cancel_failed(lease, e, notify, "the check-in was not undone")
                        .await
                }
                Err(e) => Err(e),
            };
        }
        match client.cancel_ticket_sale(&uitpas_id, &mut Renewing(lease)).await {
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
    async fn cancel_failed(
        &self,
        lease: &Lease,
        e: UpstreamError,
        notify: bool,
        what: &str,
    ) -> anyhow::Result<Outcome> {
        if matches!(verdict(&e), Verdict::Refused | Verdict::NeedsPerson) {
            let problem = match &e {
                UpstreamError::Problem { .. } => Problem::from_upstream(&e),
                _ => attention_problem(&e),
            };
            let event = notify.then_some(EventType::TicketSaleNeedsAttention);
            return self.park(lease, &problem, &e.to_string(), event).await;
        }
        tracing::warn!(error = %e, "{what}: it will be replayed");
        Ok(Outcome::retry(e.to_string(), true))
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

    async fn settle_cancelled(&self, lease: &Lease, notify: bool) -> anyhow::Result<Outcome> {
        let mut tx = crate::db::begin(&self.db).await?;
        if lease.finish(&mut tx).await? {
            store::mark_cancelled(&mut tx, lease.job.subject_id).await?;
            if notify {
                self.webhooks
                    .enqueue(&mut tx, EventType::TicketSaleCancelled, lease.job.subject_id)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(Outcome::Recorded)
    }
}
