//! The admin API's customer keys: secret keys for the shop backend, publishable keys for the
//! browser; added for a rotation, revoked when done.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::customers::known;
use super::{PROBLEM, customer_id};
use crate::customers::{KeyKind, key_hash, key_hint, new_key};
use crate::http::AppState;
use crate::http::extract::{Json, uuid_path};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::responses::AdminKeyRefused;

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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRequest {
    pub kind: KeyKind,
}

pub(super) async fn keys(state: &AppState, customer: Uuid) -> ApiResult<Vec<KeyView>> {
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

pub(super) async fn insert_key(state: &AppState, customer: Uuid, kind: KeyKind) -> ApiResult<NewKey> {
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
        AdminKeyRefused,
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
        AdminKeyRefused,
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
