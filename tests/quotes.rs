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

// --- the rewards a pass could spend its points on (`rewards: true`) ---

/// publiq's passes "for points rewards": 100 and (ACTIVE) 40 points at start.
const RICH: &str = "0900000095902";
const GROUP: &str = "0900000045410";
const COFFEE: &str = "5687"; // 10 points
const WEEKLY: &str = "5823"; // 5 points, once a week per passholder
const ONLINE: &str = "5824"; // 3 points

async fn rewards_quote(app: &TestApp, number: &str, headers: &[(&str, &str)]) -> common::Answer {
    app.request(
        reqwest::Method::POST,
        "/v1/quotes",
        Some(json!({
            "uitpasNumber": number,
            "rewards": true,
            "lines": [{"eventId": TEST_EVENT, "regularPrice": 10}],
        })),
        headers,
    )
    .await
}

fn reward<'a>(rewards: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    rewards["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("reward {id} in {rewards}"))
}

#[tokio::test]
async fn balances_in_quotes_share_the_customers_rewards_budget_with_redeem_status() {
    // REWARDS_RATE_LIMIT 6 a minute: a burst of one.
    let app = TestApp::spawn_configured(|c| c.rewards_rate_limit = 6).await;
    let first = rewards_quote(&app, RICH, &[]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["rewards"]["pointsBalance"], 100.0, "{}", first.body);
    let balances = app.upstream_calls("get-passes").await;
    // The next one (another pass, the same customer) gets its tariffs, not a balance.
    let second = rewards_quote(&app, "0900000067513", &[]).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["rewards"]["problem"]["status"], 429, "{}", second.body);
    assert_eq!(
        second.body["rewards"]["problem"]["type"],
        "urn:uitpas-checkout:problem:rate-limited"
    );
    assert!(
        second.body["rewards"].get("pointsBalance").is_none_or(|b| b.is_null()),
        "{}",
        second.body
    );
    assert!(
        second.body["lines"][0]["available"].is_array(),
        "the quote stands: {}",
        second.body
    );
    // Nor does the shop's redeem-status get one: the same budget, spent.
    app.shop(
        reqwest::Method::GET,
        &format!("/v1/rewards/{COFFEE}/redeem-status?uitpasNumber={RICH}"),
        None,
        &[],
    )
    .await
    .assert_problem(429, "urn:uitpas-checkout:problem:rate-limited");
    assert!(
        app.upstream_calls("get-passes").await <= balances + 1,
        "no balance read past the budget"
    );
}

#[tokio::test]
async fn a_pass_with_100_points_is_offered_the_rewards_it_can_pay_with_its_balance() {
    let app = TestApp::spawn().await;
    let answer = rewards_quote(&app, RICH, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let rewards = &answer.body["rewards"];
    assert_eq!(rewards["uitpasNumber"], RICH);
    assert_eq!(rewards["canRedeem"], true);
    assert_eq!(rewards["pointsBalance"], 100.0);
    let coffee = reward(rewards, COFFEE);
    assert_eq!(coffee["redeemable"], true, "{rewards}");
    assert_eq!(coffee["checked"], true);
    assert_eq!(coffee["points"], 10.0);
    assert!(coffee["title"].is_string());
    for id in [WEEKLY, ONLINE] {
        assert_eq!(reward(rewards, id)["redeemable"], true, "{rewards}");
    }
    // Points rewards only (not the welcome reward), and the line is still quoted.
    assert!(rewards["rewards"].as_array().unwrap().iter().all(|r| r["id"] != "5688"));
    assert_eq!(answer.body["lines"][0]["uitpasNumber"], RICH);
    assert!(answer.body["lines"][0].get("problem").is_none(), "{}", answer.body);
    // Bounded: at most three redeem-status checks, and one balance read, for this quote.
    assert!(app.upstream_calls("get-rewards-id-redeem-status").await <= 3);

    // Without `rewards: true` there is no rewards part and nothing is asked.
    let before = app.upstream_calls("get-rewards-id-redeem-status").await;
    let plain = app
        .post(
            "/v1/quotes",
            json!({"uitpasNumber": RICH, "lines": [{"eventId": TEST_EVENT, "regularPrice": 10}]}),
        )
        .await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert!(plain.body.get("rewards").is_none(), "{}", plain.body);
    assert_eq!(app.upstream_calls("get-rewards-id-redeem-status").await, before);
}

#[tokio::test]
async fn a_40_point_pass_gets_its_balance_and_a_reward_it_used_this_week_says_why_not() {
    let app = TestApp::spawn().await;
    let answer = rewards_quote(&app, ACTIVE, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let rewards = &answer.body["rewards"];
    assert_eq!(rewards["pointsBalance"], 40.0);
    assert_eq!(reward(rewards, COFFEE)["redeemable"], true, "{rewards}");

    // Once redeemed, the weekly reward is refused with UiTPAS's reason and message.
    let redeemed = app
        .shop(
            reqwest::Method::POST,
            "/v1/reward-redemptions",
            Some(json!({"rewardId": WEEKLY, "uitpasNumber": ACTIVE})),
            &[("idempotency-key", "weekly-1")],
        )
        .await;
    assert_eq!(redeemed.status, 201, "{}", redeemed.body);
    let answer = rewards_quote(&app, ACTIVE, &[]).await;
    let rewards = &answer.body["rewards"];
    assert_eq!(rewards["pointsBalance"], 35.0, "{rewards}");
    let weekly = reward(rewards, WEEKLY);
    assert_eq!(weekly["redeemable"], false, "{rewards}");
    assert_eq!(weekly["reason"], "PASSHOLDER_VOLUME");
    assert!(weekly["message"].is_string(), "{weekly}");
}

#[tokio::test]
async fn a_pass_without_points_is_offered_none_and_uitpas_is_not_asked_per_reward() {
    let app = TestApp::spawn().await;
    common::set_points(&app.sandbox, RICH, 0).await;
    let answer = rewards_quote(&app, RICH, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let rewards = &answer.body["rewards"];
    assert_eq!(rewards["pointsBalance"], 0.0);
    let all = rewards["rewards"].as_array().unwrap();
    assert!(!all.is_empty(), "{rewards}");
    for r in all {
        assert_eq!(r["redeemable"], false, "{r}");
        assert_eq!(r["reason"], "PASSHOLDER_POINTS", "{r}");
        assert_eq!(r["checked"], false, "{r}");
    }
    assert_eq!(app.upstream_calls("get-rewards-id-redeem-status").await, 0);
}

#[tokio::test]
async fn a_group_pass_cannot_redeem_and_nothing_is_asked() {
    let app = TestApp::spawn().await;
    let answer = rewards_quote(&app, GROUP, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let rewards = &answer.body["rewards"];
    assert_eq!(rewards["canRedeem"], false, "{rewards}");
    assert_eq!(rewards["reason"], "INVALID_CARD");
    assert!(rewards["message"].as_str().unwrap().contains("groepspas"));
    assert!(rewards.get("pointsBalance").is_none());
    assert!(rewards["rewards"].as_array().unwrap().is_empty());
    assert_eq!(app.upstream_calls("get-rewards-id-redeem-status").await, 0);
}

#[tokio::test]
async fn a_malformed_rewards_flag_is_a_problem() {
    let app = TestApp::spawn().await;
    for rewards in [json!("yes"), json!(1), json!({})] {
        app.post(
            "/v1/quotes",
            json!({"uitpasNumber": RICH, "rewards": rewards, "lines": [{"eventId": TEST_EVENT, "regularPrice": 10}]}),
        )
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    }
    assert_eq!(app.upstream_calls("get-rewards-id-redeem-status").await, 0);
}

#[tokio::test]
async fn a_checkout_token_gives_the_balance_only_within_its_budget_of_passes() {
    let app = TestApp::spawn().await;
    let minted = app
        .mint_checkout_token(json!({"eventIds": [TEST_EVENT], "maxPasses": 1}))
        .await;
    assert_eq!(minted.status, 201, "{}", minted.body);
    let auth = format!("Bearer {}", minted.body["token"].as_str().unwrap());
    let first = rewards_quote(&app, RICH, &[("authorization", &auth)]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["rewards"]["pointsBalance"], 100.0);
    let checks = app.upstream_calls("get-rewards-id-redeem-status").await;
    // A second pass is over the token's budget: no status, no balance, nothing asked.
    rewards_quote(&app, ACTIVE, &[("authorization", &auth)])
        .await
        .assert_problem(403, "urn:uitpas-checkout:problem:checkout-token-budget-spent");
    assert_eq!(app.upstream_calls("get-rewards-id-redeem-status").await, checks);
}
