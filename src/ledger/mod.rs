//! The sales ledger: every discounted sale registered at UiTPAS exactly once, every cancellation
//! replayed until UiTPAS confirms it.
//!
//! The intent is stored before UiTPAS is called ([`flow`]); a clear answer settles it in the same
//! transaction that stores the UiTPAS ids; anything else (timeout, reset, 5xx) leaves it pending,
//! with a job ([`jobs`]) that the outbox's worker picks up. A registration whose answer may have
//! been lost is settled by looking at UiTPAS first ([`reconcile`]): the sales that carry its
//! markers are adopted, and it is sent again only when UiTPAS has none and no earlier send can
//! still commit.

pub mod checkins;
pub mod flow;
pub mod holds;
pub mod jobs;
pub mod list;
pub mod reconcile;
pub mod search;
pub mod store;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{Money, UitpasNumber};
use crate::problem::Problem;
use crate::text_enum::text_enum;
use crate::uitpas::TariffType;

pub use flow::Ledger;

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RegistrationStatus {
    /// Stored; UiTPAS has not confirmed it yet (it will be registered by the worker).
    Pending,
    /// UiTPAS confirmed every ticket sale.
    Registered,
    /// UiTPAS refused the order: nothing was registered.
    Rejected,
    /// It cannot be registered without a person (UiTPAS refused the service's credentials or
    /// permission): see `problem`; retry it once that is fixed, or abandon it.
    NeedsAttention,
    /// A hold: registered at UiTPAS, waiting for the shop to confirm it after payment (or release
    /// it) before `hold.expiresAt`.
    Held,
    /// A hold the shop released: its sales are cancelled at UiTPAS.
    Released,
    /// A hold not confirmed in time: its sales are cancelled at UiTPAS.
    Expired,
}

/// A registration's status as stored: what UiTPAS said of its sales. The others of
/// [`RegistrationStatus`] come from its hold and its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredStatus {
    Pending,
    Registered,
    Rejected,
}

text_enum!(StoredStatus {
    Pending = "pending",
    Registered = "registered",
    Rejected = "rejected",
});

impl From<StoredStatus> for RegistrationStatus {
    fn from(status: StoredStatus) -> Self {
        match status {
            StoredStatus::Pending => RegistrationStatus::Pending,
            StoredStatus::Registered => RegistrationStatus::Registered,
            StoredStatus::Rejected => RegistrationStatus::Rejected,
        }
    }
}

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HoldState {
    /// Waiting for the shop's confirm or release.
    Held,
    /// Confirmed after payment: an ordinary registration now.
    Confirmed,
    /// Released by the shop (payment failed or abandoned): its sales are cancelled.
    Released,
    /// Not confirmed in time: its sales are cancelled.
    Expired,
}

text_enum!(HoldState {
    Held = "held",
    Confirmed = "confirmed",
    Released = "released",
    Expired = "expired",
});

impl HoldState {
    /// Released or expired: its sales are (being) cancelled.
    pub fn ended(self) -> bool {
        matches!(self, HoldState::Released | HoldState::Expired)
    }
}

/// A registration made as a hold before payment.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub state: HoldState,
    /// When an unconfirmed hold is released by the service.
    pub expires_at: DateTime<Utc>,
}

/// Where a ticket sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SaleStatus {
    Pending,
    Registered,
    Rejected,
    /// A cancellation was asked and UiTPAS has not confirmed it yet.
    Cancelling,
    Cancelled,
}

text_enum!(SaleStatus {
    Pending = "pending",
    Registered = "registered",
    Rejected = "rejected",
    Cancelling = "cancelling",
    Cancelled = "cancelled",
});

/// A ticket sale about to be stored.
#[derive(Debug, Clone)]
pub struct NewTicketSale {
    pub id: Uuid,
    pub position: i32,
    pub ticket_index: i32,
    pub event_id: String,
    pub uitpas_number: String,
    pub tariff_id: String,
    pub regular_price_cents: i64,
    pub regular_price_label: Option<String>,
    pub external_id: Option<String>,
    pub paid_price_cents: Option<i64>,
    pub vat: Option<f64>,
}

impl NewTicketSale {
    /// The sale as [`store::insert_registration`] stores it.
    pub fn into_pending_row(
        self,
        customer_id: Uuid,
        registration_id: Uuid,
        order_id: &str,
        created_at: DateTime<Utc>,
    ) -> TicketSaleRow {
        TicketSaleRow {
            id: self.id,
            customer_id,
            registration_id,
            order_id: order_id.to_owned(),
            position: self.position,
            ticket_index: self.ticket_index,
            event_id: self.event_id,
            uitpas_number: self.uitpas_number,
            tariff_id: self.tariff_id,
            tariff_name: None,
            tariff_price_cents: None,
            tariff_type: None,
            regular_price_cents: self.regular_price_cents,
            regular_price_label: self.regular_price_label,
            external_id: self.external_id,
            paid_price_cents: self.paid_price_cents,
            vat: self.vat,
            uitpas_ticket_sale_id: None,
            status: SaleStatus::Pending,
            created_at,
            registered_at: None,
            cancelled_at: None,
            checked_in_at: None,
            attention: None,
        }
    }
}

/// A ticket sale as stored (with its registration's order id).
#[derive(Debug, Clone)]
pub struct TicketSaleRow {
    pub id: Uuid,
    /// The customer whose shop sold it (its registration's).
    pub customer_id: Uuid,
    pub registration_id: Uuid,
    pub order_id: String,
    pub position: i32,
    pub ticket_index: i32,
    pub event_id: String,
    pub uitpas_number: String,
    pub tariff_id: String,
    pub tariff_name: Option<String>,
    pub tariff_price_cents: Option<i64>,
    pub tariff_type: Option<String>,
    pub regular_price_cents: i64,
    pub regular_price_label: Option<String>,
    pub external_id: Option<String>,
    pub paid_price_cents: Option<i64>,
    pub vat: Option<f64>,
    pub uitpas_ticket_sale_id: Option<String>,
    pub status: SaleStatus,
    pub created_at: DateTime<Utc>,
    pub registered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub checked_in_at: Option<DateTime<Utc>>,
    /// The problem of work on this sale that needs a person (its registration or cancellation).
    pub attention: Option<serde_json::Value>,
}

/// The tariff of a ticket sale: the id the shop chose, and what UiTPAS confirmed.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleTariff {
    pub id: String,
    pub name: Option<String>,
    pub price: Option<Money>,
    pub kind: Option<TariffType>,
}

/// One UiTPAS ticket sale of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketSale {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub registration_id: Uuid,
    pub order_id: String,
    /// The id UiTPAS gave the sale, once registered.
    pub uitpas_ticket_sale_id: Option<String>,
    pub event_id: String,
    pub uitpas_number: UitpasNumber,
    pub tariff: SaleTariff,
    pub regular_price: Money,
    pub regular_price_label: Option<String>,
    pub status: SaleStatus,
    pub external_id: Option<String>,
    pub paid_price: Option<Money>,
    /// VAT rate in percent.
    pub vat: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub registered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Whether the passholder was checked in at the event with this ticket.
    pub checked_in: bool,
    pub checked_in_at: Option<DateTime<Utc>>,
    /// Work on this sale (its registration, or its cancellation) needs a person: UiTPAS's problem.
    /// Retry or abandon it with the registration's or the ticket sale's `retry` and `abandon`.
    pub needs_attention: Option<Problem>,
}

impl TryFrom<TicketSaleRow> for TicketSale {
    type Error = anyhow::Error;

    fn try_from(r: TicketSaleRow) -> anyhow::Result<Self> {
        let kind = r
            .tariff_type
            .as_deref()
            .map(|t| match t {
                "SOCIALTARIFF" => Ok(TariffType::Socialtariff),
                "COUPON" => Ok(TariffType::Coupon),
                other => Err(anyhow::anyhow!("unknown tariff type {other:?} in the database")),
            })
            .transpose()?;
        let money = |cents: i64| Money::from_cents(cents).with_context(|| format!("{cents} cents in the database"));
        let needs_attention = r
            .attention
            .map(serde_json::from_value)
            .transpose()
            .context("a parked job's problem")?;
        Ok(TicketSale {
            id: r.id,
            customer_id: r.customer_id,
            registration_id: r.registration_id,
            order_id: r.order_id,
            uitpas_ticket_sale_id: r.uitpas_ticket_sale_id,
            event_id: r.event_id,
            uitpas_number: UitpasNumber::parse(&r.uitpas_number)
                .map_err(|why| anyhow::anyhow!("a stored UiTPAS number that is not one: {why}"))?,
            tariff: SaleTariff {
                id: r.tariff_id,
                name: r.tariff_name,
                price: r.tariff_price_cents.map(money).transpose()?,
                kind,
            },
            regular_price: money(r.regular_price_cents)?,
            regular_price_label: r.regular_price_label,
            status: r.status,
            external_id: r.external_id,
            paid_price: r.paid_price_cents.map(money).transpose()?,
            vat: r.vat,
            created_at: r.created_at,
            registered_at: r.registered_at,
            cancelled_at: r.cancelled_at,
            checked_in: r.checked_in_at.is_some(),
            checked_in_at: r.checked_in_at,
            needs_attention,
        })
    }
}

/// A registration with its ticket sales.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub order_id: String,
    pub status: RegistrationStatus,
    /// Why UiTPAS refused it (`rejected`), or why it needs a person (`needs-attention`).
    pub problem: Option<Problem>,
    /// Present when it was made as a hold before payment.
    pub hold: Option<Hold>,
    pub ticket_sales: Vec<TicketSale>,
    pub created_at: DateTime<Utc>,
}
