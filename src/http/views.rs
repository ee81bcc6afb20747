//! The JSON shapes of the shop API's answers (and of webhook payloads): the ledger's domain values
//! as the shop reads them. The ledger knows nothing of JSON; this module is where its values get
//! their field names, their money as euros, and their place in the OpenAPI document.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::Money;
use crate::ledger::{self, HoldState, RegistrationStatus, SaleStatus};
use crate::problem::Problem;
use crate::uitpas::TariffType;

/// A registration made as a hold before payment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    pub state: HoldState,
    /// When an unconfirmed hold is released by the service.
    pub expires_at: DateTime<Utc>,
}

/// The tariff of a ticket sale: the id the shop chose, and what UiTPAS confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SaleTariff {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub price: Option<Money>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<TariffType>,
}

/// One UiTPAS ticket sale of an order.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketSale {
    pub id: Uuid,
    pub registration_id: Uuid,
    pub order_id: String,
    /// The id UiTPAS gave the sale, once registered.
    pub uitpas_ticket_sale_id: Option<String>,
    pub event_id: String,
    pub uitpas_number: String,
    pub tariff: SaleTariff,
    #[schema(value_type = f64)]
    pub regular_price: Money,
    pub regular_price_label: Option<String>,
    pub status: SaleStatus,
    pub external_id: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub paid_price: Option<Money>,
    /// VAT rate in percent.
    pub vat: Option<f64>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Whether the passholder was checked in at the event with this ticket.
    pub checked_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<DateTime<Utc>>,
    /// Work on this sale (its registration, or its cancellation) needs a person: UiTPAS's problem.
    /// Retry or abandon it with the registration's or the ticket sale's `retry` and `abandon`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs_attention: Option<Problem>,
}

/// A registration with its ticket sales.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub id: Uuid,
    pub order_id: String,
    pub status: RegistrationStatus,
    /// Why UiTPAS refused it (`rejected`), or why it needs a person (`needs-attention`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// Present when it was made as a hold before payment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    pub ticket_sales: Vec<TicketSale>,
    pub created_at: DateTime<Utc>,
    /// Only in the answer of `POST /v1/registrations`: what looks wrong in the request, though it
    /// was accepted (a `regularPrice` that is none of the event's prices in UiTdatabank).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// The rewards redeemed with the order (`rewards` in its request), in the request's order;
    /// in the answers of `POST /v1/registrations`, `GET /v1/registrations/{id}` and of confirming
    /// or releasing its hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rewards: Vec<crate::http::registrations::rewards::OrderReward>,
}

/// Something in an accepted request that looks like a mistake: check it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// The kind of warning (`urn:uitpas-checkout:warning:<slug>`); compare it whole.
    #[serde(rename = "type")]
    #[schema(example = "urn:uitpas-checkout:warning:regular-price-unknown")]
    pub kind: String,
    /// The field it is about.
    #[schema(example = "/tickets/0/regularPrice")]
    pub json_pointer: String,
    pub detail: String,
}

impl From<ledger::Hold> for Hold {
    fn from(h: ledger::Hold) -> Self {
        Self {
            state: h.state,
            expires_at: h.expires_at,
        }
    }
}

impl From<ledger::SaleTariff> for SaleTariff {
    fn from(t: ledger::SaleTariff) -> Self {
        Self {
            id: t.id,
            name: t.name,
            price: t.price,
            kind: t.kind,
        }
    }
}

impl From<ledger::TicketSale> for TicketSale {
    fn from(t: ledger::TicketSale) -> Self {
        Self {
            id: t.id,
            registration_id: t.registration_id,
            order_id: t.order_id,
            uitpas_ticket_sale_id: t.uitpas_ticket_sale_id,
            event_id: t.event_id,
            uitpas_number: t.uitpas_number.as_str().to_owned(),
            tariff: t.tariff.into(),
            regular_price: t.regular_price,
            regular_price_label: t.regular_price_label,
            status: t.status,
            external_id: t.external_id,
            paid_price: t.paid_price,
            vat: t.vat,
            created_at: t.created_at,
            registered_at: t.registered_at,
            cancelled_at: t.cancelled_at,
            checked_in: t.checked_in,
            checked_in_at: t.checked_in_at,
            needs_attention: t.needs_attention,
        }
    }
}

impl From<ledger::Registration> for Registration {
    fn from(r: ledger::Registration) -> Self {
        Self {
            id: r.id,
            order_id: r.order_id,
            status: r.status,
            problem: r.problem,
            hold: r.hold.map(Hold::from),
            ticket_sales: r.ticket_sales.into_iter().map(TicketSale::from).collect(),
            created_at: r.created_at,
            warnings: Vec::new(),
            rewards: Vec::new(),
        }
    }
}
