//! The customers' SQL.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Environment, KeyHash, KeyKind, Permissions};

pub struct CustomerRow {
    pub id: Uuid,
    pub name: String,
    pub environment: Environment,
    pub client_id: Option<String>,
    pub client_secret: Option<Vec<u8>>,
    pub credentials_version: i32,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<Vec<u8>>,
    pub allowed_origins: Vec<String>,
    pub permissions: Option<serde_json::Value>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

pub async fn customers(db: &PgPool) -> sqlx::Result<Vec<CustomerRow>> {
    sqlx::query_as!(
        CustomerRow,
        r#"SELECT id, name, environment AS "environment: Environment", client_id, client_secret, credentials_version,
                  webhook_url, webhook_secret, allowed_origins, permissions, disabled_at, updated_at
           FROM customers ORDER BY name"#
    )
    .fetch_all(db)
    .await
}

pub struct ActiveKey {
    pub customer_id: Uuid,
    pub kind: KeyKind,
    pub hash: KeyHash,
}

pub async fn active_keys(db: &PgPool) -> sqlx::Result<Vec<ActiveKey>> {
    let rows = sqlx::query!(
        r#"SELECT customer_id, kind AS "kind: KeyKind", key_hash FROM customer_keys WHERE revoked_at IS NULL"#
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(ActiveKey {
                customer_id: r.customer_id,
                kind: r.kind,
                hash: r.key_hash.try_into().ok()?,
            })
        })
        .collect())
}

pub async fn save_permissions(
    db: &PgPool,
    id: Uuid,
    permissions: Option<&Permissions>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    let json = permissions.map(|p| serde_json::to_value(p).unwrap_or_default());
    // Not `updated_at`: permissions alone do not make replicas rebuild the customer.
    sqlx::query!(
        "UPDATE customers SET permissions = coalesce($2, permissions),
                              permissions_read_at = CASE WHEN $2::jsonb IS NULL THEN permissions_read_at ELSE now() END,
                              permissions_error = $3
         WHERE id = $1",
        id,
        json,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_expired_tokens(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM checkout_tokens WHERE expires_at < now() - interval '1 hour'")
        .execute(db)
        .await?;
    Ok(())
}

/// Replaces a customer's sealed client secret, if it is still `old` (two replicas starting at once
/// re-seal it once). Not `updated_at`: the secret is the same, and a replica still on the previous
/// key keeps the customer it holds.
pub async fn reseal_client_secret(db: &PgPool, id: Uuid, old: &[u8], new: &[u8]) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE customers SET client_secret = $3 WHERE id = $1 AND client_secret = $2",
        id,
        old,
        new
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// [`reseal_client_secret`] for the webhook secret.
pub async fn reseal_webhook_secret(db: &PgPool, id: Uuid, old: &[u8], new: &[u8]) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE customers SET webhook_secret = $3 WHERE id = $1 AND webhook_secret = $2",
        id,
        old,
        new
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The names of the customers that hold sealed secrets.
pub async fn with_sealed_secrets(db: &PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT name FROM customers WHERE client_secret IS NOT NULL OR webhook_secret IS NOT NULL ORDER BY name"
    )
    .fetch_all(db)
    .await
}
