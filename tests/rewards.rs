//! Black-box tests of rewards paid with UiTPAS points (issue 24 item 1): listing an organizer's
//! rewards, whether a pass can redeem one, and redemptions made exactly once per Idempotency-Key,
//! through lost and late answers, and cancelled. The app runs against a sandbox over HTTP (which
//! plays publiq's rewards of the test dataset) and a real PostgreSQL.

mod common;

use std::time::Duration;

use common::TestApp;
use reqwest::Method;
use serde_json::{Value, json};
use uitpas_checkout::config::HumanDuration;

/// publiq's test dataset: a pass "for points rewards", and its rewards.
const POINTS_PASS: &str = "0900000095902";
const GROUP_PASS: &str = "0900000045410";
/// A points reward without restrictions.
const POINTS_REWARD: &str = "5687";
/// A points reward of at most one per week per passholder.
const WEEKLY_REWARD: &str = "5823";
/// An expired points reward: must not work.
const EXPIRED_REWARD: &str = "5825";

fn redemption(reward: &str, number: &str) -> Value {
    json!({"rewardId": reward, "uitpasNumber": number, "orderId": "order-1"})
}

async fn redeem(app: &TestApp, key: &str, body: Value) -> common::Answer {
    app.shop(
        Method::POST,
        "/v1/reward-redemptions",
        Some(body),
        &[("idempotency-key", key)],
    )
    .await
}

async fn read(app: &TestApp, id: &str) -> Value {
    let read = app
        .shop(Method::GET, &format!("/v1/reward-redemptions/{id}"), None, &[])
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    read.body
}

async fn at_uitpas(app: &TestApp) -> Vec<Value> {
    app.sandbox_redemptions().await
}

async fn live_at_uitpas(app: &TestApp) -> Vec<Value> {
    app.live_redemptions().await
}

async fn redeem_status(app: &TestApp, reward: &str, number: &str) -> Value {
    let answer = app
        .shop(
            Method::GET,
            &format!("/v1/rewards/{reward}/redeem-status?uitpasNumber={number}"),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

#[tokio::test]
async fn the_organizers_rewards_are_listed_with_their_cost() {
    let app = TestApp::spawn().await;
    let list = app.shop(Method::GET, "/v1/rewards", None, &[]).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let ids: Vec<&str> = list.body["member"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(ids.contains(&POINTS_REWARD) && ids.contains(&"5688"), "{}", list.body);
    let reward = list.body["member"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == POINTS_REWARD)
        .unwrap();
    assert_eq!(reward["type"], "POINTS");
    assert!(reward["points"].as_f64().unwrap() > 0.0, "{reward}");
    // Cached: a second list asks UiTPAS nothing.
    let calls = app.upstream_calls("get-rewards").await;
    assert_eq!(app.shop(Method::GET, "/v1/rewards", None, &[]).await.status, 200);
    assert_eq!(app.upstream_calls("get-rewards").await, calls);
}

#[tokio::test]
async fn a_reward_is_redeemed_once_and_its_points_come_back_when_cancelled() {
    let app = TestApp::spawn().await;
    let before = redeem_status(&app, POINTS_REWARD, POINTS_PASS).await;
    assert_eq!(before["redeemable"], true, "{before}");
    let balance = before["pointsBalance"].as_f64().expect("a balance");
    let cost = before["points"].as_f64().expect("a cost");

    let answer = redeem(&app, "r-1", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["status"], "redeemed");
    let id = answer.body["id"].as_str().unwrap().to_owned();
    let uitpas_id = answer.body["uitpasRedemptionId"].as_str().unwrap().to_owned();
    assert_eq!(answer.body["points"].as_f64(), Some(cost));
    let after = redeem_status(&app, POINTS_REWARD, POINTS_PASS).await;
    assert_eq!(after["pointsBalance"].as_f64(), Some(balance - cost), "{after}");

    // The same request again: the same redemption, nothing sent.
    let again = redeem(&app, "r-1", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["id"], id.as_str());
    assert_eq!(app.upstream_calls("post-rewards-redeemed").await, 1);
    // The same key with another body: refused, nothing sent.
    redeem(&app, "r-1", redemption("5688", POINTS_PASS))
        .await
        .assert_problem(422, "urn:uitpas-checkout:problem:idempotency-key-reused");

    let listed = app
        .shop(
            Method::GET,
            &format!("/v1/reward-redemptions?uitpasNumber={POINTS_PASS}"),
            None,
            &[],
        )
        .await;
    assert_eq!(listed.body["totalItems"], 1, "{}", listed.body);
    assert_eq!(listed.body["member"][0]["id"], id.as_str());

    let cancelled = app
        .shop(Method::DELETE, &format!("/v1/reward-redemptions/{id}"), None, &[])
        .await;
    assert_eq!(cancelled.status, 204, "{}", cancelled.body);
    let read = read(&app, &id).await;
    assert_eq!(read["status"], "cancelled", "{read}");
    assert!(read["cancelledAt"].is_string());
    let live = live_at_uitpas(&app).await;
    assert!(live.iter().all(|r| r["id"] != uitpas_id.as_str()), "{live:?}");
    let restored = redeem_status(&app, POINTS_REWARD, POINTS_PASS).await;
    assert_eq!(restored["pointsBalance"].as_f64(), Some(balance), "{restored}");
    // Cancelling again is not an error, and sends nothing.
    let calls = app.upstream_calls("delete-rewards-redeemed-redeemedRewardId").await;
    let again = app
        .shop(Method::DELETE, &format!("/v1/reward-redemptions/{id}"), None, &[])
        .await;
    assert_eq!(again.status, 204);
    assert_eq!(
        app.upstream_calls("delete-rewards-redeemed-redeemedRewardId").await,
        calls
    );
}

#[tokio::test]
async fn an_answer_the_service_cannot_read_is_looked_up_not_redeemed_again() {
    let app = TestApp::spawn().await;
    // UiTPAS redeems and answers 201 in a form this build does not read.
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "unreadable-after-commit", "times": 1}))
        .await;
    let answer = redeem(&app, "unreadable", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.drain().await, 1);
    let read = read(&app, &id).await;
    assert_eq!(read["status"], "redeemed", "{read}");
    let made = at_uitpas(&app).await;
    assert_eq!(made.len(), 1, "redeemed once at UiTPAS: {made:?}");
    assert_eq!(
        app.upstream_calls("post-rewards-redeemed").await,
        1,
        "adopted, not sent again"
    );
}

#[tokio::test]
async fn a_lost_answer_is_found_among_the_passes_redemptions_and_not_redeemed_again() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "drop-after-commit", "times": 1}))
        .await;
    let answer = redeem(&app, "lost", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(answer.body["status"], "pending");
    let id = answer.body["id"].as_str().unwrap().to_owned();
    // Another redemption of the same reward by the same pass waits for this one.
    let other = redeem(&app, "other", redemption(POINTS_REWARD, POINTS_PASS)).await;
    let problem = other.assert_problem(409, "urn:uitpas-checkout:problem:redemption-in-progress");
    assert_eq!(problem["redemptionId"], id.as_str());

    assert_eq!(app.drain().await, 1);
    let read = read(&app, &id).await;
    assert_eq!(read["status"], "redeemed", "{read}");
    let made = at_uitpas(&app).await;
    assert_eq!(made.len(), 1, "redeemed once at UiTPAS: {made:?}");
    assert_eq!(read["uitpasRedemptionId"], made[0]["id"]);
    assert_eq!(
        app.upstream_calls("post-rewards-redeemed").await,
        1,
        "adopted, not sent again"
    );
    // The retry of the shop gets the settled redemption.
    let retried = redeem(&app, "lost", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(retried.status, 201, "{}", retried.body);
    assert_eq!(retried.body["id"], id.as_str());
}

#[tokio::test]
async fn an_answer_that_arrives_after_the_service_gave_up_is_adopted_not_doubled() {
    let app = TestApp::spawn_configured(|c| {
        c.upstream_timeout = HumanDuration(Duration::from_millis(300));
        c.replay_lease = HumanDuration(Duration::from_secs(2));
        c.settle_window = HumanDuration(Duration::from_secs(30));
    })
    .await;
    // UiTPAS commits 1.5 s after the request, long after the service gave up on it.
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "delay", "delayMs": 1500, "times": 1}))
        .await;
    let answer = redeem(&app, "late", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    app.drain_until("the late redemption is adopted", Duration::from_secs(20), async || {
        read(&app, &id).await["status"] == "redeemed"
    })
    .await;
    assert_eq!(
        app.upstream_calls("post-rewards-redeemed").await,
        1,
        "never sent again while the first request could still commit"
    );
    assert_eq!(live_at_uitpas(&app).await.len(), 1);
}

#[tokio::test]
async fn a_send_uitpas_commits_after_the_window_is_cancelled_by_the_watch() {
    let app = TestApp::spawn_configured(|c| {
        c.upstream_timeout = HumanDuration(Duration::from_millis(300));
        c.replay_lease = HumanDuration(Duration::from_secs(2));
        c.settle_window = HumanDuration(Duration::from_millis(500));
    })
    .await;
    // UiTPAS commits the first send 3 s after it, long after the settle window: by then the
    // service has looked, found nothing, and redeemed again.
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "delay", "delayMs": 3000, "times": 1}))
        .await;
    let answer = redeem(&app, "too-late", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    app.drain_until(
        "the redemption is sent again and redeemed",
        Duration::from_secs(20),
        async || read(&app, &id).await["status"] == "redeemed",
    )
    .await;
    assert_eq!(app.upstream_calls("post-rewards-redeemed").await, 2);
    // The first send commits: the points are spent twice for a moment.
    let live = common::until("the late commit lands", Duration::from_secs(20), async || {
        let live = live_at_uitpas(&app).await;
        if live.len() == 2 {
            Ok(live)
        } else {
            Err(format!("{live:?}"))
        }
    })
    .await;
    assert_eq!(live.len(), 2);
    // The watch cancels the one no redemption of ours records.
    app.drain().await;
    let live = live_at_uitpas(&app).await;
    assert_eq!(live.len(), 1, "the late second redemption is cancelled: {live:?}");
    assert_eq!(read(&app, &id).await["uitpasRedemptionId"], live[0]["id"]);
}

/// A service whose settle window is short, so that a send can commit past it within a test.
async fn short_window_app() -> TestApp {
    TestApp::spawn_configured(|c| {
        c.upstream_timeout = HumanDuration(Duration::from_millis(300));
        c.replay_lease = HumanDuration(Duration::from_secs(2));
        c.settle_window = HumanDuration(Duration::from_millis(500));
    })
    .await
}

/// Redeems under `key` with the first send committed `late_ms` after it, and waits until the
/// service has looked, found nothing, redeemed again and settled: the redemption's id.
async fn redeemed_with_a_late_first_send(app: &TestApp, key: &str, late_ms: u64) -> String {
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "delay", "delayMs": late_ms, "times": 1}))
        .await;
    let answer = redeem(app, key, redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    app.drain_until(
        "the redemption is sent again and redeemed",
        Duration::from_secs(20),
        async || read(app, &id).await["status"] == "redeemed",
    )
    .await;
    assert_eq!(app.upstream_calls("post-rewards-redeemed").await, 2);
    id
}

async fn until_live_at_uitpas(app: &TestApp, count: usize) -> Vec<Value> {
    common::until("the late commit lands", Duration::from_secs(20), async || {
        let live = live_at_uitpas(app).await;
        if live.len() == count {
            Ok(live)
        } else {
            Err(format!("{live:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn a_late_commit_after_the_passs_next_redemption_is_cancelled_by_the_watch() {
    let app = short_window_app().await;
    common::set_points(&app.sandbox, POINTS_PASS, 1000).await;
    let first = redeemed_with_a_late_first_send(&app, "late-first", 3000).await;
    // The pass redeems the reward again, for another order, before the first send commits.
    let next = redeem(&app, "next-order", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(next.status, 201, "{}", next.body);
    let next = next.body["id"].as_str().unwrap().to_owned();
    assert_eq!(until_live_at_uitpas(&app, 3).await.len(), 3);
    // The watch cancels the late commit, and neither of the two the service records.
    app.drain().await;
    let live: Vec<Value> = live_at_uitpas(&app)
        .await
        .into_iter()
        .map(|r| r["id"].clone())
        .collect();
    let recorded = [
        read(&app, &first).await["uitpasRedemptionId"].clone(),
        read(&app, &next).await["uitpasRedemptionId"].clone(),
    ];
    assert_eq!(live.len(), 2, "the late commit is cancelled: {live:?}");
    assert!(
        recorded.iter().all(|id| live.contains(id)),
        "{recorded:?} live in {live:?}"
    );
}

#[tokio::test]
async fn a_late_commit_after_the_first_watch_is_cancelled_by_the_second() {
    let app = short_window_app().await;
    let id = redeemed_with_a_late_first_send(&app, "later-than-the-watch", 6000).await;
    // The first watch runs before the first send commits, and finds nothing to cancel.
    assert_eq!(live_at_uitpas(&app).await.len(), 1);
    app.drain().await;
    assert_eq!(
        live_at_uitpas(&app).await.len(),
        1,
        "the first send has not committed yet"
    );
    assert_eq!(until_live_at_uitpas(&app, 2).await.len(), 2);
    // The second watch cancels it.
    app.drain().await;
    let live = live_at_uitpas(&app).await;
    assert_eq!(live.len(), 1, "the late second redemption is cancelled: {live:?}");
    assert_eq!(read(&app, &id).await["uitpasRedemptionId"], live[0]["id"]);
}

#[tokio::test]
async fn a_redemption_uitpas_did_not_make_is_sent_again() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "error", "status": 503, "times": 1}))
        .await;
    let answer = redeem(&app, "retry", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert!(live_at_uitpas(&app).await.is_empty());
    assert_eq!(app.drain().await, 1);
    assert_eq!(read(&app, &id).await["status"], "redeemed");
    assert_eq!(app.upstream_calls("post-rewards-redeemed").await, 2);
    assert_eq!(live_at_uitpas(&app).await.len(), 1);
}

#[tokio::test]
async fn refusals_reach_the_shop_with_publiqs_problem_and_spend_nothing() {
    let app = TestApp::spawn().await;
    // An expired reward.
    let expired = redeem(&app, "expired", redemption(EXPIRED_REWARD, POINTS_PASS)).await;
    assert_eq!(expired.status, 400, "{}", expired.body);
    assert!(
        expired.body["type"]
            .as_str()
            .unwrap()
            .starts_with("https://api.publiq.be/probs/"),
        "{}",
        expired.body
    );
    assert!(expired.body["redemptionId"].is_string(), "{}", expired.body);
    assert_eq!(
        read(&app, expired.body["redemptionId"].as_str().unwrap()).await["status"],
        "rejected"
    );
    // A group pass cannot redeem.
    let group = redeem(&app, "group", redemption(POINTS_REWARD, GROUP_PASS)).await;
    assert_eq!(group.status, 400, "{}", group.body);
    let status = redeem_status(&app, POINTS_REWARD, GROUP_PASS).await;
    assert_eq!(status["redeemable"], false, "{status}");
    assert!(status["message"].is_string(), "{status}");
    // Not enough points: said before, refused when tried.
    common::set_points(&app.sandbox, POINTS_PASS, 0).await;
    let status = redeem_status(&app, POINTS_REWARD, POINTS_PASS).await;
    assert_eq!(
        (status["redeemable"].clone(), status["reason"].clone()),
        (json!(false), json!("PASSHOLDER_POINTS")),
        "{status}"
    );
    let poor = redeem(&app, "poor", redemption(POINTS_REWARD, POINTS_PASS)).await;
    poor.assert_problem(
        400,
        "https://api.publiq.be/probs/uitpas/reward-passholder-points-constraint",
    );
    assert!(poor.body["endUserMessage"]["nl"].is_string(), "{}", poor.body);
    // The same request again gets the same refusal, without asking UiTPAS.
    let posts = app.upstream_calls("post-rewards-redeemed").await;
    let again = redeem(&app, "poor", redemption(POINTS_REWARD, POINTS_PASS)).await;
    assert_eq!((again.status, &again.body), (poor.status, &poor.body));
    assert_eq!(app.upstream_calls("post-rewards-redeemed").await, posts);
    assert!(live_at_uitpas(&app).await.is_empty());
    // A rejected redemption has nothing to cancel.
    app.shop(
        Method::DELETE,
        &format!("/v1/reward-redemptions/{}", poor.body["redemptionId"].as_str().unwrap()),
        None,
        &[],
    )
    .await
    .assert_problem(409, "urn:uitpas-checkout:problem:not-redeemed");
}

#[tokio::test]
async fn a_weekly_reward_is_refused_the_second_time_in_a_week() {
    let app = TestApp::spawn().await;
    let first = redeem(&app, "week-1", redemption(WEEKLY_REWARD, POINTS_PASS)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let second = redeem(&app, "week-2", redemption(WEEKLY_REWARD, POINTS_PASS)).await;
    second.assert_problem(
        400,
        "https://api.publiq.be/probs/uitpas/reward-passholder-volume-constraint",
    );
}

#[tokio::test]
async fn bad_requests_get_a_problem_and_store_nothing() {
    let app = TestApp::spawn().await;
    redeem(&app, "bad", redemption(POINTS_REWARD, "0900000095903"))
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    redeem(&app, "bad", json!({"rewardId": "../x", "uitpasNumber": POINTS_PASS}))
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    app.shop(
        Method::POST,
        "/v1/reward-redemptions",
        Some(redemption(POINTS_REWARD, POINTS_PASS)),
        &[],
    )
    .await
    .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    let unknown = app
        .shop(
            Method::GET,
            "/v1/reward-redemptions/00000000-0000-4000-8000-000000000000",
            None,
            &[],
        )
        .await;
    assert_eq!(unknown.status, 404);
    let listed = app.shop(Method::GET, "/v1/reward-redemptions", None, &[]).await;
    assert_eq!(listed.body["totalItems"], 0, "{}", listed.body);
    assert_eq!(app.upstream_calls("post-rewards-redeemed").await, 0);
    // Without the shop key: 401.
    let anonymous = app.get("/v1/rewards").await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn without_publiqs_permission_a_redemption_needs_an_operator_and_spends_nothing() {
    let app = TestApp::spawn().await;
    // publiq withdrew REWARDS_REDEEM from the app's client.
    common::hooks::grant_rewards(&app.sandbox, false, true).await;
    let refused = redeem(&app, "no-permission", redemption(POINTS_REWARD, POINTS_PASS)).await;
    let problem = refused.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    let id = problem["redemptionId"]
        .as_str()
        .expect("the redemption named")
        .to_owned();
    assert!(problem["endUserMessage"]["nl"].is_string(), "{problem}");
    let read = read(&app, &id).await;
    assert_eq!(read["status"], "needs-attention", "{read}");
    assert_eq!(
        read["problem"]["type"], "urn:uitpas-checkout:problem:permission-missing",
        "{read}"
    );
    // Parked: the worker does not try again by itself.
    assert_eq!(app.drain().await, 0);
    assert!(at_uitpas(&app).await.is_empty());
}

fn held(reward: &str, number: &str, expires_in: u32) -> Value {
    json!({"rewardId": reward, "uitpasNumber": number, "hold": {"expiresIn": expires_in}})
}

async fn hold_action(app: &TestApp, id: &str, action: &str) -> common::Answer {
    app.shop(
        Method::POST,
        &format!("/v1/reward-redemptions/{id}/{action}"),
        None,
        &[],
    )
    .await
}

#[tokio::test]
async fn a_hold_is_confirmed_after_payment_or_released_with_its_points_back() {
    let app = TestApp::spawn().await;
    let balance = redeem_status(&app, POINTS_REWARD, POINTS_PASS).await["pointsBalance"]
        .as_f64()
        .unwrap();
    // Paid: confirmed, an ordinary redemption.
    let paid = redeem(&app, "paid", held(POINTS_REWARD, POINTS_PASS, 600)).await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(paid.body["status"], "held");
    assert_eq!(paid.body["hold"]["state"], "held");
    let paid_id = paid.body["id"].as_str().unwrap().to_owned();
    let confirmed = hold_action(&app, &paid_id, "confirm").await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(confirmed.body["status"], "redeemed");
    assert_eq!(confirmed.body["hold"]["state"], "confirmed");
    assert_eq!(
        hold_action(&app, &paid_id, "confirm").await.status,
        200,
        "again: the same"
    );
    hold_action(&app, &paid_id, "release")
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:hold-confirmed");

    // Payment failed: released, cancelled at UiTPAS, the points back.
    let failed = redeem(&app, "failed", held(POINTS_REWARD, POINTS_PASS, 600)).await;
    assert_eq!(failed.status, 201, "{}", failed.body);
    let failed_id = failed.body["id"].as_str().unwrap().to_owned();
    let released = hold_action(&app, &failed_id, "release").await;
    assert_eq!(released.status, 200, "{}", released.body);
    assert_eq!(released.body["status"], "released", "{}", released.body);
    let live = live_at_uitpas(&app).await;
    assert_eq!(live.len(), 1, "only the paid one is left: {live:?}");
    assert_eq!(live[0]["id"], confirmed.body["uitpasRedemptionId"]);
    let cost = confirmed.body["points"].as_f64().unwrap();
    assert_eq!(
        redeem_status(&app, POINTS_REWARD, POINTS_PASS).await["pointsBalance"].as_f64(),
        Some(balance - cost)
    );
    hold_action(&app, &failed_id, "confirm")
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:hold-released");
    // A redemption made without a hold has nothing to confirm.
    let plain = redeem(&app, "plain", redemption("5688", POINTS_PASS)).await;
    assert_eq!(plain.status, 201, "{}", plain.body);
    hold_action(&app, plain.body["id"].as_str().unwrap(), "release")
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:not-a-hold");
}

#[tokio::test]
async fn an_unconfirmed_hold_expires_and_its_redemption_is_cancelled() {
    let app = TestApp::spawn().await;
    let answer = redeem(&app, "expiring", held(POINTS_REWARD, POINTS_PASS, 1)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert_eq!(live_at_uitpas(&app).await.len(), 1);
    app.drain_until("the hold expires", Duration::from_secs(10), async || {
        let read = read(&app, &id).await;
        read["status"] == "expired" && live_at_uitpas(&app).await.is_empty()
    })
    .await;
    hold_action(&app, &id, "confirm")
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:hold-expired");
    assert_eq!(at_uitpas(&app).await.len(), 1, "made once, then cancelled");
}

#[tokio::test]
async fn a_hold_released_while_its_answer_was_lost_is_cancelled_once_found() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "drop-after-commit", "times": 1}))
        .await;
    let answer = redeem(&app, "lost-hold", held(POINTS_REWARD, POINTS_PASS, 600)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    // The buyer did not pay: released while UiTPAS's answer is not known.
    let released = hold_action(&app, &id, "release").await;
    assert_eq!(released.status, 200, "{}", released.body);
    assert_eq!(released.body["status"], "released");
    assert_eq!(live_at_uitpas(&app).await.len(), 1, "made at UiTPAS, answer lost");
    app.drain_until(
        "the redemption found and cancelled",
        Duration::from_secs(10),
        async || live_at_uitpas(&app).await.is_empty(),
    )
    .await;
    assert_eq!(app.upstream_calls("post-rewards-redeemed").await, 1, "never sent again");
    assert_eq!(read(&app, &id).await["status"], "released");
}
