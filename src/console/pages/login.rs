//! Logging in and out, and the language switch.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::super::Console;
use super::{Page, Posted, enabled, fields, forbidden, internal, see_other};
use crate::console::auth;
use crate::console::html::{self, LANG_COOKIE, Lang, t};
use crate::http::AppState;
use crate::http::problem::ApiError;

/// The most a login form may hold (a key and little else).
pub const BODY_LIMIT: usize = 1024;

pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    html::html(html::login_page(lang, None, !enabled(&state)))
}

/// A login: everything that can refuse it without its form is asked first (the console is on, the
/// same site, the throttle), so that nobody gets a body read for nothing.
pub async fn login(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<Console>>,
    headers: HeaderMap,
    request: Request,
) -> Page {
    let lang = Lang::of(&headers);
    if !enabled(&state) {
        // The page that says the console is off; the body is left unread (and the connection
        // closed by hyper, which cannot keep it for another request).
        return Ok(html::html(html::login_page(lang, None, true)));
    }
    if auth::cross_site(&headers) {
        return Ok(forbidden(lang));
    }
    let attempt = match console.logins.admit(crate::http::client_ip(&state.config, &request)) {
        Ok(attempt) => attempt,
        Err(throttled) => {
            state.metrics.console_login("throttled");
            return Err(ApiError::RateLimited {
                retry_after_s: throttled.retry_after_s,
            });
        }
    };
    let fields = match fields(request, &state).await {
        Ok(fields) => fields,
        Err(rejection) => return Ok(rejection),
    };
    let keys = state
        .config
        .operator_keys
        .as_ref()
        .map(|k| k.0.as_slice())
        .unwrap_or_default();
    let given = fields.get("key").map(|k| k.trim()).unwrap_or("");
    let Some(key) = auth::key_matches(keys, given) else {
        // Logged by the throttle, once per burst of wrong keys.
        attempt.wrong();
        state.metrics.console_login("wrong");
        // The form again, with the error (200: the service's error answers are problems, and
        // this one is a page for a person).
        return Ok(html::html(html::login_page(lang, Some(&t(lang, "login_wrong")), false)));
    };
    attempt.right();
    state.metrics.console_login("ok");
    let token = auth::create(&state.db, key).await.map_err(internal)?;
    tracing::info!(operator = %auth::operator_hint(key), "console: an operator logged in");
    let jar = CookieJar::new().add(auth::set_cookie(&token, &headers));
    Ok((jar, see_other("/console/work")).into_response())
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, _: Posted) -> Page {
    auth::end(&state.db, &headers).await.map_err(internal)?;
    let jar = CookieJar::new().add(auth::clear_cookie(&headers));
    Ok((jar, see_other("/console/login")).into_response())
}

/// Switches the language (a cookie), back to the page the operator was on.
pub async fn language(headers: HeaderMap, Path(code): Path<String>) -> Response {
    let code = Lang::parse(&code).code();
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/console").map(|i| r[i..].to_owned()))
        .filter(|p| !p.starts_with("/console/lang") && !p.contains("//"))
        .unwrap_or_else(|| "/console/work".to_owned());
    let jar = CookieJar::new().add(auth::lang_cookie(LANG_COOKIE, code));
    (jar, see_other(&back)).into_response()
}
