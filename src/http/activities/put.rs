//! `PUT /v1/activities/{shopActivityId}`: an activity created (or changed) as a UiTdatabank event,
//! or an existing event linked to it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::request::{ActivityBody, EventLink, to_event};
use super::{Activity, conflict, deleted, in_step_status, shop_activity_id, view};
use crate::activities::{ActivityRow, ActivityStatus, LinkOutcome, LinkRefusal, PutOutcome};
use crate::customers::Customer;
use crate::db::retry_on_dead_connection;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::extract::Json;
use crate::http::problem::{ApiResult, Problem};
use crate::http::responses::{DatabaseUnavailable, ShopKeyRefused};
use crate::http::tariffs::event_id;

/// A refusal of the event named by `eventId`, with the field named.
fn event_refused(slug: &str, title: &str, error: &str) -> Response {
    let mut problem = Problem::ours(slug, StatusCode::BAD_REQUEST, title).with_detail(format!("eventId: {error}"));
    problem.schema_errors = vec![crate::uitpas::SchemaError {
        json_pointer: "/eventId".into(),
        error: error.into(),
    }];
    problem.into_response()
}

/// Registers a shop activity as a UiTdatabank event (Entry API `POST /events`) once, keeps the
/// event in step when the activity changes, or links an event that exists already.
///
/// With the activity's details: **201** the event was created now; **200** UiTdatabank has this
/// version (the same activity again, or a change it has taken: a price change through
/// `PUT /events/{id}/price-info`, a calendar change through `…/calendar`, any other through
/// `PUT /events/{id}`, once per version); **202** stored, the worker brings UiTdatabank to this
/// version (`eventVersion` is behind `version` until then); **400** a missing or wrong field
/// (`schemaErrors`, nothing stored), or UiTdatabank refused this version (correct it and put it
/// again: it is sent again as a new version).
///
/// With `{"eventId"}`: the event is read (Entry API `GET /events/{id}`) and must take part in
/// UiTPAS (`GET /events/{id}/card-systems`); **201** linked now, **200** linked before, **400**
/// `event-not-found` or `event-not-in-uitpas` (nothing stored), **409** `event-already-linked`.
///
/// **409**: `activity-deleted`, `activity-linked` (a linked activity takes no details: they are
/// the organizer's), `activity-not-linked` (an activity with its own event links no other).
#[utoipa::path(
    put,
    path = "/v1/activities/{shopActivityId}",
    tag = "shop",
    operation_id = "put-activity",
    security(("shopKey" = [])),
    params(("shopActivityId" = String, Path, description = "The shop's own id of the activity")),
    request_body = ActivityBody,
    responses(
        (status = 200, description = "UiTdatabank has this version of the activity (or the same link)", body = Activity),
        (status = 201, description = "The event was created (or linked)", body = Activity),
        (status = 202, description = "Stored; UiTdatabank will get this version when it answers (`eventVersion` < `version` until then)", body = Activity),
        (status = 400, description = "A missing or wrong field, an event that cannot be linked (`event-not-found`, `event-not-in-uitpas`), or refused by UiTdatabank", body = Problem, content_type = "application/problem+json"),
        ShopKeyRefused,
        (status = 403, description = "The customer may not register sales for this organizer (`permission-missing`, from UiTPAS's GET /permissions); nothing is sent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`activity-deleted`, `activity-linked`, `activity-not-linked` or `event-already-linked`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTdatabank or UiTPAS unavailable while checking an event to link", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
        (status = 504, description = "UiTdatabank or UiTPAS did not answer in time while checking an event to link", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_activity(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let id = shop_activity_id(&raw_id)?;
    let request = match ActivityBody::parse(body)? {
        ActivityBody::Details(request) => request,
        ActivityBody::Link(link) => return link_event(&state, &caller, &id, &link).await,
    };
    let (normal, event) = to_event(&request, &state.config.uitdatabank_base_url)?;
    // Refused before UiTdatabank is asked when UiTPAS says the customer may not sell for the
    // organizer.
    if let Some(permissions) = caller.customer.permissions()
        && !permissions.allows(&request.organizer_id, crate::customers::permissions::REGISTER)
    {
        return Err(crate::http::permission::permission_missing(&request.organizer_id));
    }
    let customer = caller.customer.id;
    let (status, row) = match retry_on_dead_connection(|| state.activities.put(customer, &id, &normal, &event)).await? {
        PutOutcome::New(row) if row.status == ActivityStatus::Created => (StatusCode::CREATED, row),
        PutOutcome::New(row) => (StatusCode::ACCEPTED, row),
        PutOutcome::Existing(row) => (in_step_status(&row), row),
        PutOutcome::Changed { row, created_now } => {
            // Its prices may have changed: registrations check theirs against the new ones.
            if let Some(event) = row.event_id.as_deref() {
                state
                    .organizers
                    .invalidate(&(caller.customer.slot, event.to_owned()))
                    .await;
            }
            let status = if created_now {
                StatusCode::CREATED
            } else {
                in_step_status(&row)
            };
            (status, row)
        }
        PutOutcome::Rejected(problem) => return Ok(problem.into_response()),
        PutOutcome::Deleted(row) => return Ok(deleted(&row)),
        PutOutcome::Linked(row) => {
            return Ok(conflict(
                "activity-linked",
                "Activity linked to an existing event",
                format!(
                    "This activity is linked to UiTdatabank event {}, whose details are its organizer's; they are not changed from here.",
                    row.event_id.as_deref().unwrap_or_default()
                ),
            ));
        }
    };
    Ok((status, axum::Json(view(&state, &caller.customer, row).await)).into_response())
}

/// `PUT /v1/activities/{id}` with `{"eventId"}`: links the event after checking it, once.
async fn link_event(state: &AppState, caller: &Caller, id: &str, link: &EventLink) -> ApiResult<Response> {
    let event = event_id(Some(&link.event_id), "/eventId")?;
    let request = json!({ "eventId": event.as_str() });
    let customer = &caller.customer;
    // Known already: answered without asking UiTdatabank again.
    if let Some(row) = retry_on_dead_connection(|| state.activities.get(customer.id, id)).await? {
        return Ok(linked_before(state, customer, row, &request).await);
    }
    let url = match state.activities.linkable(&customer.client, event.as_str()).await? {
        Ok((url, organizer)) => {
            // The event was just read: its organizer need not be read again for the view.
            state
                .organizers
                .insert(
                    (customer.slot, event.as_str().to_owned()),
                    crate::uitpas::EventFacts {
                        organizer: organizer.clone(),
                        prices: None,
                    },
                )
                .await;
            // Refused before it is stored when UiTPAS says the customer may not sell for the
            // event's organizer.
            if let (Some(organizer), Some(permissions)) = (organizer, customer.permissions())
                && !permissions.allows(&organizer, crate::customers::permissions::REGISTER)
            {
                return Err(crate::http::permission::permission_missing(&organizer));
            }
            url
        }
        Err(LinkRefusal::NotFound) => {
            return Ok(event_refused(
                "event-not-found",
                "No such UiTdatabank event",
                "UiTdatabank has no event with this id (or it was deleted)",
            ));
        }
        Err(LinkRefusal::NotInUitpas) => {
            return Ok(event_refused(
                "event-not-in-uitpas",
                "The event does not take part in UiTPAS",
                "the event takes part in no UiTPAS card system: its organizer is not a UiTPAS organizer",
            ));
        }
    };
    match retry_on_dead_connection(|| state.activities.link(customer.id, id, &request, event.as_str(), &url)).await? {
        LinkOutcome::New(row) => {
            Ok((StatusCode::CREATED, axum::Json(view(state, customer, row).await)).into_response())
        }
        LinkOutcome::Existing(row) | LinkOutcome::Conflict(row) => {
            Ok(linked_before(state, customer, row, &request).await)
        }
        LinkOutcome::EventTaken => Ok(conflict(
            "event-already-linked",
            "Event linked to another activity",
            format!(
                "UiTdatabank event {} belongs to another activity of this shop already.",
                event.as_str()
            ),
        )),
    }
}

/// The answer to a link of an activity that exists already.
async fn linked_before(state: &AppState, customer: &Customer, row: ActivityRow, request: &Value) -> Response {
    if row.status == ActivityStatus::Deleted {
        return deleted(&row);
    }
    if !row.linked {
        return conflict(
            "activity-not-linked",
            "Activity with an event of its own",
            "This activity has an event made from its details; it cannot be linked to another event.",
        );
    }
    if row.request != *request {
        return conflict(
            "activity-linked",
            "Activity linked to another event",
            format!(
                "This activity is linked to UiTdatabank event {} already.",
                row.event_id.as_deref().unwrap_or_default()
            ),
        );
    }
    (StatusCode::OK, axum::Json(view(state, customer, row).await)).into_response()
}
