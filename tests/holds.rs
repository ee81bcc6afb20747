//! Black-box tests of holds before payment (issue 13): registered at UiTPAS right away, then
//! confirmed after payment, released when payment fails, or expired when the buyer walks away.
//! The app runs against a sandbox over HTTP and a real PostgreSQL.

mod common;

use std::time::Duration;

use common::fixtures::{ACTIVE_PASS, hold, order, order_of, ticket_for, with};
use common::{LIMITED_EVENT, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use uitpas_checkout::sandbox::dataset::synthetic_active_pass;

async fn post(app: &TestApp, path: &str) -> common::Answer {
    app.shop(Method::POST, path, None, &[]).await
}

/// The sandbox's status of each of its sales.
async fn uitpas_statuses(app: &TestApp) -> Vec<String> {
    app.sandbox_ledger()
        .await
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Works the worker's queue until `done` holds of the registration (bounded).
async fn drain_until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    app.drain_until("settles", Duration::from_secs(15), async || {
        let body = app.registration(id).await;
        if done(&body) { Ok(body) } else { Err(body) }
    })
    .await
}

#[tokio::test]
async fn a_hold_is_registered_at_once_and_confirmed_after_payment() {
    let app = TestApp::spawn().await;
    let held = app.register("h1", hold("h1", ACTIVE_PASS, 600)).await;
    assert_eq!(held.status, 201, "{}", held.body);
    assert_eq!(held.body["status"], "held");
    assert_eq!(held.body["hold"]["state"], "held");
    assert!(held.body["hold"]["expiresAt"].is_string());
    assert_eq!(uitpas_statuses(&app).await, ["ACTIVE"], "the hold is a registered sale");
    let id = held.body["id"].as_str().unwrap();

    let confirmed = post(&app, &format!("/v1/registrations/{id}/confirm")).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(confirmed.body["status"], "registered");
    assert_eq!(confirmed.body["hold"]["state"], "confirmed");
    let again = post(&app, &format!("/v1/registrations/{id}/confirm")).await;
    assert_eq!(
        (again.status.as_u16(), &again.body),
        (200, &confirmed.body),
        "idempotent"
    );
    post(&app, &format!("/v1/registrations/{id}/release"))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:hold-confirmed");
    // A confirmed hold never expires.
    assert_eq!(app.drain().await, 1, "its end-hold job ends");
    assert_eq!(app.registration(id).await["status"], "registered");
    assert_eq!(uitpas_statuses(&app).await, ["ACTIVE"]);
}

#[tokio::test]
async fn a_released_hold_has_its_sales_cancelled_at_uitpas() {
    let app = TestApp::spawn().await;
    let held = app.register("h2", hold("h2", ACTIVE_PASS, 600)).await;
    let id = held.body["id"].as_str().unwrap();
    let released = post(&app, &format!("/v1/registrations/{id}/release")).await;
    assert_eq!(released.status, 200, "{}", released.body);
    assert_eq!(released.body["status"], "released");
    assert_eq!(released.body["ticketSales"][0]["status"], "cancelled");
    assert_eq!(uitpas_statuses(&app).await, ["CANCELLED"]);
    let again = post(&app, &format!("/v1/registrations/{id}/release")).await;
    assert_eq!(again.status, 200, "idempotent");
    post(&app, &format!("/v1/registrations/{id}/confirm"))
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:hold-released");
}

#[tokio::test]
async fn a_hold_released_while_uitpas_is_down_is_cancelled_when_it_is_back() {
    let app = TestApp::spawn().await;
    let held = app.register("h3", hold("h3", ACTIVE_PASS, 600)).await;
    let id = held.body["id"].as_str().unwrap().to_owned();
    app.fault(json!({"operation": "delete-ticket-sales", "mode": "error", "status": 503}))
        .await;
    let released = post(&app, &format!("/v1/registrations/{id}/release")).await;
    assert_eq!(released.status, 200, "{}", released.body);
    assert_eq!(released.body["status"], "released");
    assert_eq!(released.body["ticketSales"][0]["status"], "cancelling");
    app.clear_faults().await;
    let body = drain_until(&app, &id, |b| b["ticketSales"][0]["status"] == "cancelled").await;
    assert_eq!(body["status"], "released");
    assert_eq!(uitpas_statuses(&app).await, ["CANCELLED"]);
}

#[tokio::test]
async fn a_hold_whose_answer_was_lost_is_released_once_its_sales_are_found() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "drop-after-commit", "times": 1}))
        .await;
    let held = app.register("h4", hold("h4", ACTIVE_PASS, 600)).await;
    assert_eq!(held.status, 202, "{}", held.body);
    let id = held.body["id"].as_str().unwrap().to_owned();
    let released = post(&app, &format!("/v1/registrations/{id}/release")).await;
    assert_eq!(released.status, 200, "{}", released.body);
    assert_eq!(released.body["status"], "released");
    // The worker adopts the sale UiTPAS has, then cancels it: nothing stays registered.
    drain_until(&app, &id, |b| b["ticketSales"][0]["status"] == "cancelled").await;
    assert_eq!(uitpas_statuses(&app).await, ["CANCELLED"]);
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 1);
}

#[tokio::test]
async fn a_hold_not_confirmed_in_time_expires_and_its_sales_are_cancelled() {
    let app = TestApp::spawn().await;
    let held = app.register("h5", hold("h5", ACTIVE_PASS, 1)).await;
    assert_eq!(held.status, 201, "{}", held.body);
    let id = held.body["id"].as_str().unwrap().to_owned();
    let body = drain_until(&app, &id, |b| b["status"] == "expired").await;
    assert_eq!(body["hold"]["state"], "expired");
    drain_until(&app, &id, |b| b["ticketSales"][0]["status"] == "cancelled").await;
    assert_eq!(uitpas_statuses(&app).await, ["CANCELLED"]);
    let late = post(&app, &format!("/v1/registrations/{id}/confirm")).await;
    let problem = late.assert_problem(409, "urn:uitpas-checkout:problem:hold-expired");
    assert!(problem["detail"].as_str().unwrap().contains("register the order again"));
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"uitpas_checkout_holds{state="expired"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_confirm_racing_the_expiry_has_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..12u64 {
        let held = app
            .register(
                &format!("race-{i}"),
                hold(&format!("race-{i}"), &synthetic_active_pass(300 + i), 1),
            )
            .await;
        assert_eq!(held.status, 201, "{}", held.body);
        ids.push(held.body["id"].as_str().unwrap().to_owned());
    }
    // Right when the holds expire, the shop confirms each while the worker expires them.
    let expires_at: chrono::DateTime<chrono::Utc> = app.registration(&ids[0]).await["hold"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let wait = (expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let paths: Vec<String> = ids.iter().map(|id| format!("/v1/registrations/{id}/confirm")).collect();
    let confirms = futures::future::join_all(paths.iter().map(|path| post(&app, path)));
    let (answers, _) = tokio::join!(confirms, app.drain());
    for (id, answer) in ids.iter().zip(answers) {
        let body = drain_until(&app, id, |b| {
            b["status"] == "registered" || b["ticketSales"][0]["status"] == "cancelled"
        })
        .await;
        match answer.status.as_u16() {
            200 => assert_eq!(body["status"], "registered", "confirmed: stays registered: {body}"),
            409 => {
                assert_eq!(answer.body["type"], "urn:uitpas-checkout:problem:hold-expired");
                assert_eq!(body["status"], "expired", "{body}");
            }
            other => panic!("confirm answered {other}: {}", answer.body),
        }
    }
    let registered = read_all_statuses(&app, &ids).await;
    let active = uitpas_statuses(&app).await.iter().filter(|s| *s == "ACTIVE").count();
    assert_eq!(active, registered, "UiTPAS keeps exactly the confirmed holds' sales");
}

async fn read_all_statuses(app: &TestApp, ids: &[String]) -> usize {
    let mut registered = 0;
    for id in ids {
        if app.registration(id).await["status"] == "registered" {
            registered += 1;
        }
    }
    registered
}

#[tokio::test]
async fn a_hold_uitpas_refuses_answers_before_payment_and_succeeds_once_the_other_hold_ends() {
    let app = TestApp::spawn().await;
    // The limited event allows one sale per passholder: a second checkout with the same pass.
    let limited = |order: &str| {
        with(
            order_of(order, vec![ticket_for(LIMITED_EVENT, ACTIVE_PASS)]),
            json!({"hold": {"expiresIn": 1}}),
        )
    };
    let first = app.register("lim-a", limited("lim-a")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let refused = app.register("lim-b", limited("lim-b")).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        refused.body["type"],
        "https://api.publiq.be/probs/uitpas/maximum-reached"
    );
    assert!(refused.body["endUserMessage"]["nl"].is_string(), "{}", refused.body);
    // The first buyer walks away; the hold expires and the second checkout succeeds.
    let id = first.body["id"].as_str().unwrap().to_owned();
    drain_until(&app, &id, |b| b["ticketSales"][0]["status"] == "cancelled").await;
    let again = app.register("lim-c", limited("lim-c")).await;
    assert_eq!(again.status, 201, "{}", again.body);
}

#[tokio::test]
async fn a_hold_time_out_of_bounds_is_refused_before_anything_is_stored() {
    let app = TestApp::spawn().await;
    for seconds in [0, 7201] {
        let answer = app
            .register(&format!("bad-{seconds}"), hold("bad", ACTIVE_PASS, seconds))
            .await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        assert_eq!(
            problem["schemaErrors"][0]["jsonPointer"], "/hold/expiresIn",
            "{problem}"
        );
    }
    assert!(app.sandbox_ledger().await.is_empty());
    let default = app
        .register("default-ttl", with(order("d", ACTIVE_PASS), json!({"hold": {}})))
        .await;
    assert_eq!(default.status, 201, "{}", default.body);
    let expires: chrono::DateTime<chrono::Utc> = default.body["hold"]["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = expires - chrono::Utc::now();
    assert!(
        ttl > chrono::Duration::minutes(14) && ttl <= chrono::Duration::minutes(15),
        "HOLD_TTL 15m: {ttl}"
    );
}

/// Cancels a sale at the sandbox as another of the organizer's clients would (a refund at the
/// box office).
async fn refunded_at_uitpas(app: &TestApp, uitpas_id: &str) {
    let base = app.sandbox.base_url();
    let token = common::sandbox_token(&app.http, &base, "test-client").await;
    let answer = app
        .http
        .delete(format!("{base}/ticket-sales/{uitpas_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "refunded: {}", answer.status());
}

/// A two-ticket hold whose answer was lost, one of whose sales was refunded at UiTPAS since:
/// parked as partially registered.
async fn partially_registered_hold(app: &TestApp, order_id: &str) -> String {
    app.fault(json!({"operation": "post-ticket-sales", "mode": "drop-after-commit", "times": 1}))
        .await;
    let mut order = hold(order_id, ACTIVE_PASS, 600);
    order["tickets"][0]["quantity"] = json!(2);
    let held = app.register(order_id, order).await;
    assert_eq!(held.status, 202, "the answer was lost: {}", held.body);
    let id = held.body["id"].as_str().unwrap().to_owned();
    let at_uitpas = app.sandbox_ledger().await;
    assert_eq!(at_uitpas.len(), 2);
    refunded_at_uitpas(app, at_uitpas[0]["id"].as_str().unwrap()).await;
    let parked = drain_until(app, &id, |r| r["status"] == "needs-attention").await;
    assert_eq!(
        parked["problem"]["type"], "urn:uitpas-checkout:problem:partially-registered",
        "{parked}"
    );
    assert_eq!(uitpas_statuses(app).await, ["CANCELLED", "ACTIVE"]);
    id
}

/// Works the queue until UiTPAS holds no active sale (bounded).
async fn drain_until_nothing_active(app: &TestApp) {
    app.drain_until(
        "UiTPAS keeps no active sale of a given-up order",
        Duration::from_secs(15),
        async || {
            let statuses = uitpas_statuses(app).await;
            if statuses.iter().any(|s| s == "ACTIVE") {
                Err(format!("{statuses:?}"))
            } else {
                Ok(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn releasing_a_partially_registered_hold_cancels_what_uitpas_holds_of_it() {
    let app = TestApp::spawn().await;
    let id = partially_registered_hold(&app, "partial-release").await;
    let released = post(&app, &format!("/v1/registrations/{id}/release")).await;
    assert_eq!(released.status, 200, "{}", released.body);
    assert_eq!(released.body["status"], "released");
    drain_until_nothing_active(&app).await;
    assert_eq!(uitpas_statuses(&app).await, ["CANCELLED", "CANCELLED"]);
    assert_eq!(app.registration(&id).await["hold"]["state"], "released");
}

#[tokio::test]
async fn abandoning_a_partially_registered_order_cancels_what_uitpas_holds_of_it() {
    let app = TestApp::spawn().await;
    let id = partially_registered_hold(&app, "partial-abandon").await;
    let abandoned = post(&app, &format!("/v1/registrations/{id}/abandon")).await;
    assert_eq!(abandoned.status, 200, "{}", abandoned.body);
    assert_eq!(abandoned.body["status"], "rejected");
    drain_until_nothing_active(&app).await;
    assert_eq!(uitpas_statuses(&app).await, ["CANCELLED", "CANCELLED"]);
    let read = app.registration(&id).await;
    assert_eq!(read["status"], "rejected", "{read}");
    assert_eq!(read["ticketSales"][0]["status"], "rejected");
}
