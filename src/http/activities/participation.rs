//! `GET /v1/events/{eventId}/uitpas` (public): whether an event takes part in UiTPAS, so the
//! checkout can hide the UiTPAS field for events that don't; also shown with every activity.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::customers::Customer;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::problem::{ApiResult, Problem};
use crate::http::tariffs::event_id;
use crate::uitpas::EventCardSystem;

/// Whether an event takes part in UiTPAS.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Participation {
    pub enabled: bool,
    pub card_systems: Vec<EventCardSystem>,
}

pub(super) async fn participation(
    state: &AppState,
    customer: &Customer,
    event_id: &str,
) -> Result<Participation, crate::uitpas::UpstreamError> {
    let systems = state
        .participation
        .get_with(
            (customer.slot, event_id.to_owned()),
            customer.client.event_card_systems(event_id),
        )
        .await?;
    // Not for sale here when the customer may not register sales for the event's organizer.
    let permitted = crate::http::permission::may_register(state, customer, event_id).await;
    Ok(Participation {
        enabled: systems.iter().any(|cs| cs.enabled) && !matches!(permitted, Some(Err(_))),
        card_systems: systems.iter().filter(|cs| cs.enabled).cloned().collect(),
    })
}

/// Whether an event takes part in UiTPAS (its enabled card systems), cached ten minutes; `enabled`
/// is false too when the customer may not register sales for the event's organizer (its
/// permissions from `GET /permissions`).
#[utoipa::path(
    get,
    path = "/v1/events/{eventId}/uitpas",
    tag = "public",
    operation_id = "get-event-uitpas",
    security((), ("publicKey" = [])),
    params(("eventId" = String, Path, format = Uuid, description = "The UiTdatabank event id")),
    responses(
        (status = 200, description = "The event's UiTPAS participation", body = Participation),
        (status = 400, description = "Not an event id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "UiTPAS does not know the event of the path (`https://api.publiq.be/probs/uitpas/event-not-found`: 404 here, as UiTPAS answers for the event's card systems; 400 where the event is a parameter or a field)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_event_uitpas(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let event = event_id(Some(&raw), "/eventId")?;
    caller.check_event(event.as_str())?;
    let participation = participation(&state, &caller.customer, event.as_str()).await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=600")],
        axum::Json(participation),
    )
        .into_response())
}
