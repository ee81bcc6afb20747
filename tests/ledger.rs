//! Black-box tests of the sales ledger: the shop endpoints against a sandbox (with its faults) and a
//! real PostgreSQL. Every test ends by comparing what the shop was told, the ledger and the
//! sandbox's own ledger.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::fixtures::{ACTIVE_PASS, EXPIRED_PASS, GENT, PASPARTOE, PASPARTOE_PASS, order, order_of, ticket, with};
use common::{Answer, LIMITED_EVENT, TEST_EVENT, TestApp, until};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use uitpas_checkout::config::HumanDuration;
use uitpas_checkout::sandbox::dataset::synthetic_active_pass;

/// A ticket of the test event for a Paspartoe pass at Paspartoe's social tariff.
fn paspartoe_ticket() -> Value {
    with(ticket(PASPARTOE_PASS), json!({"tariffId": PASPARTOE}))
}

/// Every ticket sale the ledger has, by its UiTPAS id, with its status.
async fn ledger_by_uitpas_id(app: &TestApp) -> BTreeMap<String, String> {
    let page = app.shop(Method::GET, "/v1/ticket-sales?limit=100", None, &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body["member"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            Some((
                s["uitpasTicketSaleId"].as_str()?.to_owned(),
                s["status"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// The sandbox's ledger, by id, with its status in our words.
async fn uitpas_by_id(app: &TestApp) -> BTreeMap<String, String> {
    app.sandbox_ledger()
        .await
        .iter()
        .map(|s| {
            let status = match s["status"].as_str().unwrap() {
                "ACTIVE" => "registered",
                _ => "cancelled",
            };
            (s["id"].as_str().unwrap().to_owned(), status.to_owned())
        })
        .collect()
}

/// The ledger and UiTPAS agree: same sales, same statuses, nothing lost, nothing doubled.
async fn assert_ledger_matches_uitpas(app: &TestApp) {
    assert_eq!(
        ledger_by_uitpas_id(app).await,
        uitpas_by_id(app).await,
        "the ledger and UiTPAS agree"
    );
}

#[tokio::test]
async fn a_paid_order_is_registered_with_the_uitpas_ids() {
    let app = TestApp::spawn().await;
    let answer = app
        .register(
            "order-1",
            json!({"orderId": "order-1", "tickets": [
                {"eventId": TEST_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": GENT, "regularPrice": 12.5,
                 "regularPriceLabel": "Volwassene", "externalId": "T-1", "paidPrice": 2.5, "vat": 6},
                {"eventId": TEST_EVENT, "uitpasNumber": "0900000045410", "tariffId": GENT, "regularPrice": 10, "quantity": 2},
            ]}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["status"], "registered");
    assert_eq!(body["orderId"], "order-1");
    let sales = body["ticketSales"].as_array().unwrap();
    assert_eq!(sales.len(), 3, "quantity 2 is two UiTPAS ticket sales");
    assert_eq!(
        sales[0]["tariff"],
        json!({"id": GENT, "name": "Kansentarief UiTPAS Regio Gent", "price": 2.5, "type": "SOCIALTARIFF"})
    );
    assert_eq!(sales[0]["regularPriceLabel"], "Volwassene");
    assert_eq!(sales[0]["externalId"], "T-1");
    assert_eq!(sales[0]["paidPrice"], 2.5);
    assert_eq!(sales[0]["vat"], 6.0);
    assert!(
        sales
            .iter()
            .all(|s| s["status"] == "registered" && s["uitpasTicketSaleId"].is_string())
    );
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        1,
        "one all-or-nothing batch"
    );
    assert_ledger_matches_uitpas(&app).await;

    let id = body["id"].as_str().unwrap();
    let read = app.registration(id).await;
    assert_eq!(read, answer.body, "reading it back gives the same view");
}

#[tokio::test]
async fn the_same_key_and_body_again_get_the_same_answer_and_one_registration() {
    let app = TestApp::spawn().await;
    let body = order("order-2", ACTIVE_PASS);
    let first = app.register("key-2", body.clone()).await;
    let second = app.register("key-2", body).await;
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(first.body, second.body);
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 1);
    assert_ledger_matches_uitpas(&app).await;
}

#[tokio::test]
async fn twenty_concurrent_retries_of_one_order_register_it_once() {
    let app = TestApp::spawn().await;
    let body = order_of("order-3", vec![ticket(ACTIVE_PASS), paspartoe_ticket()]);
    let answers: Vec<Answer> = join_all((0..20).map(|_| app.register("key-3", body.clone()))).await;
    for a in &answers {
        assert_eq!(a.status, 201, "{}", a.body);
        assert_eq!(a.body, answers[0].body, "every retry gets the first answer");
    }
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 1);
    assert_eq!(app.sandbox_ledger().await.len(), 2);
    assert_ledger_matches_uitpas(&app).await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_with_422() {
    let app = TestApp::spawn().await;
    assert_eq!(app.register("key-4", order("order-4", ACTIVE_PASS)).await.status, 201);
    let other = app.register("key-4", order("order-4b", ACTIVE_PASS)).await;
    other.assert_problem(422, "urn:uitpas-checkout:problem:idempotency-key-reused");
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 1);
    // Written differently but the same request (spaces in the number, price as 10.00): the same.
    let same = app
        .register(
            "key-4",
            json!({"tickets": [{"regularPrice": 10.00, "tariffId": GENT, "uitpasNumber": "0900 0000 6751 3", "eventId": TEST_EVENT.to_uppercase()}], "orderId": "order-4"}),
        )
        .await;
    assert_eq!(same.status, 201, "{}", same.body);
}

#[tokio::test]
async fn a_refused_order_registers_nothing_and_names_the_ticket() {
    let app = TestApp::spawn().await;
    let body = order_of("order-5", vec![ticket(ACTIVE_PASS), ticket(EXPIRED_PASS)]);
    let answer = app.register("key-5", body.clone()).await;
    let problem = answer.assert_problem(400, "https://api.publiq.be/probs/uitpas/social-tariff-expired");
    assert_eq!(problem["jsonPointer"], "/tickets/1", "the second ticket");
    assert!(problem["endUserMessage"]["nl"].is_string());
    let id = problem["registrationId"]
        .as_str()
        .expect("the refused registration's id")
        .to_owned();
    assert!(
        app.sandbox_ledger().await.is_empty(),
        "all or nothing: nothing registered"
    );

    let again = app.register("key-5", body).await;
    assert_eq!(again.body, answer.body, "a retry gets the same refusal");
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 1);
    let read = app.registration(&id).await;
    assert_eq!(read["status"], "rejected");
    assert!(
        read["ticketSales"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "rejected")
    );
}

#[tokio::test]
async fn a_quantity_above_what_remains_is_refused_whole() {
    let app = TestApp::spawn().await;
    let answer = app
        .register(
            "key-6",
            json!({"orderId": "order-6", "tickets": [
                {"eventId": LIMITED_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": GENT, "regularPrice": 10, "quantity": 2}
            ]}),
        )
        .await;
    let problem = answer.assert_problem(400, "https://api.publiq.be/probs/uitpas/maximum-reached");
    assert_eq!(problem["jsonPointer"], "/tickets/0");
    assert!(app.sandbox_ledger().await.is_empty());
}

#[tokio::test]
async fn when_uitpas_is_down_the_order_is_pending_then_registered_by_the_worker() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503}))
        .await;
    let answer = app.register("key-7", order("order-7", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["status"], "pending");
    assert_eq!(answer.body["ticketSales"][0]["status"], "pending");
    let id = answer.body["id"].as_str().unwrap().to_owned();
    // The shop retries while the order waits for its next attempt: the same answer (found by the
    // fault campaign: this was a 500).
    let retry = app.register("key-7", order("order-7", ACTIVE_PASS)).await;
    assert_eq!(retry.status, 202, "{}", retry.body);
    assert_eq!(retry.body, answer.body);

    // Still down: the replay fails and the order stays pending, never failed.
    assert_eq!(app.drain().await, 1);
    assert!(app.sandbox_ledger().await.is_empty());
    let read = app.registration(&id).await;
    assert_eq!(read["status"], "pending");
    // Operators see the waiting work in the metrics.
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("uitpas_checkout_jobs{kind=\"register\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("uitpas_checkout_jobs_oldest_age_seconds{kind=\"register\"} "));

    app.clear_faults().await;
    assert_eq!(app.drain().await, 1);
    let read = app.registration(&id).await;
    assert_eq!(read["status"], "registered", "{}", read);
    assert_eq!(app.sandbox_ledger().await.len(), 1);
    assert_eq!(app.drain().await, 0, "nothing left to do");
    assert!(
        app.metrics_text()
            .await
            .contains("uitpas_checkout_jobs{kind=\"register\"} 0\n")
    );
    assert_ledger_matches_uitpas(&app).await;

    // The shop retrying now gets the settled answer.
    let retry = app.register("key-7", order("order-7", ACTIVE_PASS)).await;
    assert_eq!(retry.status, 201);
}

#[tokio::test]
async fn an_answer_lost_after_uitpas_committed_is_adopted_not_registered_twice() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "drop-after-commit", "times": 1}))
        .await;
    let body = order_of("order-8", vec![ticket(ACTIVE_PASS), ticket(ACTIVE_PASS)]);
    let answer = app.register("key-8", body).await;
    assert_eq!(answer.status, 202, "the outcome is unknown: {}", answer.body);
    assert_eq!(app.sandbox_ledger().await.len(), 2, "UiTPAS did register them");

    assert_eq!(app.drain().await, 1);
    let id = answer.body["id"].as_str().unwrap();
    let read = app.registration(id).await;
    assert_eq!(read["status"], "registered", "{}", read);
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        1,
        "adopted, not sent again"
    );
    assert_eq!(app.sandbox_ledger().await.len(), 2, "not doubled");
    assert_ledger_matches_uitpas(&app).await;
}

#[tokio::test]
async fn an_answer_that_never_came_is_settled_by_looking_at_uitpas() {
    let app = TestApp::spawn_configured(|c| c.upstream_timeout = HumanDuration(Duration::from_millis(400))).await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "delay", "delayMs": 1200, "times": 1}))
        .await;
    let answer = app.register("key-9", order("order-9", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    // The sandbox carries the request out once its delay is over.
    until(
        "the delayed registration reaches the sandbox",
        Duration::from_secs(10),
        async || !app.sandbox_ledger().await.is_empty(),
    )
    .await;
    assert_eq!(app.drain().await, 1);
    assert_eq!(app.sandbox_ledger().await.len(), 1, "adopted, not doubled");
    assert_ledger_matches_uitpas(&app).await;
}

#[tokio::test]
async fn a_registration_that_never_reached_uitpas_is_sent_again() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    assert_eq!(app.register("key-10", order("order-10", ACTIVE_PASS)).await.status, 202);
    assert_eq!(app.drain().await, 1);
    assert_eq!(
        app.upstream_calls("get-ticket-sales").await,
        0,
        "503: nothing open, nothing at UiTPAS, so no look is needed (issue 27)"
    );
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 2, "sent again");
    assert_eq!(app.sandbox_ledger().await.len(), 1);
    assert_ledger_matches_uitpas(&app).await;
}

#[tokio::test]
async fn a_refusal_found_by_the_worker_is_kept_on_the_registration() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    let answer = app.register("key-11", order("order-11", EXPIRED_PASS)).await;
    assert_eq!(answer.status, 202);
    app.drain().await;
    let again = app.register("key-11", order("order-11", EXPIRED_PASS)).await;
    again.assert_problem(400, "https://api.publiq.be/probs/uitpas/social-tariff-expired");
}

#[tokio::test]
async fn a_registered_sale_is_cancelled_at_uitpas() {
    let app = TestApp::spawn().await;
    let answer = app.register("key-12", order("order-12", ACTIVE_PASS)).await;
    let sale = answer.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/ticket-sales/{sale}");
    let cancelled = app.shop(Method::DELETE, &path, None, &[]).await;
    assert_eq!(cancelled.status, 204, "{}", cancelled.body);
    assert_eq!(app.sandbox_ledger().await[0]["status"], "CANCELLED");
    let again = app.shop(Method::DELETE, &path, None, &[]).await;
    assert_eq!(again.status, 204, "cancelling twice is fine");
    assert_eq!(app.upstream_calls("delete-ticket-sales").await, 1);
    let read = app.shop(Method::GET, &path, None, &[]).await;
    assert_eq!(read.body["status"], "cancelled");
    assert!(read.body["cancelledAt"].is_string());
    assert_ledger_matches_uitpas(&app).await;
    // The passholder's allowance is back.
    let tariffs = app
        .get(&format!(
            "/v1/tariffs?eventId={TEST_EVENT}&uitpasNumber=0900000067513&regularPrice=10"
        ))
        .await;
    assert_eq!(tariffs.body["available"][0]["remaining"], 100);
}

#[tokio::test]
async fn a_cancellation_during_an_outage_is_replayed_until_uitpas_confirms() {
    let app = TestApp::spawn().await;
    let answer = app.register("key-13", order("order-13", ACTIVE_PASS)).await;
    let sale = answer.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();
    app.fault(json!({"operation": "delete-ticket-sales", "mode": "error", "status": 503}))
        .await;
    let pending = app
        .shop(Method::DELETE, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(pending.status, 202, "{}", pending.body);
    assert_eq!(pending.body["status"], "cancelling");
    let again = app
        .shop(Method::DELETE, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(again.status, 202, "asked again while it waits: {}", again.body);
    assert_eq!(app.drain().await, 1);
    assert_eq!(app.sandbox_ledger().await[0]["status"], "ACTIVE", "not yet");
    app.clear_faults().await;
    assert_eq!(app.drain().await, 1);
    assert_eq!(app.sandbox_ledger().await[0]["status"], "CANCELLED");
    let read = app
        .shop(Method::GET, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(read.body["status"], "cancelled");
    assert_ledger_matches_uitpas(&app).await;
}

#[tokio::test]
async fn a_lost_cancellation_answer_is_settled_by_the_404_of_the_replay() {
    let app = TestApp::spawn().await;
    let answer = app.register("key-14", order("order-14", ACTIVE_PASS)).await;
    let sale = answer.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();
    app.fault(json!({"operation": "delete-ticket-sales", "mode": "drop-after-commit", "times": 1}))
        .await;
    let pending = app
        .shop(Method::DELETE, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(pending.status, 202);
    assert_eq!(
        app.sandbox_ledger().await[0]["status"],
        "CANCELLED",
        "UiTPAS did cancel it"
    );
    assert_eq!(app.drain().await, 1);
    let read = app
        .shop(Method::GET, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(read.body["status"], "cancelled");
    assert_eq!(app.upstream_calls("delete-ticket-sales").await, 2);
    assert_ledger_matches_uitpas(&app).await;
}

#[tokio::test]
async fn a_sale_not_registered_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503}))
        .await;
    let answer = app.register("key-15", order("order-15", ACTIVE_PASS)).await;
    let sale = answer.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();
    app.shop(Method::DELETE, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:not-registered");
    app.shop(
        Method::DELETE,
        &format!("/v1/ticket-sales/{}", uuid::Uuid::new_v4()),
        None,
        &[],
    )
    .await
    .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
}

#[tokio::test]
async fn two_replicas_drain_one_queue_without_doing_any_work_twice() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503}))
        .await;
    // Twelve orders of twelve different passes (synthetic passes with a social tariff).
    for i in 0..12u32 {
        let target = if i % 2 == 0 { &app } else { &replica };
        let number = synthetic_active_pass(u64::from(i));
        let answer = target
            .register(&format!("key-r{i}"), order(&format!("order-r{i}"), &number))
            .await;
        assert_eq!(answer.status, 202);
    }
    app.clear_faults().await;
    let (a, b) = tokio::join!(app.drain(), replica.drain());
    assert_eq!(a + b, 12, "each job claimed by exactly one replica ({a} + {b})");
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        24,
        "12 failed, 12 registered: none twice"
    );
    assert_eq!(app.sandbox_ledger().await.len(), 12);
    assert_ledger_matches_uitpas(&app).await;
}

#[tokio::test]
async fn the_background_worker_settles_pending_work_by_itself() {
    let app = TestApp::spawn_configured(|c| {
        c.replay_poll_interval = HumanDuration(Duration::from_millis(50));
        c.replay_max_delay = HumanDuration(Duration::from_millis(100));
    })
    .await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 3}))
        .await;
    let answer = app.register("key-16", order("order-16", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    until("the worker registers it", Duration::from_secs(10), async || {
        let read = app.registration(&id).await;
        if read["status"] == "registered" {
            Ok(())
        } else {
            Err(read)
        }
    })
    .await;
    assert_eq!(app.sandbox_ledger().await.len(), 1);
    assert_ledger_matches_uitpas(&app).await;
}

#[tokio::test]
async fn ticket_sales_are_searched_by_order_passholder_event_status_and_period() {
    let app = TestApp::spawn().await;
    let before = chrono::Utc::now();
    app.register(
        "k-a",
        order_of("order-a", vec![ticket(ACTIVE_PASS), paspartoe_ticket()]),
    )
    .await;
    let b = app.register("k-b", order("order-b", ACTIVE_PASS)).await;
    let sale_b = b.body["ticketSales"][0]["id"].as_str().unwrap();
    app.shop(Method::DELETE, &format!("/v1/ticket-sales/{sale_b}"), None, &[])
        .await;
    let count = |q: String| {
        let app = &app;
        async move {
            let a = app.shop(Method::GET, &format!("/v1/ticket-sales?{q}"), None, &[]).await;
            assert_eq!(a.status, 200, "{q}: {}", a.body);
            a.body["totalItems"].as_i64().unwrap()
        }
    };
    assert_eq!(count(String::new()).await, 3);
    assert_eq!(count("orderId=order-a".into()).await, 2);
    assert_eq!(count("uitpasNumber=0900000067513".into()).await, 2);
    assert_eq!(count(format!("eventId={TEST_EVENT}")).await, 3);
    assert_eq!(count("status=cancelled".into()).await, 1);
    assert_eq!(count("status=registered".into()).await, 2);
    let from = before
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .replace('+', "%2B");
    assert_eq!(count(format!("from={from}")).await, 3);
    assert_eq!(count(format!("to={from}")).await, 0);
    let page = app
        .shop(Method::GET, "/v1/ticket-sales?start=1&limit=1", None, &[])
        .await;
    assert_eq!(page.body["totalItems"], 3);
    assert_eq!(page.body["member"].as_array().unwrap().len(), 1);
    for bad in [
        "status=lost",
        "limit=0",
        "limit=101",
        "uitpasNumber=123",
        "eventId=x",
        "from=yesterday",
        "colour=red",
    ] {
        app.shop(Method::GET, &format!("/v1/ticket-sales?{bad}"), None, &[])
            .await
            .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    }
}

#[tokio::test]
async fn shop_endpoints_need_the_shop_key() {
    let app = TestApp::spawn().await;
    let body = order("order-x", ACTIVE_PASS);
    let paths = [
        (Method::POST, "/v1/registrations".to_owned()),
        (Method::GET, format!("/v1/registrations/{}", uuid::Uuid::new_v4())),
        (Method::GET, "/v1/ticket-sales".to_owned()),
        (Method::GET, format!("/v1/ticket-sales/{}", uuid::Uuid::new_v4())),
        (Method::DELETE, format!("/v1/ticket-sales/{}", uuid::Uuid::new_v4())),
        (Method::PATCH, format!("/v1/ticket-sales/{}", uuid::Uuid::new_v4())),
        (Method::PUT, "/v1/activities/camp".to_owned()),
        (Method::GET, "/v1/activities/camp".to_owned()),
    ];
    for (method, path) in paths {
        for auth in [
            None,
            Some("Bearer wrong-key-0123456789"),
            Some("Basic dGVzdA=="),
            Some("Bearer "),
        ] {
            let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
            let mut all = headers.clone();
            all.push(("idempotency-key", "k"));
            let answer = app.request(method.clone(), &path, Some(body.clone()), &all).await;
            answer.assert_problem(401, "urn:uitpas-checkout:problem:unauthorized");
        }
    }
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 0);
}

#[tokio::test]
async fn malformed_orders_are_refused_before_anything_is_stored() {
    let app = TestApp::spawn().await;
    let good = ticket(ACTIVE_PASS);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"orderId": "", "tickets": [good]}), "/orderId"),
        // PostgreSQL cannot store a NUL character: refused up front, never a 500 (found by schemathesis).
        (json!({"orderId": "T\u{0}1", "tickets": [good]}), "/orderId"),
        (json!({"orderId": "o", "tickets": []}), "/tickets"),
        (
            json!({"orderId": "o", "tickets": [{"eventId": "x", "uitpasNumber": ACTIVE_PASS, "tariffId": GENT, "regularPrice": 10}]}),
            "/tickets/0/eventId",
        ),
        (
            json!({"orderId": "o", "tickets": [good, {"eventId": TEST_EVENT, "uitpasNumber": "0900000067514", "tariffId": GENT, "regularPrice": 10}]}),
            "/tickets/1/uitpasNumber",
        ),
        (
            json!({"orderId": "o", "tickets": [{"eventId": TEST_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": GENT, "regularPrice": 10, "quantity": 0}]}),
            "/tickets/0/quantity",
        ),
        (
            json!({"orderId": "o", "tickets": [{"eventId": TEST_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": " ", "regularPrice": 10}]}),
            "/tickets/0/tariffId",
        ),
        (
            json!({"orderId": "o", "tickets": [{"eventId": TEST_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": GENT, "regularPrice": 10, "vat": 121}]}),
            "/tickets/0/vat",
        ),
    ];
    for (body, pointer) in cases {
        let answer = app.register("key-bad", body.clone()).await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        assert_eq!(problem["schemaErrors"][0]["jsonPointer"], pointer, "{body}");
    }
    for body in [
        json!({"orderId": "o", "tickets": [{"eventId": TEST_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": GENT, "regularPrice": -1}]}),
        json!({"orderId": "o", "tickets": [{"eventId": TEST_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": GENT, "regularPrice": "10"}]}),
        json!({"orderId": "o", "tickets": [{"eventId": TEST_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": GENT}]}),
        json!({"orderId": "o", "tickets": [good], "discount": true}),
        json!({"orderId": 5, "tickets": [good]}),
    ] {
        app.register("key-bad", body)
            .await
            .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    }
    let no_key = app
        .shop(
            Method::POST,
            "/v1/registrations",
            Some(order_of("o", vec![good.clone()])),
            &[],
        )
        .await;
    let problem = no_key.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    assert_eq!(problem["schemaErrors"][0]["jsonPointer"], "/headers/Idempotency-Key");
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 0);
    let stored = app.shop(Method::GET, "/v1/ticket-sales", None, &[]).await;
    assert_eq!(stored.body["totalItems"], 0, "nothing stored");
    // The key of a malformed request stays free for the real one.
    assert_eq!(app.register("key-bad", order_of("o", vec![good])).await.status, 201);
}

#[tokio::test]
async fn registrations_are_listed_by_order_and_page_for_their_customer_only() {
    let app = TestApp::spawn().await;
    // Order "list-a" is refused once (an expired pass), then registered; "list-b" registers.
    let refused = app.register("list-a-1", order("list-a", EXPIRED_PASS)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    for (key, id) in [("list-a-2", "list-a"), ("list-b-1", "list-b")] {
        let answer = app.register(key, order(id, ACTIVE_PASS)).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    let list = |query: &str| {
        let path = format!("/v1/registrations{query}");
        let app = &app;
        async move { app.shop(Method::GET, &path, None, &[]).await }
    };
    let all = list("").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["totalItems"], 3);
    let statuses: Vec<&str> = all.body["member"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["rejected", "registered", "registered"], "oldest first");
    let order_a = list("?orderId=list-a").await;
    assert_eq!(order_a.body["totalItems"], 2);
    assert!(order_a.body["member"][1]["ticketSales"][0]["uitpasTicketSaleId"].is_string());
    let second = list("?limit=1&start=1").await;
    assert_eq!(second.body["totalItems"], 3);
    assert_eq!(second.body["member"].as_array().unwrap().len(), 1);
    assert_eq!(second.body["member"][0]["id"], all.body["member"][1]["id"]);
    list("?limit=0")
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    list("?sort=x")
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    // Without the shop's key: nothing.
    assert_eq!(app.get("/v1/registrations").await.status, 401);
}

#[tokio::test]
async fn every_search_refuses_a_bad_page_or_an_unknown_parameter_and_takes_a_good_one() {
    let app = TestApp::spawn().await;
    let searches = [
        "/v1/registrations",
        "/v1/ticket-sales",
        "/v1/reward-redemptions",
        "/v1/webhook-deliveries",
    ];
    for search in searches {
        for bad in [
            "limit=0",
            "limit=101",
            "limit=x",
            "start=-1",
            "start=2147483648",
            "start=1&start=2",
            "colour=red",
        ] {
            let answer = app.shop(Method::GET, &format!("{search}?{bad}"), None, &[]).await;
            answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        }
        let good = app
            .shop(Method::GET, &format!("{search}?start=0&limit=100"), None, &[])
            .await;
        assert_eq!(good.status, 200, "{search}: {}", good.body);
        assert_eq!(good.body["totalItems"], 0, "{search}: {}", good.body);
    }
}

#[tokio::test]
async fn a_stored_uitpas_number_that_is_not_one_is_an_error_not_an_answer() {
    use sqlx::Connection;
    let app = TestApp::spawn().await;
    let made = app.register("bad-number", order("bad-number", ACTIVE_PASS)).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let sale = made.body["ticketSales"][0]["id"]
        .as_str()
        .expect("a sale id")
        .to_owned();
    // A number no registration could have stored (its check digit is wrong).
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    let changed = sqlx::query("UPDATE ticket_sales SET uitpas_number = '0900000067514' WHERE id = $1::uuid")
        .bind(&sale)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);

    let read = app
        .shop(Method::GET, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    read.assert_problem(500, "urn:uitpas-checkout:problem:internal");
    assert!(!read.body.to_string().contains("0900000067514"), "{}", read.body);
}
