//! Check-ins at the door: a registered sale's passholder checked in at its event, once a day,
//! with UiTPAS's id of the check-in kept so that a refund can undo it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::flow::{CheckinOutcome, CheckinStatusOutcome, Ledger};
use super::{SaleStatus, reconcile, store};
use crate::outbox::Lease;
use crate::problem::Problem;
use crate::uitpas::{UitpasClient, UpstreamError};

impl Ledger {
    /// Checks the passholder of a registered sale in at its event (`POST /checkins`), keeping
    /// UiTPAS's id of the check-in so that a refund can undo it. Checking in again is not an
    /// error; another ticket of the same pass at the same event on the same day shares the
    /// check-in made for the first, without asking UiTPAS again (UiTPAS checks in once a day).
    #[tracing::instrument(skip_all, fields(ticket_sale_id = %id), err)]
    pub async fn check_in(&self, id: Uuid) -> anyhow::Result<CheckinOutcome> {
        let Some(sale) = self.ticket_sale(id).await? else {
            return Ok(CheckinOutcome::NotFound);
        };
        if sale.status != SaleStatus::Registered {
            return Ok(CheckinOutcome::NotRegistered(sale.status));
        }
        if sale.checked_in_at.is_none() {
            let today = start_of_day(Utc::now());
            let shared =
                store::shared_checkin(&self.db, id, sale.uitpas_number.as_str(), &sale.event_id, today).await?;
            if let Some(shared) = shared {
                if !store::mark_checked_in(&self.db, id, shared.as_deref()).await? {
                    return Ok(CheckinOutcome::NotRegistered(SaleStatus::Cancelled));
                }
            } else {
                let client = self.customers.client(sale.customer_id)?;
                let started = Utc::now();
                let checkin = match client.checkin(&sale.event_id, sale.uitpas_number.as_str()).await {
                    Ok(checkin) => checkin,
                    Err(e @ UpstreamError::Problem { .. }) => {
                        return Ok(CheckinOutcome::Refused(Box::new(Problem::from_upstream(&e))));
                    }
                    Err(e) => return Ok(CheckinOutcome::Unavailable(e)),
                };
                let checkin_id = match checkin.id.filter(|c| !c.is_empty()) {
                    Some(known) => Some(known),
                    // Not in the answer: looked for now; else by the cancellation, should it come.
                    None => self
                        .find_checkin(
                            &client,
                            None,
                            sale.uitpas_number.as_str(),
                            &sale.event_id,
                            started - reconcile::CLOCK_MARGIN,
                        )
                        .await
                        .inspect_err(|e| tracing::warn!(error = format!("{e:#}"), "cannot find the check-in's id"))
                        .ok()
                        .flatten(),
                };
                if !store::mark_checked_in(&self.db, id, checkin_id.as_deref()).await? {
                    // Cancelled while UiTPAS checked the passholder in: that check-in is undone
                    // at once (once; the cancellation did not see it).
                    if let Some(checkin_id) = &checkin_id
                        && let Err(e) = client.delete_checkin(checkin_id).await
                    {
                        tracing::warn!(error = %e, "a check-in of a sale cancelled meanwhile could not be undone");
                    }
                    return Ok(CheckinOutcome::NotRegistered(SaleStatus::Cancelled));
                }
            }
        }
        let sale = self.ticket_sale(id).await?.context("a stored ticket sale")?;
        Ok(CheckinOutcome::Done(Box::new(sale)))
    }

    /// Whether a registered sale can be checked in now: as `PATCH … {checkedIn: true}` would go.
    /// A sale checked in already, or whose pass another ticket checked in at the event today, is
    /// (it shares that check-in) without asking UiTPAS; otherwise UiTPAS says
    /// (`GET /checkin-status`), with its message when not.
    #[tracing::instrument(skip_all, fields(ticket_sale_id = %id), err)]
    pub async fn checkin_status(&self, id: Uuid) -> anyhow::Result<CheckinStatusOutcome> {
        let Some(sale) = self.ticket_sale(id).await? else {
            return Ok(CheckinStatusOutcome::NotFound);
        };
        if sale.status != SaleStatus::Registered {
            return Ok(CheckinStatusOutcome::NotRegistered(sale.status));
        }
        let shared = sale.checked_in_at.is_some()
            || store::shared_checkin(
                &self.db,
                id,
                sale.uitpas_number.as_str(),
                &sale.event_id,
                start_of_day(Utc::now()),
            )
            .await?
            .is_some();
        if shared {
            return Ok(CheckinStatusOutcome::Known {
                allowed: true,
                end_user_message: None,
                checked_in_at: sale.checked_in_at,
            });
        }
        let client = self.customers.client(sale.customer_id)?;
        Ok(
            match client.checkin_status(&sale.event_id, sale.uitpas_number.as_str()).await {
                Ok(status) => CheckinStatusOutcome::Known {
                    allowed: status.allowed,
                    end_user_message: status.end_user_message.filter(|_| !status.allowed),
                    checked_in_at: None,
                },
                Err(e @ UpstreamError::Problem { .. }) => {
                    CheckinStatusOutcome::Refused(Box::new(Problem::from_upstream(&e)))
                }
                Err(e) => CheckinStatusOutcome::Unavailable(e),
            },
        )
    }

    /// Finds the id of the check-in of pass `number` at `event` made at or after `floor`, with
    /// `GET /checkins` (newest first; needs the passholder's id and the event's organizer): for
    /// an answer of `POST /checkins` without an id, and for a check-in recorded before ids were
    /// kept. `None` when UiTPAS lists none. Under a `lease`, it is renewed before every call.
    pub(super) async fn find_checkin(
        &self,
        client: &UitpasClient,
        mut lease: Option<&mut Lease>,
        number: &str,
        event: &str,
        floor: DateTime<Utc>,
    ) -> anyhow::Result<Option<String>> {
        /// A passholder has few check-ins at one organizer's events since a given day.
        const PAGE: u32 = 50;
        const MAX_PAGES: u32 = 4;
        if let Some(lease) = lease.as_deref_mut() {
            lease.renew().await?;
        }
        let Some(passholder) = client.pass_by_identifier(number).await?.passholder_id else {
            return Ok(None);
        };
        if let Some(lease) = lease.as_deref_mut() {
            lease.renew().await?;
        }
        let Some(organizer) = client.event_organizer(event).await? else {
            return Ok(None);
        };
        for page in 0..MAX_PAGES {
            if let Some(lease) = lease.as_deref_mut() {
                lease.renew().await?;
            }
            let checkins = client.checkins(&passholder, &organizer, page * PAGE, PAGE).await?;
            for checkin in &checkins.member {
                if checkin.creation_date.is_some_and(|at| at < floor) {
                    return Ok(None);
                }
                let same_event = checkin
                    .event_id
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(event));
                let same_pass = checkin.uitpas_number.as_deref().is_none_or(|n| n == number);
                if same_event
                    && same_pass
                    && let Some(id) = &checkin.id
                {
                    return Ok(Some(id.clone()));
                }
            }
            if checkins.member.len() < PAGE as usize {
                break;
            }
        }
        Ok(None)
    }
}

/// The start of the (UTC) day of `at`: UiTPAS checks a passholder in once per event and day.
pub(super) fn start_of_day(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive().and_hms_opt(0, 0, 0).map_or(at, |d| d.and_utc())
}
