//! The admin API's customers: list, add, show and change them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::credentials::{check_credentials, client_id, client_secret, secrets_key, webhook_secret};
use super::keys::{KeyView, NewKey, insert_key, keys};
use super::{PROBLEM, customer_id};
use crate::config::Origins;
use crate::customers::capabilities::OrganizerCapabilities;
use crate::customers::{Customer, Environment, KeyKind, Permissions, SealedCustomer};
use crate::http::AppState;
use crate::http::extract::Json;
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::responses::AdminKeyRefused;
use crate::webhooks::target;

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
    /// Per organizer, what the service can and cannot do for it with those permissions (each
    /// capability, the permissions it needs, those missing), in the order of `permissions`.
    pub capabilities: Option<Vec<OrganizerCapabilities>>,
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

/// A customer of either kind, to show.
pub(super) enum Known {
    Open(std::sync::Arc<Customer>),
    Sealed(std::sync::Arc<SealedCustomer>),
}

impl Known {
    pub(super) fn environment(&self) -> Environment {
        match self {
            Known::Open(c) => c.environment,
            Known::Sealed(c) => c.environment,
        }
    }
}

/// Customer `id`, whether its secrets open or not.
pub(super) fn known(state: &AppState, id: Uuid) -> ApiResult<Known> {
    match state.customers.get(id) {
        Some(customer) => Ok(Known::Open(customer)),
        None => state
            .customers
            .sealed_customer(id)
            .map(Known::Sealed)
            .ok_or(ApiError::NotFound),
    }
}

pub(super) async fn view_known(state: &AppState, customer: &Known) -> ApiResult<CustomerView> {
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
            capabilities: None,
            keys: keys(state, c.id).await?,
        }),
    }
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
        capabilities: customer.permissions().map(|p| crate::customers::capabilities::of(&p)),
        keys: keys(state, customer.id).await?,
    })
}

pub(super) async fn reloaded(state: &AppState, id: Uuid) -> ApiResult<Known> {
    state.customers.reload().await.map_err(anyhow::Error::from)?;
    known(state, id)
}

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
        AdminKeyRefused,
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
        AdminKeyRefused,
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
        AdminKeyRefused,
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
        AdminKeyRefused,
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
