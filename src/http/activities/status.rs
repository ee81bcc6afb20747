//! `PUT /v1/activities/{shopActivityId}/status`: the status of the activity's UiTdatabank event
//! (cancelled, postponed, available again).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::{Activity, LANGUAGES, conflict, deleted, in_step_status, invalid, shop_activity_id, view};
use crate::activities::{ActivityStatus, EventStatus, StatusOutcome};
use crate::db::retry_on_dead_connection;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::extract::Json;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::responses::{DatabaseUnavailable, ShopKeyRefused};

const MAX_REASON: usize = 500;

/// Sets the status of the activity's UiTdatabank event (Entry API `PUT /events/{id}/status`),
/// through the outbox, as a new version: `Unavailable` (cancelled), `TemporarilyUnavailable`
/// (postponed) or `Available` again, with an optional `reason` per language. A status set before
/// the event exists is created with it.
///
/// 200: UiTdatabank has it (or the status was this already). 202: stored; the worker sends it.
/// 400: not a status. 409: the activity was deleted, or its creation refused (correct it first).
#[utoipa::path(
    put,
    path = "/v1/activities/{shopActivityId}/status",
    tag = "shop",
    operation_id = "put-activity-status",
    security(("shopKey" = [])),
    params(("shopActivityId" = String, Path, description = "The shop's own id of the activity")),
    request_body = EventStatus,
    responses(
        (status = 200, description = "UiTdatabank's event has this status", body = Activity),
        (status = 202, description = "Stored; UiTdatabank will get it when it answers", body = Activity),
        (status = 400, description = "Not a status: `type` or `reason` is wrong (`schemaErrors`)", body = Problem, content_type = "application/problem+json"),
        ShopKeyRefused,
        (status = 404, description = "No such activity", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`activity-deleted`, or `activity-rejected` (UiTdatabank refused to create its event: correct the activity first)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn put_activity_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    Json(status): Json<EventStatus>,
) -> ApiResult<Response> {
    let id = shop_activity_id(&raw_id).map_err(|_| ApiError::NotFound)?;
    if let Some(reason) = &status.reason {
        if reason.is_empty() {
            return Err(invalid("/reason", "must have a reason in at least one language"));
        }
        for (lang, text) in reason {
            if !LANGUAGES.contains(&lang.as_str()) {
                return Err(invalid(
                    &format!("/reason/{lang}"),
                    "the language must be nl, fr, de or en",
                ));
            }
            if text.trim().is_empty() || text.chars().count() > MAX_REASON || text.chars().any(char::is_control) {
                return Err(invalid(
                    &format!("/reason/{lang}"),
                    "must have 1 to 500 characters, on one line",
                ));
            }
        }
    }
    let customer = caller.customer.id;
    let row = match retry_on_dead_connection(|| state.activities.set_status(customer, &id, &status)).await? {
        StatusOutcome::NotFound => return Err(ApiError::NotFound),
        StatusOutcome::Refused(row) if row.status == ActivityStatus::Deleted => return Ok(deleted(&row)),
        StatusOutcome::Refused(_) => {
            return Ok(conflict(
                "activity-rejected",
                "Activity refused by UiTdatabank",
                "UiTdatabank refused to create this activity's event: correct the activity (PUT it again) before giving it a status.",
            ));
        }
        StatusOutcome::Unchanged(row) | StatusOutcome::Changed(row) => row,
    };
    Ok((
        in_step_status(&row),
        axum::Json(view(&state, &caller.customer, row).await),
    )
        .into_response())
}
