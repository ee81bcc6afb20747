//! Black-box tests of the pass lookup on publiq's current operation (issue 24): the service asks
//! `GET /passes?identifier=` (`get-passes`), never the deprecated `GET /passes/{uitpasNumber}`,
//! passes a refused card's `cardStatus` on to the buyer, and calls no operation publiq's documents
//! mark deprecated, on UiTPAS or on the Entry API. Against the sandbox over HTTP and a real
//! PostgreSQL; the sandbox's answers are validated against publiq's OpenAPI documents.

mod common;

use common::contract::Contract;
use common::{TEST_EVENT, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

const ACTIVE: &str = "0900000067513";
const EXPIRED: &str = "0900000058918";
const GROUP: &str = "0900000045410";
const BLOCKED: &str = "0900000002312";
const UNKNOWN: &str = "0900000000019";
const GENT: &str = "kansentarief-regio-gent";
const TEST_ORGANIZER: &str = "0ce87cbc-9299-4528-8d35-92225dc9489f";
const PLACE: &str = "85b04295-479c-40f5-b3dd-469dfb4387b3";

/// Operations the sandbox counts that are in neither UiTPAS's nor the Entry API's document: the
/// token endpoint, and the Search API's event search.
const OUTSIDE_THE_DOCUMENTS: [&str; 2] = ["post-oauth-token", "search-events-get"];

/// The sandbox's count of every operation, by operationId.
async fn operation_counts(app: &TestApp) -> serde_json::Map<String, Value> {
    let stats = common::sandbox_get(&app.sandbox, "/_sandbox/stats").await;
    stats["operations"].as_object().expect("counts by operationId").clone()
}

/// `GET /passes?identifier=` straight at the sandbox, as another client (a person at a counter),
/// its answer validated against publiq's document. Counts as a `get-passes`.
async fn at_sandbox(app: &TestApp, identifier: &str) -> common::Answer {
    let base = app.sandbox.base_url();
    let token = common::sandbox_token(&app.http, &base, "inspector").await;
    let mut url = reqwest::Url::parse(&format!("{base}/passes")).unwrap();
    url.query_pairs_mut().append_pair("identifier", identifier);
    let answer = common::read(app.http.get(url).bearer_auth(token).send().await.unwrap()).await;
    let content_type = answer.headers["content-type"].to_str().unwrap().to_owned();
    Contract::uitpas().assert_valid("GET", "/passes", answer.status.as_u16(), &content_type, &answer.body);
    answer
}

#[tokio::test]
async fn the_public_lookup_asks_get_passes_with_the_uitpas_number_and_never_the_deprecated_operation() {
    let app = TestApp::spawn().await;
    for number in [ACTIVE, EXPIRED, GROUP] {
        let ours = app.get(&format!("/v1/passes/{number}")).await;
        assert_eq!(ours.status, 200, "{number}: {}", ours.body);
        let theirs = at_sandbox(&app, number).await;
        assert_eq!(theirs.status, 200, "{number}: {}", theirs.body);
        for field in ["passType", "socialTariff", "messages"] {
            assert_eq!(ours.body[field], theirs.body[field], "{number}: {field} as UiTPAS says");
        }
    }
    // An unknown number: 404 pass-not-found from get-passes, as from the deprecated operation.
    app.get(&format!("/v1/passes/{UNKNOWN}"))
        .await
        .assert_problem(404, "https://api.publiq.be/probs/uitpas/pass-not-found");
    at_sandbox(&app, UNKNOWN)
        .await
        .assert_problem(404, "https://api.publiq.be/probs/uitpas/pass-not-found");
    // Each pass once by the service (then from its cache), once by the other client.
    for _ in 0..3 {
        for number in [ACTIVE, EXPIRED, GROUP, UNKNOWN] {
            app.get(&format!("/v1/passes/{number}")).await;
        }
    }
    assert_eq!(app.upstream_calls("get-passes").await, 4 + 4);
    assert_eq!(app.upstream_calls("get-passes-uitpasNumber").await, 0);
}

#[tokio::test]
async fn a_quote_looks_the_pass_up_with_get_passes_once_for_the_cache() {
    let app = TestApp::spawn().await;
    let body = json!({"lines": [
        {"uitpasNumber": ACTIVE, "eventId": TEST_EVENT, "regularPrice": 10},
        {"uitpasNumber": EXPIRED, "eventId": TEST_EVENT, "regularPrice": 10},
    ]});
    for _ in 0..3 {
        let answer = app.post("/v1/quotes", body.clone()).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(app.get(&format!("/v1/passes/{ACTIVE}")).await.status, 200);
    assert_eq!(app.upstream_calls("get-passes").await, 2, "one call per pass");
    assert_eq!(app.upstream_calls("get-passes-uitpasNumber").await, 0);
}

#[tokio::test]
async fn a_refused_cards_status_reaches_the_buyer_as_uitpas_gave_it() {
    let app = TestApp::spawn().await;
    let theirs = at_sandbox(&app, BLOCKED).await;
    let upstream = theirs.assert_problem(400, "https://api.publiq.be/probs/uitpas/invalid-card-status");
    assert_eq!(upstream["cardStatus"], "BLOCKED");
    assert!(
        upstream["passholderId"].is_string(),
        "UiTPAS names the passholder: {upstream}"
    );

    let ours = app.get(&format!("/v1/passes/{BLOCKED}")).await;
    assert_eq!(ours.headers["content-type"], "application/problem+json");
    let problem = ours.assert_problem(400, "https://api.publiq.be/probs/uitpas/invalid-card-status");
    assert_eq!(problem["cardStatus"], upstream["cardStatus"]);
    assert_eq!(
        problem["endUserMessage"], upstream["endUserMessage"],
        "shown to the buyer"
    );
    // RFC 9457's members and the one extension: nothing about the passholder (UiTPAS's
    // `passholderId` and `passType` stay behind).
    for key in problem.as_object().unwrap().keys() {
        assert!(
            ["type", "title", "status", "detail", "endUserMessage", "cardStatus"].contains(&key.as_str()),
            "{key} in {problem}"
        );
    }
    // A card UiTPAS refuses is not kept: asked again next time (it may be unblocked at the counter).
    app.get(&format!("/v1/passes/{BLOCKED}")).await;
    assert_eq!(app.upstream_calls("get-passes").await, 1 + 2);
}

#[tokio::test]
async fn a_fault_on_get_passes_reaches_the_buyer_as_a_502_and_is_not_kept() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "get-passes", "mode": "error", "status": 503, "times": 1}))
        .await;
    app.get(&format!("/v1/passes/{ACTIVE}"))
        .await
        .assert_problem(502, "urn:uitpas-checkout:problem:upstream-unavailable");
    assert_eq!(app.get(&format!("/v1/passes/{ACTIVE}")).await.status, 200);
    assert_eq!(app.upstream_calls("get-passes").await, 2);
}

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

#[tokio::test]
async fn no_operation_publiq_marks_deprecated_is_called_on_uitpas_or_the_entry_api() {
    let (uitpas, entry) = (Contract::uitpas(), Contract::entry());
    // The documents do mark some (else this test could not fail).
    let deprecated = uitpas.operation("get-passes-uitpasNumber").expect("declared");
    assert!(deprecated.deprecated, "{deprecated:?}");
    assert!(
        entry
            .operations()
            .iter()
            .any(|op| op.deprecated && op.path.ends_with("/major-info"))
    );

    let app = TestApp::spawn().await;
    // The browser's part: passes, tariffs, a quote.
    for number in [ACTIVE, BLOCKED, UNKNOWN] {
        app.get(&format!("/v1/passes/{number}")).await;
    }
    let tariffs = format!("/v1/tariffs?eventId={TEST_EVENT}&uitpasNumber={ACTIVE}&regularPrice=10");
    assert_eq!(app.get(&tariffs).await.status, 200);
    let quote = json!({"lines": [{"uitpasNumber": ACTIVE, "eventId": TEST_EVENT, "regularPrice": 10}]});
    assert_eq!(app.post("/v1/quotes", quote).await.status, 200);
    // The shop's: a registration, the door, an activity kept in step and deleted.
    let order = app
        .register(
            "deprecated-1",
            json!({"orderId": "deprecated-1", "tickets": [{"eventId": TEST_EVENT, "uitpasNumber": ACTIVE,
                   "tariffId": GENT, "regularPrice": 10}]}),
        )
        .await;
    assert_eq!(order.status, 201, "{}", order.body);
    let door = app
        .shop(Method::GET, "/v1/door/passes?identifier=04363CDAEE3880", None, &[])
        .await;
    assert_eq!(door.status, 200, "{}", door.body);
    let single = json!({"type": "single", "subEvents": [
        {"startDate": "2027-07-10T20:00:00", "endDate": "2027-07-10T23:00:00"}]});
    let path = "/v1/activities/camp-deprecated";
    let created = app.shop(Method::PUT, path, Some(activity(single.clone())), &[]).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let mut renamed = activity(single);
    renamed["name"] = json!({"nl": "Zomerkamp De Sprinkhaan"});
    assert_eq!(
        app.shop(Method::PUT, path, Some(renamed.clone()), &[]).await.status,
        200
    );
    renamed["calendar"] = json!({"type": "periodic", "startDate": "2027-07-01T09:00", "endDate": "2027-12-01T17:00"});
    renamed["basePrice"] = json!(12);
    assert_eq!(app.shop(Method::PUT, path, Some(renamed), &[]).await.status, 200);
    let status = json!({"type": "TemporarilyUnavailable", "reason": {"nl": "Uitgesteld"}});
    let answer = app
        .shop(Method::PUT, &format!("{path}/status"), Some(status), &[])
        .await;
    assert!(answer.status.is_success(), "{}", answer.body);
    assert!(app.shop(Method::DELETE, path, None, &[]).await.status.is_success());

    let counts = operation_counts(&app).await;
    let called: Vec<(&String, u64)> = counts
        .iter()
        .filter_map(|(id, n)| Some((id, n.as_u64()?)))
        .filter(|(_, n)| *n > 0)
        .collect();
    for expected in [
        "get-passes",
        "get-tariffs",
        "post-ticket-sales",
        "event-post",
        "event-put",
        "event-calendar-put",
        "event-price-info-put",
        "event-status-put",
        "event-delete",
    ] {
        assert!(
            called.iter().any(|(id, _)| *id == expected),
            "the flows call {expected}: {called:?}"
        );
    }
    for (id, n) in called {
        if OUTSIDE_THE_DOCUMENTS.contains(&id.as_str()) {
            continue;
        }
        let op = uitpas
            .operation(id)
            .or_else(|| entry.operation(id))
            .unwrap_or_else(|| panic!("{id} ({n} calls) is an operation of publiq's documents"));
        assert!(
            !op.deprecated,
            "{id} ({} {}) is deprecated; called {n} times",
            op.method, op.path
        );
    }
}
