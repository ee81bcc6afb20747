//! The console's search of the registrations, of every customer: by order, ids, pass or sale,
//! status as an operator reads it, and period.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::jobs;
use crate::outbox::views;

/// A registration found by the console's search, with the status an operator reads: parked work
/// (its register job parked) is `needs-attention`, a registered hold its hold's state.
#[derive(Debug)]
pub struct RegistrationRow {
    pub id: Uuid,
    pub order_id: String,
    pub shown: String,
    pub problem: Option<serde_json::Value>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub sales: i64,
    pub total: i64,
}

/// What the registrations search asks: all optional.
#[derive(Debug, Default)]
pub struct RegistrationSearch<'a> {
    /// An order id, registration id, Idempotency-Key, UiTPAS number, UiTPAS sale id or sale id.
    pub q: Option<&'a str>,
    pub status: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// A page of the registrations search, newest first, with the count of all that match (every
/// row's `total`).
pub async fn search_registrations(
    db: &PgPool,
    search: &RegistrationSearch<'_>,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<RegistrationRow>> {
    let parked = views::parked_subjects(db, jobs::REGISTER).await?;
    sqlx::query_as!(
        RegistrationRow,
        r#"WITH v AS (
               SELECT r.id, r.order_id, r.hold_expires_at, r.created_at, r.idempotency_key, r.problem,
                      CASE WHEN r.id = ANY($7) THEN 'needs-attention'
                           WHEN r.status = 'registered' AND r.hold_state IN ('held', 'released', 'expired')
                                THEN r.hold_state
                           ELSE r.status END AS shown
               FROM registrations r)
           SELECT v.id AS "id!", v.order_id AS "order_id!", v.shown AS "shown!", v.problem, v.hold_expires_at,
                  v.created_at AS "created_at!",
                  (SELECT count(*) FROM ticket_sales t WHERE t.registration_id = v.id) AS "sales!",
                  count(*) OVER () AS "total!"
           FROM v
           WHERE ($1::text IS NULL OR v.order_id = $1 OR v.id::text = lower($1) OR v.idempotency_key = $1
                  OR EXISTS (SELECT 1 FROM ticket_sales t WHERE t.registration_id = v.id
                               AND (t.uitpas_number = $1 OR t.uitpas_ticket_sale_id = $1 OR t.id::text = lower($1))))
             AND ($2::text IS NULL OR v.shown = $2)
             AND ($3::timestamptz IS NULL OR v.created_at >= $3)
             AND ($4::timestamptz IS NULL OR v.created_at < $4)
           ORDER BY v.created_at DESC, v.id
           OFFSET $5 LIMIT $6"#,
        search.q,
        search.status,
        search.from,
        search.until,
        offset,
        limit,
        &parked
    )
    .fetch_all(db)
    .await
}
