//! Black-box tests of the console's rewards page (`/console/rewards`) and of parked redemptions on
//! its work list: redemptions made through the shop's API (redeemed, pending after a lost answer,
//! refused by UiTPAS, waiting for a person after a refused permission), read as an operator. The
//! app runs against a sandbox over HTTP and a real PostgreSQL.

mod common;

use common::TestApp;
use common::fixtures::{ACTIVE_PASS, TEST_EVENT, order, with};
use reqwest::{Method, StatusCode, header};
use serde_json::json;
use uitpas_checkout::config::{Secret, SecretList};
use uitpas_checkout::domain::mask;

const OPERATOR_KEY: &str = "operator-key-0123456789";
/// publiq's test dataset: a pass "for points rewards", and its rewards.
const POINTS_PASS: &str = "0900000095902";
/// A points reward without restrictions.
const POINTS_REWARD: &str = "5687";
/// A points reward of at most one per week per passholder.
const WEEKLY_REWARD: &str = "5823";
/// An expired points reward: UiTPAS refuses it.
const EXPIRED_REWARD: &str = "5825";

async fn app() -> TestApp {
    TestApp::spawn_configured(|c| {
        c.operator_keys = Some(SecretList(vec![Secret::new(OPERATOR_KEY)]));
    })
    .await
}

/// A browser of the console: no redirects followed, the session cookie kept by hand.
struct Operator<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookie: String,
}

struct Page {
    status: StatusCode,
    location: String,
    text: String,
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

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let response = request
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .expect("the app answers");
        Page {
            status: response.status(),
            location: response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let page = self.send(self.http.get(self.app.url(path))).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
        page
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(self.http.post(self.app.url(path)).form(form)).await
    }

    /// The CSRF token of the session, from a page's forms.
    async fn csrf(&self) -> String {
        let page = self.get("/console/work").await;
        let at = page.text.find(r#"name="csrf" value=""#).expect("a form with the token") + 19;
        page.text[at..at + 64].to_owned()
    }
}

async fn redeem(app: &TestApp, key: &str, reward: &str) -> common::Answer {
    app.shop(
        Method::POST,
        "/v1/reward-redemptions",
        Some(json!({"rewardId": reward, "uitpasNumber": POINTS_PASS})),
        &[("idempotency-key", key)],
    )
    .await
}

/// The HTML of the element that starts at the first `marker` (an attribute), to its row's end.
fn row<'p>(text: &'p str, marker: &str) -> &'p str {
    let start = text.find(marker).unwrap_or_else(|| panic!("{marker} on the page"));
    let end = text[start..].find("</tr>").expect("the row ends") + start;
    &text[start..end]
}

/// How many rows of the latest redemptions the page shows.
fn listed(text: &str) -> usize {
    text.matches("data-redemption=").count()
}

/// One of each: redeemed, pending (a lost answer), rejected (an expired reward), and one waiting
/// for a person (publiq withdrew the permission to redeem): their ids in that order.
async fn four_redemptions(app: &TestApp) -> [String; 4] {
    common::set_points(&app.sandbox, POINTS_PASS, 1000).await;
    let redeemed = redeem(app, "redeemed", POINTS_REWARD).await;
    assert_eq!(redeemed.status, 201, "{}", redeemed.body);
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "drop-after-commit", "times": 1}))
        .await;
    let pending = redeem(app, "lost", WEEKLY_REWARD).await;
    assert_eq!(pending.status, 202, "{}", pending.body);
    assert_eq!(pending.body["status"], "pending");
    let rejected = redeem(app, "expired", EXPIRED_REWARD).await;
    assert_eq!(rejected.status, 400, "{}", rejected.body);
    let rejected = rejected.body["redemptionId"]
        .as_str()
        .expect("the redemption named")
        .to_owned();
    common::hooks::grant_rewards(&app.sandbox, false, true).await;
    let refused = redeem(app, "no-permission", POINTS_REWARD).await;
    let problem = refused.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    let parked = problem["redemptionId"].as_str().expect("the redemption named");
    let id = |a: &common::Answer| a.body["id"].as_str().expect("an id").to_owned();
    [id(&redeemed), id(&pending), rejected, parked.to_owned()]
}

#[tokio::test]
async fn the_rewards_page_tallies_each_reward_and_lists_the_latest_redemptions_with_masked_passes() {
    let app = app().await;
    let operator = Operator::log_in(&app).await;
    let empty = operator.get("/console/rewards").await;
    assert!(empty.text.contains("<h1>Beloningen</h1>"), "{}", empty.text);
    assert_eq!(listed(&empty.text), 0);
    let [redeemed, pending, rejected, parked] = four_redemptions(&app).await;
    let points = app
        .shop(Method::GET, &format!("/v1/reward-redemptions/{redeemed}"), None, &[])
        .await
        .body["points"]
        .as_f64()
        .expect("the points it cost");

    let page = operator.get("/console/rewards").await;
    assert!(!page.text.contains(POINTS_PASS), "a full UiTPAS number on the page");
    assert!(page.text.contains(&mask(POINTS_PASS)), "the masked number shown");
    // Per reward: the parked one is not settled yet, so it counts as pending.
    let tally = row(&page.text, &format!(r#"data-reward="{POINTS_REWARD}""#));
    assert!(tally.contains(r#"data-testid="redeemed">1<"#), "{tally}");
    assert!(tally.contains(r#"data-testid="pending">1<"#), "{tally}");
    assert!(tally.contains(r#"data-testid="rejected">0<"#), "{tally}");
    assert!(tally.contains(r#"data-testid="cancelled">0<"#), "{tally}");
    assert!(
        tally.contains(&format!(r#"data-testid="points">{points}<"#)),
        "{points} points spent: {tally}"
    );
    let weekly = row(&page.text, &format!(r#"data-reward="{WEEKLY_REWARD}""#));
    assert!(weekly.contains(r#"data-testid="pending">1<"#), "{weekly}");
    assert!(weekly.contains(r#"data-testid="points">0<"#), "{weekly}");
    let expired = row(&page.text, &format!(r#"data-reward="{EXPIRED_REWARD}""#));
    assert!(expired.contains(r#"data-testid="rejected">1<"#), "{expired}");
    // The latest, newest first, each with the status an operator reads.
    assert_eq!(listed(&page.text), 4);
    let order: Vec<usize> = [&parked, &rejected, &pending, &redeemed]
        .iter()
        .map(|id| page.text.find(&format!(r#"data-redemption="{id}""#)).expect("listed"))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "newest first: {order:?}");
    for (id, status) in [
        (&redeemed, "redeemed"),
        (&pending, "pending"),
        (&rejected, "rejected"),
        (&parked, "needs-attention"),
    ] {
        assert!(
            page.text
                .contains(&format!(r#"data-redemption="{id}" data-status="{status}""#)),
            "{id} is {status}"
        );
    }

    // Filtered by status, by a search, by customer.
    let attention = operator.get("/console/rewards?status=needs-attention").await;
    assert_eq!(listed(&attention.text), 1);
    assert!(attention.text.contains(&format!(r#"data-redemption="{parked}""#)));
    let found = operator.get(&format!("/console/rewards?q={pending}")).await;
    assert_eq!(listed(&found.text), 1);
    let customer = app.customers.default_customer().id;
    let own = operator.get(&format!("/console/rewards?customer={customer}")).await;
    assert_eq!(listed(&own.text), 4);
    let other = operator
        .get(&format!("/console/rewards?customer={}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(listed(&other.text), 0);
    assert!(!other.text.contains(r#"data-testid="per-reward""#));
    // In English too, and linked from the menu.
    let english = operator
        .http
        .get(app.url("/console/rewards"))
        .header(header::COOKIE, format!("{}; uc_console_lang=en", operator.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(english.status(), StatusCode::OK);
    let english = english.text().await.unwrap();
    assert!(english.contains("<h1>Rewards</h1>"), "{english}");
    assert!(english.contains(">needs attention<"), "{english}");
    let work = operator.get("/console/work").await;
    assert!(work.text.contains(r#"href="/console/rewards""#));
}

#[tokio::test]
async fn redemptions_made_with_an_order_are_tallied_per_event_of_its_sales_and_others_apart() {
    let app = app().await;
    let operator = Operator::log_in(&app).await;
    let order = with(
        order("order-with-a-reward", ACTIVE_PASS),
        json!({"rewards": [{"rewardId": POINTS_REWARD, "uitpasNumber": POINTS_PASS}]}),
    );
    let registered = app.register("order-with-a-reward", order).await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    assert_eq!(
        registered.body["rewards"][0]["redemption"]["status"], "redeemed",
        "{}",
        registered.body
    );
    let alone = redeem(&app, "on-its-own", WEEKLY_REWARD).await;
    assert_eq!(alone.status, 201, "{}", alone.body);

    let page = operator.get("/console/rewards").await;
    let per_event = &page.text[page
        .text
        .find(r#"data-testid="per-event""#)
        .expect("the per-event table")..];
    let event = row(per_event, &format!(r#"data-event="{TEST_EVENT}""#));
    assert!(event.contains(r#"data-testid="redeemed">1<"#), "{event}");
    assert!(event.contains(r#"data-testid="points">10<"#), "{event}");
    let apart = row(per_event, r#"data-event="""#);
    assert!(apart.contains(r#"data-testid="redeemed">1<"#), "{apart}");
    assert!(apart.contains("op zichzelf omgeruild"), "{apart}");
    // Of another customer: nothing.
    let other = operator
        .get(&format!("/console/rewards?customer={}", uuid::Uuid::new_v4()))
        .await;
    assert!(!other.text.contains(r#"data-testid="per-event""#));
}

#[tokio::test]
async fn a_redemption_waiting_for_a_person_is_on_the_work_list_and_an_operator_retries_it() {
    let app = app().await;
    let operator = Operator::log_in(&app).await;
    let [.., parked] = four_redemptions(&app).await;
    let work = operator.get("/console/work").await;
    assert!(!work.text.contains(POINTS_PASS), "a full UiTPAS number on the page");
    let attention = row(&work.text, &format!(r#"data-subject="{parked}""#));
    assert!(
        work.text.find(r#"data-testid="work-attention""#) < work.text.find(&format!(r#"data-subject="{parked}""#)),
        "among the work that needs attention"
    );
    assert!(attention.contains("beloning omruilen"), "{attention}");
    assert!(
        attention.contains(&format!(r#"href="/console/rewards?q={parked}#redemption-{parked}""#)),
        "linked to the redemption: {attention}"
    );
    assert!(attention.contains("REWARDS_REDEEM"), "explained: {attention}");
    assert!(attention.contains(r#"data-testid="abandon""#), "{attention}");
    // The link leads to it.
    let linked = operator.get(&format!("/console/rewards?q={parked}")).await;
    assert!(linked.text.contains(&format!(r#"id="redemption-{parked}""#)));

    // publiq grants the permission again; the operator retries.
    common::hooks::grant_rewards(&app.sandbox, true, true).await;
    let csrf = operator.csrf().await;
    let retried = operator
        .post(
            "/console/work/retry",
            &[("csrf", &csrf), ("kind", "redeem_reward"), ("subject", &parked)],
        )
        .await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER);
    assert_eq!(retried.location, "/console/work?done=retried");
    let after = operator.get("/console/work").await;
    assert!(
        !after.text.contains(r#"data-testid="work-attention""#),
        "nothing waits for a person any more"
    );
    let read = app
        .shop(Method::GET, &format!("/v1/reward-redemptions/{parked}"), None, &[])
        .await;
    assert_eq!(
        read.body["status"], "pending",
        "the worker settles it again: {}",
        read.body
    );
    let page = operator.get("/console/rewards").await;
    assert!(
        page.text
            .contains(&format!(r#"data-redemption="{parked}" data-status="pending""#)),
        "pending again after the retry"
    );
}
