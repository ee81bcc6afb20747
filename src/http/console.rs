//! The operators' console at `/console`: HTML pages rendered here, on the queries below; no
//! script. See [`crate::console`] for the login, the layout and the reconciliation.
//!
//! Every page but the login needs a session; every POST needs the session's CSRF token and an
//! `Origin` of this site. The queries are built at run time (`sqlx::query_as`): their filters are
//! all optional, and they are covered by `tests/console.rs` against a real PostgreSQL.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::AppState;
use super::problem::{ApiError, Problem};
use crate::console::auth::{self, Session};
use crate::console::html::{self, Lang, age, chart, esc, money, page, qs, t, when};
use crate::console::reconcile::{self, Reconciler};
use crate::domain::mask;
use crate::ledger::jobs::{CANCEL, REGISTER};
use crate::outbox::Kind;

const STYLE: &str = include_str!("../../console/console.css");
/// Rows per page of the search pages.
const PAGE_SIZE: i64 = 50;

/// Of a search page fetched with one row more than [`PAGE_SIZE`]: whether a next page exists, and
/// how many rows match in all (the first row's window count; past the last page, what came before).
fn paging(fetched: usize, first_total: Option<i64>, page_no: i64) -> (bool, i64) {
    let more = fetched as i64 > PAGE_SIZE;
    (more, first_total.unwrap_or(page_no * PAGE_SIZE))
}

type Params = Query<HashMap<String, String>>;
type Fields = Form<HashMap<String, String>>;
type Page = Result<Response, ApiError>;

fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::Internal(e.into())
}

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/work") }))
        .route("/console/", get(|| async { Redirect::to("/console/work") }))
        .route("/console/console.css", get(style))
        .route(
            "/console/login",
            get(login_form)
                .post(login)
                .layer(DefaultBodyLimit::max(LOGIN_BODY_LIMIT)),
        )
        .route("/console/logout", post(logout))
        .route("/console/lang/{code}", get(language))
        .route("/console/work", get(work))
        .route("/console/work/retry", post(retry))
        .route("/console/work/abandon", post(abandon))
        .route("/console/registrations", get(registrations))
        .route("/console/sales", get(sales))
        .route("/console/events", get(events))
        .route("/console/events/{id}", get(event))
        .route("/console/reconciliation", get(reports).post(reconcile_event))
        .route("/console/reconciliation/{id}", get(report))
        .route("/console/reconciliation/{id}/csv", get(report_csv))
        .route("/console/webhooks", get(webhooks))
}

async fn style() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn enabled(state: &AppState) -> bool {
    state.config.operator_keys.as_ref().is_some_and(|k| !k.0.is_empty())
}

/// The operator's session, or the answer that sends them to the login.
async fn operator(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    if !enabled(state) {
        return Err(Redirect::to("/console/login").into_response());
    }
    let keys = state
        .config
        .operator_keys
        .as_ref()
        .map(|k| k.0.as_slice())
        .unwrap_or_default();
    match auth::session(&state.db, headers, keys).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(Redirect::to("/console/login").into_response()),
        Err(e) => Err(internal(e).into_response()),
    }
}

/// A POST of a logged-in operator: the session, the same site, and the session's CSRF token.
async fn operator_post(
    state: &AppState,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Result<Session, Response> {
    if auth::cross_site(headers) {
        return Err(forbidden(Lang::of(headers)));
    }
    let session = operator(state, headers).await?;
    let given = fields.get("csrf").map(String::as_str).unwrap_or("");
    if !auth::constant_time_eq(given.as_bytes(), session.csrf.as_bytes()) {
        return Err(forbidden(Lang::of(headers)));
    }
    Ok(session)
}

/// A POST without the session's token or from another site: 403 (a problem, like every error
/// answer of the service).
fn forbidden(lang: Lang) -> Response {
    Problem::ours("csrf", StatusCode::FORBIDDEN, "Forbidden")
        .with_detail(t(lang, "csrf"))
        .into_response()
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn flash(lang: Lang, params: &HashMap<String, String>) -> Option<String> {
    params.get("done").map(|d| match d.as_str() {
        "retried" => t(lang, "done_retried"),
        "abandoned" => t(lang, "done_abandoned"),
        _ => t(lang, "done_nothing"),
    })
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn date_param(params: &HashMap<String, String>, name: &str) -> Option<DateTime<Utc>> {
    param(params, name)
        .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

fn page_param(params: &HashMap<String, String>) -> i64 {
    param(params, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0i64)
        .clamp(0, 10_000)
}

// --- login ---

async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    html::html(html::login_page(lang, None, !enabled(&state)))
}

/// The most a login form may hold (a key and little else).
const LOGIN_BODY_LIMIT: usize = 1024;

/// A login: everything that can refuse it without its form is asked first (the console is on, the
/// same site, the throttle), so that nobody gets a body read for nothing.
async fn login(State(state): State<AppState>, headers: HeaderMap, request: Request) -> Page {
    let lang = Lang::of(&headers);
    if !enabled(&state) {
        // The page that says the console is off; the body is left unread (and the connection
        // closed by hyper, which cannot keep it for another request).
        return Ok(html::html(html::login_page(lang, None, true)));
    }
    if auth::cross_site(&headers) {
        return Ok(forbidden(lang));
    }
    let attempt = match state.console_logins.admit(super::client_ip(&state.config, &request)) {
        Ok(attempt) => attempt,
        Err(throttled) => {
            state.metrics.console_login("throttled");
            return Err(ApiError::RateLimited {
                retry_after_s: throttled.retry_after_s,
            });
        }
    };
    let Form(fields): Fields = match Form::from_request(request, &state).await {
        Ok(form) => form,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let keys = state
        .config
        .operator_keys
        .as_ref()
        .map(|k| k.0.as_slice())
        .unwrap_or_default();
    let given = fields.get("key").map(|k| k.trim()).unwrap_or("");
    let Some(key) = auth::key_matches(keys, given) else {
        // Logged by the throttle, once per burst of wrong keys.
        attempt.wrong();
        state.metrics.console_login("wrong");
        // The form again, with the error (200: the service's error answers are problems, and
        // this one is a page for a person).
        return Ok(html::html(html::login_page(lang, Some(&t(lang, "login_wrong")), false)));
    };
    attempt.right();
    state.metrics.console_login("ok");
    let token = auth::create(&state.db, key).await.map_err(internal)?;
    tracing::info!(operator = %auth::operator_hint(key), "console: an operator logged in");
    let mut response = see_other("/console/work");
    let cookie = HeaderValue::from_str(&auth::set_cookie(&token, &headers)).map_err(internal)?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, Form(fields): Fields) -> Page {
    if let Err(answer) = operator_post(&state, &headers, &fields).await {
        return Ok(answer);
    }
    auth::end(&state.db, &headers).await.map_err(internal)?;
    let mut response = see_other("/console/login");
    let cookie = HeaderValue::from_str(&auth::clear_cookie(&headers)).map_err(internal)?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Switches the language (a cookie), back to the page the operator was on.
async fn language(headers: HeaderMap, Path(code): Path<String>) -> Response {
    let code = if code == "en" { "en" } else { "nl" };
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/console").map(|i| r[i..].to_owned()))
        .filter(|p| !p.starts_with("/console/lang") && !p.contains("//"))
        .unwrap_or_else(|| "/console/work".to_owned());
    let mut response = see_other(&back);
    let cookie = format!(
        "{}={code}; Path=/console; SameSite=Strict; Max-Age=31536000",
        html::LANG_COOKIE
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

// --- unsettled work ---

#[derive(sqlx::FromRow)]
struct JobRow {
    kind: String,
    subject_id: Uuid,
    attempts: i32,
    due_at: DateTime<Utc>,
    parked: bool,
    problem: Option<serde_json::Value>,
    last_error: Option<String>,
    age_s: f64,
    order_id: Option<String>,
    registration_id: Option<Uuid>,
    hold_held: bool,
}

#[derive(sqlx::FromRow)]
struct HeldRow {
    id: Uuid,
    order_id: String,
    hold_expires_at: Option<DateTime<Utc>>,
    age_s: f64,
}

async fn work(State(state): State<AppState>, headers: HeaderMap, Query(params): Params) -> Page {
    let session = match operator(&state, &headers).await {
        Ok(s) => s,
        Err(answer) => return Ok(answer),
    };
    let lang = Lang::of(&headers);
    let jobs: Vec<JobRow> = sqlx::query_as(
        r#"SELECT j.kind, j.subject_id, j.attempts, j.due_at, j.parked_at IS NOT NULL AS parked, j.problem,
                  j.last_error, extract(epoch FROM now() - j.created_at)::float8 AS age_s,
                  coalesce(r.order_id, r2.order_id) AS order_id, coalesce(r.id, r2.id) AS registration_id,
                  coalesce(r.hold_state = 'held', false) AS hold_held
           FROM jobs j
           LEFT JOIN registrations r ON j.kind IN ('register', 'end_hold') AND r.id = j.subject_id
           LEFT JOIN ticket_sales t ON j.kind = 'cancel' AND t.id = j.subject_id
           LEFT JOIN registrations r2 ON r2.id = t.registration_id
           ORDER BY j.created_at
           LIMIT 1000"#,
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let held: Vec<HeldRow> = sqlx::query_as(
        r#"SELECT id, order_id, hold_expires_at, extract(epoch FROM now() - created_at)::float8 AS age_s
           FROM registrations WHERE hold_state = 'held' ORDER BY hold_expires_at LIMIT 1000"#,
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;

    let csrf = &session.csrf;
    let mut body = String::new();
    let parked: Vec<&JobRow> = jobs.iter().filter(|j| j.parked).collect();
    let _ = write!(
        body,
        r#"<section aria-labelledby="h-attention"><h2 id="h-attention">{} <span class="badge bad" data-testid="attention-count">{}</span></h2><p class="help">{}</p>"#,
        esc(&t(lang, "needs_attention")),
        parked.len(),
        esc(&t(lang, "needs_attention_help"))
    );
    body.push_str(&job_table(lang, csrf, &parked, "attention"));
    body.push_str("</section>");

    for (id, title) in [
        ("pending", "pending_registrations"),
        ("cancelling", "cancelling"),
        ("other", "other_work"),
    ] {
        let wanted = |j: &JobRow| match id {
            "pending" => j.kind == "register",
            "cancelling" => j.kind == "cancel",
            // A held hold's job waits for its expiry: the holds are listed below.
            _ => j.kind == "create_event" || (j.kind == "end_hold" && !j.hold_held),
        };
        let rows: Vec<&JobRow> = jobs.iter().filter(|j| !j.parked && wanted(j)).collect();
        let _ = write!(
            body,
            r#"<section aria-labelledby="h-{id}"><h2 id="h-{id}">{} <span class="badge" data-testid="{id}-count">{}</span></h2>"#,
            esc(&t(lang, title)),
            rows.len()
        );
        body.push_str(&job_table(lang, csrf, &rows, id));
        body.push_str("</section>");
    }

    let _ = write!(
        body,
        r#"<section aria-labelledby="h-held"><h2 id="h-held">{} <span class="badge" data-testid="held-count">{}</span></h2>"#,
        esc(&t(lang, "held")),
        held.len()
    );
    if held.is_empty() {
        let _ = write!(body, "<p>{}</p>", esc(&t(lang, "none")));
    } else {
        let _ = write!(
            body,
            r#"<table data-testid="held"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col" class="num">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
            esc(&t(lang, "registrations")),
            esc(&t(lang, "order")),
            esc(&t(lang, "age")),
            esc(&t(lang, "expires"))
        );
        for h in &held {
            let _ = write!(
                body,
                r#"<tr><td class="mono"><a href="/console/registrations?q={id}">{id}</a></td><td>{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                esc(&h.order_id),
                age(lang, h.age_s),
                h.hold_expires_at.map(when).unwrap_or_default(),
                id = h.id
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("</section>");
    let flash = flash(lang, &params);
    Ok(html::html(page(
        lang,
        &t(lang, "work"),
        "work",
        csrf,
        flash.as_deref(),
        &body,
    )))
}

fn job_table(lang: Lang, csrf: &str, rows: &[&JobRow], section: &str) -> String {
    if rows.is_empty() {
        return format!("<p>{}</p>", esc(&t(lang, "none")));
    }
    let mut out = format!(
        r#"<table data-testid="work-{section}"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
        esc(&t(lang, "kind")),
        esc(&t(lang, "subject")),
        esc(&t(lang, "order")),
        esc(&t(lang, "age")),
        esc(&t(lang, "attempts")),
        esc(&t(lang, "next_attempt")),
        esc(&t(lang, "last_error")),
        esc(&t(lang, "actions")),
    );
    for j in rows {
        let error = match (&j.problem, &j.last_error) {
            (Some(p), _) => {
                let text = |name: &str| p.get(name).and_then(|v| v.as_str()).unwrap_or("");
                let status = p.get("status").and_then(serde_json::Value::as_u64).unwrap_or(0);
                let kind = Some(text("type")).filter(|k| !k.is_empty() && *k != "about:blank");
                let detail = Some(text("detail")).filter(|d| !d.is_empty()).unwrap_or(text("title"));
                match kind {
                    Some(kind) => format!("{status} {kind}: {detail}"),
                    None => format!("{status}: {detail}"),
                }
            }
            (None, Some(e)) => e.clone(),
            (None, None) => String::new(),
        };
        let subject_link = match (j.kind.as_str(), j.registration_id) {
            ("cancel", _) => format!(r#"<a href="/console/sales?q={0}">{0}</a>"#, j.subject_id),
            (_, Some(r)) => format!(r#"<a href="/console/registrations?q={r}">{}</a>"#, j.subject_id),
            _ => j.subject_id.to_string(),
        };
        let next = if j.parked { "–".to_owned() } else { when(j.due_at) };
        let mut actions = String::new();
        let hidden = format!(
            r#"<input type="hidden" name="csrf" value="{}"><input type="hidden" name="kind" value="{}"><input type="hidden" name="subject" value="{}">"#,
            esc(csrf),
            esc(&j.kind),
            j.subject_id
        );
        let retry_label = if j.parked {
            t(lang, "retry")
        } else {
            t(lang, "retry_now")
        };
        let _ = write!(
            actions,
            r#"<form class="inline" method="post" action="/console/work/retry">{hidden}<button type="submit" data-testid="retry">{}</button></form> "#,
            esc(&retry_label)
        );
        if j.parked && matches!(j.kind.as_str(), "register" | "cancel") {
            let _ = write!(
                actions,
                r#"<form class="inline" method="post" action="/console/work/abandon">{hidden}<button type="submit" class="danger" data-testid="abandon">{}</button></form>"#,
                esc(&t(lang, "abandon"))
            );
        }
        let _ = write!(
            out,
            r#"<tr data-subject="{subject}"><td>{kind}</td><td class="mono">{subject_link}</td><td>{order}</td><td class="num">{age}</td><td class="num">{attempts}</td><td>{next}</td><td>{error}</td><td>{actions}</td></tr>"#,
            subject = j.subject_id,
            kind = esc(&t(lang, &j.kind)),
            order = esc(j.order_id.as_deref().unwrap_or("")),
            age = age(lang, j.age_s),
            attempts = j.attempts,
            error = esc(&error),
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn job_of(state: &AppState, fields: &HashMap<String, String>) -> Option<(Kind, Uuid)> {
    let kind = state.jobs.kind(fields.get("kind")?)?;
    let subject = Uuid::parse_str(fields.get("subject")?).ok()?;
    Some((kind, subject))
}

/// Retry: parked work through the ledger (due again, fresh backoff); work not parked is made due
/// now (its lease, if someone holds it, is left alone).
async fn retry(State(state): State<AppState>, headers: HeaderMap, Form(fields): Fields) -> Page {
    let session = match operator_post(&state, &headers, &fields).await {
        Ok(session) => session,
        Err(answer) => return Ok(answer),
    };
    let Some((kind, subject)) = job_of(&state, &fields) else {
        return Ok(see_other("/console/work?done=nothing"));
    };
    let mut done = state.ledger.retry(kind, subject).await.map_err(internal)?;
    if !done {
        let mut conn = state.db.acquire().await.map_err(internal)?;
        done = crate::outbox::Outbox::make_due(&mut conn, kind, subject)
            .await
            .map_err(internal)?;
    }
    tracing::info!(kind = kind.as_str(), %subject, done, operator = %session.operator, "console: retry");
    Ok(see_other(if done {
        "/console/work?done=retried"
    } else {
        "/console/work?done=nothing"
    }))
}

/// Abandon: parked registrations and cancellations only, through the ledger.
async fn abandon(State(state): State<AppState>, headers: HeaderMap, Form(fields): Fields) -> Page {
    let session = match operator_post(&state, &headers, &fields).await {
        Ok(session) => session,
        Err(answer) => return Ok(answer),
    };
    let done = match job_of(&state, &fields) {
        Some((kind, subject)) if kind == REGISTER || kind == CANCEL => {
            let done = state.ledger.abandon(kind, subject).await.map_err(internal)?;
            tracing::info!(kind = kind.as_str(), %subject, done, operator = %session.operator, "console: abandon");
            done
        }
        _ => false,
    };
    Ok(see_other(if done {
        "/console/work?done=abandoned"
    } else {
        "/console/work?done=nothing"
    }))
}

// --- registrations and ticket sales ---

fn select(name: &str, label: &str, current: Option<&str>, options: &[(&str, String)]) -> String {
    let mut out = format!(r#"<label>{}<select name="{name}">"#, esc(label));
    for (value, text) in options {
        let selected = if current == Some(*value) { " selected" } else { "" };
        let _ = write!(
            out,
            r#"<option value="{}"{selected}>{}</option>"#,
            esc(value),
            esc(text)
        );
    }
    out.push_str("</select></label>");
    out
}

fn text_input(name: &str, label: &str, kind: &str, current: Option<&str>, help: Option<&str>) -> String {
    let placeholder = help.map_or(String::new(), |h| format!(r#" placeholder="{}""#, esc(h)));
    format!(
        r#"<label>{}<input type="{kind}" name="{name}" value="{}"{placeholder}></label>"#,
        esc(label),
        esc(current.unwrap_or(""))
    )
}

fn pager(base: &str, params: &HashMap<String, String>, page_no: i64, more: bool, lang: Lang, total: i64) -> String {
    let link = |n: i64| {
        let mut q: Vec<String> = params
            .iter()
            .filter(|(k, v)| k.as_str() != "page" && !v.is_empty())
            .map(|(k, v)| format!("{}={}", qs(k), qs(v)))
            .collect();
        q.sort();
        q.push(format!("page={n}"));
        format!("{base}?{}", q.join("&"))
    };
    let mut out = format!(
        r#"<nav class="pager" aria-label="{}"><span data-testid="total">{total} {}</span>"#,
        esc(&t(lang, "results")),
        esc(&t(lang, "results"))
    );
    if page_no > 0 {
        let _ = write!(
            out,
            r#"<a href="{}">{}</a>"#,
            esc(&link(page_no - 1)),
            esc(&t(lang, "previous"))
        );
    }
    if more {
        let _ = write!(
            out,
            r#"<a href="{}">{}</a>"#,
            esc(&link(page_no + 1)),
            esc(&t(lang, "next"))
        );
    }
    out.push_str("</nav>");
    out
}

#[derive(sqlx::FromRow)]
struct RegistrationRow {
    id: Uuid,
    order_id: String,
    shown: String,
    hold_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    sales: i64,
    total: i64,
}

const REGISTRATION_STATUSES: [&str; 7] = [
    "pending",
    "registered",
    "rejected",
    "needs-attention",
    "held",
    "released",
    "expired",
];

async fn registrations(State(state): State<AppState>, headers: HeaderMap, Query(params): Params) -> Page {
    let session = match operator(&state, &headers).await {
        Ok(s) => s,
        Err(answer) => return Ok(answer),
    };
    let lang = Lang::of(&headers);
    let q = param(&params, "q");
    let status = param(&params, "status").filter(|s| REGISTRATION_STATUSES.contains(s));
    let page_no = page_param(&params);
    let rows: Vec<RegistrationRow> = sqlx::query_as(
        r#"WITH v AS (
               SELECT r.id, r.order_id, r.hold_expires_at, r.created_at, r.idempotency_key,
                      CASE WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.kind = 'register' AND j.subject_id = r.id
                                          AND j.parked_at IS NOT NULL) THEN 'needs-attention'
                           WHEN r.status = 'registered' AND r.hold_state IN ('held', 'released', 'expired')
                                THEN r.hold_state
                           ELSE r.status END AS shown
               FROM registrations r)
           SELECT v.id, v.order_id, v.shown, v.hold_expires_at, v.created_at,
                  (SELECT count(*) FROM ticket_sales t WHERE t.registration_id = v.id) AS sales,
                  count(*) OVER () AS total
           FROM v
           WHERE ($1::text IS NULL OR v.order_id = $1 OR v.id::text = lower($1) OR v.idempotency_key = $1
                  OR EXISTS (SELECT 1 FROM ticket_sales t WHERE t.registration_id = v.id
                               AND (t.uitpas_number = $1 OR t.uitpas_ticket_sale_id = $1 OR t.id::text = lower($1))))
             AND ($2::text IS NULL OR v.shown = $2)
             AND ($3::timestamptz IS NULL OR v.created_at >= $3)
             AND ($4::timestamptz IS NULL OR v.created_at < $4 + interval '1 day')
           ORDER BY v.created_at DESC, v.id
           OFFSET $5 LIMIT $6"#,
    )
    .bind(q)
    .bind(status)
    .bind(date_param(&params, "from"))
    .bind(date_param(&params, "to"))
    .bind(page_no * PAGE_SIZE)
    .bind(PAGE_SIZE + 1)
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let (more, total) = paging(rows.len(), rows.first().map(|r| r.total), page_no);

    let mut body = String::from(r#"<form class="filters" method="get" action="/console/registrations" role="search">"#);
    body.push_str(&text_input(
        "q",
        &t(lang, "search"),
        "search",
        q,
        Some(&t(lang, "search_help")),
    ));
    let mut options = vec![("", t(lang, "all"))];
    options.extend(REGISTRATION_STATUSES.iter().map(|s| (*s, t(lang, s))));
    body.push_str(&select("status", &t(lang, "status"), status, &options));
    body.push_str(&text_input(
        "from",
        &t(lang, "from"),
        "date",
        param(&params, "from"),
        None,
    ));
    body.push_str(&text_input("to", &t(lang, "to"), "date", param(&params, "to"), None));
    let _ = write!(
        body,
        r#"<button type="submit">{}</button></form>"#,
        esc(&t(lang, "filter"))
    );
    if rows.is_empty() {
        let _ = write!(body, "<p>{}</p>", esc(&t(lang, "none")));
    } else {
        let _ = write!(
            body,
            r#"<table data-testid="registrations"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col" class="num">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
            esc(&t(lang, "created")),
            esc(&t(lang, "order")),
            esc(&t(lang, "status")),
            esc(&t(lang, "sales_count")),
            esc(&t(lang, "expires")),
            esc(&t(lang, "subject")),
        );
        for r in rows.iter().take(PAGE_SIZE as usize) {
            let _ = write!(
                body,
                r#"<tr data-status="{shown}"><td>{}</td><td>{}</td><td><span class="badge{bad}">{}</span></td><td class="num"><a href="/console/sales?q={id}">{}</a></td><td>{}</td><td class="mono">{id}</td></tr>"#,
                when(r.created_at),
                esc(&r.order_id),
                esc(&t(lang, &r.shown)),
                r.sales,
                r.hold_expires_at.map(when).unwrap_or_default(),
                shown = esc(&r.shown),
                bad = if r.shown == "needs-attention" || r.shown == "rejected" {
                    " bad"
                } else {
                    ""
                },
                id = r.id,
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str(&pager("/console/registrations", &params, page_no, more, lang, total));
    Ok(html::html(page(
        lang,
        &t(lang, "registrations"),
        "registrations",
        &session.csrf,
        None,
        &body,
    )))
}

#[derive(sqlx::FromRow)]
struct SaleRow {
    id: Uuid,
    registration_id: Uuid,
    order_id: String,
    event_id: String,
    uitpas_number: String,
    tariff_name: Option<String>,
    tariff_type: Option<String>,
    regular_price_cents: i64,
    tariff_price_cents: Option<i64>,
    paid_price_cents: Option<i64>,
    uitpas_ticket_sale_id: Option<String>,
    status: String,
    created_at: DateTime<Utc>,
    total: i64,
}

const SALE_STATUSES: [&str; 5] = ["pending", "registered", "rejected", "cancelling", "cancelled"];

async fn sales(State(state): State<AppState>, headers: HeaderMap, Query(params): Params) -> Page {
    let session = match operator(&state, &headers).await {
        Ok(s) => s,
        Err(answer) => return Ok(answer),
    };
    let lang = Lang::of(&headers);
    let q = param(&params, "q");
    let event = param(&params, "event");
    let status = param(&params, "status").filter(|s| SALE_STATUSES.contains(s));
    let tariff = param(&params, "tariff").filter(|s| matches!(*s, "SOCIALTARIFF" | "COUPON"));
    let page_no = page_param(&params);
    let rows: Vec<SaleRow> = sqlx::query_as(
        r#"SELECT t.id, t.registration_id, r.order_id, t.event_id, t.uitpas_number, t.tariff_name, t.tariff_type,
                  t.regular_price_cents, t.tariff_price_cents, t.paid_price_cents, t.uitpas_ticket_sale_id,
                  t.status, t.created_at, count(*) OVER () AS total
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE ($1::text IS NULL OR r.order_id = $1 OR t.uitpas_number = $1 OR t.uitpas_ticket_sale_id = $1
                  OR t.external_id = $1 OR t.id::text = lower($1) OR r.id::text = lower($1))
             AND ($2::text IS NULL OR t.event_id = $2)
             AND ($3::text IS NULL OR t.status = $3)
             AND ($4::text IS NULL OR t.tariff_type = $4)
             AND ($5::timestamptz IS NULL OR t.created_at >= $5)
             AND ($6::timestamptz IS NULL OR t.created_at < $6 + interval '1 day')
           ORDER BY t.created_at DESC, t.id
           OFFSET $7 LIMIT $8"#,
    )
    .bind(q)
    .bind(event)
    .bind(status)
    .bind(tariff)
    .bind(date_param(&params, "from"))
    .bind(date_param(&params, "to"))
    .bind(page_no * PAGE_SIZE)
    .bind(PAGE_SIZE + 1)
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let (more, total) = paging(rows.len(), rows.first().map(|r| r.total), page_no);

    let mut body = String::from(r#"<form class="filters" method="get" action="/console/sales" role="search">"#);
    body.push_str(&text_input(
        "q",
        &t(lang, "search"),
        "search",
        q,
        Some(&t(lang, "search_help")),
    ));
    body.push_str(&text_input("event", &t(lang, "event"), "text", event, None));
    let mut options = vec![("", t(lang, "all"))];
    options.extend(SALE_STATUSES.iter().map(|s| (*s, t(lang, s))));
    body.push_str(&select("status", &t(lang, "status"), status, &options));
    body.push_str(&select(
        "tariff",
        &t(lang, "tariff"),
        tariff,
        &[
            ("", t(lang, "all")),
            ("SOCIALTARIFF", t(lang, "SOCIALTARIFF")),
            ("COUPON", t(lang, "COUPON")),
        ],
    ));
    body.push_str(&text_input(
        "from",
        &t(lang, "from"),
        "date",
        param(&params, "from"),
        None,
    ));
    body.push_str(&text_input("to", &t(lang, "to"), "date", param(&params, "to"), None));
    let _ = write!(
        body,
        r#"<button type="submit">{}</button></form>"#,
        esc(&t(lang, "filter"))
    );
    if rows.is_empty() {
        let _ = write!(body, "<p>{}</p>", esc(&t(lang, "none")));
    } else {
        let _ = write!(
            body,
            r#"<table data-testid="sales"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
            esc(&t(lang, "created")),
            esc(&t(lang, "order")),
            esc(&t(lang, "event")),
            esc(&t(lang, "pass")),
            esc(&t(lang, "tariff")),
            esc(&t(lang, "regular")),
            esc(&t(lang, "tariff_price")),
            esc(&t(lang, "paid")),
            esc(&t(lang, "status")),
            esc(&t(lang, "uitpas_id")),
        );
        for s in rows.iter().take(PAGE_SIZE as usize) {
            let _ = write!(
                body,
                r#"<tr data-sale="{id}" data-status="{status}"><td>{}</td><td><a href="/console/registrations?q={reg}">{}</a></td><td class="mono"><a href="/console/events/{ev}">{}</a></td><td class="mono">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td><span class="badge">{}</span></td><td class="mono">{}</td></tr>"#,
                when(s.created_at),
                esc(&s.order_id),
                esc(&short(&s.event_id)),
                esc(&mask(&s.uitpas_number)),
                esc(&tariff_text(lang, s.tariff_name.as_deref(), s.tariff_type.as_deref())),
                money(lang, s.regular_price_cents),
                s.tariff_price_cents.map(|c| money(lang, c)).unwrap_or_default(),
                s.paid_price_cents.map(|c| money(lang, c)).unwrap_or_default(),
                esc(&t(lang, &s.status)),
                esc(s.uitpas_ticket_sale_id.as_deref().unwrap_or("")),
                id = s.id,
                status = esc(&s.status),
                reg = s.registration_id,
                ev = qs(&s.event_id),
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str(&pager("/console/sales", &params, page_no, more, lang, total));
    Ok(html::html(page(
        lang,
        &t(lang, "sales"),
        "sales",
        &session.csrf,
        None,
        &body,
    )))
}

fn short(event: &str) -> String {
    event.chars().take(8).collect::<String>() + if event.chars().count() > 8 { "…" } else { "" }
}

fn tariff_text(lang: Lang, name: Option<&str>, kind: Option<&str>) -> String {
    match (name, kind) {
        (Some(n), Some(k)) => format!("{n} ({})", t(lang, k)),
        (Some(n), None) => n.to_owned(),
        (None, Some(k)) => t(lang, k),
        (None, None) => String::new(),
    }
}

// --- events ---

#[derive(sqlx::FromRow)]
struct EventRow {
    event_id: String,
    name: Option<String>,
    active: i64,
    cancelled: i64,
    tariff_total: i64,
    first_sale: DateTime<Utc>,
    last_sale: DateTime<Utc>,
}

const ACTIVE: &str = "('registered', 'cancelling')";

async fn events(State(state): State<AppState>, headers: HeaderMap) -> Page {
    let session = match operator(&state, &headers).await {
        Ok(s) => s,
        Err(answer) => return Ok(answer),
    };
    let lang = Lang::of(&headers);
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        r#"SELECT t.event_id,
                  (SELECT a.request->'name'->>'nl' FROM activities a WHERE a.event_id = t.event_id LIMIT 1) AS name,
                  count(*) FILTER (WHERE t.status IN {ACTIVE}) AS active,
                  count(*) FILTER (WHERE t.status = 'cancelled') AS cancelled,
                  coalesce(sum(t.tariff_price_cents) FILTER (WHERE t.status IN {ACTIVE}), 0)::int8 AS tariff_total,
                  min(t.created_at) AS first_sale, max(t.created_at) AS last_sale
           FROM ticket_sales t GROUP BY t.event_id ORDER BY max(t.created_at) DESC LIMIT 500"#
    ))
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let mut body = String::new();
    if rows.is_empty() {
        let _ = write!(body, "<p>{}</p>", esc(&t(lang, "none")));
    } else {
        let _ = write!(
            body,
            r#"<table data-testid="events"><thead><tr><th scope="col">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
            esc(&t(lang, "event")),
            esc(&t(lang, "active_sales")),
            esc(&t(lang, "cancelled")),
            esc(&t(lang, "amount_tariff")),
            esc(&t(lang, "first_sale")),
            esc(&t(lang, "last_sale")),
        );
        for e in &rows {
            let title = e.name.as_deref().map_or(String::new(), |n| format!("{} · ", esc(n)));
            let _ = write!(
                body,
                r#"<tr data-event="{id}"><td>{title}<a class="mono" href="/console/events/{link}">{id}</a></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
                e.active,
                e.cancelled,
                money(lang, e.tariff_total),
                when(e.first_sale),
                when(e.last_sale),
                id = esc(&e.event_id),
                link = qs(&e.event_id),
            );
        }
        body.push_str("</tbody></table>");
    }
    Ok(html::html(page(
        lang,
        &t(lang, "events"),
        "events",
        &session.csrf,
        None,
        &body,
    )))
}

#[derive(sqlx::FromRow)]
struct TariffRow {
    tariff_type: Option<String>,
    count: i64,
    regular: i64,
    tariff: i64,
    paid: i64,
}

async fn event(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Page {
    let session = match operator(&state, &headers).await {
        Ok(s) => s,
        Err(answer) => return Ok(answer),
    };
    let lang = Lang::of(&headers);
    let days: Vec<(NaiveDate, i64)> = sqlx::query_as(&format!(
        r#"SELECT (coalesce(registered_at, created_at) AT TIME ZONE 'UTC')::date AS day, count(*)
           FROM ticket_sales WHERE event_id = $1 AND status IN {ACTIVE} GROUP BY 1 ORDER BY 1"#
    ))
    .bind(&id)
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let by_tariff: Vec<TariffRow> = sqlx::query_as(&format!(
        r#"SELECT tariff_type, count(*) AS count, coalesce(sum(regular_price_cents), 0)::int8 AS regular,
                  coalesce(sum(tariff_price_cents), 0)::int8 AS tariff,
                  coalesce(sum(coalesce(paid_price_cents, tariff_price_cents)), 0)::int8 AS paid
           FROM ticket_sales WHERE event_id = $1 AND status IN {ACTIVE}
           GROUP BY tariff_type ORDER BY tariff_type"#
    ))
    .bind(&id)
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let name: Option<String> =
        sqlx::query_scalar("SELECT request->'name'->>'nl' FROM activities WHERE event_id = $1 LIMIT 1")
            .bind(&id)
            .fetch_optional(&state.db)
            .await
            .map_err(internal)?
            .flatten();
    if days.is_empty() && by_tariff.is_empty() {
        let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ticket_sales WHERE event_id = $1)")
            .bind(&id)
            .fetch_one(&state.db)
            .await
            .map_err(internal)?;
        if !known {
            return Err(ApiError::NotFound);
        }
    }
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<p class="mono" data-testid="event-id">{}{}</p>"#,
        name.as_deref().map_or(String::new(), |n| format!("{} · ", esc(n))),
        esc(&id)
    );
    let (count, regular, tariff, paid) = by_tariff.iter().fold((0, 0, 0, 0), |acc, r| {
        (acc.0 + r.count, acc.1 + r.regular, acc.2 + r.tariff, acc.3 + r.paid)
    });
    let _ = write!(
        body,
        r#"<h2>{}</h2><ul class="cards" data-testid="totals"><li>{}<strong data-testid="active-count">{count}</strong></li><li>{}<strong>{}</strong></li><li>{}<strong>{}</strong></li><li>{}<strong>{}</strong></li><li>{}<strong>{}</strong></li></ul><p class="help">{}</p>"#,
        esc(&t(lang, "regular_vs_paid")),
        esc(&t(lang, "active_sales")),
        esc(&t(lang, "amount_regular")),
        money(lang, regular),
        esc(&t(lang, "amount_tariff")),
        money(lang, tariff),
        esc(&t(lang, "paid")),
        money(lang, paid),
        esc(&t(lang, "discount")),
        money(lang, regular - tariff),
        esc(&t(lang, "paid_help")),
    );
    let _ = write!(body, "<h2>{}</h2>", esc(&t(lang, "by_day")));
    body.push_str(&chart(lang, &days));
    let _ = write!(
        body,
        r#"<h2>{}</h2><table data-testid="by-tariff"><thead><tr><th scope="col">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th></tr></thead><tbody>"#,
        esc(&t(lang, "by_tariff")),
        esc(&t(lang, "tariff")),
        esc(&t(lang, "count")),
        esc(&t(lang, "regular")),
        esc(&t(lang, "tariff_price")),
        esc(&t(lang, "paid")),
    );
    for r in &by_tariff {
        let kind = r.tariff_type.as_deref().unwrap_or("unknown_tariff");
        let _ = write!(
            body,
            r#"<tr data-tariff="{}"><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(kind),
            esc(&t(lang, kind)),
            r.count,
            money(lang, r.regular),
            money(lang, r.tariff),
            money(lang, r.paid)
        );
    }
    let _ = write!(
        body,
        r#"<tr><th scope="row">{}</th><td class="num">{count}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr></tbody></table>"#,
        esc(&t(lang, "total")),
        money(lang, regular),
        money(lang, tariff),
        money(lang, paid)
    );
    let _ = write!(
        body,
        r#"<h2>{}</h2>{}<p><a href="/console/reconciliation?event={}">{}</a> · <a href="/console/sales?event={}">{}</a></p>"#,
        esc(&t(lang, "reconciliation")),
        reconcile_form(lang, &session.csrf, &id),
        qs(&id),
        esc(&t(lang, "reports")),
        qs(&id),
        esc(&t(lang, "sales")),
    );
    Ok(html::html(page(
        lang,
        &t(lang, "event"),
        "events",
        &session.csrf,
        None,
        &body,
    )))
}

fn reconcile_form(lang: Lang, csrf: &str, event: &str) -> String {
    format!(
        r#"<form method="post" action="/console/reconciliation" class="inline"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="event" value="{}"><button type="submit" data-testid="reconcile">{}</button></form>"#,
        esc(csrf),
        esc(event),
        esc(&t(lang, "reconcile_now"))
    )
}

// --- reconciliation ---

/// Starts a reconciliation of one event in the background and shows its report (running).
async fn reconcile_event(State(state): State<AppState>, headers: HeaderMap, Form(fields): Fields) -> Page {
    if let Err(answer) = operator_post(&state, &headers, &fields).await {
        return Ok(answer);
    }
    let Some(event) = fields
        .get("event")
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
    else {
        return Ok(see_other("/console/reconciliation"));
    };
    let reconciler = reconciler(&state);
    // One run per customer who sold the event, each with that customer's credentials.
    let runs = reconciler.begin_event(&event, "console").await.map_err(internal)?;
    tracing::info!(runs = runs.len(), event, "console: reconciliation asked");
    let location = match runs.as_slice() {
        [(run, _)] => format!("/console/reconciliation/{run}"),
        _ => format!("/console/reconciliation?event={}", qs(&event)),
    };
    tokio::spawn(async move {
        let mut calls = 0;
        for (run, customer) in runs {
            reconciler
                .run(run, &event, customer, reconciler.max_calls, &mut calls)
                .await;
        }
    });
    Ok(see_other(&location))
}

pub fn reconciler(state: &AppState) -> Reconciler {
    Reconciler {
        db: state.db.clone(),
        customers: state.customers.clone(),
        max_calls: state.config.reconcile_max_calls,
    }
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: Uuid,
    event_id: String,
    trigger: String,
    status: String,
    note: Option<String>,
    calls: i32,
    uitpas_sales: i32,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    matched: i64,
    missing_at_uitpas: i64,
    active_at_uitpas: i64,
    unknown_ours: i64,
    unknown_other: i64,
    unsettled: i64,
    other_customer: i64,
    customer_id: Option<Uuid>,
}

const RUN_COLUMNS: &str = r#"r.id, r.event_id, r.customer_id, r.trigger, r.status, r.note, r.calls, r.uitpas_sales, r.created_at, r.finished_at,
    count(i.id) FILTER (WHERE i.kind = 'unsettled') AS unsettled,
    count(i.id) FILTER (WHERE i.kind = 'other_customer') AS other_customer,
    count(i.id) FILTER (WHERE i.kind = 'matched') AS matched,
    count(i.id) FILTER (WHERE i.kind = 'missing_at_uitpas') AS missing_at_uitpas,
    count(i.id) FILTER (WHERE i.kind = 'active_at_uitpas') AS active_at_uitpas,
    count(i.id) FILTER (WHERE i.kind = 'unknown_ours') AS unknown_ours,
    count(i.id) FILTER (WHERE i.kind = 'unknown_other') AS unknown_other"#;

impl RunRow {
    fn count(&self, kind: &str) -> i64 {
        match kind {
            "matched" => self.matched,
            "missing_at_uitpas" => self.missing_at_uitpas,
            "active_at_uitpas" => self.active_at_uitpas,
            "unknown_ours" => self.unknown_ours,
            "unknown_other" => self.unknown_other,
            "unsettled" => self.unsettled,
            "other_customer" => self.other_customer,
            _ => 0,
        }
    }
}

async fn reports(State(state): State<AppState>, headers: HeaderMap, Query(params): Params) -> Page {
    let session = match operator(&state, &headers).await {
        Ok(s) => s,
        Err(answer) => return Ok(answer),
    };
    let lang = Lang::of(&headers);
    let event = param(&params, "event");
    let runs: Vec<RunRow> = sqlx::query_as(&format!(
        r#"SELECT {RUN_COLUMNS} FROM reconciliation_runs r LEFT JOIN reconciliation_items i ON i.run_id = r.id
           WHERE ($1::text IS NULL OR r.event_id = $1)
           GROUP BY r.id ORDER BY r.created_at DESC LIMIT 200"#
    ))
    .bind(event)
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let known: Vec<String> = reconciler(&state).events().await.map_err(internal)?;

    let mut body = format!(r#"<p class="help">{}</p>"#, esc(&t(lang, "reconcile_help")));
    let _ = write!(
        body,
        r#"<h2>{}</h2><form method="post" action="/console/reconciliation" class="filters"><input type="hidden" name="csrf" value="{}">"#,
        esc(&t(lang, "reconcile_event")),
        esc(&session.csrf)
    );
    let options: Vec<(&str, String)> = known.iter().map(|e| (e.as_str(), e.clone())).collect();
    body.push_str(&select("event", &t(lang, "event"), event, &options));
    let _ = write!(
        body,
        r#"<button type="submit" data-testid="reconcile">{}</button></form>"#,
        esc(&t(lang, "reconcile_now"))
    );
    let _ = write!(body, "<h2>{}</h2>", esc(&t(lang, "reports")));
    if runs.is_empty() {
        let _ = write!(body, "<p>{}</p>", esc(&t(lang, "none")));
    } else {
        let _ = write!(
            body,
            r#"<table data-testid="reports"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th>"#,
            esc(&t(lang, "created")),
            esc(&t(lang, "event")),
            esc(&t(lang, "trigger")),
            esc(&t(lang, "status")),
        );
        for kind in reconcile::KINDS {
            let _ = write!(body, r#"<th scope="col" class="num">{}</th>"#, esc(&t(lang, kind)));
        }
        body.push_str("</tr></thead><tbody>");
        for r in &runs {
            let _ = write!(
                body,
                r#"<tr data-run="{id}" data-status="{status}"><td><a href="/console/reconciliation/{id}">{}</a></td><td class="mono">{}</td><td>{}</td><td>{}</td>"#,
                when(r.created_at),
                esc(&short(&r.event_id)),
                esc(&t(lang, if r.trigger == "daily" { "daily" } else { "by_console" })),
                esc(&t(lang, &r.status)),
                id = r.id,
                status = esc(&r.status),
            );
            for kind in reconcile::KINDS {
                let _ = write!(body, r#"<td class="num">{}</td>"#, r.count(kind));
            }
            body.push_str("</tr>");
        }
        body.push_str("</tbody></table>");
    }
    Ok(html::html(page(
        lang,
        &t(lang, "reconciliation"),
        "reconciliation",
        &session.csrf,
        None,
        &body,
    )))
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    kind: String,
    ticket_sale_id: Option<Uuid>,
    uitpas_ticket_sale_id: Option<String>,
    uitpas_number: Option<String>,
    tariff_type: Option<String>,
    regular_price_cents: Option<i64>,
    tariff_price_cents: Option<i64>,
    label: Option<String>,
}

async fn load_report(state: &AppState, id: &str) -> Result<(RunRow, Vec<ItemRow>), ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
    let run: RunRow = sqlx::query_as(&format!(
        r#"SELECT {RUN_COLUMNS} FROM reconciliation_runs r LEFT JOIN reconciliation_items i ON i.run_id = r.id
           WHERE r.id = $1 GROUP BY r.id"#
    ))
    .bind(id)
    .fetch_optional(&state.db)
    .await
    .map_err(internal)?
    .ok_or(ApiError::NotFound)?;
    let items: Vec<ItemRow> = sqlx::query_as(
        r#"SELECT kind, ticket_sale_id, uitpas_ticket_sale_id, uitpas_number, tariff_type, regular_price_cents,
                  tariff_price_cents, label
           FROM reconciliation_items WHERE run_id = $1
           ORDER BY kind = 'matched', kind, id"#,
    )
    .bind(id)
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    Ok((run, items))
}

async fn report(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Page {
    let session = match operator(&state, &headers).await {
        Ok(s) => s,
        Err(answer) => return Ok(answer),
    };
    let lang = Lang::of(&headers);
    let (run, items) = load_report(&state, &id).await?;
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<dl class="cards"><div><dt>{}</dt><dd class="mono"><a href="/console/events/{}">{}</a></dd></div><div><dt>{}</dt><dd data-testid="run-status" data-status="{status}">{}</dd></div><div><dt>{}</dt><dd>{}</dd></div><div><dt>{}</dt><dd>{}</dd></div><div><dt>{}</dt><dd>{}</dd></div></dl>"#,
        esc(&t(lang, "event")),
        qs(&run.event_id),
        esc(&run.event_id),
        esc(&t(lang, "status")),
        esc(&t(lang, &run.status)),
        esc(&t(lang, "created")),
        when(run.created_at),
        esc(&t(lang, "calls")),
        run.calls,
        esc(&t(lang, "uitpas_sales")),
        run.uitpas_sales,
        status = esc(&run.status),
    );
    if let Some(customer) = run.customer_id {
        let name = state
            .customers
            .get(customer)
            .map_or_else(|| customer.to_string(), |c| c.name.clone());
        let _ = write!(
            body,
            r#"<p data-testid="run-customer">{}: {}</p>"#,
            esc(&t(lang, "customer")),
            esc(&name)
        );
    }
    if run.status == "complete" {
        // Every sale UiTPAS listed is on one line: say so, with the sum.
        let listed: i64 = reconcile::KINDS
            .iter()
            .filter(|&&k| k != reconcile::NOT_LISTED)
            .map(|k| run.count(k))
            .sum();
        let _ = write!(
            body,
            r#"<p data-testid="balance" data-uitpas-sales="{}" data-on-lines="{listed}">{}</p>"#,
            run.uitpas_sales,
            esc(&t(lang, "balance_help"))
                .replace("{uitpas}", &run.uitpas_sales.to_string())
                .replace("{lines}", &listed.to_string()),
        );
    }
    if let Some(note) = &run.note {
        let _ = write!(body, r#"<p class="error">{}: {}</p>"#, esc(&t(lang, "note")), esc(note));
    }
    if run.status == "running" {
        let _ = write!(
            body,
            r#"<p role="status">{} <a href="/console/reconciliation/{}" data-testid="refresh">{}</a></p>"#,
            esc(&t(lang, "running_help")),
            run.id,
            esc(&t(lang, "refresh"))
        );
    }
    let _ = run.finished_at;
    // The summary: count and amounts per kind.
    let _ = write!(
        body,
        r#"<h2>{}</h2><table data-testid="summary"><thead><tr><th scope="col">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th></tr></thead><tbody>"#,
        esc(&t(lang, "report")),
        esc(&t(lang, "kind")),
        esc(&t(lang, "count")),
        esc(&t(lang, "amount_regular")),
        esc(&t(lang, "amount_tariff")),
    );
    for kind in reconcile::KINDS {
        let of_kind = items.iter().filter(|i| i.kind == kind);
        let regular: i64 = of_kind.clone().filter_map(|i| i.regular_price_cents).sum();
        let tariff: i64 = of_kind.filter_map(|i| i.tariff_price_cents).sum();
        let help_key = format!("{kind}_help");
        let help = t(lang, &help_key);
        let help = if help == help_key {
            String::new()
        } else {
            format!(r#"<br><span class="help">{}</span>"#, esc(&help))
        };
        let _ = write!(
            body,
            r#"<tr data-kind="{kind}"><th scope="row">{}{help}</th><td class="num" data-testid="count-{kind}">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(&t(lang, kind)),
            run.count(kind),
            money(lang, regular),
            money(lang, tariff),
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(
        body,
        r#"<p><a href="/console/reconciliation/{}/csv" data-testid="csv" download>{}</a> · {}</p>"#,
        run.id,
        esc(&t(lang, "csv")),
        reconcile_form(lang, &session.csrf, &run.event_id)
    );
    if !items.is_empty() {
        let _ = write!(
            body,
            r#"<table data-testid="items"><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col" class="num">{}</th><th scope="col" class="num">{}</th><th scope="col">{}</th></tr></thead><tbody>"#,
            esc(&t(lang, "kind")),
            esc(&t(lang, "ticket_sale")),
            esc(&t(lang, "uitpas_id")),
            esc(&t(lang, "pass")),
            esc(&t(lang, "tariff")),
            esc(&t(lang, "regular")),
            esc(&t(lang, "tariff_price")),
            esc(&t(lang, "label")),
        );
        for i in &items {
            let sale = i
                .ticket_sale_id
                .map_or(String::new(), |s| format!(r#"<a href="/console/sales?q={s}">{s}</a>"#));
            let _ = write!(
                body,
                r#"<tr data-kind="{kind}" data-uitpas-id="{uid}"><td>{}</td><td class="mono">{sale}</td><td class="mono">{uid}</td><td class="mono">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                esc(&t(lang, &i.kind)),
                esc(i.uitpas_number.as_deref().unwrap_or("")),
                esc(&t(lang, i.tariff_type.as_deref().unwrap_or("unknown_tariff"))),
                i.regular_price_cents.map(|c| money(lang, c)).unwrap_or_default(),
                i.tariff_price_cents.map(|c| money(lang, c)).unwrap_or_default(),
                esc(i.label.as_deref().unwrap_or("")),
                kind = esc(&i.kind),
                uid = esc(i.uitpas_ticket_sale_id.as_deref().unwrap_or("")),
            );
        }
        body.push_str("</tbody></table>");
    }
    Ok(html::html(page(
        lang,
        &t(lang, "report"),
        "reconciliation",
        &session.csrf,
        None,
        &body,
    )))
}

/// A CSV field: quoted when needed, and never read as a formula by a spreadsheet.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn euros(cents: Option<i64>) -> String {
    cents.map_or(String::new(), |c| {
        format!("{}{}.{:02}", if c < 0 { "-" } else { "" }, c.abs() / 100, c.abs() % 100)
    })
}

async fn report_csv(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Page {
    if let Err(answer) = operator(&state, &headers).await {
        return Ok(answer);
    }
    let (run, items) = load_report(&state, &id).await?;
    let mut out = String::from(
        "run_id,event_id,run_status,kind,ticket_sale_id,uitpas_ticket_sale_id,uitpas_number,tariff_type,regular_price,tariff_price,label\r\n",
    );
    for i in &items {
        let fields = [
            run.id.to_string(),
            run.event_id.clone(),
            run.status.clone(),
            i.kind.clone(),
            i.ticket_sale_id.map(|s| s.to_string()).unwrap_or_default(),
            i.uitpas_ticket_sale_id.clone().unwrap_or_default(),
            i.uitpas_number.clone().unwrap_or_default(),
            i.tariff_type.clone().unwrap_or_default(),
            euros(i.regular_price_cents),
            euros(i.tariff_price_cents),
            i.label.clone().unwrap_or_default(),
        ];
        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    let disposition = format!("attachment; filename=\"reconciliation-{}.csv\"", run.id);
    let mut response = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    html::secure_headers(response.headers_mut());
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

// --- webhooks ---

/// The latest webhook events and how their delivery went (`GET /v1/webhook-deliveries` for the
/// shop).
async fn webhooks(State(state): State<AppState>, headers: HeaderMap) -> Page {
    let session = match operator(&state, &headers).await {
        Ok(s) => s,
        Err(answer) => return Ok(answer),
    };
    let lang = Lang::of(&headers);
    let (count, deliveries) = crate::webhooks::deliveries(&state.db, None, false, 0, 50)
        .await
        .map_err(internal)?;
    let body = if count == 0 {
        format!(
            r#"<p data-testid="webhooks-none">{}</p>"#,
            esc(&t(lang, "webhooks_none"))
        )
    } else {
        let rows: String = deliveries
            .iter()
            .map(|d| {
                let last = match (d.last_status, &d.last_error) {
                    (_, Some(error)) => error.clone(),
                    (Some(status), None) => status.to_string(),
                    (None, None) => String::new(),
                };
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&d.created_at.format("%Y-%m-%d %H:%M:%S").to_string()),
                    esc(&d.kind),
                    esc(&d.status),
                    d.attempts,
                    esc(&last)
                )
            })
            .collect();
        format!(
            r#"<ul class="cards"><li>{}<strong data-testid="webhooks-count">{count}</strong></li></ul>
<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>{rows}</tbody></table>"#,
            esc(&t(lang, "webhooks_count")),
            esc(&t(lang, "created")),
            esc(&t(lang, "webhook_type")),
            esc(&t(lang, "webhook_state")),
            esc(&t(lang, "webhook_attempts")),
            esc(&t(lang, "webhook_last")),
        )
    };
    Ok(html::html(page(
        lang,
        &t(lang, "webhooks"),
        "webhooks",
        &session.csrf,
        None,
        &body,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(euros(Some(1050)), "10.50");
        assert_eq!(euros(None), "");
    }
}
