//! Black-box tests of exactly once where it is hardest (issue 12): a UiTPAS that commits after the
//! client gave up, another client selling the same pass the same ticket, a busy event whose sales
//! change while they are read, a sale that reached UiTPAS twice, and work that cannot succeed
//! without a person. The app runs against a sandbox over HTTP and a real PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::fixtures::{ACTIVE_PASS, GENT, GROUP_PASS, order, ticket, uitpas_sale};
use common::proxy::Proxy;
use common::{SHOP_KEY, TEST_EVENT, TestApp, TestOptions, until};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uitpas_checkout::config::{HumanDuration, Secret};
use uitpas_checkout::sandbox::dataset::synthetic_active_pass;

/// An app whose calls to UiTPAS time out after 300 ms, and whose sends may commit for `window`.
async fn app_with_window(window: Duration) -> TestApp {
    TestApp::spawn_configured(move |c| {
        c.upstream_timeout = HumanDuration(Duration::from_millis(300));
        c.replay_lease = HumanDuration(Duration::from_secs(2));
        c.settle_window = HumanDuration(window);
    })
    .await
}

/// Another client of UiTPAS (the organizer's box office), selling these ticket lines directly at
/// the sandbox.
async fn box_office_sells(app: &TestApp, lines: &[Value]) -> Vec<Value> {
    let token = app.box_office_token().await;
    let sales: Vec<Value> = lines.iter().map(uitpas_sale).collect();
    app.sell_at_uitpas(&token, &sales).await
}

/// Active sales at the sandbox.
async fn active_sales(app: &TestApp) -> Vec<Value> {
    app.active_sales().await
}

/// Waits (bounded) until the sandbox holds `n` sales in all: a delayed request has committed.
async fn until_sandbox_holds(app: &TestApp, n: usize) {
    until(
        &format!("the sandbox reaches {n} sales"),
        Duration::from_secs(15),
        async || app.sandbox_ledger().await.len() >= n,
    )
    .await;
}

#[tokio::test]
async fn a_slow_uitpas_that_commits_after_the_timeout_is_never_sent_twice() {
    let app = app_with_window(Duration::from_secs(30)).await;
    let replica = app.replica().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "delay", "delayMs": 2500, "times": 3}))
        .await;
    let mut ids = Vec::new();
    for i in 0..3u64 {
        let answer = app
            .register(
                &format!("slow-{i}"),
                order(&format!("slow-{i}"), &synthetic_active_pass(i)),
            )
            .await;
        assert_eq!(answer.status, 202, "timed out: the outcome is unknown: {}", answer.body);
        ids.push(answer.body["id"].as_str().unwrap().to_owned());
    }
    // Both replicas look while the sends are still running at UiTPAS (longer than the lease):
    // UiTPAS has nothing yet, and nothing may be sent again.
    // (A job one replica gave back may be looked at by the other in the same round.)
    let (a, b) = tokio::join!(app.drain(), replica.drain());
    assert!(a + b >= 3, "every job looked at: {a} + {b}");
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 3, "only looked");
    until_sandbox_holds(&app, 3).await;
    let (a, b) = tokio::join!(app.drain(), replica.drain());
    assert!(a + b >= 3, "every job settled: {a} + {b}");
    for id in &ids {
        assert_eq!(app.registration(id).await["status"], "registered");
    }
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        3,
        "adopted, never sent twice"
    );
    assert_eq!(app.active_sales().await.len(), 3, "one UiTPAS sale per ticket");
}

#[tokio::test]
async fn once_the_window_has_passed_a_registration_uitpas_lacks_is_sent_again() {
    let app = app_with_window(Duration::from_millis(800)).await;
    // A gateway gave up: the request may still be running behind it.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 504, "times": 1}))
        .await;
    let answer = app.register("gw", order("gw", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.drain().await, 1);
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        1,
        "within the window: only looked"
    );
    app.drain_until(
        "sent again once the window passed",
        Duration::from_secs(10),
        async || app.registration(&id).await["status"] == "registered",
    )
    .await;
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 2);
    assert_eq!(app.active_sales().await.len(), 1);
}

/// An app whose calls time out after 2 s, whose sends may commit for 6 s after they leave, and
/// whose access tokens live `token_ttl`.
async fn app_with_slow_tokens(token_ttl: Duration) -> TestApp {
    TestApp::spawn_with(TestOptions {
        token_ttl,
        configure: Box::new(|c| {
            c.upstream_timeout = HumanDuration(Duration::from_secs(2));
            c.settle_window = HumanDuration(Duration::from_secs(6));
        }),
    })
    .await
}

/// Settles the registration with the worker (bounded), then checks that UiTPAS got exactly
/// `posts` requests and holds one sale of it (besides `others`), the one adopted.
async fn settles_with_one_sale(app: &TestApp, id: &str, posts: u64, others: usize) {
    app.drain_until("the late commit is adopted", Duration::from_secs(20), async || {
        app.registration(id).await["status"] == "registered"
    })
    .await;
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        posts,
        "never sent again while the request that left late could still commit"
    );
    let active = app.active_sales().await;
    assert_eq!(active.len(), 1 + others, "one UiTPAS sale of the order: {active:?}");
    let read = app.registration(id).await;
    assert!(
        active
            .iter()
            .any(|s| s["id"] == read["ticketSales"][0]["uitpasTicketSaleId"]),
        "{read}"
    );
}

#[tokio::test]
async fn a_send_that_waited_for_its_token_is_counted_from_when_it_left() {
    // Tokens that live a second: the order's send has to fetch a new one, which takes 1.8 s; its
    // request then commits 5.5 s after it left, within the window of 6 s counted from then (but
    // later than 6 s after the order was stored).
    let app = app_with_slow_tokens(Duration::from_secs(1)).await;
    // An order of the same event before (the service keeps the event's organizer) ...
    let first = app.register("first", order("first", &synthetic_active_pass(7))).await;
    assert_eq!(first.status, 201, "{}", first.body);
    // ... then the token is stale after its second (the wait is the token's lifetime).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.fault(json!({"operation": "post-oauth-token", "mode": "delay", "delayMs": 1800, "times": 1}))
        .await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "delay", "delayMs": 5500, "times": 1}))
        .await;
    let answer = app.register("late", order("late", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202, "timed out: the outcome is unknown: {}", answer.body);
    settles_with_one_sale(&app, answer.body["id"].as_str().unwrap(), 2, 1).await;
}

#[tokio::test]
async fn the_retry_after_a_401_is_a_send_of_its_own_counted_from_when_it_left() {
    let app = app_with_slow_tokens(uitpas_checkout::sandbox::DEFAULT_TOKEN_TTL).await;
    // The first request is refused (401: revoked token) at once; the new token takes 1.8 s, and
    // the retry commits 5.5 s after it left.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 401, "times": 1}))
        .await;
    app.fault(json!({"operation": "post-oauth-token", "mode": "delay", "delayMs": 1800, "times": 1}))
        .await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "delay", "delayMs": 5500, "times": 1}))
        .await;
    let answer = app.register("401", order("401", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202, "timed out: the outcome is unknown: {}", answer.body);
    settles_with_one_sale(&app, answer.body["id"].as_str().unwrap(), 2, 0).await;
}

#[tokio::test]
async fn a_sale_of_another_client_for_the_same_pass_is_never_adopted() {
    let app = TestApp::spawn().await;
    // The answer is lost on its way to UiTPAS (503: it ended, nothing was registered) ...
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    let answer = app.register("other", order("other", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    // ... and meanwhile the same passholder buys the same ticket at the box office.
    let theirs = box_office_sells(&app, &[ticket(ACTIVE_PASS)]).await;
    let theirs = theirs[0]["id"].as_str().unwrap().to_owned();

    assert_eq!(app.drain().await, 1);
    let read = app.registration(answer.body["id"].as_str().unwrap()).await;
    assert_eq!(read["status"], "registered", "{read}");
    let ours = read["ticketSales"][0]["uitpasTicketSaleId"].as_str().unwrap();
    assert_ne!(ours, theirs, "the box office's sale is not ours");
    assert_eq!(app.active_sales().await.len(), 2, "two buyers' tickets, two sales");
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        3,
        "ours (refused with 503), the box office's, ours again"
    );
}

#[tokio::test]
async fn an_answer_the_service_cannot_read_is_looked_up_not_sent_again() {
    let app = TestApp::spawn().await;
    // UiTPAS registers the sales and answers 200 in a form this build does not read.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "unreadable-after-commit", "times": 1}))
        .await;
    let answer = app.register("unreadable", order("unreadable", ACTIVE_PASS)).await;
    assert_eq!(
        answer.status, 202,
        "never refused nor registered on an answer it cannot read: {}",
        answer.body
    );
    assert_eq!(app.drain().await, 1);
    let read = app.registration(answer.body["id"].as_str().unwrap()).await;
    assert_eq!(read["status"], "registered", "{read}");
    let at_uitpas = app.sandbox_ledger().await;
    assert_eq!(at_uitpas.len(), 1, "registered once: {at_uitpas:?}");
    assert_eq!(read["ticketSales"][0]["uitpasTicketSaleId"], at_uitpas[0]["id"]);
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        1,
        "adopted, not sent again"
    );
}

#[tokio::test]
async fn identical_orders_keep_their_own_uitpas_ids() {
    let app = TestApp::spawn().await;
    // Two orders of the same pass, event, tariff and price; both answers are lost.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "drop-after-commit", "times": 2}))
        .await;
    let first = app.register("twin-1", order("twin-1", ACTIVE_PASS)).await;
    let second = app.register("twin-2", order("twin-2", ACTIVE_PASS)).await;
    assert_eq!((first.status.as_u16(), second.status.as_u16()), (202, 202));
    let at_uitpas = app.sandbox_ledger().await;
    assert_eq!(at_uitpas.len(), 2);
    assert_eq!(app.drain().await, 2);
    // Each order adopts the sale its own request created: the label UiTPAS stored says which.
    for (answer, sale) in [(&first, &at_uitpas[0]), (&second, &at_uitpas[1])] {
        let read = app.registration(answer.body["id"].as_str().unwrap()).await;
        assert_eq!(read["status"], "registered");
        assert_eq!(read["ticketSales"][0]["uitpasTicketSaleId"], sale["id"], "{read}");
    }
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 2);
}

#[tokio::test]
async fn a_busy_event_reconciles_while_other_sales_keep_coming() {
    let app = TestApp::spawn().await;
    // 1 200 sales of other clients already (more than two pages of UiTPAS's 500) ...
    for batch in 0..12u64 {
        let lines: Vec<Value> = (0..100)
            .map(|i| ticket(&synthetic_active_pass(1_000 + batch * 100 + i)))
            .collect();
        box_office_sells(&app, &lines).await;
    }
    app.fault(json!({"operation": "post-ticket-sales", "mode": "drop-after-commit", "times": 1}))
        .await;
    let answer = app.register("busy", order("busy", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    // ... and more keep coming while the worker reads the event's sales.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seller = {
        let (app_sandbox, http, stop) = (app.sandbox.base_url(), app.http.clone(), stop.clone());
        tokio::spawn(async move {
            let token = common::sandbox_token(&http, &app_sandbox, "shop-2").await;
            let mut n = 5_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!([{"uitpasNumber": synthetic_active_pass(n), "eventId": TEST_EVENT, "regularPrice": 10, "tariff": {"id": GENT}}]);
                let _ = http
                    .post(format!("{app_sandbox}/ticket-sales"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                n += 1;
                tokio::task::yield_now().await;
            }
            n - 5_000
        })
    };
    assert_eq!(app.drain().await, 1);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sold_meanwhile = seller.await.unwrap();
    assert!(sold_meanwhile > 0, "other sales came in while the worker read");
    let read = app.registration(answer.body["id"].as_str().unwrap()).await;
    assert_eq!(read["status"], "registered", "concluded on a busy event: {read}");
    assert_eq!(
        app.upstream_calls("post-ticket-sales").await,
        12 + 1 + sold_meanwhile,
        "the other clients' sales and ours once: adopted, not sent again"
    );
}

#[tokio::test]
async fn a_sale_that_reached_uitpas_twice_is_adopted_once_and_the_double_cancelled() {
    // A window shorter than UiTPAS's delay: the limit of the rule, where a second send doubles.
    let app = app_with_window(Duration::from_millis(400)).await;
    // (The window ends 400 ms + one call timeout + 1 s after a send starts: 1.7 s.)
    app.fault(json!({"operation": "post-ticket-sales", "mode": "delay", "delayMs": 2500, "times": 2}))
        .await;
    let answer = app.register("twice", order("twice", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    // After the window, UiTPAS still shows nothing: the worker sends again (also slow).
    app.drain_until("sent again after the window", Duration::from_secs(10), async || {
        app.upstream_calls("post-ticket-sales").await >= 2
    })
    .await;
    until_sandbox_holds(&app, 2).await;
    assert_eq!(app.drain().await, 1);
    let read = app.registration(&id).await;
    assert_eq!(read["status"], "registered", "{read}");
    let active = app.active_sales().await;
    assert_eq!(active.len(), 1, "the double was cancelled at UiTPAS: {active:?}");
    assert_eq!(read["ticketSales"][0]["uitpasTicketSaleId"], active[0]["id"]);
}

#[tokio::test]
async fn a_sale_committed_after_its_order_settled_is_cancelled_as_a_stray() {
    // UiTPAS commits the first send later than the window (2.5 s; the window ends 1.7 s after
    // the send), so the worker sends again and settles the order on the second sale: the first
    // then commits after the order settled. The watch after settlement finds it by its marker.
    let app = app_with_window(Duration::from_millis(400)).await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "delay", "delayMs": 2500, "times": 1}))
        .await;
    let answer = app.register("late", order("late", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202, "timed out: the outcome is unknown: {}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    app.drain_until(
        "sent again once the window passed, and settled",
        Duration::from_secs(10),
        async || app.registration(&id).await["status"] == "registered",
    )
    .await;
    until_sandbox_holds(&app, 2).await;
    assert_eq!(
        app.active_sales().await.len(),
        2,
        "the late commit doubled the sale at UiTPAS"
    );
    app.drain_until("the watch cancels the stray", Duration::from_secs(10), async || {
        app.active_sales().await.len() <= 1
    })
    .await;
    let read = app.registration(&id).await;
    assert_eq!(read["status"], "registered", "{read}");
    let active = app.active_sales().await;
    assert_eq!(
        read["ticketSales"][0]["uitpasTicketSaleId"], active[0]["id"],
        "the sale the shop was told of is kept"
    );
    assert_eq!(
        app.upstream_calls("delete-ticket-sales").await,
        1,
        "one stray cancelled once"
    );
}

#[tokio::test]
async fn a_registration_whose_commit_fails_is_never_sent() {
    // PostgreSQL answers the statement that stores the order (its row comes back) and then fails
    // at the commit, as when it crashes in between: the order is not stored, so it must not have
    // been sent either. A deferred trigger fails the commit of the first two tries, with the
    // error code of a server shutting down. (A guard: sqlx reads a statement's answer to its end,
    // commit included, also for `fetch_optional`; code that acted on the first row would fail.)
    let app = TestApp::spawn().await;
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    for statement in [
        // A sequence, as its count survives the rollback of the failed commits.
        "CREATE SEQUENCE commit_failures",
        "CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('commit_failures') <= 2 THEN
                 RAISE EXCEPTION 'the server shuts down' USING ERRCODE = '57P01';
             END IF;
             RETURN NULL;
         END $$",
        "CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON registrations
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit()",
    ] {
        sqlx::query(statement).execute(&db).await.unwrap();
    }
    let body = order("commit", ACTIVE_PASS);
    let failed = app.register("commit", body.clone()).await;
    failed.assert_problem(503, "urn:uitpas-checkout:problem:database-unavailable");
    assert!(
        app.sandbox_ledger().await.is_empty(),
        "nothing sent for an order that was not stored"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "the failed commit stored nothing");

    let again = app.register("commit", body).await;
    assert_eq!(again.status, 201, "{}", again.body);
    let active = active_sales(&app).await;
    assert_eq!(active.len(), 1, "one sale at UiTPAS: {active:?}");
    assert_eq!(again.body["ticketSales"][0]["uitpasTicketSaleId"], active[0]["id"]);
}

#[tokio::test]
async fn a_request_dropped_while_postgres_begins_leaves_no_transaction_behind() {
    // A client hangs up while PostgreSQL's answer to a BEGIN is on its way, so the request is
    // dropped half-way through beginning its transaction. The connection must go back to the
    // pool outside any transaction: an order stored on it next must be stored for everyone, not
    // inside a transaction left open (answered 201, seen by no other connection, and lost when
    // that transaction rolls back or PostgreSQL restarts). One pooled connection, so that the
    // order is stored on the connection the dropped request used.
    let proxy = Proxy::to_postgres().await;
    let through = proxy.addr;
    let app = TestApp::spawn_configured(move |c| {
        // In the clear, so that the proxy sees the BEGIN.
        let url = Proxy::url_through(through, c.database_url.expose());
        c.database_url = Secret::new(format!("{url}?sslmode=disable"));
        c.database_pool_size = 1;
    })
    .await;
    let observer = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let unknown = format!("/v1/ticket-sales/{}", uuid::Uuid::new_v4());
    app.shop(Method::GET, &unknown, None, &[])
        .await
        .assert_problem(404, "urn:uitpas-checkout:problem:not-found");

    // A list of registrations begins with its transaction; PostgreSQL runs the BEGIN, and its
    // answer is held (a simple query: 'Q', its length, the statement).
    proxy.hold_answers_from(b"Q\0\0\0\x0aBEGIN\0");
    let mut client = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET /v1/registrations HTTP/1.1\r\nhost: shop\r\nauthorization: Bearer {SHOP_KEY}\r\ncontent-length: 0\r\n\r\n"
    );
    client.write_all(request.as_bytes()).await.unwrap();
    until(
        "PostgreSQL ran the request's BEGIN",
        Duration::from_secs(10),
        async || {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND state = 'idle in transaction' AND query = 'BEGIN'",
            )
            .fetch_one(&observer)
            .await
            .unwrap()
                == 1
        },
    )
    .await;
    // The client hangs up; the service drops the request and closes the connection unanswered.
    client.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
        .await
        .expect("the service closes the connection of a client that hung up")
        .unwrap();
    assert!(
        answer.is_empty(),
        "the request was dropped unanswered: {}",
        String::from_utf8_lossy(&answer)
    );
    proxy.release_answers();
    until(
        "no connection is left inside a transaction",
        Duration::from_secs(10),
        async || in_transaction(&observer).await == 0,
    )
    .await;

    let stored = app
        .register("after-a-dropped-begin", order("dropped-begin", ACTIVE_PASS))
        .await;
    assert_eq!(stored.status, 201, "{}", stored.body);
    let id: uuid::Uuid = stored.body["id"].as_str().unwrap().parse().unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM registrations WHERE id = $1")
        .bind(id)
        .fetch_one(&observer)
        .await
        .unwrap();
    assert_eq!(seen, 1, "the order answered 201 is stored for every other connection");
}

/// The connections to the test database, other than `observer`'s, inside a transaction and
/// waiting for their client.
async fn in_transaction(observer: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(observer)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_registration_uitpas_forbids_needs_attention_and_is_retried_by_a_person() {
    let app = TestApp::spawn().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 403}))
        .await;
    let answer = app.register("forbidden", order("forbidden", ACTIVE_PASS)).await;
    // Not a 2xx a shop could read as done: 502 needs-attention, naming the registration.
    let problem = answer.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    assert!(problem["detail"].as_str().unwrap().contains("403"), "{problem}");
    assert!(problem["endUserMessage"]["nl"].is_string());
    let id = problem["registrationId"].as_str().unwrap().to_owned();
    // The same request again answers the same while it waits for a person.
    let again = app.register("forbidden", order("forbidden", ACTIVE_PASS)).await;
    again.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    let read = app.registration(&id).await;
    assert_eq!(read["status"], "needs-attention", "{read}");
    assert_eq!(read["problem"]["status"], 403, "{read}");
    let sale = read["ticketSales"][0]["id"].as_str().unwrap().to_owned();
    let sale_view = app
        .shop(Method::GET, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(sale_view.body["needsAttention"]["status"], 403, "{}", sale_view.body);

    assert_eq!(app.drain().await, 0, "never retried blindly");
    assert_eq!(app.upstream_calls("post-ticket-sales").await, 1);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"uitpas_checkout_jobs_needing_attention{kind="register"} 1"#),
        "{metrics}"
    );

    // The permission is granted; a person retries.
    app.clear_faults().await;
    let retried = app
        .shop(Method::POST, &format!("/v1/registrations/{id}/retry"), None, &[])
        .await;
    assert_eq!(retried.status, 202, "{}", retried.body);
    assert_eq!(retried.body["status"], "pending");
    assert_eq!(app.drain().await, 1);
    assert_eq!(app.registration(&id).await["status"], "registered");
    let again = app
        .shop(Method::POST, &format!("/v1/registrations/{id}/retry"), None, &[])
        .await;
    again.assert_problem(409, "urn:uitpas-checkout:problem:not-needing-attention");
}

#[tokio::test]
async fn refused_credentials_park_the_work_and_a_person_may_abandon_it() {
    let app = TestApp::spawn().await;
    // 401 also with a fresh token.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 401}))
        .await;
    let answer = app.register("creds", order("creds", ACTIVE_PASS)).await;
    let problem = answer.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    let id = problem["registrationId"].as_str().unwrap().to_owned();
    let abandoned = app
        .shop(Method::POST, &format!("/v1/registrations/{id}/abandon"), None, &[])
        .await;
    assert_eq!(abandoned.status, 200, "{}", abandoned.body);
    assert_eq!(abandoned.body["status"], "rejected");
    assert_eq!(abandoned.body["ticketSales"][0]["status"], "rejected");
    assert_eq!(app.sandbox_ledger().await.len(), 0);
}

#[tokio::test]
async fn a_cancellation_uitpas_refuses_needs_attention_and_can_be_abandoned() {
    let app = TestApp::spawn().await;
    let answer = app.register("refund", order("refund", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let sale = answer.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();
    app.fault(json!({"operation": "delete-ticket-sales", "mode": "error", "status": 403}))
        .await;
    let cancel = app
        .shop(Method::DELETE, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    let problem = cancel.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    assert!(problem["detail"].as_str().unwrap().contains("403"), "{problem}");
    let view = app
        .shop(Method::GET, &format!("/v1/ticket-sales/{sale}"), None, &[])
        .await;
    assert_eq!(view.body["status"], "cancelling");
    assert_eq!(view.body["needsAttention"]["status"], 403, "{}", view.body);
    assert_eq!(app.drain().await, 0, "never retried blindly");
    let abandoned = app
        .shop(Method::POST, &format!("/v1/ticket-sales/{sale}/abandon"), None, &[])
        .await;
    assert_eq!(abandoned.status, 200, "{}", abandoned.body);
    assert_eq!(abandoned.body["status"], "registered", "still sold at UiTPAS");
    assert!(abandoned.body.get("needsAttention").is_none());
    assert_eq!(app.active_sales().await.len(), 1);
}

#[tokio::test]
async fn two_replicas_whose_attempts_are_slow_never_work_one_job_at_once() {
    let app = TestApp::spawn_configured(|c| {
        c.upstream_timeout = HumanDuration(Duration::from_millis(700));
        c.replay_lease = HumanDuration(Duration::from_millis(1500));
        c.settle_window = HumanDuration(Duration::from_secs(5));
    })
    .await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503}))
        .await;
    let mut ids = Vec::new();
    for i in 0..24u64 {
        let answer = app
            .register(
                &format!("lease-{i}"),
                order(&format!("lease-{i}"), &synthetic_active_pass(200 + i)),
            )
            .await;
        assert_eq!(answer.status, 202, "{}", answer.body);
        ids.push(answer.body["id"].as_str().unwrap().to_owned());
    }
    let db = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await.unwrap() }
    };
    // Every job is due before the workers start.
    until("the retries fall due", Duration::from_secs(10), async || {
        count("SELECT count(*) FROM jobs WHERE due_at > now()").await == 0
    })
    .await;
    // UiTPAS is back, but every look at an event's sales takes a third of the lease: with 24 jobs
    // and 8 slots per replica, a job claimed and left waiting for a slot would lose its lease.
    app.clear_faults().await;
    app.fault(json!({"operation": "get-ticket-sales", "mode": "delay", "delayMs": 500}))
        .await;
    let busy = |c: &mut uitpas_checkout::Config| c.replay_poll_interval = HumanDuration(Duration::from_millis(50));
    let (a, b) = tokio::join!(app.replica_with(busy), app.replica_with(busy));
    let mut most_leased = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &ids {
        while app.registration(id).await["status"] != "registered" {
            assert!(Instant::now() < deadline, "the replicas settle every order");
            most_leased = most_leased.max(count("SELECT count(*) FROM jobs WHERE locked_until > now()").await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(
        (1..=16).contains(&most_leased),
        "no more jobs leased than two replicas run at once (8 each): {most_leased}"
    );
    assert_eq!(
        app.active_sales().await.len(),
        24,
        "every order registered once, none twice"
    );
    a.stop().await;
    b.stop().await;
}

/// The box office sells `n` tickets of the test event (passes from `first` on).
async fn box_office_sells_many(app: &TestApp, first: u64, n: u64) {
    for batch in (first..first + n).collect::<Vec<_>>().chunks(250) {
        let lines: Vec<Value> = batch.iter().map(|&i| ticket(&synthetic_active_pass(i))).collect();
        box_office_sells(app, &lines).await;
    }
}

#[tokio::test]
async fn a_look_reads_the_sales_it_promises_and_parks_an_order_beyond_them() {
    let app = TestApp::spawn().await;
    // 9 000 sales of the box office just before the order: within a look's bound (10 400).
    box_office_sells_many(&app, 10_000, 9_000).await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "drop-after-commit", "times": 1}))
        .await;
    // Orders of a group pass: its sales need not carry a passholder, so the look reads the event's
    // sales (an individual pass's are read in its passholder's: tests/look_by_passholder.rs).
    let within = app.register("within", order("within", GROUP_PASS)).await;
    assert_eq!(within.status, 202, "{}", within.body);
    assert_eq!(app.drain().await, 1);
    let read = app.registration(within.body["id"].as_str().unwrap()).await;
    assert_eq!(read["status"], "registered", "found among 9 000 newer sales: {read}");
    assert_eq!(app.drain().await, 1, "settled by the worker: watched once for strays");
    let looks_before = app.upstream_calls("get-ticket-sales").await;

    // 2 000 more: the next order's look cannot read back to it, now or ever. It is parked for a
    // person at once, with a problem that says so, instead of being looked at for ever.
    box_office_sells_many(&app, 20_000, 2_000).await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "drop-after-commit", "times": 1}))
        .await;
    let beyond = app.register("beyond", order("beyond", GROUP_PASS)).await;
    assert_eq!(beyond.status, 202, "{}", beyond.body);
    let id = beyond.body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.drain().await, 1);
    let read = app.registration(&id).await;
    assert_eq!(read["status"], "needs-attention", "{read}");
    assert_eq!(
        read["problem"]["type"], "urn:uitpas-checkout:problem:unsettled-busy-event",
        "{read}"
    );
    assert_eq!(app.drain().await, 0, "not looked at again until a person says so");
    let looks = app.upstream_calls("get-ticket-sales").await - looks_before;
    assert!(looks <= 24, "one look of at most 24 pages: {looks}");
}

#[tokio::test]
async fn a_refused_send_with_nothing_open_is_sent_again_without_a_look() {
    let app = TestApp::spawn().await;
    // An event too busy for any look to conclude ...
    box_office_sells_many(&app, 10_000, 11_000).await;
    // ... and UiTPAS answers 503: it did nothing, and no send of the order is open.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503, "times": 1}))
        .await;
    let answer = app.register("503", order("503", ACTIVE_PASS)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let looks = app.upstream_calls("get-ticket-sales").await;
    assert_eq!(app.drain().await, 1);
    let read = app.registration(answer.body["id"].as_str().unwrap()).await;
    assert_eq!(read["status"], "registered", "sent again: {read}");
    assert_eq!(app.upstream_calls("get-ticket-sales").await, looks, "without a look");
    assert_eq!(app.active_sales().await.len(), 11_001);
}
