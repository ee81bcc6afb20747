//! Holds: a registration made right before payment (publiq's current guide). Its sales are
//! registered at UiTPAS at once; the shop confirms the hold after payment or releases it when
//! payment fails, and a hold not confirmed in time expires. The sales of a released or expired
//! hold are cancelled at UiTPAS through the outbox, like any cancellation.
//!
//! Every move of a hold is one conditional UPDATE (`store::confirm_hold`, `expire_hold`,
//! `release_hold`), so a confirm racing the expiry has exactly one winner, and confirm and
//! release are idempotent. An end-hold job, due when the hold expires (at once when released),
//! expires it and makes sure its sales are cancelled once the registration has settled.

use anyhow::Context;
use uuid::Uuid;

use super::flow::Ledger;
use super::{HoldState, Registration, jobs, store};
use crate::webhooks::EventType;

/// What became of a confirm or a release.
#[derive(Debug)]
pub enum HoldOutcome {
    /// Done now or before (idempotent): the registration as it stands.
    Done(Box<Registration>),
    NotFound,
    /// The registration was not made as a hold.
    NotAHold,
    /// The hold cannot move this way: it ended (released or expired) or was confirmed.
    Conflict(HoldState, Box<Registration>),
}

impl Ledger {
    /// Confirms a hold after payment: its sales stay registered. Again: the same answer.
    #[tracing::instrument(skip_all, fields(registration_id = %id), err)]
    pub async fn confirm_hold(&self, id: Uuid) -> anyhow::Result<HoldOutcome> {
        let Some(before) = self.registration(id).await? else {
            return Ok(HoldOutcome::NotFound);
        };
        let Some(hold) = &before.hold else {
            return Ok(HoldOutcome::NotAHold);
        };
        if hold.state == HoldState::Held {
            let mut tx = crate::db::begin(self.db()).await?;
            if store::confirm_hold(&mut tx, id).await? {
                self.webhooks().enqueue(&mut tx, EventType::HoldConfirmed, id).await?;
                tracing::info!("hold confirmed");
            }
            tx.commit().await?;
        }
        let now = self.registration(id).await?.context("a stored registration")?;
        let state = now.hold.as_ref().map_or(HoldState::Held, |h| h.state);
        Ok(match state {
            HoldState::Confirmed => HoldOutcome::Done(Box::new(now)),
            // Held still: its time ran out and the worker has not expired it yet.
            HoldState::Held => HoldOutcome::Conflict(HoldState::Expired, Box::new(now)),
            ended => HoldOutcome::Conflict(ended, Box::new(now)),
        })
    }

    /// Releases a hold (payment failed or abandoned): its sales are cancelled at UiTPAS, now or,
    /// when UiTPAS cannot be reached, by the worker. Again: the same answer.
    #[tracing::instrument(skip_all, fields(registration_id = %id), err)]
    pub async fn release_hold(&self, id: Uuid) -> anyhow::Result<HoldOutcome> {
        let Some(before) = self.registration(id).await? else {
            return Ok(HoldOutcome::NotFound);
        };
        if before.hold.is_none() {
            return Ok(HoldOutcome::NotAHold);
        }
        let mut tx = crate::db::begin(self.db()).await?;
        let cancels = if store::release_hold(&mut tx, id).await? {
            tracing::info!("hold released");
            self.webhooks().enqueue(&mut tx, EventType::HoldReleased, id).await?;
            // Sales already registered are cancelled now; a registration still pending is taken
            // care of by the end-hold job once it settles.
            store::end_hold_now(&mut tx, id).await?;
            store::cancel_registered_sales(&mut tx, id).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        self.cancel_now(&cancels, false).await?;
        let now = self.registration(id).await?.context("a stored registration")?;
        Ok(match now.hold.as_ref().map(|h| h.state) {
            Some(HoldState::Released | HoldState::Expired) => HoldOutcome::Done(Box::new(now)),
            Some(state) => HoldOutcome::Conflict(state, Box::new(now)),
            None => HoldOutcome::NotAHold,
        })
    }

    /// Tries the cancellations just stored at once, so the answer can say "cancelled"; what fails
    /// stays for the worker.
    pub(super) async fn cancel_now(&self, sales: &[Uuid], notify: bool) -> anyhow::Result<()> {
        for &sale in sales {
            if let Some(mut lease) = self.outbox().claim_subject(jobs::CANCEL, sale).await? {
                let attempted = self.attempt_cancel(&mut lease, notify).await;
                self.outbox().record(lease, attempted).await?;
            }
        }
        Ok(())
    }
}
