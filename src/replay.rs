//! The replay worker, one in every replica beside the API: it claims due jobs (registrations whose
//! outcome is unknown, cancellations not yet confirmed) and settles them, until shutdown.
//! Replicas share the work through `FOR UPDATE SKIP LOCKED` and leases; nothing is ever dropped.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::ledger::Ledger;

/// Jobs claimed per round.
const BATCH: i64 = 32;

/// Runs until `shutdown` turns true; a job in flight then is finished first.
pub async fn run(ledger: Ledger, poll: Duration, mut shutdown: watch::Receiver<bool>) {
    tracing::info!(poll_ms = poll.as_millis() as u64, "replay worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let claimed = match ledger.run_due(BATCH, Utc::now()).await {
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
pub async fn drain(ledger: &Ledger) -> anyhow::Result<usize> {
    ledger
        .run_due(10_000, Utc::now() + chrono::Duration::days(36_500))
        .await
}
