//! Black-box tests of `POST /v1/quotes` with one UiTPAS number per line: a parent buying for
//! several children, the top-level number as the default, and a number used twice for one event.

mod common;

use common::{LIMITED_EVENT, TEST_EVENT, TestApp};
use serde_json::json;

const ACTIVE: &str = "0900000067513";
const ACTIVE_ENDING: &str = "0900010959113";
const EXPIRED: &str = "0900000058918";
const UNKNOWN: &str = "0900000000019";
const DUPLICATE: &str = "urn:uitpas-checkout:problem:duplicate-pass";

#[tokio::test]
async fn each_line_is_quoted_for_its_own_pass() {
    let app = TestApp::spawn().await;
    let answer = app
        .post(
            "/v1/quotes",
            json!({
                "lines": [
                    {"uitpasNumber": ACTIVE, "eventId": TEST_EVENT, "regularPrice": 10},
                    {"uitpasNumber": ACTIVE_ENDING, "eventId": TEST_EVENT, "regularPrice": 10},
                    {"uitpasNumber": EXPIRED, "eventId": TEST_EVENT, "regularPrice": 10},
                ]
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let lines = answer.body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    for (line, number) in lines.iter().zip([ACTIVE, ACTIVE_ENDING, EXPIRED]) {
        assert_eq!(line["uitpasNumber"], number);
    }
    // The expired pass's line carries UiTPAS's own refusal, to show the buyer.
    assert_eq!(
        lines[2]["problem"]["type"],
        "https://api.publiq.be/probs/uitpas/social-tariff-expired"
    );
    assert!(lines[2]["problem"]["endUserMessage"]["nl"].is_string());
    // Without a top-level number, `pass` is the first line's.
    assert_eq!(answer.body["pass"]["socialTariff"]["status"], "ACTIVE");
    let passes = answer.body["passes"].as_array().unwrap();
    let numbers: Vec<&str> = passes.iter().map(|p| p["uitpasNumber"].as_str().unwrap()).collect();
    assert_eq!(numbers, [ACTIVE, ACTIVE_ENDING, EXPIRED]);
    assert_eq!(passes[2]["socialTariff"]["status"], "EXPIRED");
    // The active passes get the social tariff; the expired one does not.
    let social = |i: usize| {
        lines[i]["available"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == "SOCIALTARIFF" && t["remaining"].as_u64() > Some(0))
    };
    assert!(social(0) && social(1), "{}", answer.body);
}

#[tokio::test]
async fn the_top_level_number_is_the_default_of_lines_without_one() {
    let app = TestApp::spawn().await;
    let answer = app
        .post(
            "/v1/quotes",
            json!({
                "uitpasNumber": ACTIVE,
                "lines": [
                    {"eventId": TEST_EVENT, "regularPrice": 10},
                    {"uitpasNumber": ACTIVE_ENDING, "eventId": TEST_EVENT, "regularPrice": 10},
                ]
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["lines"][0]["uitpasNumber"], ACTIVE);
    assert_eq!(answer.body["lines"][1]["uitpasNumber"], ACTIVE_ENDING);
    assert!(answer.body["lines"][1].get("problem").is_none());
    assert_eq!(answer.body["passes"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_number_used_twice_for_one_event_is_flagged_without_asking_uitpas() {
    let app = TestApp::spawn().await;
    let answer = app
        .post(
            "/v1/quotes",
            json!({
                "uitpasNumber": ACTIVE,
                "lines": [
                    {"eventId": TEST_EVENT, "regularPrice": 10},
                    {"eventId": LIMITED_EVENT, "regularPrice": 15},
                    {"eventId": TEST_EVENT, "regularPrice": 10},
                    {"uitpasNumber": ACTIVE_ENDING, "eventId": TEST_EVENT, "regularPrice": 10},
                    {"uitpasNumber": ACTIVE, "eventId": TEST_EVENT, "regularPrice": 12},
                ]
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let lines = answer.body["lines"].as_array().unwrap();
    // The first use of the number for an event is quoted; the same number for another event too.
    for i in [0, 1, 3] {
        assert!(lines[i].get("problem").is_none(), "line {i}: {}", lines[i]);
        assert!(!lines[i]["available"].as_array().unwrap().is_empty(), "line {i}");
    }
    // Its later lines for the same event are flagged, pointing at the first.
    for i in [2, 4] {
        let problem = &lines[i]["problem"];
        assert_eq!(problem["type"], DUPLICATE, "line {i}: {}", lines[i]);
        assert_eq!(problem["status"], 409);
        assert_eq!(problem["jsonPointer"], "/lines/0/uitpasNumber");
        assert!(problem["detail"].as_str().unwrap().contains("line 0"), "{problem}");
        assert!(
            !problem["detail"].as_str().unwrap().contains(ACTIVE),
            "the number is masked"
        );
        assert!(problem["endUserMessage"]["nl"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(lines[i]["available"], json!([]));
    }
}

#[tokio::test]
async fn the_duplicate_check_is_local() {
    // Two lines, one UiTPAS call for tariffs: the duplicate is found without asking.
    let app = TestApp::spawn().await;
    let body = json!({
        "uitpasNumber": ACTIVE,
        "lines": [
            {"eventId": TEST_EVENT, "regularPrice": 10},
            {"eventId": TEST_EVENT, "regularPrice": 10},
        ]
    });
    let answer = app.post("/v1/quotes", body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["lines"][1]["problem"]["type"], DUPLICATE);
    // The sandbox was asked for the first line's tariffs only.
    let asked = app.upstream_calls("get-tariffs").await;
    assert_eq!(asked, 1, "UiTPAS was asked for the duplicate line");
}

#[tokio::test]
async fn an_unknown_pass_of_a_line_is_that_lines_problem() {
    let app = TestApp::spawn().await;
    let answer = app
        .post(
            "/v1/quotes",
            json!({
                "uitpasNumber": ACTIVE,
                "lines": [
                    {"eventId": TEST_EVENT, "regularPrice": 10},
                    {"uitpasNumber": UNKNOWN, "eventId": TEST_EVENT, "regularPrice": 10},
                ]
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["lines"][0].get("problem").is_none());
    assert_eq!(
        answer.body["lines"][1]["problem"]["type"],
        "https://api.publiq.be/probs/uitpas/pass-not-found"
    );
    assert_eq!(answer.body["passes"].as_array().unwrap().len(), 1);
    // The top-level number (or the first line's) still fails the whole quote, as before.
    app.post(
        "/v1/quotes",
        json!({"lines": [{"uitpasNumber": UNKNOWN, "eventId": TEST_EVENT, "regularPrice": 10}]}),
    )
    .await
    .assert_problem(404, "https://api.publiq.be/probs/uitpas/pass-not-found");
}

#[tokio::test]
async fn a_line_without_a_number_needs_a_top_level_one() {
    let app = TestApp::spawn().await;
    let answer = app
        .post(
            "/v1/quotes",
            json!({"lines": [
                {"uitpasNumber": ACTIVE, "eventId": TEST_EVENT, "regularPrice": 10},
                {"eventId": TEST_EVENT, "regularPrice": 10},
            ]}),
        )
        .await;
    let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    assert_eq!(problem["schemaErrors"][0]["jsonPointer"], "/lines/1/uitpasNumber");
    app.post(
        "/v1/quotes",
        json!({"lines": [{"uitpasNumber": "123", "eventId": TEST_EVENT, "regularPrice": 10}]}),
    )
    .await
    .assert_problem(400, "urn:uitpas-checkout:problem:invalid-uitpas-number");
}

#[tokio::test]
async fn a_single_use_coupon_is_counted_across_the_lines_of_the_cart() {
    // 0900000031618's social tariff expired; it holds one € 1 coupon, usable once, for any event
    // of its region. Two lines for two events both offer it; taking it on both would make UiTPAS
    // refuse the whole registration.
    const COUPON_PASS: &str = "0900000031618";
    let app = TestApp::spawn().await;
    let cart = |picks: [Option<&str>; 2]| {
        json!({
            "uitpasNumber": COUPON_PASS,
            "lines": [
                {"eventId": TEST_EVENT, "regularPrice": 10, "tariffId": picks[0]},
                {"eventId": LIMITED_EVENT, "regularPrice": 10, "tariffId": picks[1]},
            ]
        })
    };
    let answer = app.post("/v1/quotes", cart([None, None])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let lines = answer.body["lines"].as_array().unwrap();
    let coupon = |line: &serde_json::Value| {
        line["available"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "COUPON")
            .cloned()
            .unwrap_or_else(|| panic!("no coupon offered: {line}"))
    };
    let id = coupon(&lines[0])["id"].as_str().unwrap().to_owned();
    assert_eq!(coupon(&lines[0])["remaining"], 1);
    assert_eq!(coupon(&lines[0])["sharedWithLines"], json!([1]));
    assert_eq!(coupon(&lines[1])["sharedWithLines"], json!([0]));

    // Picked on both lines: the second is the line to change.
    let answer = app.post("/v1/quotes", cart([Some(&id), Some(&id)])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body["lines"][0].get("choiceProblem").is_none(),
        "{}",
        answer.body
    );
    let problem = &answer.body["lines"][1]["choiceProblem"];
    assert_eq!(problem["type"], "urn:uitpas-checkout:problem:tariff-remaining-exceeded");
    assert_eq!(problem["status"], 409);
    assert_eq!(problem["jsonPointer"], "/lines/1/tariffId");
    assert!(problem["endUserMessage"]["nl"].as_str().is_some_and(|m| !m.is_empty()));

    // Picked once: no problem; a tariff the line is not offered is the shop's mistake (422).
    let answer = app.post("/v1/quotes", cart([Some(&id), None])).await;
    assert!(
        answer.body["lines"][1].get("choiceProblem").is_none(),
        "{}",
        answer.body
    );
    let answer = app.post("/v1/quotes", cart([Some("no-such-tariff"), None])).await;
    assert_eq!(
        answer.body["lines"][0]["choiceProblem"]["type"],
        "urn:uitpas-checkout:problem:tariff-not-available"
    );
    // And what the quote flagged is what UiTPAS refuses: the coupon on both lines is refused
    // whole, on one line it registers.
    let ticket =
        |event: &str| json!({"uitpasNumber": COUPON_PASS, "eventId": event, "regularPrice": 10, "tariffId": id});
    let refused = app
        .register(
            "coupon-twice",
            json!({"orderId": "coupon-twice", "tickets": [ticket(TEST_EVENT), ticket(LIMITED_EVENT)]}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let once = app
        .register(
            "coupon-once",
            json!({"orderId": "coupon-once", "tickets": [ticket(TEST_EVENT)]}),
        )
        .await;
    assert_eq!(once.status, 201, "{}", once.body);
}
