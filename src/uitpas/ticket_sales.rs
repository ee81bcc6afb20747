//! UiTPAS ticket sales: registering (`POST /ticket-sales`, behind a [`SendGate`]), listing an
//! event's sales or a passholder's, cancelling.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Gated, SendGate, TariffType, UitpasClient, UpstreamError, urlencode_segment};
use crate::domain::Money;

impl UitpasClient {
    /// `POST /ticket-sales`: registers every sale or none. Not idempotent: a lost answer leaves the
    /// outcome unknown, to be settled with [`Self::ticket_sales_of_event`].
    ///
    /// `gate` opens right before the request is written, with the token in hand (see [`super::gate`]).
    pub async fn register_ticket_sales<G: SendGate>(
        &self,
        sales: &[TicketSaleRequest],
        gate: &mut G,
    ) -> Gated<Vec<RegisteredTicketSale>, G::Error> {
        let body = match serde_json::to_value(sales) {
            Ok(body) => body,
            Err(e) => return Gated::Called(Err(UpstreamError::Decode(e.to_string()))),
        };
        let registered: Vec<RegisteredTicketSale> = match self
            .call_gated(
                "post-ticket-sales",
                Method::POST,
                &self.api("/ticket-sales"),
                &[],
                Some(&body),
                gate,
            )
            .await
        {
            Gated::Called(Ok(registered)) => registered,
            Gated::Called(Err(e)) => return Gated::Called(Err(e)),
            Gated::Refused(e) => return Gated::Refused(e),
        };
        if registered.len() != sales.len() {
            return Gated::Called(Err(UpstreamError::Decode(format!(
                "{} ticket sales registered for {} sent",
                registered.len(),
                sales.len()
            ))));
        }
        Gated::Called(Ok(registered))
    }

    /// `GET /ticket-sales?eventId=&start=&limit=`: one page of an event's ticket sales.
    pub async fn ticket_sales_of_event(
        &self,
        event_id: &str,
        start: u32,
        limit: u32,
    ) -> Result<TicketSalePage, UpstreamError> {
        let (start, limit) = (start.to_string(), limit.to_string());
        let query = [
            ("eventId", event_id),
            ("start", start.as_str()),
            ("limit", limit.as_str()),
        ];
        self.call(
            "get-ticket-sales",
            Method::GET,
            &self.api("/ticket-sales"),
            &query,
            None,
        )
        .await
    }

    /// `GET /ticket-sales?passholderId=&organizerId=…&start=&limit=` (since 2026-06): one page of
    /// one passholder's sales at events of these organizers, a short list however busy an event
    /// is. publiq requires `organizerId` with `passholderId`, and TICKETSALES_SEARCH for them.
    pub async fn ticket_sales_of_passholder(
        &self,
        passholder_id: &str,
        organizers: &[&str],
        start: u32,
        limit: u32,
    ) -> Result<TicketSalePage, UpstreamError> {
        let (start, limit) = (start.to_string(), limit.to_string());
        let mut query = vec![("passholderId", passholder_id)];
        query.extend(organizers.iter().map(|o| ("organizerId", *o)));
        query.extend([("start", start.as_str()), ("limit", limit.as_str())]);
        self.call(
            "get-ticket-sales",
            Method::GET,
            &self.api("/ticket-sales"),
            &query,
            None,
        )
        .await
    }

    /// `DELETE /ticket-sales/{ticketSaleId}`; `gate` opens right before the request is written.
    pub async fn cancel_ticket_sale<G: SendGate>(
        &self,
        uitpas_ticket_sale_id: &str,
        gate: &mut G,
    ) -> Gated<(), G::Error> {
        let path = format!("/ticket-sales/{}", urlencode_segment(uitpas_ticket_sale_id));
        self.call_no_content("delete-ticket-sales", Method::DELETE, &self.api(&path), gate)
            .await
    }
}

/// One line of `POST /ticket-sales`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketSaleRequest {
    pub uitpas_number: String,
    pub event_id: String,
    pub regular_price: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regular_price_label: Option<String>,
    pub tariff: TariffRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TariffRef {
    pub id: String,
}

/// A ticket sale as UiTPAS answers it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredTicketSale {
    pub id: String,
    pub event_id: String,
    pub uitpas_number: String,
    pub regular_price: Money,
    /// Stored by UiTPAS as sent; ours carry the sale's marker (see `ledger::reconcile`).
    #[serde(default)]
    pub regular_price_label: Option<String>,
    /// When UiTPAS created the sale ("always available in response").
    #[serde(default)]
    pub creation_date: Option<DateTime<Utc>>,
    pub tariff: ConfirmedTariff,
}

/// The tariff of a registered sale; `name`, `price` and `type` are read-only extras UiTPAS adds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConfirmedTariff {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub price: Option<Money>,
    #[serde(rename = "type", default)]
    pub kind: Option<TariffType>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketSalePage {
    #[serde(default)]
    pub total_items: u32,
    #[serde(default)]
    pub member: Vec<RegisteredTicketSale>,
}
