//! The ledger's SQL, in small functions that take a connection or a transaction. Every query is
//! checked against the schema at compile time (`query!`, offline data in `.sqlx/`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::jobs;
use super::{HoldState, NewTicketSale, RegistrationStatus, SaleStatus, StoredStatus, TicketSaleRow};
use crate::outbox::Claim;

mod checkins;
mod holds;
mod strays;

pub use checkins::*;
pub use holds::*;
pub use strays::*;

/// A registration as stored, without its ticket sales.
#[derive(Debug, Clone)]
pub struct RegistrationRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub idempotency_key: String,
    pub request: serde_json::Value,
    pub order_id: String,
    pub status: RegistrationStatus,
    pub problem: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    /// A hold's state and when it expires; `None` for a registration made after payment.
    pub hold: Option<(HoldState, DateTime<Utc>)>,
}

/// Stores a new registration, its ticket sales (all pending) and its register job, leased to the
/// caller for `lease_ms` and with the start of its first send recorded (the caller sends it at
/// once), in one statement (one round trip, one synchronous commit). A hold (`hold_ms`) also gets
/// its end-hold job, due when it expires. Nothing is
/// stored when the idempotency key exists: `None`. Otherwise the registration's `created_at`,
/// which is also that of its sales (`now()` is the statement's).
pub async fn insert_registration(
    pool: &PgPool,
    registration: &NewRegistrationRow<'_>,
    sales: &[NewTicketSale],
    lease_ms: f64,
    hold_ms: Option<f64>,
) -> sqlx::Result<Option<(DateTime<Utc>, Option<DateTime<Utc>>)>> {
    let ids: Vec<Uuid> = sales.iter().map(|s| s.id).collect();
    let positions: Vec<i32> = sales.iter().map(|s| s.position).collect();
    let tickets: Vec<i32> = sales.iter().map(|s| s.ticket_index).collect();
    let events: Vec<&str> = sales.iter().map(|s| s.event_id.as_str()).collect();
    let numbers: Vec<&str> = sales.iter().map(|s| s.uitpas_number.as_str()).collect();
    let tariffs: Vec<&str> = sales.iter().map(|s| s.tariff_id.as_str()).collect();
    let prices: Vec<i64> = sales.iter().map(|s| s.regular_price_cents).collect();
    let labels: Vec<Option<&str>> = sales.iter().map(|s| s.regular_price_label.as_deref()).collect();
    let externals: Vec<Option<&str>> = sales.iter().map(|s| s.external_id.as_deref()).collect();
    let paid: Vec<Option<i64>> = sales.iter().map(|s| s.paid_price_cents).collect();
    let vat: Vec<Option<f64>> = sales.iter().map(|s| s.vat).collect();
    sqlx::query!(
        r#"WITH registration AS (
               INSERT INTO registrations (id, customer_id, idempotency_key, request, order_id, status, hold_state,
                                          hold_expires_at)
               VALUES ($1, $18, $2, $3, $4, 'pending', CASE WHEN $17::float8 IS NOT NULL THEN 'held' END,
                       now() + make_interval(secs => $17::float8 / 1000))
               ON CONFLICT (customer_id, idempotency_key) DO NOTHING
               RETURNING id, created_at, hold_expires_at
           ), sales AS (
               INSERT INTO ticket_sales (id, registration_id, position, ticket_index, event_id, uitpas_number,
                                         tariff_id, regular_price_cents, regular_price_label, external_id,
                                         paid_price_cents, vat, status, created_at)
               SELECT u.id, r.id, u.position, u.ticket_index, u.event_id, u.uitpas_number, u.tariff_id,
                      u.regular_price_cents, u.regular_price_label, u.external_id, u.paid_price_cents, u.vat,
                      'pending', r.created_at
               FROM registration r,
                    UNNEST($5::uuid[], $6::int4[], $7::int4[], $8::text[], $9::text[], $10::text[], $11::int8[],
                           $12::text[], $13::text[], $14::int8[], $15::float8[])
                    AS u(id, position, ticket_index, event_id, uitpas_number, tariff_id, regular_price_cents,
                         regular_price_label, external_id, paid_price_cents, vat)
           ), work AS (
               -- The job of the registration, leased to this request, its send recorded; and the
               -- one that ends its hold, due when the hold expires.
               SELECT outbox_enqueue($19, r.id, NULL, $16::float8, true) AS registered,
                      CASE WHEN r.hold_expires_at IS NOT NULL
                           THEN outbox_enqueue($20, r.id, r.hold_expires_at) END AS held
               FROM registration r
           )
           SELECT r.created_at AS "created_at!", r.hold_expires_at FROM registration r CROSS JOIN work"#,
        registration.id,
        registration.idempotency_key,
        registration.request,
        registration.order_id,
        &ids,
        &positions,
        &tickets,
        &events as &[&str],
        &numbers as &[&str],
        &tariffs as &[&str],
        &prices,
        &labels as &[Option<&str>],
        &externals as &[Option<&str>],
        &paid as &[Option<i64>],
        &vat as &[Option<f64>],
        lease_ms,
        hold_ms,
        registration.customer_id,
        jobs::REGISTER.as_str(),
        jobs::END_HOLD.as_str()
    )
    .fetch_optional(pool)
    .await
    .map(|row| row.map(|r| (r.created_at, r.hold_expires_at)))
}

/// The registration row of [`insert_registration`].
pub struct NewRegistrationRow<'a> {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub idempotency_key: &'a str,
    pub request: &'a serde_json::Value,
    pub order_id: &'a str,
}

// Each lookup has its own statement: a shared `($1 IS NULL OR id = $1)` form gets a generic plan
// from PostgreSQL after a few executions, which cannot use the index and scans the table.

/// A registration as read by [`registration_by_key`] and [`registration`].
struct RegistrationRecord {
    id: Uuid,
    customer_id: Uuid,
    idempotency_key: String,
    request: serde_json::Value,
    order_id: String,
    status: StoredStatus,
    problem: Option<serde_json::Value>,
    created_at: DateTime<Utc>,
    hold_state: Option<HoldState>,
    hold_expires_at: Option<DateTime<Utc>>,
}

impl From<RegistrationRecord> for RegistrationRow {
    fn from(r: RegistrationRecord) -> Self {
        let hold = r.hold_state.zip(r.hold_expires_at);
        Self {
            hold,
            id: r.id,
            customer_id: r.customer_id,
            idempotency_key: r.idempotency_key,
            request: r.request,
            order_id: r.order_id,
            status: r.status.into(),
            problem: r.problem,
            created_at: r.created_at,
        }
    }
}

/// A registration by its idempotency key.
pub async fn registration_by_key(pool: &PgPool, customer_id: Uuid, key: &str) -> sqlx::Result<Option<RegistrationRow>> {
    let row = sqlx::query_as!(
        RegistrationRecord,
        r#"SELECT id, customer_id, idempotency_key, request, order_id, status AS "status: StoredStatus", problem,
                  created_at, hold_state AS "hold_state: HoldState",
                  hold_expires_at
           FROM registrations WHERE customer_id = $1 AND idempotency_key = $2"#,
        customer_id,
        key
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(RegistrationRow::from))
}

/// The index that keeps one live registration per order id and customer (a migration of issue 22).
const LIVE_ORDER_ID_INDEX: &str = "registrations_live_order_id";

/// Whether [`insert_registration`] failed because the customer has a live registration of this
/// order id already (another Idempotency-Key).
pub fn is_order_id_taken(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation() && d.constraint() == Some(LIVE_ORDER_ID_INDEX))
}

/// The live registration of an order id (the one [`is_order_id_taken`] met): not rejected, not a
/// released or expired hold; the oldest, where a database has duplicates from before the rule.
pub async fn live_registration_by_order(
    pool: &PgPool,
    customer_id: Uuid,
    order_id: &str,
) -> sqlx::Result<Option<RegistrationRow>> {
    let row = sqlx::query_as!(
        RegistrationRecord,
        r#"SELECT id, customer_id, idempotency_key, request, order_id, status AS "status: StoredStatus", problem,
                  created_at, hold_state AS "hold_state: HoldState",
                  hold_expires_at
           FROM registrations
           WHERE customer_id = $1 AND order_id = $2 AND status <> 'rejected'
             AND (hold_state IS NULL OR hold_state NOT IN ('released', 'expired'))
           ORDER BY order_id_duplicate, created_at, id
           LIMIT 1"#,
        customer_id,
        order_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(RegistrationRow::from))
}

/// A registration by id.
pub async fn registration(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RegistrationRow>> {
    let row = sqlx::query_as!(
        RegistrationRecord,
        r#"SELECT id, customer_id, idempotency_key, request, order_id, status AS "status: StoredStatus", problem,
                  created_at, hold_state AS "hold_state: HoldState",
                  hold_expires_at
           FROM registrations WHERE id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(RegistrationRow::from))
}

/// The ticket sales of a registration, in batch order.
pub async fn sales_of_registration(conn: &mut PgConnection, registration_id: Uuid) -> sqlx::Result<Vec<TicketSaleRow>> {
    sqlx::query_as!(
        TicketSaleRow,
        r#"SELECT t.id, r.customer_id, t.registration_id, r.order_id, t.position, t.ticket_index, t.event_id, t.uitpas_number,
                  t.tariff_id, t.tariff_name, t.tariff_price_cents, t.tariff_type, t.regular_price_cents,
                  t.regular_price_label, t.external_id, t.paid_price_cents, t.vat, t.uitpas_ticket_sale_id,
                  t.status AS "status: SaleStatus", t.created_at, t.registered_at, t.cancelled_at, t.checked_in_at,
                  (SELECT coalesce(w.problem, '{}') FROM outbox_work w
                   WHERE w.parked_at IS NOT NULL AND ((w.kind = 'cancel' AND w.subject_id = t.id)
                                                   OR (w.kind = 'register' AND w.subject_id = t.registration_id))
                   LIMIT 1) AS attention
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE t.registration_id = $1
           ORDER BY t.position"#,
        registration_id
    )
    .fetch_all(conn)
    .await
}

/// A ticket sale by id.
pub async fn ticket_sale(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<TicketSaleRow>> {
    sqlx::query_as!(
        TicketSaleRow,
        r#"SELECT t.id, r.customer_id, t.registration_id, r.order_id, t.position, t.ticket_index, t.event_id, t.uitpas_number,
                  t.tariff_id, t.tariff_name, t.tariff_price_cents, t.tariff_type, t.regular_price_cents,
                  t.regular_price_label, t.external_id, t.paid_price_cents, t.vat, t.uitpas_ticket_sale_id,
                  t.status AS "status: SaleStatus", t.created_at, t.registered_at, t.cancelled_at, t.checked_in_at,
                  (SELECT coalesce(w.problem, '{}') FROM outbox_work w
                   WHERE w.parked_at IS NOT NULL AND ((w.kind = 'cancel' AND w.subject_id = t.id)
                                                   OR (w.kind = 'register' AND w.subject_id = t.registration_id))
                   LIMIT 1) AS attention
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE t.id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Search filters of `GET /v1/ticket-sales`; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct SaleFilter {
    /// The customer whose sales are searched (always given).
    pub customer_id: Uuid,
    pub order_id: Option<String>,
    pub uitpas_number: Option<String>,
    pub event_id: Option<String>,
    pub status: Option<SaleStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page of ticket sales matching `filter`, oldest first, and how many match in all.
pub async fn search_sales(
    pool: &PgPool,
    filter: &SaleFilter,
    start: i64,
    limit: i64,
) -> sqlx::Result<(i64, Vec<TicketSaleRow>)> {
    let status = filter.status.map(SaleStatus::as_str);
    // Every filter is optional (`$n IS NULL OR …`): plan each search for its own values, so that
    // the indexes of the filters actually given are used.
    let mut tx = crate::db::begin(pool).await?;
    sqlx::query!("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(&mut *tx)
        .await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!"
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE r.customer_id = $7
             AND ($1::text IS NULL OR r.order_id = $1) AND ($2::text IS NULL OR t.uitpas_number = $2)
             AND ($3::text IS NULL OR t.event_id = $3) AND ($4::text IS NULL OR t.status = $4)
             AND ($5::timestamptz IS NULL OR t.created_at >= $5) AND ($6::timestamptz IS NULL OR t.created_at < $6)"#,
        filter.order_id,
        filter.uitpas_number,
        filter.event_id,
        status,
        filter.from,
        filter.to,
        filter.customer_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let rows = sqlx::query_as!(
        TicketSaleRow,
        r#"SELECT t.id, r.customer_id, t.registration_id, r.order_id, t.position, t.ticket_index, t.event_id, t.uitpas_number,
                  t.tariff_id, t.tariff_name, t.tariff_price_cents, t.tariff_type, t.regular_price_cents,
                  t.regular_price_label, t.external_id, t.paid_price_cents, t.vat, t.uitpas_ticket_sale_id,
                  t.status AS "status: SaleStatus", t.created_at, t.registered_at, t.cancelled_at, t.checked_in_at,
                  (SELECT coalesce(w.problem, '{}') FROM outbox_work w
                   WHERE w.parked_at IS NOT NULL AND ((w.kind = 'cancel' AND w.subject_id = t.id)
                                                   OR (w.kind = 'register' AND w.subject_id = t.registration_id))
                   LIMIT 1) AS attention
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE r.customer_id = $9
             AND ($1::text IS NULL OR r.order_id = $1) AND ($2::text IS NULL OR t.uitpas_number = $2)
             AND ($3::text IS NULL OR t.event_id = $3) AND ($4::text IS NULL OR t.status = $4)
             AND ($5::timestamptz IS NULL OR t.created_at >= $5) AND ($6::timestamptz IS NULL OR t.created_at < $6)
           ORDER BY t.created_at, t.id
           OFFSET $7 LIMIT $8"#,
        filter.order_id,
        filter.uitpas_number,
        filter.event_id,
        status,
        filter.from,
        filter.to,
        start,
        limit,
        filter.customer_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((total, rows))
}

/// What UiTPAS confirmed for one of our sales.
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub ticket_sale_id: Uuid,
    pub uitpas_ticket_sale_id: String,
    pub tariff_name: Option<String>,
    pub tariff_price_cents: Option<i64>,
    pub tariff_type: Option<String>,
}

/// Settles a registration UiTPAS confirmed, if this claim (`job`) still holds its lease: finishes
/// the job, records the UiTPAS ids and marks the registration registered, in one statement, and
/// when `watch_after` is given has the order watched for strays then (see `ledger::jobs`). The
/// time it was recorded, or `None` when another worker has taken the job over (nothing recorded).
///
/// Committed synchronously: what the shop is told "registered" is never read back as less.
pub async fn settle_registered(
    conn: &mut PgConnection,
    job: Claim,
    confirmations: &[Confirmation],
    watch_after: Option<std::time::Duration>,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let ids: Vec<Uuid> = confirmations.iter().map(|c| c.ticket_sale_id).collect();
    let uitpas_ids: Vec<&str> = confirmations.iter().map(|c| c.uitpas_ticket_sale_id.as_str()).collect();
    let names: Vec<Option<&str>> = confirmations.iter().map(|c| c.tariff_name.as_deref()).collect();
    let prices: Vec<Option<i64>> = confirmations.iter().map(|c| c.tariff_price_cents).collect();
    let kinds: Vec<Option<&str>> = confirmations.iter().map(|c| c.tariff_type.as_deref()).collect();
    let settled = sqlx::query_scalar!(
        r#"WITH finished AS (
               SELECT $1::uuid AS subject_id WHERE outbox_finish($8, $1, $2)
           ), sales AS (
               UPDATE ticket_sales t
               SET uitpas_ticket_sale_id = u.uitpas_id, tariff_name = u.name, tariff_price_cents = u.price,
                   tariff_type = u.kind, status = 'registered', registered_at = now()
               FROM finished f,
                    UNNEST($3::uuid[], $4::text[], $5::text[], $6::int8[], $7::text[]) AS u(id, uitpas_id, name, price, kind)
               WHERE t.id = u.id AND t.registration_id = f.subject_id AND t.status = 'pending'
           ), registration AS (
               UPDATE registrations SET status = 'registered', updated_at = now()
               FROM finished f WHERE id = f.subject_id AND status = 'pending'
           ), watch AS (
               -- Settled by the worker: an earlier send may still commit; the order is watched
               -- for strays once none can (see `ledger::jobs::strays`).
               SELECT outbox_enqueue_not_before($9, f.subject_id, now() + make_interval(secs => $10::float8 / 1000))
                      AS added
               FROM finished f WHERE $11
           )
           SELECT now() AS "at!" FROM finished LEFT JOIN watch ON true"#,
        job.subject_id,
        job.attempts,
        &ids,
        &uitpas_ids as &[&str],
        &names as &[Option<&str>],
        &prices as &[Option<i64>],
        &kinds as &[Option<&str>],
        job.kind.as_str(),
        jobs::WATCH.as_str(),
        watch_after.map_or(0.0, |after| after.as_secs_f64() * 1000.0),
        watch_after.is_some(),
    )
    .fetch_optional(conn)
    .await?;
    Ok(settled)
}

/// Marks a registration refused by UiTPAS: nothing of it was registered.
pub async fn mark_rejected(
    tx: &mut PgConnection,
    registration_id: Uuid,
    problem: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE ticket_sales SET status = 'rejected' WHERE registration_id = $1 AND status = 'pending'",
        registration_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"UPDATE registrations SET status = 'rejected', problem = $2, updated_at = now()
           WHERE id = $1 AND status = 'pending'"#,
        registration_id,
        problem
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Asks for a cancellation: a registered sale becomes cancelling. The sale's status before, or
/// `None` when there is no such sale. Locks the row for the rest of the transaction.
pub async fn begin_cancel(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<SaleStatus>> {
    let status = sqlx::query_scalar!(
        r#"SELECT status AS "status: SaleStatus" FROM ticket_sales WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(status) = status else {
        return Ok(None);
    };
    if status == SaleStatus::Registered {
        sqlx::query!(
            "UPDATE ticket_sales SET status = 'cancelling', cancel_requested_at = now() WHERE id = $1",
            id
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(Some(status))
}

/// A cancellation given up by a person: the sale is registered again.
pub async fn undo_cancel(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE ticket_sales SET status = 'registered', cancel_requested_at = NULL WHERE id = $1 AND status = 'cancelling'",
        id
    )
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn mark_cancelled(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE ticket_sales SET status = 'cancelled', cancelled_at = now() WHERE id = $1 AND status = 'cancelling'",
        id
    )
    .execute(tx)
    .await?;
    Ok(())
}
