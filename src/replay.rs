//! The replay worker, one in every replica beside the API: it settles what the outbox holds
//! (registrations whose outcome is unknown, cancellations, event creations, holds that end) and
//! delivers webhooks. The outbox ([`crate::outbox`]) claims, leases, fences and retries; this
//! module only says which attempt each kind of job gets. Webhook deliveries run in slots of their
//! own, so a slow or failing receiver never holds up the ledger.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::activities::Activities;
// The webhook body carries the resource as the API shows it.
use crate::http::views;
use crate::ledger::Ledger;
use crate::outbox::{JobKind, Lease, Outbox, runner};
use crate::webhooks::{Resource, Webhooks};

/// What the worker needs to settle every kind of job. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    pub outbox: Outbox,
    pub ledger: Ledger,
    pub activities: Activities,
    pub webhooks: Webhooks,
}

impl runner::Attempt for Worker {
    fn attempt(&self, lease: Lease) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let worker = self.clone();
        async move {
            match lease.job.kind {
                JobKind::Register => worker.ledger.attempt_register(lease).await,
                JobKind::Cancel => worker.ledger.attempt_cancel(lease, true).await,
                JobKind::CreateEvent => worker.activities.attempt_create(lease, true).await,
                JobKind::UpdateEvent => worker.activities.attempt_update(lease, true).await,
                JobKind::EndHold => worker.ledger.attempt_end_hold(lease).await,
                JobKind::DeliverWebhook => worker.deliver(lease).await,
            }
        }
    }
}

impl Worker {
    /// Delivers a webhook event, with its resource as it stands now as `data`.
    async fn deliver(&self, lease: Lease) -> anyhow::Result<()> {
        let Some(event) = self.webhooks.event(lease.job.subject_id).await? else {
            lease.finish_alone().await?;
            return Ok(());
        };
        let id = event.subject_id;
        let data = match event.kind.resource() {
            Resource::Registration => {
                serde_json::to_value(self.ledger.registration(id).await?.map(views::Registration::from))?
            }
            Resource::TicketSale => {
                serde_json::to_value(self.ledger.ticket_sale(id).await?.map(views::TicketSale::from))?
            }
            Resource::Activity => match self.activities.shop_activity_id(id).await? {
                Some((customer, shop_id)) => match self.activities.get(customer, &shop_id).await? {
                    Some(row) => serde_json::json!({
                        "shopActivityId": row.shop_activity_id,
                        "eventId": row.event_id,
                        "url": row.event_url,
                        "status": row.status,
                        "linked": row.linked,
                        "version": row.version,
                        "eventVersion": row.event_version,
                        "eventStatus": row.event_status,
                    }),
                    None => serde_json::Value::Null,
                },
                None => serde_json::Value::Null,
            },
        };
        self.webhooks.attempt_deliver(lease, event, data).await
    }
}

/// Runs until `shutdown` turns true; the attempts in flight then are finished first.
pub async fn run(worker: Worker, poll: Duration, shutdown: watch::Receiver<bool>) {
    let deliveries = runner::run(
        worker.outbox.clone(),
        worker.clone(),
        &[JobKind::DeliverWebhook],
        poll,
        shutdown.clone(),
    );
    let ledger = runner::run(worker.outbox.clone(), worker, &JobKind::LEDGER, poll, shutdown);
    tokio::join!(ledger, deliveries);
}

/// One round over every job not leased by someone else, due or not (tests and tools use it to
/// settle now rather than after the backoff). Returns how many jobs it worked on.
pub async fn drain(worker: &Worker) -> anyhow::Result<usize> {
    runner::run_due(&worker.outbox, worker, Utc::now() + chrono::Duration::days(36_500)).await
}
