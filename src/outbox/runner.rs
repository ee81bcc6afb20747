//! The worker loop, one in every replica beside the API: claims due jobs of the kinds registered
//! with it, no more than it can run at once, runs each attempt under its deadline in a task of its
//! own, and records what the attempt came to. Whatever an attempt does (an error, a panic, a
//! deadline) the job is never dropped, only retried.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};

use super::job::{Job, Kind, Listing, Outcome, Queue};
use super::{Lease, LeaseLost, Outbox};

/// How many attempts run at once in one replica, per queue.
pub const CONCURRENCY: usize = 8;

/// The kinds of job this service runs, each with what one attempt does. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    outbox: Outbox,
    jobs: Arc<BTreeMap<Kind, Arc<dyn Job>>>,
}

impl Runner {
    pub fn new(outbox: Outbox) -> Self {
        Self {
            outbox,
            jobs: Arc::default(),
        }
    }

    /// Adds a kind of job. Panics when the kind is registered already (two owners of one name).
    #[must_use]
    pub fn register(mut self, job: impl Job) -> Self {
        let kind = job.kind();
        let jobs = Arc::make_mut(&mut self.jobs);
        assert!(
            jobs.insert(kind, Arc::new(job)).is_none(),
            "job kind {kind} registered twice"
        );
        self
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The registered kind of this name.
    pub fn kind(&self, name: &str) -> Option<Kind> {
        self.jobs.keys().find(|k| k.as_str() == name).copied()
    }

    /// The kinds registered, in name order.
    pub fn kinds(&self) -> Vec<Kind> {
        self.jobs.keys().copied().collect()
    }

    /// Every job that is work to do, oldest first (at most 1000), as each kind is listed
    /// ([`Job::listing`]).
    pub async fn unsettled(&self) -> sqlx::Result<Vec<super::views::WorkRow>> {
        let of = |listing: Listing| -> Vec<&str> {
            self.jobs
                .iter()
                .filter(|(_, job)| job.listing() == listing)
                .map(|(kind, _)| kind.as_str())
                .collect()
        };
        super::views::unsettled(self.outbox.db(), &of(Listing::ParkedOnly), &of(Listing::Timer)).await
    }

    fn kinds_of(&self, queue: Queue) -> Vec<Kind> {
        self.jobs
            .iter()
            .filter(|(_, job)| job.queue() == queue)
            .map(|(kind, _)| *kind)
            .collect()
    }

    /// Runs one attempt on `lease` and records what it came to; an error is logged (the claim
    /// runs out and the job is claimed again).
    pub async fn attempt(&self, lease: Lease) {
        let Some(job) = self.jobs.get(&lease.job.kind).cloned() else {
            // Claimed only by kind, so only a job whose kind was unregistered since.
            tracing::error!(kind = %lease.job.kind, "a job of a kind no one registered");
            return;
        };
        let claim = lease.job;
        let mut lease = lease;
        let attempted = job.attempt(&mut lease).await;
        if let Err(e) = self.outbox.record(lease, attempted).await {
            note_dead_connection(&e);
            tracing::error!(error = format!("{e:#}"), kind = %claim.kind, subject = %claim.subject_id, "job attempt failed");
        }
    }

    /// Runs one attempt in a task of its own, under the attempt deadline.
    async fn run_one(&self, lease: Lease) {
        let job = lease.job;
        let deadline = self.outbox.policy().attempt_deadline();
        let runner = self.clone();
        let task = tokio::spawn(async move { runner.attempt(lease).await });
        let abort = task.abort_handle();
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let what = if e.is_panic() { "panicked" } else { "was cancelled" };
                tracing::error!(kind = %job.kind, subject = %job.subject_id, error = %e, "job attempt {what}; it will be retried");
            }
            Err(_) => {
                abort.abort();
                tracing::warn!(
                    kind = %job.kind,
                    subject = %job.subject_id,
                    deadline_ms = deadline.as_millis() as u64,
                    "job attempt cut off at its deadline; it will be retried"
                );
                if let Err(e) = self.outbox.give_back(job, "attempt deadline").await {
                    tracing::warn!(error = %e, "could not give back a job cut off at its deadline");
                }
            }
        }
    }

    /// Claims due work and runs it until `shutdown` turns true, each queue in slots of its own;
    /// the attempts in flight then are finished first.
    pub async fn run(self, poll: Duration, shutdown: watch::Receiver<bool>) {
        let upstream = self.run_queue(Queue::Upstream, poll, shutdown.clone());
        let deliveries = self.run_queue(Queue::Deliveries, poll, shutdown);
        tokio::join!(upstream, deliveries);
    }

    async fn run_queue(&self, queue: Queue, poll: Duration, mut shutdown: watch::Receiver<bool>) {
        let kinds = self.kinds_of(queue);
        if kinds.is_empty() {
            return;
        }
        tracing::info!(
            poll_ms = poll.as_millis() as u64,
            concurrency = CONCURRENCY,
            kinds = ?kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "outbox worker started"
        );
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Claim only as many jobs as there are free slots: a claimed job waiting for a slot
            // would spend its lease waiting.
            let free = slots.available_permits();
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match self.outbox.claim(&kinds, free as i64, Utc::now()).await {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        if crate::db::is_dead_connection(&e) {
                            crate::db::note_dead_connection();
                        }
                        tracing::warn!(error = %e, "claiming due work failed");
                        Vec::new()
                    }
                }
            };
            let full = free > 0 && claimed.len() == free;
            for lease in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let runner = self.clone();
                tokio::spawn(async move {
                    runner.run_one(lease).await;
                    drop(permit);
                });
            }
            if full {
                // Every slot was filled: more may be due. Wait for a slot, then claim again.
                tokio::select! {
                    permit = slots.clone().acquire_owned() => drop(permit),
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Wait for the attempts in flight.
        let _ = slots.acquire_many(CONCURRENCY as u32).await;
        tracing::info!(?queue, "outbox worker stopped");
    }

    /// One round over every job not leased by someone else, due or not (tests and tools use it
    /// to settle now rather than after the backoff). Returns how many jobs it worked on.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        self.run_due(Utc::now() + chrono::Duration::days(36_500)).await
    }

    /// One round over every job due before `due_before` that nobody holds: claimed `CONCURRENCY`
    /// at a time, as the loop does, and each job once. Returns how many jobs it worked on.
    pub async fn run_due(&self, due_before: DateTime<Utc>) -> anyhow::Result<usize> {
        let kinds = self.kinds();
        let mut done = Vec::new();
        loop {
            let jobs = self
                .outbox
                .claim_except(&kinds, CONCURRENCY as i64, due_before, &done)
                .await?;
            if jobs.is_empty() {
                return Ok(done.len());
            }
            done.extend(jobs.iter().map(|lease| lease.job.subject_id));
            futures::future::join_all(jobs.into_iter().map(|lease| self.run_one(lease))).await;
        }
    }
}

impl Outbox {
    /// Makes `attempt` on `lease` now, when the caller holds one (a request that just stored its
    /// job, and was given its lease), and records what it came to ([`Self::record`]).
    pub async fn attempt_now(
        &self,
        lease: Option<Lease>,
        attempt: impl AsyncFnOnce(&mut Lease) -> anyhow::Result<Outcome>,
    ) -> anyhow::Result<()> {
        if let Some(mut lease) = lease {
            let attempted = attempt(&mut lease).await;
            self.record(lease, attempted).await?;
        }
        Ok(())
    }

    /// Records what an attempt on `lease` came to, fenced by its claim. An attempt that failed
    /// records nothing (the claim runs out and the job is claimed again): its error is returned,
    /// but for a lost lease (another attempt goes on), which is no error. For the attempts a
    /// request makes itself as well as the worker's.
    pub async fn record(&self, lease: Lease, attempted: anyhow::Result<Outcome>) -> anyhow::Result<()> {
        match attempted {
            Ok(outcome) => self.apply(lease, outcome).await,
            Err(e) if e.is::<LeaseLost>() => {
                tracing::info!(kind = %lease.job.kind, subject = %lease.job.subject_id, "{e}");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn apply(&self, lease: Lease, outcome: Outcome) -> anyhow::Result<()> {
        let recorded = match outcome {
            Outcome::Recorded => true,
            Outcome::Gone => lease.finish_alone().await?,
            Outcome::Retry { error, send_ended } => lease.retry_later(&error, send_ended).await?,
            Outcome::RetryAfter {
                delay,
                error,
                send_ended,
            } => lease.retry_after(delay, &error, send_ended).await?,
            Outcome::Park { problem, error } => lease.park(&problem, &error).await?,
        };
        if !recorded {
            tracing::info!("{LeaseLost}: the attempt's outcome was not recorded");
        }
        Ok(())
    }
}

/// After PostgreSQL restarted, the first attempt that meets a dead pooled connection makes the
/// pools drop every connection opened before (see [`crate::db::note_dead_connection`]).
fn note_dead_connection(e: &anyhow::Error) {
    if e.chain()
        .filter_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .any(crate::db::is_dead_connection)
    {
        crate::db::note_dead_connection();
    }
}
