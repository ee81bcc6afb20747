//! The operators' console at `/console`: its pages ([`pages`]), login and sessions ([`auth`],
//! [`throttle`]), HTML ([`html`], its texts in [`texts`] and [`fr`]), what UiTPAS's problems mean
//! ([`explain`]), event names from UiTdatabank ([`names`]), the history of the ledger's entries
//! ([`history`]), and the reconciliation of the ledger with UiTPAS ([`reconcile`]), run daily and
//! on demand.

pub mod auth;
pub mod explain;
pub mod fr;
pub mod history;
pub mod html;
pub mod names;
pub mod pages;
pub mod reconcile;
pub mod texts;
pub mod throttle;
