//! Black-box tests of the door (issue 16): a pass looked up by UiTPAS number, chip number or INSZ
//! number; whether a ticket can be checked in now; a refund of a checked-in ticket undoing its
//! check-in at UiTPAS once. The app runs against the sandbox over HTTP and a real PostgreSQL.

mod common;

use common::service::Service;
use common::{Answer, SHOP_KEY, TEST_EVENT, TestApp, TestDatabase, TestOptions, read, sandbox_token};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;
use uitpas_checkout::config::{Secret, SecretList};
use uitpas_checkout::sandbox::{self, RunningSandbox, SandboxConfig};

const TEST_ORGANIZER: &str = "0ce87cbc-9299-4528-8d35-92225dc9489f";
const PLACE: &str = "85b04295-479c-40f5-b3dd-469dfb4387b3";
const GENT: &str = "kansentarief-regio-gent";
/// Social tariff active in its grace period, with a message: its chip and INSZ numbers.
const GRACE: (&str, &str, &str) = ("0900010959113", "04ED6ACACF6180", "08091860684");
const ACTIVE: &str = "0900000067513";
const GROUP: (&str, &str) = ("0900000045410", "04D0AB6AF85C80");
/// The INSZ number of the passholder of the blocked card 0900000002312.
const BLOCKED_INSZ: &str = "71030360442";
/// A well-formed INSZ number (its check digits right) that UiTPAS does not know.
const UNKNOWN_INSZ: &str = "85073003328";

fn door_path(identifier: &str) -> String {
    let mut url = reqwest::Url::parse("http://door/v1/door/passes").unwrap();
    url.query_pairs_mut().append_pair("identifier", identifier);
    format!("{}?{}", url.path(), url.query().unwrap())
}

async fn door(app: &TestApp, identifier: &str) -> Answer {
    app.shop(Method::GET, &door_path(identifier), None, &[]).await
}

/// Registers `quantity` tickets of one pass at an event; the ids of the ticket sales.
async fn sales(app: &TestApp, key: &str, event: &str, number: &str, quantity: u32) -> Vec<String> {
    let answer = app
        .register(
            key,
            json!({"orderId": key, "tickets": [{"eventId": event, "uitpasNumber": number, "tariffId": GENT,
                   "regularPrice": 10, "quantity": quantity}]}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["ticketSales"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn check_in(app: &TestApp, sale: &str) -> Answer {
    app.shop(
        Method::PATCH,
        &format!("/v1/ticket-sales/{sale}"),
        Some(json!({"checkedIn": true})),
        &[],
    )
    .await
}

async fn checkin_status(app: &TestApp, sale: &str) -> Answer {
    app.shop(
        Method::GET,
        &format!("/v1/ticket-sales/{sale}/checkin-status"),
        None,
        &[],
    )
    .await
}

async fn refund(app: &TestApp, sale: &str) -> Answer {
    app.shop(Method::DELETE, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await
}

async fn sale(app: &TestApp, sale: &str) -> Value {
    let answer = app
        .shop(Method::GET, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

/// What UiTPAS itself shows, asked as another client (a box office of the test organizer).
struct Uitpas {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Uitpas {
    async fn of(sandbox: &RunningSandbox) -> Self {
        let http = reqwest::Client::new();
        let base = sandbox.base_url();
        let token = sandbox_token(&http, &base, "door-test-box-office").await;
        Self { http, base, token }
    }

    async fn get(&self, path: &str) -> Value {
        let answer = read(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.body
    }

    async fn points(&self, number: &str) -> i64 {
        self.get(&format!("/passes/{number}")).await["points"].as_i64().unwrap()
    }

    /// The pass's check-ins at the test organizer's events, newest first.
    async fn checkins(&self, number: &str) -> Vec<Value> {
        let holder = self.get(&format!("/passes/{number}")).await["passholderId"]
            .as_str()
            .unwrap()
            .to_owned();
        self.get(&format!("/checkins?passholderId={holder}&organizerId={TEST_ORGANIZER}"))
            .await["member"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// `POST /checkins` as the box office does it, without the shop.
    async fn check_in(&self, number: &str, event: &str) {
        let answer = self
            .http
            .post(format!("{}/checkins", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"uitpasNumber": number, "eventId": event}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
    }

    async fn calls(&self, operation: &str) -> u64 {
        let stats = self.get("/_sandbox/stats").await;
        stats["operations"][operation].as_u64().expect("a known operationId")
    }
}

// --- looking a pass up ---

#[tokio::test]
async fn a_pass_is_found_by_its_uitpas_number_chip_number_or_insz_number_without_personal_data() {
    let app = TestApp::spawn().await;
    let (number, chip, insz) = GRACE;
    let mut answers = Vec::new();
    for identifier in [
        number,
        chip,
        &chip.to_lowercase(),
        insz,
        "08.09.18-606.84",
        "0900 0109 5911 3",
    ] {
        let answer = door(&app, identifier).await;
        assert_eq!(answer.status, 200, "{identifier}: {}", answer.body);
        assert_eq!(answer.headers["cache-control"], "no-store");
        answers.push(answer.body);
    }
    let body = &answers[0];
    assert_eq!(body["uitpasNumber"], number, "{body}");
    assert_eq!(body["passType"], "INDIVIDUAL");
    assert_eq!(body["socialTariff"]["status"], "ACTIVE", "ACTIVE in its grace period");
    assert!(
        body["messages"][0]["text"].as_str().unwrap().contains("loopt af"),
        "UiTPAS's message: {body}"
    );
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "only the safe view: {keys:?}");
    for other in &answers[1..] {
        assert_eq!(other, body, "the same pass by any identifier");
    }
    // Asked every time: nothing is cached by identifier.
    assert_eq!(app.upstream_calls("get-passes").await, 6);

    let group = door(&app, GROUP.1).await;
    assert_eq!(group.status, 200, "{}", group.body);
    assert_eq!(group.body["uitpasNumber"], GROUP.0);
    assert_eq!(group.body["passType"], "GROUP");
}

#[tokio::test]
async fn a_blocked_card_or_an_unknown_pass_is_uitpas_refusal() {
    let app = TestApp::spawn().await;
    let blocked = door(&app, BLOCKED_INSZ).await;
    let problem = blocked.assert_problem(400, "https://api.publiq.be/probs/uitpas/invalid-card-status");
    assert_eq!(
        problem["cardStatus"], "BLOCKED",
        "UiTPAS's card status is passed on: {problem}"
    );
    assert!(problem.get("passholderId").is_none(), "{problem}");
    let unknown = door(&app, UNKNOWN_INSZ).await;
    unknown.assert_problem(404, "https://api.publiq.be/probs/uitpas/pass-not-found");
    assert!(!unknown.body.to_string().contains("passholderId"), "{}", unknown.body);
    assert_eq!(app.upstream_calls("get-passes").await, 2);
}

#[tokio::test]
async fn a_mistyped_identifier_is_refused_without_asking_uitpas() {
    let app = TestApp::spawn().await;
    for bad in [
        "0900010959114",  // a UiTPAS number with a wrong check digit
        "08091860685",    // an INSZ number with wrong check digits
        "80091860684",    // two digits swapped
        "04ED6ACACF618",  // a chip number one digit short
        "04ED6ACACF61ZZ", // not hexadecimal
        "090001095911",   // 12 digits
        "Ilias Peeters",  // a name
        "",
    ] {
        let answer = door(&app, bad).await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-pass-identifier");
        assert_eq!(problem["schemaErrors"][0]["jsonPointer"], "/identifier", "{problem}");
        assert!(problem["endUserMessage"]["nl"].is_string());
        if !bad.is_empty() {
            assert!(!problem.to_string().contains(bad), "the value is not echoed: {problem}");
        }
    }
    app.shop(Method::GET, "/v1/door/passes", None, &[])
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    app.shop(Method::GET, "/v1/door/passes?uitpasNumber=0900010959113", None, &[])
        .await
        .assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
    // The door is the shop's: a shop key, not a publishable key or none.
    app.get(&door_path(GRACE.0))
        .await
        .assert_problem(401, "urn:uitpas-checkout:problem:unauthorized");
    assert_eq!(app.upstream_calls("get-passes").await, 0);
}

#[tokio::test]
async fn an_identifier_looked_up_at_the_door_is_never_logged_or_stored() {
    let sandbox = sandbox::spawn(SandboxConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let db = TestDatabase::create().await;
    let service = Service::start(&db, &sandbox, &[("RUST_LOG", "debug")]).await;
    let http = reqwest::Client::new();
    let (number, chip, insz) = GRACE;
    let lookups = [
        (insz, 200),
        ("08.09.18-606.84", 200),
        (chip, 200),
        (number, 200),
        (UNKNOWN_INSZ, 404),
        (BLOCKED_INSZ, 400),
        ("08091860685", 400),
    ];
    for (identifier, status) in lookups {
        let answer = http
            .get(service.url(&door_path(identifier)))
            .bearer_auth(SHOP_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{identifier}");
    }
    // UiTPAS unreachable: the error is logged (at warn), without the URL and its query.
    sandbox.shutdown().await;
    let down = http
        .get(service.url(&door_path(insz)))
        .bearer_auth(SHOP_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 502);

    let logs = service.logs();
    let status = service.terminate().await;
    assert!(status.success(), "{status:?}");
    assert!(
        logs.contains("/v1/door/passes")
            && logs.contains("insz-number")
            && logs.contains("UiTPAS could not be reached"),
        "the lookups were logged, at debug level:\n{logs}"
    );
    for identifier in [
        insz,
        "08.09.18-606.84",
        "09.18-606",
        chip,
        number,
        UNKNOWN_INSZ,
        BLOCKED_INSZ,
        "08091860685",
    ] {
        assert!(!logs.contains(identifier), "{identifier} is in the logs:\n{logs}");
    }

    // Nor is any of them stored, in any table.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema, table_name FROM information_schema.tables
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.iter().any(|(_, t)| t == "ticket_sales"), "{tables:?}");
    for (schema, table) in tables {
        for identifier in [insz, chip, UNKNOWN_INSZ, BLOCKED_INSZ] {
            let found: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM \"{schema}\".\"{table}\" t WHERE row_to_json(t)::text LIKE '%' || $1 || '%'"
            ))
            .bind(identifier)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            assert_eq!(found, 0, "{identifier} is stored in {schema}.{table}");
        }
    }
}

// --- whether a ticket can be checked in now ---

#[tokio::test]
async fn whether_a_ticket_can_be_checked_in_now_is_what_uitpas_says_with_its_message() {
    let app = TestApp::spawn().await;
    let uitpas = Uitpas::of(&app.sandbox).await;
    let ticket = sales(&app, "status-1", TEST_EVENT, ACTIVE, 1).await.remove(0);

    let allowed = checkin_status(&app, &ticket).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.body, json!({"allowed": true, "checkedIn": false}));
    assert_eq!(app.upstream_calls("get-checkin-status").await, 1);

    // The box office checked the passholder in at UiTPAS meanwhile: once a day, UiTPAS says.
    uitpas.check_in(ACTIVE, TEST_EVENT).await;
    let refused = checkin_status(&app, &ticket).await;
    assert_eq!(refused.status, 200, "{}", refused.body);
    assert_eq!(refused.body["allowed"], false, "{}", refused.body);
    assert_eq!(refused.body["checkedIn"], false);
    assert!(
        refused.body["endUserMessage"]["nl"]
            .as_str()
            .unwrap()
            .contains("al een punt gespaard"),
        "UiTPAS's message: {}",
        refused.body
    );
    check_in(&app, &ticket)
        .await
        .assert_problem(400, "https://api.publiq.be/probs/uitpas/checkin-not-allowed");

    // An event that has not started yet.
    let start = chrono::Utc::now() + chrono::Duration::days(365);
    let activity = app
        .shop(
            Method::PUT,
            "/v1/activities/door-show",
            Some(json!({
                "name": {"nl": "Voorstelling volgend jaar"},
                "mainLanguage": "nl",
                "calendar": {"type": "single", "subEvents": [
                    {"startDate": start.to_rfc3339(), "endDate": (start + chrono::Duration::hours(3)).to_rfc3339()}
                ]},
                "locationId": PLACE,
                "organizerId": TEST_ORGANIZER,
                "eventTypeId": "0.57.0.0.0",
                "basePrice": 10
            })),
            &[],
        )
        .await;
    let event = activity.body["eventId"]
        .as_str()
        .expect("the event is created")
        .to_owned();
    let later = sales(&app, "status-2", &event, ACTIVE, 1).await.remove(0);
    let not_yet = checkin_status(&app, &later).await;
    assert_eq!(not_yet.body["allowed"], false, "{}", not_yet.body);
    assert!(
        not_yet.body["endUserMessage"]["nl"]
            .as_str()
            .unwrap()
            .contains("nog niet begonnen"),
        "{}",
        not_yet.body
    );
    assert_eq!(app.upstream_calls("get-checkin-status").await, 3);
}

#[tokio::test]
async fn a_ticket_checked_in_or_sharing_its_pass_check_in_is_allowed_without_asking_uitpas() {
    let app = TestApp::spawn().await;
    let tickets = sales(&app, "status-3", TEST_EVENT, GROUP.0, 2).await;
    let first = check_in(&app, &tickets[0]).await;
    assert_eq!(first.status, 200, "{}", first.body);

    let again = checkin_status(&app, &tickets[0]).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["allowed"], true);
    assert_eq!(again.body["checkedIn"], true, "shown a second time");
    assert_eq!(again.body["checkedInAt"], first.body["checkedInAt"]);
    let other = checkin_status(&app, &tickets[1]).await;
    assert_eq!(other.body, json!({"allowed": true, "checkedIn": false}));
    assert_eq!(app.upstream_calls("get-checkin-status").await, 0);
    // As it said: the second ticket shares the group's check-in.
    assert_eq!(check_in(&app, &tickets[1]).await.status, 200);
    assert_eq!(app.upstream_calls("post-checkins").await, 1);
}

#[tokio::test]
async fn only_a_registered_ticket_of_ones_own_can_be_asked_about() {
    let app = TestApp::spawn_with(TestOptions {
        configure: Box::new(|c| c.admin_keys = Some(SecretList(vec![Secret::new("door-admin-key-0123456789")]))),
        ..TestOptions::default()
    })
    .await;
    let created = app
        .request(
            Method::POST,
            "/admin/v1/customers",
            Some(json!({"name": "B", "environment": "test", "clientId": "sandbox-customer-b", "clientSecret": "sandbox-b"})),
            &[("authorization", "Bearer door-admin-key-0123456789")],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let b_key = format!("Bearer {}", created.body["secretKey"]["key"].as_str().unwrap());
    let b_event = uitpas_checkout::sandbox::dataset::NO_PERMISSION_EVENT;
    let b_order = app
        .request(
            Method::POST,
            "/v1/registrations",
            Some(
                json!({"orderId": "b-1", "tickets": [{"eventId": b_event, "uitpasNumber": GROUP.0,
                        "tariffId": GENT, "regularPrice": 10}]}),
            ),
            &[("authorization", &b_key), ("idempotency-key", "b-1")],
        )
        .await;
    assert_eq!(b_order.status, 201, "{}", b_order.body);
    let b_ticket = b_order.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();
    let a_ticket = sales(&app, "a-1", TEST_EVENT, ACTIVE, 1).await.remove(0);

    // Another customer's ticket does not exist, whichever way round.
    checkin_status(&app, &b_ticket)
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    let path = |id: &str| format!("/v1/ticket-sales/{id}/checkin-status");
    app.request(Method::GET, &path(&a_ticket), None, &[("authorization", &b_key)])
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    let own = app
        .request(Method::GET, &path(&b_ticket), None, &[("authorization", &b_key)])
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["allowed"], true);
    // B looks passes up with its own client.
    let b_door = app
        .request(Method::GET, &door_path(GRACE.1), None, &[("authorization", &b_key)])
        .await;
    assert_eq!(b_door.status, 200, "{}", b_door.body);

    checkin_status(&app, &uuid::Uuid::new_v4().to_string())
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    checkin_status(&app, "not-an-id")
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    assert_eq!(refund(&app, &a_ticket).await.status, 204);
    checkin_status(&app, &a_ticket)
        .await
        .assert_problem(409, "urn:uitpas-checkout:problem:not-registered");
    assert_eq!(app.upstream_calls("get-checkin-status").await, 1, "B's own only");
}

// --- a refund undoes the check-in ---

#[tokio::test]
async fn refunding_a_checked_in_ticket_undoes_its_check_in_at_uitpas_once() {
    let app = TestApp::spawn().await;
    let uitpas = Uitpas::of(&app.sandbox).await;
    let before = uitpas.points(ACTIVE).await;
    let ticket = sales(&app, "refund-1", TEST_EVENT, ACTIVE, 1).await.remove(0);
    assert_eq!(check_in(&app, &ticket).await.status, 200);
    assert_eq!(uitpas.points(ACTIVE).await, before + 1);
    assert_eq!(uitpas.checkins(ACTIVE).await.len(), 1);

    assert_eq!(refund(&app, &ticket).await.status, 204);
    assert!(uitpas.checkins(ACTIVE).await.is_empty(), "the check-in is undone");
    assert_eq!(uitpas.points(ACTIVE).await, before, "its point taken back");
    let refunded = sale(&app, &ticket).await;
    assert_eq!(refunded["status"], "cancelled", "{refunded}");
    assert_eq!(refunded["checkedIn"], false, "{refunded}");
    assert_eq!(app.upstream_calls("delete-ticket-sales").await, 1);

    assert_eq!(refund(&app, &ticket).await.status, 204, "again: nothing more");
    app.drain().await;
    assert_eq!(app.upstream_calls("delete-checkins-checkinId").await, 1);
    assert_eq!(app.upstream_calls("delete-ticket-sales").await, 1);
    assert_eq!(uitpas.points(ACTIVE).await, before);

    // A ticket never checked in is cancelled without touching check-ins.
    let other = sales(&app, "refund-2", TEST_EVENT, ACTIVE, 1).await.remove(0);
    assert_eq!(refund(&app, &other).await.status, 204);
    assert_eq!(app.upstream_calls("delete-checkins-checkinId").await, 1);
}

#[tokio::test]
async fn a_refund_whose_undo_fails_is_replayed_and_undoes_the_check_in_once() {
    let app = TestApp::spawn().await;
    let uitpas = Uitpas::of(&app.sandbox).await;
    let before = uitpas.points(ACTIVE).await;
    let ticket = sales(&app, "refund-3", TEST_EVENT, ACTIVE, 1).await.remove(0);
    assert_eq!(check_in(&app, &ticket).await.status, 200);

    app.fault(json!({"operation": "delete-checkins-checkinId", "mode": "error", "status": 503, "times": 1}))
        .await;
    let pending = refund(&app, &ticket).await;
    assert_eq!(pending.status, 202, "{}", pending.body);
    assert_eq!(pending.body["status"], "cancelling");
    // The sale is not cancelled at UiTPAS before its check-in is undone.
    assert_eq!(app.upstream_calls("delete-ticket-sales").await, 0);
    assert_eq!(uitpas.checkins(ACTIVE).await.len(), 1);

    assert_eq!(app.drain().await, 1);
    let refunded = sale(&app, &ticket).await;
    assert_eq!(refunded["status"], "cancelled", "{refunded}");
    assert_eq!(refunded["checkedIn"], false);
    assert!(uitpas.checkins(ACTIVE).await.is_empty());
    assert_eq!(uitpas.points(ACTIVE).await, before, "taken back once");
    assert_eq!(
        app.upstream_calls("delete-checkins-checkinId").await,
        2,
        "the failed one and its replay"
    );
    assert_eq!(app.upstream_calls("delete-ticket-sales").await, 1);
    assert_eq!(app.drain().await, 0, "nothing left to replay");
}

#[tokio::test]
async fn an_undo_whose_answer_was_lost_is_settled_by_the_404_of_the_replay() {
    let app = TestApp::spawn().await;
    let uitpas = Uitpas::of(&app.sandbox).await;
    let before = uitpas.points(ACTIVE).await;
    let ticket = sales(&app, "refund-4", TEST_EVENT, ACTIVE, 1).await.remove(0);
    assert_eq!(check_in(&app, &ticket).await.status, 200);

    // A cancellation that already undid the check-in, then failed on the sale, is replayed too.
    app.fault(json!({"operation": "delete-checkins-checkinId", "mode": "drop-after-commit", "times": 1}))
        .await;
    app.fault(json!({"operation": "delete-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    assert_eq!(refund(&app, &ticket).await.status, 202);
    assert!(
        uitpas.checkins(ACTIVE).await.is_empty(),
        "UiTPAS undid it; its answer was lost"
    );
    app.drain().await;
    assert_eq!(uitpas.points(ACTIVE).await, before, "taken back once");
    assert_eq!(
        sale(&app, &ticket).await["status"],
        "cancelling",
        "the sale's cancellation failed"
    );
    app.drain().await;
    assert_eq!(sale(&app, &ticket).await["status"], "cancelled");
    assert_eq!(
        app.upstream_calls("delete-checkins-checkinId").await,
        2,
        "the lost one and the replay that got 404; none after it was recorded"
    );
    assert_eq!(uitpas.points(ACTIVE).await, before);
}

#[tokio::test]
async fn a_refund_of_one_ticket_keeps_the_check_in_the_other_tickets_of_the_pass_share() {
    let app = TestApp::spawn().await;
    let uitpas = Uitpas::of(&app.sandbox).await;
    let tickets = sales(&app, "refund-5", TEST_EVENT, GROUP.0, 2).await;
    for ticket in &tickets {
        assert_eq!(check_in(&app, ticket).await.status, 200);
    }
    assert_eq!(uitpas.checkins(GROUP.0).await.len(), 1, "one check-in a day");

    assert_eq!(refund(&app, &tickets[0]).await.status, 204);
    assert_eq!(
        uitpas.checkins(GROUP.0).await.len(),
        1,
        "kept: the other ticket came in with it"
    );
    assert_eq!(sale(&app, &tickets[1]).await["checkedIn"], true);
    assert_eq!(app.upstream_calls("delete-checkins-checkinId").await, 0);

    assert_eq!(refund(&app, &tickets[1]).await.status, 204);
    assert!(uitpas.checkins(GROUP.0).await.is_empty(), "the last one undoes it");
    assert_eq!(app.upstream_calls("delete-checkins-checkinId").await, 1);
    for ticket in &tickets {
        assert_eq!(sale(&app, ticket).await["checkedIn"], false);
    }
}

#[tokio::test]
async fn a_check_in_recorded_without_its_uitpas_id_is_found_and_undone_on_refund() {
    let app = TestApp::spawn().await;
    let uitpas = Uitpas::of(&app.sandbox).await;
    let ticket = sales(&app, "refund-6", TEST_EVENT, ACTIVE, 1).await.remove(0);
    assert_eq!(check_in(&app, &ticket).await.status, 200);
    // As a check-in recorded before the ids were kept.
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    let forgotten = sqlx::query("UPDATE ticket_sales SET uitpas_checkin_id = NULL WHERE id = $1::uuid")
        .bind(&ticket)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(forgotten.rows_affected(), 1);

    assert_eq!(refund(&app, &ticket).await.status, 204);
    assert_eq!(app.upstream_calls("get-checkins").await, 1, "looked for");
    assert_eq!(app.upstream_calls("delete-checkins-checkinId").await, 1);
    assert!(
        uitpas.checkins(ACTIVE).await.is_empty(),
        "found with GET /checkins and undone"
    );
}

/// A UiTPAS in front of the sandbox whose `POST /checkins` answers carry no check-in id.
async fn uitpas_without_checkin_ids(sandbox: &RunningSandbox) -> String {
    use axum::body::{Body, to_bytes};
    use axum::extract::Request;
    use axum::response::Response;

    let target = sandbox.base_url();
    let http = reqwest::Client::new();
    let forward = move |request: Request| {
        let (target, http) = (target.clone(), http.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = to_bytes(body, 1 << 20).await.unwrap();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            let mut outgoing = http.request(parts.method.clone(), format!("{target}{path}")).body(body);
            for name in ["authorization", "content-type"] {
                if let Some(value) = parts.headers.get(name) {
                    outgoing = outgoing.header(name, value);
                }
            }
            let answer = outgoing.send().await.unwrap();
            let status = answer.status();
            let content_type = answer.headers().get("content-type").cloned();
            let mut bytes = answer.bytes().await.unwrap().to_vec();
            if parts.method == Method::POST && parts.uri.path() == "/checkins" && status.is_success() {
                let mut checkin: Value = serde_json::from_slice(&bytes).unwrap();
                checkin.as_object_mut().unwrap().remove("id");
                bytes = serde_json::to_vec(&checkin).unwrap();
            }
            let mut response = Response::builder().status(status.as_u16());
            if let Some(content_type) = content_type {
                response = response.header("content-type", content_type);
            }
            response.body(Body::from(bytes)).unwrap()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().fallback(forward)).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_check_in_answered_without_its_id_is_found_with_get_checkins_and_undone_on_refund() {
    // UiTPAS (for the app) is a proxy to a sandbox of this test's own.
    let sandbox = sandbox::spawn(SandboxConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let proxy = uitpas_without_checkin_ids(&sandbox).await;
    let direct = sandbox.base_url();
    let app = TestApp::spawn_with(TestOptions {
        configure: Box::new(move |c| {
            c.uitpas_base_url = proxy;
            c.uitpas_token_url = format!("{direct}/realms/uitid/protocol/openid-connect/token");
            c.uitdatabank_base_url = direct;
        }),
        ..TestOptions::default()
    })
    .await;
    let uitpas = Uitpas::of(&sandbox).await;
    let ticket = sales(&app, "refund-7", TEST_EVENT, ACTIVE, 1).await.remove(0);
    assert_eq!(check_in(&app, &ticket).await.status, 200);
    assert_eq!(uitpas.calls("get-checkins").await, 1, "looked for at once");

    assert_eq!(refund(&app, &ticket).await.status, 204);
    assert!(uitpas.checkins(ACTIVE).await.is_empty(), "undone");
    assert_eq!(uitpas.calls("delete-checkins-checkinId").await, 1);
    assert_eq!(uitpas.calls("get-checkins").await, 2, "this test's own look, no other");
}
