//! The ledger's SQL, in small functions that take a connection or a transaction. Every query is
//! checked against the schema at compile time (`query!`, offline data in `.sqlx/`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{JobKind, NewTicketSale, RegistrationStatus, SaleStatus, TicketSaleRow};

/// A registration as stored, without its ticket sales.
#[derive(Debug, Clone)]
pub struct RegistrationRow {
    pub id: Uuid,
    pub idempotency_key: String,
    pub request: serde_json::Value,
    pub order_id: String,
    pub status: RegistrationStatus,
    pub problem: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// A claimed job: `attempts` is the fencing token of this claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub kind: JobKind,
    pub subject_id: Uuid,
    pub attempts: i32,
}

/// Inserts a registration unless its idempotency key exists; `false` when it did.
pub async fn insert_registration(
    tx: &mut PgConnection,
    id: Uuid,
    idempotency_key: &str,
    request: &serde_json::Value,
    order_id: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO registrations (id, idempotency_key, request, order_id, status)
           VALUES ($1, $2, $3, $4, 'pending')
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id"#,
        id,
        idempotency_key,
        request,
        order_id
    )
    .fetch_optional(tx)
    .await?;
    Ok(inserted.is_some())
}

/// Inserts the ticket sales of a new registration, all pending, in one statement.
pub async fn insert_ticket_sales(
    tx: &mut PgConnection,
    registration_id: Uuid,
    sales: &[NewTicketSale],
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = sales.iter().map(|s| s.id).collect();
    let positions: Vec<i32> = sales.iter().map(|s| s.position).collect();
    let tickets: Vec<i32> = sales.iter().map(|s| s.ticket_index).collect();
    let events: Vec<String> = sales.iter().map(|s| s.event_id.clone()).collect();
    let numbers: Vec<String> = sales.iter().map(|s| s.uitpas_number.clone()).collect();
    let tariffs: Vec<String> = sales.iter().map(|s| s.tariff_id.clone()).collect();
    let prices: Vec<i64> = sales.iter().map(|s| s.regular_price_cents).collect();
    let labels: Vec<Option<String>> = sales.iter().map(|s| s.regular_price_label.clone()).collect();
    let externals: Vec<Option<String>> = sales.iter().map(|s| s.external_id.clone()).collect();
    let paid: Vec<Option<i64>> = sales.iter().map(|s| s.paid_price_cents).collect();
    let vat: Vec<Option<f64>> = sales.iter().map(|s| s.vat).collect();
    sqlx::query!(
        r#"INSERT INTO ticket_sales (id, registration_id, position, ticket_index, event_id, uitpas_number,
                                     tariff_id, regular_price_cents, regular_price_label, external_id,
                                     paid_price_cents, vat, status)
           SELECT u.id, $1, u.position, u.ticket_index, u.event_id, u.uitpas_number, u.tariff_id,
                  u.regular_price_cents, u.regular_price_label, u.external_id, u.paid_price_cents, u.vat,
                  'pending'
           FROM UNNEST($2::uuid[], $3::int4[], $4::int4[], $5::text[], $6::text[], $7::text[], $8::int8[],
                       $9::text[], $10::text[], $11::int8[], $12::float8[])
                AS u(id, position, ticket_index, event_id, uitpas_number, tariff_id, regular_price_cents,
                     regular_price_label, external_id, paid_price_cents, vat)"#,
        registration_id,
        &ids,
        &positions,
        &tickets,
        &events,
        &numbers,
        &tariffs,
        &prices,
        &labels as &[Option<String>],
        &externals as &[Option<String>],
        &paid as &[Option<i64>],
        &vat as &[Option<f64>],
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Adds a job, leased to the caller for `lease_ms` (it is about to do the call itself) with
/// `attempts` 1, or due at once and unleased when `lease_ms` is 0.
pub async fn insert_job(tx: &mut PgConnection, kind: JobKind, subject_id: Uuid, lease_ms: i64) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO jobs (kind, subject_id, attempts, locked_until)
           VALUES ($1, $2, CASE WHEN $3 > 0 THEN 1 ELSE 0 END,
                   CASE WHEN $3 > 0 THEN now() + make_interval(secs => $3 / 1000.0) END)
           ON CONFLICT (kind, subject_id) DO NOTHING"#,
        kind.as_str(),
        subject_id,
        lease_ms as f64
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// A registration by id or by idempotency key (one of the two).
async fn find_registration(
    pool: &PgPool,
    id: Option<Uuid>,
    key: Option<&str>,
) -> sqlx::Result<Option<RegistrationRow>> {
    let row = sqlx::query!(
        r#"SELECT id, idempotency_key, request, order_id, status, problem, created_at
           FROM registrations
           WHERE ($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR idempotency_key = $2)
           LIMIT 1"#,
        id,
        key
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| RegistrationRow {
        id: r.id,
        idempotency_key: r.idempotency_key,
        request: r.request,
        order_id: r.order_id,
        status: RegistrationStatus::parse(&r.status),
        problem: r.problem,
        created_at: r.created_at,
    }))
}

pub async fn registration_by_key(pool: &PgPool, key: &str) -> sqlx::Result<Option<RegistrationRow>> {
    find_registration(pool, None, Some(key)).await
}

pub async fn registration(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<RegistrationRow>> {
    find_registration(pool, Some(id), None).await
}

/// Ticket sales by id or by registration (one of the two), in batch order.
async fn find_sales(
    conn: &mut PgConnection,
    id: Option<Uuid>,
    registration_id: Option<Uuid>,
) -> sqlx::Result<Vec<TicketSaleRow>> {
    sqlx::query_as!(
        TicketSaleRow,
        r#"SELECT t.id, t.registration_id, r.order_id, t.position, t.ticket_index, t.event_id, t.uitpas_number,
                  t.tariff_id, t.tariff_name, t.tariff_price_cents, t.tariff_type, t.regular_price_cents,
                  t.regular_price_label, t.external_id, t.paid_price_cents, t.vat, t.uitpas_ticket_sale_id,
                  t.status, t.created_at, t.registered_at, t.cancelled_at, t.checked_in_at
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE ($1::uuid IS NULL OR t.id = $1) AND ($2::uuid IS NULL OR t.registration_id = $2)
           ORDER BY t.position"#,
        id,
        registration_id
    )
    .fetch_all(conn)
    .await
}

/// The ticket sales of a registration, in batch order.
pub async fn sales_of_registration(conn: &mut PgConnection, registration_id: Uuid) -> sqlx::Result<Vec<TicketSaleRow>> {
    find_sales(conn, None, Some(registration_id)).await
}

pub async fn ticket_sale(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<TicketSaleRow>> {
    Ok(find_sales(conn, Some(id), None).await?.into_iter().next())
}

/// Search filters of `GET /v1/ticket-sales`; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct SaleFilter {
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
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!"
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE ($1::text IS NULL OR r.order_id = $1) AND ($2::text IS NULL OR t.uitpas_number = $2)
             AND ($3::text IS NULL OR t.event_id = $3) AND ($4::text IS NULL OR t.status = $4)
             AND ($5::timestamptz IS NULL OR t.created_at >= $5) AND ($6::timestamptz IS NULL OR t.created_at < $6)"#,
        filter.order_id,
        filter.uitpas_number,
        filter.event_id,
        status,
        filter.from,
        filter.to
    )
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as!(
        TicketSaleRow,
        r#"SELECT t.id, t.registration_id, r.order_id, t.position, t.ticket_index, t.event_id, t.uitpas_number,
                  t.tariff_id, t.tariff_name, t.tariff_price_cents, t.tariff_type, t.regular_price_cents,
                  t.regular_price_label, t.external_id, t.paid_price_cents, t.vat, t.uitpas_ticket_sale_id,
                  t.status, t.created_at, t.registered_at, t.cancelled_at, t.checked_in_at
           FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
           WHERE ($1::text IS NULL OR r.order_id = $1) AND ($2::text IS NULL OR t.uitpas_number = $2)
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
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok((total, rows))
}

/// Which of these UiTPAS ticket-sale ids the ledger already knows.
pub async fn known_uitpas_ids(conn: &mut PgConnection, ids: &[String]) -> sqlx::Result<Vec<String>> {
    let known = sqlx::query_scalar!(
        r#"SELECT uitpas_ticket_sale_id AS "id!" FROM ticket_sales WHERE uitpas_ticket_sale_id = ANY($1)"#,
        ids
    )
    .fetch_all(conn)
    .await?;
    Ok(known)
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

/// Records the UiTPAS ids of a registration's sales and marks it registered.
pub async fn mark_registered(
    tx: &mut PgConnection,
    registration_id: Uuid,
    confirmations: &[Confirmation],
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = confirmations.iter().map(|c| c.ticket_sale_id).collect();
    let uitpas_ids: Vec<String> = confirmations.iter().map(|c| c.uitpas_ticket_sale_id.clone()).collect();
    let names: Vec<Option<String>> = confirmations.iter().map(|c| c.tariff_name.clone()).collect();
    let prices: Vec<Option<i64>> = confirmations.iter().map(|c| c.tariff_price_cents).collect();
    let kinds: Vec<Option<String>> = confirmations.iter().map(|c| c.tariff_type.clone()).collect();
    sqlx::query!(
        r#"UPDATE ticket_sales t
           SET uitpas_ticket_sale_id = u.uitpas_id, tariff_name = u.name, tariff_price_cents = u.price,
               tariff_type = u.kind, status = 'registered', registered_at = now()
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[]) AS u(id, uitpas_id, name, price, kind)
           WHERE t.id = u.id AND t.registration_id = $6 AND t.status = 'pending'"#,
        &ids,
        &uitpas_ids,
        &names as &[Option<String>],
        &prices as &[Option<i64>],
        &kinds as &[Option<String>],
        registration_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE registrations SET status = 'registered', updated_at = now() WHERE id = $1 AND status = 'pending'",
        registration_id
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
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
    let status = sqlx::query_scalar!("SELECT status FROM ticket_sales WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(status) = status.map(|s| SaleStatus::parse(&s)) else {
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

pub async fn mark_cancelled(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE ticket_sales SET status = 'cancelled', cancelled_at = now() WHERE id = $1 AND status = 'cancelling'",
        id
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Begins the transaction that settles a job from UiTPAS's answer, with an asynchronous commit.
///
/// Safe because the job row is deleted in the same transaction: if a crash loses this commit, the
/// job is still there, its lease expires, and the next attempt settles it again by looking at
/// UiTPAS (adopting the sales it has). Only the intent, stored before UiTPAS is called, needs the
/// synchronous commit; this halves the disk flushes of a registration.
pub async fn begin_settlement(pool: &PgPool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Deletes a settled job, if this claim (`attempts`) still holds it. `false`: another worker has
/// taken it over since, and the caller must not record anything.
pub async fn finish_job(tx: &mut PgConnection, job: Job) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "DELETE FROM jobs WHERE kind = $1 AND subject_id = $2 AND attempts = $3",
        job.kind.as_str(),
        job.subject_id,
        job.attempts
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a job back after an attempt that settled nothing: due again after `delay_ms`.
pub async fn release_job(pool: &PgPool, job: Job, delay_ms: i64, error: &str) -> sqlx::Result<bool> {
    let released = sqlx::query!(
        r#"UPDATE jobs SET locked_until = NULL, due_at = now() + make_interval(secs => $4 / 1000.0), last_error = $5
           WHERE kind = $1 AND subject_id = $2 AND attempts = $3"#,
        job.kind.as_str(),
        job.subject_id,
        job.attempts,
        delay_ms as f64,
        error
    )
    .execute(pool)
    .await?;
    Ok(released.rows_affected() == 1)
}

/// Claims up to `limit` jobs due before `due_before`, leasing them for `lease_ms`. The row locks
/// last only for this statement: the HTTP calls happen after it, under the lease.
pub async fn claim_jobs(pool: &PgPool, limit: i64, lease_ms: i64, due_before: DateTime<Utc>) -> sqlx::Result<Vec<Job>> {
    let rows = sqlx::query!(
        r#"UPDATE jobs SET attempts = attempts + 1, locked_until = now() + make_interval(secs => $2 / 1000.0)
           WHERE id IN (SELECT id FROM jobs
                        WHERE due_at <= $3 AND (locked_until IS NULL OR locked_until < now())
                        ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING kind, subject_id, attempts"#,
        limit,
        lease_ms as f64,
        due_before
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Job {
                kind: JobKind::parse(&r.kind)?,
                subject_id: r.subject_id,
                attempts: r.attempts,
            })
        })
        .collect())
}

/// Whether someone holds a lease on this job now (a call to UiTPAS is in flight).
pub async fn job_in_flight(pool: &PgPool, kind: JobKind, subject_id: Uuid) -> sqlx::Result<bool> {
    let leased = sqlx::query_scalar!(
        r#"SELECT coalesce(locked_until > now(), false) AS "leased!" FROM jobs WHERE kind = $1 AND subject_id = $2"#,
        kind.as_str(),
        subject_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(leased.unwrap_or(false))
}

/// How many jobs wait, for metrics and tests.
pub async fn pending_jobs(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM jobs"#)
        .fetch_one(pool)
        .await
}

/// Records a check-in of a registered sale; `false` when the sale is not (or no longer) registered.
pub async fn mark_checked_in(pool: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE ticket_sales SET checked_in_at = coalesce(checked_in_at, now())
           WHERE id = $1 AND status = 'registered'"#,
        id
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether another sale of this pass was checked in at this event since `since`.
pub async fn checked_in_since(
    pool: &PgPool,
    uitpas_number: &str,
    event_id: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM ticket_sales
                          WHERE uitpas_number = $1 AND event_id = $2 AND checked_in_at >= $3) AS "exists!""#,
        uitpas_number,
        event_id,
        since
    )
    .fetch_one(pool)
    .await
}
