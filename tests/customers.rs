//! Black-box tests of several customers on one deployment (issue 14): customers made through the
//! admin API, each with its own publiq credentials, keys and ledger; publishable keys and checkout
//! tokens for the browser. The app runs against a sandbox over HTTP and a real PostgreSQL.

mod common;

use common::fixtures::{ACTIVE_PASS, GROUP_PASS, NO_PERMISSION_EVENT, activity, order, order_of, ticket_for, with};
use common::{Answer, SHOP_KEY, TEST_EVENT, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use uitpas_checkout::config::{Secret, SecretList};

const ADMIN_KEY: &str = "test-admin-key-0123456789";
/// A second client of the sandbox, with its own organizer (that of the no-permission event).
const B_CLIENT: (&str, &str) = ("sandbox-customer-b", "sandbox-b");
/// A client of the sandbox that may read tariffs and search sales but not register them.
const NO_REGISTER_CLIENT: (&str, &str) = ("sandbox-no-register", "sandbox-nr");
/// publiq's "Test event with no permission": another organizer's, customer B's here.
const B_EVENT: &str = NO_PERMISSION_EVENT;
const OTHER_ORGANIZER: &str = uitpas_checkout::sandbox::dataset::OTHER_ORGANIZER;

async fn spawn() -> TestApp {
    TestApp::spawn_configured(|c| c.admin_keys = Some(SecretList(vec![Secret::new(ADMIN_KEY)]))).await
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Answer {
    app.with_key(ADMIN_KEY, method, path, body, None).await
}

/// Makes a customer; its id, secret key and publishable key.
async fn customer(app: &TestApp, name: &str, (client_id, secret): (&str, &str)) -> (String, String, String) {
    let created = admin(
        app,
        Method::POST,
        "/admin/v1/customers",
        Some(json!({
            "name": name,
            "environment": "test",
            "clientId": client_id,
            "clientSecret": secret,
            "allowedOrigins": ["https://shop-b.example"],
        })),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let body = &created.body;
    assert!(body["secretKey"]["key"].as_str().unwrap().starts_with("sk_"));
    assert!(body["publishableKey"]["key"].as_str().unwrap().starts_with("pk_"));
    (
        body["customer"]["id"].as_str().unwrap().to_owned(),
        body["secretKey"]["key"].as_str().unwrap().to_owned(),
        body["publishableKey"]["key"].as_str().unwrap().to_owned(),
    )
}

/// An order of one ticket of `event` for pass `number`.
fn order_for(event: &str, order_id: &str, number: &str) -> Value {
    order_of(order_id, vec![ticket_for(event, number)])
}

#[tokio::test]
async fn two_customers_side_by_side_never_see_each_others_sales() {
    let app = spawn().await;
    let (_, b_key, _) = customer(&app, "Customer B", B_CLIENT).await;

    // The same Idempotency-Key at both shops: two orders, one each.
    let a = app.register("order-1", order("a-1", ACTIVE_PASS)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let b = app
        .register_as(&b_key, "order-1", order_for(B_EVENT, "b-1", GROUP_PASS))
        .await;
    assert_eq!(b.status, 201, "{}", b.body);
    assert_ne!(a.body["id"], b.body["id"]);

    // Each customer's client did its own registration at UiTPAS.
    let clients: Vec<Value> = app.sandbox_ledger().await;
    assert_eq!(clients.len(), 2, "{clients:?}");

    // B never sees A's registration or sale: 404, as if it did not exist.
    let a_id = a.body["id"].as_str().unwrap();
    let a_sale = a.body["ticketSales"][0]["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/v1/registrations/{a_id}")),
        (Method::GET, format!("/v1/ticket-sales/{a_sale}")),
        (Method::DELETE, format!("/v1/ticket-sales/{a_sale}")),
        (Method::POST, format!("/v1/registrations/{a_id}/confirm")),
        (Method::POST, format!("/v1/ticket-sales/{a_sale}/retry")),
    ] {
        app.with_key(&b_key, method, &path, None, None)
            .await
            .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    }
    let search = app
        .with_key(&b_key, Method::GET, "/v1/ticket-sales?orderId=a-1", None, None)
        .await;
    assert_eq!(search.body["totalItems"], 0, "{}", search.body);
    let own = app.with_key(&b_key, Method::GET, "/v1/ticket-sales", None, None).await;
    assert_eq!(own.body["totalItems"], 1, "{}", own.body);
    assert_eq!(own.body["member"][0]["orderId"], "b-1");
    // And A's sale is still registered: B's attempt to cancel it changed nothing.
    let still = app
        .shop(Method::GET, &format!("/v1/ticket-sales/{a_sale}"), None, &[])
        .await;
    assert_eq!(still.body["status"], "registered", "{}", still.body);
}

#[tokio::test]
async fn no_client_secret_is_stored_in_clear_and_the_admin_api_never_shows_it() {
    let app = spawn().await;
    let secret = "a-very-secret-client-secret-b";
    let (id, _, _) = customer(&app, "Customer B", ("another-sandbox-client", secret)).await;
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    // Every column of every customer, as text: the secret is in none of them.
    let rows: Vec<String> = sqlx::query_scalar("SELECT row_to_json(c)::text FROM customers c")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    for row in &rows {
        assert!(!row.contains(secret) && !row.contains(&hex), "{row}");
    }
    let sealed: Option<Vec<u8>> = sqlx::query_scalar("SELECT client_secret FROM customers WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(!sealed.unwrap().windows(secret.len()).any(|w| w == secret.as_bytes()));
    let shown = admin(&app, Method::GET, &format!("/admin/v1/customers/{id}"), None).await;
    assert_eq!(shown.status, 200);
    assert!(!shown.body.to_string().contains(secret), "{}", shown.body);
    assert_eq!(shown.body["clientId"], "another-sandbox-client");
}

#[tokio::test]
async fn keys_rotate_without_downtime() {
    let app = spawn().await;
    let (id, old, _) = customer(&app, "Customer B", B_CLIENT).await;
    let made = admin(
        &app,
        Method::POST,
        &format!("/admin/v1/customers/{id}/keys"),
        Some(json!({"kind": "secret"})),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let new = made.body["key"].as_str().unwrap().to_owned();
    // Both keys work while the shop switches.
    for key in [&old, &new] {
        let answer = app.with_key(key, Method::GET, "/v1/ticket-sales", None, None).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let listed = admin(&app, Method::GET, &format!("/admin/v1/customers/{id}"), None).await;
    let old_id = listed.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "secret" && old.starts_with(k["hint"].as_str().unwrap().trim_end_matches('…')))
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .unwrap();
    let revoked = admin(
        &app,
        Method::DELETE,
        &format!("/admin/v1/customers/{id}/keys/{old_id}"),
        None,
    )
    .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    app.with_key(&old, Method::GET, "/v1/ticket-sales", None, None)
        .await
        .assert_problem(401, "urn:uitpas-checkout:problem:unauthorized");
    let answer = app.with_key(&new, Method::GET, "/v1/ticket-sales", None, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // A disabled customer's keys are refused.
    let patched = admin(
        &app,
        Method::PATCH,
        &format!("/admin/v1/customers/{id}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    app.with_key(&new, Method::GET, "/v1/ticket-sales", None, None)
        .await
        .assert_problem(403, "urn:uitpas-checkout:problem:customer-disabled");
}

#[tokio::test]
async fn the_admin_api_needs_its_key_and_refuses_credentials_publiq_refuses() {
    let app = spawn().await;
    let answer = app.get("/admin/v1/customers").await;
    answer.assert_problem(401, "urn:uitpas-checkout:problem:unauthorized");
    // A shop key is not an admin key.
    app.with_key(SHOP_KEY, Method::GET, "/admin/v1/customers", None, None)
        .await
        .assert_problem(401, "urn:uitpas-checkout:problem:unauthorized");
    let listed = admin(&app, Method::GET, "/admin/v1/customers", None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "the default customer");
    assert_eq!(listed.body[0]["fromEnvironment"], true);
    // The token server refuses a wrong secret: nothing stored.
    let refused = admin(
        &app,
        Method::POST,
        "/admin/v1/customers",
        Some(json!({"name": "X", "environment": "test", "clientId": B_CLIENT.0, "clientSecret": "wrong"})),
    )
    .await;
    refused.assert_problem(422, "urn:uitpas-checkout:problem:credentials-refused");
    let listed = admin(&app, Method::GET, "/admin/v1/customers", None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn each_customer_acts_for_its_own_organizers_as_get_permissions_says() {
    let app = spawn().await;
    let (id, b_key, _) = customer(&app, "Customer B", B_CLIENT).await;
    let shown = admin(&app, Method::GET, &format!("/admin/v1/customers/{id}"), None).await;
    let organizers = &shown.body["permissions"]["organizers"];
    assert_eq!(organizers[0]["id"], OTHER_ORGANIZER, "{}", shown.body);
    assert!(
        organizers[0]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("TICKETSALES_REGISTER"))
    );
    // B's event is B's to sell, not the default customer's.
    let event = format!("/v1/events/{B_EVENT}/uitpas");
    let b_view = app.with_key(&b_key, Method::GET, &event, None, None).await;
    assert_eq!(b_view.body["enabled"], true, "{}", b_view.body);
}

#[tokio::test]
async fn an_activity_for_an_organizer_without_permission_is_refused_before_uitdatabank() {
    let app = spawn().await;
    let (_, key, _) = customer(&app, "No register", NO_REGISTER_CLIENT).await;
    let before = app.upstream_calls("event-post").await;
    let activity = with(
        activity(),
        json!({"locationId": "c3b1f9a0-6b8e-4f55-9a8a-000000000001", "eventTypeId": "0.50.4.0.0"}),
    );
    app.with_key(&key, Method::PUT, "/v1/activities/kamp-1", Some(activity), None)
        .await
        .assert_problem(403, "urn:uitpas-checkout:problem:permission-missing");
    assert_eq!(app.upstream_calls("event-post").await, before, "UiTdatabank not asked");
}

#[tokio::test]
async fn a_permission_revoked_mid_life_parks_the_work_for_a_person() {
    let app = spawn().await;
    let (_, b_key, _) = customer(&app, "Customer B", B_CLIENT).await;
    let first = app
        .register_as(&b_key, "b-1", order_for(B_EVENT, "b-1", GROUP_PASS))
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    // publiq revokes B's permission to register while the service still holds the old list.
    common::grant(&app.sandbox, B_CLIENT.0, OTHER_ORGANIZER, &["TARIFFS_READ"]).await;
    let posts = app.upstream_calls("post-ticket-sales").await;
    let second = app
        .register_as(&b_key, "b-2", order_for(B_EVENT, "b-2", GROUP_PASS))
        .await;
    let problem = second.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("https://api.publiq.be/probs/auth/forbidden"),
        "{problem}"
    );
    // Never retried blindly: the worker leaves it for a person.
    app.drain().await;
    assert_eq!(app.upstream_calls("post-ticket-sales").await, posts + 1);
    let id = problem["registrationId"].as_str().unwrap();
    let read = app
        .with_key(&b_key, Method::GET, &format!("/v1/registrations/{id}"), None, None)
        .await;
    assert_eq!(read.body["status"], "needs-attention", "{}", read.body);
    assert_eq!(
        read.body["problem"]["type"], "https://api.publiq.be/probs/auth/forbidden",
        "{}",
        read.body
    );
}

#[tokio::test]
async fn a_checkout_token_opens_its_cart_only_for_a_budget_of_passes() {
    let app = spawn().await;
    let (_, b_key, b_public) = customer(&app, "Customer B", B_CLIENT).await;
    // The publishable key serves the public endpoints as customer B.
    let answer = app
        .with_key(&b_public, Method::GET, "/v1/passes/0900000067513", None, None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // … but not the shop endpoints.
    app.with_key(&b_public, Method::GET, "/v1/ticket-sales", None, None)
        .await
        .assert_problem(401, "urn:uitpas-checkout:problem:unauthorized");
    // From an origin that is not the customer's: refused.
    let auth = format!("Bearer {b_public}");
    app.request(
        Method::GET,
        "/v1/passes/0900000067513",
        None,
        &[("authorization", &auth), ("origin", "https://evil.example")],
    )
    .await
    .assert_problem(403, "urn:uitpas-checkout:problem:origin-not-allowed");

    let minted = app
        .with_key(
            &b_key,
            Method::POST,
            "/v1/checkout-tokens",
            // Its own organizer's event: a token is made for the customer's events only.
            Some(json!({"eventIds": [B_EVENT], "maxPasses": 2})),
            None,
        )
        .await;
    assert_eq!(minted.status, 201, "{}", minted.body);
    let token = minted.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ct_"));
    // Two passes, each as often as the buyer likes.
    for number in [ACTIVE_PASS, "0900000095902", ACTIVE_PASS] {
        let answer = app
            .with_key(&token, Method::GET, &format!("/v1/passes/{number}"), None, None)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // A third pass: the budget is spent.
    app.with_key(&token, Method::GET, "/v1/passes/0900000031618", None, None)
        .await
        .assert_problem(403, "urn:uitpas-checkout:problem:checkout-token-budget-spent");
    // Another event than the cart's.
    let other = "d83b5b8a-108a-45d6-9ac9-8bdc44a0a24a";
    app.with_key(
        &token,
        Method::GET,
        &format!("/v1/tariffs/static?eventId={other}&regularPrice=10"),
        None,
        None,
    )
    .await
    .assert_problem(403, "urn:uitpas-checkout:problem:event-not-in-checkout-token");
    // An unknown token.
    app.with_key("ct_nothing", Method::GET, "/v1/passes/0900000067513", None, None)
        .await
        .assert_problem(401, "urn:uitpas-checkout:problem:checkout-token-expired");
}

#[tokio::test]
async fn production_refuses_a_public_request_without_a_key_or_token() {
    const PUBLISHABLE: &str = "pk_test-publishable-0123456789";
    let app = TestApp::spawn_configured(|c| {
        c.app_env = uitpas_checkout::config::AppEnv::Production;
        c.publishable_keys = Some(SecretList(vec![Secret::new(PUBLISHABLE)]));
    })
    .await;
    let path = "/v1/passes/0900000067513";
    app.get(path)
        .await
        .assert_problem(401, "urn:uitpas-checkout:problem:unauthorized");
    app.with_key("pk_not-a-key-0123456789", Method::GET, path, None, None)
        .await
        .assert_problem(401, "urn:uitpas-checkout:problem:unauthorized");
    let answer = app.with_key(PUBLISHABLE, Method::GET, path, None, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // The shop backend may mint a token for its checkout page.
    let minted = app
        .shop(
            Method::POST,
            "/v1/checkout-tokens",
            Some(json!({"eventIds": [TEST_EVENT]})),
            &[],
        )
        .await;
    assert_eq!(minted.status, 201, "{}", minted.body);
    let token = minted.body["token"].as_str().unwrap();
    let answer = app.with_key(token, Method::GET, path, None, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_registration_for_an_organizer_without_permission_is_refused_before_uitpas() {
    let app = spawn().await;
    let (_, key, _) = customer(&app, "No register", NO_REGISTER_CLIENT).await;
    let posts = app.upstream_calls("post-ticket-sales").await;
    // The customer's client may read tariffs for the test organizer, not register sales.
    let refused = app.register_as(&key, "nr-1", order("nr-1", ACTIVE_PASS)).await;
    let problem = refused.assert_problem(403, "urn:uitpas-checkout:problem:permission-missing");
    assert!(
        problem["detail"].as_str().unwrap().contains("TICKETSALES_REGISTER"),
        "{problem}"
    );
    // And the default customer may not sell another organizer's event.
    app.register("a-1", order_for(B_EVENT, "a-1", ACTIVE_PASS))
        .await
        .assert_problem(403, "urn:uitpas-checkout:problem:permission-missing");
    assert_eq!(app.upstream_calls("post-ticket-sales").await, posts, "UiTPAS not asked");
    let stored = app.with_key(&key, Method::GET, "/v1/ticket-sales", None, None).await;
    assert_eq!(stored.body["totalItems"], 0, "nothing stored: {}", stored.body);
    let stored = app.shop(Method::GET, "/v1/ticket-sales", None, &[]).await;
    assert_eq!(stored.body["totalItems"], 0, "nothing stored: {}", stored.body);
    // The event is not for sale at either, as the checkout is told.
    let view = app
        .with_key(
            &key,
            Method::GET,
            &format!("/v1/events/{TEST_EVENT}/uitpas"),
            None,
            None,
        )
        .await;
    assert_eq!(view.body["enabled"], false, "{}", view.body);
    let view = app.get(&format!("/v1/events/{B_EVENT}/uitpas")).await;
    assert_eq!(view.body["enabled"], false, "{}", view.body);
}

#[tokio::test]
async fn credentials_rotate_after_the_token_server_accepts_them() {
    let app = spawn().await;
    let (id, key, _) = customer(&app, "Customer B", B_CLIENT).await;
    let path = format!("/admin/v1/customers/{id}/credentials");
    // Refused by the token server: nothing changes.
    admin(
        &app,
        Method::PUT,
        &path,
        Some(json!({"clientId": NO_REGISTER_CLIENT.0, "clientSecret": "not-its-secret"})),
    )
    .await
    .assert_problem(422, "urn:uitpas-checkout:problem:credentials-refused");
    let b_order = || Some(order_for(B_EVENT, "b-1", GROUP_PASS));
    let answer = app
        .with_key(&key, Method::POST, "/v1/registrations", b_order(), Some("b-1"))
        .await;
    assert_eq!(answer.status, 201, "still B's own client: {}", answer.body);
    // The default test client's credentials: from now on B acts for the test organizer only.
    let rotated = admin(
        &app,
        Method::PUT,
        &path,
        Some(json!({"clientId": "uitpas-checkout-sandbox", "clientSecret": "sandbox"})),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(rotated.body["clientId"], "uitpas-checkout-sandbox");
    assert_eq!(
        rotated.body["permissions"]["organizers"][0]["id"],
        uitpas_checkout::sandbox::dataset::TEST_ORGANIZER,
        "{}",
        rotated.body
    );
    let other = Some(order_for(B_EVENT, "b-2", GROUP_PASS));
    app.with_key(&key, Method::POST, "/v1/registrations", other, Some("b-2"))
        .await
        .assert_problem(403, "urn:uitpas-checkout:problem:permission-missing");
    let test_event = app.register_as(&key, "b-3", order("b-3", ACTIVE_PASS)).await;
    assert_eq!(test_event.status, 201, "{}", test_event.body);
    // The same keys kept working throughout: no downtime for the shop.
    let listed = app.with_key(&key, Method::GET, "/v1/ticket-sales", None, None).await;
    assert_eq!(listed.body["totalItems"], 2, "{}", listed.body);
}

/// Two keys for the customers' secrets (`openssl rand -hex 32` in life).
const KEY_1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const KEY_2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

async fn spawn_with_key(key: &'static str) -> TestApp {
    TestApp::spawn_configured(move |c| {
        c.admin_keys = Some(SecretList(vec![Secret::new(ADMIN_KEY)]));
        c.customer_secrets_key = Some(Secret::new(key));
    })
    .await
}

/// Starts another app on `app`'s database with other settings; what stopped it, one line.
async fn start_error(app: &TestApp, configure: impl FnOnce(&mut uitpas_checkout::Config)) -> String {
    let mut config = app.config();
    configure(&mut config);
    match uitpas_checkout::build(config).await {
        Ok(_) => panic!("the app started"),
        Err(e) => uitpas_checkout::app::startup_problems(&e).join("; "),
    }
}

#[tokio::test]
async fn a_key_that_cannot_open_the_stored_secrets_stops_the_start_naming_the_customer() {
    let app = spawn_with_key(KEY_1).await;
    let (id, b_key, _) = customer(&app, "Customer B", B_CLIENT).await;
    let error = start_error(&app, |c| c.customer_secrets_key = Some(Secret::new(KEY_2))).await;
    assert!(error.contains("\"Customer B\"") && error.contains(&id), "{error}");
    assert!(error.contains("CUSTOMER_SECRETS_KEY_PREVIOUS"), "the remedy: {error}");
    assert!(!error.contains(KEY_1) && !error.contains(KEY_2), "{error}");

    // Told to start all the same: the others are served, B is named and refused with a 503.
    let other = app
        .replica_with(|c| {
            c.customer_secrets_key = Some(Secret::new(KEY_2));
            c.start_with_sealed_customers = true;
        })
        .await;
    let ready = other.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["sealedCustomers"], json!([id]), "{}", ready.body);
    let listed = admin(&other, Method::GET, "/admin/v1/customers", None).await;
    let b = listed.body.as_array().unwrap().iter().find(|c| c["id"] == id.as_str());
    assert_eq!(b.unwrap()["status"], "sealed-with-another-key", "{}", listed.body);
    let shown = admin(&other, Method::GET, &format!("/admin/v1/customers/{id}"), None).await;
    assert_eq!(shown.body["status"], "sealed-with-another-key", "{}", shown.body);
    other
        .with_key(&b_key, Method::GET, "/v1/ticket-sales", None, None)
        .await
        .assert_problem(503, "urn:uitpas-checkout:problem:customer-unavailable");
    // New credentials seal B's secrets with the current key: B's keys work again.
    let resealed = admin(
        &other,
        Method::PUT,
        &format!("/admin/v1/customers/{id}/credentials"),
        Some(json!({"clientId": B_CLIENT.0, "clientSecret": B_CLIENT.1})),
    )
    .await;
    assert_eq!(resealed.status, 200, "{}", resealed.body);
    assert_eq!(resealed.body["status"], "active", "{}", resealed.body);
    let answer = other
        .with_key(&b_key, Method::GET, "/v1/ticket-sales", None, None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(other.get("/readyz").await.body.get("sealedCustomers").is_none());
}

#[tokio::test]
async fn the_previous_key_reseals_every_stored_secret_with_the_new_one() {
    use uitpas_checkout::secrets::SecretsKey;
    let app = spawn_with_key(KEY_1).await;
    let created = admin(
        &app,
        Method::POST,
        "/admin/v1/customers",
        Some(json!({
            "name": "Customer B", "environment": "test", "clientId": B_CLIENT.0, "clientSecret": B_CLIENT.1,
            "webhookUrl": "http://127.0.0.1:9/hooks", "webhookSecret": "whsec_customer_b_0123456789",
        })),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["customer"]["id"].as_str().unwrap().to_owned();
    let b_key = created.body["secretKey"]["key"].as_str().unwrap().to_owned();

    let rotated = app
        .replica_with(|c| {
            c.customer_secrets_key = Some(Secret::new(KEY_2));
            c.customer_secrets_key_previous = Some(Secret::new(KEY_1));
        })
        .await;
    let answer = rotated
        .with_key(&b_key, Method::GET, "/v1/ticket-sales", None, None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // Both secrets are sealed with the new key now, and no longer open with the old one.
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let (client, webhook): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT client_secret, webhook_secret FROM customers WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&db)
            .await
            .unwrap();
    let uuid: uuid::Uuid = id.parse().unwrap();
    let (new, old) = (
        SecretsKey::from_hex(KEY_2).unwrap(),
        SecretsKey::from_hex(KEY_1).unwrap(),
    );
    assert_eq!(new.open(uuid, &client).unwrap().expose(), B_CLIENT.1);
    assert_eq!(
        new.open(uuid, &webhook).unwrap().expose(),
        "whsec_customer_b_0123456789"
    );
    assert!(old.open(uuid, &client).is_err() && old.open(uuid, &webhook).is_err());
    // A start with the new key alone serves B (it would stop, naming B, if anything were left).
    let after = app
        .replica_with(|c| c.customer_secrets_key = Some(Secret::new(KEY_2)))
        .await;
    let answer = after
        .with_key(&b_key, Method::GET, "/v1/ticket-sales", None, None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn development_never_makes_a_new_key_over_stored_secrets() {
    // Development keeps its key in the database; this one has lost it (restored without it, say).
    let app = spawn().await;
    customer(&app, "Customer B", B_CLIENT).await;
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    sqlx::query("DELETE FROM development_settings WHERE name = 'customer_secrets_key'")
        .execute(&db)
        .await
        .unwrap();
    let error = start_error(&app, |_| {}).await;
    assert!(
        error.contains("\"Customer B\"") && error.contains("CUSTOMER_SECRETS_KEY"),
        "{error}"
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM development_settings WHERE name = 'customer_secrets_key'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(kept, 0, "no new key made over the stored secrets");
}
