//! Times in Brussels: how the UiTdatabank Entry API reads an event's times, and how the service
//! writes them.
//!
//! Since 2026-03 the Entry API reads a time without a time zone (`2027-07-01T20:00:00`) as
//! Europe/Brussels local time. The service never leaves it to that rule: every time it sends to
//! the Entry API carries the Brussels offset of its own date (`+01:00` in winter, `+02:00` in
//! summer), and a shop may give a local time without a zone, which is read as Brussels time, as
//! UiTdatabank would. The offsets come from the IANA time zone database (chrono-tz), so a change of
//! the rules (the EU has discussed ending summer time) is a dependency update, not a code change.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Europe::Brussels;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The local forms accepted without a zone: with seconds (and a fraction), or minutes only.
const LOCAL_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"];

/// Why a time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("must be a date-time, e.g. 2027-07-01T20:00:00+02:00, or a Brussels local time 2027-07-01T20:00:00")]
    Malformed,
    /// A local time in the hour skipped when summer time starts (e.g. 02:30 on the last Sunday of March).
    #[error(
        "{} does not exist in Brussels (the clocks go from 02:00 to 03:00 that night); give an offset",
        .0.format("%Y-%m-%dT%H:%M")
    )]
    Skipped(NaiveDateTime),
}

/// A time as a shop or the Entry API writes it: RFC 3339 with an offset (`Z`, `+02:00`), or a
/// local time without a zone, read as Europe/Brussels. A local time that occurs twice (the hour
/// repeated when summer time ends) is the first of the two; one that never occurs (the hour
/// skipped when it starts) is refused.
pub fn parse(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .ok_or(TimeError::Malformed)?;
    match Brussels.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Ok(t.with_timezone(&Utc)),
        LocalResult::None => Err(TimeError::Skipped(local)),
    }
}

/// `t` in Brussels time with its offset, as sent to the Entry API: `2027-07-01T20:00:00+02:00`,
/// `2027-01-15T20:00:00+01:00` (fractions of a second only when there are any).
pub fn format(t: DateTime<Utc>) -> String {
    t.with_timezone(&Brussels).to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The event fields that hold times: on the event, and on each of its `subEvent`s.
const TIME_FIELDS: [&str; 2] = ["startDate", "endDate"];

/// Writes every time of an Entry API event or calendar body (`startDate`, `endDate`, and those
/// of each `subEvent`) in Brussels time with its offset. A time without a zone is read as Brussels
/// time; a value that is no time is left as it is (the Entry API refuses it, naming the field).
pub fn with_brussels_offsets(body: &mut Value) {
    fn times(object: &mut Value) {
        for field in TIME_FIELDS {
            if let Some(value) = object.get_mut(field)
                && let Some(t) = value.as_str().and_then(|s| parse(s).ok())
            {
                *value = Value::String(format(t));
            }
        }
    }
    times(body);
    if let Some(subs) = body.get_mut("subEvent").and_then(Value::as_array_mut) {
        subs.iter_mut().for_each(times);
    }
}

/// A time of an event as a shop gives it: with an offset, or a Brussels local time without a zone (see [`parse`]).
/// Kept as the instant it names; written back in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventTime(pub DateTime<Utc>);

impl EventTime {
    pub fn utc(self) -> DateTime<Utc> {
        self.0
    }

    /// The instant in RFC 3339, in UTC (`2027-07-01T18:00:00+00:00`).
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339()
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map(EventTime).map_err(serde::de::Error::custom)
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl utoipa::PartialSchema for EventTime {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A date-time with an offset (RFC 3339, e.g. `2027-07-01T20:00:00+02:00`), or a local time \
                 without a zone (`2027-07-01T20:00:00` or `2027-07-01T20:00`), read as Europe/Brussels time. \
                 UiTdatabank receives it in Brussels time with its offset.",
            ))
            .examples(["2027-07-01T20:00:00+02:00"])
            .into()
    }
}

impl utoipa::ToSchema for EventTime {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_summer_time_has_plus_two_and_a_winter_time_plus_one() {
        assert_eq!(format(utc("2027-07-01T18:00:00Z")), "2027-07-01T20:00:00+02:00");
        assert_eq!(format(utc("2027-01-15T19:00:00Z")), "2027-01-15T20:00:00+01:00");
        // The switches of 2027: the last Sundays of March and October, at 01:00 UTC.
        assert_eq!(format(utc("2027-03-28T00:59:59Z")), "2027-03-28T01:59:59+01:00");
        assert_eq!(format(utc("2027-03-28T01:00:00Z")), "2027-03-28T03:00:00+02:00");
        assert_eq!(format(utc("2027-10-31T00:59:59Z")), "2027-10-31T02:59:59+02:00");
        assert_eq!(format(utc("2027-10-31T01:00:00Z")), "2027-10-31T02:00:00+01:00");
    }

    #[test]
    fn a_time_without_a_zone_is_brussels_time() {
        assert_eq!(parse("2027-07-01T20:00:00").unwrap(), utc("2027-07-01T18:00:00Z"));
        assert_eq!(parse("2027-07-01T20:00").unwrap(), utc("2027-07-01T18:00:00Z"));
        assert_eq!(parse("2027-01-15T20:00:00.5").unwrap(), utc("2027-01-15T19:00:00.5Z"));
        // With an offset, it is the instant it names.
        assert_eq!(parse("2027-07-01T20:00:00+00:00").unwrap(), utc("2027-07-01T20:00:00Z"));
        assert_eq!(parse("2027-07-01T20:00:00Z").unwrap(), utc("2027-07-01T20:00:00Z"));
    }

    #[test]
    fn the_skipped_hour_is_refused_and_the_repeated_hour_is_its_first() {
        assert_eq!(
            parse("2027-03-28T02:30:00"),
            Err(TimeError::Skipped(
                NaiveDateTime::parse_from_str("2027-03-28T02:30:00", LOCAL_FORMATS[0]).unwrap()
            ))
        );
        assert_eq!(parse("2027-10-31T02:30:00").unwrap(), utc("2027-10-31T00:30:00Z"));
        for bad in ["", "2027-07-01", "20:00", "2027-13-01T20:00:00", "tomorrow"] {
            assert_eq!(parse(bad), Err(TimeError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn every_time_of_an_event_body_gets_the_offset_of_its_date() {
        let mut body = json!({
            "calendarType": "multiple",
            "subEvent": [
                {"startDate": "2027-07-01T18:00:00+00:00", "endDate": "2027-07-01T20:00:00", "status": {"type": "Available"}},
                {"startDate": "2027-12-01T19:00:00Z", "endDate": "2027-12-01T21:00:00+01:00"},
            ],
            "name": {"nl": "2027-07-01T18:00:00Z"},
        });
        with_brussels_offsets(&mut body);
        assert_eq!(
            body["subEvent"],
            json!([
                {"startDate": "2027-07-01T20:00:00+02:00", "endDate": "2027-07-01T20:00:00+02:00", "status": {"type": "Available"}},
                {"startDate": "2027-12-01T20:00:00+01:00", "endDate": "2027-12-01T21:00:00+01:00"},
            ])
        );
        assert_eq!(body["name"]["nl"], "2027-07-01T18:00:00Z", "only times are touched");
        let mut periodic =
            json!({"calendarType": "periodic", "startDate": "2027-06-01T00:00:00Z", "endDate": "not a time"});
        with_brussels_offsets(&mut periodic);
        assert_eq!(periodic["startDate"], "2027-06-01T02:00:00+02:00");
        assert_eq!(periodic["endDate"], "not a time");
    }

    #[test]
    fn a_shop_time_reads_both_forms_and_refuses_others() {
        let t: EventTime = serde_json::from_value(json!("2027-07-01T20:00")).unwrap();
        assert_eq!(t.utc(), utc("2027-07-01T18:00:00Z"));
        assert!(serde_json::from_value::<EventTime>(json!("2027-03-28T02:30")).is_err());
        assert!(serde_json::from_value::<EventTime>(json!(12)).is_err());
    }
}
