//! The outbox: every call to UiTPAS or UiTdatabank that has to happen, or may have happened
//! without us knowing, is a row in `jobs` until it is settled.
//!
//! The rules every kind of work shares live here; the business modules only enqueue work and
//! say what one attempt does:
//! - **claim**: due rows are taken with `FOR UPDATE SKIP LOCKED`, no more than can run at once,
//!   and leased (`locked_until`) instead of holding a row lock across an HTTP call;
//! - **fence**: every claim increments `attempts`, and every later write of the attempt is
//!   conditional on it, so a worker that was taken over records nothing;
//! - **lease**: renewed (fenced) before each upstream call, and checked on the local clock right
//!   before a call, so that a paused process cannot call after its lease ran out;
//! - **attempt deadline**: an attempt is cut off before its lease could run out;
//! - **open sends**: the start of a call that is not idempotent is recorded right before its
//!   request is written (its token in hand), fenced, and cleared when its answer shows that it
//!   ended; it may commit until [`Policy::send_open_for`] after that; see [`Lease::begin_send`];
//! - **backoff**: capped, exponential, with jitter;
//! - **needs attention**: work that cannot succeed without a person is parked with its problem,
//!   never retried blindly, until someone retries or abandons it.

pub mod job;
mod lease;
pub mod runner;
pub mod views;

pub use job::{Job, Kind, Listing, Outcome, Queue};
pub use lease::{Lease, Renewing, Sending};
pub use runner::Runner;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A claimed job: `attempts` is the fencing token of this claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub kind: Kind,
    pub subject_id: Uuid,
    pub attempts: i32,
}

/// How the outbox leases and retries.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long a claim holds a job before another worker may take it over.
    pub lease: Duration,
    /// The timeout of one upstream call; a call starts only with at least this much lease left.
    pub call_timeout: Duration,
    /// How long after a send that is not idempotent its outcome may still commit upstream.
    pub settle_window: Duration,
    /// The first retry delay; doubled per attempt up to `max_delay`, with ±25 % jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

/// How long a recorded send start may precede the write of its request: a send recorded
/// earlier (by the statement that stored the job) is recorded again before it is written.
pub const SEND_SLACK: Duration = Duration::from_secs(1);

impl Policy {
    /// How long after its recorded start a send may still commit upstream: its request leaves
    /// within [`SEND_SLACK`] of the record, the HTTP client gives up writing it one call timeout
    /// later, and UiTPAS commits within the settle window of receiving it, or never.
    pub fn send_open_for(&self) -> Duration {
        self.settle_window + self.call_timeout + SEND_SLACK
    }

    /// How long after an order settled with an earlier send of it open (or unclear) it is watched
    /// for strays: two windows. One covers every send recorded before it settled; the second a
    /// send that a process paused after recording it wrote later (its lease ran out meanwhile) and
    /// UiTPAS committed later than its window: the full campaign saw such a commit land 0.2 s
    /// after a watch one window after the order settled.
    pub fn watch_after_settling(&self) -> Duration {
        self.send_open_for() * 2
    }

    /// The delay before attempt `attempts + 1`.
    pub fn delay(&self, attempts: i32) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20);
        let base = self.base_delay.saturating_mul(1 << exp).min(self.max_delay);
        base.mul_f64(0.75 + fastrand::f64() * 0.5)
    }

    /// How long one attempt may run: it ends before the lease it last renewed can run out, since
    /// each call starts with at least `call_timeout` of lease left.
    pub fn attempt_deadline(&self) -> Duration {
        self.lease
            .saturating_sub(Duration::from_millis(500))
            .max(self.call_timeout)
    }
}

/// The outbox's handle: the pool and the policy. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    db: PgPool,
    policy: Policy,
}

/// The claim of this attempt was taken over (its lease ran out and another worker claimed the
/// job): the attempt must stop and record nothing.
#[derive(Debug, thiserror::Error)]
#[error("the lease on this job was lost; another attempt has taken it over")]
pub struct LeaseLost;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Outbox {
    pub fn new(db: PgPool, policy: Policy) -> Self {
        Self { db, policy }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn db(&self) -> &PgPool {
        &self.db
    }

    /// Adds a job in `tx`, leased to the caller, who is about to make the first attempt itself.
    /// `None` when the job exists already (someone else owns it).
    pub async fn enqueue_leased(
        &self,
        tx: &mut PgConnection,
        kind: Kind,
        subject_id: Uuid,
    ) -> sqlx::Result<Option<Lease>> {
        let started = Instant::now();
        let inserted = sqlx::query!(
            r#"INSERT INTO jobs (kind, subject_id, attempts, locked_until)
               VALUES ($1, $2, 1, now() + make_interval(secs => $3::float8 / 1000))
               ON CONFLICT (kind, subject_id) DO NOTHING"#,
            kind.as_str(),
            subject_id,
            ms(self.policy.lease)
        )
        .execute(tx)
        .await?;
        Ok((inserted.rows_affected() == 1).then(|| {
            let mut lease = self.lease(
                Claim {
                    kind,
                    subject_id,
                    attempts: 1,
                },
                started,
                None,
            );
            lease.nothing_upstream = true;
            lease.claimed_clean = true;
            lease
        }))
    }

    /// The lease of a first attempt whose job the caller stored itself (in a statement of its own,
    /// with `attempts` 1 and a lease taken at `started`); `send_started` when that statement also
    /// recorded the start of a send ([`Lease::begin_send`]).
    pub fn first_lease(&self, kind: Kind, subject_id: Uuid, started: Instant, send_started: bool) -> Lease {
        let mut lease = self.lease(
            Claim {
                kind,
                subject_id,
                attempts: 1,
            },
            started,
            None,
        );
        lease.send_recorded_at = send_started.then_some(started);
        lease.nothing_upstream = true;
        lease.claimed_clean = true;
        lease
    }

    fn lease(&self, job: Claim, started: Instant, open_send_age: Option<Duration>) -> Lease {
        Lease {
            job,
            open_send_age,
            outbox: self.clone(),
            expires: started + self.policy.lease,
            send_recorded_at: None,
            nothing_upstream: false,
            claimed_clean: false,
            send_answered: false,
        }
    }

    /// Claims up to `limit` jobs due before `due_before` that nobody holds, leasing them. The row
    /// locks last only for this statement: the HTTP calls happen after it, under the lease.
    pub async fn claim(&self, kinds: &[Kind], limit: i64, due_before: DateTime<Utc>) -> sqlx::Result<Vec<Lease>> {
        self.claim_except(kinds, limit, due_before, &[]).await
    }

    /// Like [`Self::claim`], leaving out the jobs of these subjects.
    pub async fn claim_except(
        &self,
        kinds: &[Kind],
        limit: i64,
        due_before: DateTime<Utc>,
        except: &[Uuid],
    ) -> sqlx::Result<Vec<Lease>> {
        let kinds_by_name: std::collections::HashMap<&str, Kind> = kinds.iter().map(|k| (k.as_str(), *k)).collect();
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let rows = sqlx::query!(
            r#"UPDATE jobs SET attempts = attempts + 1, updated_at = now(),
                               locked_until = now() + make_interval(secs => $2::float8 / 1000)
               WHERE id IN (SELECT id FROM jobs
                            WHERE parked_at IS NULL AND due_at <= $3
                              AND (locked_until IS NULL OR locked_until < now())
                              AND subject_id <> ALL($4) AND kind = ANY($5)
                            ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
               RETURNING kind, subject_id, attempts, nothing_upstream, unclear_send,
                         extract(epoch FROM now() - open_send_at)::float8 AS open_send_age"#,
            limit,
            ms(self.policy.lease),
            due_before,
            except,
            &kinds as &[&str]
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let kind = *kinds_by_name.get(r.kind.as_str())?;
                let age = r.open_send_age.map(|s| Duration::from_secs_f64(s.max(0.0)));
                let mut lease = self.lease(
                    Claim {
                        kind,
                        subject_id: r.subject_id,
                        attempts: r.attempts,
                    },
                    started,
                    age,
                );
                lease.nothing_upstream = r.nothing_upstream;
                lease.claimed_clean = r.nothing_upstream && lease.open_send_age.is_none() && !r.unclear_send;
                Some(lease)
            })
            .collect())
    }

    /// Claims the job of one subject when nobody holds it and it is not parked, due or not (a
    /// request that just stored it makes the first attempt itself).
    pub async fn claim_subject(&self, kind: Kind, subject_id: Uuid) -> sqlx::Result<Option<Lease>> {
        let started = Instant::now();
        let row = sqlx::query!(
            r#"UPDATE jobs SET attempts = attempts + 1, updated_at = now(),
                               locked_until = now() + make_interval(secs => $3::float8 / 1000)
               WHERE kind = $1 AND subject_id = $2 AND parked_at IS NULL
                 AND (locked_until IS NULL OR locked_until < now())
               RETURNING attempts, nothing_upstream, unclear_send,
                         extract(epoch FROM now() - open_send_at)::float8 AS open_send_age"#,
            kind.as_str(),
            subject_id,
            ms(self.policy.lease)
        )
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|r| {
            let age = r.open_send_age.map(|s| Duration::from_secs_f64(s.max(0.0)));
            let mut lease = self.lease(
                Claim {
                    kind,
                    subject_id,
                    attempts: r.attempts,
                },
                started,
                age,
            );
            lease.nothing_upstream = r.nothing_upstream;
            lease.claimed_clean = r.nothing_upstream && lease.open_send_age.is_none() && !r.unclear_send;
            lease
        }))
    }

    /// Adds a job in `tx`, due at `due` (now when `None`), unless the subject has one of this
    /// kind already. `true` when it was added.
    pub async fn enqueue(
        tx: &mut PgConnection,
        kind: Kind,
        subject_id: Uuid,
        due: Option<DateTime<Utc>>,
    ) -> sqlx::Result<bool> {
        let added = sqlx::query!(
            r#"INSERT INTO jobs (kind, subject_id, due_at) VALUES ($1, $2, coalesce($3, now()))
               ON CONFLICT (kind, subject_id) DO NOTHING"#,
            kind.as_str(),
            subject_id,
            due
        )
        .execute(tx)
        .await?;
        Ok(added.rows_affected() == 1)
    }

    /// Adds a job due at `due` in `tx`, or postpones the subject's job of this kind to `due` when
    /// it is due earlier (and not leased nor parked): work that must not run before then.
    pub async fn enqueue_not_before(
        tx: &mut PgConnection,
        kind: Kind,
        subject_id: Uuid,
        due: DateTime<Utc>,
    ) -> sqlx::Result<bool> {
        sqlx::query_scalar!(
            r#"SELECT outbox_enqueue_not_before($1, $2, $3) AS "added!""#,
            kind.as_str(),
            subject_id,
            due
        )
        .fetch_one(tx)
        .await
    }

    /// Makes a job due now, in `tx` (what it waits for happened early, or a person asked); a
    /// lease someone holds on it is left alone. `false` when there is none, or it is parked.
    pub async fn make_due(tx: &mut PgConnection, kind: Kind, subject_id: Uuid) -> sqlx::Result<bool> {
        let done = sqlx::query!(
            "UPDATE jobs SET due_at = now(), updated_at = now()
             WHERE kind = $1 AND subject_id = $2 AND parked_at IS NULL",
            kind.as_str(),
            subject_id
        )
        .execute(tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives back a claimed job now rather than when its lease runs out (its attempt was cut off);
    /// a send it may have started stays open (it may still commit), so that the next attempt
    /// only looks until the window has passed.
    pub(super) async fn give_back(&self, job: Claim, error: &str) -> sqlx::Result<()> {
        sqlx::query!(
            r#"UPDATE jobs SET locked_until = NULL, last_error = $4, updated_at = now(),
                               unclear_send = unclear_send OR open_send_at IS NOT NULL
               WHERE kind = $1 AND subject_id = $2 AND attempts = $3"#,
            job.kind.as_str(),
            job.subject_id,
            job.attempts,
            error
        )
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Whether `claim` still holds its job (no other attempt took it over, nor settled it).
    pub async fn holds(&self, claim: Claim) -> sqlx::Result<bool> {
        sqlx::query_scalar!(
            r#"SELECT outbox_holds($1, $2, $3) AS "holds!""#,
            claim.kind.as_str(),
            claim.subject_id,
            claim.attempts
        )
        .fetch_one(&self.db)
        .await
    }

    /// Whether someone holds a lease on this job now (a call upstream may be in flight).
    pub async fn in_flight(&self, kind: Kind, subject_id: Uuid) -> sqlx::Result<bool> {
        let leased = sqlx::query_scalar!(
            r#"SELECT coalesce(locked_until > now(), false) AS "leased!"
               FROM jobs WHERE kind = $1 AND subject_id = $2"#,
            kind.as_str(),
            subject_id
        )
        .fetch_optional(&self.db)
        .await?;
        Ok(leased.unwrap_or(false))
    }

    /// Waits (bounded by `wait`) while another request or worker holds this job, so that a retry
    /// gets the first request's answer rather than "pending".
    pub async fn wait_while_in_flight(&self, kind: Kind, subject_id: Uuid, wait: Duration) -> sqlx::Result<()> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && self.in_flight(kind, subject_id).await? {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// A parked job due again now, with a fresh backoff: a person asked to retry it. `false` when
    /// the job is not parked.
    pub async fn retry_parked(&self, kind: Kind, subject_id: Uuid) -> sqlx::Result<bool> {
        let mut conn = self.db.acquire().await?;
        Self::retry_parked_in(&mut conn, kind, subject_id).await
    }

    /// Like [`Self::retry_parked`], in `tx` (with what else records the retry).
    pub async fn retry_parked_in(tx: &mut PgConnection, kind: Kind, subject_id: Uuid) -> sqlx::Result<bool> {
        let done = sqlx::query!(
            r#"UPDATE jobs SET parked_at = NULL, problem = NULL, due_at = now(), locked_until = NULL,
                               attempts = attempts + 1, updated_at = now()
               WHERE kind = $1 AND subject_id = $2 AND parked_at IS NOT NULL"#,
            kind.as_str(),
            subject_id
        )
        .execute(tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes a parked job up again in `tx`, due now, returning the problem it was parked with;
    /// `None` when the job is not parked. For work that was given up but must still undo what
    /// it may have done upstream (a registration abandoned while parked).
    pub async fn resume_parked(
        tx: &mut PgConnection,
        kind: Kind,
        subject_id: Uuid,
    ) -> sqlx::Result<Option<Option<serde_json::Value>>> {
        sqlx::query_scalar!(
            r#"WITH parked AS (
                   SELECT id, problem FROM jobs
                   WHERE kind = $1 AND subject_id = $2 AND parked_at IS NOT NULL FOR UPDATE
               )
               UPDATE jobs SET parked_at = NULL, problem = NULL, due_at = now(), locked_until = NULL,
                               attempts = attempts + 1, updated_at = now()
               FROM parked WHERE jobs.id = parked.id
               RETURNING parked.problem"#,
            kind.as_str(),
            subject_id
        )
        .fetch_optional(tx)
        .await
    }

    /// Deletes a parked job in `tx` when nothing it sent can be upstream (every send was answered
    /// without committing, none is open), returning its problem; `None` otherwise.
    pub async fn drop_parked_if_nothing_upstream(
        tx: &mut PgConnection,
        kind: Kind,
        subject_id: Uuid,
    ) -> sqlx::Result<Option<Option<serde_json::Value>>> {
        sqlx::query_scalar!(
            r#"DELETE FROM jobs
               WHERE kind = $1 AND subject_id = $2 AND parked_at IS NOT NULL
                 AND open_send_at IS NULL AND nothing_upstream
               RETURNING problem"#,
            kind.as_str(),
            subject_id
        )
        .fetch_optional(tx)
        .await
    }

    /// Deletes a parked job in `tx` (a person abandoned it), returning its problem; `None` when the
    /// job is not parked.
    pub async fn abandon_parked(
        tx: &mut PgConnection,
        kind: Kind,
        subject_id: Uuid,
    ) -> sqlx::Result<Option<Option<serde_json::Value>>> {
        sqlx::query_scalar!(
            r#"DELETE FROM jobs WHERE kind = $1 AND subject_id = $2 AND parked_at IS NOT NULL RETURNING problem"#,
            kind.as_str(),
            subject_id
        )
        .fetch_optional(tx)
        .await
    }
}

/// Per kind of job: how many are not settled yet, how many of them need a person, and the age
/// of the oldest in seconds (0 when there is none); every kind in `kinds`, none other.
pub async fn backlog(pool: &PgPool, kinds: &[Kind]) -> sqlx::Result<Vec<(Kind, i64, i64, f64)>> {
    let rows = sqlx::query!(
        r#"SELECT kind, count(*) AS "count!", count(parked_at) AS "parked!",
                  extract(epoch FROM now() - min(created_at))::float8 AS "oldest!"
           FROM jobs GROUP BY kind"#
    )
    .fetch_all(pool)
    .await?;
    Ok(kinds
        .iter()
        .map(|kind| {
            rows.iter()
                .find(|r| r.kind == kind.as_str())
                .map_or((*kind, 0, 0, 0.0), |r| (*kind, r.count, r.parked, r.oldest))
        })
        .collect())
}

/// Work that needs a person: when it was parked and why.
#[derive(Debug, Clone)]
pub struct Attention {
    pub since: DateTime<Utc>,
    pub problem: Option<serde_json::Value>,
}

/// Whether this job is parked, and why.
pub async fn attention(conn: &mut PgConnection, kind: Kind, subject_id: Uuid) -> sqlx::Result<Option<Attention>> {
    let row = sqlx::query!(
        r#"SELECT parked_at AS "parked_at!", problem FROM jobs
           WHERE kind = $1 AND subject_id = $2 AND parked_at IS NOT NULL"#,
        kind.as_str(),
        subject_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Attention {
        since: r.parked_at,
        problem: r.problem,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            lease: Duration::from_secs(60),
            call_timeout: Duration::from_secs(10),
            settle_window: Duration::from_secs(120),
            base_delay: Duration::from_millis(1000),
            max_delay: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_retry_delay_doubles_up_to_its_cap_with_jitter() {
        let policy = policy();
        for _ in 0..100 {
            let first = policy.delay(1);
            assert!(
                first >= Duration::from_millis(750) && first <= Duration::from_millis(1250),
                "{first:?}"
            );
            let third = policy.delay(3);
            assert!(
                third >= Duration::from_millis(3000) && third <= Duration::from_millis(5000),
                "{third:?}"
            );
            let late = policy.delay(40);
            assert!(
                late <= Duration::from_secs(75) && late >= Duration::from_secs(45),
                "{late:?}"
            );
        }
    }

    #[test]
    fn an_attempt_ends_before_its_lease() {
        let p = policy();
        assert!(p.attempt_deadline() < p.lease);
        assert!(p.attempt_deadline() >= p.call_timeout);
    }
}
