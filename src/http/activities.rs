//! `PUT`, `GET` and `DELETE /v1/activities/{shopActivityId}` and `PUT …/status` (shop key): a shop
//! activity as a UiTdatabank event, created once (or an existing event linked) and kept in step
//! with the activity after; `GET /v1/events/{eventId}/uitpas` (public): whether an event takes part
//! in UiTPAS, so the checkout can hide the UiTPAS field for events that don't.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::extract::Json;
use super::problem::{ApiError, ApiResult, Problem};
use super::tariffs::event_id;
use crate::activities::{
    ActivityRow, ActivityStatus, EventStatus, LinkOutcome, LinkRefusal, PutOutcome, StatusOutcome,
};
use crate::brussels::EventTime;
use crate::customers::Customer;
use crate::db::retry_on_dead_connection;
use crate::domain::Money;
use crate::uitpas::EventCardSystem;

const LANGUAGES: [&str; 4] = ["nl", "fr", "de", "en"];
const MAX_NAME: usize = 90;
const MAX_SUB_EVENTS: usize = 100;
const MAX_PRICES: usize = 20;
const MAX_REASON: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CalendarType {
    /// One occurrence (`subEvents` with one item).
    Single,
    /// Several occurrences (`subEvents`).
    Multiple,
    /// A period (`startDate`, `endDate`).
    Periodic,
    /// Always (no dates).
    Permanent,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Calendar {
    #[serde(rename = "type")]
    pub kind: CalendarType,
    #[serde(default)]
    pub sub_events: Vec<Occurrence>,
    pub start_date: Option<EventTime>,
    pub end_date: Option<EventTime>,
}

/// One occurrence: times with an offset, or local times without a zone read as Europe/Brussels
/// time; UiTdatabank gets them in Brussels time with their offset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Occurrence {
    pub start_date: EventTime,
    pub end_date: EventTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OtherPrice {
    /// The price category's name per language, e.g. `{"nl": "Kinderen"}`.
    pub name: BTreeMap<String, String>,
    #[schema(value_type = f64)]
    pub price: Money,
}

/// A shop activity, as the shop describes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivityRequest {
    /// The name per language, e.g. `{"nl": "Zomerkamp"}`; must include the main language.
    pub name: BTreeMap<String, String>,
    /// nl, fr, de or en.
    #[schema(example = "nl")]
    pub main_language: String,
    pub calendar: Calendar,
    /// The UiTdatabank place id (a UUID).
    pub location_id: String,
    /// The UiTdatabank organizer id (a UUID); a UiTPAS organizer for UiTPAS sales.
    #[schema(example = "0ce87cbc-9299-4528-8d35-92225dc9489f")]
    pub organizer_id: String,
    /// The UiTdatabank event type term id, e.g. `0.50.4.0.0` (concert).
    #[schema(example = "0.50.4.0.0")]
    pub event_type_id: String,
    /// The base price in euros: the regular price UiTPAS discounts apply to.
    #[schema(value_type = f64, example = 10.0)]
    pub base_price: Money,
    /// EUR, the only currency UiTdatabank takes (default).
    pub currency: Option<String>,
    /// Other price categories.
    #[serde(default)]
    pub other_prices: Vec<OtherPrice>,
}

/// Whether an event takes part in UiTPAS.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Participation {
    pub enabled: bool,
    pub card_systems: Vec<EventCardSystem>,
}

/// An event that exists in UiTdatabank already, linked to the shop activity instead of creating
/// one (publiq: never create an event per sale).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventLink {
    /// The UiTdatabank event id (a UUID) of an event that takes part in UiTPAS.
    #[schema(example = "5a0967f9-cc06-4c3c-9206-30481a767434")]
    pub event_id: String,
}

/// The body of `PUT /v1/activities/{shopActivityId}`: the activity's details (the service creates
/// its event, and updates it when they change), or `{"eventId"}` of an event that exists already
/// (the service links it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ActivityBody {
    Details(Box<ActivityRequest>),
    Link(EventLink),
}

impl ActivityBody {
    /// Reads the body as the form it has: a link when it names an `eventId`. (An untagged enum
    /// would say only "no variant matched" about a wrong field.)
    fn parse(body: Value) -> ApiResult<Self> {
        let parsed = if body.get("eventId").is_some() {
            serde_json::from_value(body).map(ActivityBody::Link)
        } else {
            serde_json::from_value(body).map(ActivityBody::Details)
        };
        parsed.map_err(|e| ApiError::InvalidRequest {
            detail: format!("The body is not an activity: {e}"),
            errors: Vec::new(),
        })
    }
}

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

fn invalid(pointer: &str, error: &str) -> ApiError {
    ApiError::invalid(pointer, error)
}

fn names(names: &BTreeMap<String, String>, pointer: &str) -> ApiResult<()> {
    if names.is_empty() {
        return Err(invalid(pointer, "must have a name in at least one language"));
    }
    for (lang, name) in names {
        if !LANGUAGES.contains(&lang.as_str()) {
            return Err(invalid(
                &format!("{pointer}/{lang}"),
                "the language must be nl, fr, de or en",
            ));
        }
        if name.trim().is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(invalid(&format!("{pointer}/{lang}"), "must have 1 to 90 characters"));
        }
    }
    Ok(())
}

fn uuid_field(value: &str, pointer: &str) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(value.trim()).map_err(|_| invalid(pointer, "must be a UiTdatabank id (a UUID)"))
}

/// A UiTdatabank taxonomy term id as an id: `0.50.4.0.0`, or the newer `wwjRVmExI0w6xfQwT1KWpx`;
/// letters, digits, dots, dashes and underscores, starting with a letter or digit. Never a path
/// (`../`, `/`), a query (`?`, `#`), an escape (`%`) or spaces.
fn is_term_id(term: &str) -> bool {
    (1..=50).contains(&term.len())
        && term.starts_with(|c: char| c.is_ascii_alphanumeric())
        && term
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn shop_activity_id(raw: &str) -> ApiResult<String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 200 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid("/shopActivityId", "must be 1 to 200 visible ASCII characters"));
    }
    Ok(id.to_owned())
}

/// Checks an activity and makes the Entry API `POST /events` body from it, plus the activity's
/// normal form (compared when the same activity is put again).
fn to_event(a: &ActivityRequest, entry_base: &str) -> ApiResult<(Value, Value)> {
    if !LANGUAGES.contains(&a.main_language.as_str()) {
        return Err(invalid("/mainLanguage", "must be nl, fr, de or en"));
    }
    names(&a.name, "/name")?;
    if !a.name.contains_key(&a.main_language) {
        return Err(invalid("/name", "must have a name in the main language"));
    }
    let location = uuid_field(&a.location_id, "/locationId")?;
    let organizer = uuid_field(&a.organizer_id, "/organizerId")?;
    let term = a.event_type_id.trim();
    if !is_term_id(term) {
        return Err(invalid(
            "/eventTypeId",
            "must be a UiTdatabank event type id, e.g. 0.50.4.0.0",
        ));
    }
    if a.currency.as_deref().is_some_and(|c| c != "EUR") {
        return Err(invalid("/currency", "must be EUR"));
    }
    let mut calendar = json!({ "calendarType": a.calendar.kind });
    match a.calendar.kind {
        CalendarType::Single | CalendarType::Multiple => {
            let n = a.calendar.sub_events.len();
            let ok = match a.calendar.kind {
                CalendarType::Single => n == 1,
                _ => (1..=MAX_SUB_EVENTS).contains(&n),
            };
            if !ok {
                return Err(invalid(
                    "/calendar/subEvents",
                    "a single activity has one occurrence, a multiple one 1 to 100",
                ));
            }
            for (i, o) in a.calendar.sub_events.iter().enumerate() {
                if o.end_date < o.start_date {
                    return Err(invalid(
                        &format!("/calendar/subEvents/{i}/endDate"),
                        "must not be before startDate",
                    ));
                }
            }
            calendar["subEvent"] = json!(
                a.calendar
                    .sub_events
                    .iter()
                    .map(|o| json!({ "startDate": o.start_date.to_rfc3339(), "endDate": o.end_date.to_rfc3339() }))
                    .collect::<Vec<_>>()
            );
        }
        CalendarType::Periodic => match (a.calendar.start_date, a.calendar.end_date) {
            (Some(s), Some(e)) if s <= e => {
                calendar["startDate"] = json!(s.to_rfc3339());
                calendar["endDate"] = json!(e.to_rfc3339());
            }
            (Some(_), Some(_)) => return Err(invalid("/calendar/endDate", "must not be before startDate")),
            _ => return Err(invalid("/calendar", "a periodic activity needs startDate and endDate")),
        },
        CalendarType::Permanent => {}
    }
    if a.other_prices.len() > MAX_PRICES {
        return Err(invalid("/otherPrices", "at most 20 other price categories"));
    }
    let mut prices = vec![json!({
        "category": "base",
        "name": { a.main_language.clone(): "Basistarief" },
        "price": a.base_price,
        "priceCurrency": "EUR",
    })];
    for (i, p) in a.other_prices.iter().enumerate() {
        names(&p.name, &format!("/otherPrices/{i}/name"))?;
        prices.push(json!({ "category": "tariff", "name": p.name, "price": p.price, "priceCurrency": "EUR" }));
    }
    let mut event = json!({
        "mainLanguage": a.main_language,
        "name": a.name,
        "location": { "@id": format!("{entry_base}/places/{location}") },
        "organizer": { "@id": format!("{entry_base}/organizers/{organizer}") },
        "terms": [{ "id": term, "domain": "eventtype" }],
        "priceInfo": prices,
    });
    if let (Some(event), Some(calendar)) = (event.as_object_mut(), calendar.as_object()) {
        event.extend(calendar.clone());
    }
    let normal = json!({
        "name": a.name,
        "mainLanguage": a.main_language,
        "calendar": calendar,
        "locationId": location,
        "organizerId": organizer,
        "eventTypeId": term,
        "basePrice": a.base_price.cents(),
        "otherPrices": a.other_prices.iter().map(|p| json!({ "name": p.name, "price": p.price.cents() })).collect::<Vec<_>>(),
    });
    Ok((normal, event))
}

async fn participation(
    state: &AppState,
    customer: &Customer,
    event_id: &str,
) -> Result<Participation, crate::uitpas::UpstreamError> {
    let systems = state
        .participation
        .get_with(
            (customer.slot, event_id.to_owned()),
            customer.client.event_card_systems(event_id),
        )
        .await?;
    // Not for sale here when the customer may not register sales for the event's organizer.
    let permitted = super::permission::may_register(state, customer, event_id).await;
    Ok(Participation {
        enabled: systems.iter().any(|cs| cs.enabled) && !matches!(permitted, Some(Err(_))),
        card_systems: systems.iter().filter(|cs| cs.enabled).cloned().collect(),
    })
}

async fn view(state: &AppState, customer: &Customer, row: ActivityRow) -> Activity {
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
fn in_step_status(row: &ActivityRow) -> StatusCode {
    if row.in_step() && row.status != ActivityStatus::Pending {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

fn conflict(slug: &str, title: &str, detail: impl Into<String>) -> Response {
    Problem::ours(slug, StatusCode::CONFLICT, title)
        .with_detail(detail)
        .into_response()
}

fn deleted(row: &ActivityRow) -> Response {
    conflict(
        "activity-deleted",
        "Activity deleted",
        format!(
            "Activity {} was deleted; it takes no more changes.",
            row.shop_activity_id
        ),
    )
}

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
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The customer may not register sales for this organizer (`permission-missing`, from UiTPAS's GET /permissions); nothing is sent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`activity-deleted`, `activity-linked`, `activity-not-linked` or `event-already-linked`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTdatabank or UiTPAS unavailable while checking an event to link", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
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
        return Err(super::permission::permission_missing(&request.organizer_id));
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
                return Err(super::permission::permission_missing(&organizer));
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
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such activity", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
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
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such activity", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`activity-deleted`, or `activity-rejected` (UiTdatabank refused to create its event: correct the activity first)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
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
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such activity", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
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

/// Whether an event takes part in UiTPAS (its enabled card systems), cached ten minutes; `enabled`
/// is false too when the customer may not register sales for the event's organizer (its
/// permissions from `GET /permissions`).
#[utoipa::path(
    get,
    path = "/v1/events/{eventId}/uitpas",
    tag = "public",
    operation_id = "get-event-uitpas",
    security((), ("publicKey" = [])),
    params(("eventId" = String, Path, format = Uuid, description = "The UiTdatabank event id")),
    responses(
        (status = 200, description = "The event's UiTPAS participation", body = Participation),
        (status = 400, description = "Not an event id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "UiTPAS does not know the event of the path (`https://api.publiq.be/probs/uitpas/event-not-found`: 404 here, as UiTPAS answers for the event's card systems; 400 where the event is a parameter or a field)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_event_uitpas(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let event = event_id(Some(&raw), "/eventId")?;
    caller.check_event(event.as_str())?;
    let participation = participation(&state, &caller.customer, event.as_str()).await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=600")],
        axum::Json(participation),
    )
        .into_response())
}
