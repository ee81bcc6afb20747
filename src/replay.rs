//! The replay worker, one in every replica beside the API: it settles what the outbox holds
//! (registrations whose outcome is unknown, cancellations and event creations not yet confirmed).
//! The outbox ([`crate::outbox`]) claims, leases, fences and retries; this module only says which
//! attempt each kind of job gets.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::activities::Activities;
use crate::ledger::Ledger;
use crate::outbox::{JobKind, Lease, Outbox, runner};

/// What the worker needs to settle every kind of job. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    pub outbox: Outbox,
    pub ledger: Ledger,
    pub activities: Activities,
}

impl runner::Attempt for Worker {
    fn attempt(&self, lease: Lease) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let worker = self.clone();
        async move {
            match lease.job.kind {
                JobKind::Register => worker.ledger.attempt_register(lease).await,
                JobKind::Cancel => worker.ledger.attempt_cancel(lease).await,
                JobKind::CreateEvent => worker.activities.attempt_create(lease).await,
                JobKind::EndHold => worker.ledger.attempt_end_hold(lease).await,
            }
        }
    }
}

/// Runs until `shutdown` turns true; the attempts in flight then are finished first.
pub async fn run(worker: Worker, poll: Duration, shutdown: watch::Receiver<bool>) {
    runner::run(worker.outbox.clone(), worker, poll, shutdown).await;
}

/// One round over every job not leased by someone else, due or not (tests and tools use it to
/// settle now rather than after the backoff). Returns how many jobs it worked on.
pub async fn drain(worker: &Worker) -> anyhow::Result<usize> {
    runner::run_due(&worker.outbox, worker, Utc::now() + chrono::Duration::days(36_500)).await
}
