//! The logs of a whole session of the real binary, at debug level, hold no secret (client
//! secret, shop key, access tokens) and no whole UiTPAS number; and SIGTERM stops it cleanly.

mod common;

use common::service::{CLIENT_SECRET, Service};
use common::{SHOP_KEY, TEST_EVENT, TestDatabase, read};
use serde_json::json;

const ADMIN_KEY: &str = "logs-admin-key-0123456789";
const SECRETS_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
/// The sandbox's secret of its client `sandbox-customer-b`.
const B_SECRET: &str = "sandbox-b";

const NUMBERS: [&str; 6] = [
    "0900000067513",
    "0900000058918",
    "0900000002312",
    "0900000074519",
    "0900000031618",
    "0900000000019",
];

#[tokio::test]
async fn a_debug_session_logs_no_secret_and_no_whole_uitpas_number() {
    let sandbox = common::spawn_sandbox().await;
    let db = TestDatabase::create().await;
    let service = Service::start(
        &db,
        &sandbox,
        &[
            ("RUST_LOG", "debug"),
            ("ADMIN_KEYS", ADMIN_KEY),
            ("CUSTOMER_SECRETS_KEY", SECRETS_KEY),
        ],
    )
    .await;
    let http = reqwest::Client::new();

    // A second customer, its keys and a checkout token: none of them may reach the logs.
    let created = read(
        http.post(service.url("/admin/v1/customers"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"name": "B", "environment": "test", "clientId": "sandbox-customer-b", "clientSecret": B_SECRET}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let b_key = created.body["secretKey"]["key"].as_str().unwrap().to_owned();
    let b_public = created.body["publishableKey"]["key"].as_str().unwrap().to_owned();
    let token = read(
        http.post(service.url("/v1/checkout-tokens"))
            .bearer_auth(&b_key)
            // B's own organizer's event: a token is made for the customer's events only.
            .json(&json!({"eventIds": ["373d6cee-b4ae-4637-9b7c-eeb79e45f044"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(token.status, 201, "{}", token.body);
    let token = token.body["token"].as_str().unwrap().to_owned();
    for credential in [&b_public, &token] {
        let answer = http
            .get(service.url(&format!("/v1/passes/{}", NUMBERS[0])))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }

    for number in NUMBERS {
        http.get(service.url(&format!("/v1/passes/{number}")))
            .send()
            .await
            .unwrap();
        http.get(service.url(&format!(
            "/v1/tariffs?eventId={TEST_EVENT}&uitpasNumber={number}&regularPrice=10"
        )))
        .send()
        .await
        .unwrap();
    }
    http.post(service.url("/v1/quotes"))
        .json(&json!({"uitpasNumber": NUMBERS[0], "lines": [{"eventId": TEST_EVENT, "regularPrice": 10}]}))
        .send()
        .await
        .unwrap();
    let order = |id: &str, n: &str| json!({"orderId": id, "tickets": [{"eventId": TEST_EVENT, "uitpasNumber": n, "tariffId": "kansentarief-regio-gent", "regularPrice": 10}]});
    let registered = read(
        http.post(service.url("/v1/registrations"))
            .bearer_auth(SHOP_KEY)
            .header("idempotency-key", "logs-1")
            .json(&order("o-1", NUMBERS[0]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let refused = http
        .post(service.url("/v1/registrations"))
        .bearer_auth(SHOP_KEY)
        .header("idempotency-key", "logs-2")
        .json(&order("o-2", NUMBERS[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let sale = registered.body["ticketSales"][0]["id"].as_str().unwrap();
    http.delete(service.url(&format!("/v1/ticket-sales/{sale}")))
        .bearer_auth(SHOP_KEY)
        .send()
        .await
        .unwrap();
    let wrong = http
        .get(service.url("/v1/ticket-sales"))
        .bearer_auth("a-wrong-shop-key-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let search = http
        .get(service.url(&format!("/v1/ticket-sales?uitpasNumber={}", NUMBERS[0])))
        .bearer_auth(SHOP_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 200);

    let logs = service.logs();
    let status = service.terminate().await;
    assert!(status.success(), "SIGTERM ends the process cleanly: {status:?}");

    assert!(
        logs.lines().count() > 20,
        "the session was logged at debug level:\n{logs}"
    );
    for secret in [
        CLIENT_SECRET,
        SHOP_KEY,
        "a-wrong-shop-key-0123456789",
        "sbx.",
        ADMIN_KEY,
        SECRETS_KEY,
        B_SECRET,
        &b_key,
        &b_public,
        &token,
    ] {
        assert!(!logs.contains(secret), "a secret ({secret}) is in the logs:\n{logs}");
    }
    for number in NUMBERS {
        assert!(
            !logs.contains(number),
            "the UiTPAS number {number} is in the logs:\n{logs}"
        );
    }
}

const OPERATOR_KEY: &str = "logs-operator-key-0123456789";

#[tokio::test]
async fn a_burst_of_wrong_operator_keys_is_one_log_line_per_address_without_the_keys() {
    let sandbox = common::spawn_sandbox().await;
    let db = TestDatabase::create().await;
    let service = Service::start(
        &db,
        &sandbox,
        &[("OPERATOR_KEYS", OPERATOR_KEY), ("CLIENT_IP_HEADER", "x-forwarded-for")],
    )
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let log_in = |address: &'static str, key: String| {
        let request = http
            .post(service.url("/console/login"))
            .header("x-forwarded-for", address)
            .form(&[("key", key)]);
        async move { request.send().await.expect("the login is answered").status().as_u16() }
    };
    // 300 wrong keys from one address, 30 at a time; 3 from another.
    let mut statuses = Vec::new();
    for batch in 0..10 {
        let tries = (0..30).map(|i| log_in("203.0.113.7", format!("wrong-key-{batch:02}{i:02}")));
        statuses.extend(futures::future::join_all(tries).await);
    }
    for i in 0..3 {
        statuses.push(log_in("198.51.100.9", format!("wrong-key-b{i}")).await);
    }
    assert_eq!(log_in("192.0.2.1", OPERATOR_KEY.to_owned()).await, 303);

    let logs = service.logs();
    assert!(service.terminate().await.success());
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("wrong operator key")).collect();
    assert_eq!(lines.len(), 2, "one line per address:\n{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("203.0.113.7")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("198.51.100.9")), "{lines:?}");
    assert!(!logs.contains("wrong-key-"), "a key tried is in the logs:\n{logs}");
    assert!(!logs.contains(OPERATOR_KEY), "the operator key is in the logs:\n{logs}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
    assert!(statuses.contains(&429), "the first address was throttled");
}
