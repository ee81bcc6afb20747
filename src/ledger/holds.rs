//! Holds: a registration made right before payment (publiq's current guide). Its sales are
//! registered at UiTPAS at once; the shop confirms the hold after payment or releases it when
//! payment fails, and a hold not confirmed in time expires. The sales of a released or expired
//! hold are cancelled at UiTPAS through the outbox, like any cancellation.
//!
//! Every move of a hold is one conditional UPDATE (`store::confirm_hold`, `expire_hold`,
//! `release_hold`), so a confirm racing the expiry has exactly one winner, and confirm and
//! release are idempotent. An end-hold job, due when the hold expires (at once when released),
//! expires it and makes sure its sales are cancelled once the registration has settled.

use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use super::flow::Ledger;
use super::{HoldState, Registration, RegistrationStatus, store};
use crate::outbox::{JobKind, Lease};
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
            let mut tx = self.db().begin().await?;
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
        let mut tx = self.db().begin().await?;
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
    async fn cancel_now(&self, sales: &[Uuid], notify: bool) -> anyhow::Result<()> {
        for &sale in sales {
            if let Some(lease) = self.outbox().claim_subject(JobKind::Cancel, sale).await? {
                self.attempt_cancel(lease, notify).await?;
            }
        }
        Ok(())
    }

    /// One attempt to end a hold, under `lease`: expire it when its time is over, and cancel the
    /// sales of a hold that ended once its registration has settled.
    #[tracing::instrument(skip_all, fields(registration_id = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    pub async fn attempt_end_hold(&self, lease: Lease) -> anyhow::Result<()> {
        let id = lease.job.subject_id;
        let mut conn = self.db().acquire().await?;
        let Some(row) = store::registration(&mut conn, id).await? else {
            lease.finish_alone().await?;
            return Ok(());
        };
        drop(conn);
        let Some((mut state, expires_at)) = row.hold else {
            lease.finish_alone().await?;
            return Ok(());
        };
        if state == HoldState::Held {
            let mut tx = self.db().begin().await?;
            let expired = store::expire_hold(&mut tx, id).await?;
            if expired {
                self.webhooks().enqueue(&mut tx, EventType::HoldExpired, id).await?;
            }
            tx.commit().await?;
            if expired {
                tracing::info!("hold expired: its sales are cancelled");
                state = HoldState::Expired;
            } else {
                let mut conn = self.db().acquire().await?;
                state = store::registration(&mut conn, id)
                    .await?
                    .and_then(|r| r.hold)
                    .map_or(HoldState::Expired, |(s, _)| s);
                if state == HoldState::Held {
                    // Not over yet (the job ran early): come back when it is.
                    let left = (expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
                    lease
                        .retry_after(
                            left.max(Duration::from_millis(50)),
                            "the hold has not expired yet",
                            true,
                        )
                        .await?;
                    return Ok(());
                }
            }
        }
        if !state.ended() {
            lease.finish_alone().await?;
            return Ok(());
        }
        match row.status {
            RegistrationStatus::Pending => {
                // A registration parked for a person will never settle by itself: the hold ended,
                // so it is given up; otherwise wait for it to settle.
                // Given up, UiTPAS's sales of it (a part, or a send that committed late) are
                // cancelled by its job.
                let mut tx = self.db().begin().await?;
                if self.give_up_parked(&mut tx, id).await? {
                    self.webhooks()
                        .enqueue(&mut tx, EventType::RegistrationRejected, id)
                        .await?;
                    lease.finish(&mut tx).await?;
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                    lease
                        .retry_later("waiting for the registration to settle", true)
                        .await?;
                }
            }
            RegistrationStatus::Registered => {
                let mut tx = self.db().begin().await?;
                if lease.finish(&mut tx).await? {
                    let cancels = store::cancel_registered_sales(&mut tx, id).await?;
                    tx.commit().await?;
                    self.cancel_now(&cancels, true).await?;
                }
            }
            _ => {
                lease.finish_alone().await?;
            }
        }
        Ok(())
    }
}
