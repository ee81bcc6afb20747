//! The redemptions per event and per order on `/console/rewards`. A redemption names no event:
//! UiTPAS's redemption carries none, and the shop gives only its own order reference (`orderId`).
//! So redemptions made with a registration are tallied per event of the order's sales, those made
//! on their own apart; and every redemption per order reference, those without one together.

use maud::{Markup, html};
use uuid::Uuid;

use super::rewards::points;
use crate::console::html::{Lang, qs, t, time};
use crate::rewards::store::GroupTally;

/// The tally per customer and order reference, the latest orders first.
pub fn order_table(lang: Lang, orders: &[GroupTally], customer_name: impl Fn(Uuid) -> String) -> Markup {
    let group = |order: Option<&str>| match order {
        Some(order) => html! { a href={ "/console/rewards?q=" (qs(order)) } { (order) } },
        None => html! { span.help { (t(lang, "no_order_reference")) } },
    };
    tally_table(lang, ("per-order", "order"), orders, customer_name, group)
}

/// The tally per customer and event of the orders' sales, the events with the latest redemptions
/// first.
pub fn event_table(lang: Lang, events: &[GroupTally], customer_name: impl Fn(Uuid) -> String) -> Markup {
    let group = |event: Option<&str>| match event {
        Some(event) => html! { code { (event) } },
        None => html! { span.help { (t(lang, "redeemed_on_their_own")) } },
    };
    tally_table(lang, ("per-event", "event"), events, customer_name, group)
}

/// A table of `tallies`, one row per customer and group; `(testid, name)`: the table's test id,
/// and the group's name (its column's title and the row's `data-{name}`); `group` shows it.
fn tally_table(
    lang: Lang,
    (testid, name): (&str, &str),
    tallies: &[GroupTally],
    customer_name: impl Fn(Uuid) -> String,
    group: impl Fn(Option<&str>) -> Markup,
) -> Markup {
    if tallies.is_empty() {
        return html! { p { (t(lang, "none")) } };
    }
    html! {
        table data-testid=(testid) {
            thead { tr {
                th scope="col" { (t(lang, "customer")) }
                th scope="col" { (t(lang, name)) }
                th.num scope="col" { (t(lang, "redemption_redeemed")) }
                th.num scope="col" { (t(lang, "cancelled")) }
                th.num scope="col" { (t(lang, "pending")) }
                th.num scope="col" { (t(lang, "rejected")) }
                th.num scope="col" { (t(lang, "points_spent")) }
                th scope="col" { (t(lang, "latest")) }
            } }
            tbody {
                @for g in tallies {
                    @let value = g.group.as_deref().unwrap_or("");
                    tr data-customer=(g.customer_id)
                        data-order=[(name == "order").then_some(value)]
                        data-event=[(name == "event").then_some(value)] {
                        td { (customer_name(g.customer_id)) }
                        td { (group(g.group.as_deref())) }
                        td.num data-testid="redeemed" { (g.redeemed) }
                        td.num data-testid="cancelled" { (g.cancelled) }
                        td.num data-testid="pending" { (g.pending) }
                        td.num data-testid="rejected" { (g.rejected) }
                        td.num data-testid="points" { (points(g.points)) }
                        td { (time(g.latest)) }
                    }
                }
            }
        }
    }
}
