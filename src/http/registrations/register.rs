//! `POST /v1/registrations`: the sales of a paid order (or a hold before payment), checked, stored
//! and registered at UiTPAS exactly once per `Idempotency-Key`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::db::retry_on_dead_connection;
use crate::domain::Money;
use crate::http::AppState;
use crate::http::attention::Work;
use crate::http::auth::Caller;
use crate::http::extract::{Json, optional_text, text};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::registrations::rewards::NewReward;
use crate::http::responses::{DatabaseUnavailable, ShopKeyRefused};
use crate::http::tariffs::{event_id, uitpas_number};
use crate::http::views::{Registration, Warning};
use crate::ledger::flow::{NewRegistration, NewTicket, RegisterOutcome};
use crate::ledger::{HoldState, RegistrationStatus};

const MAX_TICKETS: usize = 100;
const MAX_SALES: u32 = 200;
const MAX_QUANTITY: u32 = 100;

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
    /// Rewards to redeem with the order's UiTPAS points (at most 5), once its sales are stored
    /// and not refused: each a redemption of its own (see `POST /v1/reward-redemptions`), held
    /// with a hold's sales and confirmed or released with them; under this request's
    /// `Idempotency-Key`. Their outcomes are in the answer's `rewards`.
    pub rewards: Option<Vec<super::rewards::RewardRequest>>,
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

/// How long a hold asked for lasts: `expiresIn` seconds, or `default`; `None` without a hold.
pub(in crate::http) fn hold_ttl(hold: Option<&HoldRequest>, default: Duration) -> ApiResult<Option<Duration>> {
    Ok(match hold {
        None => None,
        Some(HoldRequest { expires_in: None }) => Some(default),
        Some(HoldRequest { expires_in: Some(s) }) if (1..=MAX_HOLD_SECONDS).contains(s) => {
            Some(Duration::from_secs(u64::from(*s)))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "/hold/expiresIn",
                format!("must be 1 to {MAX_HOLD_SECONDS} seconds"),
            ));
        }
    })
}

fn one() -> u32 {
    1
}

pub(in crate::http) fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
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
    hold_ttl_default: Duration,
) -> ApiResult<(NewRegistration, Vec<NewReward>)> {
    let order_id = text(&request.order_id, "/orderId")?;
    let rewards = super::rewards::validate(request.rewards)?;
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
    let hold = hold_ttl(request.hold.as_ref(), hold_ttl_default)?;
    let mut normal = json!({
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
    // Only an order with rewards says so: the requests stored before rewards compare as they were.
    if !rewards.is_empty() {
        normal["rewards"] = super::rewards::normal(&rewards);
    }
    Ok((
        NewRegistration {
            customer_id,
            idempotency_key: key,
            order_id,
            request: normal,
            tickets,
            hold,
        },
        rewards,
    ))
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
        ShopKeyRefused,
        (status = 403, description = "The customer may not register sales for an event's organizer (`permission-missing`, from UiTPAS's GET /permissions); nothing was stored or sent", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`order-id-taken`: the customer registered this orderId with another Idempotency-Key, and that registration is live (not rejected, not a released or expired hold). Nothing was stored; `existing` is that registration (also at `Location`). Retry an order with its first key; another order needs another orderId", body = OrderIdTaken, content_type = "application/problem+json", headers(("Location" = String, description = "The existing registration"))),
        (status = 422, description = "The Idempotency-Key was used for another request (`idempotency-key-reused`), or a `regularPrice` is 100 times one of the event's prices in UiTdatabank and none of them (`regular-price-in-cents`: prices are in euros; `schemaErrors` names the ticket)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "UiTPAS refused the service itself (its credentials or permissions): `needs-attention`, with `registrationId`. Nothing is registered, and nothing will be until an operator acts; do not give the discount. The same request again answers its state then; a webhook says how it ended", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    )
)]
pub async fn post_registration(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(request): Json<RegistrationRequest>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let (new, rewards) = validate(caller.customer.id, key, request, state.config.hold_ttl.0)?;
    // Refused before anything is stored or sent when UiTPAS says the customer may not register
    // sales for an event's organizer.
    let events: std::collections::BTreeSet<&str> = new.tickets.iter().map(|t| t.event_id.as_str()).collect();
    for event in events {
        if let Some(Err(organizer)) = crate::http::permission::may_register(&state, &caller.customer, event).await {
            return Err(crate::http::permission::permission_missing(&organizer));
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
                    return Ok(crate::http::attention::needs_attention(
                        Work::Registration,
                        registration.problem.as_ref(),
                        Some(registration.id),
                    )
                    .into_response());
                }
                _ => StatusCode::ACCEPTED,
            };
            let (id, customer_id) = (registration.id, registration.customer_id);
            // Rewards are redeemed for an order whose sales stand (or may yet) and, for a hold,
            // while it is held; otherwise (a retry after the hold ended) they are as they were.
            let redeem = !rewards.is_empty()
                && matches!(
                    registration.status,
                    RegistrationStatus::Registered | RegistrationStatus::Held | RegistrationStatus::Pending
                )
                && registration.hold.as_ref().is_none_or(|h| h.state == HoldState::Held);
            let order_id = registration.order_id.clone();
            let mut view = Registration::from(registration);
            view.warnings = warnings;
            view.rewards = if redeem {
                super::rewards::redeem(&state, customer_id, id, &order_id, new.hold, &rewards).await?
            } else if rewards.is_empty() {
                Vec::new()
            } else {
                super::rewards::of(&state, customer_id, id).await?
            };
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
        let facts = crate::http::permission::event_facts(state, customer, ticket.event_id.as_str()).await;
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
