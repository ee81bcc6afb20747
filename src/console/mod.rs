//! The operators' console at `/console` (pages in [`crate::http::console`]): its login and
//! sessions ([`auth`]), its HTML ([`html`]), and the reconciliation of the ledger with UiTPAS
//! ([`reconcile`]), run daily and on demand.

pub mod auth;
pub mod html;
pub mod reconcile;
pub mod throttle;
