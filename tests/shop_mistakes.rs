//! Black-box tests of mistakes the API used to accept silently (issue 22, point 7) and of the
//! checkout tokens' own rate limits (point 8): an order id is registered once per customer (409
//! with the existing registration; free again after a rejection or an ended hold; enforced by
//! PostgreSQL, also for keys racing, and on a database holding duplicates from before); a price in
//! cents is refused when the event's prices in UiTdatabank say so, any other unknown price warned
//! about; a request with a checkout token counts against the token's budget, not its address's.

mod common;

use std::borrow::Cow;

use common::fixtures::{ACTIVE_PASS, EXPIRED_PASS, GRACE_PASS, activity, order_of, ticket, ticket_for, with};
use common::{TEST_EVENT, TestApp, TestDatabase};
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

const ORDER_ID_TAKEN: &str = "urn:uitpas-checkout:problem:order-id-taken";

/// An order of one ticket of the test event for pass `number` at this regular price.
fn order(id: &str, number: &str, price: Value) -> Value {
    order_of(id, vec![with(ticket(number), json!({"regularPrice": price}))])
}

fn hold(id: &str, number: &str) -> Value {
    common::fixtures::hold(id, number, 600)
}

// --- 7. the same order id under a new Idempotency-Key -------------------------------------------

#[tokio::test]
async fn the_same_order_id_under_a_new_key_answers_409_with_the_existing_registration() {
    let app = TestApp::spawn().await;
    let first = app.register("key-1", order("order-1", ACTIVE_PASS, json!(10))).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let id = first.body["id"].as_str().unwrap().to_owned();

    // The shop's retry loop made a new key: nothing is registered a second time.
    let again = app.register("key-2", order("order-1", ACTIVE_PASS, json!(10))).await;
    let problem = again.assert_problem(409, ORDER_ID_TAKEN);
    assert_eq!(problem["registrationId"], id.as_str(), "{problem}");
    assert_eq!(problem["existing"]["id"], id.as_str(), "{problem}");
    assert_eq!(problem["existing"]["status"], "registered", "{problem}");
    assert_eq!(problem["existing"]["ticketSales"].as_array().unwrap().len(), 1);
    assert_eq!(again.headers["location"], format!("/v1/registrations/{id}").as_str());
    // Another body under the same order id: the same answer.
    let other = app.register("key-3", order("order-1", GRACE_PASS, json!(10))).await;
    other.assert_problem(409, ORDER_ID_TAKEN);
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 1);
    assert_eq!(app.sandbox_ledger().await.len(), 1);

    // The first key still replays, and still refuses another body.
    let replay = app.register("key-1", order("order-1", ACTIVE_PASS, json!(10))).await;
    assert_eq!(replay.status, 201, "{}", replay.body);
    assert_eq!(replay.body["id"], id.as_str());
    app.register("key-1", order("order-1", ACTIVE_PASS, json!(12)))
        .await
        .assert_problem(422, "urn:uitpas-checkout:problem:idempotency-key-reused");
    // The key refused with 409 was not stored: it can still register another order.
    let later = app.register("key-2", order("order-2", ACTIVE_PASS, json!(10))).await;
    assert_eq!(later.status, 201, "{}", later.body);
}

#[tokio::test]
async fn an_order_id_is_free_again_after_a_rejection_or_an_ended_hold_and_never_while_held() {
    let app = TestApp::spawn().await;
    // Refused by UiTPAS (social tariff expired): the order may be sent again, corrected, with a new key.
    app.register("r-1", order("o-rejected", EXPIRED_PASS, json!(10)))
        .await
        .assert_problem(400, "https://api.publiq.be/probs/uitpas/social-tariff-expired");
    let corrected = app.register("r-2", order("o-rejected", ACTIVE_PASS, json!(10))).await;
    assert_eq!(corrected.status, 201, "{}", corrected.body);

    // A hold still held (or pending) holds its order id.
    let held = app.register("h-1", hold("o-hold", ACTIVE_PASS)).await;
    assert_eq!(held.status, 201, "{}", held.body);
    let held_id = held.body["id"].as_str().unwrap();
    let taken = app.register("h-2", hold("o-hold", ACTIVE_PASS)).await;
    assert_eq!(taken.assert_problem(409, ORDER_ID_TAKEN)["existing"]["status"], "held");

    // Released: the order may be held again.
    let released = app
        .shop(Method::POST, &format!("/v1/registrations/{held_id}/release"), None, &[])
        .await;
    assert_eq!(released.status, 200, "{}", released.body);
    let again = app.register("h-3", hold("o-hold", ACTIVE_PASS)).await;
    assert_eq!(again.status, 201, "{}", again.body);

    // Confirmed, it is an ordinary registration: its order id stays taken.
    let confirmed = app
        .shop(
            Method::POST,
            &format!("/v1/registrations/{}/confirm", again.body["id"].as_str().unwrap()),
            None,
            &[],
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    app.register("h-4", order("o-hold", ACTIVE_PASS, json!(10)))
        .await
        .assert_problem(409, ORDER_ID_TAKEN);

    // The list by order id shows every registration made for it, the released one too.
    let list = app
        .shop(Method::GET, "/v1/registrations?orderId=o-hold", None, &[])
        .await;
    assert_eq!(list.body["totalItems"], 2, "{}", list.body);
}

#[tokio::test]
async fn ten_keys_racing_for_one_order_id_register_it_once() {
    let app = TestApp::spawn().await;
    let answers = join_all((0..10).map(|i| {
        let app = &app;
        async move {
            app.register(&format!("race-{i}"), order("o-race", ACTIVE_PASS, json!(10)))
                .await
        }
    }))
    .await;
    let created: Vec<_> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    let id = created[0].body["id"].clone();
    for answer in answers.iter().filter(|a| a.status != 201) {
        assert_eq!(answer.assert_problem(409, ORDER_ID_TAKEN)["existing"]["id"], id);
    }
    assert_eq!(app.sandbox_ledger().await.len(), 1);
}

#[tokio::test]
async fn the_migration_keeps_duplicate_order_ids_made_before_it_and_refuses_new_ones() {
    let db = TestDatabase::create().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let all = &uitpas_checkout::db::MIGRATOR;
    let rule = all
        .iter()
        .find(|m| m.description.contains("order id unique"))
        .expect("the migration of issue 22")
        .version;
    let before = sqlx::migrate::Migrator {
        migrations: Cow::Owned(all.iter().filter(|m| m.version < rule).cloned().collect()),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    before.run(&mut conn).await.unwrap();
    // Two live registrations of one order (as the old code let a shop make), a rejected one
    // and a released hold of the same order.
    for (key, status, hold, age) in [
        ("old-1", "registered", None, 4),
        ("old-2", "registered", None, 3),
        ("old-3", "rejected", None, 2),
        ("old-4", "registered", Some("released"), 1),
    ] {
        sqlx::query(
            "INSERT INTO registrations (id, customer_id, idempotency_key, request, order_id, status, hold_state,
                                        hold_expires_at, created_at)
             VALUES (gen_random_uuid(), '00000000-0000-0000-0000-000000000000', $1, '{}', 'dup', $2, $3,
                     CASE WHEN $3::text IS NOT NULL THEN now() END, now() - make_interval(mins => $4))",
        )
        .bind(key)
        .bind(status)
        .bind(hold)
        .bind(age)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    all.run(&mut conn)
        .await
        .expect("the migration runs over the duplicates");
    let marked: Vec<(String, bool)> =
        sqlx::query_as("SELECT idempotency_key, order_id_duplicate FROM registrations ORDER BY idempotency_key")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        marked,
        [
            ("old-1".to_owned(), false),
            ("old-2".to_owned(), true),
            ("old-3".to_owned(), false),
            ("old-4".to_owned(), false)
        ],
        "the oldest live one stays the order's; the later live one is kept, marked"
    );
    let third = sqlx::query(
        "INSERT INTO registrations (id, customer_id, idempotency_key, request, order_id, status)
         VALUES (gen_random_uuid(), '00000000-0000-0000-0000-000000000000', 'new-1', '{}', 'dup', 'pending')",
    )
    .execute(&mut conn)
    .await
    .expect_err("a new live registration of the order is refused");
    assert!(
        third
            .as_database_error()
            .is_some_and(|e| e.constraint() == Some("registrations_live_order_id")),
        "{third}"
    );
    let _ = conn.close().await;
}

// --- 7. prices in cents -----------------------------------------------------------------------

/// An activity of the shop, created in UiTdatabank with a base price of € 10 and another of € 8.
async fn event_priced_10_and_8(app: &TestApp) -> String {
    let created = app
        .shop(Method::PUT, "/v1/activities/priced", Some(performance(10)), &[])
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["eventId"].as_str().unwrap().to_owned()
}

/// A performance of the shop's with this base price and another of € 8.
fn performance(base_price: u32) -> Value {
    with(
        activity(),
        json!({"name": {"nl": "Voorstelling"}, "eventTypeId": "0.55.0.0.0", "basePrice": base_price,
               "otherPrices": [{"name": {"nl": "Kinderen"}, "price": 8}]}),
    )
}

fn priced(id: &str, event: &str, price: Value) -> Value {
    order_of(
        id,
        vec![with(ticket_for(event, ACTIVE_PASS), json!({"regularPrice": price}))],
    )
}

#[tokio::test]
async fn a_regular_price_in_cents_is_refused_when_the_event_has_it_in_euros() {
    let app = TestApp::spawn().await;
    let event = event_priced_10_and_8(&app).await;

    let cents = app.register("cents", priced("o-cents", &event, json!(1000))).await;
    let problem = cents.assert_problem(422, "urn:uitpas-checkout:problem:regular-price-in-cents");
    assert_eq!(
        problem["schemaErrors"][0]["jsonPointer"], "/tickets/0/regularPrice",
        "{problem}"
    );
    assert!(problem["detail"].as_str().unwrap().contains("10.00"), "{problem}");
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 0, "nothing sent");
    // Nothing stored: the key and the order id are free for the corrected order.
    let fixed = app.register("cents", priced("o-cents", &event, json!(10))).await;
    assert_eq!(fixed.status, 201, "{}", fixed.body);
    assert!(fixed.body.get("warnings").is_none(), "{}", fixed.body);
    let other = app.register("eight", priced("o-8", &event, json!(8))).await;
    assert_eq!(other.status, 201, "{}", other.body);
    assert!(other.body.get("warnings").is_none(), "{}", other.body);
}

#[tokio::test]
async fn a_regular_price_that_is_none_of_the_events_prices_is_registered_with_a_warning() {
    let app = TestApp::spawn().await;
    let event = event_priced_10_and_8(&app).await;
    let odd = app.register("odd", priced("o-odd", &event, json!(9))).await;
    assert_eq!(odd.status, 201, "{}", odd.body);
    let warning = &odd.body["warnings"][0];
    assert_eq!(
        warning["type"], "urn:uitpas-checkout:warning:regular-price-unknown",
        "{}",
        odd.body
    );
    assert_eq!(warning["jsonPointer"], "/tickets/0/regularPrice");
    // An event UiTdatabank has no price of (publiq's test event on the sandbox): no check at all.
    let unknown = app.register("plain", order("o-plain", ACTIVE_PASS, json!(1000))).await;
    assert_eq!(unknown.status, 201, "{}", unknown.body);
    assert!(unknown.body.get("warnings").is_none(), "{}", unknown.body);
}

#[tokio::test]
async fn a_price_put_to_the_activity_is_checked_against_at_once() {
    let app = TestApp::spawn().await;
    let event = event_priced_10_and_8(&app).await;
    let ten = app.register("ten", priced("o-10", &event, json!(10))).await;
    assert!(ten.body.get("warnings").is_none(), "{}", ten.body);
    let changed = app
        .shop(Method::PUT, "/v1/activities/priced", Some(performance(12)), &[])
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    // The new price, at once: no warning (the event's prices were read again).
    let twelve = app.register("twelve", priced("o-12", &event, json!(12))).await;
    assert_eq!(twelve.status, 201, "{}", twelve.body);
    assert!(twelve.body.get("warnings").is_none(), "{}", twelve.body);
    // And 1200 is cents of the new price.
    app.register("cents-12", priced("o-1200", &event, json!(1200)))
        .await
        .assert_problem(422, "urn:uitpas-checkout:problem:regular-price-in-cents");
}

// --- 8. a checkout token's own rate limit ----------------------------------------------------

async fn lookups(app: &TestApp, token: Option<&str>, n: usize) -> Vec<u16> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let answer = app
            .request(Method::GET, "/v1/passes/0900000067513", None, &headers)
            .await;
        statuses.push(answer.status.as_u16());
    }
    statuses
}

#[tokio::test]
async fn buyers_behind_one_address_each_spend_their_own_tokens_budget_not_the_addresss() {
    // The shipped limits: 5 a second per address, bursts of 10.
    let app = TestApp::spawn_configured(|c| c.public_rate_limit = 5).await;
    // The shop raises the budget of the tokens of its checkout (a library's public computers).
    let token = app
        .mint_checkout_token(json!({"eventIds": [TEST_EVENT], "rateLimit": 30}))
        .await;
    assert_eq!(token.status, 201, "{}", token.body);
    assert_eq!(token.body["rateLimit"], 30);
    let token = token.body["token"].as_str().unwrap().to_owned();
    let burst = lookups(&app, Some(&token), 50).await;
    assert!(burst.iter().all(|s| *s == 200), "a burst of 60: {burst:?}");

    // Another buyer at the same address, with a token of the default budget: a burst of its own.
    let plain = app.mint_checkout_token(json!({"eventIds": [TEST_EVENT]})).await;
    assert_eq!(plain.body["rateLimit"], 5, "{}", plain.body);
    let plain = plain.body["token"].as_str().unwrap().to_owned();
    let statuses = lookups(&app, Some(&plain), 14).await;
    assert_eq!(&statuses[..10], [200; 10], "{statuses:?}");
    assert!(statuses.contains(&429), "its own budget is spent: {statuses:?}");

    // The address itself was never charged for the tokens' requests: its own burst of 10.
    let anonymous = lookups(&app, None, 14).await;
    assert_eq!(&anonymous[..10], [200; 10], "{anonymous:?}");
    assert!(anonymous.contains(&429), "{anonymous:?}");
}

#[tokio::test]
async fn a_tokens_rate_is_bounded_by_checkout_token_max_rate_limit() {
    let app = TestApp::spawn_configured(|c| c.checkout_token_max_rate_limit = 20).await;
    for rate in [0, 21] {
        let answer = app
            .mint_checkout_token(json!({"eventIds": [TEST_EVENT], "rateLimit": rate}))
            .await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        assert_eq!(problem["schemaErrors"][0]["jsonPointer"], "/rateLimit", "{problem}");
    }
    let answer = app
        .mint_checkout_token(json!({"eventIds": [TEST_EVENT], "rateLimit": 20}))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}
