//! The end-hold job: due when a hold expires (at once when it is released), it expires the hold
//! and makes sure its sales are cancelled once the registration has settled.

use std::time::Duration;

use crate::ledger::flow::Ledger;
use crate::ledger::{HoldState, RegistrationStatus, store};
use crate::outbox::{Lease, Outcome};
use crate::webhooks::EventType;

impl Ledger {
    /// One attempt to end a hold, under `lease`: expire it when its time is over, and cancel the
    /// sales of a hold that ended once its registration has settled.
    #[tracing::instrument(skip_all, fields(registration_id = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    pub(in crate::ledger) async fn attempt_end_hold(&self, lease: &mut Lease) -> anyhow::Result<Outcome> {
        let id = lease.job.subject_id;
        let mut conn = self.db().acquire().await?;
        let Some(row) = store::registration(&mut conn, id).await? else {
            return Ok(Outcome::Gone);
        };
        drop(conn);
        let Some((mut state, expires_at)) = row.hold else {
            return Ok(Outcome::Gone);
        };
        if state == HoldState::Held {
            let mut tx = crate::db::begin(self.db()).await?;
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
                    return Ok(Outcome::retry_after(
                        left.max(Duration::from_millis(50)),
                        "the hold has not expired yet",
                        true,
                    ));
                }
            }
        }
        if !state.ended() {
            return Ok(Outcome::Gone);
        }
        Ok(match row.status {
            RegistrationStatus::Pending => {
                // A registration parked for a person will never settle by itself: the hold ended,
                // so it is given up; otherwise wait for it to settle.
                // Given up, UiTPAS's sales of it (a part, or a send that committed late) are
                // cancelled by its job.
                let mut tx = crate::db::begin(self.db()).await?;
                if self.give_up_parked(&mut tx, id).await? {
                    self.webhooks()
                        .enqueue(&mut tx, EventType::RegistrationRejected, id)
                        .await?;
                    lease.finish(&mut tx).await?;
                    tx.commit().await?;
                    Outcome::Recorded
                } else {
                    tx.rollback().await?;
                    Outcome::retry("waiting for the registration to settle", true)
                }
            }
            RegistrationStatus::Registered => {
                let mut tx = crate::db::begin(self.db()).await?;
                if lease.finish(&mut tx).await? {
                    let cancels = store::cancel_registered_sales(&mut tx, id).await?;
                    tx.commit().await?;
                    self.cancel_now(&cancels, true).await?;
                }
                Outcome::Recorded
            }
            _ => Outcome::Gone,
        })
    }
}
