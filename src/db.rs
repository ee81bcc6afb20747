//! PostgreSQL: the pool, creating the database when it does not exist yet (so `cargo run` works on a
//! fresh machine), migrations at start, the readiness check, and telling an outage (answered 503)
//! and a dead pooled connection (tried again on a new one) from other database errors.

use std::future::Future;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

/// The migrations of this build, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects and applies the migrations. A missing database is created when `create_missing`
/// (development: `cargo run` on a fresh machine), and is an error otherwise (production: a typo in
/// the name must not start the service on a new, empty database). Every error names
/// `DATABASE_URL` and what was tried (host, port, database, user), never the password.
pub async fn connect_and_migrate(url: &str, pool_size: u32, create_missing: bool) -> anyhow::Result<PgPool> {
    // sqlx's parse errors never quote the URL (which may hold a password).
    let options = PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let name = database_name(&options).to_owned();
    if create_missing {
        create_if_missing(&options, &name).await?;
    }
    let pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(ping_if_idle)
        .connect_with(options.clone())
        .await
        .map_err(|e| {
            if let sqlx::Error::Database(db) = &e
                && db.code().as_deref() == Some(INVALID_CATALOG_NAME)
            {
                anyhow::anyhow!(
                    "DATABASE_URL names the database {name:?}, which does not exist on {}:{}; \
                     APP_ENV=production never creates it: create it, or correct the name",
                    options.get_host(),
                    options.get_port()
                )
            } else {
                anyhow::Error::new(e).context(format!("DATABASE_URL: cannot connect to {}", target(&options, &name)))
            }
        })?;
    migrate(&pool)
        .await
        .with_context(|| format!("cannot apply the database migrations to {}", target(&options, &name)))?;
    Ok(pool)
}

/// Applies the migrations not applied yet, on one connection whose commits do not wait for the
/// disk (`synchronous_commit = off`).
///
/// sqlx commits each migration, then records its duration in a second commit: two waits for
/// `fsync` per migration, 50 on a new database. On a busy disk (the end of `bench/run`) they were
/// more than a quarter of a fresh start (178 of 650 ms). Waiting is not needed for them to be
/// safe. A commit that does not wait is still atomic and in order: a crash may lose only the last
/// ones, whole, and the next start applies them again. And the first commit that waits (any of
/// the service's own) writes the log up to itself, the migrations before it included, so nothing
/// the service stores can outlive the schema it was stored in.
async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SET synchronous_commit = off").execute(&mut *conn).await?;
    let migrated = MIGRATOR.run(&mut *conn).await;
    let reset = sqlx::query("RESET synchronous_commit").execute(&mut *conn).await;
    if migrated.is_err() || reset.is_err() {
        // The connection may still have the setting: it must not serve anything else.
        conn.close_on_drop();
    }
    migrated?;
    reset?;
    Ok(())
}

/// Begins a transaction on a connection of `pool`, in a task of its own: the only way this service
/// begins one (clippy's `disallowed-methods` refuses sqlx's own `begin`).
///
/// Why: sqlx 0.8.6 counts a transaction only once PostgreSQL has answered its `BEGIN`. A caller
/// dropped in between (a client that hangs up, a job attempt cut off at its deadline, a slow
/// PostgreSQL) leaves the connection inside a transaction sqlx does not know of, and the pool
/// hands it on: the next borrower's single-statement writes join that transaction, are answered
/// as done, are invisible to every other connection, and are lost when it ends in a rollback or
/// the connection dies (sqlx issue 4393, fixed in sqlx 0.9.1). In a task of its own the `BEGIN`
/// always runs to its answer; when no one waits for the transaction any more, the task drops it,
/// which rolls it back before the connection goes back to the pool.
pub async fn begin(pool: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    let pool = pool.clone();
    #[allow(clippy::disallowed_methods)]
    let begun = tokio::spawn(async move { pool.begin().await }).await;
    match begun {
        Ok(begun) => begun,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only when the runtime shuts down.
        Err(_) => Err(sqlx::Error::PoolClosed),
    }
}

/// PostgreSQL's "database does not exist".
const INVALID_CATALOG_NAME: &str = "3D000";

/// The database a connection goes to: the URL's, else PostgreSQL's default, the user's name.
fn database_name(options: &PgConnectOptions) -> &str {
    options.get_database().unwrap_or(options.get_username())
}

/// Where a connection goes, for messages: host, port, database and user; never the password.
fn target(options: &PgConnectOptions, database: &str) -> String {
    format!(
        "PostgreSQL at {}:{} (database {database:?}, user {:?})",
        options.get_host(),
        options.get_port(),
        options.get_username()
    )
}

/// How long a pooled connection may sit idle before it is checked with a ping when taken.
const PING_AFTER_IDLE: Duration = Duration::from_secs(5);

/// Checks a pooled connection before use only when it has been idle a while (PostgreSQL may have
/// restarted since): sqlx's default, a ping before every use, doubled the round trips of every
/// statement under load. A connection that fails the ping is closed and another one taken.
///
/// A connection opened before the last dead connection was seen ([`note_dead_connection`]) is
/// closed instead of used: when PostgreSQL restarts, every connection it had is dead at once, and
/// the first error is the only sign of it that costs nothing. Closing them all (each is replaced
/// by a new connection, a few milliseconds, once) rather than pinging them keeps a blackholed
/// connection from stalling the request that takes it.
pub fn ping_if_idle(
    conn: &mut PgConnection,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> futures::future::BoxFuture<'_, sqlx::Result<bool>> {
    Box::pin(async move {
        if opened_before_dead_connection(meta.age) {
            return Ok(false);
        }
        if meta.idle_for >= PING_AFTER_IDLE {
            conn.ping().await?;
        }
        Ok(true)
    })
}

/// When a dead connection was last seen, in nanoseconds after [`epoch`]; 0: never.
///
/// One per process rather than per pool: every pool shares [`ping_if_idle`] and the server, and a
/// restart kills the connections of all of them. (Tests run many apps in one process; there a
/// sighting only makes the others reconnect once.)
static DEAD_CONNECTION_SEEN: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Records that a pooled connection was found dead: every connection opened before now is closed
/// when it is next taken from a pool.
pub fn note_dead_connection() {
    let nanos = u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX);
    DEAD_CONNECTION_SEEN.fetch_max(nanos.max(1), Ordering::Relaxed);
}

/// Whether a connection of this age was opened before the last dead connection was seen.
fn opened_before_dead_connection(age: Duration) -> bool {
    let seen = DEAD_CONNECTION_SEEN.load(Ordering::Relaxed);
    if seen == 0 {
        return false;
    }
    let now = epoch().elapsed();
    now.saturating_sub(age) <= Duration::from_nanos(seen)
}

/// Whether an error shows that the connection it happened on is dead: its socket failed, or
/// PostgreSQL said it was ending the session (shut down, crashed, idle too long, or a connection
/// failure). Nothing of the failed statement is committed then, except in the rare case where the
/// connection died after a COMMIT was sent and before its answer came.
pub fn is_dead_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P05")),
        _ => false,
    }
}

/// Whether an error means PostgreSQL cannot be used right now (the request may succeed later):
/// a dead connection, no connection within the pool's acquire timeout, the pool closed, a
/// connection that could not be opened, PostgreSQL refusing connections (starting up, shutting
/// down) or lacking resources (a full disk, too many connections: [`lacks_resources`]).
pub fn is_unavailable(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .any(|e| {
            is_dead_connection(e)
                || matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
            // What sqlx says when the server hangs up while a connection is opened (e.g.
            // "unexpected response from SSLRequest").
            || matches!(e, sqlx::Error::Protocol(_))
                || matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| lacks_resources(&c) || c == "57P03"))
        })
}

/// PostgreSQL's class 53, "insufficient resources": a full disk (53100), out of memory (53200),
/// too many connections (53300), a configuration limit (53400). Nothing was written, and a later
/// try may succeed.
fn lacks_resources(code: &str) -> bool {
    code.starts_with("53")
}

/// Runs `operation` and, when it failed on a dead connection, once more on fresh connections.
///
/// Why a retry rather than a ping before every use (the round trip on every statement that was
/// removed for throughput) or waiting for [`PING_AFTER_IDLE`]: right after PostgreSQL restarts,
/// every pooled connection is dead but looks fine, and nothing tells until one is used. The first
/// failure marks them all ([`note_dead_connection`]), so the second attempt runs on new connections
/// and the caller never sees the restart. Safe for the operations it wraps because each is
/// idempotent by design (reads, and writes keyed by an Idempotency-Key, a shop activity id or a
/// ticket sale id): running one twice is what a client retrying after a 503 would do.
pub async fn retry_on_dead_connection<T, F, Fut>(mut operation: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    match operation().await {
        Err(e)
            if e.chain()
                .filter_map(|c| c.downcast_ref::<sqlx::Error>())
                .any(is_dead_connection) =>
        {
            note_dead_connection();
            tracing::warn!(
                error = format!("{e:#}"),
                "a pooled connection was dead; trying again on a new one"
            );
            operation().await
        }
        done => done,
    }
}

async fn create_if_missing(options: &PgConnectOptions, name: &str) -> anyhow::Result<()> {
    if name == "postgres" {
        return Ok(());
    }
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .with_context(|| {
            format!(
                "DATABASE_URL: cannot connect to {}, to check that the database {name:?} exists",
                target(options, "postgres")
            )
        })?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut admin)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created the database (APP_ENV=development)"),
            // Another replica created it at the same moment.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "DATABASE_URL: cannot create the database {name:?} on {}",
                        target(options, "postgres")
                    )
                });
            }
        }
    }
    let _ = admin.close().await;
    Ok(())
}

/// Ready when the database answers and every migration of this build is applied.
pub async fn ready(pool: &PgPool) -> anyhow::Result<()> {
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .context("cannot read the applied migrations")?;
    let known = MIGRATOR.iter().count() as i64;
    anyhow::ensure!(applied >= known, "{applied} of {known} migrations applied");
    Ok(())
}
