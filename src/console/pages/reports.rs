//! Financial reports (`/console/reports`): an organizer's expense note (what the region
//! reimburses) for a period, exported by UiTPAS. The operator picks one of a customer's
//! organizers (as `GET /permissions` listed them) and a period UiTPAS suggests (or one of their
//! own), starts the export with that customer's credentials, and sees the exports started here
//! with their status, read from UiTPAS when the page is shown, and a download link once ready.
//!
//! UiTPAS keeps the reports; `financial_reports` only remembers which exports were started here.
//! A refusal (a missing `ORGANIZERS_REPORTS`, an unknown organizer, a bad period) is shown on the
//! page, explained ([`crate::console::explain::report`]), never as an error page.

use std::collections::HashMap;

use axum::extract::{Query, State};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use serde_json::Value;
use uuid::Uuid;

use super::forms::{Posted, param, select, text_input};
use super::registrations::problem_section;
use super::{Operator, Page, Params, internal, see_other};
use crate::console::auth::Session;
use crate::console::explain;
use crate::console::html::{self, Lang, page, qs, t, time};
use crate::http::AppState;
use crate::problem::Problem;
use crate::uitpas::{ReportPeriod, ReportStatus, UpstreamError};

/// How many exports the page lists (each one's status is read from UiTPAS).
const LISTED: i64 = 20;

/// One organizer of one customer, as the operator picks it: `customer:organizer`.
struct Choice {
    customer: Uuid,
    organizer: String,
    label: String,
}

impl Choice {
    fn value(&self) -> String {
        format!("{}:{}", self.customer, self.organizer)
    }
}

/// Every customer's organizers; a customer whose permissions were never read is asked now.
async fn choices(state: &AppState) -> Vec<Choice> {
    let mut choices = Vec::new();
    for customer in state.customers.all() {
        let permissions = match customer.permissions() {
            Some(p) => Some(p),
            None => state.customers.refresh_permissions(customer.id).await.ok(),
        };
        for organizer in permissions.iter().flat_map(|p| p.organizers.iter()) {
            let name = organizer.name.as_deref().unwrap_or(&organizer.id);
            choices.push(Choice {
                customer: customer.id,
                organizer: organizer.id.clone(),
                label: format!("{} · {name}", customer.name),
            });
        }
    }
    choices
}

/// A failed UiTPAS call as the problem the console explains.
fn problem_of(e: &UpstreamError) -> Value {
    serde_json::to_value(Problem::from_upstream(e)).unwrap_or_default()
}

/// What the page says about the operator's last action, beside the lists.
enum Notice {
    /// A refusal of UiTPAS (or its absence).
    Upstream(Value),
    /// A refusal of ours: the text's key.
    Invalid(&'static str),
}

struct Row {
    customer_id: Uuid,
    organizer_id: String,
    uitpas_report_id: i64,
    start_date: NaiveDate,
    end_date: NaiveDate,
    last_status: String,
    created_at: DateTime<Utc>,
}

/// What UiTPAS says of an export now: its status (and why it failed), its link once available.
struct Seen {
    status: String,
    message: Option<String>,
    link: Option<String>,
    problem: Option<Value>,
}

async fn look(state: &AppState, row: &Row) -> Seen {
    let mut seen = Seen {
        status: row.last_status.clone(),
        message: None,
        link: None,
        problem: None,
    };
    let client = match state.customers.client(row.customer_id) {
        Ok(client) => client,
        Err(e) => {
            seen.problem = Some(serde_json::json!({ "status": 0, "title": e.to_string() }));
            return seen;
        }
    };
    match client.report(&row.organizer_id, row.uitpas_report_id).await {
        Ok(report) => {
            seen.status = report.status.as_str().to_owned();
            seen.message = report.message;
            if report.status == ReportStatus::Available {
                match client
                    .report_download_link(&row.organizer_id, row.uitpas_report_id)
                    .await
                {
                    // Only a web link is made a link (never `javascript:` or the like).
                    Ok(link) if link.starts_with("https://") || link.starts_with("http://") => seen.link = Some(link),
                    Ok(_) => {
                        seen.problem = Some(serde_json::json!({ "status": 0, "title": "not a web link" }));
                    }
                    Err(e) => seen.problem = Some(problem_of(&e)),
                }
            }
        }
        Err(e) => seen.problem = Some(problem_of(&e)),
    }
    if seen.status != row.last_status {
        let updated = sqlx::query!(
            "UPDATE financial_reports SET last_status = $1
             WHERE customer_id = $2 AND organizer_id = $3 AND uitpas_report_id = $4",
            seen.status,
            row.customer_id,
            row.organizer_id,
            row.uitpas_report_id
        )
        .execute(&state.db)
        .await;
        if let Err(e) = updated {
            tracing::warn!(error = %e, "console: a report's status could not be kept");
        }
    }
    seen
}

pub async fn list(State(state): State<AppState>, operator: Operator, Query(params): Params) -> Page {
    let Operator { session, lang } = operator;
    let flash = (param(&params, "done") == Some("started")).then(|| t(lang, "report_started"));
    render(&state, &session, lang, param(&params, "organizer"), None, flash).await
}

/// Starts an export and goes back to the list; a refusal is shown on the page.
pub async fn start(State(state): State<AppState>, posted: Posted) -> Page {
    let Posted { operator, fields } = posted;
    let Operator { session, lang } = operator;
    let wanted = param(&fields, "organizer");
    let choices = choices(&state).await;
    let Some(choice) = choices.iter().find(|c| Some(c.value().as_str()) == wanted) else {
        let notice = Some(Notice::Invalid("report_organizer_unknown"));
        return render(&state, &session, lang, wanted, notice, None).await;
    };
    let Some(period) = period_of(&fields) else {
        let notice = Some(Notice::Invalid("report_period_invalid"));
        return render(&state, &session, lang, wanted, notice, None).await;
    };
    let client = state.customers.client(choice.customer).map_err(internal)?;
    let report = match client.start_report(&choice.organizer, &period).await {
        Ok(report) => report,
        Err(e) => {
            tracing::info!(error = %e, organizer = choice.organizer, "console: UiTPAS refused a financial report");
            let notice = Some(Notice::Upstream(problem_of(&e)));
            return render(&state, &session, lang, wanted, notice, None).await;
        }
    };
    sqlx::query!(
        "INSERT INTO financial_reports
             (id, customer_id, organizer_id, uitpas_report_id, start_date, end_date, operator, last_status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (customer_id, organizer_id, uitpas_report_id) DO NOTHING",
        Uuid::new_v4(),
        choice.customer,
        choice.organizer,
        report.id,
        period.start_date,
        period.end_date,
        session.operator,
        report.status.as_str()
    )
    .execute(&state.db)
    .await
    .map_err(internal)?;
    tracing::info!(
        organizer = choice.organizer, report = report.id, operator = %session.operator,
        "console: financial report started"
    );
    Ok(see_other(&format!(
        "/console/reports?organizer={}&done=started",
        qs(&choice.value())
    )))
}

/// The period of the form: a suggested one (`start/end`), or the operator's own dates.
fn period_of(fields: &HashMap<String, String>) -> Option<ReportPeriod> {
    let day = |v: &str| NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok();
    let (start, end) = match param(fields, "period").filter(|p| *p != "custom") {
        Some(suggested) => suggested.split_once('/')?,
        None => (param(fields, "from")?, param(fields, "to")?),
    };
    Some(ReportPeriod {
        start_date: day(start)?,
        end_date: day(end)?,
    })
}

async fn render(
    state: &AppState,
    session: &Session,
    lang: Lang,
    wanted: Option<&str>,
    notice: Option<Notice>,
    flash: Option<String>,
) -> Page {
    let choices = choices(state).await;
    let chosen = choices
        .iter()
        .find(|c| Some(c.value().as_str()) == wanted)
        .or(choices.first());
    // The periods UiTPAS suggests for the chosen organizer; a refusal stands for the page's notice
    // when there is no other.
    let mut periods = Vec::new();
    let mut notice = notice;
    if let Some(choice) = chosen {
        let client = state.customers.client(choice.customer).map_err(internal)?;
        match client.report_periods(&choice.organizer).await {
            Ok(suggested) => periods = suggested,
            Err(e) if notice.is_none() => notice = Some(Notice::Upstream(problem_of(&e))),
            Err(_) => {}
        }
    }
    let rows = sqlx::query_as!(
        Row,
        "SELECT customer_id, organizer_id, uitpas_report_id, start_date, end_date, last_status, created_at
         FROM financial_reports ORDER BY created_at DESC LIMIT $1",
        LISTED
    )
    .fetch_all(&state.db)
    .await
    .map_err(internal)?;
    let seen = futures::future::join_all(rows.iter().map(|r| look(state, r))).await;
    let labels: HashMap<String, &str> = choices.iter().map(|c| (c.value(), c.label.as_str())).collect();
    let options: Vec<(String, String)> = choices.iter().map(|c| (c.value(), c.label.clone())).collect();
    let options: Vec<(&str, String)> = options.iter().map(|(v, l)| (v.as_str(), l.clone())).collect();
    let chosen_value = chosen.map(Choice::value);
    let body = html! {
        p.help { (t(lang, "financial_reports_help")) }
        @match &notice {
            Some(Notice::Upstream(problem)) => {
                (problem_section(lang, problem, "report"))
                @let errors = problem.get("schemaErrors").and_then(Value::as_array);
                @if let Some(errors) = errors.filter(|e| !e.is_empty()) {
                    ul.error data-testid="schema-errors" {
                        @for e in errors {
                            li {
                                code { (e.get("jsonPointer").and_then(Value::as_str).unwrap_or("")) }
                                ": " (e.get("error").and_then(Value::as_str).unwrap_or(""))
                            }
                        }
                    }
                }
            }
            Some(Notice::Invalid(key)) => p.error role="alert" data-testid="report-invalid" { (t(lang, key)) },
            None => {},
        }
        @if choices.is_empty() {
            p data-testid="no-organizers" { (t(lang, "report_no_organizers")) }
        } @else {
            form.filters method="get" action="/console/reports" {
                (select("organizer", &t(lang, "organizer"), chosen_value.as_deref(), &options))
                button type="submit" { (t(lang, "show")) }
            }
            @if let Some(value) = &chosen_value {
                (start_form(lang, &session.csrf, value, &periods))
            }
        }
        h2 { (t(lang, "financial_reports_started")) }
        @if rows.is_empty() {
            p { (t(lang, "none")) }
        } @else {
            table data-testid="financial-reports" {
                thead { tr {
                    @for key in ["created", "organizer", "period", "status", "download"] {
                        th scope="col" { (t(lang, key)) }
                    }
                } }
                tbody {
                    @for (row, seen) in rows.iter().zip(&seen) {
                        @let key = format!("{}:{}", row.customer_id, row.organizer_id);
                        tr data-report=(row.uitpas_report_id) data-status=(seen.status) {
                            td { (time(row.created_at)) }
                            td { (labels.get(&key).copied().unwrap_or(&row.organizer_id)) }
                            td { (row.start_date) " – " (row.end_date) }
                            td {
                                (t(lang, &format!("report_status_{}", seen.status.to_ascii_lowercase())))
                                @if let Some(message) = &seen.message { br; span.help { (message) } }
                            }
                            td {
                                @if let Some(link) = &seen.link {
                                    a href=(link) data-testid="download" rel="noreferrer" { (t(lang, "download")) }
                                }
                                @if let Some(p) = &seen.problem {
                                    (explain::report(p).what(lang))
                                    details.technical { summary { (t(lang, "technical")) } code { (explain::technical(p)) } }
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
        &t(lang, "financial_reports"),
        "financial_reports",
        &session.csrf,
        flash.as_deref(),
        body,
    )))
}

fn start_form(lang: Lang, csrf: &str, organizer: &str, periods: &[ReportPeriod]) -> Markup {
    let mut options: Vec<(String, String)> = periods
        .iter()
        .map(|p| {
            (
                format!("{}/{}", p.start_date, p.end_date),
                format!("{} – {}", p.start_date, p.end_date),
            )
        })
        .collect();
    options.push(("custom".to_owned(), t(lang, "report_custom_period")));
    let options: Vec<(&str, String)> = options.iter().map(|(v, l)| (v.as_str(), l.clone())).collect();
    html! {
        h2 { (t(lang, "report_start")) }
        form.filters method="post" action="/console/reports" data-testid="start-report" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="organizer" value=(organizer);
            (select("period", &t(lang, "period"), options.first().map(|o| o.0), &options))
            (text_input("from", &t(lang, "from"), "date", None, None))
            (text_input("to", &t(lang, "to"), "date", None, None))
            button type="submit" data-testid="start" { (t(lang, "report_start")) }
        }
        p.help { (t(lang, "report_custom_help")) }
    }
}
