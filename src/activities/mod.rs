//! Shop activities as UiTdatabank events, kept in step with the shop.
//!
//! An activity gets its event once: created through the Entry API `POST /events`, or an event that
//! exists already is linked. Every accepted change after that (its details, its status, its
//! deletion) is a new *version*, stored in `activity_versions`; one outbox job per activity brings
//! the event to the latest version (`create_event` while there is none, `update_event` after), and
//! `event_version` records the version UiTdatabank has. The jobs re-read the version when they
//! settle, under the activity's row lock, so a change that arrives while a call is in flight is
//! sent next rather than lost ([`jobs`]).
//!
//! `POST /events` is not idempotent and its answer can be lost after UiTdatabank stored the event.
//! Every event this service creates carries a hidden label of its own activity
//! ([`event_label`]); before sending again after an unknown outcome, the worker looks the label
//! up (UiTdatabank's Search API) and adopts the event it finds, and sends again only when there is
//! none **and** the earlier send can no longer commit (the settle window, which also covers the
//! seconds the Search API takes to index a new event).

pub mod jobs;
mod model;

pub use model::*;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::customers::Customers;
use crate::outbox::{Kind, Lease, Outbox};
use crate::uitpas::{UitpasClient, UpstreamError};
use crate::webhooks::Webhooks;

/// The hidden label on every event this service creates, naming its activity: what finds the
/// event of a `POST /events` whose answer was lost.
pub fn event_label(activity_id: Uuid) -> String {
    format!("uitpas-checkout-{}", activity_id.simple())
}

/// Creates, links, updates and deletes activities' events. Cheap to clone.
#[derive(Clone)]
pub struct Activities {
    pub(crate) db: PgPool,
    pub(crate) outbox: Outbox,
    pub(crate) webhooks: Webhooks,
    pub(crate) customers: Customers,
    /// How long a repeated request waits for the first one's call to UiTdatabank to end.
    wait_in_flight: Duration,
}

/// The activity's row, read under its lock.
struct Locked {
    id: Uuid,
    status: ActivityStatus,
    request: Value,
    linked: bool,
    event_id: Option<String>,
    event_status: Option<Value>,
}

/// The Entry API body of an event: its details, its status (on the event and on each occurrence,
/// since a calendar or full update without them makes them Available again) and the hidden label.
/// The one builder of `POST /events` and `PUT /events/{id}`; the sub-resources take parts of it.
pub fn event_body(details: &Value, status: Option<&Value>, label: &str) -> Value {
    let mut body = details.clone();
    if let Some(status) = status {
        body["status"] = status.clone();
        if let Some(subs) = body.get_mut("subEvent").and_then(Value::as_array_mut) {
            for sub in subs {
                sub["status"] = status.clone();
            }
        }
    }
    body["hiddenLabels"] = json!([label]);
    body
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

    // --- what the shop asks ---

    /// Registers the activity's event once, or takes a change of it as a new version: `request` is
    /// the activity in normal form, `details` the Entry API body made from it.
    #[tracing::instrument(skip_all, fields(shop_activity_id = %shop_activity_id), err)]
    pub async fn put(
        &self,
        customer_id: Uuid,
        shop_activity_id: &str,
        request: &Value,
        details: &Value,
    ) -> anyhow::Result<PutOutcome> {
        let id = Uuid::new_v4();
        let mut tx = crate::db::begin(&self.db).await?;
        let inserted = sqlx::query_scalar!(
            r#"INSERT INTO activities (id, customer_id, shop_activity_id, request, event_body, status)
               VALUES ($1, $5, $2, $3, $4, 'pending')
               ON CONFLICT (customer_id, shop_activity_id) DO NOTHING
               RETURNING id"#,
            id,
            shop_activity_id,
            request,
            details,
            customer_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if inserted {
            record_version(&mut tx, id).await?;
            let lease = self.outbox.enqueue_leased(&mut tx, jobs::CREATE_EVENT, id).await?;
            tx.commit().await?;
            self.run_now(jobs::CREATE_EVENT, id, lease).await?;
            let row = self
                .get(customer_id, shop_activity_id)
                .await?
                .context("a stored activity")?;
            return Ok(match row.refusal()? {
                Some(problem) => PutOutcome::Rejected(problem),
                None => PutOutcome::New(row),
            });
        }
        let existing = lock(&mut tx, customer_id, shop_activity_id)
            .await?
            .context("an existing activity")?;
        if existing.status == ActivityStatus::Deleted || existing.linked {
            tx.rollback().await?;
            let row = self
                .get(customer_id, shop_activity_id)
                .await?
                .context("an existing activity")?;
            return Ok(if row.linked {
                PutOutcome::Linked(row)
            } else {
                PutOutcome::Deleted(row)
            });
        }
        if existing.request == *request {
            tx.rollback().await?;
            // Another request may be working on it right now: answer with its outcome.
            self.wait_while_in_flight(existing.id).await?;
            let row = self
                .get(customer_id, shop_activity_id)
                .await?
                .context("an existing activity")?;
            return Ok(match row.refusal()? {
                Some(problem) => PutOutcome::Rejected(problem),
                None => PutOutcome::Existing(row),
            });
        }
        // A change. A refused activity is sent again (its refused send made nothing: no look).
        sqlx::query!(
            r#"UPDATE activities SET version = version + 1, request = $2, event_body = $3,
                      status = CASE WHEN status = 'rejected' THEN 'pending' ELSE status END,
                      sent_version = CASE WHEN status = 'rejected' THEN NULL ELSE sent_version END,
                      updated_at = now()
               WHERE id = $1"#,
            existing.id,
            request,
            details
        )
        .execute(&mut *tx)
        .await?;
        record_version(&mut tx, existing.id).await?;
        let kind = job_kind(existing.event_id.as_deref());
        let lease = self.outbox.enqueue_leased(&mut tx, kind, existing.id).await?;
        tx.commit().await?;
        tracing::info!(activity = %existing.id, "activity changed: a new version for UiTdatabank");
        self.run_now(kind, existing.id, lease).await?;
        let row = self
            .get(customer_id, shop_activity_id)
            .await?
            .context("an existing activity")?;
        Ok(match row.refusal()? {
            Some(problem) => PutOutcome::Rejected(problem),
            None => PutOutcome::Changed {
                created_now: existing.status != ActivityStatus::Created && row.status == ActivityStatus::Created,
                row,
            },
        })
    }

    /// Whether an existing event can be linked: UiTdatabank has it (not deleted) and it takes part
    /// in UiTPAS. `Ok(Ok((url, organizer)))`: it can (`organizer`: the event's, when it has one).
    pub async fn linkable(
        &self,
        uitpas: &UitpasClient,
        event_id: &str,
    ) -> Result<Result<(String, Option<String>), LinkRefusal>, UpstreamError> {
        let organizer = match uitpas.event(event_id).await {
            Ok(event) if event.get("workflowStatus").and_then(Value::as_str) == Some("DELETED") => {
                return Ok(Err(LinkRefusal::NotFound));
            }
            Ok(event) => event
                .pointer("/organizer/@id")
                .and_then(Value::as_str)
                .and_then(|url| url.trim_end_matches('/').rsplit('/').next())
                .map(str::to_owned),
            Err(e) if jobs::is_not_found(&e) => return Ok(Err(LinkRefusal::NotFound)),
            Err(e) => return Err(e),
        };
        match uitpas.event_card_systems(event_id).await {
            Ok(systems) if systems.iter().any(|cs| cs.enabled) => Ok(Ok((uitpas.event_url(event_id), organizer))),
            Ok(_) => Ok(Err(LinkRefusal::NotInUitpas)),
            // UiTPAS does not know the event: it takes part in no card system.
            Err(UpstreamError::Problem { status: 404, .. }) => Ok(Err(LinkRefusal::NotInUitpas)),
            Err(e) => Err(e),
        }
    }

    /// Links an existing event (checked with [`Self::linkable`]) to a new activity; `request` is
    /// `{"eventId": …}`.
    #[tracing::instrument(skip_all, fields(shop_activity_id = %shop_activity_id), err)]
    pub async fn link(
        &self,
        customer_id: Uuid,
        shop_activity_id: &str,
        request: &Value,
        event_id: &str,
        event_url: &str,
    ) -> anyhow::Result<LinkOutcome> {
        let id = Uuid::new_v4();
        let mut tx = crate::db::begin(&self.db).await?;
        let inserted = sqlx::query_scalar!(
            r#"INSERT INTO activities (id, customer_id, shop_activity_id, request, status, event_id, event_url, linked,
                                      event_version)
               VALUES ($1, $6, $2, $3, 'created', $4, $5, true, 1)
               ON CONFLICT (customer_id, shop_activity_id) DO NOTHING
               RETURNING id"#,
            id,
            shop_activity_id,
            request,
            event_id,
            event_url,
            customer_id
        )
        .fetch_optional(&mut *tx)
        .await;
        let inserted = match inserted {
            Ok(inserted) => inserted.is_some(),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(LinkOutcome::EventTaken),
            Err(e) => return Err(e.into()),
        };
        if inserted {
            record_version(&mut tx, id).await?;
            tx.commit().await?;
            tracing::info!(activity = %id, event_id, "existing UiTdatabank event linked");
            let row = self
                .get(customer_id, shop_activity_id)
                .await?
                .context("a stored activity")?;
            return Ok(LinkOutcome::New(row));
        }
        tx.rollback().await?;
        let row = self
            .get(customer_id, shop_activity_id)
            .await?
            .context("an existing activity")?;
        Ok(
            if row.linked && row.request == *request && row.status != ActivityStatus::Deleted {
                LinkOutcome::Existing(row)
            } else {
                LinkOutcome::Conflict(row)
            },
        )
    }

    /// Gives the activity's event a status (`PUT /events/{id}/status`), as a new version.
    #[tracing::instrument(skip_all, fields(shop_activity_id = %shop_activity_id), err)]
    pub async fn set_status(
        &self,
        customer_id: Uuid,
        shop_activity_id: &str,
        status: &EventStatus,
    ) -> anyhow::Result<StatusOutcome> {
        let wanted = serde_json::to_value(status)?;
        let mut tx = crate::db::begin(&self.db).await?;
        let Some(existing) = lock(&mut tx, customer_id, shop_activity_id).await? else {
            return Ok(StatusOutcome::NotFound);
        };
        let unchanged = match &existing.event_status {
            Some(current) => *current == wanted,
            None => *status == EventStatus::AVAILABLE,
        };
        let refused = matches!(existing.status, ActivityStatus::Deleted | ActivityStatus::Rejected);
        if unchanged || refused {
            tx.rollback().await?;
            if unchanged && !refused {
                self.wait_while_in_flight(existing.id).await?;
            }
            let row = self
                .get(customer_id, shop_activity_id)
                .await?
                .context("an existing activity")?;
            return Ok(if refused {
                StatusOutcome::Refused(row)
            } else {
                StatusOutcome::Unchanged(row)
            });
        }
        sqlx::query!(
            "UPDATE activities SET version = version + 1, event_status = $2, updated_at = now() WHERE id = $1",
            existing.id,
            wanted
        )
        .execute(&mut *tx)
        .await?;
        record_version(&mut tx, existing.id).await?;
        let kind = job_kind(existing.event_id.as_deref());
        let lease = self.outbox.enqueue_leased(&mut tx, kind, existing.id).await?;
        tx.commit().await?;
        self.run_now(kind, existing.id, lease).await?;
        let row = self
            .get(customer_id, shop_activity_id)
            .await?
            .context("an existing activity")?;
        Ok(StatusOutcome::Changed(row))
    }

    /// Deletes the activity: its event is soft-deleted (`DELETE /events/{id}`), a linked event is
    /// left to its organizer, and a pending creation is settled first (an event it made after all
    /// is deleted). The activity as deleted (now or before; `work_left` tells whether UiTdatabank
    /// has the deletion yet), or `None` when there is no such activity.
    #[tracing::instrument(skip_all, fields(shop_activity_id = %shop_activity_id), err)]
    pub async fn delete(&self, customer_id: Uuid, shop_activity_id: &str) -> anyhow::Result<Option<ActivityRow>> {
        let mut tx = crate::db::begin(&self.db).await?;
        let Some(existing) = lock(&mut tx, customer_id, shop_activity_id).await? else {
            return Ok(None);
        };
        if existing.status == ActivityStatus::Deleted {
            tx.rollback().await?;
            self.wait_while_in_flight(existing.id).await?;
            return self.get(customer_id, shop_activity_id).await;
        }
        // A linked event is not ours to delete: UiTdatabank has this version at once.
        sqlx::query!(
            r#"UPDATE activities SET version = version + 1, status = 'deleted',
                      event_version = CASE WHEN linked THEN version + 1 ELSE event_version END,
                      updated_at = now()
               WHERE id = $1"#,
            existing.id
        )
        .execute(&mut *tx)
        .await?;
        record_version(&mut tx, existing.id).await?;
        let kind = match (existing.linked, existing.status) {
            (true, _) | (_, ActivityStatus::Rejected) => None,
            _ => Some(job_kind(existing.event_id.as_deref())),
        };
        let lease = match kind {
            Some(kind) => self.outbox.enqueue_leased(&mut tx, kind, existing.id).await?,
            None => None,
        };
        tx.commit().await?;
        tracing::info!(activity = %existing.id, "activity deleted");
        if let Some(kind) = kind {
            self.run_now(kind, existing.id, lease).await?;
        }
        self.get(customer_id, shop_activity_id).await
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

    /// The client of the customer whose activity `id` is: its work goes out with that customer's
    /// credentials.
    pub(crate) async fn client_of(&self, id: Uuid) -> anyhow::Result<Arc<UitpasClient>> {
        let customer = sqlx::query_scalar!("SELECT customer_id FROM activities WHERE id = $1", id)
            .fetch_one(&self.db)
            .await?;
        Ok(self.customers.client(customer)?)
    }

    pub async fn get(&self, customer_id: Uuid, shop_activity_id: &str) -> anyhow::Result<Option<ActivityRow>> {
        let row = sqlx::query!(
            r#"SELECT a.id, a.shop_activity_id, a.request, a.status AS "status: ActivityStatus", a.event_id, a.event_url, a.problem,
                      a.problem_version, a.linked, a.version, a.event_version, a.event_status,
                      a.created_at, a.updated_at,
                      (SELECT w.problem FROM outbox_work w
                        WHERE w.subject_id = a.id AND w.kind IN ('create_event', 'update_event')
                          AND w.parked_at IS NOT NULL LIMIT 1) AS attention,
                      EXISTS (SELECT 1 FROM outbox_work w
                               WHERE w.subject_id = a.id AND w.kind IN ('create_event', 'update_event'))
                        AS "work_left!"
               FROM activities a WHERE a.customer_id = $1 AND a.shop_activity_id = $2"#,
            customer_id,
            shop_activity_id
        )
        .fetch_optional(&self.db)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let refused = r.problem.is_some() && r.problem_version == Some(r.version);
        Ok(Some(ActivityRow {
            id: r.id,
            shop_activity_id: r.shop_activity_id,
            request: r.request,
            status: r.status,
            event_id: r.event_id,
            event_url: r.event_url,
            problem: if refused { r.problem } else { r.attention },
            refused,
            linked: r.linked,
            version: r.version,
            event_version: r.event_version,
            event_status: r
                .event_status
                .map(serde_json::from_value)
                .transpose()
                .context("a stored event status")?,
            work_left: r.work_left,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }))
    }

    /// Runs the job just stored (or claims it, when it was there already and nobody holds it) in
    /// this request: the shop's answer then mostly says where UiTdatabank stands.
    async fn run_now(&self, kind: Kind, id: Uuid, lease: Option<Lease>) -> anyhow::Result<()> {
        let lease = match lease {
            Some(lease) => Some(lease),
            None => self.outbox.claim_subject(kind, id).await?,
        };
        self.outbox
            .attempt_now(lease, async |lease| self.drive(lease, false).await)
            .await?;
        Ok(())
    }

    async fn wait_while_in_flight(&self, id: Uuid) -> anyhow::Result<()> {
        for kind in [jobs::CREATE_EVENT, jobs::UPDATE_EVENT] {
            self.outbox.wait_while_in_flight(kind, id, self.wait_in_flight).await?;
        }
        Ok(())
    }
}

/// The job that brings UiTdatabank to an activity's latest version: creating its event while it
/// has none, updating it after.
fn job_kind(event_id: Option<&str>) -> Kind {
    if event_id.is_some() {
        jobs::UPDATE_EVENT
    } else {
        jobs::CREATE_EVENT
    }
}

/// Stores the activity's current row as its version.
async fn record_version(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO activity_versions (activity_id, version, request, event_body, event_status, deleted)
           SELECT id, version, request, event_body, event_status, status = 'deleted'
           FROM activities WHERE id = $1"#,
        id
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// The activity, locked until `tx` ends: changes of one activity, and the jobs settling them,
/// take turns (a job that settles sees every version stored before it).
async fn lock(tx: &mut PgConnection, customer_id: Uuid, shop_activity_id: &str) -> sqlx::Result<Option<Locked>> {
    let row = sqlx::query!(
        r#"SELECT id, status AS "status: ActivityStatus", request, linked, event_id, event_status
           FROM activities WHERE customer_id = $1 AND shop_activity_id = $2 FOR UPDATE"#,
        customer_id,
        shop_activity_id
    )
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|r| Locked {
        id: r.id,
        status: r.status,
        request: r.request,
        linked: r.linked,
        event_id: r.event_id,
        event_status: r.event_status,
    }))
}

/// The activity's latest version, locked until `tx` ends.
pub(crate) async fn lock_version(tx: &mut PgConnection, id: Uuid) -> anyhow::Result<i32> {
    sqlx::query_scalar!("SELECT version FROM activities WHERE id = $1 FOR UPDATE", id)
        .fetch_one(tx)
        .await
        .context("an activity being settled")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_names_the_activity() {
        let id = Uuid::parse_str("0b3c7c1e-2f2a-4b7e-9d4f-5a6b7c8d9e0f").unwrap();
        assert_eq!(event_label(id), "uitpas-checkout-0b3c7c1e2f2a4b7e9d4f5a6b7c8d9e0f");
    }
}
