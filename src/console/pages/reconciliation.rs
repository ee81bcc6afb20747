//! The reconciliation with UiTPAS (`/console/reconciliation`): the reports, one report with its
//! lines and a CSV export, and a reconciliation of one event started now.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use maud::html;
use uuid::Uuid;

use super::events::reconcile_form;
use super::forms::{Posted, param, select};
use super::{Operator, Page, Params, internal, reconciler, see_other};
use crate::console::html::{self, money, page, qs, t, table_head, time};
use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::reconciliation as reconcile;

/// Starts a reconciliation of one event in the background and shows its report (running).
pub async fn start(State(state): State<AppState>, posted: Posted) -> Page {
    let Some(event) = posted
        .fields
        .get("event")
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
    else {
        return Ok(see_other("/console/reconciliation"));
    };
    let reconciler = reconciler(&state);
    // One run per customer who sold the event, each with that customer's credentials.
    let runs = reconciler.begin_event(&event, "console").await.map_err(internal)?;
    tracing::info!(runs = runs.len(), event, operator = %posted.operator.session.operator, "console: reconciliation asked");
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

struct RunRow {
    id: Uuid,
    event_id: String,
    customer_id: Option<Uuid>,
    trigger: String,
    status: String,
    note: Option<String>,
    calls: i32,
    uitpas_sales: i32,
    created_at: DateTime<Utc>,
    counts: HashMap<String, i64>,
}

impl RunRow {
    fn count(&self, kind: &str) -> i64 {
        self.counts.get(kind).copied().unwrap_or(0)
    }
}

/// Reports, newest first (one, or those of an event, or all), with their count of lines per kind.
async fn runs(state: &AppState, id: Option<Uuid>, event: Option<&str>) -> sqlx::Result<Vec<RunRow>> {
    let rows = sqlx::query!(
        r#"SELECT r.id, r.event_id, r.customer_id, r.trigger, r.status, r.note, r.calls, r.uitpas_sales, r.created_at,
                  coalesce((SELECT jsonb_object_agg(kind, n) FROM
                              (SELECT i.kind, count(*) AS n FROM reconciliation_items i WHERE i.run_id = r.id
                               GROUP BY i.kind) k), '{}') AS "counts!"
           FROM reconciliation_runs r
           WHERE ($1::uuid IS NULL OR r.id = $1) AND ($2::text IS NULL OR r.event_id = $2)
           ORDER BY r.created_at DESC LIMIT 200"#,
        id,
        event
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RunRow {
            counts: serde_json::from_value(r.counts).unwrap_or_default(),
            id: r.id,
            event_id: r.event_id,
            customer_id: r.customer_id,
            trigger: r.trigger,
            status: r.status,
            note: r.note,
            calls: r.calls,
            uitpas_sales: r.uitpas_sales,
            created_at: r.created_at,
        })
        .collect())
}

pub async fn list(State(state): State<AppState>, operator: Operator, Query(params): Params) -> Page {
    let Operator { session, lang } = operator;
    let event = param(&params, "event");
    let runs = runs(&state, None, event).await.map_err(internal)?;
    let known: Vec<String> = reconciler(&state).events().await.map_err(internal)?;
    let options: Vec<(&str, String)> = known.iter().map(|e| (e.as_str(), e.clone())).collect();
    let body = html! {
        p.help { (t(lang, "reconcile_help")) }
        h2 { (t(lang, "reconcile_event")) }
        form.filters method="post" action="/console/reconciliation" {
            input type="hidden" name="csrf" value=(session.csrf);
            (select("event", &t(lang, "event"), event, &options))
            button type="submit" data-testid="reconcile" { (t(lang, "reconcile_now")) }
        }
        h2 { (t(lang, "reports")) }
        @if runs.is_empty() {
            p { (t(lang, "none")) }
        } @else {
            table data-testid="reports" {
                thead { tr {
                    th scope="col" { (t(lang, "created")) }
                    th scope="col" { (t(lang, "event")) }
                    th scope="col" { (t(lang, "trigger")) }
                    th scope="col" { (t(lang, "status")) }
                    @for kind in reconcile::KINDS { th.num scope="col" { (t(lang, kind)) } }
                } }
                tbody {
                    @for r in &runs {
                        tr data-run=(r.id) data-status=(r.status) {
                            td { a href={ "/console/reconciliation/" (r.id) } { (time(r.created_at)) } }
                            td.mono { a href={ "/console/events/" (qs(&r.event_id)) } { (short(&r.event_id)) } }
                            td { (t(lang, if r.trigger == "daily" { "daily" } else { "by_console" })) }
                            td { (t(lang, &r.status)) }
                            @for kind in reconcile::KINDS { td.num { (r.count(kind)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(html::html(page(
        lang,
        &t(lang, "reconciliation"),
        "reconciliation",
        &session.csrf,
        None,
        body,
    )))
}

fn short(event: &str) -> String {
    event.chars().take(8).collect::<String>() + if event.chars().count() > 8 { "…" } else { "" }
}

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

async fn load(state: &AppState, id: &str) -> Result<(RunRow, Vec<ItemRow>), ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
    let run = runs(state, Some(id), None)
        .await
        .map_err(internal)?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound)?;
    let items = sqlx::query_as!(
        ItemRow,
        r#"SELECT kind, ticket_sale_id, uitpas_ticket_sale_id, uitpas_number, tariff_type, regular_price_cents,
                  tariff_price_cents, label
           FROM reconciliation_items WHERE run_id = $1
           ORDER BY kind = 'matched', kind, id"#,
        id
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    Ok((run, items))
}

pub async fn report(State(state): State<AppState>, operator: Operator, Path(id): Path<String>) -> Page {
    let Operator { session, lang } = operator;
    let (run, items) = load(&state, &id).await?;
    let customer = run
        .customer_id
        .map(|c| state.customers.get(c).map_or_else(|| c.to_string(), |c| c.name.clone()));
    // Every sale UiTPAS listed is on one line: say so, with the sum.
    let listed: i64 = reconcile::KINDS
        .iter()
        .filter(|&&k| k != reconcile::NOT_LISTED)
        .map(|k| run.count(k))
        .sum();
    let body = html! {
        dl.cards {
            div { dt { (t(lang, "event")) } dd.mono { a href={ "/console/events/" (qs(&run.event_id)) } { (run.event_id) } } }
            div { dt { (t(lang, "status")) } dd data-testid="run-status" data-status=(run.status) { (t(lang, &run.status)) } }
            div { dt { (t(lang, "created")) } dd { (time(run.created_at)) } }
            div { dt { (t(lang, "calls")) } dd { (run.calls) } }
            div { dt { (t(lang, "uitpas_sales")) } dd { (run.uitpas_sales) } }
        }
        @if let Some(name) = &customer {
            p data-testid="run-customer" { (t(lang, "customer")) ": " (name) }
        }
        @if run.status == "complete" {
            p data-testid="balance" data-uitpas-sales=(run.uitpas_sales) data-on-lines=(listed) {
                (t(lang, "balance_help").replace("{uitpas}", &run.uitpas_sales.to_string()).replace("{lines}", &listed.to_string()))
            }
        }
        @if let Some(note) = &run.note {
            p.error { (t(lang, "note")) ": " (note) }
        }
        @if run.status == "running" {
            p role="status" {
                (t(lang, "running_help")) " "
                a href={ "/console/reconciliation/" (run.id) } data-testid="refresh" { (t(lang, "refresh")) }
            }
        }
        h2 { (t(lang, "report")) }
        table data-testid="summary" {
            (table_head(lang, &["kind", "#count", "#amount_regular", "#amount_tariff"]))
            tbody {
                @for kind in reconcile::KINDS {
                    @let of_kind = items.iter().filter(|i| i.kind == kind);
                    @let regular: i64 = of_kind.clone().filter_map(|i| i.regular_price_cents).sum();
                    @let tariff: i64 = of_kind.filter_map(|i| i.tariff_price_cents).sum();
                    @let help_key = format!("{kind}_help");
                    @let help = t(lang, &help_key);
                    tr data-kind=(kind) {
                        th scope="row" {
                            (t(lang, kind))
                            @if help != help_key { br; span.help { (help) } }
                        }
                        td.num data-testid={ "count-" (kind) } { (run.count(kind)) }
                        td.num { (money(lang, regular)) }
                        td.num { (money(lang, tariff)) }
                    }
                }
            }
        }
        p {
            a href={ "/console/reconciliation/" (run.id) "/csv" } data-testid="csv" download { (t(lang, "csv")) }
            " · "
            (reconcile_form(lang, &session.csrf, &run.event_id))
        }
        @if !items.is_empty() {
            table data-testid="items" {
                thead { tr {
                    @for key in ["kind", "ticket_sale", "uitpas_id", "pass", "tariff"] { th scope="col" { (t(lang, key)) } }
                    th.num scope="col" { (t(lang, "regular")) }
                    th.num scope="col" { (t(lang, "tariff_price")) }
                    th scope="col" { (t(lang, "label")) }
                } }
                tbody {
                    @for i in &items {
                        @let uid = i.uitpas_ticket_sale_id.as_deref().unwrap_or("");
                        tr data-kind=(i.kind) data-uitpas-id=(uid) {
                            td { (t(lang, &i.kind)) }
                            td.mono { @if let Some(s) = i.ticket_sale_id { a href={ "/console/sales/" (s) } { (s) } } }
                            td.mono { (uid) }
                            td.mono { (i.uitpas_number.as_deref().unwrap_or("")) }
                            td { (t(lang, i.tariff_type.as_deref().unwrap_or("unknown_tariff"))) }
                            td.num { @if let Some(c) = i.regular_price_cents { (money(lang, c)) } }
                            td.num { @if let Some(c) = i.tariff_price_cents { (money(lang, c)) } }
                            td { (i.label.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    Ok(html::html(page(
        lang,
        &t(lang, "report"),
        "reconciliation",
        &session.csrf,
        None,
        body,
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

pub async fn csv(State(state): State<AppState>, _: Operator, Path(id): Path<String>) -> Page {
    let (run, items) = load(&state, &id).await?;
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
