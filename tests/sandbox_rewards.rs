//! Black-box tests of the sandbox's rewards ("pay with UiTPAS points"): every test starts its own
//! sandbox in-process on a free port and talks to it over real HTTP. Every answer of a UiTPAS
//! operation, errors included, is validated against the schema publiq's OpenAPI document declares
//! for it. What is tested is what README.md ("The sandbox", "The dataset") promises of rewards.

mod common;

use std::time::Duration;

use common::contract::Contract;
use common::sandbox_client::{Auth, Body, Reply, SandboxClient, uitpas_problem};
use reqwest::Method;
use serde_json::{Value, json};

const TEST_ORGANIZER: &str = "0ce87cbc-9299-4528-8d35-92225dc9489f";
const OTHER_ORGANIZER: &str = "6f1a8c3e-2b4d-4e7f-9a0b-c5d6e7f8a9b0";

/// The passes "for points rewards" of publiq's dataset: 100 and 40 points at start.
const RICH: &str = "0900000095902";
const ACTIVE_GENT: &str = "0900000067513";
/// No points at all.
const NO_POINTS: &str = "1000000520006";
const BLOCKED: &str = "0900000002312";
const GROUP: &str = "0900000045410";
const UNREGISTERED: &str = "0900000074519";
const NOT_LUHN: &str = "0900000067514";

const COFFEE: &str = "5687"; // 10 points, no restrictions
const WELCOME: &str = "5688";
const WEEKLY: &str = "5823"; // 5 points, once a week per passholder
const ONLINE: &str = "5824"; // 3 points, 10 a day in total, with a code
const EXPIRED: &str = "5825";
const EXPIRED_WELCOME: &str = "5826";

const FORBIDDEN: &str = "https://api.publiq.be/probs/auth/forbidden";
const UNAUTHORIZED: &str = "https://api.publiq.be/probs/auth/unauthorized";
const INVALID_DATA: &str = "https://api.publiq.be/probs/body/invalid-data";
const NOT_FOUND_URL: &str = "https://api.publiq.be/probs/url/not-found";

/// The client of the dataset that may read and redeem rewards.
const REWARDS_CLIENT: (&str, &str) = ("uitpas-checkout-sandbox", "sandbox");

/// The sandbox, as the rewards' client calls it.
type Sandbox = SandboxClient;

impl Sandbox {
    async fn start() -> Self {
        SandboxClient::spawn(Duration::from_secs(86_400), REWARDS_CLIENT).await
    }

    /// A UiTPAS operation as `token`'s client, its answer checked against the contract.
    async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let auth = token.map_or(Auth::Missing, Auth::Bearer);
        self.call(Contract::uitpas(), method, template, path, body.into(), auth)
            .await
    }

    async fn op(&self, method: Method, template: &str, path: &str, body: Option<Value>) -> Reply {
        self.call_as(Some(&self.token), method, template, path, body).await
    }

    async fn rewards(&self, query: &str) -> Reply {
        self.op(Method::GET, "/rewards", &format!("/rewards?{query}"), None)
            .await
    }

    async fn reward(&self, id: &str) -> Reply {
        self.op(Method::GET, "/rewards/{rewardId}", &format!("/rewards/{id}"), None)
            .await
    }

    async fn status(&self, id: &str, number: &str) -> Reply {
        let path = format!("/rewards/{id}/redeem-status?uitpasNumber={number}");
        self.op(Method::GET, "/rewards/{rewardId}/redeem-status", &path, None)
            .await
    }

    /// The reason a pass may not redeem a reward now (`None`: it may).
    async fn reason(&self, id: &str, number: &str) -> Option<String> {
        let reply = self.status(id, number).await;
        let body = reply.expect_status(200);
        let redeemable = body["redeemable"].as_bool().expect("redeemable");
        assert_eq!(redeemable, body.get("reason").is_none(), "{body}");
        if !redeemable {
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        }
        body["reason"].as_str().map(str::to_owned)
    }

    async fn redeem(&self, id: &str, number: &str) -> Reply {
        let body = json!({ "rewardId": id, "uitpasNumber": number });
        self.op(Method::POST, "/rewards/redeemed", "/rewards/redeemed", Some(body))
            .await
    }

    /// Redeems what must be accepted; returns the redeemed reward.
    async fn redeem_ok(&self, id: &str, number: &str) -> Value {
        self.redeem(id, number).await.expect_status(201).clone()
    }

    async fn redeemed(&self, query: &str) -> Reply {
        let path = format!("/rewards/redeemed?{query}");
        self.op(Method::GET, "/rewards/redeemed", &path, None).await
    }

    async fn cancel(&self, id: &str) -> Reply {
        let path = format!("/rewards/redeemed/{id}");
        self.op(Method::DELETE, "/rewards/redeemed/{redeemedRewardId}", &path, None)
            .await
    }

    /// The balance as `GET /passes` shows it, which the test hook must agree with.
    async fn points(&self, number: &str) -> i64 {
        let reply = self
            .op(Method::GET, "/passes", &format!("/passes?identifier={number}"), None)
            .await;
        let shown = reply.expect_status(200)["points"].as_i64().expect("points");
        let hook = self
            .control(Method::GET, &format!("/_sandbox/passes/{number}/points"), Body::None)
            .await;
        assert_eq!(
            hook.expect_status(200)["points"],
            json!(shown),
            "the hook agrees with GET /passes"
        );
        shown
    }

    async fn set_points(&self, number: &str, points: i64) {
        let path = format!("/_sandbox/passes/{number}/points");
        let reply = self
            .control(Method::PUT, &path, Body::Json(json!({ "points": points })))
            .await;
        assert_eq!(reply.expect_status(200)["points"], json!(points));
    }

    async fn ledger(&self) -> Vec<Value> {
        let reply = self
            .control(Method::GET, "/_sandbox/rewards/redeemed", Body::None)
            .await;
        reply.expect_status(200)["redeemedRewards"]
            .as_array()
            .expect("a list")
            .clone()
    }

    async fn fault(&self, fault: Value) {
        self.put_fault(fault).await.expect_status(200);
    }
}

fn ids(body: &Value) -> Vec<&str> {
    body["member"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["id"].as_str().expect("an id"))
        .collect()
}

#[tokio::test]
async fn the_listing_shows_published_points_rewards_by_default_and_honours_its_filters() {
    let sb = Sandbox::start().await;
    let all = sb.rewards("").await;
    let body = all.expect_status(200);
    assert_eq!(
        (body["totalItems"].clone(), ids(body)),
        (json!(3), vec![COFFEE, WEEKLY, ONLINE])
    );
    let costs: Vec<i64> = body["member"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["points"].as_i64().unwrap())
        .collect();
    assert_eq!(costs, [10, 5, 3]);
    assert_eq!(
        body["member"][1]["redeemConstraint"],
        json!({ "volume": 1, "period": "WEEK" })
    );
    assert_eq!(body["member"][2]["online"], true);

    assert_eq!(ids(sb.rewards("type=WELCOME").await.expect_status(200)), [WELCOME]);
    assert_eq!(
        ids(sb.rewards("type=ANY").await.expect_status(200)),
        [COFFEE, WELCOME, WEEKLY, ONLINE]
    );
    assert_eq!(
        ids(sb
            .rewards(&format!("organizerId={TEST_ORGANIZER}"))
            .await
            .expect_status(200))
        .len(),
        3
    );
    let other = sb.rewards(&format!("organizerId={OTHER_ORGANIZER}&type=ANY")).await;
    assert_eq!(other.expect_status(200)["totalItems"], 0);
    let page = sb.rewards("start=1&limit=1").await;
    assert_eq!(
        (page.expect_status(200)["totalItems"].clone(), ids(&page.body)),
        (json!(3), vec![WEEKLY])
    );

    sb.rewards("type=SOME").await.expect_problem(400, INVALID_DATA);
    sb.rewards("limit=501")
        .await
        .expect_problem(400, "https://api.publiq.be/probs/url/query-limit-exceeded");
    let unknown = format!("organizerId={}", uuid::Uuid::new_v4());
    sb.rewards(&unknown)
        .await
        .expect_domain_problem(400, "organizer-not-found");
}

#[tokio::test]
async fn a_reward_is_found_by_its_id_expired_ones_too_and_an_unknown_one_is_404() {
    let sb = Sandbox::start().await;
    let coffee = sb.reward(COFFEE).await;
    assert_eq!(
        (coffee.expect_status(200)["type"].clone(), coffee.body["points"].clone()),
        (json!("POINTS"), json!(10))
    );
    let welcome = sb.reward(WELCOME).await;
    assert_eq!(
        (
            welcome.expect_status(200)["type"].clone(),
            welcome.body["points"].clone()
        ),
        (json!("WELCOME"), json!(0))
    );
    for expired in [EXPIRED, EXPIRED_WELCOME] {
        let reply = sb.reward(expired).await;
        let end = reply.expect_status(200)["grantingPeriod"]["end"]
            .as_str()
            .expect("an end");
        assert!(end < chrono::Utc::now().to_rfc3339().as_str(), "{end} is past");
    }
    sb.reward("9999").await.expect_domain_problem(404, "reward-not-found");
}

#[tokio::test]
async fn the_redeem_status_gives_each_reason_where_it_applies() {
    let sb = Sandbox::start().await;
    assert_eq!(sb.reason(COFFEE, RICH).await, None);
    assert_eq!(
        sb.reason(WELCOME, NO_POINTS).await,
        None,
        "a welcome reward costs nothing"
    );
    assert_eq!(sb.reason(COFFEE, NO_POINTS).await.as_deref(), Some("PASSHOLDER_POINTS"));
    assert_eq!(sb.reason(EXPIRED, RICH).await.as_deref(), Some("REWARD_PERIOD"));
    assert_eq!(sb.reason(EXPIRED_WELCOME, RICH).await.as_deref(), Some("REWARD_PERIOD"));
    assert_eq!(sb.reason(COFFEE, BLOCKED).await.as_deref(), Some("INVALID_CARD"));
    assert_eq!(sb.reason(WELCOME, GROUP).await.as_deref(), Some("INVALID_CARD"));
    sb.redeem_ok(WEEKLY, RICH).await;
    assert_eq!(sb.reason(WEEKLY, RICH).await.as_deref(), Some("PASSHOLDER_VOLUME"));
    assert_eq!(sb.reason(WEEKLY, ACTIVE_GENT).await, None, "per passholder");
    for _ in 0..10 {
        sb.redeem_ok(ONLINE, RICH).await;
    }
    assert_eq!(sb.reason(ONLINE, ACTIVE_GENT).await.as_deref(), Some("REWARD_VOLUME"));

    sb.status(COFFEE, NOT_LUHN)
        .await
        .expect_domain_problem(400, "invalid-uitpas-number");
    sb.status(COFFEE, UNREGISTERED)
        .await
        .expect_domain_problem(400, "passholder-not-found");
    sb.status("9999", RICH)
        .await
        .expect_domain_problem(404, "reward-not-found");
}

#[tokio::test]
async fn redeeming_pays_the_points_and_cancelling_gives_them_back() {
    let sb = Sandbox::start().await;
    assert_eq!((sb.points(RICH).await, sb.points(ACTIVE_GENT).await), (100, 40));
    let redeemed = sb.redeem_ok(COFFEE, RICH).await;
    let id = redeemed["id"].as_str().expect("an id").to_owned();
    assert_eq!(redeemed["reward"]["id"], COFFEE);
    assert!(redeemed["redeemDate"].is_string() && redeemed.get("redeemCode").is_none());
    assert_eq!(sb.points(RICH).await, 90);

    let listed = sb.redeemed(&format!("uitpasNumber={RICH}")).await;
    assert_eq!(
        (listed.expect_status(200)["totalItems"].clone(), ids(&listed.body)),
        (json!(1), vec![id.as_str()])
    );

    sb.cancel(&id).await.expect_status(204);
    assert_eq!(sb.points(RICH).await, 100);
    sb.cancel(&id).await.expect_problem(404, NOT_FOUND_URL);
    sb.cancel("no-such-redemption").await.expect_problem(404, NOT_FOUND_URL);
    assert_eq!(
        sb.redeemed(&format!("uitpasNumber={RICH}")).await.expect_status(200)["totalItems"],
        0
    );
    let ledger = sb.ledger().await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(
        (ledger[0]["id"].as_str(), ledger[0]["rewardId"].as_str()),
        (Some(id.as_str()), Some(COFFEE))
    );
    assert_eq!(ledger[0]["uitpasNumber"], RICH);
    assert!(
        ledger[0]["redeemDate"].is_string() && ledger[0]["cancelledAt"].is_string(),
        "{ledger:?}"
    );
}

#[tokio::test]
async fn the_weekly_reward_once_and_expired_rewards_never_are_redeemed() {
    let sb = Sandbox::start().await;
    sb.redeem_ok(WEEKLY, RICH).await;
    let kind = uitpas_problem("reward-passholder-volume-constraint");
    sb.redeem(WEEKLY, RICH).await.expect_problem(400, &kind);
    for expired in [EXPIRED, EXPIRED_WELCOME] {
        sb.redeem(expired, RICH)
            .await
            .expect_domain_problem(400, "reward-period-constraint");
    }
    assert_eq!(sb.points(RICH).await, 95, "only the first weekly reward was paid");
    assert_eq!(sb.ledger().await.len(), 1);
}

#[tokio::test]
async fn group_passes_blocked_cards_and_unknown_passes_or_rewards_cannot_redeem() {
    let sb = Sandbox::start().await;
    sb.redeem(WELCOME, GROUP)
        .await
        .expect_domain_problem(400, "invalid-card");
    sb.redeem(COFFEE, BLOCKED)
        .await
        .expect_domain_problem(400, "invalid-card");
    sb.redeem(COFFEE, NOT_LUHN)
        .await
        .expect_domain_problem(400, "invalid-uitpas-number");
    sb.redeem(COFFEE, UNREGISTERED)
        .await
        .expect_domain_problem(400, "passholder-not-found");
    sb.redeem("9999", RICH)
        .await
        .expect_domain_problem(400, "reward-not-found");
    let missing = sb
        .op(
            Method::POST,
            "/rewards/redeemed",
            "/rewards/redeemed",
            Some(json!({ "rewardId": COFFEE })),
        )
        .await;
    missing.expect_problem(400, INVALID_DATA);
    assert!(sb.ledger().await.is_empty());
}

#[tokio::test]
async fn a_balance_too_small_is_refused_and_a_balance_set_by_the_hook_decides() {
    let sb = Sandbox::start().await;
    sb.set_points(RICH, 9).await;
    sb.redeem(COFFEE, RICH)
        .await
        .expect_domain_problem(400, "reward-passholder-points-constraint");
    sb.set_points(RICH, 10).await;
    sb.redeem_ok(COFFEE, RICH).await;
    assert_eq!(sb.points(RICH).await, 0);
    let bad = sb
        .control(
            Method::PUT,
            &format!("/_sandbox/passes/{RICH}/points"),
            Body::Json(json!({ "points": -1 })),
        )
        .await;
    bad.expect_status(400);
    let unknown = sb
        .control(
            Method::PUT,
            &format!("/_sandbox/passes/{UNREGISTERED}/points"),
            Body::Json(json!({ "points": 1 })),
        )
        .await;
    unknown.expect_status(404);
}

#[tokio::test]
async fn the_online_reward_gives_a_code_and_allows_ten_a_day_for_all_passes_together() {
    let sb = Sandbox::start().await;
    for i in 0..10 {
        let redeemed = sb.redeem_ok(ONLINE, if i < 5 { RICH } else { ACTIVE_GENT }).await;
        assert!(
            redeemed["redeemCode"].as_str().is_some_and(|c| !c.is_empty()),
            "{redeemed}"
        );
        assert!(redeemed["redeemInfo"]["link"].is_string(), "{redeemed}");
    }
    sb.redeem(ONLINE, RICH)
        .await
        .expect_domain_problem(400, "reward-volume-constraint");
    let online = sb.reward(ONLINE).await;
    assert_eq!(
        (
            online.expect_status(200)["unitsTaken"].clone(),
            online.body["maxAvailableUnits"].clone()
        ),
        (json!(10), json!(10))
    );
    assert_eq!((sb.points(RICH).await, sb.points(ACTIVE_GENT).await), (85, 25));
}

#[tokio::test]
async fn the_redeemed_list_wants_exactly_one_of_uitpas_number_and_passholder_id() {
    let sb = Sandbox::start().await;
    let coffee = sb.redeem_ok(COFFEE, RICH).await;
    let welcome = sb.redeem_ok(WELCOME, RICH).await;
    let holder = sb
        .op(Method::GET, "/passes", &format!("/passes?identifier={RICH}"), None)
        .await
        .expect_status(200)["passholderId"]
        .as_str()
        .expect("a passholder")
        .to_owned();

    let newest_first = vec![welcome["id"].as_str().unwrap(), coffee["id"].as_str().unwrap()];
    assert_eq!(
        ids(sb.redeemed(&format!("uitpasNumber={RICH}")).await.expect_status(200)),
        newest_first
    );
    let by_holder = sb
        .redeemed(&format!("passholderId={holder}&organizerId={TEST_ORGANIZER}"))
        .await;
    assert_eq!(ids(by_holder.expect_status(200)), newest_first);
    let points_only = sb.redeemed(&format!("uitpasNumber={RICH}&rewardType=POINTS")).await;
    assert_eq!(ids(points_only.expect_status(200)), [coffee["id"].as_str().unwrap()]);
    let paged = sb.redeemed(&format!("uitpasNumber={RICH}&start=1&limit=1")).await;
    assert_eq!(
        (paged.expect_status(200)["totalItems"].clone(), ids(&paged.body)),
        (json!(2), vec![newest_first[1]])
    );
    assert_eq!(
        sb.redeemed(&format!("uitpasNumber={ACTIVE_GENT}"))
            .await
            .expect_status(200)["totalItems"],
        0
    );

    sb.redeemed(&format!(
        "uitpasNumber={RICH}&passholderId={holder}&organizerId={TEST_ORGANIZER}"
    ))
    .await
    .expect_problem(400, INVALID_DATA);
    sb.redeemed("").await.expect_problem(400, INVALID_DATA);
    sb.redeemed(&format!("passholderId={holder}"))
        .await
        .expect_problem(400, INVALID_DATA);
    sb.redeemed(&format!("uitpasNumber={NOT_LUHN}"))
        .await
        .expect_domain_problem(400, "invalid-uitpas-number");
}

#[tokio::test]
async fn a_client_without_the_rewards_permissions_is_403_and_redeems_nothing() {
    let sb = Sandbox::start().await;
    let redeemed = sb.redeem_ok(COFFEE, RICH).await;
    let id = redeemed["id"].as_str().unwrap();
    for (client, secret) in [
        ("sandbox-no-register", "sandbox-nr"),
        ("sandbox-customer-b", "sandbox-b"),
    ] {
        let token = sb.token_of(client, secret).await;
        let t = Some(token.as_str());
        let body = json!({ "rewardId": COFFEE, "uitpasNumber": RICH });
        sb.call_as(t, Method::POST, "/rewards/redeemed", "/rewards/redeemed", Some(body))
            .await
            .expect_problem(403, FORBIDDEN);
        let status = format!("/rewards/{COFFEE}/redeem-status?uitpasNumber={RICH}");
        sb.call_as(t, Method::GET, "/rewards/{rewardId}/redeem-status", &status, None)
            .await
            .expect_problem(403, FORBIDDEN);
        let cancel = format!("/rewards/redeemed/{id}");
        sb.call_as(t, Method::DELETE, "/rewards/redeemed/{redeemedRewardId}", &cancel, None)
            .await
            .expect_problem(403, FORBIDDEN);
        sb.call_as(
            t,
            Method::GET,
            "/rewards/{rewardId}",
            &format!("/rewards/{COFFEE}"),
            None,
        )
        .await
        .expect_problem(403, FORBIDDEN);
        // Searching rewards needs no permission.
        sb.call_as(t, Method::GET, "/rewards", "/rewards", None)
            .await
            .expect_status(200);
    }
    let no_register = sb.token_of("sandbox-no-register", "sandbox-nr").await;
    let list = format!("/rewards/redeemed?uitpasNumber={RICH}");
    sb.call_as(Some(&no_register), Method::GET, "/rewards/redeemed", &list, None)
        .await
        .expect_problem(403, FORBIDDEN);
    assert_eq!(sb.ledger().await.len(), 1);
    assert!(
        sb.ledger().await[0]["cancelledAt"].is_null(),
        "not cancelled by a forbidden call"
    );
    assert_eq!(sb.points(RICH).await, 90);
}

#[tokio::test]
async fn the_reward_operations_need_a_token() {
    let sb = Sandbox::start().await;
    let calls = [
        (Method::GET, "/rewards", "/rewards".to_owned(), None),
        (Method::GET, "/rewards/{rewardId}", format!("/rewards/{COFFEE}"), None),
        (
            Method::GET,
            "/rewards/{rewardId}/redeem-status",
            format!("/rewards/{COFFEE}/redeem-status?uitpasNumber={RICH}"),
            None,
        ),
        (
            Method::POST,
            "/rewards/redeemed",
            "/rewards/redeemed".to_owned(),
            Some(json!({ "rewardId": COFFEE, "uitpasNumber": RICH })),
        ),
        (
            Method::GET,
            "/rewards/redeemed",
            format!("/rewards/redeemed?uitpasNumber={RICH}"),
            None,
        ),
        (
            Method::DELETE,
            "/rewards/redeemed/{redeemedRewardId}",
            "/rewards/redeemed/x".to_owned(),
            None,
        ),
    ];
    for (method, template, path, body) in calls {
        sb.call_as(None, method, template, &path, body)
            .await
            .expect_problem(401, UNAUTHORIZED);
    }
    assert!(sb.ledger().await.is_empty());
}

#[tokio::test]
async fn a_redemption_whose_answer_is_lost_is_made_and_found_in_the_redeemed_list() {
    let sb = Sandbox::start().await;
    sb.fault(json!({ "operation": "post-rewards-redeemed", "mode": "drop-after-commit", "times": 1 }))
        .await;
    let body = json!({ "rewardId": COFFEE, "uitpasNumber": RICH });
    let lost = sb
        .try_send(Method::POST, "/rewards/redeemed", Body::Json(body), Auth::Issued)
        .await;
    assert!(lost.is_err(), "no answer expected, got {lost:?}");

    let listed = sb.redeemed(&format!("uitpasNumber={RICH}")).await;
    assert_eq!(listed.expect_status(200)["totalItems"], 1);
    assert_eq!(listed.body["member"][0]["reward"]["id"], COFFEE);
    assert_eq!(sb.ledger().await.len(), 1);
    assert_eq!(sb.points(RICH).await, 90);
}

#[tokio::test]
async fn every_reward_operation_counts_under_its_operation_id_and_an_error_fault_redeems_nothing() {
    let sb = Sandbox::start().await;
    let ops = [
        "get-rewards",
        "get-rewards-id",
        "get-rewards-id-redeem-status",
        "post-rewards-redeemed",
        "get-rewards-redeemed",
        "delete-rewards-redeemed-redeemedRewardId",
    ];
    let before = sb.stats().await;
    for op in ops {
        assert_eq!(before[op], 0, "{op}");
    }
    sb.rewards("").await.expect_status(200);
    sb.reward(COFFEE).await.expect_status(200);
    sb.status(COFFEE, RICH).await.expect_status(200);
    let id = sb.redeem_ok(COFFEE, RICH).await["id"].as_str().unwrap().to_owned();
    sb.redeemed(&format!("uitpasNumber={RICH}")).await.expect_status(200);
    sb.cancel(&id).await.expect_status(204);
    sb.cancel(&id).await.expect_status(404);
    let after = sb.stats().await;
    let counts: Vec<u64> = ops.iter().map(|op| after[op].as_u64().unwrap()).collect();
    assert_eq!(counts, [1, 1, 1, 1, 1, 2]);

    sb.fault(json!({ "operation": "post-rewards-redeemed", "mode": "error", "status": 503, "times": 1 }))
        .await;
    let body = json!({ "rewardId": COFFEE, "uitpasNumber": RICH });
    let failed = sb
        .try_send(Method::POST, "/rewards/redeemed", Body::Json(body), Auth::Issued)
        .await
        .unwrap();
    assert_eq!(failed.status, 503);
    assert_eq!(sb.ledger().await.len(), 1, "only the first, cancelled");
    assert_eq!(sb.points(RICH).await, 100);
}

#[tokio::test]
async fn a_stored_sandbox_remembers_redemptions_cancellations_and_balances_after_a_restart() {
    let db = common::TestDatabase::create().await;
    let start = || async {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("the test database");
        let stored = uitpas_checkout::sandbox::Sandbox::stored(Duration::from_secs(86_400), pool)
            .await
            .expect("the stored sandbox opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        Sandbox::on(
            uitpas_checkout::sandbox::spawn_on(listener, stored).expect("it serves"),
            REWARDS_CLIENT,
        )
        .await
    };
    let sb = start().await;
    let kept = sb.redeem_ok(WEEKLY, RICH).await["id"].as_str().unwrap().to_owned();
    let cancelled = sb.redeem_ok(COFFEE, RICH).await["id"].as_str().unwrap().to_owned();
    sb.cancel(&cancelled).await.expect_status(204);
    sb.set_points(ACTIVE_GENT, 7).await;
    let ledger = sb.ledger().await;
    sb.running.shutdown().await;

    let sb = start().await;
    assert_eq!((sb.points(RICH).await, sb.points(ACTIVE_GENT).await), (95, 7));
    assert_eq!(sb.ledger().await, ledger);
    assert_eq!(
        ids(sb.redeemed(&format!("uitpasNumber={RICH}")).await.expect_status(200)),
        [kept.as_str()]
    );
    assert_eq!(sb.reason(WEEKLY, RICH).await.as_deref(), Some("PASSHOLDER_VOLUME"));
    sb.cancel(&cancelled).await.expect_problem(404, NOT_FOUND_URL);
    sb.running.shutdown().await;
}
