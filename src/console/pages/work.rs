//! The work not settled (`/console/work`): what needs a person, what the worker is still doing,
//! the open holds; and the operators' retry and abandon (after a confirmation).

use std::collections::HashMap;

use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use uuid::Uuid;

use super::forms::{self, Posted, confirmation, job_fields, job_of};
use super::{Operator, Page, Params, internal, see_other};
use crate::console::explain::{self, Explanation};
use crate::console::history;
use crate::console::html::{self, Lang, age, page, t, table_head, time};
use crate::http::AppState;
use crate::ledger::jobs::{CANCEL, REGISTER};
use crate::outbox::views::{self, WorkRow};
use crate::rewards;

struct HeldRow {
    id: Uuid,
    order_id: String,
    hold_expires_at: Option<DateTime<Utc>>,
    age_s: f64,
}

/// A job not settled, with the order it works for (its registration's, its sale's or its
/// redemption's) and its registration.
struct Work {
    job: WorkRow,
    order_id: Option<String>,
    registration_id: Option<Uuid>,
}

impl std::ops::Deref for Work {
    type Target = WorkRow;
    fn deref(&self) -> &WorkRow {
        &self.job
    }
}

/// The order (and registration) of each subject among `ids`: registrations, sales, redemptions.
async fn orders_of(db: &sqlx::PgPool, ids: &[Uuid]) -> sqlx::Result<HashMap<Uuid, (String, Option<Uuid>)>> {
    let rows = sqlx::query!(
        r#"SELECT id AS "subject!", order_id AS "order_id!", id AS registration_id FROM registrations WHERE id = ANY($1)
           UNION ALL
           SELECT t.id, r.order_id, r.id FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE t.id = ANY($1)
           UNION ALL
           SELECT id, order_id, NULL FROM reward_redemptions WHERE id = ANY($1) AND order_id IS NOT NULL"#,
        ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.subject, (r.order_id, r.registration_id)))
        .collect())
}

pub async fn list(State(state): State<AppState>, operator: Operator, Query(params): Params) -> Page {
    let Operator { session, lang } = operator;
    let unsettled = state.jobs.unsettled().await.map_err(internal)?;
    let ids: Vec<Uuid> = unsettled.iter().map(|j| j.subject_id).collect();
    let mut orders = orders_of(&state.db, &ids).await.map_err(internal)?;
    let jobs: Vec<Work> = unsettled
        .into_iter()
        .map(|job| {
            let (order_id, registration_id) = orders.remove(&job.subject_id).unzip();
            Work {
                job,
                order_id,
                registration_id: registration_id.flatten(),
            }
        })
        .collect();
    let held = sqlx::query_as!(
        HeldRow,
        r#"SELECT id, order_id, hold_expires_at, extract(epoch FROM now() - created_at)::float8 AS "age_s!"
           FROM registrations WHERE hold_state = 'held' ORDER BY hold_expires_at LIMIT 1000"#
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let csrf = &session.csrf;
    let parked: Vec<&Work> = jobs.iter().filter(|j| j.parked).collect();
    let of_section = |id: &str| -> Vec<&Work> {
        jobs.iter()
            .filter(|j| {
                !j.parked
                    && match id {
                        "pending" => j.kind == "register",
                        "cancelling" => j.kind == "cancel",
                        _ => !matches!(j.kind.as_str(), "register" | "cancel"),
                    }
            })
            .collect()
    };
    let body = html! {
        section aria-labelledby="h-attention" {
            h2 #h-attention { (t(lang, "needs_attention")) " " span.badge.bad data-testid="attention-count" { (parked.len()) } }
            p.help { (t(lang, "needs_attention_help")) }
            (job_table(lang, csrf, &parked, "attention"))
        }
        @for (id, title) in [("pending", "pending_registrations"), ("cancelling", "cancelling"), ("other", "other_work")] {
            @let rows = of_section(id);
            section aria-labelledby={ "h-" (id) } {
                h2 id={ "h-" (id) } { (t(lang, title)) " " span.badge data-testid={ (id) "-count" } { (rows.len()) } }
                (job_table(lang, csrf, &rows, id))
            }
        }
        section aria-labelledby="h-held" {
            h2 #h-held { (t(lang, "held")) " " span.badge data-testid="held-count" { (held.len()) } }
            @if held.is_empty() {
                p { (t(lang, "none")) }
            } @else {
                table data-testid="held" {
                    (table_head(lang, &["registrations", "order", "#age", "expires"]))
                    tbody {
                        @for h in &held {
                            tr {
                                td.mono { a href={ "/console/registrations/" (h.id) } { (h.id) } }
                                td { (h.order_id) }
                                td.num { (age(lang, h.age_s)) }
                                td { @if let Some(at) = h.hold_expires_at { (time(at)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    let flash = forms::flash(lang, &params);
    Ok(html::html(page(
        lang,
        &t(lang, "work"),
        "work",
        csrf,
        flash.as_deref(),
        body,
    )))
}

/// The kinds of job of a reward redemption ([`crate::rewards::jobs`]): their subject is the
/// redemption.
pub(super) const REWARD_KINDS: [&str; 3] = [
    rewards::jobs::REDEEM.as_str(),
    rewards::jobs::CANCEL.as_str(),
    rewards::jobs::END_HOLD.as_str(),
];

/// The kinds of parked work an operator may abandon: registrations, ticket-sale cancellations,
/// redemptions and their cancellations.
fn abandonable(kind: &str) -> bool {
    [REGISTER, CANCEL, rewards::jobs::REDEEM, rewards::jobs::CANCEL]
        .iter()
        .any(|k| k.as_str() == kind)
}

/// The redemption's row on the rewards page.
fn redemption_link(id: Uuid) -> String {
    format!("/console/rewards?q={id}#redemption-{id}")
}

/// What went wrong with a job, for a person: the explanation in their language, publiq's own
/// words under "Technical".
pub fn trouble(lang: Lang, kind: &str, problem: Option<&serde_json::Value>, last_error: Option<&str>) -> Markup {
    let (explained, raw): (Option<Explanation>, String) = match (problem, last_error) {
        (Some(p), _) => (
            Some(if kind == "cancel" {
                explain::parked_cancel(p)
            } else if REWARD_KINDS.contains(&kind) {
                explain::parked_redemption(p)
            } else {
                explain::problem(p)
            }),
            explain::technical(p),
        ),
        (None, Some(e)) => (explain::last_error(e), e.to_owned()),
        (None, None) => (None, String::new()),
    };
    html! {
        @if let Some(e) = explained {
            span data-testid="explanation" { (e.what(lang)) }
            " "
            span.help { (e.to_do(lang)) }
        }
        @if !raw.is_empty() {
            details.technical {
                summary { (t(lang, "technical")) }
                code { (raw) }
            }
        }
    }
}

fn job_table(lang: Lang, csrf: &str, rows: &[&Work], section: &str) -> Markup {
    if rows.is_empty() {
        return html! { p { (t(lang, "none")) } };
    }
    html! {
        table data-testid={ "work-" (section) } {
            thead { tr {
                @for key in ["kind", "subject", "order", "age", "attempts", "next_attempt", "last_error", "actions"] {
                    th scope="col" class=[matches!(key, "age" | "attempts").then_some("num")] { (t(lang, key)) }
                }
            } }
            tbody {
                @for j in rows {
                    tr data-subject=(j.subject_id) {
                        td { (t(lang, &j.kind)) }
                        td.mono {
                            @match (j.kind.as_str(), j.registration_id) {
                                ("cancel", _) => a href={ "/console/sales/" (j.subject_id) } { (j.subject_id) },
                                (kind, _) if REWARD_KINDS.contains(&kind) => a href=(redemption_link(j.subject_id)) { (j.subject_id) },
                                (_, Some(r)) => a href={ "/console/registrations/" (r) } { (j.subject_id) },
                                _ => (j.subject_id),
                            }
                        }
                        td { (j.order_id.as_deref().unwrap_or("")) }
                        td.num { (age(lang, j.age_s)) }
                        td.num { (j.attempts) }
                        td { @if j.parked { "–" } @else { (time(j.due_at)) } }
                        td { (trouble(lang, &j.kind, j.problem.as_ref(), j.last_error.as_deref())) }
                        td {
                            form.inline method="post" action="/console/work/retry" {
                                (job_fields(csrf, &j.kind, j.subject_id))
                                button type="submit" data-testid="retry" {
                                    (t(lang, if j.parked { "retry" } else { "retry_now" }))
                                }
                            }
                            " "
                            @if j.parked && abandonable(&j.kind) {
                                // To the confirmation (a GET changes nothing).
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

/// Records an operator's action in the history of the subject's registration: the entry's id.
pub async fn record(state: &AppState, subject: Uuid, what: &str, operator: &str) -> anyhow::Result<Option<i64>> {
    let Some((registration, sale)) = history::registration_of(&state.db, subject).await? else {
        return Ok(None);
    };
    Ok(Some(
        history::operator_action(&state.db, registration, sale, what, operator).await?,
    ))
}

/// Retry: parked work through the ledger (due again, fresh backoff); work not parked is made due
/// now (its lease, if someone holds it, is left alone).
pub async fn retry(State(state): State<AppState>, posted: Posted) -> Page {
    let Some((kind, subject)) = posted.job(&state) else {
        return Ok(see_other("/console/work?done=nothing"));
    };
    let operator = &posted.operator.session.operator;
    let parked = state.ledger.retry(kind, subject).await.map_err(internal)?;
    let done = parked || views::make_due_now(&state.db, kind, subject).await.map_err(internal)?;
    if done {
        let what = if parked { "operator_retry" } else { "operator_retry_now" };
        record(&state, subject, what, operator).await.map_err(internal)?;
    }
    tracing::info!(kind = kind.as_str(), %subject, done, operator = %operator, "console: retry");
    Ok(see_other(if done {
        "/console/work?done=retried"
    } else {
        "/console/work?done=nothing"
    }))
}

/// The confirmation of an abandon: what it does to this registration or cancellation.
pub async fn confirm_abandon(State(state): State<AppState>, operator: Operator, Query(params): Params) -> Page {
    let Operator { session, lang } = operator;
    let job = match job_of(&state, &params) {
        Some((kind, subject)) if abandonable(kind.as_str()) => views::job(&state.db, kind, subject)
            .await
            .map_err(internal)?
            .filter(|j| j.parked_at.is_some()),
        _ => None,
    };
    let Some(job) = job else {
        return Ok(see_other("/console/work?done=nothing"));
    };
    let order = history::registration_of(&state.db, job.subject_id)
        .await
        .map_err(internal)?;
    let link = match (job.kind.as_str(), order) {
        ("cancel", _) => format!("/console/sales/{}", job.subject_id),
        (kind, _) if REWARD_KINDS.contains(&kind) => redemption_link(job.subject_id),
        (_, Some((registration, _))) => format!("/console/registrations/{registration}"),
        _ => String::new(),
    };
    let facts = html! {
        dl.cards {
            div { dt { (t(lang, "kind")) } dd { (t(lang, &job.kind)) } }
            div { dt { (t(lang, "subject")) } dd.mono { a href=(link) { (job.subject_id) } } }
            div { dt { (t(lang, "attempts")) } dd { (job.attempts) } }
        }
        p { (trouble(lang, &job.kind, job.problem.as_ref(), job.last_error.as_deref())) }
    };
    let help = t(
        lang,
        match job.kind.as_str() {
            "cancel" => "confirm_abandon_cancel",
            "redeem_reward" => "confirm_abandon_redeem_reward",
            "cancel_redemption" => "confirm_abandon_cancel_redemption",
            _ => "confirm_abandon_register",
        },
    );
    let body = confirmation(
        lang,
        "/console/work/abandon",
        job_fields(&session.csrf, &job.kind, job.subject_id),
        &help,
        facts,
        "/console/work",
    );
    Ok(html::html(page(
        lang,
        &t(lang, "confirm_abandon"),
        "work",
        &session.csrf,
        None,
        body,
    )))
}

/// Abandon: parked registrations, cancellations and redemptions only, through the ledger, once confirmed; an
/// unconfirmed POST is sent to the confirmation.
pub async fn abandon(State(state): State<AppState>, posted: Posted) -> Page {
    let Some((kind, subject)) = posted.job(&state).filter(|(kind, _)| abandonable(kind.as_str())) else {
        return Ok(see_other("/console/work?done=nothing"));
    };
    if !posted.confirmed() {
        return Ok(see_other(&format!(
            "/console/work/abandon?kind={}&subject={subject}",
            kind.as_str()
        )));
    }
    let operator = &posted.operator.session.operator;
    if REWARD_KINDS.contains(&kind.as_str()) {
        return super::work_rewards::abandon(&state, subject, operator).await;
    }
    // Recorded first, so that the history reads the ledger's moves that follow as its effect;
    // forgotten when there was nothing to abandon.
    let entry = record(&state, subject, "operator_abandon", operator)
        .await
        .map_err(internal)?;
    let done = state.ledger.abandon(kind, subject).await.map_err(internal)?;
    if !done && let Some(entry) = entry {
        history::forget(&state.db, entry).await.map_err(internal)?;
    }
    tracing::info!(kind = kind.as_str(), %subject, done, operator = %operator, "console: abandon");
    Ok(see_other(if done {
        "/console/work?done=abandoned"
    } else {
        "/console/work?done=nothing"
    }))
}
