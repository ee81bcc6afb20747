//! Black-box tests of the webhooks (issue 13): the shop hears every outcome that settles after
//! the answer, signed, at least once, from a real HTTP receiver that fails, times out and answers
//! slowly, and a failing receiver never holds up the ledger.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::fixtures::{
    ACTIVE_PASS, GROUP_PASS, NO_PERMISSION_EVENT, PASPARTOE_PASS, order, order_of, ticket_for, with,
};
use common::{TestApp, until};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};
use uitpas_checkout::config::{HumanDuration, Secret, SecretList};
use uitpas_checkout::sandbox::dataset::synthetic_active_pass;
use uitpas_checkout::webhooks::SIGNATURE_HEADER;
use uitpas_checkout::webhooks::verify::verify;

const SECRET: &str = "whsec_test_0123456789";
const NEXT_SECRET: &str = "whsec_next_9876543210";

/// A shop's webhook receiver: records what it gets; fails the first `fail` deliveries; holds
/// every request until `gate` lets it through (when closed).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    fail: Arc<AtomicUsize>,
    gate: Arc<Option<Semaphore>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if let Some(gate) = r.gate.as_ref() {
        let _pass = gate.acquire().await;
    }
    if r.fail.load(Ordering::SeqCst) > 0 {
        r.fail.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    // Verified like a shop would: the raw body, the timestamp, each v1 signature.
    assert!(verifies(&headers, &body, SECRET), "signed with the secret");
    r.got
        .lock()
        .await
        .push((headers, serde_json::from_slice(&body).expect("a JSON body")));
    StatusCode::NO_CONTENT
}

fn verifies(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let header = headers[SIGNATURE_HEADER].to_str().unwrap();
    verify(
        &[Secret::new(secret)],
        header,
        body,
        chrono::Utc::now(),
        Duration::from_secs(300),
    )
    .is_ok()
}

impl Receiver {
    async fn start(self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(self);
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    async fn events(&self) -> Vec<Value> {
        self.got.lock().await.iter().map(|(_, body)| body.clone()).collect()
    }
}

async fn app_with_receiver(
    receiver: &Receiver,
    configure: impl FnOnce(&mut uitpas_checkout::Config) + Send + 'static,
) -> TestApp {
    let addr = receiver.clone().start().await;
    TestApp::spawn_configured(move |c| {
        c.webhook_url = Some(format!("http://{addr}/hooks"));
        c.webhook_secret = Some(SecretList(vec![Secret::new(SECRET), Secret::new(NEXT_SECRET)]));
        c.webhook_timeout = HumanDuration(Duration::from_millis(500));
        c.replay_max_delay = HumanDuration(Duration::from_millis(100));
        configure(c);
    })
    .await
}

/// Drains the worker's queue until the receiver holds `n` events (bounded).
async fn drain_until_received(app: &TestApp, receiver: &Receiver, n: usize) -> Vec<Value> {
    app.drain_until(&format!("{n} events delivered"), Duration::from_secs(20), async || {
        let events = receiver.events().await;
        if events.len() >= n {
            Ok(events)
        } else {
            Err(format!("{events:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn a_registration_settled_after_the_answer_is_told_to_the_shop_signed() {
    let receiver = Receiver::default();
    let app = app_with_receiver(&receiver, |_| {}).await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    let answer = app.register("w1", order("w1", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202);
    let events = drain_until_received(&app, &receiver, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "registration.registered");
    assert_eq!(events[0]["data"]["id"], answer.body["id"]);
    assert_eq!(events[0]["data"]["status"], "registered");
    let (headers, _) = receiver.got.lock().await[0].clone();
    assert_eq!(
        headers["webhook-id"].to_str().unwrap(),
        events[0]["id"].as_str().unwrap()
    );
    // The receiver verified the raw body's signature; while rotating, both secrets sign.
    let header = headers["uitpas-checkout-signature"].to_str().unwrap();
    assert_eq!(
        header.matches("v1=").count(),
        2,
        "one signature per secret while rotating: {header}"
    );

    // Outcomes told in the answer need no webhook: a refusal (400; a Paspartoe pass with Gent's
    // tariff) and a registration (201).
    assert_eq!(app.register("w2", order("w2", PASPARTOE_PASS)).await.status, 400);
    let ok = app.register("w3", order("w3", GROUP_PASS)).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    app.drain().await;
    assert_eq!(receiver.events().await.len(), 1);
}

#[tokio::test]
async fn a_registration_a_person_abandons_is_told_to_the_shop_as_rejected() {
    let receiver = Receiver::default();
    let app = app_with_receiver(&receiver, |_| {}).await;
    // UiTPAS refuses the service's credentials (401 also with a fresh token): parked.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 401}))
        .await;
    let answer = app.register("w-abandon", order("w-abandon", ACTIVE_PASS)).await;
    let problem = answer.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    let id = problem["registrationId"].as_str().unwrap().to_owned();
    // Abandoned (from the console or the shop API alike): the shop hears it.
    let abandoned = app
        .shop(Method::POST, &format!("/v1/registrations/{id}/abandon"), None, &[])
        .await;
    assert_eq!(abandoned.status, 200, "{}", abandoned.body);
    let events = drain_until_received(&app, &receiver, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "registration.rejected");
    assert_eq!(events[0]["data"]["id"], id.as_str());
    assert_eq!(events[0]["data"]["status"], "rejected");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_answers_and_the_list_shows_it() {
    let receiver = Receiver::default();
    receiver.fail.store(2, Ordering::SeqCst);
    let app = app_with_receiver(&receiver, |_| {}).await;
    let held = app
        .register("w4", with(order("w4", ACTIVE_PASS), json!({"hold": {}})))
        .await;
    let id = held.body["id"].as_str().unwrap();
    let confirmed = app
        .shop(Method::POST, &format!("/v1/registrations/{id}/confirm"), None, &[])
        .await;
    assert_eq!(confirmed.status, 200);
    // The first attempt fails: the list says so.
    app.drain().await;
    let list = app
        .shop(Method::GET, "/v1/webhook-deliveries?undelivered=true", None, &[])
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["member"][0]["status"], "failing", "{}", list.body);
    assert_eq!(list.body["member"][0]["lastStatus"], 500);
    let events = drain_until_received(&app, &receiver, 1).await;
    assert_eq!(events[0]["type"], "hold.confirmed");
    assert_eq!(events[0]["data"]["status"], "registered");
    let list = app.shop(Method::GET, "/v1/webhook-deliveries", None, &[]).await;
    assert_eq!(list.body["member"][0]["status"], "delivered", "{}", list.body);
    assert_eq!(list.body["member"][0]["attempts"], 3);
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_gets_the_same_event_again() {
    let receiver = Receiver {
        gate: Arc::new(Some(Semaphore::new(0))),
        ..Receiver::default()
    };
    let app = app_with_receiver(&receiver, |_| {}).await;
    let held = app.register("w5", common::fixtures::hold("w5", ACTIVE_PASS, 1)).await;
    let id = held.body["id"].as_str().unwrap().to_owned();
    // The hold expires; its event's first delivery times out at the receiver (held back).
    let list = app
        .drain_until("a delivery timed out", Duration::from_secs(10), async || {
            let list = app.shop(Method::GET, "/v1/webhook-deliveries", None, &[]).await;
            let timed_out = list.body["member"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["type"] == "hold.expired" && d["status"] == "failing");
            if timed_out { Ok(list.body) } else { Err(list.body) }
        })
        .await;
    assert!(
        list["member"][0]["lastError"].as_str().unwrap().contains("in time"),
        "{list}"
    );
    // The receiver answers from now on: the event comes again, with the same id.
    if let Some(gate) = receiver.gate.as_ref() {
        gate.add_permits(1_000);
    }
    let events = drain_until_received(&app, &receiver, 1).await;
    let expired: Vec<&Value> = events.iter().filter(|e| e["type"] == "hold.expired").collect();
    assert!(!expired.is_empty());
    assert!(
        expired.iter().all(|e| e["id"] == expired[0]["id"]),
        "one event, delivered again"
    );
    assert_eq!(expired[0]["data"]["id"], id.as_str());
}

#[tokio::test]
async fn a_receiver_that_hangs_never_holds_up_the_ledger() {
    let receiver = Receiver {
        gate: Arc::new(Some(Semaphore::new(0))),
        ..Receiver::default()
    };
    let app = app_with_receiver(&receiver, |c| {
        c.webhook_timeout = HumanDuration(Duration::from_secs(30));
        c.replay_poll_interval = HumanDuration(Duration::from_millis(50));
    })
    .await;
    // Twelve confirmed holds: twelve deliveries hanging at the receiver, more than the slots.
    for i in 0..12u64 {
        let held = app
            .register(
                &format!("hang-{i}"),
                with(
                    order(&format!("hang-{i}"), &synthetic_active_pass(400 + i)),
                    json!({"hold": {}}),
                ),
            )
            .await;
        let id = held.body["id"].as_str().unwrap();
        assert_eq!(
            app.shop(Method::POST, &format!("/v1/registrations/{id}/confirm"), None, &[])
                .await
                .status,
            200
        );
    }
    // A registration left pending meanwhile is settled by the worker all the same.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    let pending = app.register("hang-order", order("hang-order", ACTIVE_PASS)).await;
    assert_eq!(pending.status, 202);
    let id = pending.body["id"].as_str().unwrap();
    until(
        "the ledger is not held up by the receiver",
        Duration::from_secs(15),
        async || {
            let read = app.registration(id).await;
            if read["status"] == "registered" {
                Ok(())
            } else {
                Err(read)
            }
        },
    )
    .await;
    if let Some(gate) = receiver.gate.as_ref() {
        gate.add_permits(1_000);
    }
    // Every event arrives once the receiver answers: 12 confirmations and the registration.
    until("all delivered", Duration::from_secs(20), async || {
        let delivered = receiver.events().await.len();
        if delivered >= 13 { Ok(()) } else { Err(delivered) }
    })
    .await;
}

#[tokio::test]
async fn without_a_webhook_url_nothing_is_stored_for_delivery() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    assert_eq!(app.register("w6", order("w6", ACTIVE_PASS)).await.status, 202);
    app.drain().await;
    let list = app.shop(Method::GET, "/v1/webhook-deliveries", None, &[]).await;
    assert_eq!(list.body["totalItems"], 0, "{}", list.body);
}

#[tokio::test]
async fn each_customer_hears_only_its_own_outcomes_at_its_own_receiver() {
    const ADMIN: &str = "webhooks-admin-key-0123456789";
    let a_receiver = Receiver::default();
    let b_receiver = Receiver::default();
    let b_addr = b_receiver.clone().start().await;
    let app = app_with_receiver(&a_receiver, |c| {
        c.admin_keys = Some(SecretList(vec![Secret::new(ADMIN)]));
    })
    .await;
    let created = app
        .with_key(
            ADMIN,
            Method::POST,
            "/admin/v1/customers",
            Some(json!({
                "name": "B", "environment": "test", "clientId": "sandbox-customer-b", "clientSecret": "sandbox-b",
                "webhookUrl": format!("http://{b_addr}/hooks"), "webhookSecret": SECRET,
            })),
            None,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let b_key = created.body["secretKey"]["key"].as_str().unwrap();

    // B's order is settled after the answer: B's receiver hears it, A's does not.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    let b_order = order_of("b1", vec![ticket_for(NO_PERMISSION_EVENT, GROUP_PASS)]);
    let answer = app.register_as(b_key, "b1", b_order).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let events = drain_until_received(&app, &b_receiver, 1).await;
    assert_eq!(events[0]["data"]["id"], answer.body["id"]);
    // And A's own order reaches A's receiver only.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    let a_answer = app.register("a1", order("a1", ACTIVE_PASS)).await;
    assert_eq!(a_answer.status, 202, "{}", a_answer.body);
    let a_events = drain_until_received(&app, &a_receiver, 1).await;
    assert_eq!(a_events.len(), 1, "{a_events:?}");
    assert_eq!(a_events[0]["data"]["id"], a_answer.body["id"]);
    assert_eq!(b_receiver.events().await.len(), 1, "B heard only its own");
    // Each customer's list of deliveries is its own.
    let b_list = app
        .with_key(b_key, Method::GET, "/v1/webhook-deliveries", None, None)
        .await;
    assert_eq!(b_list.body["totalItems"], 1, "{}", b_list.body);
    let a_list = app.shop(Method::GET, "/v1/webhook-deliveries", None, &[]).await;
    assert_eq!(a_list.body["totalItems"], 1, "{}", a_list.body);
}

const ADMIN_KEY: &str = "webhooks-admin-key-0123456789";
const SECRETS_KEY: &str = "3333333333333333333333333333333333333333333333333333333333333333";
/// A public address (documentation ranges are not public): never connected to by these tests.
const PUBLIC_TARGET: &str = "https://93.184.215.14/hooks";

/// An app in production mode (private webhook targets refused), with the admin API.
async fn production_app() -> TestApp {
    TestApp::spawn_configured(|c| {
        c.app_env = uitpas_checkout::config::AppEnv::Production;
        c.admin_keys = Some(SecretList(vec![Secret::new(ADMIN_KEY)]));
        c.customer_secrets_key = Some(Secret::new(SECRETS_KEY));
        c.replay_max_delay = HumanDuration(Duration::from_millis(100));
    })
    .await
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> common::Answer {
    app.with_key(ADMIN_KEY, method, path, body, None).await
}

/// Makes customer B (the sandbox's second client) with a webhook URL; the admin API's answer.
async fn customer_b(app: &TestApp, name: &str, webhook_url: &str) -> common::Answer {
    admin(
        app,
        Method::POST,
        "/admin/v1/customers",
        Some(json!({
            "name": name, "environment": "test", "clientId": "sandbox-customer-b", "clientSecret": "sandbox-b",
            "webhookUrl": webhook_url, "webhookSecret": SECRET,
        })),
    )
    .await
}

/// A registration of customer `key`'s that settles after the answer (so a webhook is due).
async fn settled_later(app: &TestApp, key: &str, order_id: &str) {
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    // B's own event: customer B's organizer's in the sandbox.
    let order = order_of(order_id, vec![ticket_for(NO_PERMISSION_EVENT, GROUP_PASS)]);
    let answer = app.register_as(key, order_id, order).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
}

/// Drains until customer `key`'s first webhook event was tried (bounded); that event as listed.
async fn first_attempt(app: &TestApp, key: &str) -> Value {
    app.drain_until("a delivery was tried", Duration::from_secs(20), async || {
        let list = app
            .with_key(key, Method::GET, "/v1/webhook-deliveries", None, None)
            .await;
        let tried = list.body["member"]
            .as_array()
            .and_then(|m| m.iter().find(|d| d["attempts"].as_i64() > Some(0)).cloned());
        tried.ok_or(list.body)
    })
    .await
}

/// A TCP listener on loopback that counts the connections it gets and answers none of them.
async fn counting_listener() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (addr, count)
}

#[tokio::test]
async fn production_refuses_webhook_urls_that_are_not_public_https_and_never_shows_their_credentials() {
    let app = production_app().await;
    let own_admin_api = format!("https://{}/admin/v1/customers", app.addr);
    let refused = [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        own_admin_api.as_str(),
        "https://localhost/hooks",
        "https://[::1]/hooks",
        "https://10.0.0.8/hooks",
        "https://2130706433/hooks",
        "http://93.184.215.14/hooks",
        "httpx://shop.example/hooks",
        "http:///nohost",
        "https://shop-user:hunter2-password@93.184.215.14/hooks",
        "https://no-such-host.invalid/hooks",
    ];
    for (i, url) in refused.iter().enumerate() {
        let answer = customer_b(&app, &format!("B{i}"), url).await;
        let problem = answer.assert_problem(400, "urn:uitpas-checkout:problem:invalid-request");
        assert_eq!(
            problem["schemaErrors"][0]["jsonPointer"], "/webhookUrl",
            "{url}: {problem}"
        );
        assert!(!problem.to_string().contains("hunter2"), "{problem}");
    }
    let listed = admin(&app, Method::GET, "/admin/v1/customers", None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "none made: {}", listed.body);
    // A public https URL is taken.
    let created = customer_b(&app, "B", PUBLIC_TARGET).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["customer"]["webhookUrl"], PUBLIC_TARGET);
    // A URL stored with credentials before they were refused is shown without them.
    let id = created.body["customer"]["id"].as_str().unwrap();
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    sqlx::query(
        "UPDATE customers SET webhook_url = 'https://u:hunter2-password@93.184.215.14/hooks' WHERE id = $1::uuid",
    )
    .bind(id)
    .execute(&db)
    .await
    .unwrap();
    let patched = admin(
        &app,
        Method::PATCH,
        &format!("/admin/v1/customers/{id}"),
        Some(json!({"name": "B renamed"})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["webhookUrl"], PUBLIC_TARGET, "{}", patched.body);
}

#[tokio::test]
async fn a_delivery_to_a_name_that_resolves_to_a_private_address_is_refused_in_production() {
    let app = production_app().await;
    let (addr, connections) = counting_listener().await;
    let created = customer_b(&app, "B", PUBLIC_TARGET).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["customer"]["id"].as_str().unwrap();
    let key = created.body["secretKey"]["key"].as_str().unwrap();
    // The name's DNS answer turns private after it was accepted (rebinding): `localhost` here.
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    sqlx::query("UPDATE customers SET webhook_url = $2 WHERE id = $1::uuid")
        .bind(id)
        .bind(format!("https://localhost:{}/hooks", addr.port()))
        .execute(&db)
        .await
        .unwrap();
    // Any change makes the replica read the customer again.
    let patched = admin(
        &app,
        Method::PATCH,
        &format!("/admin/v1/customers/{id}"),
        Some(json!({"allowedOrigins": []})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    settled_later(&app, key, "rebound-1").await;
    let delivery = first_attempt(&app, key).await;
    assert_eq!(delivery["status"], "failing", "{delivery}");
    assert!(delivery.get("lastStatus").is_none(), "{delivery}");
    assert!(
        delivery["lastError"].as_str().unwrap().contains("not allowed"),
        "{delivery}"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "never connected to the private address"
    );
}

#[tokio::test]
async fn a_customer_reads_the_same_failure_for_a_closed_port_and_a_silent_one() {
    // A closed port (refused at once) and a port that takes the connection and never answers:
    // the customer cannot tell them apart, so the delivery list is no port scanner.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (silent, _) = counting_listener().await;
    let app = TestApp::spawn_configured(move |c| {
        c.admin_keys = Some(SecretList(vec![Secret::new(ADMIN_KEY)]));
        c.webhook_timeout = HumanDuration(Duration::from_millis(300));
    })
    .await;
    let mut errors = Vec::new();
    for (name, addr) in [("Closed", closed), ("Silent", silent)] {
        let created = customer_b(&app, name, &format!("http://{addr}/hooks")).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let key = created.body["secretKey"]["key"].as_str().unwrap().to_owned();
        settled_later(&app, &key, &format!("{name}-1")).await;
        let delivery = first_attempt(&app, &key).await;
        assert_eq!(delivery["status"], "failing", "{delivery}");
        assert!(delivery.get("lastStatus").is_none(), "{delivery}");
        errors.push(delivery["lastError"].as_str().unwrap().to_owned());
    }
    assert_eq!(errors[0], errors[1], "the same words for both");
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_given_up_and_delivered_again_on_demand() {
    // A receiver that fails its first 3 deliveries; the service gives one up after 2 attempts.
    let receiver = Receiver::default();
    receiver.fail.store(3, Ordering::SeqCst);
    let app = app_with_receiver(&receiver, |c| c.webhook_max_attempts = 2).await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    let answer = app.register("gu", order("gu", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202);
    // The worker registers it (an event to deliver), then tries the delivery twice.
    let event = app
        .drain_until("given up after 2 attempts", Duration::from_secs(20), async || {
            let list = app
                .shop(Method::GET, "/v1/webhook-deliveries?undelivered=true", None, &[])
                .await;
            assert_eq!(list.status, 200, "{}", list.body);
            let failed = list.body["member"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["status"] == "failed")
                .cloned();
            failed.ok_or(list.body)
        })
        .await;
    assert_eq!(event["attempts"], 2, "{event}");
    assert_eq!(
        receiver.fail.load(Ordering::SeqCst),
        1,
        "two attempts, no more: {event}"
    );
    // Given up: the worker no longer tries it.
    app.drain().await;
    app.drain().await;
    assert_eq!(receiver.fail.load(Ordering::SeqCst), 1, "not retried once given up");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("uitpas_checkout_jobs_needing_attention{kind=\"deliver_webhook\"} 1"),
        "parked, on /metrics"
    );
    // The shop asks for it again: one more failure gives it up again, the next try delivers.
    let id = event["id"].as_str().unwrap();
    let retry = format!("/v1/webhook-deliveries/{id}/retry");
    let again = app.shop(Method::POST, &retry, None, &[]).await;
    assert_eq!(again.status, 202, "{}", again.body);
    app.drain().await;
    assert_eq!(receiver.fail.load(Ordering::SeqCst), 0);
    let again = app.shop(Method::POST, &retry, None, &[]).await;
    assert_eq!(
        again.status, 202,
        "given up again after one more failure: {}",
        again.body
    );
    let events = drain_until_received(&app, &receiver, 1).await;
    assert_eq!(events[0]["id"], event["id"]);
    let done = app.shop(Method::POST, &retry, None, &[]).await;
    done.assert_problem(409, "urn:uitpas-checkout:problem:delivery-not-failed");
    let unknown = app
        .shop(
            Method::POST,
            "/v1/webhook-deliveries/00000000-0000-4000-8000-000000000000/retry",
            None,
            &[],
        )
        .await;
    unknown.assert_problem(404, "urn:uitpas-checkout:problem:not-found");
}

#[tokio::test]
async fn a_reward_redemption_settled_after_the_answer_is_told_to_the_shop() {
    let receiver = Receiver::default();
    let app = app_with_receiver(&receiver, |_| {}).await;
    app.fault(json!({"operation": "post-rewards-redeemed", "mode": "drop-after-commit", "times": 1}))
        .await;
    let body = json!({"rewardId": "5687", "uitpasNumber": "0900000095902"});
    let answer = app
        .shop(
            reqwest::Method::POST,
            "/v1/reward-redemptions",
            Some(body),
            &[("idempotency-key", "reward-1")],
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let events = drain_until_received(&app, &receiver, 1).await;
    assert_eq!(events[0]["type"], "reward_redemption.redeemed", "{events:?}");
    assert_eq!(events[0]["data"]["id"], answer.body["id"]);
    assert_eq!(events[0]["data"]["status"], "redeemed");
    // Cancelled in the answer: no webhook for it.
    let id = answer.body["id"].as_str().unwrap();
    let cancelled = app
        .shop(
            reqwest::Method::DELETE,
            &format!("/v1/reward-redemptions/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(cancelled.status, 204);
    app.drain().await;
    assert_eq!(receiver.events().await.len(), 1);
}
