//! The admin API (`/admin/v1`, a key of `ADMIN_KEYS`): the deployment's customers, their keys,
//! publiq credentials and permissions. For the operator of the deployment, never for a shop.
//!
//! Rotations need no downtime: a new key works next to the old one until the old one is revoked;
//! new client credentials are checked with publiq's token server before they replace the old ones,
//! and every replica switches within a few seconds (work in flight finishes with the old token).
//!
//! A customer whose stored secrets `CUSTOMER_SECRETS_KEY` cannot open is listed with the status
//! `sealed-with-another-key`; new credentials (`PUT …/credentials`) seal it again with the current
//! key. Webhook URLs are held to [`crate::webhooks::target`]'s rules and never shown with
//! credentials.
//!
//! The handlers sit with their resource: [`customers`] (the customers themselves), [`credentials`]
//! (their publiq credentials and the permissions those carry) and [`keys`] (their secret and
//! publishable keys).

mod credentials;
mod customers;
mod keys;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::extract::uuid_path;
use super::problem::{ApiError, ApiResult, Problem};
use crate::customers::key_hash;

pub use credentials::CredentialsRequest;
pub use customers::{CreatedCustomer, CustomerPatch, CustomerRequest, CustomerStatus, CustomerView};
pub use keys::{KeyRequest, KeyView, NewKey};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customers::list_customers, customers::create_customer))
        .routes(routes!(customers::get_customer, customers::patch_customer))
        .routes(routes!(credentials::put_credentials))
        .routes(routes!(keys::create_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(credentials::refresh_permissions))
}

/// Lets a request through only with one of `ADMIN_KEYS` (none: the admin API is off).
pub async fn require_admin_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key_hash(key.trim()));
    let allowed = given.is_some_and(|given| {
        state
            .config
            .admin_keys
            .iter()
            .flat_map(|k| &k.0)
            .any(|k| key_hash(k.expose()) == given)
    });
    if !allowed {
        return Problem::ours("unauthorized", StatusCode::UNAUTHORIZED, "Unauthorized")
            .with_detail("The admin API needs one of ADMIN_KEYS: Authorization: Bearer <key>.")
            .into_response();
    }
    next.run(request).await
}

fn customer_id(raw: &str) -> ApiResult<Uuid> {
    uuid_path(raw).map_err(|_| ApiError::NotFound)
}

const PROBLEM: &str = "application/problem+json";
