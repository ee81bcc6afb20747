//! A redemption of a reward with UiTPAS points, as the ledger of redemptions keeps it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::UitpasNumber;
use crate::ledger::{Hold, HoldState};
use crate::problem::Problem;
use crate::text_enum::text_enum;
use crate::uitpas::RedeemInfo;

/// Where a redemption stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RedemptionStatus {
    /// Stored; UiTPAS has not confirmed it yet (the worker settles it).
    Pending,
    /// UiTPAS confirmed it: the points are spent.
    Redeemed,
    /// UiTPAS refused it (not enough points, a limit reached, an expired reward, a group pass):
    /// nothing was spent. See `problem`.
    Rejected,
    /// It cannot be settled without a person (UiTPAS refused the service's credentials or
    /// permission): see `problem`.
    NeedsAttention,
    /// Its cancellation is under way: UiTPAS has not confirmed it yet.
    Cancelling,
    /// Cancelled at UiTPAS: the points came back.
    Cancelled,
    /// A hold before payment: redeemed at UiTPAS, waiting for the shop to confirm it after
    /// payment (or release it) before `hold.expiresAt`.
    Held,
    /// A hold the shop released: cancelled at UiTPAS (or never made there).
    Released,
    /// A hold not confirmed in time: cancelled at UiTPAS (or never made there).
    Expired,
}

/// A redemption's status as stored; `needs-attention` comes from its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredStatus {
    Pending,
    Redeemed,
    Rejected,
    Cancelling,
    Cancelled,
}

text_enum!(StoredStatus {
    Pending = "pending",
    Redeemed = "redeemed",
    Rejected = "rejected",
    Cancelling = "cancelling",
    Cancelled = "cancelled",
});

impl From<StoredStatus> for RedemptionStatus {
    fn from(status: StoredStatus) -> Self {
        match status {
            StoredStatus::Pending => RedemptionStatus::Pending,
            StoredStatus::Redeemed => RedemptionStatus::Redeemed,
            StoredStatus::Rejected => RedemptionStatus::Rejected,
            StoredStatus::Cancelling => RedemptionStatus::Cancelling,
            StoredStatus::Cancelled => RedemptionStatus::Cancelled,
        }
    }
}

/// A redemption as stored.
#[derive(Debug, Clone)]
pub struct RedemptionRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub request: serde_json::Value,
    pub reward_id: String,
    pub uitpas_number: String,
    pub order_id: Option<String>,
    pub status: StoredStatus,
    pub uitpas_redemption_id: Option<String>,
    pub reward_title: Option<String>,
    pub points: Option<f64>,
    pub redeem_code: Option<String>,
    pub redeem_info: Option<serde_json::Value>,
    pub problem: Option<serde_json::Value>,
    pub hold_state: Option<HoldState>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When a person gave it up while it was parked after a send that may have committed.
    pub abandoned_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A redemption, with the problem of work on it that needs a person.
#[derive(Debug, Clone)]
pub struct Redemption {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub reward_id: String,
    pub uitpas_number: UitpasNumber,
    pub order_id: Option<String>,
    pub status: RedemptionStatus,
    /// UiTPAS's id of the redemption, once UiTPAS confirmed it.
    pub uitpas_redemption_id: Option<String>,
    pub reward_title: Option<String>,
    /// The points it cost.
    pub points: Option<f64>,
    /// The code to show the passholder, for rewards that have one.
    pub redeem_code: Option<String>,
    /// What to show the passholder who redeemed.
    pub redeem_info: Option<RedeemInfo>,
    /// Why UiTPAS refused it, or why it needs a person.
    pub problem: Option<Problem>,
    /// A hold before payment: its state and when an unconfirmed one is released.
    pub hold: Option<Hold>,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Redemption {
    /// The redemption of `row`; `attention`: the problem its parked job waits with, if it does.
    pub fn from_row(row: RedemptionRow, attention: Option<Option<serde_json::Value>>) -> anyhow::Result<Self> {
        let stored_problem = |v: Option<serde_json::Value>| -> anyhow::Result<Option<Problem>> {
            Ok(v.map(serde_json::from_value).transpose()?)
        };
        let (status, problem) = match (row.status, attention) {
            _ if row.hold_state == Some(HoldState::Released) => (RedemptionStatus::Released, None),
            _ if row.hold_state == Some(HoldState::Expired) => (RedemptionStatus::Expired, None),
            (StoredStatus::Rejected, _) => (RedemptionStatus::Rejected, stored_problem(row.problem)?),
            (StoredStatus::Pending | StoredStatus::Cancelling, Some(problem)) => {
                (RedemptionStatus::NeedsAttention, stored_problem(problem)?)
            }
            (StoredStatus::Redeemed, _) if row.hold_state == Some(HoldState::Held) => (RedemptionStatus::Held, None),
            (status, _) => (status.into(), None),
        };
        let hold = row
            .hold_state
            .zip(row.hold_expires_at)
            .map(|(state, expires_at)| Hold { state, expires_at });
        Ok(Self {
            id: row.id,
            customer_id: row.customer_id,
            reward_id: row.reward_id,
            uitpas_number: UitpasNumber::parse(&row.uitpas_number)
                .map_err(|why| anyhow::anyhow!("a stored UiTPAS number that is not one: {why}"))?,
            order_id: row.order_id,
            status,
            uitpas_redemption_id: row.uitpas_redemption_id,
            reward_title: row.reward_title,
            points: row.points,
            redeem_code: row.redeem_code,
            redeem_info: row.redeem_info.map(serde_json::from_value).transpose()?,
            problem,
            hold,
            redeemed_at: row.redeemed_at,
            cancelled_at: row.cancelled_at,
            created_at: row.created_at,
        })
    }
}
