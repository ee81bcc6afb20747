//! The logs of a whole session of the real binary, at debug level, hold no secret (client
//! secret, shop key, access tokens) and no whole UiTPAS number; and SIGTERM stops it cleanly.

mod common;

use common::service::{CLIENT_SECRET, Service};
use common::{SHOP_KEY, TEST_EVENT, TestDatabase, read};
use serde_json::json;
use uitpas_checkout::sandbox::{self, SandboxConfig};

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
    let sandbox = sandbox::spawn(SandboxConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let db = TestDatabase::create().await;
    let service = Service::start(&db, &sandbox, &[("RUST_LOG", "debug")]).await;
    let http = reqwest::Client::new();

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
    let order = |n: &str| json!({"orderId": "o", "tickets": [{"eventId": TEST_EVENT, "uitpasNumber": n, "tariffId": "kansentarief-regio-gent", "regularPrice": 10}]});
    let registered = read(
        http.post(service.url("/v1/registrations"))
            .bearer_auth(SHOP_KEY)
            .header("idempotency-key", "logs-1")
            .json(&order(NUMBERS[0]))
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
        .json(&order(NUMBERS[1]))
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
    for secret in [CLIENT_SECRET, SHOP_KEY, "a-wrong-shop-key-0123456789", "sbx."] {
        assert!(!logs.contains(secret), "a secret ({secret}) is in the logs:\n{logs}");
    }
    for number in NUMBERS {
        assert!(
            !logs.contains(number),
            "the UiTPAS number {number} is in the logs:\n{logs}"
        );
    }
}
