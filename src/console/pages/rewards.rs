//! Rewards paid with UiTPAS points (`/console/rewards`): per customer, its redemptions tallied per
//! reward, per event of the orders they were made with, and per order reference, and the latest
//! redemptions, newest first, filtered by customer, status or a search
//! (redemption id, order id, UiTPAS number, UiTPAS redemption id). Read from the rewards' store
//! ([`crate::rewards::store`]); UiTPAS numbers are masked.

use axum::extract::{Query, State};
use maud::{Markup, html};
use uuid::Uuid;

use super::forms::{PAGE_SIZE, page_param, pager, paging, param, select, text_input};
use super::{Operator, Page, Params, internal};
use crate::console::html::{self, Lang, page, t, table_head, time};
use crate::domain::mask;
use crate::http::AppState;
use crate::ledger::HoldState;
use crate::rewards::store::{self, RedemptionSearch, RewardTally};

/// The statuses an operator reads, as the shop's API says them.
const STATUSES: [&str; 9] = [
    "pending",
    "redeemed",
    "rejected",
    "needs-attention",
    "cancelling",
    "cancelled",
    "held",
    "released",
    "expired",
];

/// A redemption's status, in the operator's language.
pub(super) fn status_text(lang: Lang, status: &str) -> String {
    match status {
        "redeemed" | "held" | "cancelling" => t(lang, &format!("redemption_{status}")),
        other => t(lang, other),
    }
}

fn hold_text(lang: Lang, hold: HoldState) -> String {
    match hold {
        HoldState::Held => t(lang, "redemption_held"),
        other => t(lang, other.as_str()),
    }
}

/// Points as UiTPAS counts them: whole ones without decimals.
pub(super) fn points(p: f64) -> String {
    format!("{p}")
}

pub(super) fn customer_name(state: &AppState, id: Uuid) -> String {
    state
        .customers
        .get(id)
        .map_or_else(|| id.to_string(), |c| c.name.clone())
}

pub async fn list(State(state): State<AppState>, operator: Operator, Query(params): Params) -> Page {
    let Operator { session, lang } = operator;
    let customer = param(&params, "customer").and_then(|c| Uuid::parse_str(c).ok());
    let status = param(&params, "status").filter(|s| STATUSES.contains(s));
    let q = param(&params, "q");
    let page_no = page_param(&params);
    let tallies = store::tally(&state.db, customer).await.map_err(internal)?;
    let orders = store::tally_by_order(&state.db, customer, PAGE_SIZE)
        .await
        .map_err(internal)?;
    let events = store::tally_by_event(&state.db, customer, PAGE_SIZE)
        .await
        .map_err(internal)?;
    let search = RedemptionSearch {
        customer_id: customer,
        status,
        q,
    };
    let rows = store::search(&state.db, &search, page_no * PAGE_SIZE, PAGE_SIZE + 1)
        .await
        .map_err(internal)?;
    let (more, total) = paging(rows.len(), rows.first().map(|r| r.total), page_no);
    let shown = &rows[..rows.len().min(PAGE_SIZE as usize)];
    let customers: Vec<(String, String)> = state
        .customers
        .all()
        .iter()
        .map(|c| (c.id.to_string(), c.name.clone()))
        .collect();
    let mut customer_options = vec![("", t(lang, "all"))];
    customer_options.extend(customers.iter().map(|(id, name)| (id.as_str(), name.clone())));
    let mut status_options = vec![("", t(lang, "all"))];
    status_options.extend(STATUSES.iter().map(|s| (*s, status_text(lang, s))));
    let customer_param = customer.map(|c| c.to_string());
    let body = html! {
        form.filters method="get" action="/console/rewards" role="search" {
            (text_input("q", &t(lang, "search"), "search", q, Some(&t(lang, "redemption_search_help"))))
            (select("customer", &t(lang, "customer"), customer_param.as_deref(), &customer_options))
            (select("status", &t(lang, "status"), status, &status_options))
            button type="submit" { (t(lang, "filter")) }
        }
        section aria-labelledby="h-per-reward" {
            h2 #h-per-reward { (t(lang, "per_reward")) }
            (tally_table(&state, lang, &tallies))
        }
        section aria-labelledby="h-per-event" {
            h2 #h-per-event { (t(lang, "per_event")) }
            p.help { (t(lang, "per_event_help")) }
            (super::rewards_orders::event_table(lang, &events, |id| customer_name(&state, id)))
        }
        section aria-labelledby="h-per-order" {
            h2 #h-per-order { (t(lang, "per_order")) }
            p.help { (t(lang, "per_order_help")) }
            (super::rewards_orders::order_table(lang, &orders, |id| customer_name(&state, id)))
        }
        section aria-labelledby="h-reconcile-redemptions" {
            h2 #h-reconcile-redemptions { (t(lang, "reconcile_redemptions")) }
            p.help { (t(lang, "reconcile_redemptions_help")) }
            p { a href="/console/rewards/reconciliation" data-testid="to-redemption-reconciliation" { (t(lang, "reconcile_redemptions")) } }
        }
        section aria-labelledby="h-latest" {
            h2 #h-latest { (t(lang, "latest_redemptions")) }
            @if shown.is_empty() {
                p { (t(lang, "none")) }
            } @else {
                table data-testid="redemptions" {
                    (table_head(lang, &["created", "status", "reward", "pass", "order", "#points", "hold", "customer"]))
                    tbody {
                        @for r in shown {
                            tr id={ "redemption-" (r.id) } data-redemption=(r.id) data-status=(r.shown) {
                                td { (time(r.created_at)) }
                                td { span.badge.bad[r.shown == "needs-attention"] { (status_text(lang, &r.shown)) } }
                                td { (r.reward_id) @if let Some(title) = &r.reward_title { " · " (title) } }
                                td.mono { (mask(&r.uitpas_number)) }
                                td { (r.order_id.as_deref().unwrap_or("")) }
                                td.num { @if let Some(p) = r.points { (points(p)) } }
                                td {
                                    @if let Some(hold) = r.hold_state {
                                        (hold_text(lang, hold))
                                        @if let (HoldState::Held, Some(at)) = (hold, r.hold_expires_at) {
                                            " · " (t(lang, "expires")) " " (time(at))
                                        }
                                    }
                                }
                                td { (customer_name(&state, r.customer_id)) }
                            }
                        }
                    }
                }
            }
            (pager("/console/rewards", &params, page_no, more, lang, total))
        }
    };
    Ok(html::html(page(
        lang,
        &t(lang, "rewards"),
        "rewards",
        &session.csrf,
        None,
        body,
    )))
}

/// The tally per customer and reward.
fn tally_table(state: &AppState, lang: Lang, tallies: &[RewardTally]) -> Markup {
    if tallies.is_empty() {
        return html! { p { (t(lang, "none")) } };
    }
    html! {
        table data-testid="per-reward" {
            (table_head(lang, &[
                "customer", "reward", "#redemption_redeemed", "#cancelled", "#pending", "#rejected",
                "#points_spent",
            ]))
            tbody {
                @for r in tallies {
                    tr data-customer=(r.customer_id) data-reward=(r.reward_id) {
                        td { (customer_name(state, r.customer_id)) }
                        td { span.mono { (r.reward_id) } @if let Some(title) = &r.reward_title { " · " (title) } }
                        td.num data-testid="redeemed" { (r.redeemed) }
                        td.num data-testid="cancelled" { (r.cancelled) }
                        td.num data-testid="pending" { (r.pending) }
                        td.num data-testid="rejected" { (r.rejected) }
                        td.num data-testid="points" { (points(r.points)) }
                    }
                }
            }
        }
    }
}
