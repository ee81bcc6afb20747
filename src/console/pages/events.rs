//! Events (`/console/events`, `/console/events/{id}`): sales per event, by day and by kind of
//! tariff, regular against paid; names from UiTdatabank ([`crate::console::names`]).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use uuid::Uuid;

use super::super::Console;
use super::{Operator, Page, internal};
use crate::console::html::{self, Lang, chart, money, page, qs, t, table_head, time};
use crate::http::AppState;
use crate::http::problem::ApiError;

struct EventRow {
    event_id: String,
    customer_id: Uuid,
    name: Option<String>,
    active: i64,
    cancelled: i64,
    tariff_total: i64,
    first_sale: DateTime<Utc>,
    last_sale: DateTime<Utc>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    operator: Operator,
) -> Page {
    let Operator { session, lang } = operator;
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT t.event_id,
                  (array_agg(r.customer_id))[1] AS "customer_id!",
                  (SELECT a.request->'name'->>'nl' FROM activities a WHERE a.event_id = t.event_id LIMIT 1) AS name,
                  count(*) FILTER (WHERE t.status IN ('registered', 'cancelling')) AS "active!",
                  count(*) FILTER (WHERE t.status = 'cancelled') AS "cancelled!",
                  coalesce(sum(t.tariff_price_cents) FILTER (WHERE t.status IN ('registered', 'cancelling')), 0)::int8
                      AS "tariff_total!",
                  min(t.created_at) AS "first_sale!", max(t.created_at) AS "last_sale!"
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           GROUP BY t.event_id ORDER BY max(t.created_at) DESC LIMIT 500"#
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let wanted: Vec<(String, Uuid)> = rows.iter().map(|e| (e.event_id.clone(), e.customer_id)).collect();
    let names = console.event_names.names(&state.customers, &wanted, lang).await;
    let body = html! {
        @if rows.is_empty() {
            p { (t(lang, "none")) }
        } @else {
            table data-testid="events" {
                (table_head(lang, &["event", "#active_sales", "#cancelled", "#amount_tariff", "first_sale", "last_sale"]))
                tbody {
                    @for e in &rows {
                        @let name = names.get(&e.event_id).or(e.name.as_ref());
                        tr data-event=(e.event_id) {
                            td {
                                @if let Some(name) = name { (name) " · " }
                                a.mono href={ "/console/events/" (qs(&e.event_id)) } { (e.event_id) }
                            }
                            td.num { (e.active) }
                            td.num { (e.cancelled) }
                            td.num { (money(lang, e.tariff_total)) }
                            td { (time(e.first_sale)) }
                            td { (time(e.last_sale)) }
                        }
                    }
                }
            }
        }
    };
    Ok(html::html(page(
        lang,
        &t(lang, "events"),
        "events",
        &session.csrf,
        None,
        body,
    )))
}

struct TariffRow {
    tariff_type: Option<String>,
    count: i64,
    regular: i64,
    tariff: i64,
    paid: i64,
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    operator: Operator,
    Path(id): Path<String>,
) -> Page {
    let Operator { session, lang } = operator;
    // Days as Brussels has them.
    let days: Vec<(NaiveDate, i64)> = sqlx::query!(
        r#"SELECT (coalesce(registered_at, created_at) AT TIME ZONE 'Europe/Brussels')::date AS "day!",
                  count(*) AS "count!"
           FROM ticket_sales WHERE event_id = $1 AND status IN ('registered', 'cancelling') GROUP BY 1 ORDER BY 1"#,
        id
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?
    .into_iter()
    .map(|r| (r.day, r.count))
    .collect();
    let by_tariff = sqlx::query_as!(
        TariffRow,
        r#"SELECT tariff_type, count(*) AS "count!", coalesce(sum(regular_price_cents), 0)::int8 AS "regular!",
                  coalesce(sum(tariff_price_cents), 0)::int8 AS "tariff!",
                  coalesce(sum(coalesce(paid_price_cents, tariff_price_cents)), 0)::int8 AS "paid!"
           FROM ticket_sales WHERE event_id = $1 AND status IN ('registered', 'cancelling')
           GROUP BY tariff_type ORDER BY tariff_type"#,
        id
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let known = sqlx::query!(
        r#"SELECT r.customer_id, (SELECT a.request->'name'->>'nl' FROM activities a WHERE a.event_id = $1 LIMIT 1)
                  AS activity_name
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id WHERE t.event_id = $1 LIMIT 1"#,
        id
    )
    .fetch_optional(&state.db)
    .await
    .map_err(internal)?
    .ok_or(ApiError::NotFound)?;
    let names = console
        .event_names
        .names(&state.customers, &[(id.clone(), known.customer_id)], lang)
        .await;
    let name = names.get(&id).cloned().or(known.activity_name);
    let (count, regular, tariff, paid) = by_tariff.iter().fold((0, 0, 0, 0), |acc, r| {
        (acc.0 + r.count, acc.1 + r.regular, acc.2 + r.tariff, acc.3 + r.paid)
    });
    let body = html! {
        p data-testid="event-id" {
            @if let Some(name) = &name { strong data-testid="event-name" { (name) } " · " }
            span.mono { (id) }
        }
        h2 { (t(lang, "regular_vs_paid")) }
        ul.cards data-testid="totals" {
            li { (t(lang, "active_sales")) strong data-testid="active-count" { (count) } }
            li { (t(lang, "amount_regular")) strong { (money(lang, regular)) } }
            li { (t(lang, "amount_tariff")) strong { (money(lang, tariff)) } }
            li { (t(lang, "paid")) strong { (money(lang, paid)) } }
            li { (t(lang, "discount")) strong { (money(lang, regular - tariff)) } }
        }
        p.help { (t(lang, "paid_help")) }
        h2 { (t(lang, "by_day")) }
        (chart(lang, &days))
        h2 { (t(lang, "by_tariff")) }
        table data-testid="by-tariff" {
            (table_head(lang, &["tariff", "#count", "#regular", "#tariff_price", "#paid"]))
            tbody {
                @for r in &by_tariff {
                    @let kind = r.tariff_type.as_deref().unwrap_or("unknown_tariff");
                    tr data-tariff=(kind) {
                        td { (t(lang, kind)) }
                        td.num { (r.count) }
                        td.num { (money(lang, r.regular)) }
                        td.num { (money(lang, r.tariff)) }
                        td.num { (money(lang, r.paid)) }
                    }
                }
                tr {
                    th scope="row" { (t(lang, "total")) }
                    td.num { (count) }
                    td.num { (money(lang, regular)) }
                    td.num { (money(lang, tariff)) }
                    td.num { (money(lang, paid)) }
                }
            }
        }
        h2 { (t(lang, "reconciliation")) }
        (reconcile_form(lang, &session.csrf, &id))
        p {
            a href={ "/console/reconciliation?event=" (qs(&id)) } { (t(lang, "reports")) }
            " · "
            a href={ "/console/sales?event=" (qs(&id)) } { (t(lang, "sales")) }
        }
    };
    let title = name.unwrap_or_else(|| t(lang, "event"));
    Ok(html::html(page(lang, &title, "events", &session.csrf, None, body)))
}

pub fn reconcile_form(lang: Lang, csrf: &str, event: &str) -> Markup {
    html! {
        form.inline method="post" action="/console/reconciliation" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="event" value=(event);
            button type="submit" data-testid="reconcile" { (t(lang, "reconcile_now")) }
        }
    }
}
