//! Black-box tests of the times the service sends to UiTdatabank's Entry API (issue 24): the Entry
//! API reads a time without a zone as Europe/Brussels time (2026-03), so every time is sent in
//! Brussels time with the offset of its own date (`+02:00` in summer, `+01:00` in winter), and a
//! shop's local time without a zone is read as Brussels time. What the sandbox received is read
//! back over HTTP (it keeps an event's document as written); a real PostgreSQL behind the app.

mod common;

use common::TestApp;
use common::contract::Contract;
use reqwest::Method;
use serde_json::{Value, json};

const TEST_ORGANIZER: &str = "0ce87cbc-9299-4528-8d35-92225dc9489f";
const PLACE: &str = "85b04295-479c-40f5-b3dd-469dfb4387b3";

fn activity(calendar: Value) -> Value {
    json!({
        "name": {"nl": "Zomerkamp De Krekel"},
        "mainLanguage": "nl",
        "calendar": calendar,
        "locationId": PLACE,
        "organizerId": TEST_ORGANIZER,
        "eventTypeId": "0.57.0.0.0",
        "basePrice": 10,
    })
}

async fn put(app: &TestApp, id: &str, body: Value) -> common::Answer {
    app.shop(Method::PUT, &format!("/v1/activities/{id}"), Some(body), &[])
        .await
}

/// The event's document as the sandbox's Entry API received it, read by another client and
/// checked against the Entry API's contract.
async fn received(app: &TestApp, event_id: &str) -> Value {
    let base = app.sandbox.base_url();
    let token = common::sandbox_token(&app.http, &base, "inspector").await;
    let request = app.http.get(format!("{base}/events/{event_id}")).bearer_auth(token);
    let answer = common::read(request.send().await.unwrap()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    Contract::entry().assert_valid("GET", "/events/{eventId}", 200, "application/json", &answer.body);
    answer.body
}

/// Every time of a calendar: on the event and on each of its occurrences.
fn times(event: &Value) -> Vec<String> {
    let mut all = Vec::new();
    for holder in std::iter::once(event).chain(event["subEvent"].as_array().into_iter().flatten()) {
        for field in ["startDate", "endDate"] {
            if let Some(t) = holder[field].as_str() {
                all.push(t.to_owned());
            }
        }
    }
    all
}

/// Whether `t` is RFC 3339 with a numeric offset (not `Z`, not without a zone).
fn has_brussels_offset(t: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(t).is_ok() && (t.ends_with("+01:00") || t.ends_with("+02:00"))
}

#[tokio::test]
async fn occurrences_reach_uitdatabank_in_brussels_time_with_the_offset_of_their_date() {
    let app = TestApp::spawn().await;
    let calendar = json!({"type": "multiple", "subEvents": [
        // Summer, a local time without a zone: Brussels time.
        {"startDate": "2027-07-10T20:00:00", "endDate": "2027-07-10T23:30"},
        // Winter, given in UTC.
        {"startDate": "2027-12-10T19:00:00Z", "endDate": "2027-12-10T22:00:00Z"},
        // The night summer time ends: 02:30 comes twice, the first is meant.
        {"startDate": "2027-10-31T01:00:00+02:00", "endDate": "2027-10-31T02:30:00"},
    ]});
    let answer = put(&app, "times-1", activity(calendar)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let event = received(&app, answer.body["eventId"].as_str().unwrap()).await;
    let subs: Vec<(&str, &str)> = event["subEvent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["startDate"].as_str().unwrap(), s["endDate"].as_str().unwrap()))
        .collect();
    assert_eq!(
        subs,
        [
            ("2027-07-10T20:00:00+02:00", "2027-07-10T23:30:00+02:00"),
            ("2027-12-10T20:00:00+01:00", "2027-12-10T23:00:00+01:00"),
            ("2027-10-31T01:00:00+02:00", "2027-10-31T02:30:00+02:00"),
        ],
        "{event}"
    );
    assert_eq!(app.upstream_calls("event-post").await, 1);
}

#[tokio::test]
async fn a_calendar_change_and_a_whole_update_reach_uitdatabank_with_offsets() {
    let app = TestApp::spawn().await;
    let created = put(&app, "times-2", activity(json!({"type": "permanent"}))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let event_id = created.body["eventId"].as_str().unwrap().to_owned();

    // A period from summer into winter, in local times: PUT /events/{id}/calendar.
    let periodic =
        activity(json!({"type": "periodic", "startDate": "2027-06-30T09:00", "endDate": "2027-11-02T17:00:00"}));
    let answer = put(&app, "times-2", periodic.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(app.upstream_calls("event-calendar-put").await, 1);
    let event = received(&app, &event_id).await;
    assert_eq!(event["calendarType"], "periodic");
    assert_eq!(
        (event["startDate"].as_str(), event["endDate"].as_str()),
        (Some("2027-06-30T09:00:00+02:00"), Some("2027-11-02T17:00:00+01:00")),
        "{event}"
    );

    // A new name: the whole event (PUT /events/{id}), its times with it.
    let mut renamed = periodic;
    renamed["name"] = json!({"nl": "Zomerkamp De Sprinkhaan"});
    assert_eq!(put(&app, "times-2", renamed).await.status, 200);
    assert_eq!(app.upstream_calls("event-put").await, 1);
    let event = received(&app, &event_id).await;
    assert_eq!(event["name"]["nl"], "Zomerkamp De Sprinkhaan");
    let all = times(&event);
    assert_eq!(
        all,
        ["2027-06-30T09:00:00+02:00", "2027-11-02T17:00:00+01:00"],
        "{event}"
    );
    assert!(all.iter().all(|t| has_brussels_offset(t)));
}

#[tokio::test]
async fn the_same_instant_given_with_an_offset_or_as_a_local_time_is_the_same_activity() {
    let app = TestApp::spawn().await;
    let local = activity(json!({"type": "single", "subEvents": [
        {"startDate": "2027-01-20T19:30:00", "endDate": "2027-01-20T22:00:00"}]}));
    let utc = activity(json!({"type": "single", "subEvents": [
        {"startDate": "2027-01-20T18:30:00Z", "endDate": "2027-01-20T21:00:00+00:00"}]}));
    let first = put(&app, "times-3", local).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = put(&app, "times-3", utc).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["version"], 1, "no change: {}", again.body);
    let event = received(&app, first.body["eventId"].as_str().unwrap()).await;
    assert_eq!(
        times(&event),
        ["2027-01-20T19:30:00+01:00", "2027-01-20T22:00:00+01:00"]
    );
    assert_eq!(app.upstream_calls("event-calendar-put").await, 0);
}

#[tokio::test]
async fn a_local_time_that_brussels_skips_is_refused_saying_why_and_nothing_is_sent() {
    let app = TestApp::spawn().await;
    // 2027-03-28: the clocks go from 02:00 to 03:00.
    let skipped = activity(json!({"type": "single", "subEvents": [
        {"startDate": "2027-03-28T02:30:00", "endDate": "2027-03-28T05:00:00"}]}));
    let answer = put(&app, "times-4", skipped).await;
    let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("2027-03-28T02:30 does not exist in Brussels"),
        "{detail}"
    );
    for bad in ["2027-07-10", "10/07/2027 20:00", "2027-07-10T25:00:00"] {
        let body = activity(json!({"type": "periodic", "startDate": bad, "endDate": "2027-08-01T00:00:00Z"}));
        put(&app, "times-4", body)
            .await
            .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    }
    assert_eq!(app.upstream_calls("event-post").await, 0);
}

#[tokio::test]
async fn the_sandbox_reads_a_time_without_a_zone_as_brussels_time_as_the_entry_api_does() {
    let app = TestApp::spawn().await;
    let base = app.sandbox.base_url();
    let token = common::sandbox_token(&app.http, &base, "inspector").await;
    let event = json!({
        "mainLanguage": "nl",
        "name": {"nl": "Avondconcert"},
        "calendarType": "single",
        // 20:00 in Brussels is 18:00 UTC: before 18:30 UTC only when read as Brussels time.
        "subEvent": [{"startDate": "2027-07-10T20:00:00", "endDate": "2027-07-10T18:30:00Z"}],
        "location": {"@id": format!("https://io-test.uitdatabank.be/places/{PLACE}")},
        "organizer": {"@id": format!("https://io-test.uitdatabank.be/organizers/{TEST_ORGANIZER}")},
        "terms": [{"id": "0.50.4.0.0", "domain": "eventtype"}],
        "priceInfo": [{"category": "base", "name": {"nl": "Basistarief"}, "price": 10, "priceCurrency": "EUR"}],
    });
    let request = app.http.post(format!("{base}/events")).bearer_auth(&token).json(&event);
    let answer = common::read(request.send().await.unwrap()).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    Contract::entry().assert_valid("POST", "/events", 201, "application/json", &answer.body);
    // …and an end before its start, in Brussels time, is still refused.
    let mut backwards = event;
    backwards["subEvent"][0]["endDate"] = json!("2027-07-10T17:59:00Z");
    let request = app
        .http
        .post(format!("{base}/events"))
        .bearer_auth(&token)
        .json(&backwards);
    let answer = common::read(request.send().await.unwrap()).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["schemaErrors"][0]["jsonPointer"], "/subEvent/0/endDate");
}
