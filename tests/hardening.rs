//! The service against hostile or broken surroundings: slow clients, more connections than it
//! serves, and PostgreSQL going away and coming back (through a proxy the test cuts, so that the
//! PostgreSQL server the other tests share stays up).

mod common;

use std::time::{Duration, Instant};

use common::fixtures::{ACTIVE_PASS, activity, order};
use common::proxy::Proxy;
use common::service::Service;
use common::{Answer, SHOP_KEY, TestApp, TestDatabase};
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uitpas_checkout::Config;
use uitpas_checkout::config::{HumanDuration, Secret, SecretList};

const UNAVAILABLE: &str = "urn:uitpas-checkout:problem:database-unavailable";
const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

async fn spawn(configure: impl FnOnce(&mut Config) + Send + 'static) -> TestApp {
    TestApp::spawn_configured(configure).await
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

/// Reads until the service closes the connection (or `limit` passes): what it sent, and whether
/// it closed.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await
            && n > 0
        {
            received.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

#[tokio::test]
async fn at_the_cap_the_connection_that_waited_longest_on_its_client_makes_room() {
    let app = spawn(|c| {
        c.max_connections = 2;
        c.header_read_timeout = HumanDuration(Duration::from_secs(60));
    })
    .await;
    // Two kept-alive connections, each answered once: both hold a slot, idle.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(REQUEST).await.unwrap();
        assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    // A third is served at once: the idle connection answered first is closed for it.
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third.write_all(REQUEST).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut third))
        .await
        .expect("a new connection is served at the cap while others idle");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, closed) = read_to_close(&mut held[0], Duration::from_secs(5)).await;
    assert!(closed, "the connection that waited longest is closed");
    held[1].write_all(REQUEST).await.unwrap();
    assert!(
        read_answer(&mut held[1]).await.starts_with("HTTP/1.1 200"),
        "the other one stays"
    );
    // (Reading the metrics takes a connection too: one more is closed for it.)
    let shed = app.metrics_text().await;
    assert!(
        shed.contains(r#"uitpas_checkout_http_slow_clients_total{reason="shed-at-cap"} 2"#),
        "{shed}"
    );
}

#[tokio::test]
async fn beyond_the_cap_a_connection_waits_while_every_open_one_is_being_answered() {
    let app = spawn(|c| {
        c.max_connections = 2;
        c.header_read_timeout = HumanDuration(Duration::from_secs(60));
    })
    .await;
    // Two pass lookups that UiTPAS answers after 3 s: both connections are being answered.
    app.fault(json!({"operation": "get-passes", "mode": "delay", "delayMs": 3000}))
        .await;
    let addr = app.addr;
    let lookups: Vec<_> = ["0900000067513", "0900000058918"]
        .into_iter()
        .map(|number| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                let request = format!("GET /v1/passes/{number} HTTP/1.1\r\nHost: test\r\n\r\n");
                stream.write_all(request.as_bytes()).await.unwrap();
                read_answer(&mut stream).await
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.upstream_calls("get-passes").await < 2 {
        assert!(Instant::now() < deadline, "both lookups reach UiTPAS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut third = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(REQUEST).await.unwrap();
        read_answer(&mut stream).await
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(1000), &mut third)
            .await
            .is_err(),
        "a third connection is served while two are being answered and the cap is two"
    );
    let answer = tokio::time::timeout(Duration::from_secs(10), third)
        .await
        .expect("the waiting connection is served once one is answered")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for lookup in lookups {
        let answer = lookup.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

/// A registration's headers and the start of its body, `length` bytes announced.
fn slow_registration(key: &str, length: usize) -> String {
    format!(
        "POST /v1/registrations HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {SHOP_KEY}\r\nIdempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{\"orderId\": "
    )
}

/// A console login's headers and the start of its form, `length` bytes announced.
fn slow_login(length: usize) -> String {
    format!(
        "POST /console/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\nkey="
    )
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408_and_its_connection_closed() {
    // 4 s for the largest body: a small one gets an eighth of it.
    let app = spawn(|c| c.body_read_timeout = HumanDuration(Duration::from_secs(4))).await;
    let timeout = Duration::from_millis(500);
    for head in [slow_registration("slow-1", 300), slow_login(300)] {
        let started = Instant::now();
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        assert_eq!(app.get("/healthz").await.status, 200, "others are answered meanwhile");
        let (answer, closed) = read_to_close(&mut stream, Duration::from_secs(10)).await;
        let elapsed = started.elapsed();
        assert!(closed, "the connection is closed: {answer}");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        let lower = answer.to_ascii_lowercase();
        assert!(lower.contains("content-type: application/problem+json"), "{answer}");
        assert!(lower.contains("connection: close"), "{answer}");
        assert!(
            answer.contains("urn:uitpas-checkout:problem:request-timeout"),
            "{answer}"
        );
        assert!(
            elapsed >= timeout - Duration::from_millis(50) && elapsed < timeout + Duration::from_secs(3),
            "answered after {elapsed:?}, the body's deadline is {timeout:?}"
        );
    }
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"uitpas_checkout_http_slow_clients_total{reason="body-timeout"} 2"#),
        "{metrics}"
    );
    // A body that comes in time is read as ever.
    assert_eq!(app.register("slow-2", order("slow-2", ACTIVE_PASS)).await.status, 201);
}

/// One attacker: a request whose body trickles in a byte a second; when the service closes the
/// connection, a new one about a second later. The first connection adds a permit to `connected`.
async fn trickle(addr: std::net::SocketAddr, head: String, connected: std::sync::Arc<tokio::sync::Semaphore>) {
    let mut first = true;
    loop {
        if let Ok(mut stream) = TcpStream::connect(addr).await {
            if first {
                connected.add_permits(1);
                first = false;
            }
            if stream.write_all(head.as_bytes()).await.is_ok() {
                let mut buf = [0u8; 1024];
                loop {
                    tokio::select! {
                        read = stream.read(&mut buf) => if !matches!(read, Ok(n) if n > 0) { break },
                        () = tokio::time::sleep(Duration::from_secs(1)) => {
                            if stream.write_all(b"1").await.is_err() { break }
                        }
                    }
                }
            }
        }
        // The attacker's pace between connections, about a second (not a synchronisation).
        tokio::time::sleep(Duration::from_millis(500 + fastrand::u64(..1000))).await;
    }
}

#[tokio::test]
async fn two_thousand_slow_bodies_leave_health_checks_and_shop_requests_answered_in_time() {
    const SLOW: usize = 2_000;
    const LIMIT: Duration = Duration::from_secs(2);
    // The defaults: MAX_CONNECTIONS 448, BODY_READ_TIMEOUT 10 s.
    let app = spawn(|_| {}).await;
    let connected = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let mut attackers = tokio::task::JoinSet::new();
    for i in 0..SLOW {
        let head = if i % 2 == 0 {
            slow_login(1000)
        } else {
            slow_registration(&format!("slow-{i}"), 1000)
        };
        attackers.spawn(trickle(app.addr, head, connected.clone()));
    }
    // All of them connected (or half a minute passed: on a service that lets them hold its
    // connections, the last ones wait in its listen backlog, or retry to get in).
    let all_connected = tokio::time::timeout(Duration::from_secs(30), connected.acquire_many(SLOW as u32))
        .await
        .is_ok();

    // Each probe on a connection of its own, as a load balancer's health check.
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(LIMIT)
        .build()
        .unwrap();
    let mut slowest = Duration::ZERO;
    let mut failed = Vec::new();
    for round in 0..10 {
        let probes = [
            probe.get(app.url("/healthz")),
            probe
                .get(app.url("/v1/ticket-sales?orderId=probe"))
                .bearer_auth(SHOP_KEY),
        ];
        for request in probes {
            let started = Instant::now();
            match request.send().await {
                Ok(answer) if answer.status() == 200 => slowest = slowest.max(started.elapsed()),
                other => failed.push(format!("round {round}: {other:?}")),
            }
        }
        let started = Instant::now();
        let key = format!("probe-{round}");
        let registered = probe
            .post(app.url("/v1/registrations"))
            .bearer_auth(SHOP_KEY)
            .header("idempotency-key", &key)
            .json(&order(&key, ACTIVE_PASS))
            .send()
            .await;
        match registered {
            Ok(answer) if answer.status() == 201 => slowest = slowest.max(started.elapsed()),
            other => failed.push(format!("round {round}, registration: {other:?}")),
        }
    }
    let metrics = app.metrics_text().await;
    attackers.abort_all();
    assert!(failed.is_empty(), "{} of 30 probes failed: {failed:?}", failed.len());
    assert!(all_connected, "the {SLOW} slow clients connected within half a minute");

    let shed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"uitpas_checkout_http_slow_clients_total{reason="shed-at-cap"} "#))
        .and_then(|v| v.trim().parse().ok())
        .expect("the count of connections shed");
    assert!(shed > 0, "the slow clients filled the cap: {metrics}");
    eprintln!("the slowest of 30 probes among {SLOW} slow bodies: {slowest:?}; {shed} connections shed");
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
    // `connect`: the service accepts each one, closing the one that waited longest for it.
    const OPEN_FILES: u32 = 100;
    const CAP: u64 = 24;
    const FLOOD: usize = 120;
    let sandbox = common::spawn_sandbox().await;
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
        (
            "register",
            Box::pin(app.register("outage-1", order("outage-1", ACTIVE_PASS))),
        ),
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
    assert_eq!(
        app.register("outage-2", order("outage-2", ACTIVE_PASS)).await.status,
        201
    );
}

#[tokio::test]
async fn a_full_disk_answers_503_database_unavailable_and_nothing_is_sent() {
    // PostgreSQL refuses to write for want of resources (a full disk: 53100, class 53): the shop
    // is told to try again later, as in an outage, not that the service failed; nothing reaches
    // UiTPAS, and the same order goes through once PostgreSQL can write again.
    let app = common::TestApp::spawn().await;
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    for statement in [
        "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100';
         END $$",
        "CREATE TRIGGER disk_full BEFORE INSERT ON registrations FOR EACH ROW EXECUTE FUNCTION disk_full()",
    ] {
        sqlx::query(statement).execute(&db).await.unwrap();
    }
    let body = order("disk-full", ACTIVE_PASS);
    let refused = app.register("disk-full", body.clone()).await;
    refused.assert_problem(503, UNAVAILABLE);
    assert!(refused.headers.get("retry-after").is_some(), "Retry-After");
    assert!(app.sandbox_ledger().await.is_empty(), "nothing sent to UiTPAS");

    sqlx::query("DROP TRIGGER disk_full ON registrations")
        .execute(&db)
        .await
        .unwrap();
    let again = app.register("disk-full", body).await;
    assert_eq!(again.status, 201, "{}", again.body);
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
    assert_eq!(
        app.register("restart-1", order("restart-1", ACTIVE_PASS)).await.status,
        201
    );
    assert!(proxy.open_connections() >= 2, "more than one connection to PostgreSQL");

    proxy.cut().await;
    proxy.restore();
    app.shop(Method::GET, &unknown_registration(), None, &[])
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");

    proxy.cut().await;
    proxy.restore();
    let registered = app.register("restart-2", order("restart-2", ACTIVE_PASS)).await;
    assert_eq!(registered.status, 201, "{}", registered.body);

    proxy.cut().await;
    proxy.restore();
    let sale = registered.body["ticketSales"][0]["id"].as_str().unwrap();
    let cancelled = app
        .shop(Method::DELETE, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(cancelled.status, 204, "{}", cancelled.body);
}

const OPERATOR_KEY: &str = "hardening-operator-key-0123";

/// An app whose console has [`OPERATOR_KEY`], behind a proxy that names the client in
/// `X-Forwarded-For`.
async fn console_app() -> TestApp {
    spawn(|c| {
        c.operator_keys = Some(SecretList(vec![Secret::new(OPERATOR_KEY)]));
        c.client_ip_header = Some("x-forwarded-for".into());
    })
    .await
}

/// A login form from `address`; the status, Retry-After and body.
async fn log_in(http: &reqwest::Client, app: &TestApp, address: &str, key: &str) -> (u16, Option<u64>, String) {
    let answer = http
        .post(app.url("/console/login"))
        .header("x-forwarded-for", address)
        .form(&[("key", key)])
        .send()
        .await
        .expect("the login is answered");
    let status = answer.status().as_u16();
    let retry_after = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (status, retry_after, answer.text().await.unwrap())
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn wrong_operator_keys_from_one_address_get_429_while_the_right_key_from_another_logs_in() {
    const ATTACKER: &str = "203.0.113.7";
    let app = console_app().await;
    let http = browser();
    for _ in 0..5 {
        let (status, _, page) = log_in(&http, &app, ATTACKER, "a-wrong-operator-key").await;
        assert_eq!(status, 200, "the form again: {page}");
        assert!(page.contains("niet juist"), "{page}");
    }
    // Then the address is locked out, for 1 s: a login from it is answered on its headers, its
    // body not waited for.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /console/login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: {ATTACKER}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut stream))
        .await
        .expect("answered without the body");
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");

    // 500 tries at once: next to none of them checked (the lock-out doubles with each one that
    // is: 1 s, 2 s, 4 s …).
    let tries = (0..500).map(|i| {
        let http = http.clone();
        let app = &app;
        async move { log_in(&http, app, ATTACKER, &format!("wrong-{i}")).await }
    });
    let answers = futures::future::join_all(tries).await;
    let refused: Vec<_> = answers.iter().filter(|(status, _, _)| *status == 429).collect();
    assert!(refused.len() >= 495, "{} of 500 refused", refused.len());
    for (_, retry_after, body) in &refused {
        assert!(retry_after.is_some_and(|s| s >= 1), "Retry-After: {retry_after:?}");
        let problem: Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["type"], "urn:uitpas-checkout:problem:rate-limited", "{body}");
    }
    // The right key from another address logs in.
    let (status, _, page) = log_in(&http, &app, "198.51.100.9", OPERATOR_KEY).await;
    assert_eq!(status, 303, "{page}");

    // Tries at once from a new address: five are checked, not fifty.
    let tries = (0..50).map(|_| log_in(&http, &app, "192.0.2.44", "a-wrong-operator-key"));
    let checked = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter(|(status, _, _)| *status == 200)
        .count();
    assert!((1..=6).contains(&checked), "{checked} of 50 tries at once were checked");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"uitpas_checkout_console_logins_total{outcome="throttled"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn once_many_addresses_gave_wrong_keys_those_wait_and_a_clean_address_still_logs_in() {
    let app = console_app().await;
    let http = browser();
    // 150 addresses, one wrong key each: each is checked (an address that gave none always is),
    // and together they spend the budget of all addresses (100).
    for batch in 0..3 {
        let tries = (0..50).map(|i| {
            let address = format!("10.1.{batch}.{i}");
            let http = http.clone();
            let app = &app;
            async move { log_in(&http, app, &address, "a-wrong-operator-key").await }
        });
        for (status, _, page) in futures::future::join_all(tries).await {
            assert_eq!(status, 200, "{page}");
        }
    }
    // One of them, within its own five tries, now waits for the budget.
    let (status, retry_after, page) = log_in(&http, &app, "10.1.0.0", "a-wrong-operator-key").await;
    assert_eq!(status, 429, "{page}");
    assert!(retry_after.is_some_and(|s| s >= 1));
    let (status, _, page) = log_in(&http, &app, "10.1.0.0", OPERATOR_KEY).await;
    assert_eq!(status, 429, "its right key is not checked either: {page}");
    // An address that gave no wrong key is still heard, and the right key logs in.
    let (status, _, page) = log_in(&http, &app, "10.9.9.9", OPERATOR_KEY).await;
    assert_eq!(status, 303, "{page}");
}
