//! The redemptions per event and per order on `/console/rewards`. A redemption names no event:
//! UiTPAS's redemption carries none, and the shop gives only its own order reference (`orderId`).
//! So redemptions made with a registration are tallied per event of the order's sales, those made
//! on their own apart; and every redemption per order reference, those without one together.

use maud::{Markup, html};
use uuid::Uuid;

use super::rewards::points;
use crate::console::html::{Lang, qs, t, time};
use crate::rewards::store::{EventTally, OrderTally};

/// The tally per customer and order reference, the latest orders first.
pub fn order_table(lang: Lang, orders: &[OrderTally], customer_name: impl Fn(Uuid) -> String) -> Markup {
    if orders.is_empty() {
        return html! { p { (t(lang, "none")) } };
    }
    html! {
        table data-testid="per-order" {
            thead { tr {
                th scope="col" { (t(lang, "customer")) }
                th scope="col" { (t(lang, "order")) }
                th.num scope="col" { (t(lang, "redemption_redeemed")) }
                th.num scope="col" { (t(lang, "cancelled")) }
                th.num scope="col" { (t(lang, "pending")) }
                th.num scope="col" { (t(lang, "rejected")) }
                th.num scope="col" { (t(lang, "points_spent")) }
                th scope="col" { (t(lang, "latest")) }
            } }
            tbody {
                @for o in orders {
                    tr data-customer=(o.customer_id) data-order=(o.order_id.as_deref().unwrap_or("")) {
                        td { (customer_name(o.customer_id)) }
                        td {
                            @match &o.order_id {
                                Some(order) => a href={ "/console/rewards?q=" (qs(order)) } { (order) },
                                None => span.help { (t(lang, "no_order_reference")) },
                            }
                        }
                        td.num data-testid="redeemed" { (o.redeemed) }
                        td.num data-testid="cancelled" { (o.cancelled) }
                        td.num data-testid="pending" { (o.pending) }
                        td.num data-testid="rejected" { (o.rejected) }
                        td.num data-testid="points" { (points(o.points)) }
                        td { (time(o.latest)) }
                    }
                }
            }
        }
    }
}

/// The tally per customer and event of the orders' sales, the events with the latest redemptions
/// first.
pub fn event_table(lang: Lang, events: &[EventTally], customer_name: impl Fn(Uuid) -> String) -> Markup {
    if events.is_empty() {
        return html! { p { (t(lang, "none")) } };
    }
    html! {
        table data-testid="per-event" {
            thead { tr {
                th scope="col" { (t(lang, "customer")) }
                th scope="col" { (t(lang, "event")) }
                th.num scope="col" { (t(lang, "redemption_redeemed")) }
                th.num scope="col" { (t(lang, "cancelled")) }
                th.num scope="col" { (t(lang, "pending")) }
                th.num scope="col" { (t(lang, "rejected")) }
                th.num scope="col" { (t(lang, "points_spent")) }
                th scope="col" { (t(lang, "latest")) }
            } }
            tbody {
                @for e in events {
                    tr data-customer=(e.customer_id) data-event=(e.event_id.as_deref().unwrap_or("")) {
                        td { (customer_name(e.customer_id)) }
                        td {
                            @match &e.event_id {
                                Some(event) => code { (event) },
                                None => span.help { (t(lang, "redeemed_on_their_own")) },
                            }
                        }
                        td.num data-testid="redeemed" { (e.redeemed) }
                        td.num data-testid="cancelled" { (e.cancelled) }
                        td.num data-testid="pending" { (e.pending) }
                        td.num data-testid="rejected" { (e.rejected) }
                        td.num data-testid="points" { (points(e.points)) }
                        td { (time(e.latest)) }
                    }
                }
            }
        }
    }
}
