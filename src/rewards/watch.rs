//! The watch of a redemption settled while an earlier send of it may still commit: a send UiTPAS
//! commits later than the settle window, or one a paused process writes after its window, is a
//! second redemption of the reward by the pass, the points spent twice. A redemption carries no
//! marker of ours, so the watch (`watch_redemption`) reads the pass's redemptions of the reward
//! dated since the redemption was stored (less the clock skew), and cancels every one no
//! redemption of ours records, but for those made since a later redemption of ours of the pass and
//! reward that is still pending was stored (less the clock skew: they may be that one's own).
//!
//! It watches twice: once every send recorded before the settlement can no longer commit
//! ([`crate::outbox::Policy::watch_after_settling`] after it), and once more as long again later,
//! for a send a paused process wrote after its lease ran out.
//!
//! What it cannot tell apart: a desk's redemption of the same reward by the same pass in that span
//! (minutes at most) is cancelled too (README Limits (e)).

use chrono::Utc;
use futures::future::BoxFuture;
use uuid::Uuid;

use super::jobs::CLOCK_SKEW;
use super::{RedemptionRow, Rewards, store};
use crate::domain::UitpasNumber;
use crate::outbox::{Job, Kind, Lease, LeaseLost, Listing, Outbox, Outcome, Renewing};
use crate::uitpas::rewards::RedeemedReward;
use crate::uitpas::verdict::Verdict;
use crate::uitpas::{Gated, UpstreamError};

/// Watch a settled redemption for a late second one at UiTPAS, and cancel it.
pub const WATCH: Kind = Kind::new("watch_redemption");

pub(super) struct Watch(pub(super) Rewards);

impl Job for Watch {
    fn kind(&self) -> Kind {
        WATCH
    }

    /// Due once no send can commit; until then it only waits.
    fn listing(&self) -> Listing {
        Listing::Timer
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        Box::pin(self.0.attempt_watch(lease))
    }
}

impl Rewards {
    /// Has redemption `id` watched once no send of it can commit, when one settled under `lease`
    /// may still (in `tx`, with what records the settlement).
    pub(super) async fn watch_later(&self, tx: &mut sqlx::PgConnection, lease: &Lease, id: Uuid) -> sqlx::Result<()> {
        if !lease.earlier_sends_may_commit() {
            return Ok(());
        }
        let after = chrono::TimeDelta::from_std(self.outbox.policy().watch_after_settling()).unwrap_or_default();
        Outbox::enqueue_not_before(tx, WATCH, id, Utc::now() + after).await?;
        Ok(())
    }

    /// One watch: cancels at UiTPAS what the pass redeemed of the reward in the redemption's span
    /// that no redemption of ours records.
    #[tracing::instrument(skip_all, fields(redemption_id = %lease.job.subject_id), err)]
    pub(super) async fn attempt_watch(&self, lease: &mut Lease) -> anyhow::Result<Outcome> {
        let id = lease.job.subject_id;
        let row = {
            let mut conn = self.db.acquire().await?;
            store::get(&mut conn, id).await?
        };
        let Some(row) = row else {
            return Ok(Outcome::Gone);
        };
        let number = UitpasNumber::parse(&row.uitpas_number)?;
        let client = self.customers.client(row.customer_id)?;
        // Nor later than a late send could commit after the settlement (a watch that UiTPAS kept
        // waiting does not reach further).
        let after = chrono::TimeDelta::from_std(self.outbox.policy().watch_after_settling()).unwrap_or_default();
        let last_watch = row.redeemed_at.map(|at| at + after * 2);
        let strays = match self
            .unrecorded(
                &client,
                &number,
                &row.reward_id,
                row.created_at - CLOCK_SKEW,
                last_watch.map(|at| at + CLOCK_SKEW),
            )
            .await?
        {
            Ok(strays) => strays,
            Err(e) => return Ok(self.failed(&e)),
        };
        let strays = self.not_of_later_ones(&row, strays).await?;
        for stray in &strays {
            let answer = match client.cancel_redemption(&stray.id, &mut Renewing(lease)).await {
                Gated::Called(answer) => answer,
                Gated::Refused(e) if e.is::<LeaseLost>() => return Ok(Outcome::Recorded),
                Gated::Refused(e) => return Err(e),
            };
            match answer {
                Ok(()) | Err(UpstreamError::Problem { status: 404, .. } | UpstreamError::Status(404)) => {
                    tracing::warn!(
                        uitpas_number = %number.masked(),
                        "a second redemption of the reward by the pass, committed late, cancelled at UiTPAS"
                    );
                }
                Err(e) => return Ok(self.failed(&e)),
            }
        }
        // Watched once more when the last send that could commit may not have landed yet.
        let again = last_watch.filter(|at| *at > Utc::now());
        let mut tx = crate::db::begin(&self.db).await?;
        if lease.finish(&mut tx).await? {
            if let Some(at) = again {
                Outbox::enqueue_not_before(&mut tx, WATCH, id, at).await?;
            }
            tx.commit().await?;
        }
        Ok(Outcome::Recorded)
    }

    /// Of `strays` (unrecorded when read), those that cannot be a later redemption of ours of the
    /// pass and reward: none made since the first such redemption that is still pending (less the
    /// clock skew) was stored, as it may be that one's own, not yet recorded; nor one that a
    /// redemption settled meanwhile records. Later redemptions of ours that settled do not bound
    /// the span: they record theirs, and a late commit of this one may land after them. Read
    /// after UiTPAS was (a redemption of ours is stored before it is sent, and a settled one
    /// records what it found).
    async fn not_of_later_ones(
        &self,
        row: &RedemptionRow,
        mut strays: Vec<RedeemedReward>,
    ) -> anyhow::Result<Vec<RedeemedReward>> {
        if strays.is_empty() {
            return Ok(strays);
        }
        let pending = store::first_pending_after(&self.db, &row.uitpas_number, &row.reward_id, row.created_at).await?;
        if let Some(pending) = pending {
            strays.retain(|stray| stray.redeem_date <= pending - CLOCK_SKEW);
        }
        let ids: Vec<String> = strays.iter().map(|stray| stray.id.clone()).collect();
        let known = store::known(&self.db, &ids).await?;
        strays.retain(|stray| !known.contains(&stray.id));
        Ok(strays)
    }

    /// A watch UiTPAS did not let through: tried again (a person cannot help a watch more than
    /// the redemption's own job parks for).
    fn failed(&self, e: &UpstreamError) -> Outcome {
        let verdict = crate::uitpas::verdict::Verdict::of(e, |_, _| false);
        let delay = match verdict {
            Verdict::NeedsPerson => self.outbox.policy().watch_after_settling() * 10,
            _ => self.outbox.policy().watch_after_settling(),
        };
        Outcome::retry_after(delay, format!("watching for a late redemption: {e}"), true)
    }
}
