//! uitpas-checkout: UiTPAS discounts for a webshop's checkout, as a service beside it, and
//! `uitpas-sandbox`, the offline stand-in for UiTPAS it runs on when no credentials are set.

pub mod activities;
pub mod app;
pub mod brussels;
pub mod cache;
pub mod config;
pub mod console;
pub mod customers;
pub mod db;
pub mod dev;
pub mod domain;
pub mod http;
pub mod ledger;
pub mod metrics;
pub mod outbox;
pub mod problem;
pub mod reconciliation;
pub mod rewards;
pub mod sandbox;
pub mod secrets;
pub mod telemetry;
pub mod text_enum;
pub mod uitpas;
pub mod webhooks;

pub use app::{Application, build};
pub use config::Config;
