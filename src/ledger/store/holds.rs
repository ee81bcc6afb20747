//! The ledger's statements on holds: confirming, releasing, expiring, and what they cancel.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ledger::jobs;
use crate::outbox::Outbox;

/// Confirms a hold still held and not expired: `true` when this call confirmed it. One
/// conditional statement, so a confirm racing the expiry has exactly one winner.
pub async fn confirm_hold(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE registrations SET hold_state = 'confirmed', hold_ended_at = now(), updated_at = now()
           WHERE id = $1 AND hold_state = 'held' AND hold_expires_at > now()"#,
        id
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Expires a hold still held once its time is over: `true` when this call expired it.
pub async fn expire_hold(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE registrations SET hold_state = 'expired', hold_ended_at = now(), updated_at = now()
           WHERE id = $1 AND hold_state = 'held' AND hold_expires_at <= now()"#,
        id
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Releases a hold still held (also one whose time is over but that the worker has not expired
/// yet): `true` when this call released it. Locks the registration for the rest of `tx`, so
/// that a settlement of its sales comes wholly before or after.
pub async fn release_hold(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE registrations SET hold_state = 'released', hold_ended_at = now(), updated_at = now()
           WHERE id = $1 AND hold_state = 'held'"#,
        id
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks every registered sale of a registration cancelling, with its cancellation job due now
/// (unleased: the worker or the caller claims it). The ids of the sales.
pub async fn cancel_registered_sales(tx: &mut PgConnection, registration_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query!(
        r#"WITH sales AS (
               UPDATE ticket_sales SET status = 'cancelling', cancel_requested_at = now()
               WHERE registration_id = $1 AND status = 'registered'
               RETURNING id
           )
           -- Each with its cancellation job (the outbox's function; evaluated once per sale).
           SELECT id AS "id!", outbox_enqueue($2, id) AS "queued!" FROM sales"#,
        registration_id,
        jobs::CANCEL.as_str()
    )
    .fetch_all(tx)
    .await
    .map(|rows| rows.into_iter().map(|r| r.id).collect())
}

/// Makes a registration's end-hold job due now (the hold was released).
pub async fn end_hold_now(tx: &mut PgConnection, registration_id: Uuid) -> sqlx::Result<()> {
    Outbox::make_due(tx, jobs::END_HOLD, registration_id).await?;
    Ok(())
}

/// How many holds are in each state.
pub async fn hold_counts(pool: &PgPool) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT hold_state AS "state!", count(*) AS "count!" FROM registrations
           WHERE hold_state IS NOT NULL GROUP BY hold_state"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.state, r.count)).collect())
}
