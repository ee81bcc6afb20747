//! PostgreSQL: the pool, creating the database when it does not exist yet (so `cargo run` works on a
//! fresh machine), migrations at start, and the readiness check.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

/// The migrations of this build, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects and applies the migrations. A missing database is created when `create_missing`
/// (development: `cargo run` on a fresh machine), and is an error otherwise (production: a typo in
/// the name must not start the service on a new, empty database). Every error names
/// `DATABASE_URL` and what was tried (host, port, database, user), never the password.
pub async fn connect_and_migrate(url: &str, create_missing: bool) -> anyhow::Result<PgPool> {
    // sqlx's parse errors never quote the URL (which may hold a password).
    let options = PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let name = database_name(&options).to_owned();
    if create_missing {
        create_if_missing(&options, &name).await?;
    }
    let pool = PgPoolOptions::new()
        .max_connections(16)
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
    MIGRATOR
        .run(&pool)
        .await
        .with_context(|| format!("cannot apply the database migrations to {}", target(&options, &name)))?;
    Ok(pool)
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
pub fn ping_if_idle(
    conn: &mut PgConnection,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> futures::future::BoxFuture<'_, sqlx::Result<bool>> {
    Box::pin(async move {
        if meta.idle_for >= PING_AFTER_IDLE {
            conn.ping().await?;
        }
        Ok(true)
    })
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
