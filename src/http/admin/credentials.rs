//! The admin API's view of a customer's publiq side: its client credentials (checked with
//! publiq's token server before they are stored) and the permissions UiTPAS gives them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::customers::{CustomerView, Known, known, reloaded, view_known};
use super::{PROBLEM, customer_id};
use crate::config::Secret;
use crate::customers::{DEFAULT_CUSTOMER, Environment, Permissions, RefreshError};
use crate::http::AppState;
use crate::http::extract::Json;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::responses::AdminKeyRefused;
use crate::uitpas::{ClientConfig, UitpasClient};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialsRequest {
    pub client_id: String,
    #[schema(value_type = String, format = Password)]
    pub client_secret: String,
    /// A new secret for the customer's webhooks (at least 16 characters); needed when the stored
    /// one is sealed with another key.
    #[schema(value_type = Option<String>, format = Password)]
    pub webhook_secret: Option<String>,
}

pub(super) fn client_id(value: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
        return Err(ApiError::invalid("/clientId", "must have 1 to 200 characters"));
    }
    Ok(value.to_owned())
}

pub(super) fn client_secret(value: &str) -> ApiResult<Secret> {
    if value.trim().is_empty() || value.len() > 500 {
        return Err(ApiError::invalid("/clientSecret", "must have 1 to 500 characters"));
    }
    Ok(Secret::new(value.trim()))
}

pub(super) fn secrets_key(state: &AppState) -> ApiResult<&crate::secrets::SecretsKey> {
    state.customers.secrets_key().ok_or_else(|| {
        ApiError::Problem(Box::new(
            Problem::ours(
                "secrets-key-missing",
                StatusCode::CONFLICT,
                "CUSTOMER_SECRETS_KEY is not set",
            )
            .with_detail("Customers' publiq credentials are stored encrypted: set CUSTOMER_SECRETS_KEY first."),
        ))
    })
}

/// Asks publiq's token server whether the credentials work, before they are stored.
pub(super) async fn check_credentials(
    state: &AppState,
    environment: Environment,
    client_id: &str,
    secret: &Secret,
) -> ApiResult<()> {
    let (base_url, token_url, entry_base_url) = state.customers.hosts_of(environment);
    let client = UitpasClient::new(
        ClientConfig {
            base_url,
            entry_base_url,
            token_url,
            client_id: client_id.to_owned(),
            client_secret: secret.clone(),
            timeout: state.config.upstream_timeout.0,
        },
        state.metrics.clone(),
    )?;
    client.check_token().await.map_err(|e| {
        ApiError::Problem(Box::new(
            Problem::ours(
                "credentials-refused",
                StatusCode::UNPROCESSABLE_ENTITY,
                "publiq's token server refused these credentials",
            )
            .with_detail(format!("{e}; nothing was changed.")),
        ))
    })
}

/// A webhook secret as given.
pub(super) fn webhook_secret(value: &str) -> ApiResult<Secret> {
    if value.len() < crate::config::MIN_SHOP_KEY_LEN || value.len() > 500 {
        return Err(ApiError::invalid("/webhookSecret", "must have 16 to 500 characters"));
    }
    Ok(Secret::new(value))
}

/// Replaces a customer's publiq client credentials (a rotation): checked with publiq's token
/// server first; every replica uses them within a few seconds. Also for a customer whose stored
/// secrets are sealed with another key: its secrets are sealed again with CUSTOMER_SECRETS_KEY
/// (with a new `webhookSecret` when it has webhooks).
#[utoipa::path(
    put,
    path = "/admin/v1/customers/{id}/credentials",
    tag = "admin",
    operation_id = "put-customer-credentials",
    security(("adminKey" = [])),
    params(("id" = Uuid, Path, description = "The customer id")),
    request_body = CredentialsRequest,
    responses(
        (status = 200, description = "The customer, on its new credentials", body = CustomerView),
        (status = 400, description = "Invalid request", body = Problem, content_type = PROBLEM),
        AdminKeyRefused,
        (status = 413, description = "Body too large", body = Problem, content_type = PROBLEM),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such customer", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The default customer's credentials come from the environment (`credentials-from-environment`), or CUSTOMER_SECRETS_KEY is not set", body = Problem, content_type = PROBLEM),
        (status = 422, description = "publiq refused the credentials (`credentials-refused`); the old ones stay", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn put_credentials(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<CredentialsRequest>,
) -> ApiResult<axum::Json<CustomerView>> {
    let id = customer_id(&id)?;
    let customer = known(&state, id)?;
    if id == DEFAULT_CUSTOMER {
        return Err(ApiError::Problem(Box::new(
            Problem::ours(
                "credentials-from-environment",
                StatusCode::CONFLICT,
                "The default customer's credentials come from the environment",
            )
            .with_detail("Change UITPAS_CLIENT_ID and UITPAS_CLIENT_SECRET and restart the replicas one by one."),
        )));
    }
    let client_id = client_id(&body.client_id)?;
    let secret = client_secret(&body.client_secret)?;
    let new_webhook_secret = body.webhook_secret.as_deref().map(webhook_secret).transpose()?;
    let has_webhook = match &customer {
        Known::Open(c) => c.webhook.is_some(),
        Known::Sealed(c) => c.webhook_url.is_some(),
    };
    if new_webhook_secret.is_some() && !has_webhook {
        return Err(ApiError::invalid("/webhookSecret", "this customer has no webhook URL"));
    }
    if let Known::Sealed(c) = &customer
        && c.webhook_secret_sealed
        && new_webhook_secret.is_none()
    {
        return Err(ApiError::invalid(
            "/webhookSecret",
            "the stored webhook secret is sealed with another key: give the customer's webhook secret again",
        ));
    }
    let key = secrets_key(&state)?;
    check_credentials(&state, customer.environment(), &client_id, &secret).await?;
    sqlx::query!(
        "UPDATE customers SET client_id = $2, client_secret = $3, webhook_secret = coalesce($4, webhook_secret),
                              credentials_version = credentials_version + 1, updated_at = now()
         WHERE id = $1",
        id,
        client_id,
        key.seal(id, &secret),
        new_webhook_secret.map(|s| key.seal(id, &s))
    )
    .execute(&state.db)
    .await
    .map_err(anyhow::Error::from)?;
    reloaded(&state, id).await?;
    tracing::info!(customer = %id, "customer's credentials replaced");
    // Another client may act for other organizers: read its permissions now.
    if let Err(e) = state.customers.refresh_permissions(id).await {
        tracing::warn!(customer = %id, error = %e, "cannot read the new credentials' permissions yet");
    }
    Ok(axum::Json(view_known(&state, &known(&state, id)?).await?))
}

/// Reads the customer's organizers and permissions from UiTPAS now (`GET /permissions`).
#[utoipa::path(
    post,
    path = "/admin/v1/customers/{id}/permissions/refresh",
    tag = "admin",
    operation_id = "refresh-customer-permissions",
    security(("adminKey" = [])),
    params(("id" = Uuid, Path, description = "The customer id")),
    responses(
        (status = 200, description = "The permissions UiTPAS gave", body = Permissions),
        AdminKeyRefused,
        (status = 404, description = "No such customer", body = Problem, content_type = PROBLEM),
        (status = 502, description = "UiTPAS could not be asked", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn refresh_permissions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Permissions>> {
    let id = customer_id(&id)?;
    match state.customers.refresh_permissions(id).await {
        Ok(permissions) => Ok(axum::Json((*permissions).clone())),
        Err(RefreshError::Unknown) => Err(ApiError::NotFound),
        Err(RefreshError::Upstream(e)) => Err(ApiError::Upstream(e)),
        Err(RefreshError::Database(e)) => Err(ApiError::Internal(e.into())),
    }
}
