//! The checks of the Entry API's schema that matter to a shop, on an event's body: required
//! fields, languages, the calendar, prices, status and labels ([`check`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::dataset::organizer_card_systems;
use super::super::problem::SchemaError;

pub(super) const LANGUAGES: [&str; 4] = ["nl", "fr", "de", "en"];
pub(super) const STATUS_TYPES: [&str; 3] = ["Available", "TemporarilyUnavailable", "Unavailable"];
/// The event fields of a calendar.
pub(super) const CALENDAR: [&str; 7] = [
    "calendarType",
    "subEvent",
    "startDate",
    "endDate",
    "openingHours",
    "openingHoursClosedDays",
    "openingHoursAdjustedDays",
];
/// The place of the dataset's events (the sandbox has no places of its own).
pub(super) const DATASET_PLACE: &str = "85b04295-479c-40f5-b3dd-469dfb4387b3";

/// The UUID in a JSON-LD `@id` such as `https://io.uitdatabank.be/places/<uuid>`, if the URL has
/// the shape of the schema's pattern (`^https?://…/(kind|kinds)/<uuid>`).
pub(super) fn id_in_url(url: &str, kind: &str) -> Option<uuid::Uuid> {
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

/// A time of the calendar: with an offset, or without a zone, read as Europe/Brussels time as the
/// Entry API does since 2026-03.
pub(super) fn date_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v?.as_str().and_then(|s| crate::brussels::parse(s).ok())
}

/// What the sandbox keeps of a valid event body.
pub(super) struct Checked {
    pub(super) name: String,
    pub(super) organizer: Option<uuid::Uuid>,
    pub(super) windows: Option<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
}

/// Checks an event body against what the Entry API requires; every violation is reported.
pub(super) fn check(body: &Value) -> Result<Checked, Vec<SchemaError>> {
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
    let windows = check_calendar(body, &mut err);
    if let Some(status) = body.get("status") {
        check_status(status, "/status", &mut err);
    }
    for field in ["labels", "hiddenLabels"] {
        if let Some(labels) = body.get(field) {
            check_labels(labels, &format!("/{field}"), &mut err);
        }
    }
    let uitpas = organizer.is_some_and(|o| !organizer_card_systems(&o.to_string()).is_empty());
    match body.get("priceInfo") {
        None if uitpas => err("/priceInfo", "a UiTPAS event needs a price with category base"),
        None => {}
        Some(prices) => check_prices(prices, "/priceInfo", &mut err),
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

/// Checks a calendar (the fields of `PUT /events/{id}/calendar`, also in an event body); the
/// windows in which a check-in is allowed (`None`: always).
pub(super) fn check_calendar(
    body: &Value,
    err: &mut impl FnMut(&str, &str),
) -> Option<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
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
                    if let Some(status) = sub.get("status") {
                        check_status(status, &format!("/subEvent/{i}/status"), err);
                    }
                }
                windows = Some(w);
            }
            _ => err("/subEvent", "a single or multiple event needs at least one subEvent"),
        },
        Some(_) => err("/calendarType", "must be single, multiple, periodic or permanent"),
        None => err("/", "the required property calendarType is missing"),
    }
    windows
}

/// Checks a `priceInfo` array; `at` is its pointer (empty for the body of `…/price-info`).
pub(super) fn check_prices(prices: &Value, at: &str, err: &mut impl FnMut(&str, &str)) {
    let Value::Array(prices) = prices else {
        return err(
            if at.is_empty() { "/" } else { at },
            "must be an array with at least one price",
        );
    };
    if prices.is_empty() {
        return err(
            if at.is_empty() { "/" } else { at },
            "must be an array with at least one price",
        );
    }
    let mut bases = 0;
    for (i, price) in prices.iter().enumerate() {
        let category = price.get("category").and_then(Value::as_str);
        match category {
            Some("base") => bases += 1,
            Some("tariff" | "uitpas") => {}
            _ => err(&format!("{at}/{i}/category"), "must be base, tariff or uitpas"),
        }
        if !price.get("price").and_then(Value::as_f64).is_some_and(|p| p >= 0.0) {
            err(&format!("{at}/{i}/price"), "must be a number of at least 0");
        }
        if price.get("priceCurrency").is_some_and(|c| c != "EUR") {
            err(&format!("{at}/{i}/priceCurrency"), "must be EUR");
        }
        if category == Some("tariff") && !price.get("name").is_some_and(Value::is_object) {
            err(&format!("{at}/{i}/name"), "a tariff needs a name");
        }
    }
    if bases != 1 {
        err(
            if at.is_empty() { "/" } else { at },
            "must contain exactly one price with category base",
        );
    }
}

/// Checks an `event.status`: a type of the three, and a reason per language.
pub(super) fn check_status(status: &Value, at: &str, err: &mut impl FnMut(&str, &str)) {
    if !status.is_object() {
        return err(if at.is_empty() { "/" } else { at }, "must be an object with a type");
    }
    if !status
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| STATUS_TYPES.contains(&t))
    {
        err(
            &format!("{at}/type"),
            "must be Available, TemporarilyUnavailable or Unavailable",
        );
    }
    match status.get("reason") {
        None => {}
        Some(Value::Object(reasons)) => {
            for (lang, reason) in reasons {
                if !LANGUAGES.contains(&lang.as_str()) {
                    err(&format!("{at}/reason/{lang}"), "must be one of nl, fr, de, en");
                } else if reason.as_str().is_none_or(|r| r.trim().is_empty()) {
                    err(&format!("{at}/reason/{lang}"), "must be a non-empty string");
                }
            }
        }
        Some(_) => err(&format!("{at}/reason"), "must be an object with a reason per language"),
    }
}

/// Checks labels: 2 to 255 characters, not only spaces, no semicolon.
pub(super) fn check_labels(labels: &Value, at: &str, err: &mut impl FnMut(&str, &str)) {
    let Value::Array(labels) = labels else {
        return err(at, "must be an array of labels");
    };
    for (i, label) in labels.iter().enumerate() {
        let ok = label.as_str().is_some_and(|l| {
            (2..=255).contains(&l.chars().count())
                && !l.contains(';')
                && l.chars().filter(|c| !c.is_whitespace()).count() >= 2
        });
        if !ok {
            err(
                &format!("{at}/{i}"),
                "must be a label of 2 to 255 characters without a semicolon",
            );
        }
    }
}
