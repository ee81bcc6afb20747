//! The `<uitpas-discount>` element (`clients/element/`), served on every deployment so that a
//! shop's checkout needs one script tag: `<script type="module" src=".../element/1.1.0/uitpas-discount.js">`.
//!
//! Two paths serve the same bytes:
//! - `/element/{VERSION}/uitpas-discount.js`: this exact version, cached for a year as
//!   `immutable` (a new version is a new path, so the bytes behind a path never change and the
//!   SRI hash in docs/element.md stays true);
//! - `/element/v1/uitpas-discount.js`: the newest 1.x, cached an hour, for a shop that wants
//!   fixes without changing its page (and so without an SRI hash).
//!
//! Any origin may load it (`Access-Control-Allow-Origin: *`: a module script and SRI both need
//! CORS; the file holds nothing secret). `tests/element.rs` checks that the served bytes are the
//! file and that the documented hash is theirs.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

/// The element's version: `clients/element/package.json`'s (a test keeps them equal).
pub const VERSION: &str = "1.1.0";

/// The element, as published from `clients/element/`.
pub const SCRIPT: &str = include_str!("../../clients/element/uitpas-discount.js");

fn script(cache_control: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, cache_control),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The element's routes (no state of their own).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            &format!("/element/{VERSION}/uitpas-discount.js"),
            get(|| async { script("public, max-age=31536000, immutable") }),
        )
        .route(
            "/element/v1/uitpas-discount.js",
            get(|| async { script("public, max-age=3600") }),
        )
}
