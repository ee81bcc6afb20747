//! Work on a redemption that needs a person (its `redeem_reward` or `cancel_redemption` job is
//! parked: UiTPAS refused the service's credentials or permission, or refused the cancellation):
//! retried once the cause is fixed, or abandoned — as the ledger does for registrations and
//! ticket-sale cancellations ([`crate::ledger::Ledger::abandon`]).
//!
//! **Abandoning a redemption never forgets points UiTPAS may hold.** When every send of it was
//! answered without committing (UiTPAS refused it, say), nothing of it is at UiTPAS: it becomes
//! `rejected` at once, with the problem it was parked with, and no call is made. When a send may
//! have committed (its answer was lost), it stays `pending` — one unsettled redemption per pass and
//! reward keeps what a look finds unambiguous — and its job is taken up again, as a registration
//! given up keeps its job to clean up: it looks at the pass's redemptions, never sends it again,
//! cancels at UiTPAS the redemption it finds (`cancelled`, the points come back), and records it
//! `rejected` only once no send of it can still commit. A cancellation abandoned is dropped: the
//! redemption stays `redeemed` (the points stay spent).

use anyhow::Context;
use uuid::Uuid;

use super::jobs::{CANCEL, REDEEM};
use super::model::StoredStatus;
use super::{Redemption, Rewards, store};
use crate::outbox::{self, Outbox};
use crate::webhooks::EventType;

/// What abandoning a redemption came to.
#[derive(Debug)]
pub enum Abandoned {
    /// Ended now: `rejected` (nothing of it at UiTPAS), or `redeemed` (its cancellation dropped).
    Ended(Box<Redemption>),
    /// Given up, and its job settles it: it may be at UiTPAS (a send whose answer was lost), so it
    /// stays `pending` until the job cancels what it finds or knows nothing can be there.
    Settling(Box<Redemption>),
    /// Given up before, and parked again while it settles (UiTPAS cannot be read): only a retry,
    /// once the cause is fixed, can settle it.
    Already(Box<Redemption>),
    /// The cancellation of a hold released or expired: the points must come back; retry it.
    HoldEnded(Box<Redemption>),
    /// Nothing of it waits for a person.
    NotParked,
    NotFound,
}

impl Rewards {
    /// The kind of job a redemption's work is, by its stored status.
    fn work_of(status: StoredStatus) -> outbox::Kind {
        match status {
            StoredStatus::Cancelling => CANCEL,
            _ => REDEEM,
        }
    }

    /// Makes a redemption's parked work due again now (a person fixed the cause); the worker
    /// settles it and a webhook tells the outcome. `false` when nothing of it is parked.
    pub async fn retry(&self, id: Uuid) -> anyhow::Result<bool> {
        let row = {
            let mut conn = self.db.acquire().await?;
            store::get(&mut conn, id).await?
        };
        let Some(row) = row else { return Ok(false) };
        let kind = Self::work_of(row.status);
        let retried = self.outbox.retry_parked(kind, id).await?;
        if retried {
            tracing::info!(kind = kind.as_str(), redemption_id = %id, "parked redemption retried by a person");
        }
        Ok(retried)
    }

    /// Gives up a redemption's parked work (see the module's documentation).
    #[tracing::instrument(skip_all, fields(redemption_id = %id), err)]
    pub async fn abandon(&self, id: Uuid) -> anyhow::Result<Abandoned> {
        let mut tx = crate::db::begin(&self.db).await?;
        let Some(row) = store::get_for_update(&mut tx, id).await? else {
            return Ok(Abandoned::NotFound);
        };
        let kind = Self::work_of(row.status);
        if outbox::attention(&mut tx, kind, id).await?.is_none() {
            return Ok(Abandoned::NotParked);
        }
        let outcome = match row.status {
            StoredStatus::Pending if row.abandoned_at.is_some() => {
                drop(tx);
                return Ok(Abandoned::Already(self.read(id).await?));
            }
            StoredStatus::Pending => {
                // Every send was answered without committing: nothing of it is at UiTPAS.
                if let Some(problem) = Outbox::drop_parked_if_nothing_upstream(&mut tx, REDEEM, id).await? {
                    let problem = problem.unwrap_or_else(|| serde_json::json!({}));
                    store::mark_rejected(&mut tx, id, &problem).await?;
                    self.webhooks
                        .enqueue(&mut tx, EventType::RedemptionRejected, id)
                        .await?;
                    Abandoned::Ended
                } else {
                    let Some(problem) = Outbox::resume_parked(&mut tx, REDEEM, id).await? else {
                        return Ok(Abandoned::NotParked);
                    };
                    store::mark_abandoned(&mut tx, id, &problem.unwrap_or_else(|| serde_json::json!({}))).await?;
                    Abandoned::Settling
                }
            }
            StoredStatus::Cancelling if row.hold_state.is_some_and(crate::ledger::HoldState::ended) => {
                drop(tx);
                return Ok(Abandoned::HoldEnded(self.read(id).await?));
            }
            StoredStatus::Cancelling => {
                if Outbox::abandon_parked(&mut tx, CANCEL, id).await?.is_none() {
                    return Ok(Abandoned::NotParked);
                }
                store::undo_cancel(&mut tx, id).await?;
                self.webhooks
                    .enqueue(&mut tx, EventType::RedemptionRedeemed, id)
                    .await?;
                Abandoned::Ended
            }
            _ => return Ok(Abandoned::NotParked),
        };
        tx.commit().await?;
        tracing::info!(kind = kind.as_str(), "parked redemption abandoned by a person");
        Ok(outcome(self.read(id).await?))
    }

    async fn read(&self, id: Uuid) -> anyhow::Result<Box<Redemption>> {
        Ok(Box::new(self.redemption(id).await?.context("a stored redemption")?))
    }
}
