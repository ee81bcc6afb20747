//! A look at UiTPAS for a registration's sales, by the markers in their `regularPriceLabel`:
//! what the register job does before it sends again (and the watch for strays after it settled).
//! Its passholders' sales are read where they can stand in for an event's ([`super::passholders`]),
//! the event's sales since the order otherwise.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::passholders::{Listed, Plan, Whole, passholder_sales};
use super::verdict;
use crate::domain::Money;
use crate::ledger::TicketSaleRow;
use crate::ledger::flow::Ledger;
use crate::ledger::reconcile;
use crate::ledger::store::Confirmation;
use crate::outbox::{Lease, Renewing};
use crate::problem::Problem;
use crate::uitpas::verdict::Verdict;
use crate::uitpas::{Gated, RegisteredTicketSale, TicketSalePage, UitpasClient, UpstreamError};

impl Ledger {
    /// Reads the sales of the registration's events created since it was stored, by marker:
    /// through its passholders' lists where they can stand in for an event's
    /// ([`super::passholders`]), the event's sales otherwise.
    pub(super) async fn scan(
        &self,
        client: &UitpasClient,
        lease: &mut Lease,
        stored_at: DateTime<Utc>,
        sales: &[TicketSaleRow],
    ) -> anyhow::Result<Scanned> {
        let floor = stored_at - reconcile::CLOCK_MARGIN;
        let Plan { searches, mut whole } = self.plan_look(client, lease, sales).await?;
        tracing::debug!(
            passholders = searches.len(),
            events_read_whole = whole.len(),
            "looking at UiTPAS for the order's sales"
        );
        let mut found = Vec::new();
        for search in &searches {
            match passholder_sales(client, lease, search, floor).await? {
                Listed::Sales(sales) => found.extend(sales),
                Listed::Inconclusive(why) => return Ok(Scanned::Inconclusive(why)),
                Listed::Whole => {
                    for event in &search.events {
                        whole.entry(event.clone()).or_insert(Whole::Always);
                    }
                }
            }
        }
        for (event, why) in &whole {
            let mut pages = EventPages {
                uitpas: client,
                lease: &mut *lease,
                event,
            };
            match reconcile::sales_since(&mut pages, floor).await {
                Ok(reconcile::Scan::Complete(sales)) => found.extend(sales),
                Ok(reconcile::Scan::Inconclusive(why)) => return Ok(Scanned::Inconclusive(why)),
                // Read whole only because a lookup failed for now: a later look may read the
                // passholders' short lists, so it is retried as an outage.
                Ok(reconcile::Scan::TooBusy) if *why == Whole::ForNow => return Ok(Scanned::Inconclusive(UNREADABLE)),
                Ok(reconcile::Scan::TooBusy) => return Ok(Scanned::TooBusy(event.clone())),
                Err(e) => match e.downcast::<UpstreamError>() {
                    // A client without TICKETSALES_SEARCH (403), or refused credentials: no look
                    // will do better until a person fixes it.
                    Ok(e) if verdict(&e) == Verdict::NeedsPerson => return Ok(Scanned::Forbidden(e)),
                    Ok(_) => return Ok(Scanned::Inconclusive(UNREADABLE)),
                    Err(e) => return Err(e),
                },
            }
        }
        Ok(Scanned::Complete(reconcile::by_marker(found)))
    }

    /// Looks for this registration's sales at UiTPAS, by their markers, among the sales of its
    /// events created since it was stored.
    pub(super) async fn look(
        &self,
        client: &UitpasClient,
        lease: &mut Lease,
        stored_at: DateTime<Utc>,
        sales: &[TicketSaleRow],
    ) -> anyhow::Result<Look> {
        let mut by_marker = match self.scan(client, lease, stored_at, sales).await? {
            Scanned::Complete(by_marker) => by_marker,
            Scanned::Inconclusive(why) => return Ok(Look::Inconclusive(why)),
            Scanned::TooBusy(event) => return Ok(Look::TooBusy(event)),
            Scanned::Forbidden(e) => return Ok(Look::Forbidden(e)),
        };
        let mut confirmations = Vec::with_capacity(sales.len());
        let mut doubles = Vec::new();
        for ours in sales {
            let Some(mut theirs) = by_marker.remove(&reconcile::marker(ours.id)).filter(|l| !l.is_empty()) else {
                continue;
            };
            let first = theirs.remove(0);
            doubles.extend(theirs.into_iter().map(|s| s.id));
            confirmations.push(confirmation(ours.id, first));
        }
        Ok(match confirmations.len() {
            0 => Look::Absent,
            n if n == sales.len() => Look::Found { confirmations, doubles },
            _ => Look::Partial {
                theirs: confirmations
                    .into_iter()
                    .map(|c| c.uitpas_ticket_sale_id)
                    .chain(doubles)
                    .collect(),
            },
        })
    }
}

/// What a reading of the registration's events found.
pub(super) enum Scanned {
    /// Every sale of the events since the registration was stored, by marker (oldest first).
    Complete(HashMap<String, Vec<RegisteredTicketSale>>),
    Inconclusive(&'static str),
    /// More sales of this event since the order than one look reads (and its passholders' lists
    /// cannot stand in for it).
    TooBusy(String),
    /// UiTPAS refused the look (no permission to search the sales, or the credentials).
    Forbidden(UpstreamError),
}

/// What a look at UiTPAS found of a registration's sales.
pub(super) enum Look {
    /// Every sale, by its marker; `doubles` are UiTPAS ids of the same sale registered again.
    Found {
        confirmations: Vec<Confirmation>,
        doubles: Vec<String>,
    },
    /// None of them, in a complete reading.
    Absent,
    /// Some, not all: an all-or-nothing batch cannot end so. `theirs`: the UiTPAS ids found.
    Partial {
        theirs: Vec<String>,
    },
    Inconclusive(&'static str),
    /// More sales of this event since the order than one look reads: no later look will do.
    TooBusy(String),
    /// UiTPAS refused the look (no permission to search the sales, or the credentials).
    Forbidden(UpstreamError),
}

/// Why a look was inconclusive when UiTPAS could not be read: an outage, retried for as long as
/// it lasts (never parked for it).
pub(super) const UNREADABLE: &str = "UiTPAS could not be read";

/// How long looks that stay inconclusive for other reasons (a list that moves while it is read,
/// in no order) are retried before the order is parked for a person, counted from when it was
/// stored.
pub const LOOK_PATIENCE: Duration = Duration::from_secs(15 * 60);

pub(super) fn too_busy_problem(event: &str) -> Problem {
    Problem::ours(
        "unsettled-busy-event",
        StatusCode::CONFLICT,
        "UiTPAS cannot be searched for this order's sales",
    )
    .with_detail(format!(
        "UiTPAS lists {} sales or more of event {event} since shortly before the order was stored, more than \
         one look reads; the service cannot tell whether UiTPAS holds the order's sales (their \
         regularPriceLabel ends with the marker \"uc-…\" of each ticket sale). Find them in the organizer's \
         report, then retry (if UiTPAS holds none) or abandon the order (which cancels what can be found).",
        reconcile::MAX_SALES
    ))
}

pub(super) fn inconclusive_problem(why: &str) -> Problem {
    Problem::ours(
        "unsettled-inconclusive",
        StatusCode::CONFLICT,
        "UiTPAS's list of the event's sales cannot be read reliably",
    )
    .with_detail(format!(
        "For {} minutes every look at UiTPAS was inconclusive ({why}); the service cannot tell whether UiTPAS \
         holds the order's sales. Retry later, or abandon the order.",
        LOOK_PATIENCE.as_secs() / 60
    ))
}

/// Cancels one UiTPAS sale under `lease` (renewed, fenced, right before the request is written);
/// `404 ticket-sale-not-found` means cancelled already. The inner error: UiTPAS did not confirm.
pub(super) async fn cancel_at_uitpas(
    client: &UitpasClient,
    lease: &mut Lease,
    uitpas_id: &str,
) -> anyhow::Result<Result<(), UpstreamError>> {
    match client.cancel_ticket_sale(uitpas_id, &mut Renewing(lease)).await {
        Gated::Refused(e) => Err(e),
        Gated::Called(Ok(())) => Ok(Ok(())),
        Gated::Called(Err(UpstreamError::Problem { problem, .. })) if problem.is("ticket-sale-not-found") => Ok(Ok(())),
        Gated::Called(Err(e)) => Ok(Err(e)),
    }
}

/// An event's sales at UiTPAS, each page read under a renewed lease.
struct EventPages<'a> {
    uitpas: &'a UitpasClient,
    lease: &'a mut Lease,
    event: &'a str,
}

impl reconcile::Pages for EventPages<'_> {
    async fn page(&mut self, start: u32, limit: u32) -> anyhow::Result<TicketSalePage> {
        self.lease.renew().await?;
        Ok(self.uitpas.ticket_sales_of_event(self.event, start, limit).await?)
    }
}

/// Pairs UiTPAS's answer with our sales: by marker, or by position when UiTPAS did not return
/// the label (it answers in the order sent).
pub(super) fn confirm(sales: &[TicketSaleRow], registered: Vec<RegisteredTicketSale>) -> Vec<Confirmation> {
    let by_marker: HashMap<String, usize> = registered
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((reconcile::marker_in(s.regular_price_label.as_deref()?)?.to_owned(), i)))
        .collect();
    let mut registered: Vec<Option<RegisteredTicketSale>> = registered.into_iter().map(Some).collect();
    sales
        .iter()
        .enumerate()
        .filter_map(|(position, ours)| {
            let i = by_marker.get(&reconcile::marker(ours.id)).copied().unwrap_or(position);
            let theirs = registered.get_mut(i)?.take()?;
            Some(confirmation(ours.id, theirs))
        })
        .collect()
}
fn confirmation(ticket_sale_id: Uuid, theirs: RegisteredTicketSale) -> Confirmation {
    Confirmation {
        ticket_sale_id,
        uitpas_ticket_sale_id: theirs.id,
        tariff_name: theirs.tariff.name,
        tariff_price_cents: theirs.tariff.price.map(Money::cents),
        tariff_type: theirs.tariff.kind.map(|k| match k {
            crate::uitpas::TariffType::Socialtariff => "SOCIALTARIFF".to_owned(),
            crate::uitpas::TariffType::Coupon => "COUPON".to_owned(),
        }),
    }
}
