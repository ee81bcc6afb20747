//! The ledger's statements on strays: sales UiTPAS holds with our marker besides the recorded one.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Stores a stray of our sale `ticket_sale_id` (UiTPAS's `uitpas_id`), in `tx`: its id, or `None`
/// when it is known already.
pub async fn add_stray(tx: &mut PgConnection, ticket_sale_id: Uuid, uitpas_id: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"INSERT INTO stray_sales (id, ticket_sale_id, uitpas_ticket_sale_id) VALUES ($1, $2, $3)
           ON CONFLICT (uitpas_ticket_sale_id) DO NOTHING RETURNING id"#,
        Uuid::new_v4(),
        ticket_sale_id,
        uitpas_id
    )
    .fetch_optional(tx)
    .await
}

/// Whether our sale's order has settled (registered or rejected, no register job left) and does
/// not record `uitpas_id` for any of its sales: a sale UiTPAS holds with its marker is a stray.
pub async fn order_settled(conn: &mut PgConnection, ticket_sale_id: Uuid, uitpas_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT r.status <> 'pending'
                  AND NOT EXISTS (SELECT 1 FROM outbox_work w WHERE w.kind = 'register' AND w.subject_id = r.id)
                  AND NOT EXISTS (SELECT 1 FROM ticket_sales o WHERE o.uitpas_ticket_sale_id = $2)
                  AS "settled!"
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id WHERE t.id = $1"#,
        ticket_sale_id,
        uitpas_id
    )
    .fetch_optional(conn)
    .await
    .map(|settled| settled.unwrap_or(false))
}

/// A stray, with the customer whose credentials cancel it.
pub async fn stray(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<crate::ledger::jobs::Stray>> {
    sqlx::query_as!(
        crate::ledger::jobs::Stray,
        r#"SELECT s.id, s.ticket_sale_id, r.customer_id, s.uitpas_ticket_sale_id, s.cancelled_at
           FROM stray_sales s JOIN ticket_sales t ON t.id = s.ticket_sale_id
           JOIN registrations r ON r.id = t.registration_id
           WHERE s.id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// Records that UiTPAS no longer holds a stray.
pub async fn stray_cancelled(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("UPDATE stray_sales SET cancelled_at = now() WHERE id = $1", id)
        .execute(tx)
        .await?;
    Ok(())
}
