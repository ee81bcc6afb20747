//! Permissions (`/console/permissions`): per customer, the organizers its publiq client may act
//! for as `GET /permissions` last answered (name, id, the organizer it is linked to, card
//! systems), and per organizer what the service can and cannot do with UiTPAS
//! ([`crate::customers::capabilities`]) and which permission is missing. An operator can have a
//! customer's permissions read again from UiTPAS (after publiq granted one).

use std::collections::HashMap;

use axum::extract::{Query, State};
use maud::{Markup, html};
use uuid::Uuid;

use super::forms::{Posted, param};
use super::{Operator, Page, Params, see_other};
use crate::console::html::{self, Lang, page, t, time};
use crate::customers::Customer;
use crate::customers::capabilities::{self, Assessment, OrganizerCapabilities, Scope};
use crate::customers::permissions::{OrganizerPermissions, Permissions, granted_by};
use crate::http::AppState;

pub async fn list(State(state): State<AppState>, operator: Operator, Query(params): Params) -> Page {
    let Operator { session, lang } = operator;
    let flash = match param(&params, "done") {
        Some("read") => Some(t(lang, "permissions_read_done")),
        Some("refused") => Some(t(lang, "permissions_read_refused")),
        _ => None,
    };
    let mut sections = Vec::new();
    for customer in state.customers.all() {
        // Never read (UiTPAS was unreachable at start, or the customer is new): asked now.
        let permissions = match customer.permissions() {
            Some(p) => Some(p),
            None if !customer.disabled => state.customers.refresh_permissions(customer.id).await.ok(),
            None => None,
        };
        sections.push(customer_section(lang, &session.csrf, &customer, permissions.as_deref()));
    }
    let body = html! {
        p.help { (t(lang, "permissions_help")) }
        @for section in sections { (section) }
    };
    Ok(html::html(page(
        lang,
        &t(lang, "permissions"),
        "permissions",
        &session.csrf,
        flash.as_deref(),
        body,
    )))
}

/// Reads a customer's permissions from UiTPAS again.
pub async fn refresh(State(state): State<AppState>, posted: Posted) -> Page {
    let customer = param(&posted.fields, "customer").and_then(|c| Uuid::parse_str(c).ok());
    let done = match customer {
        Some(id) => match state.customers.refresh_permissions(id).await {
            Ok(_) => "read",
            Err(e) => {
                tracing::info!(error = %e, customer = %id, "console: the customer's permissions could not be read");
                "refused"
            }
        },
        None => "refused",
    };
    tracing::info!(operator = %posted.operator.session.operator, "console: permissions read again");
    Ok(see_other(&format!("/console/permissions?done={done}")))
}

fn customer_section(lang: Lang, csrf: &str, customer: &Customer, permissions: Option<&Permissions>) -> Markup {
    let heading = format!("customer-{}", customer.id);
    html! {
        section aria-labelledby=(heading) data-customer=(customer.id) {
            h2 #(heading) { (customer.name) }
            dl.cards {
                div { dt { (t(lang, "client_id")) } dd.mono { (customer.client_id.as_deref().unwrap_or("–")) } }
                div {
                    dt { (t(lang, "permissions_read_at")) }
                    dd { @match permissions { Some(p) => (time(p.read_at)), None => (t(lang, "permissions_unread")) } }
                }
            }
            form.inline method="post" action="/console/permissions/refresh" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="customer" value=(customer.id);
                button.secondary type="submit" data-testid="read-again" { (t(lang, "permissions_read_again")) }
            }
            @match permissions {
                None => p.error data-testid="permissions-unread" { (t(lang, "permissions_unread_help")) },
                Some(p) if p.organizers.is_empty() => p data-testid="no-organizers" { (t(lang, "permissions_no_organizers")) },
                Some(p) => {
                    @for (organizer, assessed) in p.organizers.iter().zip(capabilities::of(p)) {
                        (organizer_section(lang, customer.id, p, organizer, &assessed))
                    }
                }
            }
        }
    }
}

fn organizer_section(
    lang: Lang,
    customer: Uuid,
    permissions: &Permissions,
    organizer: &OrganizerPermissions,
    assessed: &OrganizerCapabilities,
) -> Markup {
    let names: HashMap<&str, &str> = permissions
        .organizers
        .iter()
        .filter_map(|o| Some((o.id.as_str(), o.name.as_deref()?)))
        .collect();
    let card_system = |id: i64| match organizer.card_system_name(id) {
        Some(name) => format!("{name} ({id})"),
        None => id.to_string(),
    };
    let heading = format!("organizer-{customer}-{}", organizer.id);
    html! {
        h3 #(heading) { (organizer.name.as_deref().unwrap_or(&organizer.id)) }
        dl.cards data-testid="organizer" data-organizer=(organizer.id) {
            div { dt { (t(lang, "organizer_id")) } dd.mono { (organizer.id) } }
            div {
                dt { (t(lang, "permissions_linked_to")) }
                dd data-testid="linked-to" {
                    @if organizer.linked_to.is_empty() {
                        (t(lang, "permissions_not_linked"))
                    } @else {
                        @for (i, parent) in organizer.linked_to.iter().enumerate() {
                            @if i > 0 { ", " }
                            (names.get(parent.as_str()).copied().unwrap_or(parent))
                        }
                    }
                }
            }
            div {
                dt { (t(lang, "card_systems")) }
                dd data-testid="card-systems" {
                    @if organizer.card_systems.is_empty() { "–" }
                    @for (i, c) in organizer.card_systems.iter().enumerate() {
                        @if i > 0 { ", " }
                        (card_system(c.id))
                    }
                }
            }
        }
        table data-testid="capabilities" data-organizer=(organizer.id) aria-labelledby=(heading) {
            thead { tr {
                @for key in ["capability", "status", "permissions_needed", "permissions_missing", "card_systems"] {
                    th scope="col" { (t(lang, key)) }
                }
            } }
            tbody {
                @for a in &assessed.capabilities {
                    (capability_row(lang, a, &card_system))
                }
            }
        }
        details data-testid="granted" data-organizer=(organizer.id) {
            summary { (t(lang, "permissions_granted")) }
            ul {
                @for permission in &organizer.permissions {
                    li data-permission=(permission) {
                        code { (permission) }
                        @if let Some(widened) = granted_by(permission) {
                            " · " (t(lang, "permissions_all_grants")) " " code { (widened) }
                        }
                        @if let Some(ids) = organizer.permission_card_systems.get(permission) {
                            " · "
                            @for (i, id) in ids.iter().enumerate() {
                                @if i > 0 { ", " }
                                (card_system(*id))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn capability_row(lang: Lang, a: &Assessment, card_system: &dyn Fn(i64) -> String) -> Markup {
    html! {
        tr data-capability=(a.capability) data-can=(a.can) {
            td {
                (t(lang, &format!("capability_{}", a.capability)))
                br;
                span.help { (t(lang, &format!("capability_{}_help", a.capability))) }
            }
            td {
                span.badge.bad[!a.can] { (t(lang, if a.can { "capability_can" } else { "capability_cannot" })) }
            }
            td.mono {
                @for (i, p) in a.needs.iter().enumerate() {
                    @if i > 0 { " + " }
                    (p)
                }
                @if a.scope == Scope::Client { br; span.help { (t(lang, "capability_any_organizer")) } }
                @for all in &a.through_all { br; span.help { (t(lang, "capability_through")) " " (all) } }
            }
            td.mono data-testid="missing" {
                @if a.missing.is_empty() && !a.can {
                    span { (t(lang, "capability_no_common_card_system")) }
                }
                @for (i, p) in a.missing.iter().enumerate() {
                    @if i > 0 { ", " }
                    (p)
                }
            }
            td {
                @match &a.card_system_ids {
                    Some(ids) => {
                        @for (i, id) in ids.iter().enumerate() {
                            @if i > 0 { ", " }
                            (card_system(*id))
                        }
                    }
                    None => "–",
                }
            }
        }
    }
}
