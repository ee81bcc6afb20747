//! Black-box tests of rewards redeemed as part of an order's registration (issue 24 item 1):
//! redeemed once under the order's Idempotency-Key (a retry finds them), held with a hold's sales
//! and confirmed or released with them, never redeemed for an order UiTPAS refused. The app runs
//! against a sandbox over HTTP (publiq's rewards of the test dataset) and a real PostgreSQL.

mod common;

use common::TestApp;
use common::fixtures::{ACTIVE_PASS, PASPARTOE_PASS, hold, order, with};
use reqwest::Method;
use serde_json::{Value, json};

/// publiq's test dataset: a pass with 100 points, a reward of 10 and an expired one.
const POINTS_PASS: &str = "0900000095902";
const POINTS_REWARD: &str = "5687";
const EXPIRED_REWARD: &str = "5825";

fn with_reward(body: Value, reward: &str) -> Value {
    with(
        body,
        json!({"rewards": [{"rewardId": reward, "uitpasNumber": POINTS_PASS}]}),
    )
}

async fn live_at_uitpas(app: &TestApp) -> Vec<Value> {
    app.live_redemptions().await
}

async fn points(app: &TestApp) -> f64 {
    let answer = common::sandbox_get(&app.sandbox, &format!("/_sandbox/passes/{POINTS_PASS}/points")).await;
    answer["points"].as_f64().expect("a balance")
}

#[tokio::test]
async fn an_order_redeems_its_reward_once_and_a_retry_of_the_order_finds_it() {
    let app = TestApp::spawn().await;
    let body = with_reward(order("r-order", ACTIVE_PASS), POINTS_REWARD);
    let first = app.register("r-order", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let reward = &first.body["rewards"][0];
    assert_eq!(reward["rewardId"], POINTS_REWARD, "{}", first.body);
    assert_eq!(reward["redemption"]["status"], "redeemed", "{}", first.body);
    assert_eq!(reward["redemption"]["orderId"], "r-order");
    let redemption_id = reward["redemption"]["id"].as_str().unwrap().to_owned();
    assert_eq!(live_at_uitpas(&app).await.len(), 1);
    assert_eq!(points(&app).await, 90.0);

    // The same order again: the same answer, nothing redeemed again.
    let again = app.register("r-order", body).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["rewards"][0]["redemption"]["id"], redemption_id.as_str());
    assert_eq!(live_at_uitpas(&app).await.len(), 1, "redeemed once");
    assert_eq!(points(&app).await, 90.0);

    // The registration shows it; so does the redemption's own endpoint.
    let id = first.body["id"].as_str().unwrap();
    let read = app
        .shop(Method::GET, &format!("/v1/registrations/{id}"), None, &[])
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["rewards"][0]["redemption"]["id"], redemption_id.as_str());
    let own = app
        .shop(
            Method::GET,
            &format!("/v1/reward-redemptions/{redemption_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(own.body["status"], "redeemed", "{}", own.body);
    // An order without rewards says nothing of them.
    let plain = app.register("r-plain", order("r-plain", ACTIVE_PASS)).await;
    assert_eq!(plain.status, 201, "{}", plain.body);
    assert!(plain.body.get("rewards").is_none(), "{}", plain.body);
}

#[tokio::test]
async fn a_held_orders_reward_is_held_and_confirmed_or_released_with_its_sales() {
    let app = TestApp::spawn().await;
    let confirmed = app
        .register(
            "r-hold-1",
            with_reward(hold("r-hold-1", ACTIVE_PASS, 600), POINTS_REWARD),
        )
        .await;
    assert_eq!(confirmed.status, 201, "{}", confirmed.body);
    assert_eq!(
        confirmed.body["rewards"][0]["redemption"]["status"], "held",
        "{}",
        confirmed.body
    );
    let id = confirmed.body["id"].as_str().unwrap();
    let answer = app
        .shop(Method::POST, &format!("/v1/registrations/{id}/confirm"), None, &[])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["rewards"][0]["redemption"]["status"], "redeemed",
        "{}",
        answer.body
    );
    assert_eq!(answer.body["rewards"][0]["redemption"]["hold"]["state"], "confirmed");

    let released = app
        .register(
            "r-hold-2",
            with_reward(hold("r-hold-2", ACTIVE_PASS, 600), POINTS_REWARD),
        )
        .await;
    assert_eq!(released.status, 201, "{}", released.body);
    assert_eq!(live_at_uitpas(&app).await.len(), 2);
    assert_eq!(points(&app).await, 80.0);
    let id = released.body["id"].as_str().unwrap();
    let answer = app
        .shop(Method::POST, &format!("/v1/registrations/{id}/release"), None, &[])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["rewards"][0]["redemption"]["hold"]["state"], "released",
        "{}",
        answer.body
    );
    app.drain().await;
    assert_eq!(
        live_at_uitpas(&app).await.len(),
        1,
        "the released order's reward is cancelled"
    );
    assert_eq!(points(&app).await, 90.0, "its points came back");
}

#[tokio::test]
async fn an_order_uitpas_refuses_redeems_nothing_and_a_refused_reward_leaves_the_sales_standing() {
    let app = TestApp::spawn().await;
    // A Paspartoe pass with Gent's tariff: refused, so its reward is not redeemed.
    let refused = app
        .register(
            "r-refused",
            with_reward(order("r-refused", PASPARTOE_PASS), POINTS_REWARD),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(live_at_uitpas(&app).await.is_empty());
    assert_eq!(points(&app).await, 100.0);

    // An expired reward: the sales are registered, the reward is rejected with UiTPAS's problem.
    let expired = app
        .register(
            "r-expired",
            with_reward(order("r-expired", ACTIVE_PASS), EXPIRED_REWARD),
        )
        .await;
    assert_eq!(expired.status, 201, "{}", expired.body);
    assert_eq!(expired.body["status"], "registered");
    let redemption = &expired.body["rewards"][0]["redemption"];
    assert_eq!(redemption["status"], "rejected", "{}", expired.body);
    assert_eq!(
        redemption["problem"]["type"], "https://api.publiq.be/probs/uitpas/reward-period-constraint",
        "{}",
        expired.body
    );
    assert!(live_at_uitpas(&app).await.is_empty());
}

#[tokio::test]
async fn other_rewards_under_the_same_key_and_malformed_rewards_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let first = app
        .register("r-key", with_reward(order("r-key", ACTIVE_PASS), POINTS_REWARD))
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    app.register("r-key", with_reward(order("r-key", ACTIVE_PASS), "5823"))
        .await
        .assert_problem(422, "urn:uitpas-checkout:problem:idempotency-key-reused");
    // The same order without its rewards is another request too.
    app.register("r-key", order("r-key", ACTIVE_PASS))
        .await
        .assert_problem(422, "urn:uitpas-checkout:problem:idempotency-key-reused");

    let six = json!({"rewards": vec![json!({"rewardId": POINTS_REWARD, "uitpasNumber": POINTS_PASS}); 6]});
    let answer = app.register("r-six", with(order("r-six", ACTIVE_PASS), six)).await;
    let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    assert!(problem.to_string().contains("/rewards"), "{problem}");
    let mistyped = json!({"rewards": [{"rewardId": POINTS_REWARD, "uitpasNumber": "0900000095903"}]});
    let answer = app
        .register("r-typo", with(order("r-typo", ACTIVE_PASS), mistyped))
        .await;
    let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    assert!(problem.to_string().contains("/rewards/0/uitpasNumber"), "{problem}");
    // The service's own keys for an order's rewards are not the shop's to use.
    let answer = app
        .shop(
            Method::POST,
            "/v1/reward-redemptions",
            Some(json!({"rewardId": POINTS_REWARD, "uitpasNumber": POINTS_PASS})),
            &[("idempotency-key", "registration/x/reward/0")],
        )
        .await;
    answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    assert_eq!(live_at_uitpas(&app).await.len(), 1, "only the first order's reward");
    assert_eq!(points(&app).await, 90.0);
}
