//! Black-box tests of the look by passholder (issue 24): after a lost answer, an order is found in
//! its passholder's sales with the event's organizer (`GET /ticket-sales?passholderId&organizerId`),
//! however busy the event; a group pass, whose sales need not carry a passholder, is still found
//! in the event's sales. The app runs against a sandbox over HTTP and a real PostgreSQL.

mod common;

use std::time::Duration;

use common::TestApp;
use common::fixtures::{ACTIVE_PASS, GROUP_PASS, order, ticket, uitpas_sale};
use serde_json::{Value, json};
use uitpas_checkout::sandbox::dataset::synthetic_active_pass;

/// The box office (another client of UiTPAS) sells `n` tickets of the test event directly at the
/// sandbox, one synthetic pass each (passes from `first` on), in batches of a thousand.
async fn box_office_sells_many(app: &TestApp, first: u64, n: u64) {
    let token = app.box_office_token().await;
    for batch in (first..first + n).collect::<Vec<_>>().chunks(1000) {
        let sales: Vec<Value> = batch
            .iter()
            .map(|&i| uitpas_sale(&ticket(&synthetic_active_pass(i))))
            .collect();
        app.sell_at_uitpas(&token, &sales).await;
    }
}

/// The sandbox's active sales of pass `number`.
async fn active_sales_of(app: &TestApp, number: &str) -> Vec<Value> {
    app.active_sales()
        .await
        .into_iter()
        .filter(|s| s["uitpasNumber"] == number)
        .collect()
}

/// Registers `order` while UiTPAS loses its answer after committing; the registration's id.
async fn register_losing_the_answer(app: &TestApp, key: &str, body: Value) -> String {
    app.fault(json!({"operation": "post-ticket-sales", "mode": "drop-after-commit", "times": 1}))
        .await;
    let answer = app.register(key, body).await;
    assert_eq!(answer.status, 202, "the answer was lost: {}", answer.body);
    answer.body["id"].as_str().expect("a registration id").to_owned()
}

#[tokio::test]
async fn a_lost_answer_on_an_event_with_30_000_sales_is_found_in_the_passholders_sales() {
    let app = TestApp::spawn().await;
    // Far more sales of the event than a look at the event's sales reads (10 400).
    box_office_sells_many(&app, 10_000, 30_000).await;
    let id = register_losing_the_answer(&app, "busy", order("busy", ACTIVE_PASS)).await;
    let event_looks = app.upstream_calls("get-ticket-sales").await;
    assert_eq!(app.drain().await, 1);

    let read = app.registration(&id).await;
    assert_eq!(read["status"], "registered", "found, not parked: {read}");
    let ours = active_sales_of(&app, ACTIVE_PASS).await;
    assert_eq!(ours.len(), 1, "exactly one sale at UiTPAS: {ours:?}");
    assert_eq!(read["ticketSales"][0]["uitpasTicketSaleId"], ours[0]["id"], "{read}");
    assert_eq!(app.active_sales().await.len(), 30_001);
    let by_passholder = app.ticket_sales_by_passholder().await;
    assert!(by_passholder >= 1, "the passholder's sales were read");
    assert_eq!(
        app.upstream_calls("get-ticket-sales").await - event_looks,
        by_passholder,
        "and not one page of the event's sales"
    );
}

#[tokio::test]
async fn a_group_pass_is_still_looked_for_in_the_events_sales() {
    let app = TestApp::spawn().await;
    box_office_sells_many(&app, 10_000, 1_000).await;
    let id = register_losing_the_answer(&app, "group", order("group", GROUP_PASS)).await;
    assert_eq!(app.drain().await, 1);

    let read = app.registration(&id).await;
    assert_eq!(read["status"], "registered", "{read}");
    let ours = active_sales_of(&app, GROUP_PASS).await;
    assert_eq!(ours.len(), 1, "exactly one sale at UiTPAS: {ours:?}");
    assert_eq!(read["ticketSales"][0]["uitpasTicketSaleId"], ours[0]["id"], "{read}");
    assert_eq!(
        app.ticket_sales_by_passholder().await,
        0,
        "a group pass's sales need not carry a passholder: never looked for by one"
    );
    assert!(
        app.upstream_calls("get-ticket-sales").await >= 1,
        "the event's sales were read"
    );
}

#[tokio::test]
async fn a_passholders_list_that_cannot_be_read_for_now_is_looked_at_again_not_parked() {
    let app = TestApp::spawn().await;
    box_office_sells_many(&app, 10_000, 11_000).await;
    let id = register_losing_the_answer(&app, "outage", order("outage", ACTIVE_PASS)).await;
    let sends = app.upstream_calls("post-ticket-sales").await;
    // The passholder form is down (503): the look waits it out, rather than read the event's
    // sales, which hold too many to conclude (the order would be parked).
    app.fault(json!({"operation": "get-ticket-sales", "parameter": "passholderId", "mode": "error", "status": 503}))
        .await;
    assert_eq!(app.drain().await, 1);
    let read = app.registration(&id).await;
    assert_eq!(read["status"], "pending", "an outage is waited out: {read}");
    assert_eq!(app.upstream_calls("post-ticket-sales").await, sends, "never sent again");

    app.clear_faults().await;
    app.drain_until("the order settles", Duration::from_secs(30), async || {
        app.registration(&id).await["status"] == "registered"
    })
    .await;
    assert_eq!(active_sales_of(&app, ACTIVE_PASS).await.len(), 1);
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        sends,
        "adopted, not sent again"
    );
}

#[tokio::test]
async fn the_sandbox_counts_the_passholder_form_and_faults_it_on_its_own() {
    let sandbox = common::spawn_sandbox().await;
    let base = sandbox.base_url();
    let http = reqwest::Client::new();
    let token = common::sandbox_token(&http, &base, "box-office").await;
    let get = |path: String| {
        let request = http.get(format!("{base}{path}")).bearer_auth(&token);
        async move {
            let answer = request.send().await.expect("the sandbox answers");
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let sold = http
        .post(format!("{base}/ticket-sales"))
        .bearer_auth(&token)
        .json(&json!([
            uitpas_sale(&ticket(ACTIVE_PASS)),
            uitpas_sale(&ticket(GROUP_PASS))
        ]))
        .send()
        .await
        .unwrap();
    assert!(sold.status().is_success(), "{}", sold.status());
    let holder = |number: &'static str| {
        let get = &get;
        async move {
            let (status, pass) = get(format!("/passes?identifier={number}")).await;
            assert_eq!(status, 200, "{pass}");
            pass["passholderId"].as_str().expect("a passholder id").to_owned()
        }
    };
    let organizer = common::fixtures::TEST_ORGANIZER;
    let individual = holder(ACTIVE_PASS).await;
    let (status, found) = get(format!(
        "/ticket-sales?passholderId={individual}&organizerId={organizer}"
    ))
    .await;
    assert_eq!((status, &found["totalItems"]), (200, &json!(1)), "{found}");
    assert_eq!(found["member"][0]["uitpasNumber"], ACTIVE_PASS);
    // `GET /passes` answers an id for a group pass too, but its sales carry no passholder.
    let group = holder(GROUP_PASS).await;
    let (status, found) = get(format!("/ticket-sales?passholderId={group}&organizerId={organizer}")).await;
    assert_eq!((status, &found["totalItems"]), (200, &json!(0)), "{found}");

    // A fault on one form of the operation leaves the other alone.
    common::sandbox_fault(
        &sandbox,
        json!({"operation": "get-ticket-sales", "parameter": "passholderId", "mode": "error", "status": 503}),
    )
    .await;
    let (status, _) = get(format!(
        "/ticket-sales?passholderId={individual}&organizerId={organizer}"
    ))
    .await;
    assert_eq!(status, 503);
    let (status, found) = get(format!("/ticket-sales?eventId={}", common::TEST_EVENT)).await;
    assert_eq!((status, &found["totalItems"]), (200, &json!(2)), "{found}");

    let stats = common::sandbox_get(&sandbox, "/_sandbox/stats").await;
    assert_eq!(stats["ticketSalesByPassholder"], 3, "{stats}");
    assert_eq!(stats["operations"]["get-ticket-sales"], 4, "{stats}");
}
