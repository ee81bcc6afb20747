//! What an activity is and what asking for a change of it comes to: its row and statuses, and the
//! outcomes of putting, linking and setting its status.

use std::collections::BTreeMap;

use anyhow::Context;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::Problem;
use crate::text_enum::text_enum;

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

text_enum!(ActivityStatus {
    Pending = "pending",
    Created = "created",
    Rejected = "rejected",
    Deleted = "deleted",
});

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
    pub(super) fn refusal(&self) -> anyhow::Result<Option<Problem>> {
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

impl EventStatus {
    /// What an event is when no status was ever set.
    pub const AVAILABLE: EventStatus = EventStatus {
        kind: EventStatusType::Available,
        reason: None,
    };
}
