//! The UiTdatabank Entry API 3.0 `POST /events`, with the checks of the real schema that matter to
//! a shop: an event it creates becomes known to the UiTPAS operations of the same sandbox.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Sandbox;
use super::dataset::{EventData, Limit, Period, organizer_card_systems};
use super::problem::{Problem, SchemaError};
use super::store::Change;
use super::uitpas::json_body;

const LANGUAGES: [&str; 4] = ["nl", "fr", "de", "en"];

/// The UUID in a JSON-LD `@id` such as `https://io.uitdatabank.be/places/<uuid>`, if the URL has
/// the shape of the schema's pattern (`^https?://…/(kind|kinds)/<uuid>`).
fn id_in_url(url: &str, kind: &str) -> Option<uuid::Uuid> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (_, path) = rest.split_once('/')?;
    let mut segments = path.split('/');
    while let Some(segment) = segments.next() {
        if segment == kind || segment.strip_suffix('s') == Some(kind) {
            return segments.next().and_then(|s| uuid::Uuid::parse_str(s).ok());
        }
    }
    None
}

fn date_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v?.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// What the sandbox keeps of a valid event body.
struct Checked {
    name: String,
    organizer: Option<uuid::Uuid>,
    windows: Option<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
}

/// Checks an event body against what the Entry API requires; every violation is reported.
fn check(body: &Value) -> Result<Checked, Vec<SchemaError>> {
    let mut errors = Vec::new();
    let mut err = |pointer: &str, error: &str| errors.push(SchemaError::new(pointer, error));
    if !body.is_object() {
        err("", "must be an object");
        return Err(errors);
    }
    let main_language = match body.get("mainLanguage") {
        Some(Value::String(l)) if LANGUAGES.contains(&l.as_str()) => Some(l.as_str()),
        Some(_) => {
            err("/mainLanguage", "must be one of nl, fr, de, en");
            None
        }
        None => {
            err("/", "the required property mainLanguage is missing");
            None
        }
    };
    let mut name = String::new();
    match body.get("name") {
        Some(Value::Object(names)) if !names.is_empty() => {
            for (lang, value) in names {
                let ok = value
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty() && s.chars().count() <= 90);
                if !LANGUAGES.contains(&lang.as_str()) {
                    err(&format!("/name/{lang}"), "must be one of nl, fr, de, en");
                } else if !ok {
                    err(
                        &format!("/name/{lang}"),
                        "must be a non-empty string of at most 90 characters",
                    );
                }
            }
            match main_language.and_then(|l| names.get(l)).and_then(Value::as_str) {
                Some(n) => name = n.to_owned(),
                None if main_language.is_some() => err("/name", "must have a value in the main language"),
                None => {}
            }
        }
        Some(_) => err("/name", "must be an object with at least one language"),
        None => err("/", "the required property name is missing"),
    }
    match body.get("terms") {
        Some(Value::Array(terms)) if !terms.is_empty() => {
            let mut event_types = 0;
            for (i, term) in terms.iter().enumerate() {
                if term.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
                    err(&format!("/terms/{i}/id"), "is required and must be a string");
                }
                match term.get("domain").and_then(Value::as_str) {
                    None | Some("eventtype") => event_types += 1,
                    Some("theme" | "facility") => {}
                    Some(_) => err(&format!("/terms/{i}/domain"), "must be eventtype, theme or facility"),
                }
            }
            if event_types != 1 {
                err("/terms", "must contain exactly one term of the eventtype domain");
            }
        }
        Some(_) => err("/terms", "must be an array with at least one term"),
        None => err("/", "the required property terms is missing"),
    }
    match body.get("location").and_then(|l| l.get("@id")) {
        Some(Value::String(id)) if id_in_url(id, "place").is_some() => {}
        Some(_) => err(
            "/location/@id",
            "must be the URL of a place, like https://io.uitdatabank.be/places/<uuid>",
        ),
        None => err("/location", "the required property location.@id is missing"),
    }
    let organizer = match body.get("organizer") {
        None => None,
        Some(o) => match o
            .get("@id")
            .and_then(Value::as_str)
            .and_then(|id| id_in_url(id, "organizer"))
        {
            Some(id) => Some(id),
            None => {
                err(
                    "/organizer/@id",
                    "must be the URL of an organizer, like https://io.uitdatabank.be/organizers/<uuid>",
                );
                None
            }
        },
    };
    let mut windows = None;
    match body.get("calendarType").and_then(Value::as_str) {
        Some("permanent") => {}
        Some("periodic") => match (date_time(body.get("startDate")), date_time(body.get("endDate"))) {
            (Some(s), Some(e)) if s <= e => windows = Some(vec![(s, e)]),
            (Some(_), Some(_)) => err("/endDate", "must not be before startDate"),
            _ => err(
                "/",
                "a periodic event needs startDate and endDate as ISO-8601 date-times",
            ),
        },
        Some("single" | "multiple") => match body.get("subEvent") {
            Some(Value::Array(subs)) if !subs.is_empty() => {
                let mut w = Vec::new();
                for (i, sub) in subs.iter().enumerate() {
                    match (date_time(sub.get("startDate")), date_time(sub.get("endDate"))) {
                        (Some(s), Some(e)) if s <= e => w.push((s, e)),
                        (Some(_), Some(_)) => err(&format!("/subEvent/{i}/endDate"), "must not be before startDate"),
                        _ => err(
                            &format!("/subEvent/{i}"),
                            "needs startDate and endDate as ISO-8601 date-times",
                        ),
                    }
                }
                windows = Some(w);
            }
            _ => err("/subEvent", "a single or multiple event needs at least one subEvent"),
        },
        Some(_) => err("/calendarType", "must be single, multiple, periodic or permanent"),
        None => err("/", "the required property calendarType is missing"),
    }
    let uitpas = organizer.is_some_and(|o| !organizer_card_systems(&o.to_string()).is_empty());
    match body.get("priceInfo") {
        None if uitpas => err("/priceInfo", "a UiTPAS event needs a price with category base"),
        None => {}
        Some(Value::Array(prices)) if !prices.is_empty() => {
            let mut bases = 0;
            for (i, price) in prices.iter().enumerate() {
                let category = price.get("category").and_then(Value::as_str);
                match category {
                    Some("base") => bases += 1,
                    Some("tariff" | "uitpas") => {}
                    _ => err(&format!("/priceInfo/{i}/category"), "must be base, tariff or uitpas"),
                }
                if !price.get("price").and_then(Value::as_f64).is_some_and(|p| p >= 0.0) {
                    err(&format!("/priceInfo/{i}/price"), "must be a number of at least 0");
                }
                if price.get("priceCurrency").is_some_and(|c| c != "EUR") {
                    err(&format!("/priceInfo/{i}/priceCurrency"), "must be EUR");
                }
                if category == Some("tariff") && !price.get("name").is_some_and(Value::is_object) {
                    err(&format!("/priceInfo/{i}/name"), "a tariff needs a name");
                }
            }
            if bases != 1 {
                err("/priceInfo", "must contain exactly one price with category base");
            }
        }
        Some(_) => err("/priceInfo", "must be an array with at least one price"),
    }
    if errors.is_empty() {
        Ok(Checked {
            name,
            organizer,
            windows,
        })
    } else {
        Err(errors)
    }
}

/// `POST /events` → 201 `{id, eventId, url, commandId}`.
pub async fn create_event(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let checked = match check(&body) {
        Ok(c) => c,
        Err(errors) => return Problem::body_invalid_data(errors).into_response(),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let card_systems = checked
        .organizer
        .map(|o| organizer_card_systems(&o.to_string()))
        .unwrap_or_default();
    let event = EventData {
        id: id.clone(),
        name: checked.name,
        organizer: checked.organizer.map(|o| o.to_string()),
        card_systems,
        social_limit: Limit {
            max: 100,
            period: Period::Week,
        },
        checkin_windows: checked.windows,
    };
    sandbox.world().add_event(event.clone());
    if let Err(p) = sandbox.keep(Change::Event(&event)).await {
        return p.into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let body = json!({
        "id": id,
        "eventId": id,
        "url": format!("http://{host}/events/{id}"),
        "commandId": uuid::Uuid::new_v4().to_string(),
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_json_ld_urls() {
        let id = "85b04295-479c-40f5-b3dd-469dfb4387b3";
        assert!(id_in_url(&format!("https://io-test.uitdatabank.be/places/{id}"), "place").is_some());
        assert!(id_in_url(&format!("http://localhost:9090/place/{id}/"), "place").is_some());
        assert!(id_in_url(&format!("https://x/organizers/{id}"), "place").is_none());
        assert!(id_in_url("https://x/places/not-a-uuid", "place").is_none());
        assert!(id_in_url(&format!("ftp://x/places/{id}"), "place").is_none());
    }
}
