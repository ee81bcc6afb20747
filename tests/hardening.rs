//! The service against hostile or broken surroundings: slow clients, more connections than it
//! serves, and PostgreSQL going away and coming back (through a proxy the test cuts, so that the
//! PostgreSQL server the other tests share stays up).

mod common;

use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::service::Service;
use common::{Answer, SHOP_KEY, TEST_EVENT, TestApp, TestDatabase, TestOptions};
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uitpas_checkout::Config;
use uitpas_checkout::config::{HumanDuration, Secret};
use uitpas_checkout::sandbox::{self, SandboxConfig};

const UNAVAILABLE: &str = "urn:uitpas-checkout:problem:database-unavailable";
const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

async fn spawn(configure: impl FnOnce(&mut Config) + Send + 'static) -> TestApp {
    TestApp::spawn_with(TestOptions {
        configure: Box::new(configure),
        ..TestOptions::default()
    })
    .await
}

/// An app whose connections to PostgreSQL all go through `proxy`.
async fn spawn_behind(proxy: &Proxy) -> TestApp {
    let addr = proxy.addr;
    spawn(move |c| c.database_url = Secret::new(Proxy::url_through(addr, c.database_url.expose()))).await
}

/// Reads one HTTP/1.1 answer with a Content-Length body; its status line and headers.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("the answer is read");
        assert!(n > 0, "the connection closed before an answer: {received:?}");
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return head.to_owned();
            }
        }
    }
}

fn order(id: &str) -> Value {
    json!({"orderId": id, "tickets": [
        {"eventId": TEST_EVENT, "uitpasNumber": "0900000067513", "tariffId": "kansentarief-regio-gent", "regularPrice": 10}
    ]})
}

fn activity() -> Value {
    json!({
        "name": {"nl": "Zomerkamp De Krekel"},
        "mainLanguage": "nl",
        "calendar": {"type": "permanent"},
        "locationId": "85b04295-479c-40f5-b3dd-469dfb4387b3",
        "organizerId": "0ce87cbc-9299-4528-8d35-92225dc9489f",
        "eventTypeId": "0.57.0.0.0",
        "basePrice": 10
    })
}

/// A registration nobody made: answering 404 takes a query.
fn unknown_registration() -> String {
    format!("/v1/registrations/{}", uuid::Uuid::new_v4())
}

#[tokio::test]
async fn a_client_sending_its_headers_a_byte_at_a_time_is_disconnected_while_others_are_answered() {
    let timeout = Duration::from_millis(500);
    let app = spawn(move |c| c.header_read_timeout = HumanDuration(timeout)).await;

    let started = Instant::now();
    let (mut from_app, mut to_app) = TcpStream::connect(app.addr).await.unwrap().into_split();
    // The attack: a byte every 50 ms, headers that never end.
    let slowloris = tokio::spawn(async move {
        let bytes = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: "
            .iter()
            .chain(std::iter::repeat(&b'a'));
        for byte in bytes {
            if to_app.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status, 200);
    }
    let hung_up = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = from_app.read(&mut buf).await
            && n > 0
        {}
    })
    .await;
    let elapsed = started.elapsed();
    assert!(hung_up.is_ok(), "the slow client is still connected after {elapsed:?}");
    assert!(
        elapsed >= timeout - Duration::from_millis(50) && elapsed < timeout + Duration::from_secs(2),
        "disconnected after {elapsed:?}, the header timeout is {timeout:?}"
    );
    slowloris.abort();

    // A client that connects and sends nothing is let go too.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "a silent client is disconnected: {read:?}"
    );
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn(|c| {
        c.max_connections = 2;
        c.header_read_timeout = HumanDuration(Duration::from_secs(60));
    })
    .await;
    // Two kept-alive connections, each answered once: both hold a slot.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(REQUEST).await.unwrap();
        assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    let addr = app.addr;
    let mut third = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(REQUEST).await.unwrap();
        read_answer(&mut stream).await
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut third)
            .await
            .is_err(),
        "a third connection is served while two are open and the cap is two"
    );
    drop(held.pop());
    let answer = tokio::time::timeout(Duration::from_secs(10), third)
        .await
        .expect("the waiting connection is served once a slot is free")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// `uitpas_checkout_http_connections` on `/metrics`.
async fn open_connections(client: &reqwest::Client, service: &Service) -> Option<u64> {
    let text = client
        .get(service.url("/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("uitpas_checkout_http_connections "))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn a_flood_of_connections_beyond_the_cap_leaves_the_service_its_file_descriptors() {
    // The flood is more than the service has file descriptors, yet all of it gets through
    // `connect` (the kernel's listen backlog, 128, holds what the service does not accept).
    const OPEN_FILES: u32 = 100;
    const CAP: u64 = 24;
    const FLOOD: usize = 120;
    let sandbox = sandbox::spawn(SandboxConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let db = TestDatabase::create().await;
    let proxy = Proxy::to_postgres().await;
    let database_url = Proxy::url_through(proxy.addr, &db.url);
    let cap = CAP.to_string();
    let service = Service::start_with_open_files(
        &db,
        &sandbox,
        &[
            ("DATABASE_URL", &database_url),
            ("MAX_CONNECTIONS", &cap),
            ("HEADER_READ_TIMEOUT", "60s"),
        ],
        Some(OPEN_FILES),
    )
    .await;
    // A client that was there first, on one kept-alive connection (each body is read whole, so
    // that the connection is used again).
    let client = reqwest::Client::new();
    let ready = common::read(client.get(service.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(ready.status, 200);

    // Connections that send nothing.
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        flood.push(TcpStream::connect(service.addr).await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let open = open_connections(&client, &service).await;
        if open == Some(CAP) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service holds {CAP} connections, not {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // PostgreSQL drops every connection: the next queries need new descriptors.
    proxy.cut().await;
    proxy.restore();
    let answer = common::read(
        client
            .get(service.url(&unknown_registration()))
            .bearer_auth(SHOP_KEY)
            .send()
            .await
            .expect("the first client is still answered"),
    )
    .await;
    answer.assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    let ready = common::read(client.get(service.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(ready.status, 200);
    assert_eq!(
        open_connections(&client, &service).await,
        Some(CAP),
        "no connection beyond the cap was taken"
    );
    assert!(
        !service.logs().contains("No file descriptors") && !service.logs().contains("Too many open files"),
        "the service ran out of file descriptors: {}",
        service.logs()
    );

    // The flood leaves: a new client is served again.
    drop(flood);
    let fresh = reqwest::Client::new();
    let ready = tokio::time::timeout(Duration::from_secs(10), fresh.get(service.url("/readyz")).send())
        .await
        .expect("a new client is served once the flood has left")
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert!(service.terminate().await.success(), "a clean stop on SIGTERM");
}

#[tokio::test]
async fn a_database_outage_answers_503_database_unavailable_with_retry_after() {
    let proxy = Proxy::to_postgres().await;
    let app = spawn_behind(&proxy).await;
    let sale = format!("/v1/ticket-sales/{}", uuid::Uuid::new_v4());
    let registration = unknown_registration();
    proxy.cut().await;

    // Every endpoint that touches the database, at once (each may wait out the acquire timeout).
    let check_in = json!({"checkedIn": true});
    let calls: Vec<(&str, BoxFuture<'_, Answer>)> = vec![
        ("register", Box::pin(app.register("outage-1", order("outage-1")))),
        (
            "get registration",
            Box::pin(app.shop(Method::GET, &registration, None, &[])),
        ),
        (
            "search",
            Box::pin(app.shop(Method::GET, "/v1/ticket-sales?orderId=o", None, &[])),
        ),
        ("get sale", Box::pin(app.shop(Method::GET, &sale, None, &[]))),
        ("cancel", Box::pin(app.shop(Method::DELETE, &sale, None, &[]))),
        (
            "check in",
            Box::pin(app.shop(Method::PATCH, &sale, Some(check_in), &[])),
        ),
        (
            "put activity",
            Box::pin(app.shop(Method::PUT, "/v1/activities/outage", Some(activity()), &[])),
        ),
        (
            "get activity",
            Box::pin(app.shop(Method::GET, "/v1/activities/outage", None, &[])),
        ),
    ];
    let (names, calls): (Vec<_>, Vec<_>) = calls.into_iter().unzip();
    let answers: Vec<_> = names.into_iter().zip(futures::future::join_all(calls).await).collect();
    for (what, answer) in &answers {
        assert_eq!(answer.status, 503, "{what}: {}", answer.body);
        answer.assert_problem(503, UNAVAILABLE);
        assert_eq!(
            answer.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("5"),
            "{what}: Retry-After"
        );
    }
    assert_eq!(app.get("/readyz").await.status, 503);

    proxy.restore();
    app.shop(Method::GET, &unknown_registration(), None, &[])
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    assert_eq!(app.register("outage-2", order("outage-2")).await.status, 201);
}

#[tokio::test]
async fn after_postgresql_drops_every_connection_the_very_next_request_succeeds() {
    let proxy = Proxy::to_postgres().await;
    let app = spawn_behind(&proxy).await;
    // Several pooled connections, in both pools: concurrent reads, and a registration (its
    // answer is settled on a pool of its own).
    let paths: Vec<String> = (0..16).map(|_| unknown_registration()).collect();
    let reads = paths.iter().map(|path| app.shop(Method::GET, path, None, &[]));
    for answer in futures::future::join_all(reads).await {
        answer.assert_problem(404, "urn:uitpas-checkout:problem:not-found");
    }
    assert_eq!(app.register("restart-1", order("restart-1")).await.status, 201);
    assert!(proxy.open_connections() >= 2, "more than one connection to PostgreSQL");

    proxy.cut().await;
    proxy.restore();
    app.shop(Method::GET, &unknown_registration(), None, &[])
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");

    proxy.cut().await;
    proxy.restore();
    let registered = app.register("restart-2", order("restart-2")).await;
    assert_eq!(registered.status, 201, "{}", registered.body);

    proxy.cut().await;
    proxy.restore();
    let sale = registered.body["ticketSales"][0]["id"].as_str().unwrap();
    let cancelled = app
        .shop(Method::DELETE, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(cancelled.status, 204, "{}", cancelled.body);
}
