//! What the operators' console reads of the outbox, as typed rows: the work not settled, the jobs
//! of some subjects (a registration and its sales), the registrations search (which says which need attention), and the one
//! write the console makes itself: "retry now" on work that is not parked.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::Kind;

/// A job not settled.
#[derive(Debug)]
pub struct WorkRow {
    pub kind: String,
    pub subject_id: Uuid,
    pub attempts: i32,
    pub due_at: DateTime<Utc>,
    pub parked: bool,
    pub problem: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub age_s: f64,
}

/// Every job that is work to do, oldest first (at most 1000): of the kinds in `parked_only`
/// only the parked ones, of the `timers` only those due or parked (see
/// [`super::job::Listing`]; [`super::Runner::unsettled`] says which kinds are which).
pub async fn unsettled(db: &PgPool, parked_only: &[&str], timers: &[&str]) -> sqlx::Result<Vec<WorkRow>> {
    let parked_only: Vec<String> = parked_only.iter().map(|k| (*k).to_owned()).collect();
    let timers: Vec<String> = timers.iter().map(|k| (*k).to_owned()).collect();
    sqlx::query_as!(
        WorkRow,
        r#"SELECT kind, subject_id, attempts, due_at, parked_at IS NOT NULL AS "parked!", problem, last_error,
                  extract(epoch FROM now() - created_at)::float8 AS "age_s!"
           FROM jobs
           WHERE (parked_at IS NOT NULL OR kind <> ALL($1::text[]))
             AND (parked_at IS NOT NULL OR due_at <= now() OR kind <> ALL($2::text[]))
           ORDER BY created_at
           LIMIT 1000"#,
        &parked_only,
        &timers
    )
    .fetch_all(db)
    .await
}

/// A job of a registration or of one of its sales.
#[derive(Debug)]
pub struct JobRow {
    pub kind: String,
    pub subject_id: Uuid,
    pub attempts: i32,
    pub due_at: DateTime<Utc>,
    pub parked_at: Option<DateTime<Utc>>,
    pub problem: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub open_send_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The jobs of these subjects (a registration and its sales, say), of every kind, oldest first.
pub async fn of_subjects(db: &PgPool, subject_ids: &[Uuid]) -> sqlx::Result<Vec<JobRow>> {
    sqlx::query_as!(
        JobRow,
        r#"SELECT kind, subject_id, attempts, due_at, parked_at, problem, last_error, open_send_at, created_at
           FROM jobs WHERE subject_id = ANY($1)
           ORDER BY created_at"#,
        subject_ids
    )
    .fetch_all(db)
    .await
}

/// The job of one subject, if any.
pub async fn job(db: &PgPool, kind: Kind, subject_id: Uuid) -> sqlx::Result<Option<JobRow>> {
    sqlx::query_as!(
        JobRow,
        r#"SELECT kind, subject_id, attempts, due_at, parked_at, problem, last_error, open_send_at, created_at
           FROM jobs WHERE kind = $1 AND subject_id = $2"#,
        kind.as_str(),
        subject_id
    )
    .fetch_optional(db)
    .await
}

/// Makes work that is not parked due now ("retry now"); its lease, if someone holds it, is left
/// alone. `false`: no such work, or it is parked.
pub async fn make_due_now(db: &PgPool, kind: Kind, subject_id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE jobs SET due_at = now(), updated_at = now()
         WHERE kind = $1 AND subject_id = $2 AND parked_at IS NULL",
        kind.as_str(),
        subject_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The subjects of the parked jobs of `kind` (work waiting for a person), for the owners'
/// searches that show them as needing attention.
pub async fn parked_subjects(db: &PgPool, kind: Kind) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT subject_id FROM jobs WHERE kind = $1 AND parked_at IS NOT NULL",
        kind.as_str()
    )
    .fetch_all(db)
    .await
}
