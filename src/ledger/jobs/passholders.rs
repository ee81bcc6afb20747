//! A look by passholder (issue 24): where the customer may search the sales of an event's
//! organizer, a look reads, for each pass of the order, its passholder's sales with that organizer
//! (`GET /ticket-sales?passholderId&organizerId`, publiq's since 2026-06) instead of all the event's
//! sales: a short list, however busy the event. Kept to the order's events and to the floor the
//! event look uses, it holds every sale with one of the order's markers on those events (a marker
//! is only ever sent with its line's pass and event), so what a look concludes from it — found,
//! doubles, none — means what it means after reading the event's sales.
//!
//! An event is read whole instead (the event look, bounded by [`reconcile::MAX_SALES`]) where a
//! passholder's list cannot stand in for it:
//! - a line of a **group pass**: publiq documents that a sale's passholder "can be empty, e.g. for
//!   group passes", although `GET /passes` answers a `passholderId` for one (its group pass id), so
//!   its sales cannot be trusted to show up in a passholder's list;
//! - **no permission**: the customer's permissions (`GET /permissions`) were never read, or give no
//!   TICKETSALES_SEARCH for the event's organizer (then the event look gets UiTPAS's 403 and the
//!   order is parked, as before);
//! - the event has **no organizer** in UiTdatabank, or UiTdatabank cannot tell it;
//! - the **pass lookup** (`GET /passes?identifier=`) fails: a card replaced or blocked since the
//!   order, a pass UiTPAS no longer knows, an outage;
//! - UiTPAS **refuses the passholder's list** (a 4xx), or it is longer than a look reads.
//!
//! When a lookup failed only for now (an outage), a later look may still read the short list: an
//! event that is then too busy for the event look is retried as an outage, not parked.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::look::UNREADABLE;
use crate::customers::permissions::SEARCH;
use crate::ledger::TicketSaleRow;
use crate::ledger::flow::Ledger;
use crate::ledger::reconcile;
use crate::outbox::Lease;
use crate::uitpas::verdict::Verdict;
use crate::uitpas::{PassType, RegisteredTicketSale, TicketSalePage, UitpasClient, UpstreamError};

/// Why an event is read whole rather than through its passholders' lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Whole {
    /// For as long as the order exists: a group pass, no permission, no organizer, a refusal.
    Always,
    /// A lookup failed for now (an outage): a later look may read the passholders' lists.
    ForNow,
}

/// How one look reads the order's events.
pub(super) struct Plan {
    /// Passholders' lists, each standing in for its lines at some events.
    pub searches: Vec<Search>,
    /// Events read whole (their sales since the floor), and why.
    pub whole: BTreeMap<String, Whole>,
}

/// One passholder's sales with the organizers of some of the order's events.
pub(super) struct Search {
    pub passholder: String,
    pub organizers: BTreeSet<String>,
    /// The order's events whose lines of this passholder the list stands in for.
    pub events: BTreeSet<String>,
}

impl Search {
    fn covers(&self, event_id: &str) -> bool {
        self.events.iter().any(|e| e.eq_ignore_ascii_case(event_id))
    }
}

/// What reading one passholder's list came to.
pub(super) enum Listed {
    /// Its sales at the events it stands in for, created since the floor (or without a date).
    Sales(Vec<RegisteredTicketSale>),
    /// Read those events whole instead: UiTPAS refused the list, or it is longer than a look reads.
    Whole,
    Inconclusive(&'static str),
}

impl Ledger {
    /// Decides, for a look at `sales` of one order, which events are read through passholders'
    /// lists and which whole; asks UiTdatabank for each event's organizer and UiTPAS for each pass,
    /// under `lease` (renewed before every call).
    pub(super) async fn plan_look(
        &self,
        client: &UitpasClient,
        lease: &mut Lease,
        sales: &[TicketSaleRow],
    ) -> anyhow::Result<Plan> {
        let events: BTreeSet<&str> = sales.iter().map(|s| s.event_id.as_str()).collect();
        let permissions = sales
            .first()
            .and_then(|s| self.customers.get(s.customer_id))
            .and_then(|c| c.permissions());
        let Some(permissions) = permissions else {
            // Never read (or not readable): nothing says UiTPAS lets this client search by passholder.
            return Ok(Plan {
                searches: Vec::new(),
                whole: events.into_iter().map(|e| (e.to_owned(), Whole::Always)).collect(),
            });
        };
        let mut whole = BTreeMap::new();
        // The organizer of each event, from UiTdatabank (the source UiTPAS takes it from): one
        // call per event and look, which only follows an unclear answer.
        let mut organizers: BTreeMap<&str, String> = BTreeMap::new();
        for event in events {
            lease.renew().await?;
            match client.event_organizer(event).await {
                Ok(Some(organizer)) if permissions.allows(&organizer, SEARCH) => {
                    organizers.insert(event, organizer);
                }
                Ok(_) => {
                    whole.insert(event.to_owned(), Whole::Always);
                }
                Err(e) => {
                    whole.insert(event.to_owned(), whole_for(&e));
                }
            }
        }
        // The passholder of each pass at those events.
        let mut holders: BTreeMap<&str, Result<String, Whole>> = BTreeMap::new();
        for sale in sales.iter().filter(|s| organizers.contains_key(s.event_id.as_str())) {
            if holders.contains_key(sale.uitpas_number.as_str()) {
                continue;
            }
            lease.renew().await?;
            let holder = match client.pass_by_identifier(&sale.uitpas_number).await {
                Ok(pass) if pass.pass.pass_type == PassType::Individual => pass
                    .passholder_id
                    .filter(|id| !id.trim().is_empty())
                    .ok_or(Whole::Always),
                // A group pass: its sales need not carry a passholder to be found by.
                Ok(_) => Err(Whole::Always),
                Err(e) => Err(whole_for(&e)),
            };
            holders.insert(sale.uitpas_number.as_str(), holder);
        }
        // An event goes through passholders' lists only when every pass of its lines has one.
        for sale in sales {
            if let Some(Err(why)) = holders.get(sale.uitpas_number.as_str())
                && organizers.contains_key(sale.event_id.as_str())
            {
                let kept = whole.entry(sale.event_id.clone()).or_insert(*why);
                *kept = (*kept).max(*why);
            }
        }
        let mut searches: BTreeMap<&str, Search> = BTreeMap::new();
        for sale in sales.iter().filter(|s| !whole.contains_key(&s.event_id)) {
            let (Some(organizer), Some(Ok(holder))) = (
                organizers.get(sale.event_id.as_str()),
                holders.get(sale.uitpas_number.as_str()),
            ) else {
                continue;
            };
            let search = searches.entry(holder.as_str()).or_insert_with(|| Search {
                passholder: holder.clone(),
                organizers: BTreeSet::new(),
                events: BTreeSet::new(),
            });
            search.organizers.insert(organizer.clone());
            search.events.insert(sale.event_id.clone());
        }
        Ok(Plan {
            searches: searches.into_values().collect(),
            whole,
        })
    }
}

/// Reads one passholder's sales with the organizers of `search`, all of them that a look reads,
/// and keeps those at its events created since `floor`.
pub(super) async fn passholder_sales(
    client: &UitpasClient,
    lease: &mut Lease,
    search: &Search,
    floor: DateTime<Utc>,
) -> anyhow::Result<Listed> {
    let organizers: Vec<&str> = search.organizers.iter().map(String::as_str).collect();
    let mut pages = PassholderPages {
        uitpas: client,
        lease,
        passholder: &search.passholder,
        organizers: &organizers,
    };
    Ok(match reconcile::sales_since(&mut pages, floor).await {
        Ok(reconcile::Scan::Complete(sales)) => Listed::Sales(
            sales
                .into_iter()
                .filter(|s| search.covers(&s.event_id) && s.creation_date.is_none_or(|at| at >= floor))
                .collect(),
        ),
        Ok(reconcile::Scan::Inconclusive(why)) => Listed::Inconclusive(why),
        // Thousands of sales of one passholder since the order: the events' lists may be shorter.
        Ok(reconcile::Scan::TooBusy) => Listed::Whole,
        Err(e) => match e.downcast::<UpstreamError>() {
            // Refused (the permission is not what `GET /permissions` said, a UiTPAS without the
            // passholder form): the event look decides, and says why when it cannot either.
            Ok(e) if whole_for(&e) == Whole::Always => Listed::Whole,
            Ok(_) => Listed::Inconclusive(UNREADABLE),
            Err(e) => return Err(e),
        },
    })
}

/// Whether a failed lookup says something lasting (a refusal, a missing permission, an answer
/// that is not UiTPAS's contract) or fails for now (an outage).
fn whole_for(e: &UpstreamError) -> Whole {
    let inner = match e {
        UpstreamError::UiTdatabank(inner) => inner.as_ref(),
        e => e,
    };
    if matches!(inner, UpstreamError::Decode(_)) {
        return Whole::Always;
    }
    match Verdict::of(e, |_, _| true) {
        Verdict::Refused | Verdict::NeedsPerson => Whole::Always,
        Verdict::Ended | Verdict::Unknown => Whole::ForNow,
    }
}

/// One passholder's sales at UiTPAS, each page read under a renewed lease.
struct PassholderPages<'a> {
    uitpas: &'a UitpasClient,
    lease: &'a mut Lease,
    passholder: &'a str,
    organizers: &'a [&'a str],
}

impl reconcile::Pages for PassholderPages<'_> {
    async fn page(&mut self, start: u32, limit: u32) -> anyhow::Result<TicketSalePage> {
        self.lease.renew().await?;
        Ok(self
            .uitpas
            .ticket_sales_of_passholder(self.passholder, self.organizers, start, limit)
            .await?)
    }
}
