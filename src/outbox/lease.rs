//! One attempt's claim on a job: its lease, renewed and fenced before each call upstream, the
//! sends it records, and how it ends (finished, given back, parked).

use std::time::{Duration, Instant};

use sqlx::PgConnection;

use super::{Claim, LeaseLost, Outbox, Policy, SEND_SLACK, ms};
use crate::uitpas::SendGate;

/// A claim on one job, for the length of one attempt.
pub struct Lease {
    pub job: Claim,
    /// How long ago the latest send that may still commit started (by PostgreSQL's clock, when
    /// the job was claimed), if there is one.
    pub open_send_age: Option<Duration>,
    pub(super) outbox: Outbox,
    /// When the lease runs out, on the local monotonic clock (conservatively: measured from
    /// before the statement that took or renewed it).
    pub(super) expires: Instant,
    /// The statement that stored the job also recorded the start of a send, at this local time
    /// (taken before the statement).
    pub(super) send_recorded_at: Option<Instant>,
    /// Nothing this job sent can have committed upstream: every send was answered without
    /// committing, or a complete look after the window found none (or nothing was sent yet).
    /// Stored with the job when the attempt gives it back; a send that is not answered, or a
    /// park, clears it. With no send open, the next attempt need not look before sending.
    pub nothing_upstream: bool,
    /// When the job was claimed, nothing an earlier attempt sent could commit any more (every send
    /// answered without committing, or found absent after its window) and no send of it ever
    /// ended without a clear answer: see [`Self::earlier_sends_may_commit`].
    pub(super) claimed_clean: bool,
    /// This attempt's send was answered without committing ([`Self::send_answered`]).
    pub(super) send_answered: bool,
}

impl Lease {
    pub fn policy(&self) -> Policy {
        self.outbox.policy
    }

    /// When to look again while an earlier send may still commit: after the backoff, but no later
    /// than just after the window ends.
    pub fn look_again_in(&self) -> Duration {
        self.outbox
            .policy
            .delay(self.job.attempts)
            .min(self.settle_window_left() + Duration::from_millis(100))
    }

    /// Whether a send of an earlier attempt may still commit (or may have committed late): when
    /// the job was claimed, one was open, or one was never answered nor found absent after its
    /// window. Work settled under such a claim is watched for what such a send may still do.
    pub fn earlier_sends_may_commit(&self) -> bool {
        !self.claimed_clean
    }

    /// How long until the earlier send can no longer commit ([`Policy::send_open_for`] after its
    /// recorded start); zero when there is none open.
    /// The latest time at which the open send, if there is one, can commit: its start plus the
    /// settle window, on this host's wall clock (an upper bound: its start is taken as when the
    /// job was claimed less its age then). `None`: no send is open.
    pub fn open_send_commits_by(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let age = chrono::TimeDelta::from_std(self.open_send_age?).ok()?;
        let window = chrono::TimeDelta::from_std(self.outbox.policy.send_open_for()).ok()?;
        Some(chrono::Utc::now() - age + window)
    }

    pub fn settle_window_left(&self) -> Duration {
        self.open_send_age.map_or(Duration::ZERO, |age| {
            self.outbox.policy.send_open_for().saturating_sub(age)
        })
    }

    /// Fails when fewer than one call timeout of lease is left on the local clock: a call made
    /// now could still be running after another worker took the job over.
    fn check(&self) -> Result<(), LeaseLost> {
        if Instant::now() + self.outbox.policy.call_timeout < self.expires {
            Ok(())
        } else {
            Err(LeaseLost)
        }
    }

    /// Renews the lease before an upstream call (fenced: fails when another claim took the job).
    pub async fn renew(&mut self) -> anyhow::Result<()> {
        self.renew_marking(false).await
    }

    /// Renews the lease and records that a call that is not idempotent starts now, in one
    /// fenced statement. Until [`Self::retry_later`] says it ended, the work is not sent again
    /// before [`Policy::send_open_for`] has passed. Call it right before the request is written,
    /// with its token in hand (a [`Sending`] gate does): it fails when the lease is lost, and then
    /// the request must not be written. A send recorded by the statement that stored the job
    /// counts once, and only within [`SEND_SLACK`]; every other write is recorded anew (the
    /// retry after a 401 too).
    pub async fn begin_send(&mut self) -> anyhow::Result<()> {
        if let Some(at) = self.send_recorded_at.take()
            && at.elapsed() < SEND_SLACK
        {
            return Ok(self.check()?);
        }
        self.renew_marking(true).await
    }

    async fn renew_marking(&mut self, send: bool) -> anyhow::Result<()> {
        let started = Instant::now();
        let renewed = sqlx::query!(
            r#"UPDATE jobs SET locked_until = now() + make_interval(secs => $4::float8 / 1000),
                               open_send_at = CASE WHEN $5 THEN now() ELSE open_send_at END,
                               nothing_upstream = CASE WHEN $5 THEN $6 ELSE nothing_upstream END,
                               updated_at = now()
               WHERE kind = $1 AND subject_id = $2 AND attempts = $3 AND parked_at IS NULL"#,
            self.job.kind.as_str(),
            self.job.subject_id,
            self.job.attempts,
            ms(self.outbox.policy.lease),
            send,
            self.nothing_upstream
        )
        .execute(&self.outbox.db)
        .await?;
        if renewed.rows_affected() != 1 {
            return Err(LeaseLost.into());
        }
        self.expires = started + self.outbox.policy.lease;
        Ok(self.check()?)
    }

    /// Deletes the settled job in `tx`, if this claim still holds it. `false`: another worker has
    /// taken it over since, and the caller must not record anything (roll `tx` back).
    pub async fn finish(&self, tx: &mut PgConnection) -> sqlx::Result<bool> {
        let done = sqlx::query!(
            "DELETE FROM jobs WHERE kind = $1 AND subject_id = $2 AND attempts = $3",
            self.job.kind.as_str(),
            self.job.subject_id,
            self.job.attempts
        )
        .execute(tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finishes the job on its own (nothing else to record).
    pub(super) async fn finish_alone(&self) -> sqlx::Result<bool> {
        let mut tx = crate::db::begin(&self.outbox.db).await?;
        let done = self.finish(&mut tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Gives the job back after an attempt that settled nothing: due again after the backoff.
    /// `send_ended`: the last send is known to have ended upstream without committing (it was
    /// answered so), so it can no longer commit. `false` also when it committed.
    pub(super) async fn retry_later(self, error: &str, send_ended: bool) -> sqlx::Result<bool> {
        let delay = self.outbox.policy.delay(self.job.attempts);
        self.retry_after(delay, error, send_ended).await
    }

    /// Like [`Self::retry_later`], due again after `delay`.
    pub(super) async fn retry_after(self, delay: Duration, error: &str, send_ended: bool) -> sqlx::Result<bool> {
        let released = sqlx::query!(
            r#"UPDATE jobs SET locked_until = NULL, due_at = now() + make_interval(secs => $4::float8 / 1000),
                               last_error = $5, updated_at = now(),
                               open_send_at = CASE WHEN $6 THEN NULL ELSE open_send_at END,
                               unclear_send = unclear_send OR (open_send_at IS NOT NULL AND NOT $6),
                               nothing_upstream = $6 AND $7
               WHERE kind = $1 AND subject_id = $2 AND attempts = $3"#,
            self.job.kind.as_str(),
            self.job.subject_id,
            self.job.attempts,
            ms(delay),
            error,
            send_ended,
            self.nothing_upstream
        )
        .execute(&self.outbox.db)
        .await?;
        Ok(released.rows_affected() == 1)
    }

    /// Says that this attempt's send was answered without committing (a refusal of the
    /// credentials, say), before parking: the parked job then has no send open. A job parked
    /// otherwise keeps its open send, so that whoever takes it up again waits out the window.
    pub fn send_answered(&mut self) {
        self.send_answered = true;
    }

    /// Like [`Self::park`], in `tx` (with what else records it, e.g. a webhook event).
    pub async fn park_in(&self, tx: &mut PgConnection, problem: &serde_json::Value, error: &str) -> sqlx::Result<bool> {
        let parked = sqlx::query!(
            r#"UPDATE jobs SET parked_at = now(), problem = $4, last_error = $5, locked_until = NULL,
                               open_send_at = CASE WHEN $6 THEN NULL ELSE open_send_at END,
                               unclear_send = unclear_send OR (open_send_at IS NOT NULL AND NOT $6),
                               nothing_upstream = $6 AND $7, updated_at = now()
               WHERE kind = $1 AND subject_id = $2 AND attempts = $3"#,
            self.job.kind.as_str(),
            self.job.subject_id,
            self.job.attempts,
            problem,
            error,
            self.send_answered,
            self.nothing_upstream
        )
        .execute(tx)
        .await?;
        if parked.rows_affected() == 1 {
            tracing::warn!(
                kind = self.job.kind.as_str(),
                subject = %self.job.subject_id,
                error,
                "work needs attention: parked until a person retries or abandons it"
            );
        }
        Ok(parked.rows_affected() == 1)
    }

    /// Parks the job: it cannot succeed without a person. Logged at warn; shown on the views and
    /// counted on `/metrics` until someone retries or abandons it.
    pub(super) async fn park(self, problem: &serde_json::Value, error: &str) -> sqlx::Result<bool> {
        let mut tx = crate::db::begin(&self.outbox.db).await?;
        let parked = self.park_in(&mut tx, problem, error).await?;
        tx.commit().await?;
        Ok(parked)
    }
}

/// The gate of a call that may commit upstream: records the send, fenced, right before its
/// request is written ([`Lease::begin_send`]).
pub struct Sending<'a>(pub &'a mut Lease);

impl SendGate for Sending<'_> {
    type Error = anyhow::Error;
    async fn open(&mut self) -> anyhow::Result<()> {
        self.0.begin_send().await
    }
}

/// The gate of a call whose repetition is harmless (a cancellation: a replay is answered 404):
/// renews the lease, fenced, right before the request is written, so that an attempt taken over
/// writes nothing.
pub struct Renewing<'a>(pub &'a mut Lease);

impl SendGate for Renewing<'_> {
    type Error = anyhow::Error;
    async fn open(&mut self) -> anyhow::Result<()> {
        self.0.renew().await
    }
}
