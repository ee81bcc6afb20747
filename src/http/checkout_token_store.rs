//! Checkout tokens as stored (`checkout_tokens`): minting one, reading one (cached per replica),
//! and charging a pass against its budget, shared by every replica through PostgreSQL.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use moka::future::Cache;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::auth::{Caller, Via};
use super::problem::{ApiError, Problem};
use crate::customers::{KeyHash, key_hash};
use crate::domain::UitpasNumber;

/// A checkout token as stored.
#[derive(Debug)]
pub struct CheckoutToken {
    pub hash: KeyHash,
    pub customer_id: Uuid,
    pub event_ids: Vec<String>,
    pub max_passes: u32,
    /// Its requests a second (in bursts of twice that), as its shop asked; `None`:
    /// `PUBLIC_RATE_LIMIT`.
    pub rate_limit: Option<u32>,
    pub expires_at: DateTime<Utc>,
    /// The passes already counted against the budget (digests), as this replica knows them.
    seen: Mutex<HashSet<KeyHash>>,
    /// The token itself keys the pass digests, so that the stored digests cannot be reversed
    /// from the database alone.
    raw: String,
}

/// Checkout tokens and their budgets. Cheap to clone.
#[derive(Clone)]
pub struct PublicAccess {
    db: PgPool,
    tokens: Cache<KeyHash, Option<Arc<CheckoutToken>>>,
}

/// How long a replica trusts what it read of a checkout token (they are not changed, only expire).
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(300);
pub const TOKEN_PREFIX: &str = "ct_";

impl PublicAccess {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            tokens: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOKEN_CACHE_TTL)
                .build(),
        }
    }

    /// Stores a new checkout token; the token itself is answered once and never stored.
    pub async fn mint(
        &self,
        customer_id: Uuid,
        event_ids: &[String],
        max_passes: u32,
        rate_limit: Option<u32>,
        ttl: Duration,
    ) -> sqlx::Result<(String, DateTime<Utc>)> {
        let token = format!("{TOKEN_PREFIX}{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let expires_at = sqlx::query_scalar!(
            "INSERT INTO checkout_tokens (token_hash, customer_id, event_ids, max_passes, rate_limit, expires_at)
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::float8))
             RETURNING expires_at",
            &key_hash(&token)[..],
            customer_id,
            event_ids,
            i32::try_from(max_passes).unwrap_or(i32::MAX),
            rate_limit.map(|r| i32::try_from(r).unwrap_or(i32::MAX)),
            ttl.as_secs_f64()
        )
        .fetch_one(&self.db)
        .await?;
        Ok((token, expires_at))
    }

    /// A valid (known, unexpired) token.
    pub(super) async fn token(&self, raw: &str) -> Result<Option<Arc<CheckoutToken>>, ApiError> {
        let hash = key_hash(raw);
        let db = self.db.clone();
        let raw_owned = raw.to_owned();
        let found = self
            .tokens
            .try_get_with(hash, async move {
                let row = sqlx::query!(
                    "SELECT customer_id, event_ids, max_passes, rate_limit, expires_at FROM checkout_tokens
                     WHERE token_hash = $1",
                    &hash[..]
                )
                .fetch_optional(&db)
                .await?;
                Ok::<_, sqlx::Error>(row.map(|r| {
                    Arc::new(CheckoutToken {
                        hash,
                        customer_id: r.customer_id,
                        event_ids: r.event_ids,
                        max_passes: u32::try_from(r.max_passes).unwrap_or(0),
                        rate_limit: r.rate_limit.and_then(|r| u32::try_from(r).ok()),
                        expires_at: r.expires_at,
                        seen: Mutex::new(HashSet::new()),
                        raw: raw_owned,
                    })
                }))
            })
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading a checkout token: {e}")))?;
        Ok(found.filter(|t| t.expires_at > Utc::now()))
    }

    /// Counts `number` against the budget of the caller's checkout token (nothing for a key).
    pub async fn charge_pass(&self, caller: &Caller, number: &UitpasNumber) -> Result<(), ApiError> {
        let Via::CheckoutToken(token) = &caller.via else {
            return Ok(());
        };
        let digest: KeyHash = Sha256::new()
            .chain_update(token.raw.as_bytes())
            .chain_update(b":")
            .chain_update(number.as_str().as_bytes())
            .finalize()
            .into();
        if token.seen.lock().unwrap_or_else(|e| e.into_inner()).contains(&digest) {
            return Ok(());
        }
        // One atomic step in PostgreSQL, so that replicas and parallel lookups share one budget:
        // the pass is recorded (a pass seen before costs nothing: the insert waits for a
        // concurrent one of the same pass and then finds it), and only a new one takes a unit
        // in one conditional update of the token's counter. Under READ COMMITTED the update
        // re-reads the row after waiting for its lock, so `passes_used < max_passes` holds for
        // the latest count, never for a snapshot taken before the wait.
        let mut tx = crate::db::begin(&self.db).await.map_err(anyhow::Error::from)?;
        let new = sqlx::query_scalar!(
            "INSERT INTO checkout_token_passes (token_hash, pass_digest) VALUES ($1, $2)
             ON CONFLICT DO NOTHING RETURNING 1 AS \"new!\"",
            &token.hash[..],
            &digest[..]
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(anyhow::Error::from)?
        .is_some();
        if new {
            let taken = sqlx::query_scalar!(
                "UPDATE checkout_tokens SET passes_used = passes_used + 1
                 WHERE token_hash = $1 AND passes_used < max_passes
                 RETURNING passes_used",
                &token.hash[..]
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(anyhow::Error::from)?;
            if taken.is_none() {
                tx.rollback().await.map_err(anyhow::Error::from)?;
                return Err(ApiError::Problem(Box::new(
                    Problem::ours(
                        "checkout-token-budget-spent",
                        StatusCode::FORBIDDEN,
                        "This checkout token has looked up all the passes it may",
                    )
                    .with_detail(format!(
                        "A checkout token looks up at most {} different passes; ask the shop for a new one.",
                        token.max_passes
                    )),
                )));
            }
        }
        tx.commit().await.map_err(anyhow::Error::from)?;
        token.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(digest);
        Ok(())
    }
}
