//! Black-box tests of shop activities as UiTdatabank events (created, linked, kept in step,
//! deleted), UiTPAS participation and check-ins, against the sandbox's Entry API and UiTPAS over
//! HTTP and a real PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::contract::Contract;
use common::{LIMITED_EVENT, TEST_EVENT, TestApp, TestOptions};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use uitpas_checkout::config::{HumanDuration, Secret, SecretList};

const TEST_ORGANIZER: &str = "0ce87cbc-9299-4528-8d35-92225dc9489f";
const OTHER_ORGANIZER: &str = "11111111-2222-4333-8444-555555555555";
const PLACE: &str = "85b04295-479c-40f5-b3dd-469dfb4387b3";

fn activity(organizer: &str) -> Value {
    json!({
        "name": {"nl": "Zomerkamp De Krekel"},
        "mainLanguage": "nl",
        "calendar": {"type": "permanent"},
        "locationId": PLACE,
        "organizerId": organizer,
        "eventTypeId": "0.57.0.0.0",
        "basePrice": 10,
        "otherPrices": [{"name": {"nl": "Kinderen"}, "price": 5}]
    })
}

async fn put(app: &TestApp, id: &str, body: Value) -> common::Answer {
    app.shop(Method::PUT, &format!("/v1/activities/{id}"), Some(body), &[])
        .await
}

async fn read(app: &TestApp, id: &str) -> Value {
    let answer = app.shop(Method::GET, &format!("/v1/activities/{id}"), None, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn set_status(app: &TestApp, id: &str, body: Value) -> common::Answer {
    app.shop(Method::PUT, &format!("/v1/activities/{id}/status"), Some(body), &[])
        .await
}

async fn delete(app: &TestApp, id: &str) -> common::Answer {
    app.shop(Method::DELETE, &format!("/v1/activities/{id}"), None, &[])
        .await
}

/// A request of another client straight to the sandbox (a person looking at UiTdatabank).
async fn at_sandbox(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> common::Answer {
    let base = app.sandbox.base_url();
    let token = common::sandbox_token(&app.http, &base, "inspector").await;
    let mut request = app.http.request(method, format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    common::read(request.send().await.expect("the sandbox answers")).await
}

/// The event as UiTdatabank has it, checked against the Entry API's contract. (Counts as an
/// `event-get` at the sandbox.)
async fn entry_event(app: &TestApp, event_id: &str) -> Value {
    let answer = at_sandbox(app, Method::GET, &format!("/events/{event_id}"), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    Contract::entry().assert_valid("GET", "/events/{eventId}", 200, "application/json", &answer.body);
    answer.body
}

/// The events UiTdatabank's Search API finds with a label, whatever their workflow status.
async fn labelled(app: &TestApp, label: &str) -> Vec<String> {
    let answer = at_sandbox(
        app,
        Method::GET,
        &format!("/events?labels[]={label}&disableDefaultFilters=true"),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["member"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned())
        .collect()
}

/// The hidden label the service puts on an activity's event (named by its own id of the activity).
async fn label_of(app: &TestApp, shop_activity_id: &str) -> String {
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM activities WHERE shop_activity_id = $1")
        .bind(shop_activity_id)
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    format!("uitpas-checkout-{}", id.simple())
}

fn with(mut activity: Value, field: &str, value: Value) -> Value {
    activity[field] = value;
    activity
}

/// An app whose calls to UiTdatabank time out after 300 ms, with a settle window of its own.
async fn app_with_window(window: Duration) -> TestApp {
    TestApp::spawn_with(TestOptions {
        configure: Box::new(move |c| {
            c.upstream_timeout = HumanDuration(Duration::from_millis(300));
            c.replay_lease = HumanDuration(Duration::from_secs(2));
            c.settle_window = HumanDuration(window);
        }),
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn an_activity_becomes_one_uitdatabank_event_that_takes_part_in_uitpas() {
    let app = TestApp::spawn().await;
    let answer = put(&app, "camp-1", activity(TEST_ORGANIZER)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["shopActivityId"], "camp-1");
    assert_eq!(answer.body["status"], "created");
    let event_id = answer.body["eventId"].as_str().unwrap();
    assert!(answer.body["url"].as_str().unwrap().ends_with(event_id));
    assert_eq!(answer.body["uitpas"]["enabled"], true);
    assert_eq!(answer.body["uitpas"]["cardSystems"].as_array().unwrap().len(), 2);

    let again = put(&app, "camp-1", activity(TEST_ORGANIZER)).await;
    assert_eq!(again.status, 200, "the same activity again: the event already made");
    assert_eq!(again.body["eventId"], event_id);
    let read = app.shop(Method::GET, "/v1/activities/camp-1", None, &[]).await;
    assert_eq!(read.body, again.body);
    assert_eq!(app.upstream_calls("event-post").await, 1);
}

#[tokio::test]
async fn concurrent_puts_of_one_activity_make_exactly_one_event() {
    let app = TestApp::spawn().await;
    let answers = join_all((0..10).map(|_| put(&app, "camp-2", activity(TEST_ORGANIZER)))).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(created, 1, "one request created it");
    assert!(answers.iter().all(|a| a.status == 201 || a.status == 200));
    let ids: std::collections::BTreeSet<&str> = answers.iter().map(|a| a.body["eventId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "everyone got the same event");
    assert_eq!(app.upstream_calls("event-post").await, 1);
}

#[tokio::test]
async fn a_price_change_updates_the_events_price_info_once_per_version() {
    let app = TestApp::spawn().await;
    let created = put(&app, "camp-3", activity(TEST_ORGANIZER)).await;
    assert_eq!(
        (created.body["version"].as_i64(), created.body["eventVersion"].as_i64()),
        (Some(1), Some(1))
    );
    let event_id = created.body["eventId"].as_str().unwrap().to_owned();
    let changed = with(activity(TEST_ORGANIZER), "basePrice", json!(12.5));
    let answer = put(&app, "camp-3", changed.clone()).await;
    assert_eq!(answer.status, 200, "UiTdatabank has the change: {}", answer.body);
    assert_eq!(answer.body["eventId"], event_id.as_str(), "the same event");
    assert_eq!(
        (answer.body["version"].as_i64(), answer.body["eventVersion"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(app.upstream_calls("event-price-info-put").await, 1);
    assert_eq!(app.upstream_calls("event-put").await, 0, "only the price changed");
    assert_eq!(app.upstream_calls("event-post").await, 1, "never a second event");

    let again = put(&app, "camp-3", changed).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["version"], 2, "the same change is no new version");
    assert_eq!(
        app.upstream_calls("event-price-info-put").await,
        1,
        "applied once per version"
    );
    let event = entry_event(&app, &event_id).await;
    assert_eq!(event["priceInfo"][0]["category"], "base");
    assert_eq!(event["priceInfo"][0]["price"], 12.5);
    assert_eq!(event["priceInfo"][1]["name"]["nl"], "Kinderen");
}

#[tokio::test]
async fn a_new_name_updates_the_whole_event_and_a_new_calendar_only_its_calendar() {
    let app = TestApp::spawn().await;
    let event_id = put(&app, "camp-6", activity(TEST_ORGANIZER)).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    let label = entry_event(&app, &event_id).await["hiddenLabels"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(label.starts_with("uitpas-checkout-"), "{label}");

    let renamed = with(
        activity(TEST_ORGANIZER),
        "name",
        json!({"nl": "Zomerkamp De Sprinkhaan"}),
    );
    let answer = put(&app, "camp-6", renamed.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(app.upstream_calls("event-put").await, 1);
    let event = entry_event(&app, &event_id).await;
    assert_eq!(event["name"]["nl"], "Zomerkamp De Sprinkhaan");
    assert_eq!(event["hiddenLabels"], json!([label]), "the label stays on the event");

    let periodic = with(
        renamed,
        "calendar",
        json!({"type": "periodic", "startDate": "2027-07-01T09:00:00Z", "endDate": "2027-07-05T16:00:00Z"}),
    );
    let answer = put(&app, "camp-6", periodic).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["version"], 3);
    assert_eq!(app.upstream_calls("event-calendar-put").await, 1);
    assert_eq!(app.upstream_calls("event-put").await, 1, "the calendar alone");
    let event = entry_event(&app, &event_id).await;
    assert_eq!(event["calendarType"], "periodic");
    assert_eq!(event["name"]["nl"], "Zomerkamp De Sprinkhaan");
}

#[tokio::test]
async fn changes_made_while_uitdatabank_is_down_reach_it_later_the_latest_last() {
    let app = TestApp::spawn().await;
    let event_id = put(&app, "camp-7", activity(TEST_ORGANIZER)).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.fault(json!({"operation": "event-price-info-put", "mode": "error", "status": 503}))
        .await;
    let first = put(&app, "camp-7", with(activity(TEST_ORGANIZER), "basePrice", json!(12))).await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(
        (first.body["version"].as_i64(), first.body["eventVersion"].as_i64()),
        (Some(2), Some(1))
    );
    let second = put(&app, "camp-7", with(activity(TEST_ORGANIZER), "basePrice", json!(14))).await;
    assert_eq!(second.status, 202, "{}", second.body);
    assert_eq!(second.body["version"], 3);
    assert_eq!(second.body["eventVersion"], 1, "UiTdatabank is behind");

    app.clear_faults().await;
    assert_eq!(app.drain().await, 1, "one job for the activity");
    let now = read(&app, "camp-7").await;
    assert_eq!(
        (now["version"].as_i64(), now["eventVersion"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(entry_event(&app, &event_id).await["priceInfo"][0]["price"], 14.0);
    assert_eq!(app.drain().await, 0, "nothing left");
}

#[tokio::test]
async fn a_change_that_arrives_while_an_update_is_in_flight_is_sent_after_it() {
    let app = TestApp::spawn().await;
    let event_id = put(&app, "camp-8", activity(TEST_ORGANIZER)).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.fault(json!({"operation": "event-price-info-put", "mode": "delay", "delayMs": 1500, "times": 1}))
        .await;
    let first = {
        let app = &app;
        async move { put(app, "camp-8", with(activity(TEST_ORGANIZER), "basePrice", json!(12))).await }
    };
    let second = async {
        // The first change's call is at UiTdatabank (counted as it arrives, answered 1.5 s later).
        let deadline = Instant::now() + Duration::from_secs(10);
        while app.upstream_calls("event-price-info-put").await == 0 {
            assert!(Instant::now() < deadline, "the first update reaches UiTdatabank");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        put(&app, "camp-8", with(activity(TEST_ORGANIZER), "basePrice", json!(14))).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(
        second.status, 202,
        "stored while the first is in flight: {}",
        second.body
    );
    assert_eq!(second.body["version"], 3);
    assert_eq!(first.status, 200, "{}", first.body);
    let now = read(&app, "camp-8").await;
    assert_eq!(
        (now["version"].as_i64(), now["eventVersion"].as_i64()),
        (Some(3), Some(3)),
        "{now}"
    );
    assert_eq!(entry_event(&app, &event_id).await["priceInfo"][0]["price"], 14.0);
    assert_eq!(
        app.upstream_calls("event-price-info-put").await,
        2,
        "one call per version"
    );
}

#[tokio::test]
async fn deleting_an_activity_soft_deletes_its_event_once() {
    let app = TestApp::spawn().await;
    let event_id = put(&app, "camp-9", activity(TEST_ORGANIZER)).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = delete(&app, "camp-9").await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let now = read(&app, "camp-9").await;
    assert_eq!(now["status"], "deleted");
    assert_eq!(
        (now["version"].as_i64(), now["eventVersion"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(now["eventId"], event_id.as_str());
    assert_eq!(entry_event(&app, &event_id).await["workflowStatus"], "DELETED");

    assert_eq!(delete(&app, "camp-9").await.status, 204, "deleting again is done");
    assert_eq!(app.upstream_calls("event-delete").await, 1);
    put(&app, "camp-9", activity(TEST_ORGANIZER))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:activity-deleted");
    set_status(&app, "camp-9", json!({"type": "Unavailable"}))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:activity-deleted");
    delete(&app, "no-such-camp")
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    assert_eq!(
        read(&app, "camp-9").await["version"],
        2,
        "nothing changed by the refusals"
    );
}

#[tokio::test]
async fn a_deletion_while_uitdatabank_is_down_is_replayed() {
    let app = TestApp::spawn().await;
    let event_id = put(&app, "camp-10", activity(TEST_ORGANIZER)).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.fault(json!({"operation": "event-delete", "mode": "error", "status": 503}))
        .await;
    let answer = delete(&app, "camp-10").await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["status"], "deleted");
    assert_eq!(answer.body["eventVersion"], 1);
    app.clear_faults().await;
    assert_eq!(app.drain().await, 1);
    assert_eq!(read(&app, "camp-10").await["eventVersion"], 2);
    assert_eq!(entry_event(&app, &event_id).await["workflowStatus"], "DELETED");
}

#[tokio::test]
async fn an_activity_deleted_before_uitdatabank_made_its_event_makes_none() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "event-post", "mode": "error", "status": 503, "times": 1}))
        .await;
    assert_eq!(put(&app, "camp-11", activity(TEST_ORGANIZER)).await.status, 202);
    let answer = delete(&app, "camp-11").await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let now = read(&app, "camp-11").await;
    assert_eq!(now["status"], "deleted");
    assert!(now["eventId"].is_null());
    assert_eq!(app.drain().await, 0);
    assert_eq!(app.upstream_calls("event-post").await, 1, "the refused one only");
    assert!(labelled(&app, &label_of(&app, "camp-11").await).await.is_empty());
}

#[tokio::test]
async fn a_status_change_reaches_the_event_and_later_changes_keep_it() {
    let app = TestApp::spawn().await;
    let start = chrono::Utc::now() + chrono::Duration::days(30);
    let show = with(
        activity(TEST_ORGANIZER),
        "calendar",
        json!({"type": "single", "subEvents": [
            {"startDate": start.to_rfc3339(), "endDate": (start + chrono::Duration::hours(2)).to_rfc3339()}]}),
    );
    let event_id = put(&app, "show-2", show.clone()).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled =
        json!({"type": "Unavailable", "reason": {"nl": "Geannuleerd wegens ziekte", "en": "Cancelled: illness"}});
    let answer = set_status(&app, "show-2", cancelled.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["eventStatus"], cancelled);
    assert_eq!(
        (answer.body["version"].as_i64(), answer.body["eventVersion"].as_i64()),
        (Some(2), Some(2))
    );
    let event = entry_event(&app, &event_id).await;
    assert_eq!(event["status"], cancelled);
    assert_eq!(event["subEvent"][0]["status"], cancelled);
    assert_eq!(set_status(&app, "show-2", cancelled.clone()).await.status, 200);
    assert_eq!(app.upstream_calls("event-status-put").await, 1, "the same status once");

    for (body, pointer) in [
        (json!({"type": "Cancelled"}), None),
        (
            json!({"type": "Unavailable", "reason": {"xx": "Afgelast"}}),
            Some("/reason/xx"),
        ),
        (
            json!({"type": "Unavailable", "reason": {"nl": "  "}}),
            Some("/reason/nl"),
        ),
        (json!({"type": "Unavailable", "why": "ziek"}), None),
    ] {
        let answer = set_status(&app, "show-2", body.clone()).await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        if let Some(pointer) = pointer {
            assert_eq!(problem["schemaErrors"][0]["jsonPointer"], pointer, "{body}");
        }
    }
    set_status(&app, "no-such-show", cancelled.clone())
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    assert_eq!(
        read(&app, "show-2").await["version"],
        2,
        "nothing changed by the refusals"
    );

    // Postponed to a later date: the new calendar keeps the status, on the event and its date.
    let postponed = json!({"type": "TemporarilyUnavailable"});
    assert_eq!(set_status(&app, "show-2", postponed.clone()).await.status, 200);
    let later = start + chrono::Duration::days(7);
    let moved = with(
        show,
        "calendar",
        json!({"type": "single", "subEvents": [
            {"startDate": later.to_rfc3339(), "endDate": (later + chrono::Duration::hours(2)).to_rfc3339()}]}),
    );
    assert_eq!(put(&app, "show-2", moved).await.status, 200);
    let event = entry_event(&app, &event_id).await;
    assert_eq!(event["status"], postponed);
    assert_eq!(event["subEvent"][0]["status"], postponed);
    assert_eq!(app.upstream_calls("event-calendar-put").await, 1);
}

#[tokio::test]
async fn a_status_set_before_the_event_exists_is_created_with_it() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "event-post", "mode": "error", "status": 503}))
        .await;
    assert_eq!(put(&app, "camp-12", activity(TEST_ORGANIZER)).await.status, 202);
    let postponed = json!({"type": "TemporarilyUnavailable", "reason": {"nl": "Uitgesteld"}});
    let answer = set_status(&app, "camp-12", postponed.clone()).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["status"], "pending");
    app.clear_faults().await;
    assert_eq!(app.drain().await, 1);
    let now = read(&app, "camp-12").await;
    assert_eq!(
        (now["version"].as_i64(), now["eventVersion"].as_i64()),
        (Some(2), Some(2))
    );
    let event = entry_event(&app, now["eventId"].as_str().unwrap()).await;
    assert_eq!(event["status"], postponed);
    assert_eq!(app.upstream_calls("event-status-put").await, 0, "sent with the event");
}

#[tokio::test]
async fn an_existing_event_is_linked_after_checking_it_takes_part_in_uitpas() {
    let app = TestApp::spawn().await;
    let answer = put(&app, "festival", json!({"eventId": TEST_EVENT})).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["eventId"], TEST_EVENT);
    assert_eq!(answer.body["linked"], true);
    assert_eq!(answer.body["status"], "created");
    assert_eq!(answer.body["uitpas"]["enabled"], true);
    assert_eq!(
        (answer.body["version"].as_i64(), answer.body["eventVersion"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(app.upstream_calls("event-get").await, 1, "the event was read");
    assert_eq!(put(&app, "festival", json!({"eventId": TEST_EVENT})).await.status, 200);
    assert_eq!(
        app.upstream_calls("event-get").await,
        1,
        "linked before: not read again"
    );
    assert_eq!(app.upstream_calls("event-post").await, 0, "no event made");

    put(&app, "festival-2", json!({"eventId": TEST_EVENT}))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:event-already-linked");
    put(&app, "festival", json!({"eventId": LIMITED_EVENT}))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:activity-linked");
    put(&app, "festival", activity(TEST_ORGANIZER))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:activity-linked");
    assert_eq!(put(&app, "camp-13", activity(TEST_ORGANIZER)).await.status, 201);
    put(&app, "camp-13", json!({"eventId": LIMITED_EVENT}))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:activity-not-linked");

    // A status reaches the linked event; deleting the activity leaves the organizer's event.
    assert_eq!(
        set_status(&app, "festival", json!({"type": "Unavailable"}))
            .await
            .status,
        200
    );
    assert_eq!(entry_event(&app, TEST_EVENT).await["status"]["type"], "Unavailable");
    assert_eq!(delete(&app, "festival").await.status, 204);
    assert_eq!(read(&app, "festival").await["status"], "deleted");
    assert_eq!(app.upstream_calls("event-delete").await, 0);
    assert_eq!(entry_event(&app, TEST_EVENT).await["workflowStatus"], "APPROVED");
    // Its activity deleted, the event may be linked again.
    assert_eq!(
        put(&app, "festival-2", json!({"eventId": TEST_EVENT})).await.status,
        201
    );
}

#[tokio::test]
async fn an_event_that_does_not_exist_or_takes_no_part_in_uitpas_is_not_linked() {
    let app = TestApp::spawn().await;
    // An event of an organizer outside UiTPAS, and one deleted, made by the organizer themself.
    let other = at_sandbox(
        &app,
        Method::POST,
        "/events",
        Some(json!({
            "mainLanguage": "nl", "name": {"nl": "Concert zonder UiTPAS"}, "calendarType": "permanent",
            "terms": [{"id": "0.50.4.0.0"}],
            "location": {"@id": format!("https://io-test.uitdatabank.be/places/{PLACE}")},
            "organizer": {"@id": format!("https://io-test.uitdatabank.be/organizers/{OTHER_ORGANIZER}")},
        })),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.body);
    let gone = at_sandbox(
        &app,
        Method::POST,
        "/events",
        Some(json!({
            "mainLanguage": "nl", "name": {"nl": "Afgelast"}, "calendarType": "permanent",
            "terms": [{"id": "0.50.4.0.0"}],
            "location": {"@id": format!("https://io-test.uitdatabank.be/places/{PLACE}")},
            "organizer": {"@id": format!("https://io-test.uitdatabank.be/organizers/{TEST_ORGANIZER}")},
            "priceInfo": [{"category": "base", "price": 5}],
        })),
    )
    .await;
    let gone = gone.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        at_sandbox(&app, Method::DELETE, &format!("/events/{gone}"), None)
            .await
            .status,
        204
    );

    for (event, kind) in [
        ("00000000-0000-4000-8000-000000000000", "event-not-found"),
        (gone.as_str(), "event-not-found"),
        (other.body["id"].as_str().unwrap(), "event-not-in-uitpas"),
    ] {
        let answer = put(&app, "linked", json!({"eventId": event})).await;
        let problem = answer.assert_problem(400, &format!("urn:uitpas-checkout:problem:{kind}"));
        assert_eq!(problem["schemaErrors"][0]["jsonPointer"], "/eventId");
    }
    for body in [
        json!({"eventId": "the festival"}),
        json!({"eventId": TEST_EVENT, "basePrice": 10}),
    ] {
        put(&app, "linked", body)
            .await
            .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    }
    app.shop(Method::GET, "/v1/activities/linked", None, &[])
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
}

#[tokio::test]
async fn a_lost_answer_of_post_events_makes_no_second_event() {
    let app = TestApp::spawn().await;
    // UiTdatabank stores the event, and its answer never arrives.
    app.fault(json!({"operation": "event-post", "mode": "drop-after-commit", "times": 1}))
        .await;
    let answer = put(&app, "camp-14", activity(TEST_ORGANIZER)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert!(answer.body["eventId"].is_null());
    assert_eq!(app.drain().await, 1);
    let now = read(&app, "camp-14").await;
    assert_eq!(now["status"], "created", "found by its label and adopted: {now}");
    assert_eq!(app.upstream_calls("event-post").await, 1, "never sent again");
    assert_eq!(app.upstream_calls("search-events-get").await, 1, "looked up first");
    let events = labelled(&app, &label_of(&app, "camp-14").await).await;
    assert_eq!(events, [now["eventId"].as_str().unwrap()], "one event, the adopted one");
    assert_eq!(now["eventVersion"], 1);
}

#[tokio::test]
async fn an_unanswered_post_events_is_not_sent_again_before_it_could_have_committed() {
    let app = app_with_window(Duration::from_secs(30)).await;
    // UiTdatabank is slow: it stores the event after the service gave up waiting.
    app.fault(json!({"operation": "event-post", "mode": "delay", "delayMs": 1500, "times": 1}))
        .await;
    let answer = put(&app, "camp-15", activity(TEST_ORGANIZER)).await;
    assert_eq!(answer.status, 202, "timed out: the outcome is unknown: {}", answer.body);
    assert_eq!(app.drain().await, 1);
    assert_eq!(
        app.upstream_calls("event-post").await,
        1,
        "within the window: only looked"
    );
    assert_eq!(read(&app, "camp-15").await["status"], "pending");

    let label = label_of(&app, "camp-15").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while labelled(&app, &label).await.is_empty() {
        assert!(Instant::now() < deadline, "UiTdatabank stores the slow event");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.drain().await, 1);
    let now = read(&app, "camp-15").await;
    assert_eq!(now["status"], "created", "{now}");
    assert_eq!(labelled(&app, &label).await, [now["eventId"].as_str().unwrap()]);
    assert_eq!(app.upstream_calls("event-post").await, 1, "adopted, never sent twice");
}

#[tokio::test]
async fn once_the_window_has_passed_an_event_uitdatabank_lacks_is_sent_again() {
    let app = app_with_window(Duration::from_millis(800)).await;
    // A gateway gave up: the request may still be running behind it.
    app.fault(json!({"operation": "event-post", "mode": "error", "status": 504, "times": 1}))
        .await;
    assert_eq!(put(&app, "camp-16", activity(TEST_ORGANIZER)).await.status, 202);
    assert_eq!(app.drain().await, 1);
    assert_eq!(
        app.upstream_calls("event-post").await,
        1,
        "within the window: only looked"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while read(&app, "camp-16").await["status"] != "created" {
        assert!(Instant::now() < deadline, "sent again once the window passed");
        app.drain().await;
    }
    assert_eq!(app.upstream_calls("event-post").await, 2);
    assert_eq!(labelled(&app, &label_of(&app, "camp-16").await).await.len(), 1);
}

#[tokio::test]
async fn an_activity_uitdatabank_refused_is_sent_again_once_corrected() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "event-post", "mode": "error", "status": 400, "times": 1}))
        .await;
    let refused = put(&app, "camp-17", activity(TEST_ORGANIZER)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let now = read(&app, "camp-17").await;
    assert_eq!(now["status"], "rejected");
    assert_eq!(now["problem"]["status"], 400);
    assert_eq!(
        put(&app, "camp-17", activity(TEST_ORGANIZER)).await.status,
        400,
        "the same again: the same refusal"
    );
    assert_eq!(app.upstream_calls("event-post").await, 1);
    set_status(&app, "camp-17", json!({"type": "Unavailable"}))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:activity-rejected");

    let corrected = with(
        activity(TEST_ORGANIZER),
        "name",
        json!({"nl": "Zomerkamp De Krekel (gecorrigeerd)"}),
    );
    let answer = put(&app, "camp-17", corrected).await;
    assert_eq!(answer.status, 201, "created now: {}", answer.body);
    assert_eq!(answer.body["status"], "created");
    assert_eq!(
        (answer.body["version"].as_i64(), answer.body["eventVersion"].as_i64()),
        (Some(2), Some(2))
    );
    assert!(answer.body["problem"].is_null());
    assert_eq!(app.upstream_calls("event-post").await, 2);
    assert_eq!(
        app.upstream_calls("search-events-get").await,
        0,
        "a refusal made nothing: no look"
    );
}

#[tokio::test]
async fn a_change_uitdatabank_refused_is_shown_and_a_corrected_one_is_sent() {
    let app = TestApp::spawn().await;
    let event_id = put(&app, "camp-18", activity(TEST_ORGANIZER)).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.fault(json!({"operation": "event-put", "mode": "error", "status": 400, "times": 1}))
        .await;
    let renamed = with(activity(TEST_ORGANIZER), "name", json!({"nl": "Kamp?"}));
    assert_eq!(put(&app, "camp-18", renamed).await.status, 400);
    let now = read(&app, "camp-18").await;
    assert_eq!(now["status"], "created", "the event stays as it was");
    assert_eq!(
        (now["version"].as_i64(), now["eventVersion"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(now["problem"]["status"], 400);

    let corrected = with(activity(TEST_ORGANIZER), "name", json!({"nl": "Kamp De Krekel"}));
    let answer = put(&app, "camp-18", corrected).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        (answer.body["version"].as_i64(), answer.body["eventVersion"].as_i64()),
        (Some(3), Some(3))
    );
    assert!(answer.body["problem"].is_null());
    assert_eq!(entry_event(&app, &event_id).await["name"]["nl"], "Kamp De Krekel");
}

/// A shop's webhook receiver that keeps what it gets.
async fn receiver() -> (std::net::SocketAddr, std::sync::Arc<tokio::sync::Mutex<Vec<Value>>>) {
    let got = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |axum::Json(event): axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().await.push(event);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

#[tokio::test]
async fn the_shop_hears_when_uitdatabank_takes_a_change_it_could_not_take_at_once() {
    let (addr, got) = receiver().await;
    let app = TestApp::spawn_with(TestOptions {
        configure: Box::new(move |c| {
            c.webhook_url = Some(format!("http://{addr}/hooks"));
            c.webhook_secret = Some(SecretList(vec![Secret::new("whsec_test_0123456789")]));
        }),
        ..TestOptions::default()
    })
    .await;
    assert_eq!(put(&app, "camp-20", activity(TEST_ORGANIZER)).await.status, 201);
    app.fault(json!({"operation": "event-put", "mode": "error", "status": 503}))
        .await;
    let renamed = with(activity(TEST_ORGANIZER), "name", json!({"nl": "Zomerkamp De Mier"}));
    assert_eq!(put(&app, "camp-20", renamed).await.status, 202);
    app.clear_faults().await;
    app.drain().await;
    app.drain().await;
    let got = got.lock().await;
    let updates: Vec<&Value> = got.iter().filter(|e| e["type"] == "activity.updated").collect();
    assert_eq!(updates.len(), 1, "{got:?}");
    assert_eq!(updates[0]["data"]["shopActivityId"], "camp-20");
    assert_eq!(updates[0]["data"]["version"], 2);
    assert_eq!(updates[0]["data"]["eventVersion"], 2);
    assert!(
        got.iter().all(|e| e["type"] != "activity.created"),
        "the creation was answered: no webhook for it"
    );
}

#[tokio::test]
async fn the_sandboxs_event_operations_answer_as_the_entry_api_specifies() {
    let app = TestApp::spawn().await;
    let event_id = put(&app, "camp-19", activity(TEST_ORGANIZER)).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    let entry = Contract::entry();
    let mut body = entry_event(&app, &event_id).await;
    body["name"]["nl"] = json!("Zomerkamp");
    let path = format!("/events/{event_id}");
    let updated = at_sandbox(&app, Method::PUT, &path, Some(body)).await;
    entry.assert_valid(
        "PUT",
        "/events/{eventId}",
        updated.status.as_u16(),
        "application/json",
        &updated.body,
    );
    assert_eq!(updated.status, 200);
    for (sub, body) in [
        (
            "price-info",
            json!([{"category": "base", "price": 7, "priceCurrency": "EUR"}]),
        ),
        ("calendar", json!({"calendarType": "permanent"})),
        ("status", json!({"type": "TemporarilyUnavailable"})),
    ] {
        let answer = at_sandbox(&app, Method::PUT, &format!("{path}/{sub}"), Some(body)).await;
        assert_eq!(answer.status, 204, "{sub}: {}", answer.body);
    }
    let refused = at_sandbox(
        &app,
        Method::PUT,
        &format!("{path}/status"),
        Some(json!({"type": "Cancelled"})),
    )
    .await;
    entry.assert_valid(
        "PUT",
        "/events/{eventId}/status",
        400,
        "application/problem+json",
        &refused.body,
    );
    assert_eq!(refused.body["type"], "https://api.publiq.be/probs/body/invalid-data");
    let unknown = at_sandbox(&app, Method::GET, "/events/00000000-0000-4000-8000-000000000000", None).await;
    entry.assert_valid(
        "GET",
        "/events/{eventId}",
        404,
        "application/problem+json",
        &unknown.body,
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(at_sandbox(&app, Method::DELETE, &path, None).await.status, 204);
    let event = entry_event(&app, &event_id).await;
    assert_eq!(event["workflowStatus"], "DELETED");
    assert_eq!(event["priceInfo"][0]["price"], 7);
    assert_eq!(event["status"]["type"], "TemporarilyUnavailable");
    // The dataset's own events are read too.
    assert_eq!(
        entry_event(&app, LIMITED_EVENT).await["name"]["nl"],
        "Test event met beperkte aankoop"
    );
}

#[tokio::test]
async fn an_entry_api_outage_is_replayed_even_after_a_restart() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "event-post", "mode": "error", "status": 503}))
        .await;
    let answer = put(&app, "camp-4", activity(TEST_ORGANIZER)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["status"], "pending");
    assert!(answer.body["eventId"].is_null());

    // The app goes away; another one starts on the same database, then UiTdatabank recovers.
    let restarted = app.replica().await;
    app.stop().await;
    restarted.clear_faults().await;
    assert_eq!(restarted.drain().await, 1);
    let read = restarted.shop(Method::GET, "/v1/activities/camp-4", None, &[]).await;
    assert_eq!(read.body["status"], "created", "{}", read.body);
    assert!(read.body["eventId"].is_string());
    assert_eq!(
        restarted.upstream_calls("event-post").await,
        2,
        "one failed, one made the event"
    );
    let again = put(&restarted, "camp-4", activity(TEST_ORGANIZER)).await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn the_event_just_created_has_tariffs_and_takes_a_registration() {
    let app = TestApp::spawn().await;
    let event = put(&app, "camp-5", activity(TEST_ORGANIZER)).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    let tariffs = app
        .get(&format!(
            "/v1/tariffs?eventId={event}&uitpasNumber=0900000067513&regularPrice=10"
        ))
        .await;
    assert_eq!(tariffs.status, 200, "{}", tariffs.body);
    assert_eq!(tariffs.body["available"][0]["price"], 2.0);
    let registered = app
        .register(
            "camp-5-order",
            json!({"orderId": "o-5", "tickets": [{"eventId": event, "uitpasNumber": "0900000067513",
                   "tariffId": "kansentarief-regio-gent", "regularPrice": 10}]}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    assert_eq!(app.sandbox_ledger().await[0]["eventId"], event.as_str());
}

#[tokio::test]
async fn participation_in_uitpas_is_told_per_event_and_cached() {
    let app = TestApp::spawn().await;
    let test_event = app.get(&format!("/v1/events/{TEST_EVENT}/uitpas")).await;
    assert_eq!(test_event.status, 200);
    assert_eq!(test_event.body["enabled"], true);
    app.get(&format!("/v1/events/{TEST_EVENT}/uitpas")).await;
    assert_eq!(app.upstream_calls("get-events-card-systems").await, 1, "cached");

    // An organizer the customer's client has no permission for (GET /permissions): no activity
    // is made for it, and its events are not for sale here.
    put(&app, "concert-1", activity(OTHER_ORGANIZER))
        .await
        .assert_problem(403, "urn:uitpas-checkout:problem:permission-missing");
    assert_eq!(app.upstream_calls("event-post").await, 0, "UiTdatabank not asked");
    let other = uitpas_checkout::sandbox::dataset::NO_PERMISSION_EVENT;
    let view = app.get(&format!("/v1/events/{other}/uitpas")).await;
    assert_eq!(view.body["enabled"], false, "{}", view.body);
    assert_eq!(view.body["cardSystems"][0]["enabled"], true, "{}", view.body);

    app.get("/v1/events/00000000-0000-4000-8000-000000000000/uitpas")
        .await
        .assert_problem(404, "https://api.publiq.be/probs/uitpas/event-not-found");
    app.get("/v1/events/not-an-id/uitpas")
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
}

async fn registered_sales(app: &TestApp, key: &str, event: &str, number: &str, quantity: u32) -> Vec<String> {
    let answer = app
        .register(
            key,
            json!({"orderId": key, "tickets": [{"eventId": event, "uitpasNumber": number,
                   "tariffId": "kansentarief-regio-gent", "regularPrice": 10, "quantity": quantity}]}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["ticketSales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn check_in(app: &TestApp, sale: &str, body: Value) -> common::Answer {
    app.shop(Method::PATCH, &format!("/v1/ticket-sales/{sale}"), Some(body), &[])
        .await
}

#[tokio::test]
async fn a_ticket_is_checked_in_once_and_checking_in_again_is_not_an_error() {
    let app = TestApp::spawn().await;
    let sales = registered_sales(&app, "ci-1", TEST_EVENT, "0900000067513", 1).await;
    let first = check_in(&app, &sales[0], json!({"checkedIn": true})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["checkedIn"], true);
    assert!(first.body["checkedInAt"].is_string());
    let again = check_in(&app, &sales[0], json!({"checkedIn": true})).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["checkedInAt"], first.body["checkedInAt"]);
    assert_eq!(app.upstream_calls("post-checkins").await, 1);
    let read = app
        .shop(Method::GET, &format!("/v1/ticket-sales/{}", sales[0]), None, &[])
        .await;
    assert_eq!(read.body["checkedIn"], true);
}

#[tokio::test]
async fn the_tickets_of_a_group_pass_are_checked_in_with_one_uitpas_check_in() {
    let app = TestApp::spawn().await;
    let sales = registered_sales(&app, "ci-2", TEST_EVENT, "0900000045410", 3).await;
    for sale in &sales {
        let answer = check_in(&app, sale, json!({"checkedIn": true})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(app.upstream_calls("post-checkins").await, 1);
}

#[tokio::test]
async fn a_check_in_outside_the_event_is_refused_with_uitpas_message() {
    let app = TestApp::spawn().await;
    let mut next_year = activity(TEST_ORGANIZER);
    let start = chrono::Utc::now() + chrono::Duration::days(365);
    next_year["calendar"] = json!({"type": "single", "subEvents": [
        {"startDate": start.to_rfc3339(), "endDate": (start + chrono::Duration::hours(3)).to_rfc3339()}
    ]});
    let event = put(&app, "show-1", next_year).await.body["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    let sales = registered_sales(&app, "ci-3", &event, "0900000067513", 1).await;
    let answer = check_in(&app, &sales[0], json!({"checkedIn": true})).await;
    let problem = answer.assert_problem(400, "https://api.publiq.be/probs/uitpas/checkin-not-allowed");
    assert!(problem["endUserMessage"]["nl"].is_string());
    let read = app
        .shop(Method::GET, &format!("/v1/ticket-sales/{}", sales[0]), None, &[])
        .await;
    assert_eq!(read.body["checkedIn"], false);
}

#[tokio::test]
async fn only_registered_tickets_are_checked_in_and_only_to_true() {
    let app = TestApp::spawn().await;
    let sales = registered_sales(&app, "ci-4", TEST_EVENT, "0900000067513", 1).await;
    check_in(&app, &sales[0], json!({"checkedIn": false}))
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    check_in(&app, &sales[0], json!({"checkedIn": "yes"}))
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    assert_eq!(
        app.shop(Method::DELETE, &format!("/v1/ticket-sales/{}", sales[0]), None, &[])
            .await
            .status,
        204
    );
    check_in(&app, &sales[0], json!({"checkedIn": true}))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:not-registered");
    check_in(&app, &uuid::Uuid::new_v4().to_string(), json!({"checkedIn": true}))
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    assert_eq!(app.upstream_calls("post-checkins").await, 0);
}

#[tokio::test]
async fn a_bad_activity_is_refused_naming_the_field_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let with = |path: &[&str], value: Value| {
        let mut a = activity(TEST_ORGANIZER);
        let mut target = &mut a;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        target[path[path.len() - 1]] = value;
        a
    };
    let cases = [
        (with(&["mainLanguage"], json!("xx")), "/mainLanguage"),
        (with(&["name"], json!({"fr": "Camp d'été"})), "/name"),
        (with(&["name"], json!({})), "/name"),
        (with(&["name"], json!({"nl": "x".repeat(91)})), "/name/nl"),
        (with(&["locationId"], json!("the town hall")), "/locationId"),
        (with(&["organizerId"], json!("")), "/organizerId"),
        (with(&["eventTypeId"], json!(" ")), "/eventTypeId"),
        (with(&["currency"], json!("USD")), "/currency"),
        (
            with(&["calendar"], json!({"type": "single", "subEvents": []})),
            "/calendar/subEvents",
        ),
        (with(&["calendar"], json!({"type": "periodic"})), "/calendar"),
        (
            with(
                &["calendar"],
                json!({"type": "multiple", "subEvents": [
                {"startDate": "2027-07-01T10:00:00Z", "endDate": "2027-06-01T10:00:00Z"}]}),
            ),
            "/calendar/subEvents/0/endDate",
        ),
        (
            with(&["otherPrices"], json!([{"name": {"xx": "Kind"}, "price": 5}])),
            "/otherPrices/0/name/xx",
        ),
    ];
    for (body, pointer) in cases {
        let answer = put(&app, "bad", body.clone()).await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        assert_eq!(problem["schemaErrors"][0]["jsonPointer"], pointer, "{body}");
    }
    let mut no_price = activity(TEST_ORGANIZER);
    no_price.as_object_mut().unwrap().remove("basePrice");
    for body in [
        no_price,
        with(&["basePrice"], json!(-5)),
        with(&["calendar", "type"], json!("weekly")),
        with(&["colour"], json!("red")),
    ] {
        put(&app, "bad", body)
            .await
            .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    }
    assert_eq!(app.upstream_calls("event-post").await, 0);
    app.shop(Method::GET, "/v1/activities/bad", None, &[])
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
}

#[tokio::test]
async fn a_failed_uitdatabank_call_is_logged_as_uitdatabank_not_uitpas() {
    let sandbox = uitpas_checkout::sandbox::spawn(uitpas_checkout::sandbox::SandboxConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    })
    .await
    .unwrap();
    let db = common::TestDatabase::create().await;
    let service = common::service::Service::start(&db, &sandbox, &[]).await;
    let http = reqwest::Client::new();
    common::sandbox_fault(
        &sandbox,
        json!({"operation": "event-post", "mode": "error", "status": 503}),
    )
    .await;
    let answer = http
        .put(service.url("/v1/activities/camp-logged"))
        .bearer_auth(common::SHOP_KEY)
        .json(&activity(TEST_ORGANIZER))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !service.logs().contains("UiTdatabank answered 503") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let logs = service.logs();
    service.terminate().await;
    assert!(logs.contains("UiTdatabank answered 503"), "{logs}");
    assert!(!logs.contains("UiTPAS answered 503"), "{logs}");
}

#[tokio::test]
async fn a_status_this_build_does_not_know_is_an_error_not_pending() {
    // A newer build (or a hand edit) stored a status this build does not know: reading the
    // activity must not say "pending" (which would have the shop wait for an event forever).
    let app = TestApp::spawn().await;
    let created = put(&app, "unknown-status", activity(TEST_ORGANIZER)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    // (A newer build's migration would have widened the check, and a rollback of the code kept it.)
    for statement in [
        "ALTER TABLE activities DROP CONSTRAINT activities_status_check",
        "UPDATE activities SET status = 'archived' WHERE shop_activity_id = 'unknown-status'",
    ] {
        sqlx::query(statement).execute(&db).await.unwrap();
    }
    db.close().await;
    let answer = app.shop(Method::GET, "/v1/activities/unknown-status", None, &[]).await;
    answer.assert_problem(500, "urn:uitpas-checkout:problem:internal");
}
