//! Shop activities as UiTdatabank events: each activity is created once through the Entry API
//! `POST /events`, its event id kept in PostgreSQL, and a creation UiTdatabank could not confirm
//! is replayed by the worker like a sale.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::customers::Customers;
use crate::outbox::{JobKind, Lease, Outbox};
use crate::problem::Problem;
use crate::uitpas::UpstreamError;
use crate::webhooks::{EventType, Webhooks};

/// Where the creation of an activity's event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActivityStatus {
    /// Stored; UiTdatabank has not confirmed the event yet (the worker will create it).
    Pending,
    /// The event exists.
    Created,
    /// UiTdatabank refused the event.
    Rejected,
}

impl ActivityStatus {
    fn parse(s: &str) -> Self {
        match s {
            "created" => ActivityStatus::Created,
            "rejected" => ActivityStatus::Rejected,
            _ => ActivityStatus::Pending,
        }
    }
}

/// An activity as stored.
#[derive(Debug, Clone)]
pub struct ActivityRow {
    pub id: Uuid,
    pub shop_activity_id: String,
    pub request: serde_json::Value,
    pub status: ActivityStatus,
    pub event_id: Option<String>,
    pub event_url: Option<String>,
    pub problem: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum PutOutcome {
    /// Stored now; created (or pending) by this request.
    New(ActivityRow),
    /// Known already with the same details.
    Existing(ActivityRow),
    /// Known already with other details (an event is never made twice for one activity).
    Changed(ActivityRow),
    Rejected(Problem),
}

/// Creates and reads activities' events. Cheap to clone.
#[derive(Clone)]
pub struct Activities {
    db: PgPool,
    outbox: Outbox,
    webhooks: Webhooks,
    customers: Customers,
    /// How long a repeated request waits for the first one's call to UiTdatabank to end.
    wait_in_flight: Duration,
}

impl Activities {
    pub fn new(db: PgPool, outbox: Outbox, customers: Customers, webhooks: Webhooks, wait_in_flight: Duration) -> Self {
        Self {
            db,
            outbox,
            webhooks,
            customers,
            wait_in_flight,
        }
    }

    /// Registers the activity's event once: `request` is the activity in normal form, `event`
    /// the Entry API body made from it.
    #[tracing::instrument(skip_all, fields(shop_activity_id = %shop_activity_id), err)]
    pub async fn put(
        &self,
        customer_id: Uuid,
        shop_activity_id: &str,
        request: &serde_json::Value,
        event: &serde_json::Value,
    ) -> anyhow::Result<PutOutcome> {
        let id = Uuid::new_v4();
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query_scalar!(
            r#"INSERT INTO activities (id, customer_id, shop_activity_id, request, event_body, status)
               VALUES ($1, $5, $2, $3, $4, 'pending')
               ON CONFLICT (customer_id, shop_activity_id) DO NOTHING
               RETURNING id"#,
            id,
            shop_activity_id,
            request,
            event,
            customer_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if inserted {
            let lease = self.outbox.enqueue_leased(&mut tx, JobKind::CreateEvent, id).await?;
            tx.commit().await?;
            if let Some(lease) = lease {
                self.attempt_create(lease, false).await?;
            }
            let row = self
                .get(customer_id, shop_activity_id)
                .await?
                .context("a stored activity")?;
            return Ok(match rejection(&row)? {
                Some(problem) => PutOutcome::Rejected(problem),
                None => PutOutcome::New(row),
            });
        }
        tx.rollback().await?;
        let existing = self
            .get(customer_id, shop_activity_id)
            .await?
            .context("an existing activity")?;
        if existing.request != *request {
            return Ok(PutOutcome::Changed(existing));
        }
        // Another request may be creating it right now: answer with its outcome.
        self.outbox
            .wait_while_in_flight(JobKind::CreateEvent, existing.id, self.wait_in_flight)
            .await?;
        let row = self
            .get(customer_id, shop_activity_id)
            .await?
            .context("an existing activity")?;
        Ok(match rejection(&row)? {
            Some(problem) => PutOutcome::Rejected(problem),
            None => PutOutcome::Existing(row),
        })
    }

    /// The customer and shop activity id of an activity, by our id.
    pub async fn shop_activity_id(&self, id: Uuid) -> anyhow::Result<Option<(Uuid, String)>> {
        Ok(
            sqlx::query!("SELECT customer_id, shop_activity_id FROM activities WHERE id = $1", id)
                .fetch_optional(&self.db)
                .await?
                .map(|r| (r.customer_id, r.shop_activity_id)),
        )
    }

    pub async fn get(&self, customer_id: Uuid, shop_activity_id: &str) -> anyhow::Result<Option<ActivityRow>> {
        let row = sqlx::query!(
            r#"SELECT id, shop_activity_id, request, status, event_id, event_url, problem, created_at
               FROM activities WHERE customer_id = $1 AND shop_activity_id = $2"#,
            customer_id,
            shop_activity_id
        )
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|r| ActivityRow {
            id: r.id,
            shop_activity_id: r.shop_activity_id,
            request: r.request,
            status: ActivityStatus::parse(&r.status),
            event_id: r.event_id,
            event_url: r.event_url,
            problem: r.problem,
            created_at: r.created_at,
        }))
    }

    /// One attempt to create the event, under `lease`.
    #[tracing::instrument(skip_all, fields(activity = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    /// `notify`: the shop hears the outcome through a webhook (no HTTP answer tells it).
    pub async fn attempt_create(&self, mut lease: Lease, notify: bool) -> anyhow::Result<()> {
        let job = lease.job;
        let found = sqlx::query!(
            "SELECT customer_id, event_body FROM activities WHERE id = $1 AND status = 'pending'",
            job.subject_id
        )
        .fetch_optional(&self.db)
        .await?;
        let Some(found) = found else {
            lease.finish_alone().await?;
            return Ok(());
        };
        let client = self.customers.client(found.customer_id)?;
        lease.begin_send().await?;
        match client.create_event(&found.event_body).await {
            Ok(created) => {
                let mut tx = self.db.begin().await?;
                if lease.finish(&mut tx).await? {
                    sqlx::query!(
                        r#"UPDATE activities SET status = 'created', event_id = $2, event_url = $3, updated_at = now()
                           WHERE id = $1 AND status = 'pending'"#,
                        job.subject_id,
                        created.id,
                        created.url
                    )
                    .execute(&mut *tx)
                    .await?;
                    if notify {
                        self.webhooks
                            .enqueue(&mut tx, EventType::ActivityCreated, job.subject_id)
                            .await?;
                    }
                    tx.commit().await?;
                    tracing::info!(event_id = %created.id, "UiTdatabank event created");
                }
                Ok(())
            }
            Err(UpstreamError::UiTdatabank(refused))
                if matches!(*refused, UpstreamError::Problem { status: 400, .. }) =>
            {
                let problem = serde_json::to_value(Problem::from_upstream(&refused))?;
                let mut tx = self.db.begin().await?;
                if lease.finish(&mut tx).await? {
                    sqlx::query!(
                        r#"UPDATE activities SET status = 'rejected', problem = $2, updated_at = now()
                           WHERE id = $1 AND status = 'pending'"#,
                        job.subject_id,
                        problem
                    )
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                }
                Ok(())
            }
            // The credentials or the permission refused: a person must fix them first.
            Err(UpstreamError::UiTdatabank(refused))
                if matches!(
                    *refused,
                    UpstreamError::Problem { status: 401 | 403, .. } | UpstreamError::Status(401 | 403)
                ) =>
            {
                let e = UpstreamError::UiTdatabank(refused);
                let problem = serde_json::to_value(Problem::from_upstream(&e))?;
                lease.park(&problem, &e.to_string()).await?;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "event creation not confirmed: it will be replayed");
                lease.retry_later(&e.to_string(), true).await?;
                Ok(())
            }
        }
    }
}

fn rejection(row: &ActivityRow) -> anyhow::Result<Option<Problem>> {
    match (&row.status, &row.problem) {
        (ActivityStatus::Rejected, Some(p)) => Ok(Some(serde_json::from_value(p.clone())?)),
        _ => Ok(None),
    }
}
