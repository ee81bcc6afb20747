//! Black-box tests of the operations on redemptions (issue 24 item 1): a redemption that needs a
//! person retried or abandoned through the shop's API and the console, and the console's
//! reconciliation of a customer's redemptions with UiTPAS. The app runs against a sandbox over
//! HTTP (which plays publiq's rewards of the test dataset) and a real PostgreSQL.

mod common;

use std::time::Duration;

use common::{TestApp, until};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use uitpas_checkout::config::{Secret, SecretList};

const OPERATOR_KEY: &str = "operator-key-0123456789";
/// publiq's test dataset: a pass "for points rewards", and its rewards.
const POINTS_PASS: &str = "0900000095902";
/// A points reward without restrictions.
const POINTS_REWARD: &str = "5687";

async fn app() -> TestApp {
    let app = TestApp::spawn_configured(|c| {
        c.operator_keys = Some(SecretList(vec![Secret::new(OPERATOR_KEY)]));
    })
    .await;
    common::set_points(&app.sandbox, POINTS_PASS, 1000).await;
    app
}

async fn redeem(app: &TestApp, key: &str, order: &str) -> common::Answer {
    app.shop(
        Method::POST,
        "/v1/reward-redemptions",
        Some(json!({"rewardId": POINTS_REWARD, "uitpasNumber": POINTS_PASS, "orderId": order})),
        &[("idempotency-key", key)],
    )
    .await
}

async fn post(app: &TestApp, path: &str) -> common::Answer {
    app.shop(Method::POST, path, None, &[]).await
}

async fn read(app: &TestApp, id: &str) -> Value {
    let read = app
        .shop(Method::GET, &format!("/v1/reward-redemptions/{id}"), None, &[])
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    read.body
}

/// The redemptions the sandbox holds (cancelled ones included), and those not cancelled.
async fn at_uitpas(app: &TestApp) -> (Vec<Value>, Vec<Value>) {
    let all = app.sandbox_redemptions().await;
    let live = all.iter().filter(|r| r["cancelledAt"].is_null()).cloned().collect();
    (all, live)
}

/// A redemption refused for want of REWARDS_REDEEM: parked, `needs-attention`; its id.
async fn parked_for_permission(app: &TestApp, key: &str) -> String {
    common::hooks::grant_rewards(&app.sandbox, false, true).await;
    let refused = redeem(app, key, "order-parked").await;
    let problem = refused.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    let id = problem["redemptionId"]
        .as_str()
        .expect("the redemption named")
        .to_owned();
    assert_eq!(read(app, &id).await["status"], "needs-attention");
    id
}

#[tokio::test]
async fn a_retry_once_the_permission_is_given_back_redeems_it_once() {
    let app = app().await;
    let id = parked_for_permission(&app, "retry").await;
    common::hooks::grant_rewards(&app.sandbox, true, true).await;
    let retried = post(&app, &format!("/v1/reward-redemptions/{id}/retry")).await;
    assert_eq!(retried.status, 202, "{}", retried.body);
    assert_eq!(retried.body["status"], "pending");
    app.drain_until(
        "the retried redemption is redeemed",
        Duration::from_secs(20),
        async || read(&app, &id).await["status"] == "redeemed",
    )
    .await;
    let (_, live) = at_uitpas(&app).await;
    assert_eq!(live.len(), 1, "redeemed once at UiTPAS: {live:?}");
    assert_eq!(read(&app, &id).await["uitpasRedemptionId"], live[0]["id"]);
    // Nothing needs attention any more: neither a retry nor an abandon.
    let again = post(&app, &format!("/v1/reward-redemptions/{id}/retry")).await;
    again.assert_problem(409, "urn:uitpas-checkout:problem:not-needing-attention");
    let abandon = post(&app, &format!("/v1/reward-redemptions/{id}/abandon")).await;
    abandon.assert_problem(409, "urn:uitpas-checkout:problem:not-needing-attention");
    assert_eq!(read(&app, &id).await["status"], "redeemed");
    // Another customer's redemption is not found.
    let unknown = post(&app, &format!("/v1/reward-redemptions/{}/retry", uuid::Uuid::new_v4())).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let bad = post(&app, "/v1/reward-redemptions/not-an-id/abandon").await;
    bad.assert_problem(404, "urn:uitpas-checkout:problem:not-found");
}

#[tokio::test]
async fn abandoning_a_redemption_uitpas_never_made_rejects_it_without_a_call() {
    let app = app().await;
    let id = parked_for_permission(&app, "abandon").await;
    let sends = app.upstream_calls("post-rewards-redeemed").await;
    let looks = app.upstream_calls("get-rewards-redeemed").await;
    let abandoned = post(&app, &format!("/v1/reward-redemptions/{id}/abandon")).await;
    assert_eq!(abandoned.status, 200, "{}", abandoned.body);
    assert_eq!(abandoned.body["status"], "rejected");
    assert_eq!(
        abandoned.body["problem"]["type"], "urn:uitpas-checkout:problem:permission-missing",
        "rejected with the problem that stopped it: {}",
        abandoned.body
    );
    app.drain().await;
    assert_eq!(read(&app, &id).await["status"], "rejected");
    assert_eq!(app.upstream_calls("post-rewards-redeemed").await, sends, "nothing sent");
    assert_eq!(app.upstream_calls("get-rewards-redeemed").await, looks, "nothing read");
    assert!(at_uitpas(&app).await.0.is_empty(), "nothing at UiTPAS");
    let again = post(&app, &format!("/v1/reward-redemptions/{id}/abandon")).await;
    again.assert_problem(409, "urn:uitpas-checkout:problem:not-needing-attention");
}

#[tokio::test]
async fn abandoning_a_redemption_uitpas_holds_after_a_lost_answer_cancels_it_there() {
    let app = app().await;
    // UiTPAS makes it, the answer is lost; then the service may neither read nor redeem.
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "drop-after-commit", "times": 1}))
        .await;
    let answer = redeem(&app, "lost", "order-lost").await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    common::hooks::grant_rewards(&app.sandbox, false, false).await;
    app.drain_until("the look is refused and parked", Duration::from_secs(20), async || {
        read(&app, &id).await["status"] == "needs-attention"
    })
    .await;
    assert_eq!(at_uitpas(&app).await.1.len(), 1, "UiTPAS holds it");

    // Abandoned while UiTPAS may hold it: never declared rejected, never sent again.
    let abandoned = post(&app, &format!("/v1/reward-redemptions/{id}/abandon")).await;
    assert_eq!(abandoned.status, 202, "{}", abandoned.body);
    assert_eq!(abandoned.body["status"], "pending");
    app.drain().await;
    assert_eq!(
        read(&app, &id).await["status"],
        "needs-attention",
        "UiTPAS still cannot be read"
    );
    let twice = post(&app, &format!("/v1/reward-redemptions/{id}/abandon")).await;
    twice.assert_problem(409, "urn:uitpas-checkout:problem:abandoned-unsettled");
    assert_ne!(read(&app, &id).await["status"], "rejected");

    // Once UiTPAS can be read again, a retry settles it: found, and cancelled there.
    common::hooks::grant_rewards(&app.sandbox, true, true).await;
    let retried = post(&app, &format!("/v1/reward-redemptions/{id}/retry")).await;
    assert_eq!(retried.status, 202, "{}", retried.body);
    app.drain_until("what UiTPAS held is cancelled", Duration::from_secs(20), async || {
        read(&app, &id).await["status"] == "cancelled"
    })
    .await;
    let (all, live) = at_uitpas(&app).await;
    assert_eq!(all.len(), 1, "made once: {all:?}");
    assert!(live.is_empty(), "the points came back: {all:?}");
    assert_eq!(read(&app, &id).await["uitpasRedemptionId"], all[0]["id"]);
    assert_eq!(app.upstream_calls("post-rewards-redeemed").await, 1, "never sent again");
}

/// A browser of the console: no redirects followed, the session cookie kept by hand.
struct Operator<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookie: String,
}

impl<'a> Operator<'a> {
    async fn log_in(app: &'a TestApp) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let answer = http
            .post(app.url("/console/login"))
            .form(&[("key", OPERATOR_KEY)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let set = answer.headers()[header::SET_COOKIE].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();
        Operator { app, http, cookie }
    }

    async fn get(&self, path: &str) -> String {
        let answer = self
            .http
            .get(self.app.url(path))
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        answer.text().await.unwrap()
    }

    /// POSTs a form with the session's CSRF token: where it leads.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> String {
        let page = self.get("/console/work").await;
        let at = page.find(r#"name="csrf" value=""#).expect("a form with the token") + 19;
        let mut fields = vec![("csrf", &page[at..at + 64])];
        fields.extend_from_slice(form);
        let answer = self
            .http
            .post(self.app.url(path))
            .header(header::COOKIE, &self.cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{path}");
        answer.headers()[header::LOCATION].to_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn an_operator_abandons_a_parked_redemption_after_a_confirmation_and_sees_it_per_order() {
    let app = app().await;
    let operator = Operator::log_in(&app).await;
    let id = parked_for_permission(&app, "console-abandon").await;
    let work = operator.get("/console/work").await;
    let start = work.find(&format!(r#"data-subject="{id}""#)).expect("on the work list");
    let row = &work[start..start + work[start..].find("</tr>").unwrap()];
    assert!(row.contains(r#"data-testid="abandon""#), "{row}");

    let job = [("kind", "redeem_reward"), ("subject", id.as_str())];
    let asked = operator.post("/console/work/abandon", &job).await;
    assert_eq!(asked, format!("/console/work/abandon?kind=redeem_reward&subject={id}"));
    assert_eq!(
        read(&app, &id).await["status"],
        "needs-attention",
        "not abandoned unconfirmed"
    );
    let confirm = operator.get(&asked).await;
    assert!(
        confirm.contains("reward_redemption.rejected"),
        "says what it does: {confirm}"
    );
    let done = operator
        .post("/console/work/abandon", &[job[0], job[1], ("confirm", "yes")])
        .await;
    assert_eq!(done, "/console/work?done=abandoned");
    assert_eq!(read(&app, &id).await["status"], "rejected");
    let after = operator.get("/console/work").await;
    assert!(!after.contains(&format!(r#"data-subject="{id}""#)), "off the work list");

    // Per order reference: a redemption names no event.
    let rewards = operator.get("/console/rewards").await;
    let start = rewards.find(r#"data-order="order-parked""#).expect("its order listed");
    let row = &rewards[start..start + rewards[start..].find("</tr>").unwrap()];
    assert!(row.contains(r#"data-testid="rejected">1<"#), "{row}");
    assert!(rewards.contains("orderId"), "explained why per order");
}

#[tokio::test]
async fn the_console_reconciles_a_customers_redemptions_with_uitpas_and_changes_nothing() {
    let app = app().await;
    let operator = Operator::log_in(&app).await;
    let kept = redeem(&app, "kept", "order-1").await;
    assert_eq!(kept.status, 201, "{}", kept.body);
    let cancelled_there = redeem(&app, "cancelled-there", "order-2").await;
    assert_eq!(cancelled_there.status, 201, "{}", cancelled_there.body);
    let gone = cancelled_there.body["uitpasRedemptionId"].as_str().unwrap().to_owned();
    // At UiTPAS directly, as another till would: one of ours cancelled, one more redeemed.
    let token = common::sandbox_token(&app.http, &app.sandbox.base_url(), "test-client").await;
    common::sandbox_call(
        &app.sandbox,
        Method::DELETE,
        &format!("/rewards/redeemed/{gone}"),
        Some(&token),
        None,
    )
    .await;
    let made = common::sandbox_call(
        &app.sandbox,
        Method::POST,
        "/rewards/redeemed",
        Some(&token),
        Some(&json!({"rewardId": POINTS_REWARD, "uitpasNumber": POINTS_PASS})),
    )
    .await;
    let unknown = made["id"].as_str().expect("UiTPAS's id").to_owned();
    let before = at_uitpas(&app).await.0;

    let customer = app.customers.default_customer().id.to_string();
    let report = operator
        .post("/console/rewards/reconciliation", &[("customer", customer.as_str())])
        .await;
    assert!(report.starts_with("/console/rewards/reconciliation/"), "{report}");
    let page = until("the reconciliation ends", Duration::from_secs(20), async || {
        let page = operator.get(&report).await;
        (!page.contains(r#"data-status="running""#)).then_some(page)
    })
    .await;
    assert!(page.contains(r#"data-status="complete""#), "{page}");
    let kind_of = |uitpas: &str| {
        let at = page
            .find(&format!(r#"data-uitpas-id="{uitpas}""#))
            .expect("a line of it");
        let start = page[..at].rfind("<tr").unwrap();
        page[start..at].to_owned()
    };
    assert!(kind_of(&gone).contains(r#"data-kind="redeemed_here_only""#), "{page}");
    assert!(kind_of(&unknown).contains(r#"data-kind="unknown_here""#), "{page}");
    let kept_id = kept.body["uitpasRedemptionId"].as_str().unwrap();
    assert!(kind_of(kept_id).contains(r#"data-kind="matched""#), "{page}");
    assert!(page.contains(r#"data-testid="count-redeemed_here_only">1<"#), "{page}");
    assert!(page.contains(r#"data-testid="count-unknown_here">1<"#), "{page}");
    assert!(page.contains(r#"data-testid="count-cancelled_here_only">0<"#), "{page}");
    assert!(!page.contains(POINTS_PASS), "a full UiTPAS number on the page");
    // Read-only: nothing changed here or at UiTPAS.
    let ours = cancelled_there.body["id"].as_str().unwrap();
    assert_eq!(read(&app, ours).await["status"], "redeemed");
    assert_eq!(at_uitpas(&app).await.0, before);
    let list = operator.get("/console/rewards/reconciliation").await;
    assert!(
        list.contains(&report["/console/rewards/reconciliation/".len()..]),
        "listed"
    );
}
