//! Shop endpoints (the shop backend, with a secret key): register the sales of a paid order exactly
//! once, read and search them, cancel them.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::attention::Work;
use super::auth::Caller;
use super::extract::uuid_path;
use super::extract::{Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::tariffs::{event_id, uitpas_number};
use super::views::{Registration, TicketSale, Warning};
use crate::db::retry_on_dead_connection;
use crate::domain::Money;
use crate::ledger::flow::{CancelOutcome, CheckinOutcome, NewRegistration, NewTicket, RegisterOutcome};
use crate::ledger::store::SaleFilter;
use crate::ledger::{RegistrationStatus, SaleStatus};

const MAX_TICKETS: usize = 100;
const MAX_SALES: u32 = 200;
const MAX_QUANTITY: u32 = 100;
const MAX_TEXT: usize = 200;
pub(super) const MAX_PAGE: u32 = 100;

/// 404 unless registration `id` is the caller's (another customer's is not even said to exist).
pub(super) async fn owned_registration(state: &AppState, caller: &Caller, id: uuid::Uuid) -> ApiResult<()> {
    let owner = retry_on_dead_connection(|| async {
        Ok::<_, anyhow::Error>(
            sqlx::query_scalar!("SELECT customer_id FROM registrations WHERE id = $1", id)
                .fetch_optional(state.ledger.db())
                .await?,
        )
    })
    .await?;
    owner.filter(|o| caller.owns(*o)).map(drop).ok_or(ApiError::NotFound)
}

/// 404 unless ticket sale `id` is the caller's.
pub(super) async fn owned_sale(state: &AppState, caller: &Caller, id: uuid::Uuid) -> ApiResult<()> {
    let owner = retry_on_dead_connection(|| async {
        Ok::<_, anyhow::Error>(
            sqlx::query_scalar!(
                "SELECT r.customer_id FROM ticket_sales t JOIN registrations r ON r.id = t.registration_id
                 WHERE t.id = $1",
                id
            )
            .fetch_optional(state.ledger.db())
            .await?,
        )
    })
    .await?;
    owner.filter(|o| caller.owns(*o)).map(drop).ok_or(ApiError::NotFound)
}

/// The body of `POST /v1/registrations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrationRequest {
    /// The shop's order id.
    #[schema(example = "order-2026-0042", min_length = 1, max_length = 200)]
    pub order_id: String,
    /// The order's UiTPAS tickets; registered at UiTPAS as one all-or-nothing batch.
    #[schema(min_items = 1, max_items = 100)]
    pub tickets: Vec<TicketRequest>,
    /// Register the sales now as a hold before payment: confirm it after payment
    /// (`POST /v1/registrations/{id}/confirm`) or release it when payment fails
    /// (`.../release`); a hold not confirmed in time is released by the service.
    pub hold: Option<HoldRequest>,
}

/// A hold before payment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldRequest {
    /// Seconds until an unconfirmed hold is released; `HOLD_TTL` by default.
    #[schema(minimum = 1, maximum = 7200, example = 900)]
    pub expires_in: Option<u32>,
}

/// The longest hold a request may ask for.
const MAX_HOLD_SECONDS: u32 = 7200;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketRequest {
    #[schema(example = "5a0967f9-cc06-4c3c-9206-30481a767434", format = Uuid)]
    pub event_id: String,
    #[schema(example = "0900000067513", pattern = "^[0-9]{13}$")]
    pub uitpas_number: String,
    /// The tariff the buyer chose (an `id` from `GET /v1/tariffs`); coupons are tariffs too.
    #[schema(example = "kansentarief-regio-gent", min_length = 1, max_length = 200)]
    pub tariff_id: String,
    /// The regular price in euros.
    #[schema(value_type = f64, example = 10.0)]
    pub regular_price: Money,
    pub regular_price_label: Option<String>,
    /// How many tickets at this tariff (group passes); each is one UiTPAS ticket sale. Default 1.
    #[serde(default = "one")]
    #[schema(default = 1, minimum = 1, maximum = 100)]
    pub quantity: u32,
    /// The shop's own reference of the ticket.
    pub external_id: Option<String>,
    /// What the buyer paid, in euros.
    #[schema(value_type = Option<f64>)]
    pub paid_price: Option<Money>,
    /// VAT rate in percent.
    #[schema(minimum = 0, maximum = 100)]
    pub vat: Option<f64>,
}

fn one() -> u32 {
    1
}

fn text(value: &str, pointer: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(
            pointer,
            format!("must have 1 to {MAX_TEXT} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(pointer, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

pub(super) fn optional_text(value: Option<&str>, pointer: &str) -> ApiResult<Option<String>> {
    value.map(|v| text(v, pointer)).transpose()
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let key = headers.get("idempotency-key").ok_or_else(|| {
        ApiError::invalid(
            "/headers/Idempotency-Key",
            "is required: a unique key per order, reused on a retry",
        )
    })?;
    let key = key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| ApiError::invalid("/headers/Idempotency-Key", "must be 1 to 255 visible ASCII characters"))?;
    Ok(key.to_owned())
}

/// Checks an order and puts it in normal form (the form compared when a key is reused).
fn validate(
    customer_id: uuid::Uuid,
    key: String,
    request: RegistrationRequest,
    hold_ttl: Duration,
) -> ApiResult<NewRegistration> {
    let order_id = text(&request.order_id, "/orderId")?;
    if request.tickets.is_empty() || request.tickets.len() > MAX_TICKETS {
        return Err(ApiError::invalid(
            "/tickets",
            format!("must have 1 to {MAX_TICKETS} tickets"),
        ));
    }
    let mut tickets = Vec::with_capacity(request.tickets.len());
    let mut total = 0;
    for (i, t) in request.tickets.into_iter().enumerate() {
        let at = |field: &str| format!("/tickets/{i}/{field}");
        let number = uitpas_number(Some(&t.uitpas_number)).map_err(|e| match e {
            ApiError::InvalidUitpasNumber(why) => ApiError::invalid(&at("uitpasNumber"), why.to_string()),
            other => other,
        })?;
        if !(1..=MAX_QUANTITY).contains(&t.quantity) {
            return Err(ApiError::invalid(
                &at("quantity"),
                format!("must be 1 to {MAX_QUANTITY}"),
            ));
        }
        total += t.quantity;
        if let Some(vat) = t.vat
            && !(0.0..=100.0).contains(&vat)
        {
            return Err(ApiError::invalid(&at("vat"), "must be a rate in percent, 0 to 100"));
        }
        tickets.push(NewTicket {
            event_id: event_id(Some(&t.event_id), &at("eventId"))?,
            uitpas_number: number,
            tariff_id: text(&t.tariff_id, &at("tariffId"))?,
            regular_price: t.regular_price,
            regular_price_label: optional_text(t.regular_price_label.as_deref(), &at("regularPriceLabel"))?,
            quantity: t.quantity,
            external_id: optional_text(t.external_id.as_deref(), &at("externalId"))?,
            paid_price: t.paid_price,
            vat: t.vat,
        });
    }
    if total > MAX_SALES {
        return Err(ApiError::invalid(
            "/tickets",
            format!("at most {MAX_SALES} ticket sales (quantities added up) per order"),
        ));
    }
    let hold = match request.hold {
        None => None,
        Some(HoldRequest { expires_in: None }) => Some(hold_ttl),
        Some(HoldRequest { expires_in: Some(s) }) if (1..=MAX_HOLD_SECONDS).contains(&s) => {
            Some(Duration::from_secs(u64::from(s)))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "/hold/expiresIn",
                format!("must be 1 to {MAX_HOLD_SECONDS} seconds"),
            ));
        }
    };
    let normal = json!({
        "orderId": order_id,
        "hold": hold.map(|ttl| json!({"expiresIn": ttl.as_secs()})),
        "tickets": tickets.iter().map(|t| json!({
            "eventId": t.event_id.as_str(),
            "uitpasNumber": t.uitpas_number.as_str(),
            "tariffId": t.tariff_id,
            "regularPrice": t.regular_price.cents(),
            "regularPriceLabel": t.regular_price_label,
            "quantity": t.quantity,
            "externalId": t.external_id,
            "paidPrice": t.paid_price.map(Money::cents),
            "vat": t.vat,
        })).collect::<Vec<_>>(),
    });
    Ok(NewRegistration {
        customer_id,
        idempotency_key: key,
        order_id,
        request: normal,
        tickets,
        hold,
    })
}

/// Registers the UiTPAS sales of a paid order, exactly once per `Idempotency-Key`.
///
/// The order is stored before UiTPAS is called and sent as one all-or-nothing batch (a ticket of
/// quantity N is N ticket sales). 201: registered. 202: stored but not confirmed by UiTPAS
/// (unreachable, 5xx or timeout): it will be registered by the worker — never reported failed
/// while UiTPAS may have committed. A 4xx problem: UiTPAS refused it, nothing is registered; the
/// problem keeps UiTPAS's `type` and `endUserMessage`, and `jsonPointer` names the ticket. The
/// same key and body again get the same answer without a second registration; the same key with
/// another body gets 422.
#[utoipa::path(
    post,
    path = "/v1/registrations",
    tag = "shop",
    operation_id = "post-registration",
    security(("shopKey" = [])),
    params(("Idempotency-Key" = String, Header, description = "A unique key per order; reuse it when retrying")),
    request_body = RegistrationRequest,
    responses(
        (status = 201, description = "Registered at UiTPAS (status registered; or held, for a hold: confirm it after payment)", body = Registration),
        (status = 202, description = "Stored; UiTPAS has not confirmed it yet (status pending): the service's worker registers it", body = Registration),
        (status = 400, description = "Malformed order (`invalid-request`), or refused by UiTPAS (its `type`, e.g. `https://api.publiq.be/probs/uitpas/maximum-reached`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The customer may not register sales for an event's organizer (`permission-missing`, from UiTPAS's GET /permissions); nothing was stored or sent", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`order-id-taken`: the customer registered this orderId with another Idempotency-Key, and that registration is live (not rejected, not a released or expired hold). Nothing was stored; `existing` is that registration (also at `Location`). Retry an order with its first key; another order needs another orderId", body = OrderIdTaken, content_type = "application/problem+json", headers(("Location" = String, description = "The existing registration"))),
        (status = 422, description = "The Idempotency-Key was used for another request (`idempotency-key-reused`), or a `regularPrice` is 100 times one of the event's prices in UiTdatabank and none of them (`regular-price-in-cents`: prices are in euros; `schemaErrors` names the ticket)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS refused the service itself (its credentials or permissions): `needs-attention`, with `registrationId`. Nothing is registered, and nothing will be until an operator acts; do not give the discount. The same request again answers its state then; a webhook says how it ended", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn post_registration(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(request): Json<RegistrationRequest>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let new = validate(caller.customer.id, key, request, state.config.hold_ttl.0)?;
    // Refused before anything is stored or sent when UiTPAS says the customer may not register
    // sales for an event's organizer.
    let events: std::collections::BTreeSet<&str> = new.tickets.iter().map(|t| t.event_id.as_str()).collect();
    for event in events {
        if let Some(Err(organizer)) = super::permission::may_register(&state, &caller.customer, event).await {
            return Err(super::permission::permission_missing(&organizer));
        }
    }
    let warnings = check_prices(&state, &caller.customer, &new).await?;
    match retry_on_dead_connection(|| state.ledger.register(new.clone())).await? {
        RegisterOutcome::Stored(registration) => {
            let status = match registration.status {
                // A hold is registered at UiTPAS too.
                RegistrationStatus::Registered | RegistrationStatus::Held => StatusCode::CREATED,
                // Work that will not finish by itself is not a 2xx.
                RegistrationStatus::NeedsAttention => {
                    return Ok(super::attention::needs_attention(
                        Work::Registration,
                        registration.problem.as_ref(),
                        Some(registration.id),
                    )
                    .into_response());
                }
                _ => StatusCode::ACCEPTED,
            };
            let mut view = Registration::from(registration);
            view.warnings = warnings;
            Ok((status, axum::Json(view)).into_response())
        }
        RegisterOutcome::Rejected(problem) => Ok(problem.into_response()),
        RegisterOutcome::OrderIdTaken(existing) => Ok(order_id_taken(*existing)),
        RegisterOutcome::KeyReused => Ok(Problem::ours(
            "idempotency-key-reused",
            StatusCode::UNPROCESSABLE_ENTITY,
            "Idempotency-Key reused",
        )
        .with_detail("This Idempotency-Key was used for another request; use a new key for a new order.")
        .into_response()),
    }
}

/// The answer to an order id that has a registration under another Idempotency-Key: a problem,
/// with that registration.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderIdTaken {
    #[serde(flatten)]
    pub problem: Problem,
    /// The order's registration, as `GET /v1/registrations/{id}` answers it (also at `Location`).
    pub existing: Registration,
}

fn order_id_taken(existing: crate::ledger::Registration) -> Response {
    let id = existing.id;
    let mut problem = Problem::ours(
        "order-id-taken",
        StatusCode::CONFLICT,
        "This order has a registration already",
    )
    .with_detail(format!(
        "Order {:?} was registered with another Idempotency-Key (`existing`, also at `Location`); nothing was stored. \
             An order is registered once: to retry it, send its first Idempotency-Key again; another order needs \
             another orderId. The order id is free again once its registration is rejected or its hold released \
             or expired.",
        existing.order_id
    ));
    problem.registration_id = Some(id);
    let body = OrderIdTaken {
        problem,
        existing: Registration::from(existing),
    };
    let mut response = (StatusCode::CONFLICT, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    if let Ok(location) = axum::http::HeaderValue::from_str(&format!("/v1/registrations/{id}")) {
        headers.insert(axum::http::header::LOCATION, location);
    }
    response
}

/// Checks each ticket's `regularPrice` against its event's prices in UiTdatabank, when the event
/// is known and has prices (read with the event's organizer, cached ten minutes: no call of its
/// own on a busy checkout). A price that is none of them but 100 times one of them is a price in
/// cents: 422 `regular-price-in-cents`, nothing stored (unless the Idempotency-Key was accepted
/// before: its retry is answered as before). Any other price that is none of them is accepted,
/// with a warning in the answer.
async fn check_prices(
    state: &AppState,
    customer: &crate::customers::Customer,
    new: &NewRegistration,
) -> ApiResult<Vec<Warning>> {
    let mut warnings = Vec::new();
    for (i, ticket) in new.tickets.iter().enumerate() {
        let facts = super::permission::event_facts(state, customer, ticket.event_id.as_str()).await;
        let Some(prices) = facts.prices.as_deref().filter(|p| !p.is_empty()) else {
            continue;
        };
        let asked = ticket.regular_price;
        if prices.contains(&asked) {
            continue;
        }
        let pointer = format!("/tickets/{i}/regularPrice");
        let listed = prices.iter().map(|p| format!("€ {p}")).collect::<Vec<_>>().join(", ");
        if let Some(euros) = prices
            .iter()
            .find(|p| p.cents() > 0 && p.cents() * 100 == asked.cents())
        {
            let known = crate::ledger::store::registration_by_key(state.ledger.db(), customer.id, &new.idempotency_key)
                .await
                .map_err(anyhow::Error::from)?;
            if known.is_some() {
                continue;
            }
            let error = format!(
                "{asked} is 100 times € {euros}, one of the event's prices in UiTdatabank: regularPrice is in euros, not cents"
            );
            let mut problem = Problem::ours(
                "regular-price-in-cents",
                StatusCode::UNPROCESSABLE_ENTITY,
                "A regular price looks like cents",
            )
            .with_detail(format!(
                "{pointer}: {error} (the event's prices: {listed}). Send {euros}. Nothing was stored or sent."
            ));
            problem.json_pointer = Some(format!("/tickets/{i}"));
            problem.schema_errors = vec![crate::uitpas::SchemaError {
                json_pointer: pointer,
                error,
            }];
            return Err(ApiError::Problem(Box::new(problem)));
        }
        warnings.push(Warning {
            kind: "urn:uitpas-checkout:warning:regular-price-unknown".into(),
            json_pointer: pointer,
            detail: format!(
                "€ {asked} is none of the event's prices in UiTdatabank ({listed}); publiq expects the regular price \
                 to be one of them. Registered as sent. If the price changed, update the event (PUT /v1/activities/{{id}})."
            ),
        });
    }
    Ok(warnings)
}

/// A registration with its status and ticket sales.
#[utoipa::path(
    get,
    path = "/v1/registrations/{id}",
    tag = "shop",
    operation_id = "get-registration",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The registration id")),
    responses(
        (status = 200, description = "The registration", body = Registration),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such registration", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn get_registration(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Registration>> {
    let id = uuid_path(&id)?;
    retry_on_dead_connection(|| state.ledger.registration(id))
        .await?
        .filter(|r| caller.owns(r.customer_id))
        .map(|r| axum::Json(Registration::from(r)))
        .ok_or(ApiError::NotFound)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SaleSearch {
    /// The shop's order id.
    pub order_id: Option<String>,
    /// The passholder's UiTPAS number.
    #[param(pattern = "^[0-9]{13}$")]
    pub uitpas_number: Option<String>,
    /// The UiTdatabank event id.
    #[param(format = Uuid)]
    pub event_id: Option<String>,
    /// pending, registered, rejected, cancelling or cancelled.
    #[param(inline)]
    pub status: Option<SaleStatus>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Skip this many (default 0).
    #[param(minimum = 0, maximum = 2147483647)]
    pub start: Option<u32>,
    /// At most this many, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// A page of ticket sales.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketSalePage {
    pub total_items: i64,
    pub member: Vec<TicketSale>,
}

/// Searches ticket sales by order, passholder, event, status and period, oldest first.
#[utoipa::path(
    get,
    path = "/v1/ticket-sales",
    tag = "shop",
    operation_id = "search-ticket-sales",
    security(("shopKey" = [])),
    params(SaleSearch),
    responses(
        (status = 200, description = "The matching ticket sales", body = TicketSalePage),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn search_ticket_sales(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<SaleSearch>,
) -> ApiResult<axum::Json<TicketSalePage>> {
    let (start, limit) = super::extract::page(q.start, q.limit, MAX_PAGE)?;
    let filter = SaleFilter {
        customer_id: caller.customer.id,
        order_id: optional_text(q.order_id.as_deref(), "/orderId")?,
        uitpas_number: q
            .uitpas_number
            .as_deref()
            .map(|n| {
                crate::domain::UitpasNumber::parse(n)
                    .map(|n| n.as_str().to_owned())
                    .map_err(|why| ApiError::invalid("/uitpasNumber", why.to_string()))
            })
            .transpose()?,
        event_id: q
            .event_id
            .as_deref()
            .map(|e| event_id(Some(e), "/eventId").map(|e| e.to_string()))
            .transpose()?,
        status: q.status,
        from: q.from,
        to: q.to,
    };
    let (total, rows) = retry_on_dead_connection(|| async {
        crate::ledger::store::search_sales(state.ledger.db(), &filter, start, limit)
            .await
            .map_err(anyhow::Error::from)
    })
    .await?;
    Ok(axum::Json(TicketSalePage {
        total_items: total,
        member: rows
            .into_iter()
            .map(|row| crate::ledger::TicketSale::try_from(row).map(TicketSale::from))
            .collect::<anyhow::Result<_>>()?,
    }))
}

/// One ticket sale.
#[utoipa::path(
    get,
    path = "/v1/ticket-sales/{id}",
    tag = "shop",
    operation_id = "get-ticket-sale",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The ticket sale id (ours, not UiTPAS's)")),
    responses(
        (status = 200, description = "The ticket sale", body = TicketSale),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket sale", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn get_ticket_sale(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<TicketSale>> {
    let id = uuid_path(&id)?;
    retry_on_dead_connection(|| state.ledger.ticket_sale(id))
        .await?
        .filter(|t| caller.owns(t.customer_id))
        .map(|t| axum::Json(TicketSale::from(t)))
        .ok_or(ApiError::NotFound)
}

/// Cancels a ticket sale at UiTPAS (a refund or an unsubscription).
///
/// A checked-in sale's check-in is undone at UiTPAS first (`DELETE /checkins/{checkinId}`; kept
/// while another registered ticket of the same pass shares it), then the sale is cancelled; both
/// are replayed until UiTPAS confirms. 204: cancelled (also when it already was). 202: UiTPAS could not be reached; the cancellation
/// is stored and replayed until UiTPAS confirms it. 409: the sale is not registered (pending or
/// rejected).
#[utoipa::path(
    delete,
    path = "/v1/ticket-sales/{id}",
    tag = "shop",
    operation_id = "cancel-ticket-sale",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The ticket sale id (ours, not UiTPAS's)")),
    responses(
        (status = 204, description = "Cancelled at UiTPAS"),
        (status = 202, description = "Stored; the cancellation will be replayed until UiTPAS confirms it", body = TicketSale),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket sale", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not registered (pending or rejected): nothing to cancel", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS refused the cancellation (`needs-attention`): the sale stays registered and the cancellation waits for an operator; the webhook `ticket_sale.cancelled` says when it is done", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn cancel_ticket_sale(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_sale(&state, &caller, id).await?;
    Ok(match retry_on_dead_connection(|| state.ledger.cancel(id)).await? {
        CancelOutcome::Cancelled => StatusCode::NO_CONTENT.into_response(),
        CancelOutcome::Pending(sale) => match &sale.needs_attention {
            // A cancellation UiTPAS refused will not finish by itself: not a 2xx.
            Some(problem) => {
                super::attention::needs_attention(Work::Cancellation, Some(problem), Some(sale.registration_id))
                    .into_response()
            }
            None => (StatusCode::ACCEPTED, axum::Json(TicketSale::from(*sale))).into_response(),
        },
        CancelOutcome::NotFound => return Err(ApiError::NotFound),
        CancelOutcome::NotRegistered(status) => {
            let detail = match status {
                SaleStatus::Rejected => "UiTPAS refused this sale's registration: there is nothing to cancel.",
                _ => "This sale is not registered at UiTPAS yet; cancel it once its registration is settled.",
            };
            Problem::ours("not-registered", StatusCode::CONFLICT, "Ticket sale not registered")
                .with_detail(detail)
                .into_response()
        }
    })
}

/// The body of `PATCH /v1/ticket-sales/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketSalePatch {
    /// `true` checks the passholder in at the event (`POST /checkins` at UiTPAS: points).
    pub checked_in: bool,
}

/// Checks the passholder of a ticket sale in at its event.
///
/// Checking in again is not an error. UiTPAS's refusal (e.g. `checkin-not-allowed` outside the
/// event's hours) is passed on with its `endUserMessage`.
#[utoipa::path(
    patch,
    path = "/v1/ticket-sales/{id}",
    tag = "shop",
    operation_id = "patch-ticket-sale",
    security(("shopKey" = [])),
    params(("id" = Uuid, Path, description = "The ticket sale id (ours, not UiTPAS's)")),
    request_body = TicketSalePatch,
    responses(
        (status = 200, description = "Checked in", body = TicketSale),
        (status = 400, description = "A bad body, or UiTPAS refused the check-in (its problem)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong shop key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket sale", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not registered (pending, rejected or cancelled)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "UiTPAS did not answer in time", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable (`database-unavailable`); try again after `Retry-After` seconds", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn patch_ticket_sale(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<TicketSalePatch>,
) -> ApiResult<Response> {
    let id = uuid_path(&id)?;
    owned_sale(&state, &caller, id).await?;
    if !patch.checked_in {
        return Err(ApiError::invalid(
            "/checkedIn",
            "only true is accepted: a check-in is undone by cancelling the sale (DELETE /v1/ticket-sales/{id})",
        ));
    }
    Ok(match retry_on_dead_connection(|| state.ledger.check_in(id)).await? {
        CheckinOutcome::Done(sale) => axum::Json(TicketSale::from(*sale)).into_response(),
        CheckinOutcome::NotFound => return Err(ApiError::NotFound),
        CheckinOutcome::NotRegistered(status) => {
            Problem::ours("not-registered", StatusCode::CONFLICT, "Ticket sale not registered")
                .with_detail(format!(
                    "Only a registered ticket sale can be checked in; this one is {}.",
                    status.as_str()
                ))
                .into_response()
        }
        CheckinOutcome::Refused(problem) => (*problem).into_response(),
        CheckinOutcome::Unavailable(e) => return Err(ApiError::Upstream(e)),
    })
}
