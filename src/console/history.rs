//! The history of a registration and its sales (`ledger_history`): the ledger's own moves are
//! recorded by the database's triggers (see the migration `ledger_history`), the operators'
//! actions here, with the hint of their key.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// One entry of a history.
#[derive(Debug)]
pub struct Entry {
    pub ticket_sale_id: Option<Uuid>,
    pub what: String,
    pub actor: Option<String>,
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The history of a registration and all its sales, oldest first (what one statement recorded
/// together, such as a registration and its first send, in the order it happened).
pub async fn of_registration(db: &PgPool, registration_id: Uuid) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as!(
        Entry,
        r#"SELECT ticket_sale_id, what, actor, detail, created_at FROM ledger_history
           WHERE registration_id = $1 ORDER BY created_at, what <> 'received', id LIMIT 1000"#,
        registration_id
    )
    .fetch_all(db)
    .await
}

/// The history of one sale, with its registration's own entries (not its other sales'), oldest
/// first.
pub async fn of_sale(db: &PgPool, registration_id: Uuid, ticket_sale_id: Uuid) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as!(
        Entry,
        r#"SELECT ticket_sale_id, what, actor, detail, created_at FROM ledger_history
           WHERE registration_id = $1 AND (ticket_sale_id IS NULL OR ticket_sale_id = $2)
           ORDER BY created_at, what <> 'received', id LIMIT 1000"#,
        registration_id,
        ticket_sale_id
    )
    .fetch_all(db)
    .await
}

/// Records an operator's action on a registration (and one of its sales): the entry's id.
pub async fn operator_action(
    db: &PgPool,
    registration_id: Uuid,
    ticket_sale_id: Option<Uuid>,
    what: &str,
    operator: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO ledger_history (registration_id, ticket_sale_id, what, actor) VALUES ($1, $2, $3, $4)
         RETURNING id",
        registration_id,
        ticket_sale_id,
        what,
        format!("operator={operator}")
    )
    .fetch_one(db)
    .await
}

/// Forgets an operator's action that turned out to do nothing.
pub async fn forget(db: &PgPool, id: i64) -> sqlx::Result<()> {
    sqlx::query!("DELETE FROM ledger_history WHERE id = $1 AND actor IS NOT NULL", id)
        .execute(db)
        .await?;
    Ok(())
}

/// The registration a job's subject belongs to: itself, or the registration of a ticket sale.
pub async fn registration_of(db: &PgPool, subject: Uuid) -> sqlx::Result<Option<(Uuid, Option<Uuid>)>> {
    let row = sqlx::query!(
        r#"SELECT id AS "registration_id!", NULL::uuid AS "ticket_sale_id?" FROM registrations WHERE id = $1
           UNION ALL
           SELECT registration_id, id FROM ticket_sales WHERE id = $1
           LIMIT 1"#,
        subject
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.registration_id, r.ticket_sale_id)))
}
