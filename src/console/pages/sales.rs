//! Ticket sales: the search (`/console/sales`), a sale's page (`/console/sales/{id}`), and its
//! cancellation at UiTPAS (the refund), after a confirmation.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use maud::html;
use uuid::Uuid;

use super::super::Console;
use super::forms::{
    self, PAGE_SIZE, Posted, confirmation, dates, page_param, pager, paging, param, select, text_input,
};
use super::registrations::{SaleRow, event_link, history_table, jobs_table, problem_section, tariff_text, webhooks_of};
use super::work::record;
use super::{Operator, Page, Params, internal, see_other};
use crate::console::history;
use crate::console::html::{self, Lang, money, page, t, table_head, time};
use crate::domain::mask;
use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::ledger::flow::CancelOutcome;
use crate::outbox::views;

struct ListRow {
    id: Uuid,
    registration_id: Uuid,
    customer_id: Uuid,
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

const STATUSES: [&str; 5] = ["pending", "registered", "rejected", "cancelling", "cancelled"];

/// The event ids of some sales, each with a customer whose credentials can read it.
fn events_of<'a>(sales: impl Iterator<Item = (&'a str, Uuid)>) -> Vec<(String, Uuid)> {
    let mut seen = HashMap::new();
    for (event, customer) in sales {
        seen.entry(event.to_owned()).or_insert(customer);
    }
    seen.into_iter().collect()
}

pub async fn list(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    operator: Operator,
    Query(params): Params,
) -> Page {
    let Operator { session, lang } = operator;
    let q = param(&params, "q");
    let event = param(&params, "event");
    let status = param(&params, "status").filter(|s| STATUSES.contains(s));
    let tariff = param(&params, "tariff").filter(|s| matches!(*s, "SOCIALTARIFF" | "COUPON"));
    let page_no = page_param(&params);
    let (from, until) = dates(&params);
    let rows = sqlx::query_as!(
        ListRow,
        r#"SELECT t.id, t.registration_id, r.customer_id, r.order_id, t.event_id, t.uitpas_number, t.tariff_name,
                  t.tariff_type, t.regular_price_cents, t.tariff_price_cents, t.paid_price_cents,
                  t.uitpas_ticket_sale_id, t.status, t.created_at, count(*) OVER () AS "total!"
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE ($1::text IS NULL OR r.order_id = $1 OR t.uitpas_number = $1 OR t.uitpas_ticket_sale_id = $1
                  OR t.external_id = $1 OR t.id::text = lower($1) OR r.id::text = lower($1))
             AND ($2::text IS NULL OR t.event_id = $2)
             AND ($3::text IS NULL OR t.status = $3)
             AND ($4::text IS NULL OR t.tariff_type = $4)
             AND ($5::timestamptz IS NULL OR t.created_at >= $5)
             AND ($6::timestamptz IS NULL OR t.created_at < $6)
           ORDER BY t.created_at DESC, t.id
           OFFSET $7 LIMIT $8"#,
        q,
        event,
        status,
        tariff,
        from,
        until,
        page_no * PAGE_SIZE,
        PAGE_SIZE + 1
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let (more, total) = paging(rows.len(), rows.first().map(|r| r.total), page_no);
    let shown = &rows[..rows.len().min(PAGE_SIZE as usize)];
    let events = events_of(shown.iter().map(|s| (s.event_id.as_str(), s.customer_id)));
    let names = console.event_names.names(&state.customers, &events, lang).await;
    let mut options = vec![("", t(lang, "all"))];
    options.extend(STATUSES.iter().map(|s| (*s, t(lang, s))));
    let tariffs = [
        ("", t(lang, "all")),
        ("SOCIALTARIFF", t(lang, "SOCIALTARIFF")),
        ("COUPON", t(lang, "COUPON")),
    ];
    let body = html! {
        form.filters method="get" action="/console/sales" role="search" {
            (text_input("q", &t(lang, "search"), "search", q, Some(&t(lang, "search_help"))))
            (text_input("event", &t(lang, "event"), "text", event, None))
            (select("status", &t(lang, "status"), status, &options))
            (select("tariff", &t(lang, "tariff"), tariff, &tariffs))
            (text_input("from", &t(lang, "from"), "date", param(&params, "from"), None))
            (text_input("to", &t(lang, "to"), "date", param(&params, "to"), None))
            button type="submit" { (t(lang, "filter")) }
        }
        @if shown.is_empty() {
            p { (t(lang, "none")) }
        } @else {
            table data-testid="sales" {
                (table_head(lang, &[
                    "created", "order", "event", "pass", "tariff", "#regular", "#tariff_price", "#paid",
                    "status", "uitpas_id",
                ]))
                tbody {
                    @for s in shown {
                        tr data-sale=(s.id) data-status=(s.status) {
                            td { a href={ "/console/sales/" (s.id) } { (time(s.created_at)) } }
                            td { a href={ "/console/registrations/" (s.registration_id) } { (s.order_id) } }
                            td { (event_link(&s.event_id, &names)) }
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
        (pager("/console/sales", &params, page_no, more, lang, total))
    };
    Ok(html::html(page(
        lang,
        &t(lang, "sales"),
        "sales",
        &session.csrf,
        None,
        body,
    )))
}

struct Sale {
    row: SaleRow,
    order_id: String,
    customer_id: Uuid,
    regular_price_label: Option<String>,
}

async fn load(state: &AppState, id: &str) -> Result<Sale, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
    let r = sqlx::query!(
        r#"SELECT t.id, t.registration_id, t.event_id, t.uitpas_number, t.tariff_name, t.tariff_type,
                  t.regular_price_cents, t.tariff_price_cents, t.paid_price_cents, t.uitpas_ticket_sale_id, t.status,
                  t.created_at, t.registered_at, t.cancelled_at, t.checked_in_at, t.regular_price_label,
                  r.order_id, r.customer_id
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id WHERE t.id = $1"#,
        id
    )
    .fetch_optional(&state.db)
    .await
    .map_err(internal)?
    .ok_or(ApiError::NotFound)?;
    Ok(Sale {
        row: SaleRow {
            id: r.id,
            registration_id: r.registration_id,
            event_id: r.event_id,
            uitpas_number: r.uitpas_number,
            tariff_name: r.tariff_name,
            tariff_type: r.tariff_type,
            regular_price_cents: r.regular_price_cents,
            tariff_price_cents: r.tariff_price_cents,
            paid_price_cents: r.paid_price_cents,
            uitpas_ticket_sale_id: r.uitpas_ticket_sale_id,
            status: r.status,
            created_at: r.created_at,
            registered_at: r.registered_at,
            cancelled_at: r.cancelled_at,
            checked_in_at: r.checked_in_at,
        },
        order_id: r.order_id,
        customer_id: r.customer_id,
        regular_price_label: r.regular_price_label,
    })
}

fn facts(lang: Lang, sale: &Sale, names: &HashMap<String, String>) -> maud::Markup {
    let s = &sale.row;
    html! {
        dl.cards data-testid="facts" {
            div { dt { (t(lang, "status")) } dd { span.badge data-testid="status" data-status=(s.status) { (t(lang, &s.status)) } } }
            div { dt { (t(lang, "order")) } dd { a href={ "/console/registrations/" (s.registration_id) } { (sale.order_id) } } }
            div { dt { (t(lang, "event")) } dd data-testid="event" { (event_link(&s.event_id, names)) } }
            div { dt { (t(lang, "pass")) } dd.mono { (mask(&s.uitpas_number)) } }
            div { dt { (t(lang, "tariff")) } dd { (tariff_text(lang, s.tariff_name.as_deref(), s.tariff_type.as_deref())) } }
            div { dt { (t(lang, "regular")) } dd { (money(lang, s.regular_price_cents)) } }
            @if let Some(c) = s.tariff_price_cents { div { dt { (t(lang, "tariff_price")) } dd { (money(lang, c)) } } }
            @if let Some(c) = s.paid_price_cents { div { dt { (t(lang, "paid")) } dd { (money(lang, c)) } } }
            div { dt { (t(lang, "uitpas_id")) } dd.mono { (s.uitpas_ticket_sale_id.as_deref().unwrap_or("–")) } }
            @if let Some(label) = &sale.regular_price_label { div { dt { (t(lang, "regular_price_label")) } dd { (label) } } }
            div { dt { (t(lang, "created")) } dd { (time(s.created_at)) } }
            @if let Some(at) = s.registered_at { div { dt { (t(lang, "registered_at")) } dd { (time(at)) } } }
            @if let Some(at) = s.checked_in_at { div { dt { (t(lang, "checked_in")) } dd { (time(at)) } } }
            @if let Some(at) = s.cancelled_at { div { dt { (t(lang, "cancelled_at")) } dd { (time(at)) } } }
        }
    }
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    operator: Operator,
    Path(id): Path<String>,
    Query(params): Params,
) -> Page {
    let Operator { session, lang } = operator;
    let sale = load(&state, &id).await?;
    let s = &sale.row;
    let names = console
        .event_names
        .names(&state.customers, &[(s.event_id.clone(), sale.customer_id)], lang)
        .await;
    let jobs: Vec<_> = views::of_subjects(&state.db, &[s.id, s.registration_id])
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|j| j.subject_id == s.id || j.kind == "register")
        .collect();
    let entries = history::of_sale(&state.db, s.registration_id, s.id)
        .await
        .map_err(internal)?;
    let parked_cancel = jobs
        .iter()
        .find(|j| j.kind == "cancel" && j.parked_at.is_some())
        .and_then(|j| j.problem.clone());
    let body = html! {
        (facts(lang, &sale, &names))
        @if let Some(problem) = &parked_cancel {
            (problem_section(lang, problem, "cancel"))
        }
        @if s.status == "registered" {
            form.inline method="get" action={ "/console/sales/" (s.id) "/cancel" } {
                button.danger type="submit" data-testid="refund" { (t(lang, "refund")) }
            }
        }
        h2 { (t(lang, "work_on_it")) }
        (jobs_table(lang, &session.csrf, &jobs))
        h2 { (t(lang, "history")) }
        (history_table(lang, &entries))
        (webhooks_of(&state, s.registration_id, lang).await?)
    };
    let flash = forms::flash(lang, &params);
    Ok(html::html(page(
        lang,
        &format!("{} {}", t(lang, "ticket_sale"), sale.order_id),
        "sales",
        &session.csrf,
        flash.as_deref(),
        body,
    )))
}

/// The confirmation of a sale's cancellation at UiTPAS.
pub async fn confirm_cancel(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    operator: Operator,
    Path(id): Path<String>,
) -> Page {
    let Operator { session, lang } = operator;
    let sale = load(&state, &id).await?;
    let back = format!("/console/sales/{}", sale.row.id);
    if sale.row.status != "registered" {
        return Ok(see_other(&back));
    }
    let names = console
        .event_names
        .names(&state.customers, &[(sale.row.event_id.clone(), sale.customer_id)], lang)
        .await;
    let body = confirmation(
        lang,
        &format!("/console/sales/{}/cancel", sale.row.id),
        html! { input type="hidden" name="csrf" value=(session.csrf); },
        &t(lang, "confirm_refund_help"),
        facts(lang, &sale, &names),
        &back,
    );
    Ok(html::html(page(
        lang,
        &t(lang, "confirm_refund"),
        "sales",
        &session.csrf,
        None,
        body,
    )))
}

/// Cancels a registered sale at UiTPAS once confirmed (the ledger's cancellation, as the shop's
/// `DELETE /v1/ticket-sales/{id}` does); an unconfirmed POST is sent to the confirmation.
pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>, posted: Posted) -> Page {
    let sale = load(&state, &id).await?;
    let id = sale.row.id;
    if !posted.confirmed() {
        return Ok(see_other(&format!("/console/sales/{id}/cancel")));
    }
    if sale.row.status != "registered" {
        return Ok(see_other(&format!("/console/sales/{id}?done=nothing")));
    }
    let operator = &posted.operator.session.operator;
    let entry = record(&state, id, "operator_cancel", operator)
        .await
        .map_err(internal)?;
    let outcome = state.ledger.cancel(id).await.map_err(internal)?;
    let done = match outcome {
        CancelOutcome::Cancelled => "cancelled",
        CancelOutcome::Pending(_) => "cancel-pending",
        CancelOutcome::NotFound | CancelOutcome::NotRegistered(_) => "nothing",
    };
    if done == "nothing"
        && let Some(entry) = entry
    {
        history::forget(&state.db, entry).await.map_err(internal)?;
    }
    tracing::info!(ticket_sale_id = %id, done, operator = %operator, "console: cancel a sale");
    Ok(see_other(&format!("/console/sales/{id}?done={done}")))
}
