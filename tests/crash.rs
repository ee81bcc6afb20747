//! The real `uitpas-checkout` binary, killed with SIGKILL at the worst moments and started again on
//! the same database: nothing the shop was told about is lost or doubled.

mod common;

use std::time::Duration;

use common::fixtures::{ACTIVE_PASS, order};
use common::service::Service;
use common::{SHOP_KEY, TestDatabase, clear_sandbox_faults, read, sandbox_fault, sandbox_ledger, until};
use serde_json::json;
use uitpas_checkout::sandbox::RunningSandbox;

async fn start(db: &TestDatabase, sandbox: &RunningSandbox, lease: &str) -> Service {
    Service::start(db, sandbox, &[("REPLAY_LEASE", lease)]).await
}

#[tokio::test]
async fn a_cancellation_stored_during_an_outage_survives_a_kill_and_is_settled_after_restart() {
    let sandbox = common::spawn_sandbox().await;
    let db = TestDatabase::create().await;
    let http = reqwest::Client::new();
    let service = start(&db, &sandbox, "5s").await;

    let registered = read(
        http.post(service.url("/v1/registrations"))
            .bearer_auth(SHOP_KEY)
            .header("idempotency-key", "crash-1")
            .json(&order("crash-1", ACTIVE_PASS))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let sale = registered.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();

    sandbox_fault(
        &sandbox,
        json!({"operation": "delete-ticket-sales", "mode": "error", "status": 503}),
    )
    .await;
    let cancel = read(
        http.delete(service.url(&format!("/v1/ticket-sales/{sale}")))
            .bearer_auth(SHOP_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(cancel.status, 202, "stored, UiTPAS down: {}", cancel.body);
    service.kill().await;

    // Started again while UiTPAS is still down: the cancellation is still there, still pending.
    let service = start(&db, &sandbox, "5s").await;
    assert_eq!(sandbox_ledger(&sandbox).await[0]["status"], "ACTIVE");
    clear_sandbox_faults(&sandbox).await;
    let url = service.url(&format!("/v1/ticket-sales/{sale}"));
    until("the cancellation is settled", Duration::from_secs(20), async || {
        let sale = read(http.get(&url).bearer_auth(SHOP_KEY).send().await.unwrap()).await;
        sale.body["status"] == "cancelled"
    })
    .await;
    let sales = sandbox_ledger(&sandbox).await;
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0]["status"], "CANCELLED");
    service.kill().await;
}

#[tokio::test]
async fn a_registration_in_flight_when_the_process_is_killed_is_registered_exactly_once() {
    let sandbox = common::spawn_sandbox().await;
    let db = TestDatabase::create().await;
    let http = reqwest::Client::new();
    let service = start(&db, &sandbox, "4s").await;

    // UiTPAS is slow: it commits the sale 1.5 s after receiving it, whatever happens to the caller.
    sandbox_fault(
        &sandbox,
        json!({"operation": "post-ticket-sales", "mode": "delay", "delayMs": 1500, "times": 1}),
    )
    .await;
    let request = http
        .post(service.url("/v1/registrations"))
        .bearer_auth(SHOP_KEY)
        .header("idempotency-key", "crash-2")
        .json(&order("crash-2", ACTIVE_PASS))
        .send();
    let in_flight = tokio::spawn(request);
    until("the registration reaches UiTPAS", Duration::from_secs(10), async || {
        common::hooks::operation_count(&sandbox, "post-ticket-sales").await == 1
    })
    .await;
    service.kill().await;
    assert!(in_flight.await.unwrap().is_err(), "the shop got no answer");

    // The shop retries with the same key on the restarted service.
    let service = start(&db, &sandbox, "4s").await;
    let retry = || {
        http.post(service.url("/v1/registrations"))
            .bearer_auth(SHOP_KEY)
            .header("idempotency-key", "crash-2")
            .json(&order("crash-2", ACTIVE_PASS))
            .send()
    };
    let answer = read(retry().await.unwrap()).await;
    assert!([201, 202].contains(&answer.status.as_u16()), "{}", answer.body);
    until("the registration is settled", Duration::from_secs(20), async || {
        read(retry().await.unwrap()).await.status == 201
    })
    .await;
    let sales = sandbox_ledger(&sandbox).await;
    assert_eq!(sales.len(), 1, "registered once: {sales:?}");
    let settled = read(retry().await.unwrap()).await;
    assert_eq!(settled.body["ticketSales"][0]["uitpasTicketSaleId"], sales[0]["id"]);
    service.kill().await;
}
