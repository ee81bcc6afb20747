//! The statements on `reward_redemptions`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::model::{RedemptionRow, StoredStatus};
use crate::ledger::HoldState;
use crate::outbox::views;
use crate::uitpas::RedeemedReward;

/// A redemption about to be stored.
pub struct NewRedemptionRow<'a> {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub idempotency_key: &'a str,
    pub request: &'a serde_json::Value,
    pub reward_id: &'a str,
    pub uitpas_number: &'a str,
    pub order_id: Option<&'a str>,
    /// The registration it is part of (a reward of an order), if any.
    pub registration_id: Option<Uuid>,
    /// A hold before payment, for this many milliseconds.
    pub hold_ms: Option<f64>,
}

/// Stores a new redemption in `tx`; its creation time and when its hold expires, or `None` when
/// the idempotency key is taken. A unique violation on `reward_redemptions_one_pending`: the pass has an unsettled
/// redemption of this reward already ([`is_one_pending`]).
pub async fn insert(
    tx: &mut PgConnection,
    row: &NewRedemptionRow<'_>,
) -> sqlx::Result<Option<(DateTime<Utc>, Option<DateTime<Utc>>)>> {
    let stored = sqlx::query!(
        r#"INSERT INTO reward_redemptions (id, customer_id, idempotency_key, request, reward_id, uitpas_number,
                                           order_id, status, hold_state, hold_expires_at, registration_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending',
                   CASE WHEN $8::float8 IS NULL THEN NULL ELSE 'held' END,
                   now() + make_interval(secs => $8::float8 / 1000), $9)
           ON CONFLICT (customer_id, idempotency_key) DO NOTHING
           RETURNING created_at, hold_expires_at"#,
        row.id,
        row.customer_id,
        row.idempotency_key,
        row.request,
        row.reward_id,
        row.uitpas_number,
        row.order_id,
        row.hold_ms,
        row.registration_id
    )
    .fetch_optional(tx)
    .await?;
    Ok(stored.map(|r| (r.created_at, r.hold_expires_at)))
}

/// Whether `e` says the pass has an unsettled redemption of the reward already.
pub fn is_one_pending(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some("reward_redemptions_one_pending"))
}

macro_rules! select_row {
    ($where:literal, $($arg:expr),+) => {
        sqlx::query_as!(
            RedemptionRow,
            r#"SELECT id, customer_id, request, reward_id, uitpas_number, order_id,
                      status AS "status: StoredStatus", uitpas_redemption_id, reward_title, points,
                      redeem_code, redeem_info, problem, hold_state AS "hold_state: HoldState", hold_expires_at,
                      redeemed_at, cancelled_at, abandoned_at, created_at
               FROM reward_redemptions "# + $where,
            $($arg),+
        )
    };
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RedemptionRow>> {
    select_row!("WHERE id = $1", id).fetch_optional(conn).await
}

/// A redemption, locked for the rest of `tx`.
pub async fn get_for_update(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RedemptionRow>> {
    select_row!("WHERE id = $1 FOR UPDATE", id).fetch_optional(tx).await
}

pub async fn by_key(pool: &PgPool, customer_id: Uuid, key: &str) -> sqlx::Result<Option<RedemptionRow>> {
    select_row!("WHERE customer_id = $1 AND idempotency_key = $2", customer_id, key)
        .fetch_optional(pool)
        .await
}

/// The ids of a customer's redemptions made under these keys, in the order of their keys.
pub async fn ids_by_keys(pool: &PgPool, customer_id: Uuid, keys: &[String]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM reward_redemptions WHERE customer_id = $1 AND idempotency_key = ANY($2)
         ORDER BY idempotency_key",
        customer_id,
        keys
    )
    .fetch_all(pool)
    .await
}

/// When the first redemption of `reward_id` by the pass stored after `after` that is still
/// pending was stored, if there is one.
pub async fn first_pending_after(
    pool: &PgPool,
    uitpas_number: &str,
    reward_id: &str,
    after: DateTime<Utc>,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        "SELECT min(created_at) FROM reward_redemptions
         WHERE uitpas_number = $1 AND reward_id = $2 AND created_at > $3 AND status = 'pending'",
        uitpas_number,
        reward_id,
        after
    )
    .fetch_one(pool)
    .await
}

/// The unsettled redemption of `reward_id` by the pass, if there is one.
pub async fn pending_of(pool: &PgPool, uitpas_number: &str, reward_id: &str) -> sqlx::Result<Option<RedemptionRow>> {
    select_row!(
        "WHERE uitpas_number = $1 AND reward_id = $2 AND status = 'pending'",
        uitpas_number,
        reward_id
    )
    .fetch_optional(pool)
    .await
}

/// A customer's redemptions, newest first, optionally of one pass or one order.
pub async fn list(
    pool: &PgPool,
    customer_id: Uuid,
    uitpas_number: Option<&str>,
    order_id: Option<&str>,
    start: i64,
    limit: i64,
) -> sqlx::Result<(i64, Vec<RedemptionRow>)> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM reward_redemptions
           WHERE customer_id = $1 AND ($2::text IS NULL OR uitpas_number = $2)
             AND ($3::text IS NULL OR order_id = $3)"#,
        customer_id,
        uitpas_number,
        order_id
    )
    .fetch_one(pool)
    .await?;
    let rows = select_row!(
        "WHERE customer_id = $1 AND ($2::text IS NULL OR uitpas_number = $2) AND ($3::text IS NULL OR order_id = $3)
         ORDER BY created_at DESC, id OFFSET $4 LIMIT $5",
        customer_id,
        uitpas_number,
        order_id,
        start,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok((total, rows))
}

/// Which of these UiTPAS redemption ids the ledger records already.
pub async fn known(pool: &PgPool, uitpas_ids: &[String]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"SELECT uitpas_redemption_id AS "id!" FROM reward_redemptions WHERE uitpas_redemption_id = ANY($1)"#,
        uitpas_ids
    )
    .fetch_all(pool)
    .await
}

/// Records what UiTPAS confirmed for a pending redemption, in `tx`: `redeemed`, or `cancelling`
/// when its hold ended meanwhile or a person abandoned it (the caller starts its cancellation). `None` when it is no
/// longer pending.
pub async fn settle_redeemed(
    tx: &mut PgConnection,
    id: Uuid,
    redeemed: &RedeemedReward,
) -> sqlx::Result<Option<StoredStatus>> {
    let info = redeemed
        .redeem_info
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query_scalar!(
        r#"UPDATE reward_redemptions
           SET status = CASE WHEN hold_state IN ('released', 'expired') OR abandoned_at IS NOT NULL THEN 'cancelling'
                             ELSE 'redeemed' END,
               uitpas_redemption_id = $2, reward_title = $3, points = $4,
               redeem_code = $5, redeem_info = $6, redeemed_at = $7, updated_at = now()
           WHERE id = $1 AND status = 'pending'
           RETURNING status AS "status: StoredStatus""#,
        id,
        redeemed.id,
        redeemed.reward.title,
        redeemed.reward.points,
        redeemed.redeem_code,
        info,
        redeemed.redeem_date
    )
    .fetch_optional(tx)
    .await
}

/// Records UiTPAS's refusal of a pending redemption, in `tx`.
pub async fn mark_rejected(tx: &mut PgConnection, id: Uuid, problem: &serde_json::Value) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE reward_redemptions SET status = 'rejected', problem = $2, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
        id,
        problem
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a pending redemption given up by a person, in `tx`, keeping the problem it was parked
/// with: its job settles it ([`super::jobs`]), cancelling at UiTPAS what it finds.
pub async fn mark_abandoned(tx: &mut PgConnection, id: Uuid, problem: &serde_json::Value) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE reward_redemptions SET abandoned_at = now(), problem = $2, updated_at = now()
         WHERE id = $1 AND status = 'pending' AND abandoned_at IS NULL",
        id,
        problem
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives up a cancellation, in `tx`: a `cancelling` redemption is `redeemed` again.
pub async fn undo_cancel(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE reward_redemptions SET status = 'redeemed', updated_at = now() WHERE id = $1 AND status = 'cancelling'",
        id
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Starts cancelling a redemption, in `tx`: a redeemed one becomes `cancelling`. Its status
/// before, locked for the rest of `tx`; `None` when there is none.
pub async fn begin_cancel(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<StoredStatus>> {
    let before = sqlx::query_scalar!(
        r#"SELECT status AS "status: StoredStatus" FROM reward_redemptions WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if before == Some(StoredStatus::Redeemed) {
        sqlx::query!(
            "UPDATE reward_redemptions SET status = 'cancelling', updated_at = now() WHERE id = $1",
            id
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(before)
}

/// Records that UiTPAS cancelled it, in `tx`.
pub async fn mark_cancelled(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE reward_redemptions SET status = 'cancelled', cancelled_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'cancelling'",
        id
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Confirms a hold still held and not expired: `true` when this call confirmed it. One
/// conditional update each for confirming and expiring: a confirm racing the expiry has one
/// winner.
pub async fn confirm_hold(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"UPDATE reward_redemptions SET hold_state = 'confirmed', hold_ended_at = now(), updated_at = now()
           WHERE id = $1 AND hold_state = 'held' AND hold_expires_at > now()"#,
        id
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a hold still held, in `tx`: `expired` only once its time is over, `released` at any time.
/// `true` when this call ended it; a redeemed redemption then becomes `cancelling` (the caller
/// starts its cancellation), a pending one is cancelled when it settles.
pub async fn end_hold(tx: &mut PgConnection, id: Uuid, to: HoldState) -> sqlx::Result<bool> {
    let expired = to == HoldState::Expired;
    let done = sqlx::query!(
        r#"UPDATE reward_redemptions SET hold_state = $2, hold_ended_at = now(), updated_at = now()
           WHERE id = $1 AND hold_state = 'held' AND (NOT $3 OR hold_expires_at <= now())"#,
        id,
        to.as_str(),
        expired
    )
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A redeemed redemption becomes `cancelling`, in `tx`: `true` when it was redeemed.
pub async fn cancel_if_redeemed(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "UPDATE reward_redemptions SET status = 'cancelling', updated_at = now() WHERE id = $1 AND status = 'redeemed'",
        id
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Of one customer's redemptions of one reward: how many are in each state, and the points they
/// spent (of those UiTPAS redeemed and did not cancel).
#[derive(Debug)]
pub struct RewardTally {
    pub customer_id: Uuid,
    pub reward_id: String,
    pub reward_title: Option<String>,
    /// Redeemed at UiTPAS, a hold not yet confirmed included.
    pub redeemed: i64,
    /// Cancelled at UiTPAS, or being cancelled (released and expired holds included).
    pub cancelled: i64,
    /// Not settled with UiTPAS yet (also those waiting for a person).
    pub pending: i64,
    pub rejected: i64,
    pub points: f64,
}

/// Per customer and reward, the tally of the redemptions; of one customer, or of all.
pub async fn tally(pool: &PgPool, customer_id: Option<Uuid>) -> sqlx::Result<Vec<RewardTally>> {
    sqlx::query_as!(
        RewardTally,
        r#"SELECT customer_id, reward_id, max(reward_title) AS reward_title,
                  count(*) FILTER (WHERE status = 'redeemed') AS "redeemed!",
                  count(*) FILTER (WHERE status IN ('cancelling', 'cancelled')) AS "cancelled!",
                  count(*) FILTER (WHERE status = 'pending') AS "pending!",
                  count(*) FILTER (WHERE status = 'rejected') AS "rejected!",
                  coalesce(sum(points) FILTER (WHERE status = 'redeemed'), 0)::float8 AS "points!"
           FROM reward_redemptions
           WHERE ($1::uuid IS NULL OR customer_id = $1)
           GROUP BY customer_id, reward_id
           ORDER BY customer_id, reward_id"#,
        customer_id
    )
    .fetch_all(pool)
    .await
}

/// A redemption as the console lists it, with the status an operator reads (`shown`: as
/// [`super::model::Redemption::from_row`] says it, `needs-attention` when its job is parked).
#[derive(Debug)]
pub struct ListedRedemption {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub reward_id: String,
    pub reward_title: Option<String>,
    pub uitpas_number: String,
    pub order_id: Option<String>,
    pub shown: String,
    pub points: Option<f64>,
    pub hold_state: Option<HoldState>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// How many redemptions match in all.
    pub total: i64,
}

/// What the console's list of redemptions asks: all optional.
#[derive(Debug, Default)]
pub struct RedemptionSearch<'a> {
    pub customer_id: Option<Uuid>,
    /// A shown status (`needs-attention`, `held`, `released`, `expired` too).
    pub status: Option<&'a str>,
    /// A redemption id, order id, UiTPAS number or UiTPAS redemption id.
    pub q: Option<&'a str>,
}

/// A page of the redemptions, newest first, with the count of all that match.
pub async fn search(
    pool: &PgPool,
    search: &RedemptionSearch<'_>,
    offset: i64,
    limit: i64,
) -> sqlx::Result<Vec<ListedRedemption>> {
    let parked_redeems = views::parked_subjects(pool, super::jobs::REDEEM).await?;
    let parked_cancels = views::parked_subjects(pool, super::jobs::CANCEL).await?;
    sqlx::query_as!(
        ListedRedemption,
        r#"WITH v AS (
               SELECT r.*,
                      CASE WHEN r.hold_state IN ('released', 'expired') THEN r.hold_state
                           WHEN r.status = 'rejected' THEN 'rejected'
                           WHEN (r.status = 'pending' AND r.id = ANY($6))
                                OR (r.status = 'cancelling' AND r.id = ANY($7)) THEN 'needs-attention'
                           WHEN r.status = 'redeemed' AND r.hold_state = 'held' THEN 'held'
                           ELSE r.status END AS shown
               FROM reward_redemptions r)
           SELECT v.id AS "id!", v.customer_id AS "customer_id!", v.reward_id AS "reward_id!", v.reward_title,
                  v.uitpas_number AS "uitpas_number!", v.order_id, v.shown AS "shown!", v.points,
                  v.hold_state AS "hold_state: HoldState", v.hold_expires_at, v.created_at AS "created_at!",
                  count(*) OVER () AS "total!"
           FROM v
           WHERE ($1::uuid IS NULL OR v.customer_id = $1)
             AND ($2::text IS NULL OR v.shown = $2)
             AND ($3::text IS NULL OR v.id::text = lower($3) OR v.order_id = $3 OR v.uitpas_number = $3
                  OR v.uitpas_redemption_id = $3)
           ORDER BY v.created_at DESC, v.id
           OFFSET $4 LIMIT $5"#,
        search.customer_id,
        search.status,
        search.q,
        offset,
        limit,
        &parked_redeems,
        &parked_cancels
    )
    .fetch_all(pool)
    .await
}

/// Of one customer's redemptions in one group (an order reference of the shop, or an event of
/// the orders they were made with; `None`: without one): how many are in each state, and the
/// points they spent. A redemption names no event (UiTPAS's redemption has none, and the shop
/// gives only its `orderId`).
#[derive(Debug)]
pub struct GroupTally {
    pub customer_id: Uuid,
    pub group: Option<String>,
    pub redeemed: i64,
    pub cancelled: i64,
    pub pending: i64,
    pub rejected: i64,
    pub points: f64,
    pub latest: DateTime<Utc>,
}

/// Per customer and order reference, the tally of the redemptions, the latest orders first (at
/// most `limit`); of one customer, or of all.
pub async fn tally_by_order(pool: &PgPool, customer_id: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<GroupTally>> {
    sqlx::query_as!(
        GroupTally,
        r#"SELECT customer_id, order_id AS "group",
                  count(*) FILTER (WHERE status = 'redeemed') AS "redeemed!",
                  count(*) FILTER (WHERE status IN ('cancelling', 'cancelled')) AS "cancelled!",
                  count(*) FILTER (WHERE status = 'pending') AS "pending!",
                  count(*) FILTER (WHERE status = 'rejected') AS "rejected!",
                  coalesce(sum(points) FILTER (WHERE status = 'redeemed'), 0)::float8 AS "points!",
                  max(created_at) AS "latest!"
           FROM reward_redemptions
           WHERE ($1::uuid IS NULL OR customer_id = $1)
           GROUP BY customer_id, order_id
           ORDER BY max(created_at) DESC
           LIMIT $2"#,
        customer_id,
        limit
    )
    .fetch_all(pool)
    .await
}

/// Per customer and event of the orders' sales, the tally of the redemptions, the events with the
/// latest redemptions first (at most `limit`); of one customer, or of all.
/// A redemption made with an order counts for each event of the order's sales.
pub async fn tally_by_event(pool: &PgPool, customer_id: Option<Uuid>, limit: i64) -> sqlx::Result<Vec<GroupTally>> {
    sqlx::query_as!(
        GroupTally,
        r#"SELECT r.customer_id, e.event_id AS "group?",
                  count(*) FILTER (WHERE r.status = 'redeemed') AS "redeemed!",
                  count(*) FILTER (WHERE r.status IN ('cancelling', 'cancelled')) AS "cancelled!",
                  count(*) FILTER (WHERE r.status = 'pending') AS "pending!",
                  count(*) FILTER (WHERE r.status = 'rejected') AS "rejected!",
                  coalesce(sum(r.points) FILTER (WHERE r.status = 'redeemed'), 0)::float8 AS "points!",
                  max(r.created_at) AS "latest!"
           FROM reward_redemptions r
           LEFT JOIN LATERAL (SELECT DISTINCT t.event_id FROM ticket_sales t
                              WHERE t.registration_id = r.registration_id) e ON true
           WHERE ($1::uuid IS NULL OR r.customer_id = $1)
           GROUP BY r.customer_id, e.event_id
           ORDER BY max(r.created_at) DESC
           LIMIT $2"#,
        customer_id,
        limit
    )
    .fetch_all(pool)
    .await
}
