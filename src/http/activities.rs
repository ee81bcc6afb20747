//! `PUT /v1/activities/{shopActivityId}` and `GET` (shop key): a shop activity registered once as a
//! UiTdatabank event; `GET /v1/events/{eventId}/uitpas` (public): whether an event takes part in
//! UiTPAS, so the checkout can hide the UiTPAS field for events that don't.

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
use crate::activities::{ActivityRow, ActivityStatus, PutOutcome};
use crate::customers::Customer;
use crate::db::retry_on_dead_connection;
use crate::domain::Money;
use crate::uitpas::EventCardSystem;

const LANGUAGES: [&str; 4] = ["nl", "fr", "de", "en"];
const MAX_NAME: usize = 90;
const MAX_SUB_EVENTS: usize = 100;
const MAX_PRICES: usize = 20;

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
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Occurrence {
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
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

/// A shop activity and its UiTdatabank event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub shop_activity_id: String,
    /// The UiTdatabank event id, once created.
    pub event_id: Option<String>,
    pub url: Option<String>,
    /// UiTPAS participation of the event (null while pending or when UiTPAS cannot be asked).
    pub uitpas: Option<Participation>,
    pub status: ActivityStatus,
    pub created_at: DateTime<Utc>,
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
    if term.is_empty() || term.len() > 50 || term.chars().any(char::is_control) {
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
    let permitted = super::auth::may_register(state, customer, event_id).await;
    Ok(Participation {
        enabled: systems.iter().any(|cs| cs.enabled) && !matches!(permitted, Some(Err(_))),
        card_systems: systems.iter().filter(|cs| cs.enabled).cloned().collect(),
    })
}

async fn view(state: &AppState, customer: &Customer, row: ActivityRow) -> Activity {
    let uitpas = match &row.event_id {
        Some(id) => participation(state, customer, id)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "cannot tell whether the event takes part in UiTPAS"))
            .ok(),
        None => None,
    };
    Activity {
        shop_activity_id: row.shop_activity_id,
        event_id: row.event_id,
        url: row.event_url,
        uitpas,
        status: row.status,
        created_at: row.created_at,
    }
}

/// Registers a shop activity once as a UiTdatabank event (Entry API `POST /events`).
///
/// 201: the event was created now. 200: the activity was registered before; the same event is
/// answered, never a second one. 202: stored; UiTdatabank could not be reached and the creation
/// will be replayed. 409: the activity was registered before with other details (events are not
/// updated through this endpoint). 400: a missing or wrong field, named by `schemaErrors`;
/// nothing is created.
#[utoipa::path(
    put,
    path = "/v1/activities/{shopActivityId}",
    tag = "shop",
    operation_id = "put-activity",
    security(("shopKey" = [])),
    params(("shopActivityId" = String, Path, description = "The shop's own id of the activity")),
    request_body = ActivityRequest,
    responses(
        (status = 200, description = "Registered before: the same event", body = Activity),
        (status = 201, description = "The event was created", body = Activity),
        (status = 202, description = "Stored; the event will be created when UiTdatabank answers", body = Activity),
        (status = 400, description = "A missing or wrong field, or refused by UiTdatabank", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The customer may not register sales for this organizer (`permission-missing`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Registered before with other details", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn put_activity(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    Json(request): Json<ActivityRequest>,
) -> ApiResult<Response> {
    let id = shop_activity_id(&raw_id)?;
    let (normal, event) = to_event(&request, &state.config.uitdatabank_base_url)?;
    if let Some(permissions) = caller.customer.permissions()
        && !permissions.allows(&request.organizer_id, crate::customers::permissions::REGISTER)
    {
        return Err(super::auth::permission_missing(&request.organizer_id));
    }
    let customer = caller.customer.id;
    let (status, row) = match retry_on_dead_connection(|| state.activities.put(customer, &id, &normal, &event)).await? {
        PutOutcome::New(row) if row.status == ActivityStatus::Created => (StatusCode::CREATED, row),
        PutOutcome::New(row) => (StatusCode::ACCEPTED, row),
        PutOutcome::Existing(row) if row.status == ActivityStatus::Pending => (StatusCode::ACCEPTED, row),
        PutOutcome::Existing(row) => (StatusCode::OK, row),
        PutOutcome::Changed(_) => {
            return Ok(Problem::ours(
                "activity-changed",
                StatusCode::CONFLICT,
                "Activity registered with other details",
            )
            .with_detail("This activity already has a UiTdatabank event made from other details; it is not made again.")
            .into_response());
        }
        PutOutcome::Rejected(problem) => return Ok(problem.into_response()),
    };
    Ok((status, axum::Json(view(&state, &caller.customer, row).await)).into_response())
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
