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

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::extract::{Json, uuid_path};
use super::problem::{ApiError, ApiResult, Problem};
use crate::config::{Origins, Secret};
use crate::customers::{
    Customer, DEFAULT_CUSTOMER, Environment, KeyKind, Permissions, RefreshError, SealedCustomer, key_hash, key_hint,
    new_key,
};
use crate::uitpas::{ClientConfig, UitpasClient};
use crate::webhooks::target;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, patch_customer))
        .routes(routes!(put_credentials))
        .routes(routes!(create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(refresh_permissions))
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

/// A customer as the admin API shows it (never a secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView {
    pub id: Uuid,
    pub name: String,
    pub environment: Environment,
    /// The publiq client id (the secret is never shown).
    pub client_id: Option<String>,
    /// Whether the credentials come from the environment (the default customer).
    pub from_environment: bool,
    /// `active`, `disabled`, or `sealed-with-another-key`: its stored secrets do not open with
    /// CUSTOMER_SECRETS_KEY, so its keys are refused (503) until it gets new credentials.
    pub status: CustomerStatus,
    pub allowed_origins: Vec<String>,
    pub webhook_url: Option<String>,
    pub disabled: bool,
    /// The organizers and permissions UiTPAS gave this customer's client, as last read.
    pub permissions: Option<Permissions>,
    pub keys: Vec<KeyView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CustomerStatus {
    Active,
    Disabled,
    SealedWithAnotherKey,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: Uuid,
    pub kind: KeyKind,
    /// The key's first characters.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new key, shown once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    pub id: Uuid,
    pub kind: KeyKind,
    /// The key itself: store it now; only its digest is kept.
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedCustomer {
    pub customer: CustomerView,
    /// The shop backend's first secret key.
    pub secret_key: NewKey,
    /// The browser's first publishable key.
    pub publishable_key: NewKey,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerRequest {
    #[schema(example = "Stad Gent", min_length = 1, max_length = 100)]
    pub name: String,
    /// publiq's environment of the credentials (test or production).
    pub environment: Environment,
    /// The client id publiq issued for this customer.
    pub client_id: String,
    /// The client secret; stored encrypted, never shown again.
    #[schema(value_type = String, format = Password)]
    pub client_secret: String,
    /// Browser origins allowed to use the customer's publishable keys.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Where the customer's shop receives webhooks.
    pub webhook_url: Option<String>,
    /// The secret that signs them (at least 16 characters).
    #[schema(value_type = Option<String>, format = Password)]
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    /// A disabled customer's keys are refused; its work already stored is still settled.
    pub disabled: Option<bool>,
}

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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRequest {
    pub kind: KeyKind,
}

fn name(value: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
        return Err(ApiError::invalid("/name", "must have 1 to 100 characters"));
    }
    Ok(value.to_owned())
}

fn origins(values: &[String]) -> ApiResult<Vec<String>> {
    values
        .join(",")
        .parse::<Origins>()
        .map(|o| o.0)
        .map_err(|e| ApiError::invalid("/allowedOrigins", e))
}

fn client_id(value: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
        return Err(ApiError::invalid("/clientId", "must have 1 to 200 characters"));
    }
    Ok(value.to_owned())
}

fn client_secret(value: &str) -> ApiResult<Secret> {
    if value.trim().is_empty() || value.len() > 500 {
        return Err(ApiError::invalid("/clientSecret", "must have 1 to 500 characters"));
    }
    Ok(Secret::new(value.trim()))
}

fn secrets_key(state: &AppState) -> ApiResult<&crate::secrets::SecretsKey> {
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
async fn check_credentials(
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

/// A customer of either kind, to show.
enum Known {
    Open(std::sync::Arc<Customer>),
    Sealed(std::sync::Arc<SealedCustomer>),
}

impl Known {
    fn environment(&self) -> Environment {
        match self {
            Known::Open(c) => c.environment,
            Known::Sealed(c) => c.environment,
        }
    }
}

/// Customer `id`, whether its secrets open or not.
fn known(state: &AppState, id: Uuid) -> ApiResult<Known> {
    match state.customers.get(id) {
        Some(customer) => Ok(Known::Open(customer)),
        None => state
            .customers
            .sealed_customer(id)
            .map(Known::Sealed)
            .ok_or(ApiError::NotFound),
    }
}

async fn view_known(state: &AppState, customer: &Known) -> ApiResult<CustomerView> {
    match customer {
        Known::Open(c) => view(state, c).await,
        Known::Sealed(c) => Ok(CustomerView {
            id: c.id,
            name: c.name.clone(),
            environment: c.environment,
            client_id: c.client_id.clone(),
            from_environment: false,
            status: CustomerStatus::SealedWithAnotherKey,
            allowed_origins: c.allowed_origins.clone(),
            webhook_url: c.webhook_url.as_deref().map(target::shown),
            disabled: c.disabled,
            permissions: None,
            keys: keys(state, c.id).await?,
        }),
    }
}

async fn keys(state: &AppState, customer: Uuid) -> ApiResult<Vec<KeyView>> {
    let keys = sqlx::query!(
        "SELECT id, kind, hint, created_at, revoked_at FROM customer_keys WHERE customer_id = $1 ORDER BY created_at",
        customer
    )
    .fetch_all(&state.db)
    .await
    .map_err(anyhow::Error::from)?;
    Ok(keys
        .into_iter()
        .map(|k| KeyView {
            id: k.id,
            kind: if k.kind == "publishable" {
                KeyKind::Publishable
            } else {
                KeyKind::Secret
            },
            hint: k.hint,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        })
        .collect())
}

async fn view(state: &AppState, customer: &Customer) -> ApiResult<CustomerView> {
    Ok(CustomerView {
        id: customer.id,
        name: customer.name.clone(),
        environment: customer.environment,
        client_id: customer.client_id.clone(),
        from_environment: customer.is_default(),
        status: if customer.disabled {
            CustomerStatus::Disabled
        } else {
            CustomerStatus::Active
        },
        allowed_origins: customer.allowed_origins.clone(),
        webhook_url: customer.webhook.as_ref().map(|w| target::shown(&w.url)),
        disabled: customer.disabled,
        permissions: customer.permissions().map(|p| (*p).clone()),
        keys: keys(state, customer.id).await?,
    })
}

async fn reloaded(state: &AppState, id: Uuid) -> ApiResult<Known> {
    state.customers.reload().await.map_err(anyhow::Error::from)?;
    known(state, id)
}

/// A webhook secret as given.
fn webhook_secret(value: &str) -> ApiResult<Secret> {
    if value.len() < crate::config::MIN_SHOP_KEY_LEN || value.len() > 500 {
        return Err(ApiError::invalid("/webhookSecret", "must have 16 to 500 characters"));
    }
    Ok(Secret::new(value))
}

async fn insert_key(state: &AppState, customer: Uuid, kind: KeyKind) -> ApiResult<NewKey> {
    let key = new_key(kind);
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO customer_keys (id, customer_id, kind, key_hash, hint) VALUES ($1, $2, $3, $4, $5)",
        id,
        customer,
        kind.as_str(),
        &key_hash(&key)[..],
        key_hint(&key)
    )
    .execute(&state.db)
    .await
    .map_err(anyhow::Error::from)?;
    Ok(NewKey { id, kind, key })
}

fn customer_id(raw: &str) -> ApiResult<Uuid> {
    uuid_path(raw).map_err(|_| ApiError::NotFound)
}

const PROBLEM: &str = "application/problem+json";

/// Every customer of this deployment (the default one, from the environment, first; those whose
/// secrets do not open with CUSTOMER_SECRETS_KEY last, as `sealed-with-another-key`).
#[utoipa::path(
    get,
    path = "/admin/v1/customers",
    tag = "admin",
    operation_id = "list-customers",
    security(("adminKey" = [])),
    responses(
        (status = 200, description = "The customers", body = [CustomerView]),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn list_customers(State(state): State<AppState>) -> ApiResult<axum::Json<Vec<CustomerView>>> {
    let mut all = Vec::new();
    for customer in state.customers.all() {
        all.push(view(&state, &customer).await?);
    }
    for customer in state.customers.sealed() {
        all.push(view_known(&state, &Known::Sealed(customer)).await?);
    }
    Ok(axum::Json(all))
}

/// Adds a customer with its publiq credentials (checked with publiq's token server first), and
/// makes its first secret and publishable keys (shown once).
#[utoipa::path(
    post,
    path = "/admin/v1/customers",
    tag = "admin",
    operation_id = "create-customer",
    security(("adminKey" = [])),
    request_body = CustomerRequest,
    responses(
        (status = 201, description = "The customer and its first keys (shown once)", body = CreatedCustomer),
        (status = 400, description = "Invalid request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = PROBLEM),
        (status = 413, description = "Body too large", body = Problem, content_type = PROBLEM),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 409, description = "A customer of that name exists (`customer-exists`; one sealed with another key takes new credentials instead), or CUSTOMER_SECRETS_KEY is not set", body = Problem, content_type = PROBLEM),
        (status = 422, description = "publiq refused the credentials (`credentials-refused`)", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_customer(State(state): State<AppState>, Json(body): Json<CustomerRequest>) -> ApiResult<Response> {
    let name = name(&body.name)?;
    let client_id = client_id(&body.client_id)?;
    let secret = client_secret(&body.client_secret)?;
    let allowed_origins = origins(&body.allowed_origins)?;
    let webhook = match (&body.webhook_url, &body.webhook_secret) {
        (Some(url), Some(secret)) => {
            let url = target::check(url, state.config.webhooks_allow_private_targets())
                .await
                .map_err(|e| ApiError::invalid("/webhookUrl", e.to_string()))?;
            Some((url.to_string(), webhook_secret(secret)?))
        }
        (None, None) => None,
        _ => {
            return Err(ApiError::invalid(
                "/webhookSecret",
                "webhookUrl and webhookSecret go together",
            ));
        }
    };
    let key = secrets_key(&state)?;
    check_credentials(&state, body.environment, &client_id, &secret).await?;
    let id = Uuid::new_v4();
    let sealed = key.seal(id, &secret);
    let (webhook_url, webhook_secret) = match webhook {
        Some((url, secret)) => (Some(url), Some(key.seal(id, &secret))),
        None => (None, None),
    };
    let inserted = sqlx::query!(
        "INSERT INTO customers (id, name, environment, client_id, client_secret, allowed_origins, webhook_url,
                                webhook_secret)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
        id,
        name,
        body.environment.as_str(),
        client_id,
        sealed,
        &allowed_origins,
        webhook_url,
        webhook_secret
    )
    .execute(&state.db)
    .await
    .map_err(anyhow::Error::from)?;
    if inserted.rows_affected() == 0 {
        return Ok(Problem::ours(
            "customer-exists",
            StatusCode::CONFLICT,
            "A customer of that name exists",
        )
        .with_detail(
            "Customer names are unique; choose another, or change the existing one (one listed as \
             sealed-with-another-key takes new credentials: PUT /admin/v1/customers/{id}/credentials).",
        )
        .into_response());
    }
    let secret_key = insert_key(&state, id, KeyKind::Secret).await?;
    let publishable_key = insert_key(&state, id, KeyKind::Publishable).await?;
    let customer = reloaded(&state, id).await?;
    tracing::info!(customer = %name, "customer added");
    if let Err(e) = state.customers.refresh_permissions(id).await {
        tracing::warn!(customer = %name, error = %e, "cannot read the new customer's permissions yet");
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedCustomer {
            customer: view_known(&state, &customer).await?,
            secret_key,
            publishable_key,
        }),
    )
        .into_response())
}

/// One customer, with its keys (hints only) and permissions.
#[utoipa::path(
    get,
    path = "/admin/v1/customers/{id}",
    tag = "admin",
    operation_id = "get-customer",
    security(("adminKey" = [])),
    params(("id" = Uuid, Path, description = "The customer id (the default customer: 00000000-0000-0000-0000-000000000000)")),
    responses(
        (status = 200, description = "The customer", body = CustomerView),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such customer", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn get_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CustomerView>> {
    let customer = known(&state, customer_id(&id)?)?;
    Ok(axum::Json(view_known(&state, &customer).await?))
}

/// Renames a customer, changes its allowed origins, or disables (enables) it.
#[utoipa::path(
    patch,
    path = "/admin/v1/customers/{id}",
    tag = "admin",
    operation_id = "patch-customer",
    security(("adminKey" = [])),
    params(("id" = Uuid, Path, description = "The customer id")),
    request_body = CustomerPatch,
    responses(
        (status = 200, description = "The customer", body = CustomerView),
        (status = 400, description = "Invalid request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = PROBLEM),
        (status = 413, description = "Body too large", body = Problem, content_type = PROBLEM),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such customer", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn patch_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(patch): Json<CustomerPatch>,
) -> ApiResult<axum::Json<CustomerView>> {
    let id = customer_id(&id)?;
    known(&state, id)?;
    let new_name = patch.name.as_deref().map(name).transpose()?;
    let new_origins = patch.allowed_origins.as_deref().map(origins).transpose()?;
    sqlx::query!(
        "UPDATE customers SET name = coalesce($2, name), allowed_origins = coalesce($3, allowed_origins),
                              disabled_at = CASE WHEN $4::bool IS NULL THEN disabled_at
                                                 WHEN $4 THEN coalesce(disabled_at, now()) END,
                              updated_at = now()
         WHERE id = $1",
        id,
        new_name,
        new_origins.as_deref(),
        patch.disabled
    )
    .execute(&state.db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::invalid("/name", "is another customer's"),
        _ => ApiError::Internal(e.into()),
    })?;
    let customer = reloaded(&state, id).await?;
    Ok(axum::Json(view_known(&state, &customer).await?))
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
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = PROBLEM),
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

/// Adds a key (a rotation: the old key keeps working until it is revoked). Shown once.
#[utoipa::path(
    post,
    path = "/admin/v1/customers/{id}/keys",
    tag = "admin",
    operation_id = "create-customer-key",
    security(("adminKey" = [])),
    params(("id" = Uuid, Path, description = "The customer id")),
    request_body = KeyRequest,
    responses(
        (status = 201, description = "The key (shown once)", body = NewKey),
        (status = 400, description = "Invalid request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = PROBLEM),
        (status = 413, description = "Body too large", body = Problem, content_type = PROBLEM),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such customer", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<KeyRequest>,
) -> ApiResult<Response> {
    let id = customer_id(&id)?;
    known(&state, id)?;
    let key = insert_key(&state, id, body.kind).await?;
    state.customers.reload().await.map_err(anyhow::Error::from)?;
    Ok((StatusCode::CREATED, axum::Json(key)).into_response())
}

/// Revokes a key: refused from now on (by other replicas within a few seconds).
#[utoipa::path(
    delete,
    path = "/admin/v1/customers/{id}/keys/{keyId}",
    tag = "admin",
    operation_id = "revoke-customer-key",
    security(("adminKey" = [])),
    params(
        ("id" = Uuid, Path, description = "The customer id"),
        ("keyId" = Uuid, Path, description = "The key id"),
    ),
    responses(
        (status = 204, description = "Revoked (now or before)"),
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such key of this customer", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = customer_id(&id)?;
    let key_id = uuid_path(&key_id).map_err(|_| ApiError::NotFound)?;
    let found = sqlx::query!(
        "UPDATE customer_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND customer_id = $2",
        key_id,
        id
    )
    .execute(&state.db)
    .await
    .map_err(anyhow::Error::from)?;
    if found.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    state.customers.reload().await.map_err(anyhow::Error::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
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
        (status = 401, description = "Missing or wrong admin key", body = Problem, content_type = PROBLEM),
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
