//! The replay worker, one in every replica beside the API: it claims due jobs (registrations whose
//! outcome is unknown, cancellations and event creations not yet confirmed) and settles them, until
//! shutdown. Replicas share the work through `FOR UPDATE SKIP LOCKED` and leases; nothing is ever
//! dropped: a job is deleted only once settled, and a failed attempt leaves it due again later.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::watch;

use crate::activities::Activities;
use crate::ledger::{JobKind, Ledger, store};

/// Jobs claimed per round, and worked on at once.
const BATCH: i64 = 32;
const CONCURRENCY: usize = 8;

/// What the worker needs to settle every kind of job. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    pub ledger: Ledger,
    pub activities: Activities,
}

impl Worker {
    /// Claims up to `limit` jobs due before `due_before` and works on them; how many it claimed.
    pub async fn run_due(&self, limit: i64, due_before: DateTime<Utc>) -> anyhow::Result<usize> {
        let lease_ms = i64::try_from(self.ledger.policy().lease.as_millis()).unwrap_or(i64::MAX);
        let jobs = store::claim_jobs(self.ledger.db(), limit, lease_ms, due_before).await?;
        let claimed = jobs.len();
        futures::stream::iter(jobs)
            .for_each_concurrent(CONCURRENCY, |job| async move {
                let result = match job.kind {
                    JobKind::Register => self.ledger.attempt_register(job).await,
                    JobKind::Cancel => self.ledger.attempt_cancel(job).await,
                    JobKind::CreateEvent => self.activities.attempt_create(job).await,
                };
                if let Err(e) = result {
                    // The lease expires and the job is claimed again: nothing is dropped.
                    tracing::error!(error = format!("{e:#}"), kind = job.kind.as_str(), "job failed");
                }
            })
            .await;
        Ok(claimed)
    }
}

/// Runs until `shutdown` turns true; the jobs in flight then are finished first.
pub async fn run(worker: Worker, poll: Duration, mut shutdown: watch::Receiver<bool>) {
    tracing::info!(poll_ms = poll.as_millis() as u64, "replay worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let claimed = match worker.run_due(BATCH, Utc::now()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "replay round failed");
                0
            }
        };
        // A full round may mean more is due: go again at once.
        if claimed as i64 >= BATCH {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!("replay worker stopped");
}

/// One round over every job not leased by someone else, due or not (tests and tools use it to
/// settle now rather than after the backoff). Returns how many jobs it worked on.
pub async fn drain(worker: &Worker) -> anyhow::Result<usize> {
    worker
        .run_due(10_000, Utc::now() + chrono::Duration::days(36_500))
        .await
}
