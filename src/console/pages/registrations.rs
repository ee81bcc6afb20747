//! Registrations: the search (`/console/registrations`) and a registration's page
//! (`/console/registrations/{id}`): its order, why it stands where it stands, its sales, the work
//! on it, its history and its webhooks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use uuid::Uuid;

use super::super::Console;
use super::forms::{self, PAGE_SIZE, dates, page_param, pager, paging, param, select, text_input};
use super::work::trouble;
use super::{Operator, Page, Params, internal};
use crate::console::explain;
use crate::console::history::{self, Entry};
use crate::console::html::{self, Lang, money, page, t, table_head, time};
use crate::domain::mask;
use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::ledger::search::{self, RegistrationSearch};
use crate::outbox::views;

const STATUSES: [&str; 7] = [
    "pending",
    "registered",
    "rejected",
    "needs-attention",
    "held",
    "released",
    "expired",
];

pub async fn list(State(state): State<AppState>, operator: Operator, Query(params): Params) -> Page {
    let Operator { session, lang } = operator;
    let q = param(&params, "q");
    let status = param(&params, "status").filter(|s| STATUSES.contains(s));
    let page_no = page_param(&params);
    let (from, until) = dates(&params);
    let search = RegistrationSearch { q, status, from, until };
    let rows = search::search_registrations(&state.db, &search, page_no * PAGE_SIZE, PAGE_SIZE + 1)
        .await
        .map_err(internal)?;
    let (more, total) = paging(rows.len(), rows.first().map(|r| r.total), page_no);
    let mut options = vec![("", t(lang, "all"))];
    options.extend(STATUSES.iter().map(|s| (*s, t(lang, s))));
    let body = html! {
        form.filters method="get" action="/console/registrations" role="search" {
            (text_input("q", &t(lang, "search"), "search", q, Some(&t(lang, "search_help"))))
            (select("status", &t(lang, "status"), status, &options))
            (text_input("from", &t(lang, "from"), "date", param(&params, "from"), None))
            (text_input("to", &t(lang, "to"), "date", param(&params, "to"), None))
            button type="submit" { (t(lang, "filter")) }
        }
        @if rows.is_empty() {
            p { (t(lang, "none")) }
        } @else {
            table data-testid="registrations" {
                (table_head(lang, &["created", "order", "status", "reason", "#sales_count", "expires", "subject"]))
                tbody {
                    @for r in rows.iter().take(PAGE_SIZE as usize) {
                        tr data-status=(r.shown) {
                            td { (time(r.created_at)) }
                            td { a href={ "/console/registrations/" (r.id) } { (r.order_id) } }
                            td { span.badge.bad[r.shown == "needs-attention" || r.shown == "rejected"] { (t(lang, &r.shown)) } }
                            td data-testid="reason" {
                                @if let Some(p) = r.problem.as_ref().filter(|_| r.shown == "rejected") {
                                    (explain::problem(p).what(lang))
                                }
                            }
                            td.num { a href={ "/console/sales?q=" (r.id) } { (r.sales) } }
                            td { @if let Some(at) = r.hold_expires_at { (time(at)) } }
                            td.mono { a href={ "/console/registrations/" (r.id) } { (r.id) } }
                        }
                    }
                }
            }
        }
        (pager("/console/registrations", &params, page_no, more, lang, total))
    };
    Ok(html::html(page(
        lang,
        &t(lang, "registrations"),
        "registrations",
        &session.csrf,
        None,
        body,
    )))
}

struct RegistrationRow {
    id: Uuid,
    customer_id: Uuid,
    order_id: String,
    idempotency_key: String,
    status: String,
    problem: Option<serde_json::Value>,
    hold_state: Option<String>,
    hold_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

pub struct SaleRow {
    pub id: Uuid,
    pub registration_id: Uuid,
    pub event_id: String,
    pub uitpas_number: String,
    pub tariff_name: Option<String>,
    pub tariff_type: Option<String>,
    pub regular_price_cents: i64,
    pub tariff_price_cents: Option<i64>,
    pub paid_price_cents: Option<i64>,
    pub uitpas_ticket_sale_id: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub registered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub checked_in_at: Option<DateTime<Utc>>,
}

async fn sales_of(state: &AppState, registration: Uuid) -> sqlx::Result<Vec<SaleRow>> {
    sqlx::query_as!(
        SaleRow,
        r#"SELECT id, registration_id, event_id, uitpas_number, tariff_name, tariff_type, regular_price_cents,
                  tariff_price_cents, paid_price_cents, uitpas_ticket_sale_id, status, created_at, registered_at,
                  cancelled_at, checked_in_at
           FROM ticket_sales WHERE registration_id = $1 ORDER BY position"#,
        registration
    )
    .fetch_all(&state.db)
    .await
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    operator: Operator,
    Path(id): Path<String>,
) -> Page {
    let Operator { session, lang } = operator;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let registration = sqlx::query_as!(
        RegistrationRow,
        r#"SELECT id, customer_id, order_id, idempotency_key, status, problem, hold_state, hold_expires_at, created_at
           FROM registrations WHERE id = $1"#,
        id
    )
    .fetch_optional(&state.db)
    .await
    .map_err(internal)?
    .ok_or(ApiError::NotFound)?;
    let sales = sales_of(&state, id).await.map_err(internal)?;
    let subjects: Vec<Uuid> = std::iter::once(id).chain(sales.iter().map(|s| s.id)).collect();
    let jobs = views::of_subjects(&state.db, &subjects).await.map_err(internal)?;
    let entries = history::of_registration(&state.db, id).await.map_err(internal)?;
    let events: Vec<(String, Uuid)> = {
        let mut ids: Vec<String> = sales.iter().map(|s| s.event_id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids.into_iter().map(|e| (e, registration.customer_id)).collect()
    };
    let names = console.event_names.names(&state.customers, &events, lang).await;
    let customer = state
        .customers
        .get(registration.customer_id)
        .map_or_else(|| t(lang, "customer_unknown"), |c| c.name.clone());
    let parked = jobs.iter().any(|j| j.parked_at.is_some() && j.kind == "register");
    let shown = if parked {
        "needs-attention".to_owned()
    } else {
        match (&registration.hold_state, registration.status.as_str()) {
            (Some(hold), "registered") if hold != "confirmed" => hold.clone(),
            _ => registration.status.clone(),
        }
    };
    let body = html! {
        dl.cards data-testid="facts" {
            div { dt { (t(lang, "status")) } dd { span.badge.bad[shown == "needs-attention" || shown == "rejected"] data-testid="status" data-status=(shown) { (t(lang, &shown)) } } }
            div { dt { (t(lang, "order")) } dd data-testid="order" { (registration.order_id) } }
            div { dt { (t(lang, "customer")) } dd { (customer) } }
            div { dt { (t(lang, "created")) } dd { (time(registration.created_at)) } }
            div { dt { (t(lang, "idempotency_key")) } dd.mono { (registration.idempotency_key) } }
            @if let Some(hold) = &registration.hold_state {
                div { dt { (t(lang, "hold")) } dd { (t(lang, hold)) @if let Some(at) = registration.hold_expires_at { " · " (t(lang, "expires")) " " (time(at)) } } }
            }
            div { dt { (t(lang, "subject")) } dd.mono { (registration.id) } }
        }
        @if let Some(problem) = &registration.problem {
            (problem_section(lang, problem, "registration"))
        }
        h2 { (t(lang, "sales")) }
        (sales_table(lang, &sales, &names))
        h2 { (t(lang, "work_on_it")) }
        (jobs_table(lang, &session.csrf, &jobs))
        h2 { (t(lang, "history")) }
        (history_table(lang, &entries))
        (webhooks_of(&state, id, lang).await?)
    };
    Ok(html::html(page(
        lang,
        &format!("{} {}", t(lang, "registration"), registration.order_id),
        "registrations",
        &session.csrf,
        None,
        body,
    )))
}

/// UiTPAS's problem: what it means and what to do, in the operator's language, and publiq's own
/// words (its message for the buyer, its `type` and `detail`).
pub fn problem_section(lang: Lang, problem: &serde_json::Value, context: &str) -> Markup {
    let explained = match context {
        "cancel" => explain::parked_cancel(problem),
        "report" => explain::report(problem),
        _ => explain::problem(problem),
    };
    html! {
        section.problem aria-labelledby="h-problem" data-testid="problem" data-explanation=(explained.key) {
            h2 #h-problem { (t(lang, "reason")) }
            p data-testid="explanation" { (explained.what(lang)) }
            p { strong { (t(lang, "what_to_do")) ": " } span data-testid="what-to-do" { (explained.to_do(lang)) } }
            @if let Some(message) = explain::end_user_message(problem, lang) {
                p { (t(lang, "end_user_message")) ": " q { (message) } }
            }
            details.technical {
                summary { (t(lang, "technical")) }
                code { (explain::technical(problem)) }
            }
        }
    }
}

pub fn sales_table(lang: Lang, sales: &[SaleRow], names: &HashMap<String, String>) -> Markup {
    if sales.is_empty() {
        return html! { p { (t(lang, "none")) } };
    }
    html! {
        table data-testid="sales" {
            (table_head(lang, &[
                "ticket_sale", "event", "pass", "tariff", "#regular", "#tariff_price", "#paid", "status",
                "uitpas_id",
            ]))
            tbody {
                @for s in sales {
                    tr data-sale=(s.id) data-status=(s.status) {
                        td.mono { a href={ "/console/sales/" (s.id) } { (s.id) } }
                        td { (event_link(&s.event_id, names)) }
                        td.mono { (mask(&s.uitpas_number)) }
                        td { (tariff_text(lang, s.tariff_name.as_deref(), s.tariff_type.as_deref())) }
                        td.num { (money(lang, s.regular_price_cents)) }
                        td.num { @if let Some(c) = s.tariff_price_cents { (money(lang, c)) } }
                        td.num { @if let Some(c) = s.paid_price_cents { (money(lang, c)) } }
                        td { span.badge { (t(lang, &s.status)) } }
                        td.mono { (s.uitpas_ticket_sale_id.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// An event: its name when UiTdatabank gave it, its id otherwise, linked to its page.
pub fn event_link(event: &str, names: &HashMap<String, String>) -> Markup {
    html! {
        a href={ "/console/events/" (html::qs(event)) } data-event-name=[names.get(event)] {
            @match names.get(event) {
                Some(name) => (name),
                None => span.mono { (event) },
            }
        }
    }
}

pub fn tariff_text(lang: Lang, name: Option<&str>, kind: Option<&str>) -> String {
    match (name, kind) {
        (Some(n), Some(k)) => format!("{n} ({})", t(lang, k)),
        (Some(n), None) => n.to_owned(),
        (None, Some(k)) => t(lang, k),
        (None, None) => String::new(),
    }
}

pub fn jobs_table(lang: Lang, csrf: &str, jobs: &[views::JobRow]) -> Markup {
    if jobs.is_empty() {
        return html! { p data-testid="no-work" { (t(lang, "no_work")) } };
    }
    html! {
        table data-testid="jobs" {
            (table_head(lang, &["kind", "#attempts", "next_attempt", "last_error", "actions"]))
            tbody {
                @for j in jobs {
                    tr data-kind=(j.kind) data-parked=(j.parked_at.is_some()) {
                        td { (t(lang, &j.kind)) }
                        td.num { (j.attempts) }
                        td { @if j.parked_at.is_some() { (t(lang, "needs-attention")) } @else { (time(j.due_at)) } }
                        td { (trouble(lang, &j.kind, j.problem.as_ref(), j.last_error.as_deref())) }
                        td {
                            @if j.kind != "end_hold" || j.parked_at.is_some() {
                                form.inline method="post" action="/console/work/retry" {
                                    (forms::job_fields(csrf, &j.kind, j.subject_id))
                                    button type="submit" data-testid="retry" { (t(lang, if j.parked_at.is_some() { "retry" } else { "retry_now" })) }
                                }
                            }
                            " "
                            @if j.parked_at.is_some() && matches!(j.kind.as_str(), "register" | "cancel") {
                                form.inline method="get" action="/console/work/abandon" {
                                    input type="hidden" name="kind" value=(j.kind);
                                    input type="hidden" name="subject" value=(j.subject_id);
                                    button.danger type="submit" data-testid="abandon" { (t(lang, "abandon")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Who did it: an operator's key hint, else the shop (what it asked) or the service.
fn actor(lang: Lang, entry: &Entry) -> String {
    match &entry.actor {
        Some(actor) => actor.clone(),
        None if matches!(entry.what.as_str(), "received" | "hold_confirmed" | "hold_released") => t(lang, "by_shop"),
        None => t(lang, "by_service"),
    }
}

pub fn history_table(lang: Lang, entries: &[Entry]) -> Markup {
    html! {
        table data-testid="history" {
            (table_head(lang, &["when", "what", "who", "details"]))
            tbody {
                @for e in entries {
                    tr data-what=(e.what) {
                        td { (time(e.created_at)) }
                        td {
                            (t(lang, &format!("h_{}", e.what)))
                            @if let Some(n) = e.detail.get("attempt").and_then(serde_json::Value::as_i64) {
                                " (" (t(lang, "attempt")) " " (n) ")"
                            }
                        }
                        td.mono[e.actor.is_some()] data-testid="actor" { (actor(lang, e)) }
                        td {
                            @if let Some(sale) = e.ticket_sale_id {
                                a.mono href={ "/console/sales/" (sale) } { (sale.to_string().get(..8).unwrap_or("")) "…" } " "
                            }
                            @if let Some(p) = e.detail.get("problem") {
                                (explain::problem(p).what(lang))
                                details.technical { summary { (t(lang, "technical")) } code { (explain::technical(p)) } }
                            } @else if let Some(error) = e.detail.get("error").and_then(serde_json::Value::as_str) {
                                (trouble(lang, "", None, Some(error)))
                            }
                            @if let Some(id) = e.detail.get("uitpasTicketSaleId").and_then(serde_json::Value::as_str) {
                                span.mono { (t(lang, "uitpas_id")) " " (id) }
                            }
                        }
                    }
                }
            }
        }
    }
}

struct WebhookRow {
    kind: String,
    created_at: DateTime<Utc>,
    attempts: i32,
    last_status: Option<i32>,
    delivered_at: Option<DateTime<Utc>>,
}

/// The webhook events about a registration and its sales, and how their delivery went.
pub async fn webhooks_of(state: &AppState, registration: Uuid, lang: Lang) -> Result<Markup, ApiError> {
    let rows = sqlx::query_as!(
        WebhookRow,
        r#"SELECT type AS kind, created_at, attempts, last_status, delivered_at FROM webhook_events
           WHERE subject_id = $1 OR subject_id IN (SELECT id FROM ticket_sales WHERE registration_id = $1)
           ORDER BY created_at LIMIT 200"#,
        registration
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    if rows.is_empty() {
        return Ok(html! {});
    }
    Ok(html! {
        h2 { (t(lang, "webhook_events")) }
        table data-testid="webhook-events" {
            (table_head(lang, &["created", "webhook_type", "webhook_state", "#webhook_attempts"]))
            tbody {
                @for w in &rows {
                    tr {
                        td { (time(w.created_at)) }
                        td.mono { (w.kind) }
                        td {
                            @match (w.delivered_at, w.attempts) {
                                (Some(at), _) => { (t(lang, "delivered")) " " (time(at)) },
                                (None, 0) => (t(lang, "pending")),
                                (None, _) => { (t(lang, "failing")) @if let Some(s) = w.last_status { " (" (s) ")" } },
                            }
                        }
                        td.num { (w.attempts) }
                    }
                }
            }
        }
    })
}
