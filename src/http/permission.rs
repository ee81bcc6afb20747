//! Whether a customer may sell for an event's organizer: the event's organizer from UiTdatabank
//! (cached), checked against the customer's UiTPAS permissions (`TICKETSALES_REGISTER`).

use std::sync::Arc;

use axum::http::StatusCode;

use super::AppState;
use super::problem::{ApiError, Problem};
use crate::customers::Customer;
use crate::uitpas::EventFacts;

/// A UiTdatabank event's organizer and prices (Entry API `GET /events/{id}`), read once per
/// customer and event for ten minutes, concurrent misses sharing one call. An event that cannot be
/// read (unknown, UiTdatabank unreachable) is kept as unknown for as long: nothing is refused on it.
pub async fn event_facts(state: &AppState, customer: &Customer, event_id: &str) -> Arc<EventFacts> {
    let client = customer.client.clone();
    let event = event_id.to_owned();
    state
        .organizers
        .get_with((customer.slot, event_id.to_owned()), async move {
            Ok(client
                .event_facts(&event)
                .await
                .inspect_err(|e| tracing::debug!(error = %e, "cannot read a UiTdatabank event"))
                .unwrap_or_default())
        })
        .await
        .unwrap_or_default()
}

/// Whether `customer` may register sales for `event_id`'s organizer: `None` when that cannot be
/// told (permissions not read yet, the organizer unknown or unreadable), `Err(organizer)` when it
/// may not.
pub async fn may_register(state: &AppState, customer: &Customer, event_id: &str) -> Option<Result<(), String>> {
    let permissions = customer.permissions()?;
    let organizer = event_facts(state, customer, event_id).await.organizer.clone()?;
    Some(
        if permissions.allows(&organizer, crate::customers::permissions::REGISTER) {
            Ok(())
        } else {
            Err(organizer)
        },
    )
}

/// The problem of a registration or activity for an organizer the customer may not sell for.
pub fn permission_missing(organizer: &str) -> ApiError {
    ApiError::Problem(Box::new(
        Problem::ours(
            "permission-missing",
            StatusCode::FORBIDDEN,
            "This customer may not register UiTPAS sales for this organizer",
        )
        .with_detail(format!(
            "UiTPAS (GET /permissions) gives this customer's client no {} permission for organizer {organizer}; \
             ask publiq to grant it. Nothing was sent to UiTPAS.",
            crate::customers::permissions::REGISTER
        )),
    ))
}
