//! Black-box tests of the operator console (issue 15): its login, sessions and CSRF guard, the
//! retry and abandon actions on unsettled work, and the reconciliation with UiTPAS. The app runs
//! against a sandbox over HTTP and a real PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::fixtures::{ACTIVE_PASS, GENT, order_of, ticket, uitpas_sale, with};
use common::{TEST_EVENT, TestApp, until};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use uitpas_checkout::config::{Secret, SecretList};
use uitpas_checkout::reconciliation::Reconciler;

const OPERATOR_KEY: &str = "operator-key-0123456789";

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
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: header::HeaderMap,
    text: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl<'a> Operator<'a> {
    fn new(app: &'a TestApp) -> Self {
        Operator {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(c) => request.header(header::COOKIE, c),
            None => request,
        };
        let response = request.send().await.expect("the app answers");
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(self.app.url(path))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)], extra: &[(&str, &str)]) -> Page {
        let mut request = self.http.post(self.app.url(path)).form(form);
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        self.send(request).await
    }

    async fn log_in(&mut self) -> Page {
        let page = self.post("/console/login", &[("key", OPERATOR_KEY)], &[]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
        let set = page.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        self.cookie = Some(set.split(';').next().unwrap().to_owned());
        page
    }

    /// The CSRF token of the session, from a page's forms.
    async fn csrf(&self) -> String {
        let page = self.get("/console/work").await;
        let at = page.text.find(r#"name="csrf" value=""#).expect("a form with the token") + 19;
        page.text[at..at + 64].to_owned()
    }
}

#[tokio::test]
async fn an_operator_logs_in_with_a_key_gets_a_strict_http_only_cookie_and_logs_out() {
    let app = app().await;
    let mut operator = Operator::new(&app);
    let anonymous = operator.get("/console/work").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location(), "/console/login");
    let login = operator.get("/console/login").await;
    assert_eq!(login.status, 200);
    assert!(login.text.contains(r#"lang="nl""#) && login.text.contains("Operatorsleutel"));

    let wrong = operator
        .post("/console/login", &[("key", "operator-key-wrong-wrong")], &[])
        .await;
    assert_eq!(wrong.status, 200, "the form again");
    assert!(wrong.text.contains("niet juist"), "{}", wrong.text);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());

    let ok = operator.log_in().await;
    assert_eq!(ok.location(), "/console/work");
    let cookie = ok.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console"));
    assert!(!cookie.contains("Secure"), "plain http on loopback: {cookie}");
    // Only a hash of the token is stored.
    let token = operator.cookie.clone().unwrap();
    let token = token.split('=').nth(1).unwrap();
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM console_sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);

    for path in [
        "/console/work",
        "/console/registrations",
        "/console/sales",
        "/console/events",
        "/console/reconciliation",
        "/console/webhooks",
        "/console/reports",
    ] {
        let page = operator.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.text.contains("Afmelden"), "{path}");
        let csp = page
            .headers
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    }
    let webhooks = operator.get("/console/webhooks").await;
    assert!(webhooks.text.contains("Nog geen webhooks"), "{}", webhooks.text);

    let csrf = operator.csrf().await;
    let out = operator.post("/console/logout", &[("csrf", &csrf)], &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie is worth nothing now.
    assert_eq!(operator.get("/console/work").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn without_operator_keys_the_console_lets_nobody_in() {
    let app = TestApp::spawn().await;
    let operator = Operator::new(&app);
    let page = operator.post("/console/login", &[("key", "")], &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.headers.get(header::SET_COOKIE).is_none());
    assert!(operator.get("/console/login").await.text.contains("OPERATOR_KEYS"));
}

#[tokio::test]
async fn a_post_without_the_sessions_token_or_from_another_site_is_refused() {
    let app = app().await;
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    let csrf = operator.csrf().await;
    let job = [
        ("kind", "register"),
        ("subject", "00000000-0000-0000-0000-000000000000"),
    ];
    let no_token = operator.post("/console/work/retry", &job, &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let mut with_token = job.to_vec();
    with_token.push(("csrf", &csrf));
    let cross = operator
        .post(
            "/console/work/retry",
            &with_token,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let origin = format!("http://{}", app.addr);
    let ok = operator
        .post("/console/work/retry", &with_token, &[("origin", &origin)])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), "/console/work?done=nothing");
    // Another session's token is no good either.
    let mut other = Operator::new(&app);
    other.log_in().await;
    let stolen = other.post("/console/work/retry", &with_token, &[]).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    // A login from another site neither.
    let login = Operator::new(&app)
        .post(
            "/console/login",
            &[("key", OPERATOR_KEY)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
}

/// An order of one ticket of the test event, paid € 2 (its social price).
fn order(id: &str, number: &str) -> Value {
    order_of(id, vec![with(ticket(number), json!({"paidPrice": 2}))])
}

#[tokio::test]
async fn parked_work_is_retried_or_abandoned_and_pending_work_is_made_due_now() {
    let app = app().await;
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 403}))
        .await;
    let first = app.register("forbidden-1", order("order-1", ACTIVE_PASS)).await;
    let second = app.register("forbidden-2", order("order-2", ACTIVE_PASS)).await;
    let first = first.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    let second = second.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");
    let (first, second) = (
        first["registrationId"].as_str().unwrap().to_owned(),
        second["registrationId"].as_str().unwrap().to_owned(),
    );
    let work = operator.get("/console/work").await;
    assert!(
        work.text.contains(r#"data-testid="attention-count">2<"#),
        "{}",
        work.text
    );
    assert!(
        work.text.contains("order-1") && work.text.contains("403"),
        "{}",
        work.text
    );
    app.clear_faults().await;

    let csrf = operator.csrf().await;
    let retried = operator
        .post(
            "/console/work/retry",
            &[("csrf", &csrf), ("kind", "register"), ("subject", &first)],
            &[],
        )
        .await;
    assert_eq!(retried.location(), "/console/work?done=retried");
    app.drain().await;
    assert_eq!(app.registration(&first).await["status"], "registered");

    let abandoned = operator
        .post(
            "/console/work/abandon",
            &[
                ("csrf", &csrf),
                ("kind", "register"),
                ("subject", &second),
                ("confirm", "yes"),
            ],
            &[],
        )
        .await;
    assert_eq!(abandoned.location(), "/console/work?done=abandoned");
    assert_eq!(app.registration(&second).await["status"], "rejected");
    let again = operator
        .post(
            "/console/work/abandon",
            &[
                ("csrf", &csrf),
                ("kind", "register"),
                ("subject", &second),
                ("confirm", "yes"),
            ],
            &[],
        )
        .await;
    assert_eq!(again.location(), "/console/work?done=nothing");

    // Pending during an outage: "retry now" makes its job due now, not after the backoff.
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503}))
        .await;
    let pending = app.register("outage", order("order-3", ACTIVE_PASS)).await;
    assert_eq!(pending.status, 202, "{}", pending.body);
    let pending = pending.body["id"].as_str().unwrap().to_owned();
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let due_later: bool = sqlx::query_scalar("SELECT due_at > now() FROM jobs WHERE subject_id = $1")
        .bind(uuid::Uuid::parse_str(&pending).unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(due_later, "a failed attempt waits for its backoff");
    let work = operator.get("/console/work").await;
    assert!(work.text.contains(r#"data-testid="pending-count">1<"#), "{}", work.text);
    assert!(work.text.contains("order-3"));
    let now = operator
        .post(
            "/console/work/retry",
            &[("csrf", &csrf), ("kind", "register"), ("subject", &pending)],
            &[],
        )
        .await;
    assert_eq!(now.location(), "/console/work?done=retried");
    let due_now: bool = sqlx::query_scalar("SELECT due_at <= now() FROM jobs WHERE subject_id = $1")
        .bind(uuid::Uuid::parse_str(&pending).unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(due_now);
    app.clear_faults().await;

    // The search pages find them.
    let registrations = operator.get("/console/registrations?status=rejected").await;
    assert!(registrations.text.contains("order-2") && !registrations.text.contains("order-1"));
    let sales = operator.get("/console/sales?q=order-1").await;
    assert!(sales.text.contains(r#"data-status="registered""#), "{}", sales.text);
    assert!(sales.text.contains("0900****7513") && !sales.text.contains(ACTIVE_PASS));
}

/// The box office (another client of the sandbox) sells a ticket with this label; its id.
async fn sell_at_the_box_office(app: &TestApp, token: &str, label: &str) -> String {
    let sale = with(uitpas_sale(&ticket(ACTIVE_PASS)), json!({"regularPriceLabel": label}));
    let sold = app.sell_at_uitpas(token, &[sale]).await;
    sold[0]["id"].as_str().expect("sold").to_owned()
}

#[tokio::test]
async fn a_reconciliation_finds_a_sale_cancelled_at_the_box_office_a_double_and_other_clients_sales() {
    let app = app().await;
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    let mut ours = Vec::new();
    for i in 0..3 {
        let answer = app
            .register(&format!("k{i}"), order(&format!("o{i}"), ACTIVE_PASS))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        ours.push(answer.body["ticketSales"][0].clone());
    }
    let token = app.box_office_token().await;
    // The box office cancels one of ours, sells one of its own, and a double of ours turns up.
    let cancelled = ours[0]["uitpasTicketSaleId"].as_str().unwrap();
    let deleted = app
        .http
        .delete(format!("{}/ticket-sales/{cancelled}", app.sandbox.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let box_office = sell_at_the_box_office(&app, &token, "Kassa").await;
    let our_label = ours[1]["regularPriceLabel"].as_str().map(str::to_owned);
    let marker = uitpas_checkout::ledger::reconcile::marker(ours[1]["id"].as_str().unwrap().parse().unwrap());
    let double = sell_at_the_box_office(&app, &token, &format!("{} ({marker})", our_label.unwrap_or_default())).await;

    let csrf = operator.csrf().await;
    let started = operator
        .post(
            "/console/reconciliation",
            &[("csrf", &csrf), ("event", TEST_EVENT)],
            &[],
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let report = started.location().to_owned();
    let page = until("the reconciliation ends", Duration::from_secs(15), async || {
        let page = operator.get(&report).await;
        (!page.text.contains(r#"data-status="running""#)).then_some(page)
    })
    .await;
    assert!(
        page.text.contains(r#"data-testid="run-status" data-status="complete""#),
        "{}",
        page.text
    );
    for (kind, count) in [
        ("matched", 2),
        ("missing_at_uitpas", 1),
        ("unknown_ours", 1),
        ("unknown_other", 1),
        ("active_at_uitpas", 0),
    ] {
        assert!(
            page.text.contains(&format!(r#"data-testid="count-{kind}">{count}<"#)),
            "{kind}: {}",
            page.text
        );
    }
    assert!(page.text.contains(&format!(
        r#"data-kind="missing_at_uitpas" data-uitpas-id="{cancelled}""#
    )));
    assert!(
        page.text
            .contains(&format!(r#"data-kind="unknown_other" data-uitpas-id="{box_office}""#))
    );
    assert!(
        page.text
            .contains(&format!(r#"data-kind="unknown_ours" data-uitpas-id="{double}""#))
    );

    let csv = operator.get(&format!("{report}/csv")).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(csv.text.lines().count(), 1 + 5, "{}", csv.text);
    assert!(
        csv.text.contains(&format!(
            ",missing_at_uitpas,{},{cancelled},0900****7513,SOCIALTARIFF,10.00,2.00,",
            ours[0]["id"].as_str().unwrap()
        )),
        "{}",
        csv.text
    );

    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"uitpas_checkout_reconciliation_discrepancies{kind="missing_at_uitpas"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"uitpas_checkout_reconciliation_discrepancies{kind="unknown_other"} 1"#));

    // The event's page: the sales, their amounts, and the chart.
    let event = operator.get(&format!("/console/events/{TEST_EVENT}")).await;
    assert!(
        event.text.contains(r#"data-testid="active-count">3<"#),
        "{}",
        event.text
    );
    assert!(event.text.contains("<svg") && event.text.contains(r#"data-count="3""#));
    assert!(event.text.contains("€\u{a0}30,00") && event.text.contains("€\u{a0}6,00"));
}

#[tokio::test]
async fn the_daily_run_is_claimed_once_a_day_and_stays_within_its_calls() {
    let app = app().await;
    for i in 0..2 {
        let answer = app
            .register(&format!("k{i}"), order(&format!("o{i}"), ACTIVE_PASS))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    let limited = json!({"orderId": "limited", "tickets": [{"eventId": common::LIMITED_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": GENT, "regularPrice": 15}]});
    let answer = app.register("limited", limited).await;
    assert_eq!(answer.status, 201, "{}", answer.body);

    let reconciler = Reconciler {
        db: sqlx::PgPool::connect(&app.db.url).await.unwrap(),
        customers: app.customers.clone(),
        max_calls: 1,
    };
    // (The app's own daily task may have claimed today already: a day of its own for the test.)
    let day = chrono::NaiveDate::from_ymd_opt(2001, 2, 3).unwrap();
    assert!(reconciler.claim_day(day).await.unwrap());
    assert!(
        !reconciler.claim_day(day).await.unwrap(),
        "another replica's claim of the same day"
    );
    let before = app.upstream_calls("get-ticket-sales").await;
    let runs = reconciler.run_all("daily").await.unwrap();
    assert_eq!(runs.len(), 2, "one report per event the ledger knows");
    assert_eq!(
        app.upstream_calls("get-ticket-sales").await - before,
        1,
        "the bound on calls holds"
    );
    let statuses: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, note FROM reconciliation_runs ORDER BY created_at")
            .fetch_all(&reconciler.db)
            .await
            .unwrap();
    assert_eq!(statuses[0].0, "complete");
    assert_eq!(statuses[1].0, "inconclusive");
    assert!(statuses[1].1.as_deref().unwrap().contains("calls"), "{statuses:?}");
}

#[tokio::test]
async fn each_customer_of_an_event_gets_a_report_that_adds_up_with_a_refused_cancellation_on_a_line() {
    const ADMIN_KEY: &str = "test-admin-key-0123456789";
    let app = TestApp::spawn_configured(|c| {
        c.operator_keys = Some(SecretList(vec![Secret::new(OPERATOR_KEY)]));
        c.admin_keys = Some(SecretList(vec![Secret::new(ADMIN_KEY)]));
    })
    .await;
    // A second customer with credentials of its own, selling the same event.
    let created = app
        .request(
            reqwest::Method::POST,
            "/admin/v1/customers",
            Some(json!({"name": "Shop B", "environment": "test", "clientId": "shop-b-client", "clientSecret": "shop-b-secret"})),
            &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let b_key = created.body["secretKey"]["key"].as_str().unwrap().to_owned();
    let b_id: uuid::Uuid = created.body["customer"]["id"].as_str().unwrap().parse().unwrap();
    let b_sold = app.register_as(&b_key, "b-1", order("b-1", ACTIVE_PASS)).await;
    assert_eq!(b_sold.status, 201, "{}", b_sold.body);
    // The default customer sells two; UiTPAS refuses to cancel one of them (it stays listed).
    let mut ours = Vec::new();
    for i in 0..2 {
        let answer = app
            .register(&format!("a-{i}"), order(&format!("a-{i}"), ACTIVE_PASS))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        ours.push(answer.body["ticketSales"][0]["id"].as_str().unwrap().to_owned());
    }
    app.fault(json!({"operation": "delete-ticket-sales", "mode": "error", "status": 403}))
        .await;
    let cancel = app
        .shop(
            reqwest::Method::DELETE,
            &format!("/v1/ticket-sales/{}", ours[0]),
            None,
            &[],
        )
        .await;
    cancel.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention");

    let reconciler = Reconciler {
        db: sqlx::PgPool::connect(&app.db.url).await.unwrap(),
        customers: app.customers.clone(),
        max_calls: 100,
    };
    reconciler.customers.reload().await.unwrap();
    let runs = reconciler.run_all("console").await.unwrap();
    assert_eq!(runs.len(), 2, "one report per customer who sold the event");
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    let mut by_customer = std::collections::HashMap::new();
    for run in runs {
        let page = operator.get(&format!("/console/reconciliation/{run}")).await;
        assert!(page.text.contains(r#"data-status="complete""#), "{}", page.text);
        // UiTPAS lists three sales of the event; every report puts each on a line.
        assert!(
            page.text.contains(r#"data-uitpas-sales="3" data-on-lines="3""#),
            "{}",
            page.text
        );
        let customer: Option<uuid::Uuid> =
            sqlx::query_scalar("SELECT customer_id FROM reconciliation_runs WHERE id = $1")
                .bind(run)
                .fetch_one(&reconciler.db)
                .await
                .unwrap();
        by_customer.insert(customer.unwrap(), page.text);
    }
    let count = |text: &str, kind: &str, n: u32| {
        assert!(
            text.contains(&format!(r#"data-testid="count-{kind}">{n}<"#)),
            "{kind} = {n}: {text}"
        );
    };
    let a = &by_customer[&uuid::Uuid::nil()];
    count(a, "matched", 1);
    count(a, "unsettled", 1);
    count(a, "other_customer", 1);
    count(a, "unknown_other", 0);
    let b = &by_customer[&b_id];
    count(b, "matched", 1);
    count(b, "other_customer", 2);
    count(b, "unknown_other", 0);
    assert!(b.contains("Shop B"), "the report names its customer");
}

#[tokio::test]
async fn a_key_removed_from_operator_keys_ends_the_sessions_made_with_it() {
    const NEW_KEY: &str = "operator-key-rotated-0123456789";
    let app = app().await;
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    assert_eq!(operator.get("/console/work").await.status, StatusCode::OK);
    // A replica restarted with the key rotated: the old key is no longer in OPERATOR_KEYS.
    let rotated = app
        .replica_with(|c| {
            c.operator_keys = Some(SecretList(vec![Secret::new(NEW_KEY)]));
        })
        .await;
    let mut stale = Operator::new(&rotated);
    stale.cookie = operator.cookie.clone();
    let refused = stale.get("/console/work").await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER, "{}", refused.text);
    assert_eq!(refused.location(), "/console/login");
    // Ended for good: the session is gone, also where the old key is still configured.
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM console_sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    assert_eq!(operator.get("/console/work").await.status, StatusCode::SEE_OTHER);
    // The new key logs in on the rotated replica.
    let fresh = Operator::new(&rotated);
    let login = fresh.post("/console/login", &[("key", NEW_KEY)], &[]).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.text);
    assert_eq!(login.location(), "/console/work");
}

/// The registration id of a problem answer or of a registration.
fn registration_id(body: &Value) -> String {
    body["registrationId"]
        .as_str()
        .or(body["id"].as_str())
        .expect("an id")
        .to_owned()
}

#[tokio::test]
async fn a_refused_order_has_a_page_that_says_why_in_the_operators_language_and_its_history() {
    let app = app().await;
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    // The limited event takes one social tariff a week per pass: the second order is refused.
    let limited = |id: &str| json!({"orderId": id, "tickets": [{"eventId": common::LIMITED_EVENT, "uitpasNumber": ACTIVE_PASS, "tariffId": GENT, "regularPrice": 15}]});
    assert_eq!(app.register("first", limited("first")).await.status, 201);
    let refused = app.register("second", limited("second")).await;
    assert!(refused.status.is_client_error(), "{}", refused.body);
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM registrations WHERE order_id = 'second'")
        .fetch_one(&pool)
        .await
        .unwrap();

    // The list says why, and leads to the registration's page.
    let list = operator.get("/console/registrations?status=rejected").await;
    assert!(list.text.contains("maximum aantal kansentarieven"), "{}", list.text);
    assert!(list.text.contains(&format!(r#"href="/console/registrations/{id}""#)));
    assert!(
        list.text.contains("data-testid=\"total\">1\u{a0}resultaat<"),
        "{}",
        list.text
    );

    let page = operator.get(&format!("/console/registrations/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains(r#"data-explanation="maximum-reached""#),
        "{}",
        page.text
    );
    assert!(page.text.contains("maximum aantal kansentarieven") && page.text.contains("Wat te doen"));
    assert!(
        page.text.contains("maximum-reached"),
        "publiq's own type, under Technisch"
    );
    for what in ["received", "sent", "rejected"] {
        assert!(
            page.text.contains(&format!(r#"data-what="{what}""#)),
            "{what}: {}",
            page.text
        );
    }
    assert!(page.text.contains("0900****7513") && !page.text.contains(ACTIVE_PASS));
    // The event's name from UiTdatabank, not its id only.
    assert!(page.text.contains("Test event met beperkte aankoop"), "{}", page.text);
    // Brussels time, never UTC.
    assert!(
        page.text.contains(" CET<") || page.text.contains(" CEST<"),
        "{}",
        page.text
    );
    assert!(!page.text.contains(" UTC<"));

    // French and English, from the language switch.
    for (code, text) in [
        ("fr", "nombre maximal de tarifs sociaux"),
        ("en", "reached the most social tariffs"),
    ] {
        let mut other = Operator::new(&app);
        other.log_in().await;
        other.cookie = Some(format!("{}; uc_console_lang={code}", other.cookie.clone().unwrap()));
        let page = other.get(&format!("/console/registrations/{id}")).await;
        assert!(page.text.contains(&format!(r#"lang="{code}""#)), "{}", page.text);
        assert!(page.text.contains(text), "{code}: {}", page.text);
    }
    assert_eq!(
        operator
            .get(&format!("/console/registrations/{}", uuid::Uuid::new_v4()))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn parked_work_is_explained_and_abandoned_only_once_confirmed_and_the_history_names_the_operator() {
    let app = app().await;
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 403}))
        .await;
    let parked = app.register("parked", order("parked", ACTIVE_PASS)).await;
    let id = registration_id(parked.assert_problem(502, "urn:uitpas-checkout:problem:needs-attention"));
    app.clear_faults().await;

    // Explained in Dutch: what it means and what to do, publiq's English under "Technisch".
    let work = operator.get("/console/work").await;
    assert!(
        work.text.contains("de rechten (ticketverkoop) voor de organisator"),
        "{}",
        work.text
    );
    assert!(work.text.contains(&format!(r#"href="/console/registrations/{id}""#)));

    // Abandon asks first: the POST without confirmation changes nothing and leads to the question.
    let csrf = operator.csrf().await;
    let job = [("csrf", csrf.as_str()), ("kind", "register"), ("subject", id.as_str())];
    let asked = operator.post("/console/work/abandon", &job, &[]).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        asked.location(),
        format!("/console/work/abandon?kind=register&subject={id}")
    );
    assert_ne!(app.registration(&id).await["status"], "rejected", "not abandoned");
    let question = operator.get(asked.location()).await;
    assert!(question.text.contains(r#"data-testid="confirm""#), "{}", question.text);
    assert!(question.text.contains("kan niet ongedaan gemaakt worden"));
    let mut confirmed = job.to_vec();
    confirmed.push(("confirm", "yes"));
    let done = operator.post("/console/work/abandon", &confirmed, &[]).await;
    assert_eq!(done.location(), "/console/work?done=abandoned");
    assert_eq!(app.registration(&id).await["status"], "rejected");

    // The history: received, sent, parked, then the operator (by key hint) and the rejection.
    let page = operator.get(&format!("/console/registrations/{id}")).await;
    let order: Vec<&str> = page
        .text
        .match_indices(r#"data-what=""#)
        .map(|(i, _)| {
            let rest = &page.text[i + 11..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    let position = |what: &str| {
        order
            .iter()
            .position(|w| *w == what)
            .unwrap_or_else(|| panic!("{what} in {order:?}"))
    };
    assert!(position("received") < position("sent"));
    assert!(position("sent") < position("parked"));
    assert!(position("parked") < position("operator_abandon"));
    assert!(position("operator_abandon") < position("rejected"), "{order:?}");
    let hint = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(OPERATOR_KEY.as_bytes());
        format!(
            "operator=sha256:{}",
            &digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..8]
        )
    };
    assert!(page.text.contains(&hint), "{hint}: {}", page.text);
}

#[tokio::test]
async fn a_sale_has_a_page_and_is_cancelled_at_uitpas_only_once_confirmed() {
    let app = app().await;
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    let sold = app.register("refund", order("refund", ACTIVE_PASS)).await;
    assert_eq!(sold.status, 201, "{}", sold.body);
    let sale = sold.body["ticketSales"][0]["id"].as_str().unwrap().to_owned();

    let page = operator.get(&format!("/console/sales/{sale}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("Permanente UiTPAS Test Festiviteit"),
        "{}",
        page.text
    );
    assert!(page.text.contains(r#"data-testid="refund""#));
    assert!(page.text.contains(r#"data-what="sale_registered""#), "{}", page.text);

    let csrf = operator.csrf().await;
    let path = format!("/console/sales/{sale}/cancel");
    let asked = operator.post(&path, &[("csrf", &csrf)], &[]).await;
    assert_eq!(asked.location(), path, "to the question first");
    let sales = app.sandbox_ledger().await;
    assert_eq!(sales[0]["status"], "ACTIVE", "nothing cancelled yet");
    let question = operator.get(&path).await;
    assert!(
        question.text.contains("kan niet ongedaan gemaakt worden"),
        "{}",
        question.text
    );
    let no_token = operator.post(&path, &[("confirm", "yes")], &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    let done = operator.post(&path, &[("csrf", &csrf), ("confirm", "yes")], &[]).await;
    assert_eq!(done.location(), format!("/console/sales/{sale}?done=cancelled"));
    assert_ne!(app.sandbox_ledger().await[0]["status"], "ACTIVE", "cancelled at UiTPAS");
    let page = operator.get(done.location()).await;
    assert!(page.text.contains("geannuleerd bij UiTPAS"), "{}", page.text);
    assert!(page.text.contains(r#"data-what="operator_cancel""#));
    assert!(page.text.contains(r#"data-what="sale_cancelled""#));
    assert!(!page.text.contains(r#"data-testid="refund""#), "nothing left to cancel");
}

#[tokio::test]
async fn a_confirmed_hold_is_no_work_and_an_outage_is_explained_in_dutch() {
    let app = app().await;
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    let held = app
        .register("hold", common::fixtures::hold("hold", ACTIVE_PASS, 600))
        .await;
    assert_eq!(held.status, 201, "{}", held.body);
    let id = held.body["id"].as_str().unwrap();
    let confirmed = app
        .shop(
            reqwest::Method::POST,
            &format!("/v1/registrations/{id}/confirm"),
            None,
            &[],
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let work = operator.get("/console/work").await;
    assert!(work.text.contains(r#"data-testid="other-count">0<"#), "{}", work.text);
    assert!(work.text.contains(r#"data-testid="held-count">0<"#));

    app.fault(json!({"operation": "post-ticket-sales", "mode": "error", "status": 503}))
        .await;
    let pending = app.register("outage", order("outage", ACTIVE_PASS)).await;
    assert_eq!(pending.status, 202, "{}", pending.body);
    app.clear_faults().await;
    let work = operator.get("/console/work").await;
    assert!(work.text.contains(r#"data-testid="pending-count">1<"#), "{}", work.text);
    assert!(
        work.text.contains("UiTPAS antwoordde met een tijdelijke fout"),
        "{}",
        work.text
    );
}

#[tokio::test]
async fn event_names_never_hold_a_page_up_when_uitdatabank_is_slow() {
    let app = app().await;
    let mut operator = Operator::new(&app);
    operator.log_in().await;
    assert_eq!(app.register("slow", order("slow", ACTIVE_PASS)).await.status, 201);
    app.fault(json!({"operation": "event-get", "mode": "delay", "delayMs": 5000}))
        .await;
    let started = Instant::now();
    let page = operator.get("/console/events").await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(page.text.contains(TEST_EVENT), "the id instead: {}", page.text);
    assert!(!page.text.contains("Permanente UiTPAS Test Festiviteit"));
    app.clear_faults().await;
    // The name comes once UiTdatabank answers, and is kept.
    until("the name comes", Duration::from_secs(15), async || {
        let page = operator.get("/console/events").await;
        if page.text.contains("Permanente UiTPAS Test Festiviteit") {
            Ok(())
        } else {
            Err(page.text)
        }
    })
    .await;
    let calls = app.upstream_calls("event-get").await;
    operator.get("/console/events").await;
    assert_eq!(app.upstream_calls("event-get").await, calls, "cached");
}
