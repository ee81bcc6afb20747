//! The operators' console at `/console`: its pages are [`crate::console::pages`].

pub use crate::console::pages::{reconciler, routes};
