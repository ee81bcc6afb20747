//! `GET /v1/tariffs` (per pass, never cached: `remaining` changes with every sale) and
//! `GET /v1/tariffs/static` (before the pass is known, cached per event and price).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::auth::Caller;
use super::extract::Query;
use super::problem::{ApiError, ApiResult, Problem};
use crate::domain::{EventId, Money, UitpasNumber};
use crate::uitpas::{TariffFilter, Tariffs};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TariffsQuery {
    /// The UiTdatabank event id.
    #[param(required = true, format = Uuid, example = "5a0967f9-cc06-4c3c-9206-30481a767434")]
    pub event_id: Option<String>,
    /// The buyer's UiTPAS number (13 digits, the last a Luhn check digit).
    #[param(required = true, pattern = "^[0-9]{13}$", example = "0900000067513")]
    pub uitpas_number: Option<String>,
    /// The regular price of the ticket in euros (one of the event's price categories).
    #[param(required = true, pattern = "^[0-9]{1,7}(\\.[0-9]{1,2})?$", example = "10.00")]
    pub regular_price: Option<String>,
    /// Which tariffs: ANY (default), SOCIALTARIFF or COUPON.
    #[serde(rename = "type")]
    #[param(rename = "type", inline)]
    pub kind: Option<TariffFilter>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StaticTariffsQuery {
    /// The UiTdatabank event id.
    #[param(required = true, format = Uuid, example = "5a0967f9-cc06-4c3c-9206-30481a767434")]
    pub event_id: Option<String>,
    /// The regular price of the ticket in euros.
    #[param(required = true, pattern = "^[0-9]{1,7}(\\.[0-9]{1,2})?$", example = "10.00")]
    pub regular_price: Option<String>,
}

pub(super) fn event_id(value: Option<&str>, pointer: &str) -> ApiResult<EventId> {
    let value = value.ok_or_else(|| ApiError::invalid(pointer, "is required"))?;
    EventId::parse(value).map_err(|e| ApiError::invalid(pointer, format!("must be {e}")))
}

pub(super) fn price(value: Option<&str>, pointer: &str) -> ApiResult<Money> {
    let value = value.ok_or_else(|| ApiError::invalid(pointer, "is required"))?;
    value
        .parse::<Money>()
        .map_err(|e| ApiError::invalid(pointer, format!("must be {e}")))
}

pub(in crate::http) fn uitpas_number(value: Option<&str>) -> ApiResult<UitpasNumber> {
    let value = value.ok_or_else(|| ApiError::invalid("/uitpasNumber", "is required"))?;
    UitpasNumber::parse(value).map_err(ApiError::InvalidUitpasNumber)
}

/// The discounted tariffs a pass may pay for an event at a regular price.
///
/// Passed through from UiTPAS, with its `endUserMessage` (show it to the buyer). Never cached:
/// `remaining` changes with every sale.
#[utoipa::path(
    get,
    path = "/v1/tariffs",
    tag = "public",
    operation_id = "get-tariffs",
    security((), ("publicKey" = [])),
    params(TariffsQuery),
    responses(
        (status = 200, description = "The tariffs the pass may choose from", body = Tariffs),
        (status = 400, description = "Bad query (`invalid-request`, `invalid-uitpas-number`) or a refusal by UiTPAS (e.g. `https://api.publiq.be/probs/uitpas/social-tariff-expired`); an `eventId` UiTPAS does not know is 400 `https://api.publiq.be/probs/uitpas/event-not-found`, as UiTPAS answers it (the event is a parameter here, not the resource)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No publishable key or checkout token (production), or an expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An event the checkout token is not for, its budget of passes spent, an origin that is not the customer's, or a disabled customer", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_tariffs(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<TariffsQuery>,
) -> ApiResult<Response> {
    let event = event_id(q.event_id.as_deref(), "/eventId")?;
    let number = uitpas_number(q.uitpas_number.as_deref())?;
    let price = price(q.regular_price.as_deref(), "/regularPrice")?;
    caller.check_event(event.as_str())?;
    state.public.charge_pass(&caller, &number).await?;
    let tariffs = caller
        .customer
        .client
        .tariffs(event.as_str(), &number, price, q.kind.unwrap_or_default())
        .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(tariffs)).into_response())
}

/// The social tariff of an event before the pass is known ("from € 2 with UiTPAS").
#[utoipa::path(
    get,
    path = "/v1/tariffs/static",
    tag = "public",
    operation_id = "get-static-tariffs",
    security((), ("publicKey" = [])),
    params(StaticTariffsQuery),
    responses(
        (status = 200, description = "The event's social tariffs at this price", body = Tariffs),
        (status = 400, description = "Bad query, or a refusal by UiTPAS (`https://api.publiq.be/probs/uitpas/social-tariff-not-available`); an `eventId` UiTPAS does not know is 400 `https://api.publiq.be/probs/uitpas/event-not-found`, as UiTPAS answers it (the event is a parameter here, not the resource)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No publishable key or checkout token (production), or an expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An event the checkout token is not for, its budget of passes spent, an origin that is not the customer's, or a disabled customer", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_static_tariffs(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<StaticTariffsQuery>,
) -> ApiResult<Response> {
    let event = event_id(q.event_id.as_deref(), "/eventId")?;
    let price = price(q.regular_price.as_deref(), "/regularPrice")?;
    caller.check_event(event.as_str())?;
    let customer = &caller.customer;
    let tariffs = state
        .static_tariffs
        .get_with(
            (customer.slot, event.to_string(), price),
            customer.client.static_tariffs(event.as_str(), price),
        )
        .await?;
    Ok(([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(tariffs)).into_response())
}
