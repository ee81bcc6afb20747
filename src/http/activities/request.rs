//! The body of `PUT /v1/activities/{shopActivityId}`: an activity's details, checked and made
//! into the Entry API's event, or the `{"eventId"}` of an event to link.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{LANGUAGES, invalid};
use crate::brussels::EventTime;
use crate::domain::Money;
use crate::http::problem::{ApiError, ApiResult};

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
    pub(super) fn parse(body: Value) -> ApiResult<Self> {
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

/// Checks an activity and makes the Entry API `POST /events` body from it, plus the activity's
/// normal form (compared when the same activity is put again).
pub(super) fn to_event(a: &ActivityRequest, entry_base: &str) -> ApiResult<(Value, Value)> {
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
