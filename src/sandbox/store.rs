//! The embedded sandbox's memory in PostgreSQL, so that a development run answers the same after a
//! restart: the service's ledger survives one, and an embedded sandbox that forgot the events,
//! sales, check-ins and redeemed rewards it holds would contradict it (an event created through the Entry API
//! becomes `event-not-found`, a limit used up is free again).
//!
//! Only the embedded sandbox of the service uses it (`cargo run` without UiTPAS credentials), in
//! the schema `uitpas_sandbox` of the service's own database. The standalone `uitpas-sandbox` and
//! the sandboxes of tests and benchmarks stay in memory. Tokens, counters, faults and replaced
//! client permissions are not kept: a restarted service fetches a new token, and a fault or a
//! revoked permission is for the run that set it.
//!
//! The schema is made here rather than by the service's migrations: it exists only where the
//! embedded sandbox runs, never in a production database. The queries are therefore checked at
//! run time (`sqlx::query`), not at compile time against the migrated schema.
//!
//! Every change is written before the sandbox answers the request that made it. Writes are
//! idempotent and independent of their order (a cancellation writes the whole sale), because two
//! requests may write at the same time in another order than they changed the memory.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Row};

use super::dataset::{CARD_SYSTEMS, EventData, Limit, Period};
use super::state::{Checkin, Redemption, Sale, SaleStatus, Tariff, TariffType};

/// When a check-in is allowed at an event, as stored: `[[start, end], …]`.
type Windows = Json<Vec<(DateTime<Utc>, DateTime<Utc>)>>;

/// What the store held at start.
#[derive(Debug, Default)]
pub struct Kept {
    pub events: Vec<EventData>,
    /// Oldest first.
    pub sales: Vec<Sale>,
    pub checkins: Vec<Checkin>,
    /// Oldest first, cancelled ones included.
    pub redemptions: Vec<Redemption>,
    /// Changes of balances made by `PUT /_sandbox/passes/{uitpasNumber}/points`: (number, change).
    pub points_changes: Vec<(String, i64)>,
}

/// A change of the sandbox's memory, to be written before answering.
pub enum Change<'a> {
    Event(&'a EventData),
    Sales(&'a [Sale]),
    Cancelled(&'a Sale),
    Checkin(&'a Checkin),
    /// A check-in undone (`DELETE /checkins/{id}`).
    CheckinDeleted(&'a Checkin),
    Redeemed(&'a Redemption),
    /// A redemption cancelled (`DELETE /rewards/redeemed/{id}`): its points given back.
    RedemptionCancelled(&'a Redemption),
    /// A balance set: kept as the change it made, so that the order of writes does not matter.
    PointsChanged {
        id: &'a str,
        uitpas_number: &'a str,
        change: i64,
    },
}

#[derive(Debug, Clone)]
pub struct Store {
    db: PgPool,
}

const SCHEMA: &str = r"
CREATE SCHEMA IF NOT EXISTS uitpas_sandbox;
COMMENT ON SCHEMA uitpas_sandbox IS
    'The embedded UiTPAS sandbox of a development run (src/sandbox/store.rs); never used in production';
-- Events created through the Entry API (the dataset's own events are built in).
CREATE TABLE IF NOT EXISTS uitpas_sandbox.events (
    id text PRIMARY KEY,
    name text NOT NULL,
    card_system_ids bigint[] NOT NULL,
    social_limit_max integer NOT NULL,
    social_limit_period text NOT NULL,
    checkin_windows jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE uitpas_sandbox.events ADD COLUMN IF NOT EXISTS organizer text;
CREATE TABLE IF NOT EXISTS uitpas_sandbox.ticket_sales (
    id text PRIMARY KEY,
    -- The order of creation within one created_at (a batch).
    seq bigint NOT NULL,
    event_id text NOT NULL,
    uitpas_number text NOT NULL,
    tariff_id text NOT NULL,
    tariff_name text NOT NULL,
    tariff_price_cents bigint NOT NULL,
    tariff_type text NOT NULL,
    regular_price_cents bigint NOT NULL,
    regular_price_label text,
    status text NOT NULL,
    created_at timestamptz NOT NULL
);
-- A passholder's points are those of the dataset plus one per check-in.
CREATE TABLE IF NOT EXISTS uitpas_sandbox.checkins (
    id text PRIMARY KEY,
    event_id text NOT NULL,
    uitpas_number text NOT NULL,
    created_at timestamptz NOT NULL
);
-- An undone check-in is kept, marked, so that its deletion does not depend on the order of writes.
ALTER TABLE uitpas_sandbox.checkins ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
-- Rewards redeemed with points; a cancelled one is kept, marked, and gives its points back.
CREATE TABLE IF NOT EXISTS uitpas_sandbox.redeemed_rewards (
    id text PRIMARY KEY,
    reward_id text NOT NULL,
    uitpas_number text NOT NULL,
    points bigint NOT NULL,
    redeem_code text,
    redeemed_at timestamptz NOT NULL,
    cancelled_at timestamptz
);
-- Balances set by a test hook, as the change each made.
CREATE TABLE IF NOT EXISTS uitpas_sandbox.points_changes (
    id text PRIMARY KEY,
    uitpas_number text NOT NULL,
    delta bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
";

/// Serialises the schema's creation between services starting at once on one database.
const SCHEMA_LOCK: i64 = 0x7569_7470_7362_7831; // "uitpsbx1"

impl Store {
    /// Makes the schema when missing and reads what it holds.
    pub async fn open(db: PgPool) -> anyhow::Result<(Store, Kept)> {
        let mut tx = crate::db::begin(&db).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(SCHEMA)
            .execute(&mut *tx)
            .await
            .context("cannot make the schema uitpas_sandbox")?;
        tx.commit().await?;
        let store = Store { db };
        let kept = store.load().await.context("cannot read the schema uitpas_sandbox")?;
        Ok((store, kept))
    }

    async fn load(&self) -> anyhow::Result<Kept> {
        let mut kept = Kept::default();
        for row in sqlx::query(
            "SELECT id, name, organizer, card_system_ids, social_limit_max, social_limit_period, checkin_windows
             FROM uitpas_sandbox.events ORDER BY created_at, id",
        )
        .fetch_all(&self.db)
        .await?
        {
            let ids: Vec<i64> = row.try_get("card_system_ids")?;
            let max: i32 = row.try_get("social_limit_max")?;
            let windows: Option<Windows> = row.try_get("checkin_windows")?;
            kept.events.push(EventData {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                organizer: row.try_get("organizer")?,
                card_systems: CARD_SYSTEMS.into_iter().filter(|cs| ids.contains(&cs.id)).collect(),
                social_limit: Limit {
                    max: u32::try_from(max).unwrap_or(0),
                    period: period_from(row.try_get("social_limit_period")?)?,
                },
                checkin_windows: windows.map(|w| w.0),
            });
        }
        for row in sqlx::query(
            "SELECT seq, id, event_id, uitpas_number, tariff_id, tariff_name, tariff_price_cents, tariff_type,
                    regular_price_cents, regular_price_label, status, created_at
             FROM uitpas_sandbox.ticket_sales ORDER BY created_at, seq",
        )
        .fetch_all(&self.db)
        .await?
        {
            kept.sales.push(Sale {
                seq: row.try_get("seq")?,
                id: row.try_get("id")?,
                event_id: row.try_get("event_id")?,
                uitpas_number: row.try_get("uitpas_number")?,
                tariff: Tariff {
                    id: row.try_get("tariff_id")?,
                    name: row.try_get("tariff_name")?,
                    price_cents: row.try_get("tariff_price_cents")?,
                    kind: match row.try_get::<&str, _>("tariff_type")? {
                        "SOCIALTARIFF" => TariffType::Socialtariff,
                        "COUPON" => TariffType::Coupon,
                        other => anyhow::bail!("a stored sale of an unknown tariff type {other:?}"),
                    },
                },
                regular_price_cents: row.try_get("regular_price_cents")?,
                regular_price_label: row.try_get("regular_price_label")?,
                status: match row.try_get::<&str, _>("status")? {
                    "ACTIVE" => SaleStatus::Active,
                    "CANCELLED" => SaleStatus::Cancelled,
                    other => anyhow::bail!("a stored sale of an unknown status {other:?}"),
                },
                created_at: row.try_get("created_at")?,
            });
        }
        for row in sqlx::query(
            "SELECT id, event_id, uitpas_number, created_at FROM uitpas_sandbox.checkins
             WHERE deleted_at IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&self.db)
        .await?
        {
            kept.checkins.push(Checkin {
                id: row.try_get("id")?,
                event_id: row.try_get("event_id")?,
                uitpas_number: row.try_get("uitpas_number")?,
                at: row.try_get("created_at")?,
            });
        }
        for row in sqlx::query(
            "SELECT id, reward_id, uitpas_number, points, redeem_code, redeemed_at, cancelled_at
             FROM uitpas_sandbox.redeemed_rewards ORDER BY redeemed_at, id",
        )
        .fetch_all(&self.db)
        .await?
        {
            kept.redemptions.push(Redemption {
                id: row.try_get("id")?,
                reward_id: row.try_get("reward_id")?,
                uitpas_number: row.try_get("uitpas_number")?,
                points: row.try_get("points")?,
                redeem_code: row.try_get("redeem_code")?,
                at: row.try_get("redeemed_at")?,
                cancelled_at: row.try_get("cancelled_at")?,
            });
        }
        for row in sqlx::query("SELECT uitpas_number, delta FROM uitpas_sandbox.points_changes ORDER BY created_at, id")
            .fetch_all(&self.db)
            .await?
        {
            kept.points_changes
                .push((row.try_get("uitpas_number")?, row.try_get("delta")?));
        }
        Ok(kept)
    }

    /// Writes one change.
    pub async fn write(&self, change: Change<'_>) -> sqlx::Result<()> {
        match change {
            Change::Event(event) => {
                sqlx::query(
                    "INSERT INTO uitpas_sandbox.events
                         (id, name, card_system_ids, social_limit_max, social_limit_period, checkin_windows, organizer)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&event.id)
                .bind(&event.name)
                .bind(event.card_systems.iter().map(|cs| cs.id).collect::<Vec<_>>())
                .bind(i32::try_from(event.social_limit.max).unwrap_or(i32::MAX))
                .bind(period_name(event.social_limit.period))
                .bind(event.checkin_windows.as_ref().map(Json))
                .bind(&event.organizer)
                .execute(&self.db)
                .await?;
            }
            Change::Sales(sales) => {
                let mut tx = crate::db::begin(&self.db).await?;
                for sale in sales {
                    insert_sale(&mut tx, sale).await?;
                }
                tx.commit().await?;
            }
            Change::Cancelled(sale) => {
                let mut tx = crate::db::begin(&self.db).await?;
                insert_sale(&mut tx, sale).await?;
                sqlx::query("UPDATE uitpas_sandbox.ticket_sales SET status = 'CANCELLED' WHERE id = $1")
                    .bind(&sale.id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Change::Checkin(checkin) => {
                insert_checkin(&self.db, checkin).await?;
            }
            Change::CheckinDeleted(checkin) => {
                let mut tx = crate::db::begin(&self.db).await?;
                insert_checkin(&mut *tx, checkin).await?;
                sqlx::query(
                    "UPDATE uitpas_sandbox.checkins SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(&checkin.id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Change::Redeemed(redemption) => {
                insert_redemption(&self.db, redemption).await?;
            }
            Change::RedemptionCancelled(redemption) => {
                let mut tx = crate::db::begin(&self.db).await?;
                insert_redemption(&mut *tx, redemption).await?;
                sqlx::query(
                    "UPDATE uitpas_sandbox.redeemed_rewards SET cancelled_at = $2
                     WHERE id = $1 AND cancelled_at IS NULL",
                )
                .bind(&redemption.id)
                .bind(redemption.cancelled_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Change::PointsChanged {
                id,
                uitpas_number,
                change,
            } => {
                sqlx::query(
                    "INSERT INTO uitpas_sandbox.points_changes (id, uitpas_number, delta)
                     VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(uitpas_number)
                .bind(change)
                .execute(&self.db)
                .await?;
            }
        }
        Ok(())
    }
}

/// Inserts a redemption unless it is stored already (its cancellation may have written it first).
async fn insert_redemption<'e>(db: impl sqlx::PgExecutor<'e>, redemption: &Redemption) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO uitpas_sandbox.redeemed_rewards
             (id, reward_id, uitpas_number, points, redeem_code, redeemed_at, cancelled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&redemption.id)
    .bind(&redemption.reward_id)
    .bind(&redemption.uitpas_number)
    .bind(redemption.points)
    .bind(&redemption.redeem_code)
    .bind(redemption.at)
    .bind(redemption.cancelled_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Inserts a check-in unless it is stored already (its deletion may have written it first).
async fn insert_checkin<'e>(db: impl sqlx::PgExecutor<'e>, checkin: &Checkin) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO uitpas_sandbox.checkins (id, event_id, uitpas_number, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&checkin.id)
    .bind(&checkin.event_id)
    .bind(&checkin.uitpas_number)
    .bind(checkin.at)
    .execute(db)
    .await?;
    Ok(())
}

/// Inserts a sale unless it is stored already (a cancellation may have written it first).
async fn insert_sale(tx: &mut sqlx::PgConnection, sale: &Sale) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO uitpas_sandbox.ticket_sales
             (id, seq, event_id, uitpas_number, tariff_id, tariff_name, tariff_price_cents, tariff_type,
              regular_price_cents, regular_price_label, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&sale.id)
    .bind(sale.seq)
    .bind(&sale.event_id)
    .bind(&sale.uitpas_number)
    .bind(&sale.tariff.id)
    .bind(&sale.tariff.name)
    .bind(sale.tariff.price_cents)
    .bind(match sale.tariff.kind {
        TariffType::Socialtariff => "SOCIALTARIFF",
        TariffType::Coupon => "COUPON",
    })
    .bind(sale.regular_price_cents)
    .bind(&sale.regular_price_label)
    .bind(match sale.status {
        SaleStatus::Active => "ACTIVE",
        SaleStatus::Cancelled => "CANCELLED",
    })
    .bind(sale.created_at)
    .execute(tx)
    .await?;
    Ok(())
}

fn period_name(period: Period) -> &'static str {
    match period {
        Period::Day => "DAY",
        Period::Week => "WEEK",
        Period::Ever => "EVER",
    }
}

fn period_from(name: &str) -> anyhow::Result<Period> {
    Ok(match name {
        "DAY" => Period::Day,
        "WEEK" => Period::Week,
        "EVER" => Period::Ever,
        other => anyhow::bail!("a stored event with an unknown limit period {other:?}"),
    })
}
