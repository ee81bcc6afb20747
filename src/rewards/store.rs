//! The statements on `reward_redemptions`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{RedemptionRow, StoredStatus};
use crate::uitpas::RedeemedReward;

/// A redemption about to be stored.
pub struct NewRedemptionRow<'a> {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub idempotency_key: &'a str,
    pub request: &'a serde_json::Value,
    pub reward_id: &'a str,
    pub uitpas_number: &'a str,
    pub order_id: Option<&'a str>,
}

/// Stores a new redemption in `tx`; its creation time, or `None` when the idempotency key is
/// taken. A unique violation on `reward_redemptions_one_pending`: the pass has an unsettled
/// redemption of this reward already ([`is_one_pending`]).
pub async fn insert(tx: &mut PgConnection, row: &NewRedemptionRow<'_>) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        r#"INSERT INTO reward_redemptions (id, customer_id, idempotency_key, request, reward_id, uitpas_number,
                                           order_id, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')
           ON CONFLICT (customer_id, idempotency_key) DO NOTHING
           RETURNING created_at"#,
        row.id,
        row.customer_id,
        row.idempotency_key,
        row.request,
        row.reward_id,
        row.uitpas_number,
        row.order_id
    )
    .fetch_optional(tx)
    .await
}

/// Whether `e` says the pass has an unsettled redemption of the reward already.
pub fn is_one_pending(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some("reward_redemptions_one_pending"))
}

macro_rules! select_row {
    ($where:literal, $($arg:expr),+) => {
        sqlx::query_as!(
            RedemptionRow,
            r#"SELECT id, customer_id, request, reward_id, uitpas_number, order_id,
                      status AS "status: StoredStatus", uitpas_redemption_id, reward_title, points,
                      redeem_code, redeem_info, problem, redeemed_at, cancelled_at, created_at
               FROM reward_redemptions "# + $where,
            $($arg),+
        )
    };
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RedemptionRow>> {
    select_row!("WHERE id = $1", id).fetch_optional(conn).await
}

pub async fn by_key(pool: &PgPool, customer_id: Uuid, key: &str) -> sqlx::Result<Option<RedemptionRow>> {
    select_row!("WHERE customer_id = $1 AND idempotency_key = $2", customer_id, key)
        .fetch_optional(pool)
        .await
}

/// The unsettled redemption of `reward_id` by the pass, if there is one.
pub async fn pending_of(pool: &PgPool, uitpas_number: &str, reward_id: &str) -> sqlx::Result<Option<RedemptionRow>> {
    select_row!(
        "WHERE uitpas_number = $1 AND reward_id = $2 AND status = 'pending'",
        uitpas_number,
        reward_id
    )
    .fetch_optional(pool)
    .await
}

/// A customer's redemptions, newest first, optionally of one pass or one order.
pub async fn list(
    pool: &PgPool,
    customer_id: Uuid,
    uitpas_number: Option<&str>,
    order_id: Option<&str>,
    start: i64,
    limit: i64,
) -> sqlx::Result<(i64, Vec<RedemptionRow>)> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM reward_redemptions
           WHERE customer_id = $1 AND ($2::text IS NULL OR uitpas_number = $2)
             AND ($3::text IS NULL OR order_id = $3)"#,
        customer_id,
        uitpas_number,
        order_id
    )
    .fetch_one(pool)
    .await?;
    let rows = select_row!(
        "WHERE customer_id = $1 AND ($2::text IS NULL OR uitpas_number = $2) AND ($3::text IS NULL OR order_id = $3)
         ORDER BY created_at DESC, id OFFSET $4 LIMIT $5",
        customer_id,
        uitpas_number,
        order_id,
        start,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok((total, rows))
}

/// Which of these UiTPAS redemption ids the ledger records already.
pub async fn known(pool: &PgPool, uitpas_ids: &[String]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"SELECT uitpas_redemption_id AS "id!" FROM reward_redemptions WHERE uitpas_redemption_id = ANY($1)"#,
        uitpas_ids
    )
    .fetch_all(pool)
    .await
}

/// Records what UiTPAS confirmed for a pending redemption, in `tx`. `false` when it is no longer
/// pending.
pub async fn settle_redeemed(tx: &mut PgConnection, id: Uuid, redeemed: &RedeemedReward) -> sqlx::Result<bool> {
    let info = redeemed
        .redeem_info
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let done = sqlx::query!(
        r#"UPDATE reward_redemptions
           SET status = 'redeemed', uitpas_redemption_id = $2, reward_title = $3, points = $4,
               redeem_code = $5, redeem_info = $6, redeemed_at = $7, updated_at = now()
           WHERE id = $1 AND status = 'pending'"#,
        id,
        redeemed.id,
        redeemed.reward.title,
        redeemed.reward.points,
        redeemed.redeem_code,
        info,
        redeemed.redeem_date
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records UiTPAS's refusal of a pending redemption, in `tx`.
pub async fn mark_rejected(tx: &mut PgConnection, id: Uuid, problem: &serde_json::Value) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE reward_redemptions SET status = 'rejected', problem = $2, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
        id,
        problem
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Starts cancelling a redemption, in `tx`: a redeemed one becomes `cancelling`. Its status
/// before, locked for the rest of `tx`; `None` when there is none.
pub async fn begin_cancel(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<StoredStatus>> {
    let before = sqlx::query_scalar!(
        r#"SELECT status AS "status: StoredStatus" FROM reward_redemptions WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if before == Some(StoredStatus::Redeemed) {
        sqlx::query!(
            "UPDATE reward_redemptions SET status = 'cancelling', updated_at = now() WHERE id = $1",
            id
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(before)
}

/// Records that UiTPAS cancelled it, in `tx`.
pub async fn mark_cancelled(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE reward_redemptions SET status = 'cancelled', cancelled_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'cancelling'",
        id
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
