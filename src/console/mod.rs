//! The operators' console at `/console`: its pages ([`pages`]), login and sessions ([`auth`],
//! [`throttle`]), HTML ([`html`], its texts in [`texts`] and [`fr`]), what UiTPAS's problems mean
//! ([`explain`]), event names from UiTdatabank ([`names`]), the history of the ledger's entries
//! ([`history`]), and the reconciliation of the ledger with UiTPAS ([`crate::reconciliation`]), run
//! daily and on demand.
//!
//! The HTTP layer does not know the console: the application hands the console's pages
//! ([`pages::routes`]) to [`crate::http::router`], and what only the console keeps (its login
//! throttle, its event names) travels with its routes ([`Console`]).

pub mod auth;
pub mod explain;
pub mod fr;
pub mod history;
pub mod html;
pub mod names;
pub mod pages;
pub mod texts;
pub mod texts_rewards;
pub mod throttle;

use std::sync::Arc;

use crate::metrics::Metrics;

/// What the console keeps for itself, beside the application's state: on its routes as an
/// [`axum::Extension`].
pub struct Console {
    pub logins: throttle::LoginThrottle,
    pub event_names: names::EventNames,
}

impl Console {
    pub fn new(metrics: Arc<Metrics>) -> Arc<Console> {
        Arc::new(Console {
            logins: Default::default(),
            event_names: names::EventNames::new(metrics),
        })
    }
}
