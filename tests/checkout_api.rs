//! Black-box tests of the public checkout API: the real app on a free port, its own PostgreSQL
//! database, and a sandbox over HTTP as UiTPAS.

mod common;

use std::time::{Duration, Instant};

use common::{LIMITED_EVENT, TEST_EVENT, TestApp, TestOptions};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

fn tariffs_path(number: &str, event: &str, price: &str) -> String {
    format!("/v1/tariffs?eventId={event}&uitpasNumber={number}&regularPrice={price}")
}

/// A Luhn-valid synthetic number of the sandbox: `0999` + eight digits + a twelfth digit + check digit.
fn synthetic(n: u32, twelfth: u8) -> String {
    let first12 = format!("0999{n:07}{twelfth}");
    (0..10)
        .map(|d| format!("{first12}{d}"))
        .find(|c| uitpas_checkout::domain::luhn_valid(c))
        .unwrap()
}

#[tokio::test]
async fn an_active_pass_shows_its_social_tariff_and_nothing_personal() {
    let app = TestApp::spawn().await;
    let answer = app.get("/v1/passes/0900000067513").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["passType"], "INDIVIDUAL");
    assert_eq!(answer.body["socialTariff"]["status"], "ACTIVE");
    assert!(answer.body["messages"].as_array().unwrap().is_empty());
    let keys: Vec<&String> = answer.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["messages", "passType", "socialTariff"], "no personal data");
    let cache_control = answer.headers["cache-control"].to_str().unwrap();
    assert!(cache_control.contains("max-age"), "{cache_control}");
}

#[tokio::test]
async fn an_expired_pass_carries_the_message_that_must_be_shown() {
    let app = TestApp::spawn().await;
    let answer = app.get("/v1/passes/0900000058918").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["socialTariff"]["status"], "EXPIRED");
    let messages = answer.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["level"], "WARN");
    assert!(messages[0]["text"].as_str().unwrap().contains("kansentarief"));
}

#[tokio::test]
async fn a_pass_in_its_grace_period_is_active_whatever_its_end_date() {
    let app = TestApp::spawn().await;
    let answer = app.get("/v1/passes/0900010959113").await;
    assert_eq!(answer.body["socialTariff"]["status"], "ACTIVE");
    let end: chrono::DateTime<chrono::Utc> = answer.body["socialTariff"]["endDate"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        end < chrono::Utc::now(),
        "the dataset's grace-period pass has an end date in the past"
    );
    assert_eq!(answer.body["messages"][0]["level"], "INFO");
}

#[tokio::test]
async fn every_pass_of_the_dataset_answers_as_the_dataset_says() {
    let app = TestApp::spawn().await;
    let cases = [
        ("0900000095902", 200, "NONE", "INDIVIDUAL"),
        ("0900000031618", 200, "EXPIRED", "INDIVIDUAL"),
        ("1000000520006", 200, "NONE", "INDIVIDUAL"),
        ("0900000093204", 200, "ACTIVE", "INDIVIDUAL"),
        ("0900000045410", 200, "ACTIVE", "GROUP"),
        ("0900000191800", 200, "NONE", "GROUP"),
    ];
    for (number, status, social, kind) in cases {
        let answer = app.get(&format!("/v1/passes/{number}")).await;
        assert_eq!(answer.status, status, "{number}: {}", answer.body);
        assert_eq!(answer.body["socialTariff"]["status"], social, "{number}");
        assert_eq!(answer.body["passType"], kind, "{number}");
    }
    for unregistered in ["0900000074519", "0900000020405"] {
        app.get(&format!("/v1/passes/{unregistered}"))
            .await
            .assert_problem(404, "https://api.publiq.be/probs/uitpas/pass-not-found");
    }
    assert_eq!(
        app.get(&format!("/v1/passes/{}", synthetic(1, 2))).await.body["socialTariff"]["status"],
        "ACTIVE"
    );
    assert_eq!(
        app.get(&format!("/v1/passes/{}", synthetic(1, 3))).await.body["socialTariff"]["status"],
        "NONE"
    );
}

#[tokio::test]
async fn a_blocked_card_gets_the_problem_uitpas_gives_with_its_card_status_and_end_user_message() {
    let app = TestApp::spawn().await;
    let answer = app.get("/v1/passes/0900000002312").await;
    // `GET /passes?identifier=` refuses a card that is not active with its actual status.
    let problem = answer.assert_problem(400, "https://api.publiq.be/probs/uitpas/invalid-card-status");
    assert_eq!(problem["cardStatus"], "BLOCKED", "{problem}");
    assert!(problem["endUserMessage"]["nl"].as_str().is_some_and(|m| !m.is_empty()));
    // UiTPAS also names the passholder and pass type of a blocked card: not the buyer's business.
    assert!(problem.get("passholderId").is_none(), "{problem}");
    assert!(problem.get("passType").is_none(), "{problem}");
    assert_eq!(app.upstream_calls("get-passes").await, 1);
    assert_eq!(app.upstream_calls("get-passes-uitpasNumber").await, 0);
}

#[tokio::test]
async fn a_mistyped_number_is_refused_without_asking_uitpas() {
    let app = TestApp::spawn().await;
    for bad in ["0900000067514", "090000006751", "09000000675l3", "%20"] {
        let answer = app.get(&format!("/v1/passes/{bad}")).await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-uitpas-number");
        assert!(problem["endUserMessage"]["nl"].is_string());
    }
    assert_eq!(app.upstream_calls("get-passes").await, 0);
}

#[tokio::test]
async fn a_thousand_concurrent_lookups_of_fifty_passes_make_fifty_upstream_calls() {
    // A thousand connections at once: more than the default budget of the service (448), which
    // would shed the rest whenever the machine is slow enough for them all to be open together.
    let app = TestApp::spawn_configured(|c| c.max_connections = 1_100).await;
    let passes: Vec<String> = (0..50).map(|i| synthetic(i, (i % 10) as u8)).collect();
    let lookups = (0..1000).map(|i| {
        let path = format!("/v1/passes/{}", passes[i % 50]);
        let app = &app;
        async move { app.get(&path).await.status }
    });
    let statuses = join_all(lookups).await;
    assert!(statuses.iter().all(|s| *s == 200), "every lookup answered 200");
    assert_eq!(app.upstream_calls("get-passes").await, 50);
    assert_eq!(
        app.upstream_calls("get-passes-uitpasNumber").await,
        0,
        "never the deprecated lookup"
    );
    assert_eq!(
        app.upstream_calls("post-oauth-token").await,
        1,
        "one token for all of it"
    );
    // And again: all from the cache.
    let paths: Vec<String> = (0..100).map(|i| format!("/v1/passes/{}", passes[i % 50])).collect();
    join_all(paths.iter().map(|p| app.get(p))).await;
    assert_eq!(app.upstream_calls("get-passes").await, 50);
}

#[tokio::test]
async fn an_unknown_pass_is_answered_from_memory_for_a_while() {
    // Probing numbers must not reach UiTPAS again and again: a 404 is kept briefly
    // (UNKNOWN_PASS_TTL), the same problem answered each time.
    let app = TestApp::spawn().await;
    let unknown = "0900000000019";
    assert!(uitpas_checkout::domain::luhn_valid(unknown));
    for _ in 0..5 {
        app.get(&format!("/v1/passes/{unknown}"))
            .await
            .assert_problem(404, "https://api.publiq.be/probs/uitpas/pass-not-found");
    }
    assert_eq!(app.upstream_calls("get-passes").await, 1);
}

#[tokio::test]
async fn tariffs_are_passed_through_and_never_cached() {
    let app = TestApp::spawn().await;
    let path = tariffs_path("0900000067513", TEST_EVENT, "12.99");
    let answer = app.get(&path).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["available"],
        json!([{"id": "kansentarief-regio-gent", "name": "Kansentarief UiTPAS Regio Gent", "price": 2.6, "type": "SOCIALTARIFF", "remaining": 100}])
    );
    app.get(&path).await;
    assert_eq!(app.upstream_calls("get-tariffs").await, 2);
}

#[tokio::test]
async fn tariffs_carry_uitpas_end_user_message() {
    let app = TestApp::spawn().await;
    let answer = app.get(&tariffs_path("0900000095902", TEST_EVENT, "10")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["available"], json!([]));
    assert!(
        answer.body["endUserMessage"]["nl"]
            .as_str()
            .unwrap()
            .contains("kansentarief")
    );

    let coupon = app
        .get(&format!(
            "{}&type=COUPON",
            tariffs_path("0900000093204", TEST_EVENT, "10")
        ))
        .await;
    let kinds: Vec<&str> = coupon.body["available"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["COUPON", "COUPON"]);
}

#[tokio::test]
async fn a_refusal_by_uitpas_keeps_its_type_and_end_user_message() {
    let app = TestApp::spawn().await;
    let answer = app.get(&tariffs_path("0900000058918", TEST_EVENT, "10")).await;
    let problem = answer.assert_problem(400, "https://api.publiq.be/probs/uitpas/social-tariff-expired");
    assert!(problem["endUserMessage"]["nl"].is_string());
    assert!(problem["endUserMessage"]["en"].is_string());
}

#[tokio::test]
async fn bad_tariff_queries_are_refused_with_a_pointer_to_the_parameter() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "/v1/tariffs?uitpasNumber=0900000067513&regularPrice=10".to_string(),
            "/eventId",
        ),
        (
            "/v1/tariffs?eventId=nope&uitpasNumber=0900000067513&regularPrice=10".to_string(),
            "/eventId",
        ),
        (
            format!("/v1/tariffs?eventId={TEST_EVENT}&uitpasNumber=0900000067513"),
            "/regularPrice",
        ),
        (tariffs_path("0900000067513", TEST_EVENT, "-1"), "/regularPrice"),
        (tariffs_path("0900000067513", TEST_EVENT, "1.005"), "/regularPrice"),
        (tariffs_path("0900000067513", TEST_EVENT, "ten"), "/regularPrice"),
        (
            format!("/v1/tariffs?eventId={TEST_EVENT}&regularPrice=10"),
            "/uitpasNumber",
        ),
    ];
    for (path, pointer) in cases {
        let answer = app.get(&path).await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        assert_eq!(problem["schemaErrors"][0]["jsonPointer"], pointer, "{path}");
    }
    app.get(&format!(
        "{}&type=CHEAP",
        tariffs_path("0900000067513", TEST_EVENT, "10")
    ))
    .await
    .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    assert_eq!(app.upstream_calls("get-tariffs").await, 0, "nothing bad reached UiTPAS");
}

#[tokio::test]
async fn static_tariffs_are_cached_per_event_and_price() {
    let app = TestApp::spawn().await;
    let path = format!("/v1/tariffs/static?eventId={TEST_EVENT}&regularPrice=10");
    for _ in 0..3 {
        let answer = app.get(&path).await;
        assert_eq!(answer.status, 200);
        let prices: Vec<f64> = answer.body["available"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["price"].as_f64().unwrap())
            .collect();
        assert_eq!(prices, [2.0, 2.5]);
    }
    app.get(&format!("/v1/tariffs/static?eventId={TEST_EVENT}&regularPrice=20"))
        .await;
    assert_eq!(app.upstream_calls("get-tariffs-static").await, 2);
}

#[tokio::test]
async fn a_quote_answers_every_line_and_carries_the_problem_of_a_refused_one() {
    let app = TestApp::spawn().await;
    let unknown_event = "00000000-0000-4000-8000-000000000000";
    let answer = app
        .post(
            "/v1/quotes",
            json!({
                "uitpasNumber": "0900000067513",
                "lines": [
                    {"eventId": TEST_EVENT, "regularPrice": 12.5, "quantity": 2},
                    {"eventId": unknown_event, "regularPrice": 10},
                    {"eventId": LIMITED_EVENT, "regularPrice": 10, "quantity": 3},
                ]
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["pass"]["socialTariff"]["status"], "ACTIVE");
    let lines = answer.body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["available"][0]["price"], 2.5);
    assert_eq!(lines[0]["available"][0]["total"], 5.0);
    assert_eq!(lines[0]["available"][0]["coversQuantity"], true);
    assert_eq!(
        lines[1]["problem"]["type"],
        "https://api.publiq.be/probs/uitpas/event-not-found"
    );
    assert_eq!(lines[1]["available"], json!([]));
    assert_eq!(lines[2]["available"][0]["remaining"], 1);
    assert_eq!(
        lines[2]["available"][0]["coversQuantity"], false,
        "3 tickets, 1 remaining"
    );
    assert_eq!(app.upstream_calls("get-tariffs").await, 3);
    assert_eq!(app.upstream_calls("get-passes").await, 1);
}

#[tokio::test]
async fn a_quote_for_an_unknown_pass_is_404() {
    let app = TestApp::spawn().await;
    app.post(
        "/v1/quotes",
        json!({"uitpasNumber": "0900000000019", "lines": [{"eventId": TEST_EVENT, "regularPrice": 10}]}),
    )
    .await
    .assert_problem(404, "https://api.publiq.be/probs/uitpas/pass-not-found");
}

#[tokio::test]
async fn malformed_quotes_are_refused_with_a_clear_problem() {
    let app = TestApp::spawn().await;
    let line = json!({"eventId": TEST_EVENT, "regularPrice": 10});
    let cases = [
        json!({"uitpasNumber": "0900000067513", "lines": []}),
        json!({"uitpasNumber": "0900000067513", "lines": [{"eventId": TEST_EVENT, "regularPrice": "ten"}]}),
        json!({"uitpasNumber": "0900000067513", "lines": [{"eventId": TEST_EVENT, "regularPrice": -3}]}),
        json!({"uitpasNumber": "0900000067513", "lines": [{"eventId": TEST_EVENT, "regularPrice": 10, "quantity": 0}]}),
        json!({"uitpasNumber": "0900000067513", "lines": [{"eventId": "x", "regularPrice": 10}]}),
        json!({"uitpasNumber": "0900000067513", "lines": [line], "coupon": "free"}),
        json!({"lines": [line]}),
        json!([1, 2, 3]),
    ];
    for body in cases {
        let answer = app.post("/v1/quotes", body.clone()).await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    }
    let syntax = app
        .http
        .post(app.url("/v1/quotes"))
        .header("content-type", "application/json")
        .body("{\"uitpasNumber\": ")
        .send()
        .await
        .unwrap();
    common::read(syntax)
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    let not_json = app
        .http
        .post(app.url("/v1/quotes"))
        .body("uitpasNumber=1")
        .send()
        .await
        .unwrap();
    common::read(not_json)
        .await
        .assert_problem(415, "urn:uitpas-checkout:problem:unsupported-media-type");
    let huge = json!({"uitpasNumber": "0900000067513", "lines": [line], "padding": "x".repeat(100_000)});
    app.post("/v1/quotes", huge)
        .await
        .assert_problem(413, "urn:uitpas-checkout:problem:payload-too-large");
    assert_eq!(app.upstream_calls("get-tariffs").await, 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = TestApp::spawn().await;
    app.get("/v1/nothing-here")
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    let answer = app.request(Method::DELETE, "/v1/passes/0900000067513", None, &[]).await;
    answer.assert_problem(405, "urn:uitpas-checkout:problem:method-not-allowed");
    assert!(answer.headers.contains_key("allow"));
}

#[tokio::test]
async fn an_upstream_outage_is_a_502_problem_and_a_timeout_a_quick_504() {
    let app = TestApp::spawn_configured(|c| {
        c.upstream_timeout = uitpas_checkout::config::HumanDuration(Duration::from_millis(300))
    })
    .await;
    app.fault(json!({"operation": "get-passes", "mode": "error", "status": 503, "times": 1}))
        .await;
    app.get("/v1/passes/0900000067513")
        .await
        .assert_problem(502, "urn:uitpas-checkout:problem:upstream-unavailable");
    // The failure was not cached: the next lookup reaches UiTPAS and succeeds.
    assert_eq!(app.get("/v1/passes/0900000067513").await.status, 200);

    app.fault(json!({"operation": "get-tariffs", "mode": "delay", "delayMs": 3000}))
        .await;
    let started = Instant::now();
    app.get(&tariffs_path("0900000067513", TEST_EVENT, "10"))
        .await
        .assert_problem(504, "urn:uitpas-checkout:problem:upstream-timeout");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "answered in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_token_is_fetched_again_when_uitpas_refuses_it() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/v1/passes/0900000067513").await.status, 200);
    assert_eq!(app.upstream_calls("post-oauth-token").await, 1);
    app.fault(json!({"operation": "get-tariffs", "mode": "error", "status": 401, "times": 1}))
        .await;
    let answer = app.get(&tariffs_path("0900000067513", TEST_EVENT, "10")).await;
    assert_eq!(answer.status, 200, "retried once with a new token: {}", answer.body);
    assert_eq!(app.upstream_calls("post-oauth-token").await, 2);
    assert_eq!(app.upstream_calls("get-tariffs").await, 2);
}

#[tokio::test]
async fn an_expiring_token_is_renewed_before_it_expires() {
    let app = TestApp::spawn_with(TestOptions {
        token_ttl: Duration::from_secs(2),
        ..TestOptions::default()
    })
    .await;
    assert_eq!(
        app.get(&tariffs_path("0900000067513", TEST_EVENT, "10")).await.status,
        200
    );
    // Time has to pass for a token to expire; nothing is waited for but the clock.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let path = tariffs_path("0900000067513", TEST_EVENT, "10");
    let answers = join_all((0..20).map(|_| app.get(&path))).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(
        app.upstream_calls("post-oauth-token").await,
        2,
        "one refresh for twenty waiting requests"
    );
}

#[tokio::test]
async fn the_public_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::spawn_configured(|c| c.public_rate_limit = 1).await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let answer = app.get("/v1/passes/0900000067513").await;
        statuses.push(answer.status.as_u16());
        last = Some(answer);
    }
    assert_eq!(statuses, [200, 200, 429, 429], "a burst of two, then limited");
    let last = last.unwrap();
    last.assert_problem(429, "urn:uitpas-checkout:problem:rate-limited");
    assert!(last.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(
        app.get("/healthz").await.status,
        200,
        "operations endpoints are not limited"
    );
}

#[tokio::test]
async fn behind_a_proxy_the_rate_limit_counts_per_forwarded_client() {
    let app = TestApp::spawn_configured(|c| {
        c.public_rate_limit = 1;
        c.client_ip_header = Some("x-forwarded-for".into());
    })
    .await;
    let from = |client: &'static str| {
        let app = &app;
        async move {
            app.request(
                Method::GET,
                "/v1/passes/0900000067513",
                None,
                &[("x-forwarded-for", client)],
            )
            .await
            .status
            .as_u16()
        }
    };
    let first: Vec<u16> = vec![
        from("10.0.0.1, 192.0.2.7").await,
        from("192.0.2.7").await,
        from("192.0.2.7").await,
    ];
    assert_eq!(first, [200, 200, 429], "the last forwarded address is the client");
    assert_eq!(
        from("192.0.2.8").await,
        200,
        "another browser behind the same proxy has its own budget"
    );
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = TestApp::spawn_configured(|c| c.public_origins = "https://shop.example".parse().unwrap()).await;
    let allowed = app
        .request(
            Method::GET,
            "/v1/passes/0900000067513",
            None,
            &[("origin", "https://shop.example")],
        )
        .await;
    assert_eq!(allowed.headers["access-control-allow-origin"], "https://shop.example");
    let other = app
        .request(
            Method::GET,
            "/v1/passes/0900000067513",
            None,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert!(!other.headers.contains_key("access-control-allow-origin"));
    let preflight = app
        .request(
            Method::OPTIONS,
            "/v1/quotes",
            None,
            &[
                ("origin", "https://shop.example"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
    assert!(preflight.status.is_success());
    assert!(
        preflight.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
}

#[tokio::test]
async fn request_ids_are_kept_or_made_and_returned() {
    let app = TestApp::spawn().await;
    let given = app
        .request(Method::GET, "/healthz", None, &[("x-request-id", "abc-123")])
        .await;
    assert_eq!(given.headers["x-request-id"], "abc-123");
    let made = app.get("/healthz").await;
    assert_eq!(made.headers["x-request-id"].to_str().unwrap().len(), 36);
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.body, json!({"status": "ok"}));
    assert_eq!(app.get("/readyz").await.body, json!({"status": "ready"}));
    app.get("/v1/passes/0900000067513").await;
    app.get("/v1/passes/0900000067513").await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        r#"uitpas_checkout_http_requests_total{method="GET",route="/v1/passes/{uitpasNumber}",status="200"} 2"#,
        r#"uitpas_checkout_cache_lookups_total{cache="pass",result="hit"} 1"#,
        r#"uitpas_checkout_cache_lookups_total{cache="pass",result="miss"} 1"#,
        r#"uitpas_checkout_upstream_requests_total{operation="get-passes",outcome="ok"} 1"#,
        "uitpas_checkout_token_refreshes_total 1",
    ] {
        assert!(metrics.contains(expected), "missing {expected} in\n{metrics}");
    }
    assert!(!metrics.contains("0900000067513"), "no UiTPAS number in metrics");
}

#[tokio::test]
async fn the_served_openapi_document_is_the_generated_one() {
    let app = TestApp::spawn().await;
    let served = app.get("/openapi.json").await.body;
    let generated: Value = serde_json::to_value(uitpas_checkout::http::openapi()).unwrap();
    assert_eq!(served, generated);
    let docs = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn the_app_stops_gracefully() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_event_is_404_as_the_path_and_400_as_a_parameter_as_in_uitpas() {
    let app = TestApp::spawn().await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let not_found = "https://api.publiq.be/probs/uitpas/event-not-found";

    let path = app.get(&format!("/v1/events/{unknown}/uitpas")).await;
    assert_eq!(
        (path.status.as_u16(), path.body["type"].as_str()),
        (404, Some(not_found))
    );
    for query in [
        tariffs_path("0900000067513", unknown, "10"),
        format!("/v1/tariffs/static?eventId={unknown}&regularPrice=10"),
    ] {
        let answer = app.get(&query).await;
        assert_eq!(
            (answer.status.as_u16(), answer.body["type"].as_str()),
            (400, Some(not_found)),
            "{query}"
        );
        assert_eq!(answer.body["status"], 400);
    }
    let quote = app
        .post(
            "/v1/quotes",
            json!({"uitpasNumber": "0900000067513", "lines": [{"eventId": unknown, "regularPrice": 10}]}),
        )
        .await;
    assert_eq!(quote.body["lines"][0]["problem"]["type"], not_found);
    assert_eq!(quote.body["lines"][0]["problem"]["status"], 400);

    // The document says so where each status is described.
    let doc = app.get("/openapi.json").await.body;
    let described = |path: &str, status: &str| {
        doc["paths"][path]["get"]["responses"][status]["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(described("/v1/events/{eventId}/uitpas", "404").contains(not_found));
    assert!(described("/v1/tariffs", "400").contains(not_found));
    assert!(described("/v1/tariffs/static", "400").contains(not_found));
}
