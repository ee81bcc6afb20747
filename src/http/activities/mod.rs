//! `PUT`, `GET` and `DELETE /v1/activities/{shopActivityId}` and `PUT …/status` (shop key): a shop
//! activity as a UiTdatabank event, created once (or an existing event linked) and kept in step
//! with the activity after; `GET /v1/events/{eventId}/uitpas` (public): whether an event takes part
//! in UiTPAS, so the checkout can hide the UiTPAS field for events that don't.
//!
//! [`request`] reads the body of a put and makes the UiTdatabank event of it, [`put`] puts (or
//! links) an activity, [`status`] sets its event's status, [`participation`] answers the public
//! question; reading and deleting an activity, and the view they all answer with, are here.

pub mod participation;
pub mod put;
pub mod request;
pub mod status;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::problem::{ApiError, ApiResult, Problem};
use crate::activities::{ActivityRow, ActivityStatus, EventStatus};
use crate::customers::Customer;
use crate::db::retry_on_dead_connection;
use crate::http::responses::{DatabaseUnavailable, ShopKeyRefused};
use participation::participation;

pub use participation::Participation;
pub use request::{ActivityBody, ActivityRequest, Calendar, CalendarType, EventLink, Occurrence, OtherPrice};

/// The languages UiTdatabank takes.
const LANGUAGES: [&str; 4] = ["nl", "fr", "de", "en"];

/// A shop activity and its UiTdatabank event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub shop_activity_id: String,
    /// The UiTdatabank event id, once created (or linked).
    pub event_id: Option<String>,
    pub url: Option<String>,
    /// UiTPAS participation of the event (null while pending, once deleted, or when UiTPAS cannot
    /// be asked).
    pub uitpas: Option<Participation>,
    pub status: ActivityStatus,
    /// The event existed before and was linked (`{"eventId"}`): its details stay the organizer's.
    pub linked: bool,
    /// The activity's version: 1 when first put, one more for every accepted change (details,
    /// status, deletion).
    pub version: i32,
    /// The version UiTdatabank's event has: equal to `version` when it is in step; null while
    /// UiTdatabank has no event of the activity.
    pub event_version: Option<i32>,
    /// The event's status as last set (`PUT …/status`); null when never set (Available).
    pub event_status: Option<EventStatus>,
    /// Why UiTdatabank refused the latest version (fix the activity and put it again), or why the
    /// work on the event needs a person.
    pub problem: Option<Problem>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(super) fn invalid(pointer: &str, error: &str) -> ApiError {
    ApiError::invalid(pointer, error)
}

pub(super) fn shop_activity_id(raw: &str) -> ApiResult<String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 200 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid("/shopActivityId", "must be 1 to 200 visible ASCII characters"));
    }
    Ok(id.to_owned())
}

pub(super) async fn view(state: &AppState, customer: &Customer, row: ActivityRow) -> Activity {
    let uitpas = match &row.event_id {
        Some(id) if row.status != ActivityStatus::Deleted => participation(state, customer, id)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "cannot tell whether the event takes part in UiTPAS"))
            .ok(),
        _ => None,
    };
    let problem = row.problem.and_then(|p| {
        serde_json::from_value(p)
            .inspect_err(|e| tracing::warn!(error = %e, "a stored problem does not read back"))
            .ok()
    });
    Activity {
        shop_activity_id: row.shop_activity_id,
        event_id: row.event_id,
        url: row.event_url,
        uitpas,
        status: row.status,
        linked: row.linked,
        version: row.version,
        event_version: row.event_version,
        event_status: row.event_status,
        problem,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// 200 when UiTdatabank has the activity's latest version, else 202 (the worker brings it).
pub(super) fn in_step_status(row: &ActivityRow) -> StatusCode {
    if row.in_step() && row.status != ActivityStatus::Pending {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

pub(super) fn conflict(slug: &str, title: &str, detail: impl Into<String>) -> Response {
    Problem::ours(slug, StatusCode::CONFLICT, title)
        .with_detail(detail)
        .into_response()
}

pub(super) fn deleted(row: &ActivityRow) -> Response {
    conflict(
        "activity-deleted",
        "Activity deleted",
        format!(
            "Activity {} was deleted; it takes no more changes.",
            row.shop_activity_id
        ),
    )
}

/// Deletes a shop activity: its UiTdatabank event is soft-deleted (Entry API `DELETE /events/{id}`,
/// its `workflowStatus` becomes DELETED), through the outbox. A linked event is the organizer's
/// and stays; an event still being created is deleted once it is there.
///
/// 204: done (UiTdatabank has the deletion, or there was no event). 202: stored; the worker
/// deletes the event (the activity shows `status: deleted` at once, `eventVersion` catches up).
/// Deleting again answers the same.
#[utoipa::path(
    delete,
    path = "/v1/activities/{shopActivityId}",
    tag = "shop",
    operation_id = "delete-activity",
    security(("shopKey" = [])),
    params(("shopActivityId" = String, Path, description = "The shop's own id of the activity")),
    responses(
        (status = 202, description = "Deleted; the worker soft-deletes the event when UiTdatabank answers", body = Activity),
        (status = 204, description = "Deleted, and UiTdatabank has the deletion (or there was no event)"),
        ShopKeyRefused,
        (status = 404, description = "No such activity", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn delete_activity(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
) -> ApiResult<Response> {
    let id = shop_activity_id(&raw_id).map_err(|_| ApiError::NotFound)?;
    let customer = caller.customer.id;
    match retry_on_dead_connection(|| state.activities.delete(customer, &id)).await? {
        None => Err(ApiError::NotFound),
        Some(row) if !row.work_left => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(row) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(view(&state, &caller.customer, row).await),
        )
            .into_response()),
    }
}

/// A shop activity and its UiTdatabank event.
#[utoipa::path(
    get,
    path = "/v1/activities/{shopActivityId}",
    tag = "shop",
    operation_id = "get-activity",
    security(("shopKey" = [])),
    params(("shopActivityId" = String, Path, description = "The shop's own id of the activity")),
    responses(
        (status = 200, description = "The activity", body = Activity),
        ShopKeyRefused,
        (status = 404, description = "No such activity", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn get_activity(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
) -> ApiResult<axum::Json<Activity>> {
    let id = shop_activity_id(&raw_id).map_err(|_| ApiError::NotFound)?;
    let row = retry_on_dead_connection(|| state.activities.get(caller.customer.id, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(view(&state, &caller.customer, row).await))
}
