//! The reconciliation of a customer's redemptions with UiTPAS (`/console/rewards/reconciliation`):
//! a button that starts one for a customer (in the background), the reports, and one report with
//! its lines, differences first ([`crate::rewards::reconcile`]). Read-only: it changes nothing.

use std::collections::HashMap;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use maud::html;
use uuid::Uuid;

use super::forms::{Posted, select};
use super::rewards::{customer_name, status_text};
use super::{Operator, Page, internal, see_other};
use crate::console::html::{self, page, t, table_head, time};
use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::rewards::reconcile::{DIFFERENCES, KINDS, Line};

/// Starts a reconciliation of one customer's redemptions in the background, and shows its report.
pub async fn start(State(state): State<AppState>, posted: Posted) -> Page {
    let customer = posted
        .fields
        .get("customer")
        .and_then(|c| Uuid::parse_str(c.trim()).ok())
        .filter(|c| state.customers.get(*c).is_some());
    let Some(customer) = customer else {
        return Ok(see_other("/console/rewards/reconciliation"));
    };
    let run = state.rewards.begin_reconciliation(customer).await.map_err(internal)?;
    tracing::info!(%run, %customer, operator = %posted.operator.session.operator, "console: reconciliation of redemptions asked");
    let rewards = state.rewards.clone();
    let budget = state.config.reconcile_max_calls;
    tokio::spawn(async move { rewards.reconcile(run, customer, budget).await });
    Ok(see_other(&format!("/console/rewards/reconciliation/{run}")))
}

struct Run {
    id: Uuid,
    customer_id: Uuid,
    status: String,
    note: Option<String>,
    calls: i32,
    passes: i32,
    items: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl Run {
    fn lines(&self) -> Vec<Line> {
        serde_json::from_value(self.items.clone()).unwrap_or_default()
    }
}

async fn runs(state: &AppState, id: Option<Uuid>) -> sqlx::Result<Vec<Run>> {
    sqlx::query_as!(
        Run,
        r#"SELECT id, customer_id, status, note, calls, passes, items, created_at
           FROM redemption_reconciliations WHERE ($1::uuid IS NULL OR id = $1)
           ORDER BY created_at DESC LIMIT 100"#,
        id
    )
    .fetch_all(&state.db)
    .await
}

fn counts(lines: &[Line]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for l in lines {
        *counts.entry(l.kind.as_str()).or_default() += 1;
    }
    counts
}

pub async fn list(State(state): State<AppState>, operator: Operator) -> Page {
    let Operator { session, lang } = operator;
    let runs = runs(&state, None).await.map_err(internal)?;
    let customers: Vec<(String, String)> = state
        .customers
        .all()
        .iter()
        .map(|c| (c.id.to_string(), c.name.clone()))
        .collect();
    let options: Vec<(&str, String)> = customers.iter().map(|(id, n)| (id.as_str(), n.clone())).collect();
    let body = html! {
        p.help { (t(lang, "reconcile_redemptions_help")) }
        form.filters method="post" action="/console/rewards/reconciliation" {
            input type="hidden" name="csrf" value=(session.csrf);
            (select("customer", &t(lang, "customer"), None, &options))
            button type="submit" data-testid="reconcile-redemptions" { (t(lang, "reconcile_now")) }
        }
        h2 { (t(lang, "reports")) }
        @if runs.is_empty() {
            p { (t(lang, "none")) }
        } @else {
            table data-testid="redemption-reports" {
                thead { tr {
                    th scope="col" { (t(lang, "created")) }
                    th scope="col" { (t(lang, "customer")) }
                    th scope="col" { (t(lang, "status")) }
                    @for kind in DIFFERENCES { th.num scope="col" { (t(lang, &format!("rl_{kind}"))) } }
                } }
                tbody {
                    @for r in &runs {
                        @let lines = r.lines();
                        @let counts = counts(&lines);
                        tr data-run=(r.id) data-status=(r.status) {
                            td { a href={ "/console/rewards/reconciliation/" (r.id) } { (time(r.created_at)) } }
                            td { (customer_name(&state, r.customer_id)) }
                            td { (t(lang, &r.status)) }
                            @for kind in DIFFERENCES { td.num { (counts.get(kind).copied().unwrap_or(0)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(html::html(page(
        lang,
        &t(lang, "reconcile_redemptions"),
        "rewards",
        &session.csrf,
        None,
        body,
    )))
}

pub async fn report(State(state): State<AppState>, operator: Operator, Path(id): Path<String>) -> Page {
    let Operator { session, lang } = operator;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let run = runs(&state, Some(id))
        .await
        .map_err(internal)?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound)?;
    let mut lines = run.lines();
    lines.sort_by_key(|l| KINDS.iter().position(|k| *k == l.kind).unwrap_or(KINDS.len()));
    let counts = counts(&lines);
    let body = html! {
        dl.cards {
            div { dt { (t(lang, "customer")) } dd data-testid="run-customer" { (customer_name(&state, run.customer_id)) } }
            div { dt { (t(lang, "status")) } dd data-testid="run-status" data-status=(run.status) { (t(lang, &run.status)) } }
            div { dt { (t(lang, "created")) } dd { (time(run.created_at)) } }
            div { dt { (t(lang, "calls")) } dd { (run.calls) } }
            div { dt { (t(lang, "passes")) } dd data-testid="passes" { (run.passes) } }
        }
        @if let Some(note) = &run.note {
            p.error { (t(lang, "note")) ": " (note) }
        }
        @if run.status == "running" {
            p role="status" {
                (t(lang, "running_help")) " "
                a href={ "/console/rewards/reconciliation/" (run.id) } data-testid="refresh" { (t(lang, "refresh")) }
            }
        }
        h2 { (t(lang, "report")) }
        table data-testid="summary" {
            (table_head(lang, &["kind", "#count"]))
            tbody {
                @for kind in KINDS {
                    tr data-kind=(kind) {
                        th scope="row" { (t(lang, &format!("rl_{kind}"))) br; span.help { (t(lang, &format!("rl_{kind}_help"))) } }
                        td.num data-testid={ "count-" (kind) } { (counts.get(kind).copied().unwrap_or(0)) }
                    }
                }
            }
        }
        @if !lines.is_empty() {
            table data-testid="items" {
                thead { tr {
                    @for key in ["kind", "redemption", "uitpas_id", "pass", "reward", "status", "redeemed_at_uitpas"] {
                        th scope="col" { (t(lang, key)) }
                    }
                } }
                tbody {
                    @for l in &lines {
                        @let uid = l.uitpas_redemption_id.as_deref().unwrap_or("");
                        tr data-kind=(l.kind) data-uitpas-id=(uid) {
                            td { (t(lang, &format!("rl_{}", l.kind))) }
                            td.mono {
                                @if let Some(r) = l.redemption_id {
                                    a href={ "/console/rewards?q=" (r) "#redemption-" (r) } data-redemption=(r) { (r) }
                                }
                            }
                            td.mono { (uid) }
                            td.mono { (l.uitpas_number) }
                            td { span.mono { (l.reward_id) } @if let Some(title) = &l.reward_title { " · " (title) } }
                            td { (l.status.as_deref().map(|s| status_text(lang, s)).unwrap_or_default()) }
                            td { @if let Some(at) = l.redeemed_at { (time(at)) } }
                        }
                    }
                }
            }
        }
        p { a href="/console/rewards/reconciliation" { (t(lang, "reports")) } }
    };
    Ok(html::html(page(
        lang,
        &t(lang, "report"),
        "rewards",
        &session.csrf,
        None,
        body,
    )))
}
