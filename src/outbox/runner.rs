//! The worker loop, one in every replica beside the API: claims due jobs, no more than it can run
//! at once, runs each attempt under its deadline in a task of its own, and goes on whatever an
//! attempt does (an error, a panic, a deadline): the job is never dropped, only retried.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};

use super::{JobKind, Lease, LeaseLost, Outbox};

/// How many attempts run at once in one replica.
pub const CONCURRENCY: usize = 8;

/// One attempt on a leased job.
pub trait Attempt: Clone + Send + Sync + 'static {
    fn attempt(&self, lease: Lease) -> impl Future<Output = anyhow::Result<()>> + Send + 'static;
}

/// Runs one attempt in a task of its own, under the attempt deadline; logs whatever it ends with.
async fn run_one<A: Attempt>(outbox: &Outbox, handler: &A, lease: Lease) {
    let job = lease.job;
    let deadline = outbox.policy().attempt_deadline();
    let task = tokio::spawn(handler.attempt(lease));
    let abort = task.abort_handle();
    match tokio::time::timeout(deadline, task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) if e.is::<LeaseLost>() => {
            tracing::info!(kind = job.kind.as_str(), subject = %job.subject_id, "{e}");
        }
        Ok(Ok(Err(e))) => {
            note_dead_connection(&e);
            // The lease runs out and the job is claimed again: nothing is dropped.
            tracing::error!(error = format!("{e:#}"), kind = job.kind.as_str(), subject = %job.subject_id, "job attempt failed");
        }
        Ok(Err(e)) => {
            let what = if e.is_panic() { "panicked" } else { "was cancelled" };
            tracing::error!(kind = job.kind.as_str(), subject = %job.subject_id, error = %e, "job attempt {what}; it will be retried");
        }
        Err(_) => {
            abort.abort();
            tracing::warn!(
                kind = job.kind.as_str(),
                subject = %job.subject_id,
                deadline_ms = deadline.as_millis() as u64,
                "job attempt cut off at its deadline; it will be retried"
            );
            // Give it back now rather than when its lease runs out; a send it may have started
            // stays open (it may still commit), so it is only looked at until the window passes.
            let released = sqlx::query!(
                r#"UPDATE jobs SET locked_until = NULL, last_error = 'attempt deadline', updated_at = now()
                   WHERE kind = $1 AND subject_id = $2 AND attempts = $3"#,
                job.kind.as_str(),
                job.subject_id,
                job.attempts
            )
            .execute(outbox.db())
            .await;
            if let Err(e) = released {
                tracing::warn!(error = %e, "could not give back a job cut off at its deadline");
            }
        }
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

/// Claims due work and runs it until `shutdown` turns true; the attempts in flight then are
/// finished first.
pub async fn run<A: Attempt>(
    outbox: Outbox,
    handler: A,
    kinds: &[JobKind],
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    tracing::info!(
        poll_ms = poll.as_millis() as u64,
        concurrency = CONCURRENCY,
        kinds = ?names,
        "outbox worker started"
    );
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Claim only as many jobs as there are free slots: a claimed job waiting for a slot would
        // spend its lease waiting.
        let free = slots.available_permits();
        let claimed = if free == 0 {
            Vec::new()
        } else {
            match outbox.claim(kinds, free as i64, Utc::now()).await {
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
            let (outbox, handler) = (outbox.clone(), handler.clone());
            tokio::spawn(async move {
                run_one(&outbox, &handler, lease).await;
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
    tracing::info!("outbox worker stopped");
}

/// One round over every job due before `due_before` that nobody holds (tests and tools use it to
/// settle now rather than after the backoff): claimed `CONCURRENCY` at a time, as the loop does, and
/// each job once. Returns how many jobs it worked on.
pub async fn run_due<A: Attempt>(outbox: &Outbox, handler: &A, due_before: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut done = Vec::new();
    loop {
        let jobs = outbox
            .claim_except(&JobKind::ALL, CONCURRENCY as i64, due_before, &done)
            .await?;
        if jobs.is_empty() {
            return Ok(done.len());
        }
        done.extend(jobs.iter().map(|lease| lease.job.subject_id));
        futures::future::join_all(jobs.into_iter().map(|lease| run_one(outbox, handler, lease))).await;
    }
}
