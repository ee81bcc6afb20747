//! The ledger's statements on check-ins: marking sales checked in, sharing and undoing check-ins.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::outbox::Claim;

/// Records a check-in of a registered sale, with UiTPAS's id of it when known (a new check-in, or
/// one shared with another ticket of the pass); `false` when the sale is not (or no longer)
/// registered. A sale checked in already keeps its check-in.
pub async fn mark_checked_in(pool: &PgPool, id: Uuid, checkin_id: Option<&str>) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE ticket_sales
           SET uitpas_checkin_id = CASE WHEN checked_in_at IS NULL THEN $2 ELSE uitpas_checkin_id END,
               checkin_undone_at = CASE WHEN checked_in_at IS NULL THEN NULL ELSE checkin_undone_at END,
               checked_in_at = coalesce(checked_in_at, now())
           WHERE id = $1 AND status = 'registered'"#,
        id,
        checkin_id
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The check-in UiTPAS has of this pass at this event since `since`, as another ticket sale than
/// `id` recorded it: `Some(its id)` (`Some(None)` when recorded without one), `None` when no other
/// ticket was checked in. A sale being cancelled is left out (its check-in may be undone now); a
/// cancelled one still checked in is not (its check-in was kept for the others).
pub async fn shared_checkin(
    pool: &PgPool,
    id: Uuid,
    uitpas_number: &str,
    event_id: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<Option<Option<String>>> {
    sqlx::query_scalar!(
        r#"SELECT uitpas_checkin_id FROM ticket_sales
           WHERE uitpas_number = $1 AND event_id = $2 AND checked_in_at >= $3 AND id <> $4
             AND status IN ('registered', 'cancelled')
           ORDER BY checked_in_at
           LIMIT 1"#,
        uitpas_number,
        event_id,
        since,
        id
    )
    .fetch_optional(pool)
    .await
}

/// What the cancellation of a sale needs to undo its check-in.
#[derive(Debug, Clone)]
pub struct SaleCheckin {
    pub uitpas_number: String,
    pub event_id: String,
    /// `None`: not checked in (or its check-in was undone).
    pub checked_in_at: Option<DateTime<Utc>>,
    pub uitpas_checkin_id: Option<String>,
}

pub async fn sale_checkin(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<SaleCheckin>> {
    sqlx::query_as!(
        SaleCheckin,
        "SELECT uitpas_number, event_id, checked_in_at, uitpas_checkin_id FROM ticket_sales WHERE id = $1",
        id
    )
    .fetch_optional(pool)
    .await
}

/// Keeps the id of a check-in found at UiTPAS on the tickets of this pass at this event checked in
/// on the day that starts at `day` without a known id (they share that check-in).
pub async fn adopt_checkin_id(
    pool: &PgPool,
    uitpas_number: &str,
    event_id: &str,
    day: DateTime<Utc>,
    checkin_id: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"UPDATE ticket_sales SET uitpas_checkin_id = $4
           WHERE uitpas_number = $1 AND event_id = $2 AND uitpas_checkin_id IS NULL
             AND checked_in_at >= $3 AND checked_in_at < $3 + interval '1 day'"#,
        uitpas_number,
        event_id,
        day,
        checkin_id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether a registered ticket sale other than `id` is checked in with this check-in (then it is
/// not undone when `id` is cancelled).
pub async fn checkin_shared(pool: &PgPool, id: Uuid, checkin_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM ticket_sales
                          WHERE uitpas_checkin_id = $2 AND id <> $1 AND status = 'registered'
                            AND checked_in_at IS NOT NULL) AS "shared!""#,
        id,
        checkin_id
    )
    .fetch_one(pool)
    .await
}

/// Records that UiTPAS no longer has this check-in, if the cancellation's claim `job` still holds
/// its lease: no ticket that shared it is checked in any more. `false`: another worker took the
/// job over, and nothing was recorded.
pub async fn record_checkin_undone(pool: &PgPool, job: Claim, checkin_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"WITH claim AS (
               SELECT 1 WHERE outbox_holds($4, $1, $2)
           ), undone AS (
               UPDATE ticket_sales SET checked_in_at = NULL, checkin_undone_at = now()
               WHERE uitpas_checkin_id = $3 AND checked_in_at IS NOT NULL AND EXISTS (SELECT 1 FROM claim)
           )
           SELECT EXISTS (SELECT 1 FROM claim) AS "held!""#,
        job.subject_id,
        job.attempts,
        checkin_id,
        job.kind.as_str()
    )
    .fetch_one(pool)
    .await
}
