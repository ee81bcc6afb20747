//! A rotation of `CUSTOMER_SECRETS_KEY`: every stored secret that opens only with the previous
//! key (`CUSTOMER_SECRETS_KEY_PREVIOUS`) is sealed again with the current one, at start, before
//! the customers are read.

use anyhow::Context;
use sqlx::PgPool;

use super::{SecretsKey, store};

/// Re-seals with `current` what opens only with `previous`; the names of the customers changed.
pub async fn reseal(db: &PgPool, current: &SecretsKey, previous: &SecretsKey) -> anyhow::Result<Vec<String>> {
    let rows = store::customers(db)
        .await
        .context("cannot read the customers to re-seal")?;
    let mut changed = Vec::new();
    for row in rows {
        let mut any = false;
        if let Some(old) = &row.client_secret
            && current.open(row.id, old).is_err()
            && let Ok(secret) = previous.open(row.id, old)
        {
            any |= store::reseal_client_secret(db, row.id, old, &current.seal(row.id, &secret)).await?;
        }
        if let Some(old) = &row.webhook_secret
            && current.open(row.id, old).is_err()
            && let Ok(secret) = previous.open(row.id, old)
        {
            any |= store::reseal_webhook_secret(db, row.id, old, &current.seal(row.id, &secret)).await?;
        }
        if any {
            changed.push(row.name);
        }
    }
    Ok(changed)
}
