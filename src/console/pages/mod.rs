//! The console's pages at `/console`, rendered on the server (maud) from typed queries; no script.
//!
//! Every page but the login takes an [`Operator`] (a session, else a redirect to the login); every
//! POST but the login takes a [`Posted`] form (the session, the same site, the session's CSRF
//! token, else 403). Actions that cannot be undone (abandoning work, cancelling a sale) ask for a
//! confirmation on a page of their own first.

mod events;
mod forms;
mod login;
mod permissions;
mod reconciliation;
mod registrations;
mod reports;
mod rewards;
mod rewards_orders;
mod rewards_reconcile;
mod sales;
mod webhooks;
mod work;
mod work_rewards;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

pub use self::forms::Posted;
use super::Console;
use super::auth::{self, Session};
use super::html::{Lang, t};
use crate::http::AppState;
use crate::http::problem::{ApiError, Problem};
use crate::reconciliation::Reconciler;

const STYLE: &str = include_str!("../../../console/console.css");

/// The answer of a page: HTML, a redirect, or an error problem.
type Page = Result<Response, ApiError>;

fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::Internal(e.into())
}

/// The console's routes.
pub fn routes(console: Arc<Console>) -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/work") }))
        .route("/console/", get(|| async { Redirect::to("/console/work") }))
        .route("/console/console.css", get(style))
        .route(
            "/console/login",
            get(login::form)
                .post(login::login)
                .layer(DefaultBodyLimit::max(login::BODY_LIMIT)),
        )
        .route("/console/logout", post(login::logout))
        .route("/console/lang/{code}", get(login::language))
        .route("/console/work", get(work::list))
        .route("/console/work/retry", post(work::retry))
        .route("/console/work/abandon", get(work::confirm_abandon).post(work::abandon))
        .route("/console/registrations", get(registrations::list))
        .route("/console/registrations/{id}", get(registrations::detail))
        .route("/console/sales", get(sales::list))
        .route("/console/sales/{id}", get(sales::detail))
        .route(
            "/console/sales/{id}/cancel",
            get(sales::confirm_cancel).post(sales::cancel),
        )
        .route("/console/rewards", get(rewards::list))
        .route(
            "/console/rewards/reconciliation",
            get(rewards_reconcile::list).post(rewards_reconcile::start),
        )
        .route("/console/rewards/reconciliation/{id}", get(rewards_reconcile::report))
        .route("/console/events", get(events::list))
        .route("/console/events/{id}", get(events::detail))
        .route(
            "/console/reconciliation",
            get(reconciliation::list).post(reconciliation::start),
        )
        .route("/console/reconciliation/{id}", get(reconciliation::report))
        .route("/console/reconciliation/{id}/csv", get(reconciliation::csv))
        .route("/console/webhooks", get(webhooks::list))
        .route("/console/reports", get(reports::list).post(reports::start))
        .route("/console/permissions", get(permissions::list))
        .route("/console/permissions/refresh", post(permissions::refresh))
        .layer(axum::Extension(console))
}

async fn style() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The daily and on-demand reconciliation, on the app's handles.
pub fn reconciler(state: &AppState) -> Reconciler {
    Reconciler {
        db: state.db.clone(),
        customers: state.customers.clone(),
        max_calls: state.config.reconcile_max_calls,
    }
}

fn enabled(state: &AppState) -> bool {
    state.config.operator_keys.as_ref().is_some_and(|k| !k.0.is_empty())
}

/// A logged-in operator, in the language they chose.
pub struct Operator {
    pub session: Session,
    pub lang: Lang,
}

impl FromRequestParts<AppState> for Operator {
    /// To the login, or a 500 problem when the sessions cannot be read.
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = Lang::of(&parts.headers);
        let session = session(state, &parts.headers).await?;
        Ok(Operator { session, lang })
    }
}

async fn session(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let to_login = || Redirect::to("/console/login").into_response();
    if !enabled(state) {
        return Err(to_login());
    }
    let keys = state
        .config
        .operator_keys
        .as_ref()
        .map(|k| k.0.as_slice())
        .unwrap_or_default();
    match auth::session(&state.db, headers, keys).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(to_login()),
        Err(e) => Err(internal(e).into_response()),
    }
}

/// A POST without the session's token or from another site: 403 (a problem, like every error
/// answer of the service).
fn forbidden(lang: Lang) -> Response {
    Problem::ours("csrf", StatusCode::FORBIDDEN, "Forbidden")
        .with_detail(t(lang, "csrf"))
        .into_response()
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

type Params = axum::extract::Query<HashMap<String, String>>;

/// A form's fields, read after the checks that may refuse it without reading it.
async fn fields(request: Request, state: &AppState) -> Result<HashMap<String, String>, Response> {
    Form::<HashMap<String, String>>::from_request(request, state)
        .await
        .map(|Form(f)| f)
        .map_err(IntoResponse::into_response)
}
