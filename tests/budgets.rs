//! Black-box tests of the budgets of every door to a pass's status (issue 21): a checkout token's
//! budget of passes holds under parallel lookups across replicas; the door's lookups are limited
//! per customer (429 with `Retry-After`, counted on `/metrics`); a secret key on the public lookup
//! is no faster than a publishable key; a checkout token is made for the customer's own events
//! only; an event type id is an id; the Swagger UI has the console's security headers.

mod common;

use common::fixtures::{ACTIVE_PASS, NO_PERMISSION_EVENT, activity, order, with};
use common::{SHOP_KEY, TEST_EVENT, TestApp, TestOptions};
use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

/// The event of the sandbox's second organizer, whom the default customer may not sell for.
const OTHER_ORGANIZERS_EVENT: &str = NO_PERMISSION_EVENT;
/// The grace-period pass by its INSZ number.
const INSZ: &str = "08091860684";

/// The `i`-th synthetic pass of the sandbox (`0999…`, Luhn-valid).
fn synthetic_pass(i: u32) -> String {
    let body = format!("0999{i:08}");
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(k, b)| {
            let d = u32::from(b - b'0');
            if k % 2 == 0 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn door_path(identifier: &str) -> String {
    format!("/v1/door/passes?identifier={identifier}")
}

/// The value of a counter in the `/metrics` exposition (0 when absent).
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

// --- 1. a checkout token's budget of passes, across replicas ---

#[tokio::test]
async fn fifty_parallel_lookups_of_distinct_passes_over_two_replicas_never_answer_more_than_max_passes() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    for (round, max_passes) in [1u32, 10].into_iter().enumerate() {
        let minted = app
            .mint_checkout_token(json!({"eventIds": [TEST_EVENT], "maxPasses": max_passes}))
            .await;
        assert_eq!(minted.status, 201, "{}", minted.body);
        let auth = format!("Bearer {}", minted.body["token"].as_str().unwrap());
        let lookups = (0..50u32).map(|i| {
            let (target, auth) = (if i % 2 == 0 { &app } else { &replica }, auth.clone());
            let number = synthetic_pass(1000 * round as u32 + i);
            async move {
                target
                    .request(
                        Method::GET,
                        &format!("/v1/passes/{number}"),
                        None,
                        &[("authorization", &auth)],
                    )
                    .await
            }
        });
        let answers = join_all(lookups).await;
        let answered = answers.iter().filter(|a| a.status == 200).count();
        for refused in answers.iter().filter(|a| a.status != 200) {
            refused.assert_problem(403, "urn:uitpas-checkout:problem:checkout-token-budget-spent");
        }
        assert_eq!(
            answered, max_passes as usize,
            "maxPasses {max_passes}: distinct passes answered by two replicas together"
        );
        // A pass it looked up costs nothing again, on either replica.
        let seen = answers.iter().position(|a| a.status == 200).unwrap();
        let number = synthetic_pass(1000 * round as u32 + seen as u32);
        for target in [&app, &replica] {
            let again = target
                .request(
                    Method::GET,
                    &format!("/v1/passes/{number}"),
                    None,
                    &[("authorization", &auth)],
                )
                .await;
            assert_eq!(again.status, 200, "{}", again.body);
        }
    }
}

// --- 2. the door, per customer ---

#[tokio::test]
async fn the_door_refuses_lookups_past_its_budget_with_429_and_retry_after_and_counts_them() {
    let app = TestApp::spawn().await;
    // A ticket to ask the check-in status of, made before the budget is spent.
    let order = app.register("door-1", order("door-1", ACTIVE_PASS)).await;
    assert_eq!(order.status, 201, "{}", order.body);
    let sale = order.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();

    // DOOR_RATE_LIMIT's default, 60 a minute in bursts of 10: 40 lookups in parallel.
    let before = app.upstream_calls("get-passes").await;
    let path = door_path(INSZ);
    let lookups = (0..40).map(|_| app.shop(Method::GET, &path, None, &[]));
    let answers = join_all(lookups).await;
    let answered = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(
        (10..=12).contains(&answered),
        "a burst of 10 (and what a second refills): {answered}"
    );
    for answer in &refused {
        let problem = answer.assert_problem(429, "urn:uitpas-checkout:problem:rate-limited");
        assert!(!problem.to_string().contains(INSZ), "never the number: {problem}");
        let wait: u64 = answer.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    // Refused lookups never reach UiTPAS.
    assert_eq!(app.upstream_calls("get-passes").await, before + answered as u64);
    // The check-in status answers a pass's status too: the same budget, spent.
    app.shop(
        Method::GET,
        &format!("/v1/ticket-sales/{sale}/checkin-status"),
        None,
        &[],
    )
    .await
    .assert_problem(429, "urn:uitpas-checkout:problem:rate-limited");
    // A mistyped identifier is answered (400) without costing anything or being limited.
    app.shop(Method::GET, &door_path("08091860685"), None, &[])
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-pass-identifier");
    let metrics = app.metrics_text().await;
    assert_eq!(
        counter(&metrics, "uitpas_checkout_rate_limited_total{limit=\"door\"}"),
        refused.len() as u64 + 1,
        "{metrics}"
    );
}

#[tokio::test]
async fn a_door_rate_limit_of_zero_turns_the_limit_off() {
    let app = TestApp::spawn_configured(|c| c.door_rate_limit = 0).await;
    let path = door_path(INSZ);
    let answers = join_all((0..15).map(|_| app.shop(Method::GET, &path, None, &[]))).await;
    for answer in answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}

// --- 3. a reward's redeem-status, per customer: it tells a pass's points balance ---

#[tokio::test]
async fn redeem_status_checks_past_the_rewards_budget_are_refused_with_429_and_never_reach_uitpas() {
    let app = TestApp::spawn().await;
    // REWARDS_RATE_LIMIT's default, 60 a minute in bursts of 10: 40 checks in parallel, of
    // passes an attacker walks through.
    let before = app.upstream_calls("get-rewards-id-redeem-status").await;
    let paths: Vec<String> = (0..40)
        .map(|i| format!("/v1/rewards/5687/redeem-status?uitpasNumber={}", synthetic_pass(i)))
        .collect();
    let answers = join_all(paths.iter().map(|path| app.shop(Method::GET, path, None, &[]))).await;
    let answered = answers.iter().filter(|a| a.status != 429).count();
    assert!(
        (10..=12).contains(&answered),
        "a burst of 10 (and what a second refills): {answered}"
    );
    for answer in answers.iter().filter(|a| a.status == 429) {
        let problem = answer.assert_problem(429, "urn:uitpas-checkout:problem:rate-limited");
        assert!(problem.to_string().contains("REWARDS_RATE_LIMIT"), "{problem}");
        let wait: u64 = answer.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    assert!(
        app.upstream_calls("get-rewards-id-redeem-status").await <= before + answered as u64,
        "refused checks never reach UiTPAS"
    );
    // A malformed pass number is answered (400) without costing anything.
    app.shop(
        Method::GET,
        "/v1/rewards/5687/redeem-status?uitpasNumber=123",
        None,
        &[],
    )
    .await
    .assert_problem(400, "urn:uitpas-checkout:problem:invalid-uitpas-number");
    // The door has its own budget, untouched.
    assert_eq!(app.shop(Method::GET, &door_path(INSZ), None, &[]).await.status, 200);
    let metrics = app.metrics_text().await;
    assert_eq!(
        counter(&metrics, "uitpas_checkout_rate_limited_total{limit=\"rewards\"}"),
        (40 - answered) as u64,
        "{metrics}"
    );
}

#[tokio::test]
async fn a_rewards_rate_limit_of_zero_turns_the_limit_off() {
    let app = TestApp::spawn_configured(|c| c.rewards_rate_limit = 0).await;
    let path = format!("/v1/rewards/5687/redeem-status?uitpasNumber={ACTIVE_PASS}");
    let answers = join_all((0..15).map(|_| app.shop(Method::GET, &path, None, &[]))).await;
    for answer in answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}

#[tokio::test]
async fn a_secret_key_on_the_public_lookup_is_no_faster_than_a_publishable_key() {
    let app = TestApp::spawn_with(TestOptions {
        // Per key: 2 a second, bursts of 4; no limit per address.
        configure: Box::new(|c| c.publishable_key_rate_limit = 2),
        ..TestOptions::default()
    })
    .await;
    let auth = format!("Bearer {SHOP_KEY}");
    let lookups = (0..12u32).map(|i| {
        let path = format!("/v1/passes/{}", synthetic_pass(i));
        let auth = auth.clone();
        let app = &app;
        async move { app.request(Method::GET, &path, None, &[("authorization", &auth)]).await }
    });
    let answers = join_all(lookups).await;
    let answered = answers.iter().filter(|a| a.status == 200).count();
    assert!(answered <= 5, "the customer's key budget: {answered} of 12 answered");
    for answer in answers.iter().filter(|a| a.status != 200) {
        answer.assert_problem(429, "urn:uitpas-checkout:problem:rate-limited");
        assert!(answer.headers.contains_key("retry-after"));
    }
    let metrics = app.metrics_text().await;
    assert_eq!(
        counter(&metrics, "uitpas_checkout_rate_limited_total{limit=\"customer-key\"}"),
        (12 - answered) as u64,
        "{metrics}"
    );
}

// --- 7. the smaller ways in ---

#[tokio::test]
async fn a_checkout_token_is_made_only_for_the_customers_own_known_events() {
    let app = TestApp::spawn().await;
    let unknown = "11111111-2222-4333-8444-555555555555";
    let answer = app
        .mint_checkout_token(json!({"eventIds": [TEST_EVENT, unknown]}))
        .await;
    let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:event-not-found");
    assert_eq!(problem["schemaErrors"][0]["jsonPointer"], "/eventIds/1", "{problem}");
    let answer = app
        .mint_checkout_token(json!({"eventIds": [OTHER_ORGANIZERS_EVENT]}))
        .await;
    let problem = answer.assert_problem(403, "urn:uitpas-checkout:problem:permission-missing");
    assert!(
        problem["detail"].as_str().unwrap().contains("TICKETSALES_REGISTER"),
        "{problem}"
    );
    let answer = app.mint_checkout_token(json!({"eventIds": [TEST_EVENT]})).await;
    assert_eq!(answer.status, 201, "the customer's own event: {}", answer.body);
}

#[tokio::test]
async fn an_event_type_id_with_path_or_query_characters_is_refused_before_uitdatabank() {
    let app = TestApp::spawn().await;
    for bad in [
        "../../organizers/x",
        "0.50.4.0.0/../x",
        "0.50.4.0.0?x=1",
        "0.50.4.0.0#x",
        "%2e%2e",
        "..",
        "0.50 4",
    ] {
        let body = with(activity(), json!({"eventTypeId": bad}));
        let answer = app.shop(Method::PUT, "/v1/activities/camp", Some(body), &[]).await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        assert_eq!(
            problem["schemaErrors"][0]["jsonPointer"], "/eventTypeId",
            "{bad}: {problem}"
        );
    }
    assert_eq!(app.upstream_calls("event-post").await, 0, "nothing sent to UiTdatabank");
    // A term id as UiTdatabank has them, old and new, still goes.
    for (id, term) in [("camp-a", "0.57.0.0.0"), ("camp-b", "wwjRVmExI0w6xfQwT1KWpx")] {
        let body = with(activity(), json!({"eventTypeId": term}));
        let answer = app
            .shop(Method::PUT, &format!("/v1/activities/{id}"), Some(body), &[])
            .await;
        assert_eq!(answer.status, 201, "{term}: {}", answer.body);
    }
}

#[tokio::test]
async fn the_swagger_ui_has_the_consoles_security_headers_and_no_inline_script() {
    let app = TestApp::spawn().await;
    for path in ["/docs/", "/docs/swagger-initializer.js", "/openapi.json"] {
        let answer = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let headers = answer.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "connect-src 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        if path == "/docs/" {
            // The page works under `script-src 'self'`: every script of it is a file of its own.
            let html = answer.text().await.unwrap();
            for script in html.split("<script").skip(1) {
                let tag = &script[..script.find('>').unwrap()];
                assert!(tag.contains("src="), "an inline script: <script{tag}>");
            }
        }
    }
}
