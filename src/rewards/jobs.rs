//! The rewards' kinds of job, registered with the outbox's [`Runner`]: redeeming a reward and
//! cancelling a redemption. Each attempt says what it came to; the outbox records it.

use axum::http::StatusCode;
use futures::future::BoxFuture;
use uuid::Uuid;

use super::model::StoredStatus;
use super::{Rewards, store};
use crate::domain::UitpasNumber;
use crate::ledger::HoldState;
use crate::outbox::{Job, Kind, Lease, LeaseLost, Listing, Outbox, Outcome, Renewing, Runner, Sending};
use crate::problem::Problem;
use crate::uitpas::verdict::Verdict;
use crate::uitpas::{Gated, RedeemedReward, UitpasClient, UpstreamError};
use crate::webhooks::EventType;

/// Redeem a reward at UiTPAS (`POST /rewards/redeemed`, not idempotent).
pub const REDEEM: Kind = Kind::new("redeem_reward");
/// Cancel a redemption at UiTPAS (`DELETE /rewards/redeemed/{id}`).
pub const CANCEL: Kind = Kind::new("cancel_redemption");
/// Expire a redemption's hold when its time is over, and start cancelling it.
pub const END_HOLD: Kind = Kind::new("end_redemption_hold");

/// How far before the redemption was stored a redemption UiTPAS dated may still be its own:
/// the clocks of UiTPAS and of this service may differ by this much.
pub(super) const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// The most pages of a pass's redemptions a look reads (of 50).
const LOOK_PAGES: u32 = 20;

/// Adds the rewards' kinds of job to `runner`.
pub fn add(runner: Runner, rewards: &Rewards) -> Runner {
    runner
        .register(Redeem(rewards.clone()))
        .register(Cancel(rewards.clone()))
        .register(EndHold(rewards.clone()))
        .register(super::watch::Watch(rewards.clone()))
}

struct Redeem(Rewards);
struct Cancel(Rewards);
struct EndHold(Rewards);

impl Job for EndHold {
    fn kind(&self) -> Kind {
        END_HOLD
    }

    /// Due when the hold expires; until then it only waits.
    fn listing(&self) -> Listing {
        Listing::Timer
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        Box::pin(self.0.attempt_end_hold(lease))
    }
}

impl Job for Redeem {
    fn kind(&self) -> Kind {
        REDEEM
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        // The worker's attempt: the shop hears the outcome through a webhook.
        Box::pin(self.0.attempt_redeem(lease, true))
    }
}

impl Job for Cancel {
    fn kind(&self) -> Kind {
        CANCEL
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        Box::pin(self.0.attempt_cancel(lease, true))
    }
}

/// What UiTPAS's answer means for a redemption or its cancellation: every client error with a
/// problem document is a refusal (not enough points, a limit, an unknown reward, a group pass),
/// but 408 and 409 (and 429, always).
fn verdict(e: &UpstreamError) -> Verdict {
    Verdict::of(e, |status, problem| problem && ![408, 409].contains(&status))
}

/// The problem shown for work that needs a person.
fn attention_problem(e: &UpstreamError) -> Problem {
    match e {
        UpstreamError::Problem { status: 403, .. } | UpstreamError::Status(403) => Problem::ours(
            "permission-missing",
            StatusCode::FORBIDDEN,
            "UiTPAS refused this customer's permission to redeem rewards",
        )
        .with_detail(
            "UiTPAS answered 403: the customer's client lacks REWARDS_REDEEM (or REWARDS_READ) for the reward's \
             organizer. Ask publiq to grant it, then retry the redemption.",
        ),
        UpstreamError::Problem { .. } => Problem::from_upstream(e),
        _ => Problem::ours(
            "upstream-credentials-refused",
            StatusCode::BAD_GATEWAY,
            "UiTPAS refused the service's credentials",
        )
        .with_detail(format!("{e}; check the customer's publiq client id and secret.")),
    }
}

/// What a look at the pass's redemptions found.
enum Look {
    /// A redemption of the reward that no redemption of ours records, dated since ours was stored.
    Found(Box<RedeemedReward>),
    Absent,
    Failed(UpstreamError),
}

impl Rewards {
    /// One attempt to settle a redemption, under `lease`: look at the pass's redemptions first
    /// (unless nothing sent before can be there), adopt the one that is ours; send again only
    /// when there is none **and** no earlier send can still commit.
    #[tracing::instrument(skip_all, fields(redemption_id = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    pub(super) async fn attempt_redeem(&self, lease: &mut Lease, notify: bool) -> anyhow::Result<Outcome> {
        let id = lease.job.subject_id;
        let row = {
            let mut conn = self.db.acquire().await?;
            store::get(&mut conn, id).await?
        };
        let Some(row) = row.filter(|r| r.status == StoredStatus::Pending) else {
            return Ok(Outcome::Gone);
        };
        let number = UitpasNumber::parse(&row.uitpas_number)?;
        let client = self.customers.client(row.customer_id)?;
        // Measured before looking: a look that starts after the window can trust an absence.
        let window_left = lease.settle_window_left();
        if !(lease.open_send_age.is_none() && lease.nothing_upstream) {
            // Nothing of ours is dated after the open send's window (less the clock skew): a
            // redemption made later is another's (a desk's), never adopted (nor, for one
            // abandoned, cancelled).
            let until = lease.open_send_commits_by();
            match self
                .look(&client, &number, &row.reward_id, row.created_at, until)
                .await?
            {
                Look::Found(redeemed) => {
                    tracing::info!("UiTPAS already has this redemption: adopted");
                    return self.settle(lease, id, &redeemed, notify).await;
                }
                Look::Failed(e) => {
                    return Ok(match verdict(&e) {
                        Verdict::NeedsPerson => {
                            self.park(lease, &attention_problem(&e), &e.to_string(), notify).await?
                        }
                        _ => Outcome::retry(format!("looking for the redemption: {e}"), false),
                    });
                }
                Look::Absent if !window_left.is_zero() => {
                    tracing::info!(
                        window_left_ms = window_left.as_millis() as u64,
                        "UiTPAS has no such redemption yet, but the earlier send may still commit: not sending again"
                    );
                    let delay = lease.look_again_in();
                    return Ok(Outcome::retry_after(
                        delay,
                        "waiting for the earlier send to settle",
                        false,
                    ));
                }
                Look::Absent => {
                    tracing::info!("UiTPAS has no such redemption: sending it again");
                    lease.nothing_upstream = true;
                }
            }
        }
        if row.hold_state.is_some_and(HoldState::ended) {
            // Released or expired before UiTPAS made it: nothing to redeem, nothing to cancel.
            return self.hold_ended(lease, id, notify).await;
        }
        if row.abandoned_at.is_some() {
            // Given up by a person, and UiTPAS has none of it: it ends rejected with the problem
            // it was parked with, never sent again.
            let problem = row.problem.unwrap_or_else(|| serde_json::json!({}));
            return self.never_made(lease, id, &problem, notify).await;
        }
        self.send(&client, lease, id, &number, &row.reward_id, notify).await
    }

    /// Reads the pass's redemptions for one of `reward_id` dated since `since` (less the clock
    /// skew) and, when given, until `until` (plus the clock skew) that no redemption of ours
    /// records: the oldest such is ours, since one redemption of a pass and reward is unsettled at
    /// a time.
    async fn look(
        &self,
        client: &UitpasClient,
        number: &UitpasNumber,
        reward_id: &str,
        since: chrono::DateTime<chrono::Utc>,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<Look> {
        let until = until.map(|until| until + CLOCK_SKEW);
        let candidates = match self
            .unrecorded(client, number, reward_id, since - CLOCK_SKEW, until)
            .await?
        {
            Ok(candidates) => candidates,
            Err(e) => return Ok(Look::Failed(e)),
        };
        if candidates.len() > 1 {
            tracing::warn!(
                found = candidates.len(),
                "more than one unrecorded redemption of the reward by the pass: adopting the oldest"
            );
        }
        Ok(candidates
            .into_iter()
            .next()
            .map_or(Look::Absent, |found| Look::Found(Box::new(found))))
    }

    /// The pass's redemptions of `reward_id` dated from `from` to `until` (when given) that no
    /// redemption of ours records, oldest first (at most [`LOOK_PAGES`] pages of 50 read).
    pub(super) async fn unrecorded(
        &self,
        client: &UitpasClient,
        number: &UitpasNumber,
        reward_id: &str,
        from: chrono::DateTime<chrono::Utc>,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> anyhow::Result<Result<Vec<RedeemedReward>, UpstreamError>> {
        let mut candidates: Vec<RedeemedReward> = Vec::new();
        let mut start = 0;
        for _ in 0..LOOK_PAGES {
            let page = match client.redemptions_of_pass(number, start, 50).await {
                Ok(page) => page,
                Err(e) => return Ok(Err(e)),
            };
            let got = u32::try_from(page.member.len()).unwrap_or(u32::MAX);
            candidates.extend(page.member.into_iter().filter(|r| {
                r.reward.id == reward_id && r.redeem_date >= from && until.is_none_or(|until| r.redeem_date <= until)
            }));
            start = start.saturating_add(got);
            if got == 0 || u64::from(start) >= page.total_items {
                break;
            }
        }
        if !candidates.is_empty() {
            let ids: Vec<String> = candidates.iter().map(|c| c.id.clone()).collect();
            let known = store::known(&self.db, &ids).await?;
            candidates.retain(|c| !known.contains(&c.id));
            candidates.sort_by_key(|c| c.redeem_date);
        }
        Ok(Ok(candidates))
    }

    /// Sends the redemption under `lease` and settles the answer.
    async fn send(
        &self,
        client: &UitpasClient,
        lease: &mut Lease,
        id: Uuid,
        number: &UitpasNumber,
        reward_id: &str,
        notify: bool,
    ) -> anyhow::Result<Outcome> {
        let answer = match client.redeem(reward_id, number, &mut Sending(lease)).await {
            Gated::Called(answer) => answer,
            Gated::Refused(e) if e.is::<LeaseLost>() => {
                tracing::info!("{e}: not sending");
                return Ok(Outcome::Recorded);
            }
            Gated::Refused(e) => return Err(e),
        };
        match answer {
            Ok(redeemed) => self.settle(lease, id, &redeemed, notify).await,
            Err(e) => Ok(match verdict(&e) {
                Verdict::Refused => {
                    let problem = Problem::from_upstream(&e);
                    tracing::info!(problem = %problem.kind, "UiTPAS refused the redemption");
                    let mut tx = crate::db::begin(&self.db).await?;
                    if lease.finish(&mut tx).await? {
                        store::mark_rejected(&mut tx, id, &serde_json::to_value(&problem)?).await?;
                        self.watch_later(&mut tx, lease, id).await?;
                        if notify {
                            self.webhooks
                                .enqueue(&mut tx, EventType::RedemptionRejected, id)
                                .await?;
                        }
                        tx.commit().await?;
                    }
                    Outcome::Recorded
                }
                Verdict::NeedsPerson => {
                    lease.send_answered();
                    self.park(lease, &attention_problem(&e), &e.to_string(), notify).await?
                }
                Verdict::Ended => {
                    tracing::warn!(error = %e, "redemption not confirmed: it stays pending");
                    Outcome::retry(e.to_string(), true)
                }
                Verdict::Unknown => {
                    tracing::warn!(error = %e, "redemption outcome unknown: it stays pending");
                    Outcome::retry(e.to_string(), false)
                }
            }),
        }
    }

    /// Records what UiTPAS confirmed, if `lease` still holds the job.
    async fn settle(
        &self,
        lease: &Lease,
        id: Uuid,
        redeemed: &RedeemedReward,
        notify: bool,
    ) -> anyhow::Result<Outcome> {
        let mut tx = crate::db::begin(&self.db).await?;
        if !lease.finish(&mut tx).await? {
            // Another attempt took the job over: it finds this redemption by looking.
            return Ok(Outcome::Recorded);
        }
        match store::settle_redeemed(&mut tx, id, redeemed).await {
            Ok(settled) => {
                self.watch_later(&mut tx, lease, id).await?;
                if settled == Some(StoredStatus::Cancelling) {
                    // Its hold ended while UiTPAS made it: cancel it.
                    Outbox::enqueue(&mut tx, CANCEL, id, None).await?;
                } else if settled.is_some() && notify {
                    self.webhooks
                        .enqueue(&mut tx, EventType::RedemptionRedeemed, id)
                        .await?;
                }
                tx.commit().await?;
                tracing::info!("redeemed at UiTPAS");
                Ok(Outcome::Recorded)
            }
            // The redemption UiTPAS confirmed is recorded for another of ours: it cannot be, as
            // one is unsettled per pass and reward; look again later rather than record it.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Outcome::retry(
                "a confirmed UiTPAS redemption is recorded elsewhere",
                false,
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Records a redemption whose hold ended before UiTPAS made it as rejected (`hold-ended`).
    async fn hold_ended(&self, lease: &Lease, id: Uuid, notify: bool) -> anyhow::Result<Outcome> {
        let problem = Problem::ours("hold-ended", StatusCode::CONFLICT, "The hold ended")
            .with_detail("The hold was released or expired before UiTPAS redeemed the reward; nothing was spent.");
        self.never_made(lease, id, &serde_json::to_value(&problem)?, notify)
            .await
    }

    /// Records a redemption given up (its hold ended, or a person abandoned it) that UiTPAS never
    /// made as rejected with `problem`, if `lease` still holds its job.
    async fn never_made(
        &self,
        lease: &Lease,
        id: Uuid,
        problem: &serde_json::Value,
        notify: bool,
    ) -> anyhow::Result<Outcome> {
        let mut tx = crate::db::begin(&self.db).await?;
        if lease.finish(&mut tx).await? {
            store::mark_rejected(&mut tx, id, problem).await?;
            self.watch_later(&mut tx, lease, id).await?;
            if notify {
                self.webhooks
                    .enqueue(&mut tx, EventType::RedemptionRejected, id)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(Outcome::Recorded)
    }

    /// One attempt to end a hold whose time is over: it expires unless it was confirmed or
    /// released first (one conditional update), and a redeemed redemption is cancelled.
    pub(super) async fn attempt_end_hold(&self, lease: &mut Lease) -> anyhow::Result<Outcome> {
        let id = lease.job.subject_id;
        let row = {
            let mut conn = self.db.acquire().await?;
            store::get(&mut conn, id).await?
        };
        let Some((HoldState::Held, expires_at)) = row.and_then(|r| r.hold_state.zip(r.hold_expires_at)) else {
            // Confirmed or released (which did its part), or gone.
            return Ok(Outcome::Gone);
        };
        let left = (expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
        if !left.is_zero() {
            // Not over yet (the job ran early): come back when it is.
            return Ok(Outcome::retry_after(
                left.max(std::time::Duration::from_millis(50)),
                "the hold has not expired yet",
                true,
            ));
        }
        let mut tx = crate::db::begin(&self.db).await?;
        if !lease.finish(&mut tx).await? {
            return Ok(Outcome::Recorded);
        }
        let mut cancel = None;
        if store::end_hold(&mut tx, id, HoldState::Expired).await? {
            tracing::info!(redemption_id = %id, "hold expired: the redemption is cancelled");
            cancel = self.after_hold_ended(&mut tx, id).await?;
        }
        tx.commit().await?;
        if let Some(mut cancel) = cancel {
            let attempted = self.attempt_cancel(&mut cancel, true).await;
            self.outbox.record(cancel, attempted).await?;
        }
        Ok(Outcome::Recorded)
    }

    /// What a hold that ended (released or expired) starts, in `tx`: a redeemed redemption is
    /// cancelled, and the lease of its cancellation returned when it was added now; a pending one
    /// is settled now by its job (taken up again if it waited for a person), which cancels it if
    /// UiTPAS made it and records it as never made otherwise.
    pub(super) async fn after_hold_ended(
        &self,
        tx: &mut sqlx::PgConnection,
        id: Uuid,
    ) -> anyhow::Result<Option<Lease>> {
        if store::cancel_if_redeemed(&mut *tx, id).await? {
            return Ok(self.outbox.enqueue_leased(&mut *tx, CANCEL, id).await?);
        }
        if Outbox::resume_parked(&mut *tx, REDEEM, id).await?.is_none() {
            Outbox::make_due(&mut *tx, REDEEM, id).await?;
        }
        Ok(None)
    }

    /// One attempt to cancel a redemption at UiTPAS. A 404 means it is cancelled already (a
    /// replay).
    #[tracing::instrument(skip_all, fields(redemption_id = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    pub(super) async fn attempt_cancel(&self, lease: &mut Lease, notify: bool) -> anyhow::Result<Outcome> {
        let id = lease.job.subject_id;
        let row = {
            let mut conn = self.db.acquire().await?;
            store::get(&mut conn, id).await?
        };
        let Some(row) = row.filter(|r| r.status == StoredStatus::Cancelling) else {
            return Ok(Outcome::Gone);
        };
        let uitpas_id = row
            .uitpas_redemption_id
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("a redemption being cancelled without UiTPAS's id"))?;
        let client = self.customers.client(row.customer_id)?;
        let answer = match client.cancel_redemption(uitpas_id, &mut Renewing(lease)).await {
            Gated::Called(answer) => answer,
            Gated::Refused(e) if e.is::<LeaseLost>() => return Ok(Outcome::Recorded),
            Gated::Refused(e) => return Err(e),
        };
        match answer {
            Ok(()) | Err(UpstreamError::Problem { status: 404, .. } | UpstreamError::Status(404)) => {}
            Err(e) => {
                return Ok(match verdict(&e) {
                    Verdict::NeedsPerson | Verdict::Refused => {
                        self.park(lease, &attention_problem(&e), &e.to_string(), notify).await?
                    }
                    _ => Outcome::retry(e.to_string(), true),
                });
            }
        }
        let mut tx = crate::db::begin(&self.db).await?;
        if lease.finish(&mut tx).await? {
            if store::mark_cancelled(&mut tx, id).await? && notify {
                self.webhooks
                    .enqueue(&mut tx, EventType::RedemptionCancelled, id)
                    .await?;
            }
            tx.commit().await?;
            tracing::info!("redemption cancelled at UiTPAS");
        }
        Ok(Outcome::Recorded)
    }

    /// Parks work for a person; `notify`: the shop hears it through a webhook (no answer tells it).
    async fn park(&self, lease: &Lease, problem: &Problem, error: &str, notify: bool) -> anyhow::Result<Outcome> {
        let mut tx = crate::db::begin(&self.db).await?;
        if lease.park_in(&mut tx, &serde_json::to_value(problem)?, error).await? && notify {
            self.webhooks
                .enqueue(&mut tx, EventType::RedemptionNeedsAttention, lease.job.subject_id)
                .await?;
        }
        tx.commit().await?;
        Ok(Outcome::Recorded)
    }
}
