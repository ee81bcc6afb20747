//! Forms in one place: the guarded POST ([`Posted`]), the query parameters of the search pages,
//! their filters and pager, and the confirmation page of an action that cannot be undone.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use maud::{Markup, html};
use uuid::Uuid;

use super::{Operator, fields, forbidden};
use crate::console::auth;
use crate::console::html::{Lang, brussels_midnight, count_of, qs, t};
use crate::http::AppState;
use crate::outbox::Kind;

/// Rows per page of the search pages.
pub const PAGE_SIZE: i64 = 50;

/// A form POSTed by a logged-in operator, from this site, with the session's CSRF token; its
/// body is read only once all of that holds but the token.
pub struct Posted {
    pub operator: Operator,
    pub fields: HashMap<String, String>,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let lang = Lang::of(&parts.headers);
        if auth::cross_site(&parts.headers) {
            return Err(forbidden(lang));
        }
        let operator = Operator::from_request_parts(&mut parts, state).await?;
        let fields = fields(Request::from_parts(parts, body), state).await?;
        let given = fields.get("csrf").map(String::as_str).unwrap_or("");
        if !auth::constant_time_eq(given.as_bytes(), operator.session.csrf.as_bytes()) {
            return Err(forbidden(lang));
        }
        Ok(Posted { operator, fields })
    }
}

impl Posted {
    /// Whether the operator confirmed the action (the confirmation page's button).
    pub fn confirmed(&self) -> bool {
        self.fields.get("confirm").is_some_and(|v| v == "yes")
    }

    /// The job the form names (`kind`, `subject`): a kind the service runs.
    pub fn job(&self, state: &AppState) -> Option<(Kind, Uuid)> {
        job_of(state, &self.fields)
    }
}

pub fn job_of(state: &AppState, fields: &HashMap<String, String>) -> Option<(Kind, Uuid)> {
    let kind = state.jobs.kind(fields.get("kind")?)?;
    let subject = Uuid::parse_str(fields.get("subject")?).ok()?;
    Some((kind, subject))
}

/// The hidden fields of a form that acts on a job.
pub fn job_fields(csrf: &str, kind: &str, subject: Uuid) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf);
        input type="hidden" name="kind" value=(kind);
        input type="hidden" name="subject" value=(subject);
    }
}

/// A page asking to confirm an action that cannot be undone: what it does, a button that does it
/// (`confirm=yes` with the other fields), and a way back that does nothing.
pub fn confirmation(lang: Lang, action: &str, hidden: Markup, explanation: &str, facts: Markup, back: &str) -> Markup {
    html! {
        section.confirm aria-labelledby="h-confirm" {
            h2 #h-confirm { (t(lang, "confirm")) }
            (facts)
            p.warning data-testid="confirm-help" { (explanation) }
            form.inline method="post" action=(action) {
                (hidden)
                input type="hidden" name="confirm" value="yes";
                button.danger type="submit" data-testid="confirm" { (t(lang, "confirm")) }
            }
            " "
            a href=(back) data-testid="cancel-confirm" { (t(lang, "back")) }
        }
    }
}

pub fn flash(lang: Lang, params: &HashMap<String, String>) -> Option<String> {
    params.get("done").map(|d| match d.as_str() {
        "retried" => t(lang, "done_retried"),
        "abandoned" => t(lang, "done_abandoned"),
        "abandon-settling" => t(lang, "done_abandon_settling"),
        "abandon-refused" => t(lang, "done_abandon_refused"),
        "cancelled" => t(lang, "done_cancelled"),
        "cancel-pending" => t(lang, "done_cancel_pending"),
        _ => t(lang, "done_nothing"),
    })
}

pub fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn date(params: &HashMap<String, String>, name: &str) -> Option<NaiveDate> {
    param(params, name).and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
}

/// The `from` and `to` dates of a search, as days in Brussels: from the start of `from` until the
/// end of `to`.
pub fn dates(params: &HashMap<String, String>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    (
        date(params, "from").map(brussels_midnight),
        date(params, "to").map(|d| brussels_midnight(d + Duration::days(1))),
    )
}

pub fn page_param(params: &HashMap<String, String>) -> i64 {
    param(params, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0i64)
        .clamp(0, 10_000)
}

/// Of a search page fetched with one row more than [`PAGE_SIZE`]: whether a next page exists, and
/// how many rows match in all (the first row's window count; past the last page, what came before).
pub fn paging(fetched: usize, first_total: Option<i64>, page_no: i64) -> (bool, i64) {
    let more = fetched as i64 > PAGE_SIZE;
    (more, first_total.unwrap_or(page_no * PAGE_SIZE))
}

pub fn select(name: &str, label: &str, current: Option<&str>, options: &[(&str, String)]) -> Markup {
    html! {
        label {
            (label)
            select name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[current == Some(*value)] { (text) }
                }
            }
        }
    }
}

pub fn text_input(name: &str, label: &str, kind: &str, current: Option<&str>, help: Option<&str>) -> Markup {
    html! {
        label { (label) input type=(kind) name=(name) value=(current.unwrap_or("")) placeholder=[help]; }
    }
}

/// The count of results and the links to the pages before and after.
pub fn pager(base: &str, params: &HashMap<String, String>, page_no: i64, more: bool, lang: Lang, total: i64) -> Markup {
    let link = |n: i64| {
        let mut q: Vec<String> = params
            .iter()
            .filter(|(k, v)| k.as_str() != "page" && !v.is_empty())
            .map(|(k, v)| format!("{}={}", qs(k), qs(v)))
            .collect();
        q.sort();
        q.push(format!("page={n}"));
        format!("{base}?{}", q.join("&"))
    };
    html! {
        nav.pager aria-label=(t(lang, "results")) {
            span data-testid="total" { (count_of(lang, total, "result", "results")) }
            @if page_no > 0 { a href=(link(page_no - 1)) { (t(lang, "previous")) } }
            @if more { a href=(link(page_no + 1)) { (t(lang, "next")) } }
        }
    }
}
