//! Shop activities as UiTdatabank events, kept in step with the shop.
//!
//! An activity gets its event once: created through the Entry API `POST /events`, or an event that
//! exists already is linked. Every accepted change after that (its details, its status, its
//! deletion) is a new *version*, stored in `activity_versions`; one outbox job per activity brings
//! the event to the latest version (`create_event` while there is none, `update_event` after), and
//! `event_version` records the version UiTdatabank has. The jobs re-read the version when they
//! settle, under the activity's row lock, so a change that arrives while a call is in flight is
//! sent next rather than lost.
//!
//! `POST /events` is not idempotent and its answer can be lost after UiTdatabank stored the event.
//! Every event this service creates carries a hidden label of its own activity
//! ([`event_label`]); before sending again after an unknown outcome, the worker looks the label
//! up (UiTdatabank's Search API) and adopts the event it finds, and sends again only when there is
//! none **and** the earlier send can no longer commit (the settle window, which also covers the
//! seconds the Search API takes to index a new event).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::customers::Customers;
use crate::outbox::{JobKind, Lease, LeaseLost, Outbox, Sending};
use crate::problem::Problem;
use crate::uitpas::{Gated, UitpasClient, UpstreamError};
use crate::webhooks::{EventType, Webhooks};

/// How many versions one attempt brings an event through before it gives the job back.
const MAX_ROUNDS: usize = 4;

/// The event fields of a calendar (`PUT /events/{id}/calendar`).
const CALENDAR: [&str; 4] = ["calendarType", "subEvent", "startDate", "endDate"];

/// The hidden label on every event this service creates, naming its activity: what finds the
/// event of a `POST /events` whose answer was lost.
pub fn event_label(activity_id: Uuid) -> String {
    format!("uitpas-checkout-{}", activity_id.simple())
}

/// Where an activity's event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActivityStatus {
    /// Stored; UiTdatabank has not confirmed the event yet (the worker will create it).
    Pending,
    /// The event exists (made by the service, or linked).
    Created,
    /// UiTdatabank refused to create the event; a corrected activity is sent again.
    Rejected,
    /// The shop deleted the activity; its event is soft-deleted (a linked event is left as it is).
    Deleted,
}

impl ActivityStatus {
    fn parse(s: &str) -> Self {
        match s {
            "created" => ActivityStatus::Created,
            "rejected" => ActivityStatus::Rejected,
            "deleted" => ActivityStatus::Deleted,
            _ => ActivityStatus::Pending,
        }
    }
}

/// The Entry API's event status (`event.status`): whether the event happens as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventStatus {
    #[serde(rename = "type")]
    pub kind: EventStatusType,
    /// Why, per language (nl, fr, de, en), e.g. `{"nl": "Geannuleerd wegens ziekte"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<BTreeMap<String, String>>,
}

/// The Entry API's status types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventStatusType {
    /// Happening as scheduled.
    Available,
    /// Postponed, or temporarily closed.
    TemporarilyUnavailable,
    /// Cancelled, or permanently closed.
    Unavailable,
}

/// An activity as stored: its latest version, and what UiTdatabank has of it.
#[derive(Debug, Clone)]
pub struct ActivityRow {
    pub id: Uuid,
    pub shop_activity_id: String,
    pub request: Value,
    pub status: ActivityStatus,
    pub event_id: Option<String>,
    pub event_url: Option<String>,
    /// Why UiTdatabank refused the latest version, or why the work on it needs a person.
    pub problem: Option<Value>,
    /// UiTdatabank refused the latest version (`problem` says why).
    pub refused: bool,
    pub linked: bool,
    pub version: i32,
    /// The version UiTdatabank's event has.
    pub event_version: Option<i32>,
    pub event_status: Option<EventStatus>,
    /// Work on the event is left to do (a job exists, due, in flight or waiting for a person).
    pub work_left: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ActivityRow {
    /// UiTdatabank has everything of this activity there is to have.
    pub fn in_step(&self) -> bool {
        !self.work_left && (self.event_version == Some(self.version) || self.event_id.is_none())
    }

    /// The refusal of the latest version, if UiTdatabank refused it.
    fn refusal(&self) -> anyhow::Result<Option<Problem>> {
        match (&self.problem, self.refused) {
            (Some(p), true) => Ok(Some(serde_json::from_value(p.clone()).context("a stored problem")?)),
            _ => Ok(None),
        }
    }
}

#[derive(Debug)]
pub enum PutOutcome {
    /// Stored now; created (or pending) by this request.
    New(ActivityRow),
    /// Known already with the same details.
    Existing(ActivityRow),
    /// A change, accepted as a new version; `created_now`: the event was created by this request
    /// (a pending or refused activity).
    Changed { row: ActivityRow, created_now: bool },
    /// UiTdatabank refused the activity's latest version.
    Rejected(Problem),
    /// The activity was deleted: it takes no more changes.
    Deleted(ActivityRow),
    /// The activity is linked to an event that existed already: its details are not the shop's.
    Linked(ActivityRow),
}

#[derive(Debug)]
pub enum LinkOutcome {
    /// Linked now.
    New(ActivityRow),
    /// Linked before to the same event.
    Existing(ActivityRow),
    /// The activity exists with its own event, another link, or was deleted.
    Conflict(ActivityRow),
    /// The event belongs to another activity already.
    EventTaken,
}

/// Why an event cannot be linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// UiTdatabank has no such event, or it was deleted.
    NotFound,
    /// The event takes part in no UiTPAS card system.
    NotInUitpas,
}

#[derive(Debug)]
pub enum StatusOutcome {
    NotFound,
    /// The status asked for is the status already.
    Unchanged(ActivityRow),
    Changed(ActivityRow),
    /// A deleted or refused activity takes no status.
    Refused(ActivityRow),
}

/// Creates, links, updates and deletes activities' events. Cheap to clone.
#[derive(Clone)]
pub struct Activities {
    db: PgPool,
    outbox: Outbox,
    webhooks: Webhooks,
    customers: Customers,
    /// How long a repeated request waits for the first one's call to UiTdatabank to end.
    wait_in_flight: Duration,
}

/// What is left to do after one step of a job.
enum Next {
    Done,
    Create(Lease),
    Update(Lease),
}

/// What a look for an activity's event found.
enum Look {
    Found(String),
    Absent,
    Inconclusive(&'static str),
}

/// One call that brings an event to a version.
#[derive(Debug, PartialEq)]
enum Call {
    /// `PUT /events/{id}`: everything.
    Full(Value),
    PriceInfo(Value),
    Calendar(Value),
    Status(Value),
    Delete,
}

/// What a version asks of the event.
struct Version {
    event_body: Option<Value>,
    event_status: Option<Value>,
    deleted: bool,
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

/// What an answer of UiTdatabank means for the work that asked it.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// A clear "no" to this body (400): nothing was done, and the same body will not succeed.
    Refused,
    /// It cannot succeed without a person: credentials or permission refused.
    NeedsPerson,
    /// Answered, so the request ended upstream, without a clear outcome (5xx, 429): try later.
    Ended,
    /// No answer (timeout, reset) or a gateway's (502, 504): the request may still commit.
    Unknown,
}

fn verdict(e: &UpstreamError) -> Verdict {
    let e = match e {
        UpstreamError::UiTdatabank(inner) => inner.as_ref(),
        e => e,
    };
    match e {
        UpstreamError::Problem { status: 401 | 403, .. } | UpstreamError::Status(401 | 403) => Verdict::NeedsPerson,
        UpstreamError::Token(status) if (400..500).contains(status) && *status != 429 => Verdict::NeedsPerson,
        UpstreamError::Problem { status: 400, .. } | UpstreamError::Status(400) => Verdict::Refused,
        UpstreamError::Status(502 | 504) | UpstreamError::Timeout | UpstreamError::Unreachable(_) => Verdict::Unknown,
        _ => Verdict::Ended,
    }
}

fn is_not_found(e: &UpstreamError) -> bool {
    let e = match e {
        UpstreamError::UiTdatabank(inner) => inner.as_ref(),
        e => e,
    };
    matches!(
        e,
        UpstreamError::Problem { status: 404, .. } | UpstreamError::Status(404)
    )
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

/// `value` without `keys`.
fn without(value: &Value, keys: &[&str]) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        for key in keys {
            object.remove(*key);
        }
    }
    value
}

/// The calls that bring an event from the version it has to `target`: a full update when more
/// than its price or calendar changed, else only the parts that changed (an update of the whole
/// event also removes what the organizer added in UiTdatabank since).
fn plan(have: &Version, target: &Version, label: &str) -> Vec<Call> {
    if target.deleted {
        return if have.deleted { Vec::new() } else { vec![Call::Delete] };
    }
    let mut calls = Vec::new();
    if let (Some(had), Some(wanted)) = (&have.event_body, &target.event_body)
        && had != wanted
    {
        let body = event_body(wanted, target.event_status.as_ref(), label);
        let parts: Vec<&str> = CALENDAR.iter().copied().chain(["priceInfo"]).collect();
        if without(had, &parts) != without(wanted, &parts) {
            return vec![Call::Full(body)];
        }
        if had.get("priceInfo") != wanted.get("priceInfo") {
            calls.push(Call::PriceInfo(body["priceInfo"].clone()));
        }
        if CALENDAR.iter().any(|k| had.get(k) != wanted.get(k)) {
            let calendar: serde_json::Map<String, Value> = CALENDAR
                .iter()
                .chain(&["status"])
                .filter_map(|k| Some(((*k).to_owned(), body.get(*k)?.clone())))
                .collect();
            calls.push(Call::Calendar(Value::Object(calendar)));
        }
    }
    if have.event_status != target.event_status
        && let Some(status) = &target.event_status
    {
        calls.push(Call::Status(status.clone()));
    }
    calls
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
        let mut tx = self.db.begin().await?;
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
            let lease = self.outbox.enqueue_leased(&mut tx, JobKind::CreateEvent, id).await?;
            tx.commit().await?;
            if let Some(lease) = lease {
                self.attempt_create(lease, false).await?;
            }
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
            Err(e) if is_not_found(&e) => return Ok(Err(LinkRefusal::NotFound)),
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
        let mut tx = self.db.begin().await?;
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
        let mut tx = self.db.begin().await?;
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
        let mut tx = self.db.begin().await?;
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
    async fn client_of(&self, id: Uuid) -> anyhow::Result<Arc<UitpasClient>> {
        let customer = sqlx::query_scalar!("SELECT customer_id FROM activities WHERE id = $1", id)
            .fetch_one(&self.db)
            .await?;
        Ok(self.customers.client(customer)?)
    }

    pub async fn get(&self, customer_id: Uuid, shop_activity_id: &str) -> anyhow::Result<Option<ActivityRow>> {
        let row = sqlx::query!(
            r#"SELECT a.id, a.shop_activity_id, a.request, a.status, a.event_id, a.event_url, a.problem,
                      a.problem_version, a.linked, a.version, a.event_version, a.event_status,
                      a.created_at, a.updated_at,
                      (SELECT j.problem FROM jobs j
                        WHERE j.subject_id = a.id AND j.kind IN ('create_event', 'update_event')
                          AND j.parked_at IS NOT NULL LIMIT 1) AS attention,
                      EXISTS (SELECT 1 FROM jobs j
                               WHERE j.subject_id = a.id AND j.kind IN ('create_event', 'update_event'))
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
            status: ActivityStatus::parse(&r.status),
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
    async fn run_now(&self, kind: JobKind, id: Uuid, lease: Option<Lease>) -> anyhow::Result<()> {
        let lease = match lease {
            Some(lease) => Some(lease),
            None => self.outbox.claim_subject(kind, id).await?,
        };
        match lease {
            Some(lease) if kind == JobKind::CreateEvent => self.attempt_create(lease, false).await,
            Some(lease) => self.attempt_update(lease, false).await,
            None => Ok(()),
        }
    }

    async fn wait_while_in_flight(&self, id: Uuid) -> anyhow::Result<()> {
        for kind in [JobKind::CreateEvent, JobKind::UpdateEvent] {
            self.outbox.wait_while_in_flight(kind, id, self.wait_in_flight).await?;
        }
        Ok(())
    }

    // --- the work, under the outbox's leases ---

    /// One attempt to create the activity's event (and to bring it to a version that came
    /// meanwhile), under `lease`; `notify`: the shop hears the outcome through a webhook.
    pub async fn attempt_create(&self, lease: Lease, notify: bool) -> anyhow::Result<()> {
        self.drive(Next::Create(lease), notify).await
    }

    /// One attempt to bring the activity's event to its latest version, under `lease`.
    pub async fn attempt_update(&self, lease: Lease, notify: bool) -> anyhow::Result<()> {
        self.drive(Next::Update(lease), notify).await
    }

    async fn drive(&self, mut next: Next, notify: bool) -> anyhow::Result<()> {
        for _ in 0..MAX_ROUNDS {
            next = match next {
                Next::Done => return Ok(()),
                Next::Create(lease) => self.create_once(lease, notify).await?,
                Next::Update(lease) => self.update_once(lease, notify).await?,
            };
        }
        if let Next::Create(lease) | Next::Update(lease) = next {
            // The activity keeps changing: the worker takes it from here.
            lease
                .retry_after(Duration::ZERO, "the activity changed again meanwhile", true)
                .await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(activity = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    async fn create_once(&self, mut lease: Lease, notify: bool) -> anyhow::Result<Next> {
        let id = lease.job.subject_id;
        let mut tx = self.db.begin().await?;
        let row = sqlx::query!(
            r#"SELECT status, version, event_body, event_status, sent_version, event_id
               FROM activities WHERE id = $1 FOR UPDATE"#,
            id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let row = row.filter(|r| r.event_id.is_none() && matches!(r.status.as_str(), "pending" | "deleted"));
        let Some(row) = row else {
            // Created, refused, or deleted before anything was sent: nothing to create.
            lease.finish(&mut tx).await?;
            tx.commit().await?;
            return Ok(Next::Done);
        };
        tx.commit().await?;
        let client = self.client_of(id).await?;
        let label = event_label(id);
        if row.sent_version.is_some() || lease.open_send_age.is_some() {
            // An earlier send may have made the event: look for it before sending again. Measured
            // before looking: a look that starts after the window can trust an absence (the window,
            // SETTLE_WINDOW, also covers the few seconds the Search API takes to index an event).
            let window_left = lease.settle_window_left();
            match self.look(&client, &mut lease, &label).await? {
                Look::Found(event_id) => {
                    tracing::info!(%event_id, "UiTdatabank has this activity's event already: adopted");
                    let url = client.event_url(&event_id);
                    let at = row.sent_version.unwrap_or(row.version);
                    return self.settle_created(lease, &event_id, &url, at, notify).await;
                }
                Look::Inconclusive(why) => {
                    tracing::info!(
                        why,
                        "could not tell whether UiTdatabank has the event; looking again later"
                    );
                    lease.retry_later(why, false).await?;
                    return Ok(Next::Done);
                }
                Look::Absent if !window_left.is_zero() => {
                    let delay = lease
                        .policy()
                        .delay(lease.job.attempts)
                        .min(window_left + Duration::from_millis(100));
                    tracing::info!(
                        window_left_ms = window_left.as_millis() as u64,
                        "UiTdatabank has no event of this activity yet, but the earlier send may still make one: not sending again"
                    );
                    lease
                        .retry_after(delay, "waiting for the earlier send to settle", false)
                        .await?;
                    return Ok(Next::Done);
                }
                Look::Absent => {}
            }
        }
        if row.status == "deleted" {
            // Deleted before UiTdatabank made its event: nothing to make, nothing to delete.
            lease.finish_alone().await?;
            return Ok(Next::Done);
        }
        let Some(details) = row.event_body else {
            lease.finish_alone().await?;
            return Ok(Next::Done);
        };
        // Marked (under a renewed lease) before the send is recorded: a later attempt looks first.
        if let Err(e) = lease.renew().await {
            if e.is::<LeaseLost>() {
                tracing::info!("{e}: not sending");
                return Ok(Next::Done);
            }
            return Err(e);
        }
        sqlx::query!("UPDATE activities SET sent_version = $2 WHERE id = $1", id, row.version)
            .execute(&self.db)
            .await?;
        let body = event_body(&details, row.event_status.as_ref(), &label);
        // The send is recorded (and the lease checked) with the token in hand, right before the
        // request is written: see `uitpas::gate`.
        let answer = match client.create_event(&body, &mut Sending(&mut lease)).await {
            Gated::Called(answer) => answer,
            Gated::Refused(e) if e.is::<LeaseLost>() => {
                tracing::info!("{e}: not sending");
                return Ok(Next::Done);
            }
            Gated::Refused(e) => return Err(e),
        };
        match answer {
            Ok(created) => {
                tracing::info!(event_id = %created.id, "UiTdatabank event created");
                let url = created.url.unwrap_or_else(|| client.event_url(&created.id));
                self.settle_created(lease, &created.id, &url, row.version, notify).await
            }
            Err(e) => match verdict(&e) {
                Verdict::Refused => self.settle_refused(lease, &e, row.version, true, notify).await,
                Verdict::NeedsPerson => {
                    lease.send_answered();
                    lease
                        .park(&serde_json::to_value(Problem::from_upstream(&e))?, &e.to_string())
                        .await?;
                    Ok(Next::Done)
                }
                Verdict::Ended => {
                    tracing::warn!(error = %e, "event creation not confirmed: it will be replayed");
                    lease.retry_later(&e.to_string(), true).await?;
                    Ok(Next::Done)
                }
                Verdict::Unknown => {
                    tracing::warn!(error = %e, "event creation outcome unknown: it will be looked up");
                    lease.retry_later(&e.to_string(), false).await?;
                    Ok(Next::Done)
                }
            },
        }
    }

    /// Records the event made for version `at` (or found), if `lease` still holds the job; a
    /// version that came meanwhile is sent next.
    async fn settle_created(
        &self,
        lease: Lease,
        event_id: &str,
        event_url: &str,
        at: i32,
        notify: bool,
    ) -> anyhow::Result<Next> {
        let id = lease.job.subject_id;
        let mut tx = self.db.begin().await?;
        let version = lock_version(&mut tx, id).await?;
        if !lease.finish(&mut tx).await? {
            tracing::info!("lost the lease before recording the event; the next attempt will find it");
            return Ok(Next::Done);
        }
        sqlx::query!(
            r#"UPDATE activities SET status = CASE WHEN status = 'deleted' THEN 'deleted' ELSE 'created' END,
                      event_id = $2, event_url = $3, event_version = $4, problem = NULL, problem_version = NULL,
                      updated_at = now()
               WHERE id = $1"#,
            id,
            event_id,
            event_url,
            at
        )
        .execute(&mut *tx)
        .await?;
        if notify {
            self.webhooks.enqueue(&mut tx, EventType::ActivityCreated, id).await?;
        }
        let next = if version > at {
            self.outbox.enqueue_leased(&mut tx, JobKind::UpdateEvent, id).await?
        } else {
            None
        };
        tx.commit().await?;
        Ok(next.map_or(Next::Done, Next::Update))
    }

    /// Records UiTdatabank's refusal of version `at`. When the shop changed the activity meanwhile,
    /// the newer version is sent next instead of the activity staying refused.
    async fn settle_refused(
        &self,
        lease: Lease,
        e: &UpstreamError,
        at: i32,
        creating: bool,
        notify: bool,
    ) -> anyhow::Result<Next> {
        let id = lease.job.subject_id;
        let problem = serde_json::to_value(Problem::from_upstream(e))?;
        tracing::info!(error = %e, version = at, "UiTdatabank refused the activity");
        let mut tx = self.db.begin().await?;
        let version = lock_version(&mut tx, id).await?;
        if !lease.finish(&mut tx).await? {
            return Ok(Next::Done);
        }
        let newer = version > at;
        // A refused creation made nothing: the next send needs no look.
        sqlx::query!(
            r#"UPDATE activities SET problem = $2, problem_version = $3,
                      status = CASE WHEN $4 AND NOT $5 AND status = 'pending' THEN 'rejected' ELSE status END,
                      sent_version = CASE WHEN $4 THEN NULL ELSE sent_version END,
                      updated_at = now()
               WHERE id = $1"#,
            id,
            problem,
            at,
            creating,
            newer
        )
        .execute(&mut *tx)
        .await?;
        let kind = if creating {
            JobKind::CreateEvent
        } else {
            JobKind::UpdateEvent
        };
        let next = if newer {
            self.outbox.enqueue_leased(&mut tx, kind, id).await?
        } else {
            if notify {
                self.webhooks.enqueue(&mut tx, EventType::ActivityRejected, id).await?;
            }
            None
        };
        tx.commit().await?;
        Ok(match next {
            Some(lease) if creating => Next::Create(lease),
            Some(lease) => Next::Update(lease),
            None => Next::Done,
        })
    }

    #[tracing::instrument(skip_all, fields(activity = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    async fn update_once(&self, mut lease: Lease, notify: bool) -> anyhow::Result<Next> {
        let id = lease.job.subject_id;
        let mut tx = self.db.begin().await?;
        let row = sqlx::query!(
            "SELECT version, event_version, event_id FROM activities WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let work = row.and_then(|r| match (r.event_id, r.event_version) {
            (Some(event_id), Some(have)) if have < r.version => Some((event_id, have, r.version)),
            _ => None,
        });
        let Some((event_id, have, target)) = work else {
            // UiTdatabank has the latest version (or there is no event to update).
            lease.finish(&mut tx).await?;
            tx.commit().await?;
            return Ok(Next::Done);
        };
        tx.commit().await?;
        let calls = plan(
            &self.version(id, have).await?,
            &self.version(id, target).await?,
            &event_label(id),
        );
        let client = self.client_of(id).await?;
        for call in &calls {
            lease.renew().await?;
            let done = match call {
                Call::Full(body) => client.update_event(&event_id, body).await,
                Call::PriceInfo(prices) => client.update_event_price_info(&event_id, prices).await,
                Call::Calendar(calendar) => client.update_event_calendar(&event_id, calendar).await,
                Call::Status(status) => client.update_event_status(&event_id, status).await,
                Call::Delete => match client.delete_event(&event_id).await {
                    // Gone already: deleted by an earlier attempt, or in UiTdatabank.
                    Err(e) if is_not_found(&e) => Ok(()),
                    done => done,
                },
            };
            if let Err(e) = done {
                return self.update_failed(lease, &e, target, notify).await;
            }
        }
        tracing::info!(
            version = target,
            calls = calls.len(),
            "UiTdatabank has the activity's version"
        );
        self.settle_updated(lease, target, notify).await
    }

    async fn update_failed(&self, lease: Lease, e: &UpstreamError, target: i32, notify: bool) -> anyhow::Result<Next> {
        match verdict(e) {
            _ if is_not_found(e) => {
                // The event is gone from UiTdatabank (or never was ours to change): a person looks.
                lease
                    .park(&serde_json::to_value(Problem::from_upstream(e))?, &e.to_string())
                    .await?;
                Ok(Next::Done)
            }
            Verdict::Refused => self.settle_refused(lease, e, target, false, notify).await,
            Verdict::NeedsPerson => {
                lease
                    .park(&serde_json::to_value(Problem::from_upstream(e))?, &e.to_string())
                    .await?;
                Ok(Next::Done)
            }
            // Every update is idempotent (a PUT overwrites, a DELETE of a deleted event is done):
            // it is sent again after the backoff, whatever became of this one.
            Verdict::Ended | Verdict::Unknown => {
                tracing::warn!(error = %e, "event update not confirmed: it will be replayed");
                lease.retry_later(&e.to_string(), true).await?;
                Ok(Next::Done)
            }
        }
    }

    /// Records that UiTdatabank has version `at`, if `lease` still holds the job; a version that
    /// came meanwhile is sent next.
    async fn settle_updated(&self, lease: Lease, at: i32, notify: bool) -> anyhow::Result<Next> {
        let id = lease.job.subject_id;
        let mut tx = self.db.begin().await?;
        let version = lock_version(&mut tx, id).await?;
        if !lease.finish(&mut tx).await? {
            return Ok(Next::Done);
        }
        sqlx::query!(
            r#"UPDATE activities SET event_version = $2,
                      problem = CASE WHEN problem_version <= $2 THEN NULL ELSE problem END,
                      problem_version = CASE WHEN problem_version <= $2 THEN NULL ELSE problem_version END,
                      updated_at = now()
               WHERE id = $1"#,
            id,
            at
        )
        .execute(&mut *tx)
        .await?;
        let next = if version > at {
            self.outbox.enqueue_leased(&mut tx, JobKind::UpdateEvent, id).await?
        } else {
            if notify {
                self.webhooks.enqueue(&mut tx, EventType::ActivityUpdated, id).await?;
            }
            None
        };
        tx.commit().await?;
        Ok(next.map_or(Next::Done, Next::Update))
    }

    /// Looks for the event that carries this activity's label: found by UiTdatabank's Search API,
    /// confirmed by reading the event itself.
    async fn look(&self, client: &UitpasClient, lease: &mut Lease, label: &str) -> anyhow::Result<Look> {
        lease.renew().await?;
        let candidates = match client.events_with_label(label).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "UiTdatabank's Search API could not be read");
                return Ok(Look::Inconclusive("UiTdatabank's Search API could not be read"));
            }
        };
        let mut found: Option<String> = None;
        for event_id in candidates {
            lease.renew().await?;
            match client.event(&event_id).await {
                Ok(event) if carries(&event, label) => match &found {
                    None => found = Some(event_id),
                    Some(first) => {
                        tracing::warn!(first = %first, other = %event_id, "two events carry one activity's label")
                    }
                },
                Ok(_) => {}
                // Deleted meanwhile, or the index is behind: not this activity's event.
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "UiTdatabank could not be read");
                    return Ok(Look::Inconclusive("UiTdatabank could not be read"));
                }
            }
        }
        Ok(found.map_or(Look::Absent, Look::Found))
    }

    async fn version(&self, id: Uuid, version: i32) -> anyhow::Result<Version> {
        let row = sqlx::query!(
            "SELECT event_body, event_status, deleted FROM activity_versions WHERE activity_id = $1 AND version = $2",
            id,
            version
        )
        .fetch_one(&self.db)
        .await
        .with_context(|| format!("version {version} of an activity"))?;
        Ok(Version {
            event_body: row.event_body,
            event_status: row.event_status,
            deleted: row.deleted,
        })
    }
}

impl EventStatus {
    /// What an event is when no status was ever set.
    pub const AVAILABLE: EventStatus = EventStatus {
        kind: EventStatusType::Available,
        reason: None,
    };
}

/// The job that brings UiTdatabank to an activity's latest version: creating its event while it
/// has none, updating it after.
fn job_kind(event_id: Option<&str>) -> JobKind {
    if event_id.is_some() {
        JobKind::UpdateEvent
    } else {
        JobKind::CreateEvent
    }
}

/// Whether an event (JSON-LD) carries a label, hidden or not (labels compare case-insensitively).
fn carries(event: &Value, label: &str) -> bool {
    ["hiddenLabels", "labels"].iter().any(|field| {
        event.get(*field).and_then(Value::as_array).is_some_and(|labels| {
            labels
                .iter()
                .any(|l| l.as_str().is_some_and(|l| l.eq_ignore_ascii_case(label)))
        })
    })
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
        r#"SELECT id, status, request, linked, event_id, event_status
           FROM activities WHERE customer_id = $1 AND shop_activity_id = $2 FOR UPDATE"#,
        customer_id,
        shop_activity_id
    )
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|r| Locked {
        id: r.id,
        status: ActivityStatus::parse(&r.status),
        request: r.request,
        linked: r.linked,
        event_id: r.event_id,
        event_status: r.event_status,
    }))
}

/// The activity's latest version, locked until `tx` ends.
async fn lock_version(tx: &mut PgConnection, id: Uuid) -> anyhow::Result<i32> {
    sqlx::query_scalar!("SELECT version FROM activities WHERE id = $1 FOR UPDATE", id)
        .fetch_one(tx)
        .await
        .context("an activity being settled")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(price: f64, name: &str) -> Value {
        json!({
            "mainLanguage": "nl",
            "name": {"nl": name},
            "calendarType": "single",
            "subEvent": [{"startDate": "2027-07-01T10:00:00+00:00", "endDate": "2027-07-01T12:00:00+00:00"}],
            "priceInfo": [{"category": "base", "price": price, "priceCurrency": "EUR"}],
        })
    }

    fn version(body: Value, status: Option<Value>) -> Version {
        Version {
            event_body: Some(body),
            event_status: status,
            deleted: false,
        }
    }

    #[test]
    fn a_price_change_is_sent_as_price_info_and_a_name_change_as_a_whole() {
        let have = version(details(10.0, "Kamp"), None);
        let calls = plan(&have, &version(details(12.0, "Kamp"), None), "l");
        assert_eq!(
            calls,
            vec![Call::PriceInfo(
                json!([{"category": "base", "price": 12.0, "priceCurrency": "EUR"}])
            )]
        );
        let calls = plan(&have, &version(details(12.0, "Zomerkamp"), None), "l");
        assert!(matches!(&calls[..], [Call::Full(body)] if body["hiddenLabels"] == json!(["l"])));
        assert!(plan(&have, &version(details(10.0, "Kamp"), None), "l").is_empty());
    }

    #[test]
    fn a_calendar_change_keeps_the_status_and_a_status_change_is_its_own_call() {
        let cancelled = json!({"type": "Unavailable", "reason": {"nl": "Ziek"}});
        let have = version(details(10.0, "Kamp"), Some(cancelled.clone()));
        let mut later = details(10.0, "Kamp");
        later["subEvent"][0]["startDate"] = json!("2027-07-02T10:00:00+00:00");
        let calls = plan(&have, &version(later, Some(cancelled.clone())), "l");
        let [Call::Calendar(calendar)] = &calls[..] else {
            panic!("{calls:?}")
        };
        assert_eq!(calendar["status"], cancelled);
        assert_eq!(calendar["subEvent"][0]["status"], cancelled);
        assert!(calendar.get("priceInfo").is_none());

        let calls = plan(&have, &version(details(10.0, "Kamp"), None), "l");
        assert!(calls.is_empty(), "a status is never unset: {calls:?}");
        let available = json!({"type": "Available"});
        let calls = plan(&have, &version(details(10.0, "Kamp"), Some(available.clone())), "l");
        assert_eq!(calls, vec![Call::Status(available)]);
    }

    #[test]
    fn a_deletion_is_one_delete() {
        let have = version(details(10.0, "Kamp"), None);
        let mut gone = version(details(10.0, "Kamp"), None);
        gone.deleted = true;
        assert_eq!(plan(&have, &gone, "l"), vec![Call::Delete]);
    }

    #[test]
    fn timeouts_may_have_committed_and_refusals_did_not() {
        let wrap = |e| UpstreamError::UiTdatabank(Box::new(e));
        assert_eq!(verdict(&wrap(UpstreamError::Timeout)), Verdict::Unknown);
        assert_eq!(verdict(&wrap(UpstreamError::Status(504))), Verdict::Unknown);
        assert_eq!(verdict(&wrap(UpstreamError::Status(503))), Verdict::Ended);
        assert_eq!(verdict(&wrap(UpstreamError::Status(403))), Verdict::NeedsPerson);
        assert_eq!(verdict(&wrap(UpstreamError::Status(400))), Verdict::Refused);
        assert!(is_not_found(&wrap(UpstreamError::Status(404))));
    }

    #[test]
    fn the_label_names_the_activity() {
        let id = Uuid::parse_str("0b3c7c1e-2f2a-4b7e-9d4f-5a6b7c8d9e0f").unwrap();
        assert_eq!(event_label(id), "uitpas-checkout-0b3c7c1e2f2a4b7e9d4f5a6b7c8d9e0f");
        let event = json!({"hiddenLabels": ["UITPAS-CHECKOUT-0b3c7c1e2f2a4b7e9d4f5a6b7c8d9e0f"]});
        assert!(carries(&event, &event_label(id)));
        assert!(!carries(&json!({"labels": ["uitpas-checkout"]}), &event_label(id)));
    }
}
