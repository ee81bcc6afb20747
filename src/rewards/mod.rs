//! Rewards paid with UiTPAS points ("pay with UiTPAS points"): the rewards a customer's
//! organizers offer, whether a pass can redeem one, and redemptions made exactly once per
//! Idempotency-Key and cancelled on request.
//!
//! A redemption is a write at UiTPAS that takes no reference of ours, like a ticket sale: each
//! is a row in `reward_redemptions` and a job of the outbox ([`jobs`]) until UiTPAS confirmed or
//! refused it. The request that stores it makes the first attempt itself; a lost answer is
//! settled by reading the pass's redemptions, and nothing is sent again while an earlier send
//! may still commit (the settle window). One unsettled redemption per pass and reward at a time
//! keeps what such a look finds unambiguous among ours.

pub mod jobs;
pub mod model;
pub mod ops;
pub mod reconcile;
pub mod store;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

pub use model::{Redemption, RedemptionRow, RedemptionStatus, StoredStatus};
pub use ops::Abandoned;

use crate::cache::Coalesced;
use crate::customers::{Customer, Customers};
use crate::domain::UitpasNumber;
use crate::ledger::HoldState;
use crate::metrics::Metrics;
use crate::outbox::{self, Outbox};
use crate::problem::Problem;
use crate::uitpas::{RedeemStatus, Reward, UpstreamError};
use crate::webhooks::Webhooks;

/// How long the rewards an organizer offers are kept.
pub const CATALOGUE_TTL: Duration = Duration::from_secs(300);
/// The most rewards listed for a customer (pages of 50).
const MAX_REWARDS: u32 = 500;

/// A redemption to make, validated; `request` is its normalised form, compared on a retry.
#[derive(Debug, Clone)]
pub struct NewRedemption {
    pub customer_id: Uuid,
    pub idempotency_key: String,
    pub request: serde_json::Value,
    pub reward_id: String,
    pub uitpas_number: UitpasNumber,
    pub order_id: Option<String>,
    /// The registration it is part of (a reward of an order), if any.
    pub registration_id: Option<Uuid>,
    /// A hold before payment, for this long; `None`: the redemption is final.
    pub hold: Option<Duration>,
}

#[derive(Debug)]
pub enum RedeemOutcome {
    /// Redeemed, or pending (stored, to be settled by the worker): see its status.
    Stored(Box<Redemption>),
    /// UiTPAS refused it; nothing was spent.
    Rejected(Box<Problem>),
    /// The idempotency key was used before for another request.
    KeyReused,
    /// The pass has another unsettled redemption of this reward: nothing was stored.
    Busy(Uuid),
}

#[derive(Debug)]
pub enum CancelOutcome {
    Cancelled,
    /// Stored; the worker will cancel it at UiTPAS.
    Pending(Box<Redemption>),
    NotFound,
    /// Only a redeemed reward can be cancelled (this one is pending or rejected).
    NotRedeemed(RedemptionStatus),
}

/// What confirming or releasing a hold came to.
#[derive(Debug)]
pub enum HoldOutcome {
    /// Done now, or before (the same again): the redemption as it stands.
    Done(Box<Redemption>),
    /// The hold ended otherwise before (released, expired or confirmed): the redemption.
    Ended(Box<Redemption>),
    /// The redemption was not made as a hold.
    NotAHold,
    NotFound,
}

/// Whether a pass can redeem a reward, with its balance and the reward's cost.
#[derive(Debug, Clone)]
pub struct RedeemCheck {
    pub status: RedeemStatus,
    pub points_balance: Option<f64>,
    pub reward: Arc<Reward>,
}

/// Everything about rewards. Cheap to clone.
#[derive(Clone)]
pub struct Rewards {
    db: sqlx::PgPool,
    outbox: Outbox,
    customers: Customers,
    webhooks: Webhooks,
    /// How long a retried request waits for the first one's call to UiTPAS to end.
    wait_in_flight: Duration,
    /// Per customer slot: the rewards its organizers offer.
    catalogue: Coalesced<u32, Vec<Reward>>,
    /// Per customer slot and reward id: one reward.
    rewards: Coalesced<(u32, String), Reward>,
}

impl Rewards {
    pub fn new(
        db: sqlx::PgPool,
        outbox: Outbox,
        customers: Customers,
        webhooks: Webhooks,
        wait_in_flight: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            outbox,
            customers,
            webhooks,
            wait_in_flight,
            catalogue: Coalesced::new("rewards", CATALOGUE_TTL, 10_000, metrics.clone()),
            rewards: Coalesced::new("reward", CATALOGUE_TTL, 100_000, metrics),
        }
    }

    pub fn db(&self) -> &sqlx::PgPool {
        &self.db
    }

    /// The rewards the customer's organizers offer (those its permissions list), cached for
    /// [`CATALOGUE_TTL`]. Empty while its permissions are not read.
    pub async fn catalogue(&self, customer: &Customer) -> Result<Arc<Vec<Reward>>, UpstreamError> {
        let organizers: Vec<String> = customer
            .permissions()
            .map(|p| p.organizers.iter().map(|o| o.id.clone()).collect())
            .unwrap_or_default();
        if organizers.is_empty() {
            return Ok(Arc::new(Vec::new()));
        }
        let client = customer.client.clone();
        let rewards = self.rewards.clone();
        let slot = customer.slot;
        self.catalogue
            .get_with(slot, async move {
                let organizers: Vec<&str> = organizers.iter().map(String::as_str).collect();
                let mut all = Vec::new();
                let mut start = 0;
                while start < MAX_REWARDS {
                    let page = client.rewards(&organizers, start, 50).await?;
                    let got = u32::try_from(page.member.len()).unwrap_or(u32::MAX);
                    all.extend(page.member);
                    start = start.saturating_add(got);
                    if got == 0 || u64::from(start) >= page.total_items {
                        break;
                    }
                }
                for reward in &all {
                    rewards.insert((slot, reward.id.clone()), reward.clone()).await;
                }
                Ok(all)
            })
            .await
    }

    /// One reward, cached for [`CATALOGUE_TTL`].
    pub async fn reward(&self, customer: &Customer, reward_id: &str) -> Result<Arc<Reward>, UpstreamError> {
        let client = customer.client.clone();
        let id = reward_id.to_owned();
        self.rewards
            .get_with((customer.slot, reward_id.to_owned()), async move {
                client.reward(&id).await
            })
            .await
    }

    /// Whether the pass can redeem the reward now (UiTPAS's `redeem-status`, never cached), with
    /// the pass's points balance and the reward.
    pub async fn check(
        &self,
        customer: &Customer,
        reward_id: &str,
        number: &UitpasNumber,
    ) -> Result<RedeemCheck, UpstreamError> {
        let (reward, status, points) = tokio::join!(
            self.reward(customer, reward_id),
            customer.client.redeem_status(reward_id, number),
            customer.client.points_of(number),
        );
        let reward = reward?;
        let status = status?;
        Ok(RedeemCheck {
            status,
            // The balance is a courtesy: the status above is what counts.
            points_balance: points.ok().and_then(|p| p.points),
            reward,
        })
    }

    /// Stores the redemption and redeems it at UiTPAS, once per idempotency key.
    #[tracing::instrument(skip_all, fields(reward_id = %new.reward_id, uitpas_number = %new.uitpas_number.masked()), err)]
    pub async fn redeem(&self, new: NewRedemption) -> anyhow::Result<RedeemOutcome> {
        let id = Uuid::new_v4();
        let row = store::NewRedemptionRow {
            id,
            customer_id: new.customer_id,
            idempotency_key: &new.idempotency_key,
            request: &new.request,
            reward_id: &new.reward_id,
            uitpas_number: new.uitpas_number.as_str(),
            order_id: new.order_id.as_deref(),
            registration_id: new.registration_id,
            hold_ms: new.hold.map(|ttl| ttl.as_secs_f64() * 1000.0),
        };
        let mut tx = crate::db::begin(&self.db).await?;
        let stored = match store::insert(&mut tx, &row).await {
            Err(e) if store::is_one_pending(&e) => {
                drop(tx);
                return self.busy(&new).await;
            }
            stored => stored.context("storing the redemption")?,
        };
        if let Some((_, hold_expires_at)) = stored {
            if let Some(expires_at) = hold_expires_at {
                Outbox::enqueue(&mut tx, jobs::END_HOLD, id, Some(expires_at)).await?;
            }
            let lease = self.outbox.enqueue_leased(&mut tx, jobs::REDEEM, id).await?;
            tx.commit().await?;
            tracing::info!(redemption_id = %id, "redemption stored");
            // The answer tells the shop this attempt's outcome: no webhook for it.
            self.outbox
                .attempt_now(lease, async |lease| self.attempt_redeem(lease, false).await)
                .await?;
            return self.outcome(id).await;
        }
        drop(tx);
        let existing = store::by_key(&self.db, new.customer_id, &new.idempotency_key)
            .await?
            .context("the redemption of an existing idempotency key")?;
        if existing.request != new.request {
            return Ok(RedeemOutcome::KeyReused);
        }
        self.outbox
            .wait_while_in_flight(jobs::REDEEM, existing.id, self.wait_in_flight)
            .await?;
        self.outcome(existing.id).await
    }

    /// The answer to a redemption whose pass has another unsettled one of the reward: this key's
    /// own (sent twice at once), or another's.
    async fn busy(&self, new: &NewRedemption) -> anyhow::Result<RedeemOutcome> {
        if let Some(own) = store::by_key(&self.db, new.customer_id, &new.idempotency_key).await? {
            if own.request != new.request {
                return Ok(RedeemOutcome::KeyReused);
            }
            self.outbox
                .wait_while_in_flight(jobs::REDEEM, own.id, self.wait_in_flight)
                .await?;
            return self.outcome(own.id).await;
        }
        let pending = store::pending_of(&self.db, new.uitpas_number.as_str(), &new.reward_id).await?;
        Ok(match pending {
            Some(other) => RedeemOutcome::Busy(other.id),
            // Settled meanwhile: the shop may send it again.
            None => RedeemOutcome::Busy(Uuid::nil()),
        })
    }

    async fn outcome(&self, id: Uuid) -> anyhow::Result<RedeemOutcome> {
        let redemption = self.redemption(id).await?.context("a stored redemption")?;
        if redemption.status == RedemptionStatus::Rejected
            && let Some(problem) = &redemption.problem
        {
            let mut problem = problem.clone();
            problem.redemption_id = Some(id);
            return Ok(RedeemOutcome::Rejected(Box::new(problem)));
        }
        Ok(RedeemOutcome::Stored(Box::new(redemption)))
    }

    /// Confirms a hold after payment. A confirm racing the expiry has one winner.
    pub async fn confirm(&self, id: Uuid) -> anyhow::Result<HoldOutcome> {
        let mut tx = crate::db::begin(&self.db).await?;
        let confirmed = store::confirm_hold(&mut tx, id).await?;
        tx.commit().await?;
        self.hold_outcome(id, confirmed, HoldState::Confirmed).await
    }

    /// Releases a hold (payment failed or abandoned): a redeemed redemption is cancelled at
    /// UiTPAS now, a pending one once it settles (or never made, when UiTPAS has none of it).
    pub async fn release(&self, id: Uuid) -> anyhow::Result<HoldOutcome> {
        let mut tx = crate::db::begin(&self.db).await?;
        let released = store::end_hold(&mut tx, id, HoldState::Released).await?;
        let lease = if released {
            self.after_hold_ended(&mut tx, id).await?
        } else {
            None
        };
        tx.commit().await?;
        self.outbox
            .attempt_now(lease, async |lease| self.attempt_cancel(lease, false).await)
            .await?;
        self.hold_outcome(id, released, HoldState::Released).await
    }

    async fn hold_outcome(&self, id: Uuid, done_now: bool, to: HoldState) -> anyhow::Result<HoldOutcome> {
        let Some(redemption) = self.redemption(id).await? else {
            return Ok(HoldOutcome::NotFound);
        };
        Ok(match &redemption.hold {
            None => HoldOutcome::NotAHold,
            Some(hold) if done_now || hold.state == to => HoldOutcome::Done(Box::new(redemption)),
            Some(_) => HoldOutcome::Ended(Box::new(redemption)),
        })
    }

    /// A redemption, with the problem of work on it that needs a person.
    pub async fn redemption(&self, id: Uuid) -> anyhow::Result<Option<Redemption>> {
        let mut conn = self.db.acquire().await?;
        let Some(row) = store::get(&mut conn, id).await? else {
            return Ok(None);
        };
        let kind = match row.status {
            StoredStatus::Cancelling => jobs::CANCEL,
            _ => jobs::REDEEM,
        };
        let attention = outbox::attention(&mut conn, kind, id).await?.map(|a| a.problem);
        Redemption::from_row(row, attention).map(Some)
    }

    /// A customer's redemptions, newest first.
    pub async fn list(
        &self,
        customer_id: Uuid,
        uitpas_number: Option<&str>,
        order_id: Option<&str>,
        start: i64,
        limit: i64,
    ) -> anyhow::Result<(i64, Vec<Redemption>)> {
        let (total, rows) = store::list(&self.db, customer_id, uitpas_number, order_id, start, limit).await?;
        // The list shows stored statuses; one redemption read alone also shows a parked job.
        let redemptions = rows
            .into_iter()
            .map(|row| Redemption::from_row(row, None))
            .collect::<anyhow::Result<_>>()?;
        Ok((total, redemptions))
    }

    /// Cancels a redemption at UiTPAS (the points come back); stored and replayed when UiTPAS
    /// cannot be reached.
    #[tracing::instrument(skip_all, fields(redemption_id = %id), err)]
    pub async fn cancel(&self, id: Uuid) -> anyhow::Result<CancelOutcome> {
        let mut tx = crate::db::begin(&self.db).await?;
        match store::begin_cancel(&mut tx, id).await? {
            None => return Ok(CancelOutcome::NotFound),
            Some(StoredStatus::Cancelled) => return Ok(CancelOutcome::Cancelled),
            Some(StoredStatus::Pending) => return Ok(CancelOutcome::NotRedeemed(RedemptionStatus::Pending)),
            Some(StoredStatus::Rejected) => return Ok(CancelOutcome::NotRedeemed(RedemptionStatus::Rejected)),
            Some(StoredStatus::Redeemed) => {
                let lease = self.outbox.enqueue_leased(&mut tx, jobs::CANCEL, id).await?;
                tx.commit().await?;
                self.outbox
                    .attempt_now(lease, async |lease| self.attempt_cancel(lease, false).await)
                    .await?;
            }
            Some(StoredStatus::Cancelling) => {
                tx.commit().await?;
                self.outbox
                    .wait_while_in_flight(jobs::CANCEL, id, self.wait_in_flight)
                    .await?;
            }
        }
        let redemption = self.redemption(id).await?.context("a stored redemption")?;
        Ok(match redemption.status {
            RedemptionStatus::Cancelled => CancelOutcome::Cancelled,
            _ => CancelOutcome::Pending(Box::new(redemption)),
        })
    }

    /// The customer's redemptions made under these idempotency keys (those of an order's
    /// registration, say), in the order of their keys, each as [`Self::redemption`] reads it.
    pub async fn by_keys(&self, customer_id: Uuid, keys: &[String]) -> anyhow::Result<Vec<Redemption>> {
        let mut redemptions = Vec::new();
        for id in store::ids_by_keys(&self.db, customer_id, keys).await? {
            redemptions.extend(self.redemption(id).await?);
        }
        Ok(redemptions)
    }
}

// The rewards a cart's quote offers a pass (kept at the end of the file: a module of its own).
pub mod offers;
