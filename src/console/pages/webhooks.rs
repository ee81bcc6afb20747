//! Webhooks (`/console/webhooks`): the latest events and how their delivery went (the shop reads
//! the same with `GET /v1/webhook-deliveries`).

use axum::extract::State;
use maud::html;

use super::{Operator, Page, internal};
use crate::console::html::{self, page, t, time};
use crate::http::AppState;

pub async fn list(State(state): State<AppState>, operator: Operator) -> Page {
    let Operator { session, lang } = operator;
    let (count, deliveries) = crate::webhooks::deliveries(&state.db, None, false, 0, 50)
        .await
        .map_err(internal)?;
    let body = html! {
        @if count == 0 {
            p data-testid="webhooks-none" { (t(lang, "webhooks_none")) }
        } @else {
            ul.cards { li { (t(lang, "webhooks_count")) strong data-testid="webhooks-count" { (count) } } }
            table {
                thead { tr {
                    @for key in ["created", "webhook_type", "webhook_state", "webhook_attempts", "webhook_last"] {
                        th scope="col" { (t(lang, key)) }
                    }
                } }
                tbody {
                    @for d in &deliveries {
                        tr data-status=(d.status) {
                            td { (time(d.created_at)) }
                            td.mono { (d.kind) }
                            td { (t(lang, &d.status)) }
                            td { (d.attempts) }
                            td {
                                @match (d.last_status, &d.last_error) {
                                    (_, Some(error)) => code { (error) },
                                    (Some(status), None) => (status),
                                    (None, None) => "",
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html::html(page(
        lang,
        &t(lang, "webhooks"),
        "webhooks",
        &session.csrf,
        None,
        body,
    )))
}
