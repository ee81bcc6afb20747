//! What a development run (`cargo run`, no UiTPAS credentials, no shop keys) keeps from one start
//! to the next, so that a guide followed before a restart still holds after it: its shop key, and
//! its embedded sandbox's address and memory.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::sandbox::{self, RunningSandbox, Sandbox};

/// The development shop key: made on the first start on a database, read back on every later one.
pub async fn shop_key(db: &PgPool) -> anyhow::Result<String> {
    let made = format!("dev_{}", uuid::Uuid::new_v4().simple());
    // The first start to insert wins, also when two start at once; every start reads the winner.
    sqlx::query!(
        "INSERT INTO development_settings (name, value) VALUES ('shop_api_key', $1) ON CONFLICT (name) DO NOTHING",
        made
    )
    .execute(db)
    .await
    .context("cannot store the development shop key")?;
    let key = sqlx::query_scalar!("SELECT value FROM development_settings WHERE name = 'shop_api_key'")
        .fetch_one(db)
        .await
        .context("cannot read the development shop key")?;
    Ok(key)
}

/// The development key that seals customers' secrets (CUSTOMER_SECRETS_KEY unset): made on the first
/// start, kept beside the data it protects. Only for development, which is why production never
/// comes here: there the key must come from a secret store. Never made over customers' secrets
/// already stored (sealed with a key this database does not hold): that start is refused.
pub async fn customer_secrets_key(db: &PgPool) -> anyhow::Result<crate::secrets::SecretsKey> {
    let kept = sqlx::query_scalar!("SELECT value FROM development_settings WHERE name = 'customer_secrets_key'")
        .fetch_optional(db)
        .await
        .context("cannot read the development secrets key")?;
    if kept.is_none() {
        let sealed = crate::customers::store::with_sealed_secrets(db)
            .await
            .context("cannot read the customers")?;
        if !sealed.is_empty() {
            anyhow::bail!(
                "CUSTOMER_SECRETS_KEY is not set and this database keeps no development key, but customers {} hold \
                 secrets sealed with a key: set CUSTOMER_SECRETS_KEY to that key (a new one would strand them)",
                quoted(&sealed)
            );
        }
    }
    let made = crate::secrets::SecretsKey::generate_hex();
    sqlx::query!(
        "INSERT INTO development_settings (name, value) VALUES ('customer_secrets_key', $1)
         ON CONFLICT (name) DO NOTHING",
        made
    )
    .execute(db)
    .await
    .context("cannot store the development secrets key")?;
    let key = sqlx::query_scalar!("SELECT value FROM development_settings WHERE name = 'customer_secrets_key'")
        .fetch_one(db)
        .await
        .context("cannot read the development secrets key")?;
    Ok(crate::secrets::SecretsKey::from_hex(&key)?)
}

/// Names as `"a", "b"`.
pub fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// The demo's second shop (`/demo?shop=b`, on the embedded sandbox only): a customer of its own,
/// named [`crate::http::demo::SHOP_B_NAME`], with the sandbox's second client
/// (`sandbox-customer-b`, whose organizer is not the default customer's) and that client's secret
/// sealed with `key`. Made on the first start on a database; a later start (or a second replica
/// starting at once) finds the name taken and leaves the row as it is.
pub async fn demo_customer(db: &PgPool, key: &crate::secrets::SecretsKey) -> anyhow::Result<()> {
    let client = sandbox::clients::known(sandbox::clients::CUSTOMER_B_CLIENT_ID)
        .context("the sandbox knows no second customer's client")?;
    let id = uuid::Uuid::new_v4();
    let sealed = key.seal(id, &crate::secrets::Secret::new(client.secret));
    sqlx::query(
        "INSERT INTO customers (id, name, environment, client_id, client_secret) VALUES ($1, $2, 'test', $3, $4)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(id)
    .bind(crate::http::demo::SHOP_B_NAME)
    .bind(client.id)
    .bind(sealed)
    .execute(db)
    .await
    .context("cannot store the demo's second customer")?;
    Ok(())
}

/// Where the embedded sandbox listens: on loopback, on the port after the service's (8081 for the
/// default 8080), so that its address is the same at every start; `None` when the service's port
/// is picked by the system (port 0) or is the last one.
pub fn sandbox_addr(service: SocketAddr) -> Option<SocketAddr> {
    let port = service.port().checked_add(1).filter(|_| service.port() != 0)?;
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Starts the embedded sandbox on its own port (a free one when that is taken, saying so), with
/// its memory in `db`.
pub async fn start_sandbox(db: &PgPool, service: SocketAddr, token_ttl: Duration) -> anyhow::Result<RunningSandbox> {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let listener = match sandbox_addr(service) {
        Some(addr) => match TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => {
                let listener = TcpListener::bind(any).await?;
                tracing::warn!(
                    wanted = %addr,
                    error = %e,
                    "the embedded sandbox's port is taken: it listens on {} for this run",
                    listener.local_addr()?
                );
                listener
            }
        },
        None => TcpListener::bind(any).await?,
    };
    let sandbox = Sandbox::stored(token_ttl, db.clone()).await?;
    Ok(sandbox::spawn_on(listener, sandbox)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_listens_on_the_port_after_the_service() {
        let at = |s: &str| sandbox_addr(s.parse().unwrap());
        assert_eq!(at("127.0.0.1:8080"), Some("127.0.0.1:8081".parse().unwrap()));
        assert_eq!(at("0.0.0.0:8080"), Some("127.0.0.1:8081".parse().unwrap()));
        assert_eq!(at("127.0.0.1:0"), None);
        assert_eq!(at("127.0.0.1:65535"), None);
    }
}
