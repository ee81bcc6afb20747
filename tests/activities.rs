//! Black-box tests of shop activities as UiTdatabank events, UiTPAS participation and check-ins,
//! against the sandbox's Entry API and UiTPAS over HTTP and a real PostgreSQL.

mod common;

use common::{TEST_EVENT, TestApp};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

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
async fn the_same_activity_with_other_details_is_refused_not_made_twice() {
    let app = TestApp::spawn().await;
    assert_eq!(put(&app, "camp-3", activity(TEST_ORGANIZER)).await.status, 201);
    let mut changed = activity(TEST_ORGANIZER);
    changed["basePrice"] = json!(12);
    put(&app, "camp-3", changed)
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:activity-changed");
    assert_eq!(app.upstream_calls("event-post").await, 1);
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

    let other = put(&app, "concert-1", activity(OTHER_ORGANIZER)).await;
    assert_eq!(other.status, 201, "{}", other.body);
    assert_eq!(other.body["uitpas"]["enabled"], false, "not a UiTPAS organizer");
    let event = other.body["eventId"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/events/{event}/uitpas")).await.body["enabled"],
        false
    );

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
    let fault = http
        .put(format!("{}/_sandbox/faults", sandbox.base_url()))
        .json(&json!({"operation": "event-post", "mode": "error", "status": 503}))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
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
