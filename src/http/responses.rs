//! The problem answers many operations share, written once for their OpenAPI description:
//! `responses((status = 200, …), ShopKeyRefused, DatabaseUnavailable)`.

use utoipa::IntoResponses;

use super::problem::Problem;

/// 401: the shop key is missing or wrong.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "Missing or wrong shop key",
    content_type = "application/problem+json"
)]
pub struct ShopKeyRefused(#[allow(dead_code)] Problem);

/// 401: the admin key is missing or wrong.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "Missing or wrong admin key",
    content_type = "application/problem+json"
)]
pub struct AdminKeyRefused(#[allow(dead_code)] Problem);

/// 400: a search's filter or page is not one (`invalid-request`, with `schemaErrors`).
#[derive(IntoResponses)]
#[response(status = 400, description = "Bad filter", content_type = "application/problem+json")]
pub struct BadFilter(#[allow(dead_code)] Problem);

/// 503 `database-unavailable`, with `Retry-After`.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
pub struct DatabaseUnavailable(#[allow(dead_code)] Problem);
