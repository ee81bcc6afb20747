//! The UiTPAS API 4.0 operations and publiq's token endpoint, as HTTP handlers over [`World`].

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde_json::{Value, json};

use super::Sandbox;
use super::clients::{self, Caller, Permission};
use super::dataset::{self, CardStatus, PassData, SocialStatus};
use super::problem::{Problem, SchemaError};
use super::state::{Available, Sale, SaleRequest, SalesFilter, Tariff, TariffFilter, cents, euros, strict_number};
use super::store::Change;

pub(super) type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

pub(super) fn params(query: Params) -> Result<HashMap<String, String>, Problem> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Problem::invalid_parameter("query", &e.body_text()))
}

pub(super) fn required<'a>(q: &'a HashMap<String, String>, name: &str) -> Result<&'a str, Problem> {
    match q.get(name).map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Problem::invalid_parameter(name, "is required")),
    }
}

fn price_param(q: &HashMap<String, String>) -> Result<i64, Problem> {
    let raw = required(q, "regularPrice")?;
    raw.parse::<f64>()
        .ok()
        .and_then(cents)
        .ok_or_else(|| Problem::invalid_parameter("regularPrice", "must be a price in euros, at least 0, in cents"))
}

fn int_param(q: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, Problem> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Problem::invalid_parameter(name, "must be an integer of at least 0")),
    }
}

pub fn tariff_json(t: &Tariff) -> Value {
    json!({ "id": t.id, "name": t.name, "price": euros(t.price_cents), "type": t.kind })
}

fn available_json(a: &Available) -> Value {
    let mut v = tariff_json(&a.tariff);
    v["remaining"] = json!(a.remaining);
    v
}

fn sale_json(s: &Sale) -> Value {
    let mut v = json!({
        "id": s.id,
        "eventId": s.event_id,
        "uitpasNumber": s.uitpas_number,
        "regularPrice": euros(s.regular_price_cents),
        "tariff": tariff_json(&s.tariff),
        "creationDate": s.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    if let Some(label) = &s.regular_price_label {
        v["regularPriceLabel"] = json!(label);
    }
    v
}

// --- token ---

/// `POST /oauth/token`: the client-credentials grant, JSON or form encoded, as publiq's
/// authorization server answers it (OAuth 2 errors, not problem+json). A known client (see
/// [`clients`]) needs its own secret; any other client id is taken with any non-empty secret.
pub async fn token(State(sandbox): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            Json(json!({ "error": error, "error_description": description })),
        )
            .into_response()
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let fields: HashMap<String, String> = if is_form {
        match serde_urlencoded::from_bytes(&body) {
            Ok(f) => f,
            Err(_) => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Malformed form body.");
            }
        }
    } else {
        match serde_json::from_slice::<HashMap<String, Value>>(&body) {
            Ok(f) => f
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            Err(_) => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Malformed JSON body.");
            }
        }
    };
    let field = |name: &str| fields.get(name).map(|s| s.trim()).filter(|s| !s.is_empty());
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only client_credentials is supported.",
            );
        }
        None => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required.");
        }
    }
    let (Some(client_id), Some(secret)) = (field("client_id"), field("client_secret")) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    };
    if !clients::credentials_valid(client_id, secret) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client or Invalid client credentials",
        );
    }
    if let Some(audience) = field("audience")
        && audience != "https://api.publiq.be"
    {
        return oauth_error(StatusCode::FORBIDDEN, "access_denied", "Service not found");
    }
    let ttl = sandbox.token_ttl;
    let token = sandbox.world().issue_token(ttl, client_id);
    Json(json!({
        "access_token": token,
        "expires_in": ttl.as_secs().max(1),
        "token_type": "Bearer",
        "scope": "",
    }))
    .into_response()
}

// --- passes ---

fn pass_json(sandbox: &Sandbox, pass: &PassData) -> Value {
    let holder = pass.holder.as_ref();
    let mut social = json!({ "status": pass.social.as_str() });
    if let Some(end) = pass.social_end {
        social["endDate"] = json!(end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let mut messages: Vec<Value> = Vec::new();
    if pass.social == SocialStatus::Expired {
        messages.push(json!({
            "level": "WARN",
            "text": "Je recht op kansentarief is verlopen. Verleng het bij een UiTPAS-balie om opnieuw korting te krijgen.",
        }));
    }
    for (level, text) in &pass.messages {
        messages.push(json!({ "level": level, "text": text }));
    }
    json!({
        "passholderId": holder.map(|h| h.id.clone()).unwrap_or_default(),
        "passType": if pass.group { "GROUP" } else { "INDIVIDUAL" },
        "uitpasNumber": pass.number,
        "firstName": holder.map(|h| h.first_name).unwrap_or_default(),
        "points": sandbox.world().points(pass),
        "postalCode": holder.map(|h| h.postal_code).unwrap_or_default(),
        "cardSystem": { "id": pass.card_system.id, "name": pass.card_system.name },
        "socialTariff": social,
        "messages": messages,
    })
}

/// Finds a pass that can be shown: by its UiTPAS number, or with `by_identifier` (`GET /passes`)
/// by any of its identifiers and with that operation's error shape.
fn find_pass(identifier: &str, by_identifier: bool) -> Result<PassData, Problem> {
    let now = Utc::now();
    let pass = if by_identifier {
        dataset::pass_by_identifier(identifier, now)
    } else {
        strict_number(identifier).and_then(|number| dataset::pass(number.as_str(), now))
    };
    let pass = pass.ok_or_else(Problem::pass_not_found)?;
    if pass.holder.is_none() {
        return Err(Problem::pass_not_found().detail("This card is not registered to a passholder."));
    }
    if pass.card == CardStatus::Blocked {
        if by_identifier {
            let mut p = Problem::invalid_card_status("BLOCKED");
            p.passholder_id = pass.holder.as_ref().map(|h| h.id.clone());
            p.pass_type = Some(if pass.group { "GROUP" } else { "INDIVIDUAL" });
            return Err(p);
        }
        return Err(Problem::card_blocked());
    }
    Ok(pass)
}

/// `GET /passes/{uitpasNumber}` (deprecated upstream in favour of `GET /passes?identifier=`).
pub async fn pass_by_number(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<String>,
) -> Response {
    let result = sandbox
        .world()
        .require_anywhere(&caller.0, Permission::PASSES_READ)
        .and_then(|()| find_pass(&number, false));
    match result {
        Ok(pass) => Json(pass_json(&sandbox, &pass)).into_response(),
        Err(p) => p.into_response(),
    }
}

/// `GET /passes?identifier=`: by UiTPAS number, chip number or INSZ number.
pub async fn pass_by_identifier(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    query: Params,
) -> Response {
    let result = sandbox
        .world()
        .require_anywhere(&caller.0, Permission::PASSES_READ)
        .and_then(|()| params(query))
        .and_then(|q| find_pass(required(&q, "identifier")?, true));
    match result {
        Ok(pass) => Json(pass_json(&sandbox, &pass)).into_response(),
        Err(p) => p.into_response(),
    }
}

// --- tariffs ---

/// `GET /tariffs?eventId&uitpasNumber&regularPrice[&type]`
pub async fn tariffs(State(sandbox): State<Sandbox>, Extension(caller): Extension<Caller>, query: Params) -> Response {
    let run = || -> Result<Value, Problem> {
        let q = params(query)?;
        let event_id = required(&q, "eventId")?;
        sandbox
            .world()
            .require_for_event(&caller.0, Permission::TARIFFS_READ, event_id)?;
        let number = required(&q, "uitpasNumber")?;
        let price = price_param(&q)?;
        let filter = match q.get("type").map(String::as_str) {
            None | Some("ANY") => TariffFilter::Any,
            Some("SOCIALTARIFF") => TariffFilter::SocialTariff,
            Some("COUPON") => TariffFilter::Coupon,
            Some(_) => {
                return Err(Problem::invalid_parameter(
                    "type",
                    "must be ANY, SOCIALTARIFF or COUPON",
                ));
            }
        };
        let (available, message) = sandbox.world().tariffs(number, event_id, price, filter, Utc::now())?;
        let mut body = json!({ "available": available.iter().map(available_json).collect::<Vec<_>>() });
        if let Some(m) = message {
            body["endUserMessage"] = json!(m);
        }
        Ok(body)
    };
    run().map(Json).into_response()
}

/// `GET /tariffs/static?eventId&regularPrice`
pub async fn static_tariffs(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    query: Params,
) -> Response {
    let run = || -> Result<Value, Problem> {
        let q = params(query)?;
        let event_id = required(&q, "eventId")?;
        sandbox
            .world()
            .require_for_event(&caller.0, Permission::TARIFFS_READ, event_id)?;
        let price = price_param(&q)?;
        let available = sandbox.world().static_tariffs(event_id, price)?;
        Ok(json!({ "available": available.iter().map(available_json).collect::<Vec<_>>() }))
    };
    run().map(Json).into_response()
}

// --- ticket sales ---

/// Parses a JSON body the way publiq reports problems with it.
pub fn json_body(body: &[u8]) -> Result<Value, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::body_missing());
    }
    serde_json::from_slice(body).map_err(|e| Problem::body_invalid_syntax(format!("The body is not valid JSON: {e}")))
}

pub(super) fn string_field(item: &Value, name: &str, pointer: &str, errors: &mut Vec<SchemaError>) -> Option<String> {
    match item.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(SchemaError::new(format!("{pointer}/{name}"), "must not be empty"));
            None
        }
        Some(_) => {
            errors.push(SchemaError::new(format!("{pointer}/{name}"), "must be a string"));
            None
        }
        None => {
            errors.push(SchemaError::new(
                pointer.to_owned(),
                format!("the property {name} is required"),
            ));
            None
        }
    }
}

fn sale_requests(body: &Value) -> Result<Vec<SaleRequest>, Problem> {
    let Some(items) = body.as_array() else {
        return Err(Problem::body_invalid_data(vec![SchemaError::new(
            "",
            "must be an array of ticket sales",
        )]));
    };
    if items.is_empty() {
        return Err(Problem::body_invalid_data(vec![SchemaError::new(
            "",
            "must contain at least one ticket sale",
        )]));
    }
    let mut errors = Vec::new();
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let pointer = format!("/{i}");
        if !item.is_object() {
            errors.push(SchemaError::new(pointer, "must be an object"));
            continue;
        }
        let uitpas_number = string_field(item, "uitpasNumber", &pointer, &mut errors);
        let event_id = string_field(item, "eventId", &pointer, &mut errors);
        let price = match item.get("regularPrice") {
            Some(Value::Number(n)) => match n.as_f64().and_then(cents) {
                Some(c) => Some(c),
                None => {
                    errors.push(SchemaError::new(
                        format!("{pointer}/regularPrice"),
                        "must be at least 0, in cents",
                    ));
                    None
                }
            },
            Some(_) => {
                errors.push(SchemaError::new(format!("{pointer}/regularPrice"), "must be a number"));
                None
            }
            None => {
                errors.push(SchemaError::new(
                    pointer.clone(),
                    "the property regularPrice is required",
                ));
                None
            }
        };
        let label = match item.get("regularPriceLabel") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(SchemaError::new(
                    format!("{pointer}/regularPriceLabel"),
                    "must be a string",
                ));
                None
            }
        };
        // `tariff.id`, or the deprecated `tariffId`.
        let tariff_id = match (item.get("tariff"), item.get("tariffId")) {
            (Some(tariff @ Value::Object(_)), _) => {
                string_field(tariff, "id", &format!("{pointer}/tariff"), &mut errors)
            }
            (Some(_), _) => {
                errors.push(SchemaError::new(format!("{pointer}/tariff"), "must be an object"));
                None
            }
            (None, Some(Value::String(id))) if !id.is_empty() => Some(id.clone()),
            (None, _) => {
                errors.push(SchemaError::new(pointer.clone(), "the property tariff is required"));
                None
            }
        };
        if let (Some(uitpas_number), Some(event_id), Some(regular_price_cents), Some(tariff_id)) =
            (uitpas_number, event_id, price, tariff_id)
        {
            lines.push(SaleRequest {
                uitpas_number,
                event_id,
                regular_price_cents,
                regular_price_label: label,
                tariff_id,
            });
        }
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(Problem::body_invalid_data(errors))
    }
}

/// `POST /ticket-sales`: all lines are registered, or none. A line for an event of an organizer
/// the caller may not register for refuses the whole batch (403), before the lines are checked.
pub async fn register(State(sandbox): State<Sandbox>, Extension(caller): Extension<Caller>, body: Bytes) -> Response {
    let run = || -> Result<Vec<Sale>, Problem> {
        let body = json_body(&body)?;
        // One lock for the permission check and the registration: a permission revoked in
        // between cannot let a batch through.
        let mut world = sandbox.world();
        let items = body.as_array().map(Vec::as_slice).unwrap_or_default();
        for (i, item) in items.iter().enumerate() {
            if let Some(event_id) = item.get("eventId").and_then(Value::as_str) {
                world
                    .require_for_event(&caller.0, Permission::TICKETSALES_REGISTER, event_id)
                    .map_err(|p| p.pointer(format!("/{i}")))?;
            }
        }
        let lines = sale_requests(&body)?;
        world.register(&lines, Utc::now())
    };
    let sales = match run() {
        Ok(sales) => sales,
        Err(p) => return p.into_response(),
    };
    if let Err(p) = sandbox.keep(Change::Sales(&sales)).await {
        return p.into_response();
    }
    Json(Value::Array(sales.iter().map(sale_json).collect())).into_response()
}

/// A query string as its (name, value) pairs, repeated names kept (`organizerId=a&organizerId=b`).
pub(super) fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, Problem> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| Problem::invalid_parameter("query", &format!("is not a query string: {e}")))
}

/// Every value of a repeatable parameter, blank ones left out.
pub(super) fn values(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(n, v)| n == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// `start` and `limit` of a search: the specification says "the maximum value for `limit` is
/// `500`", and answers more with `query-limit-exceeded`.
pub(super) fn page(q: &HashMap<String, String>) -> Result<(usize, usize), Problem> {
    const MAX_LIMIT: usize = 500;
    let start = int_param(q, "start", 0)?;
    let limit = int_param(q, "limit", 20)?;
    if limit > MAX_LIMIT {
        return Err(Problem::new(
            "https://api.publiq.be/probs/url/query-limit-exceeded",
            StatusCode::BAD_REQUEST,
            "Query limit exceeded",
        )
        .detail(format!("limit can be at most {MAX_LIMIT}.")));
    }
    Ok((start, limit))
}

pub(super) fn optional<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// `GET /ticket-sales?eventId|passholderId&organizerId[&eventTitle&start&limit]`: at least an
/// event or a passholder; a passholder needs organizers too. TICKETSALES_SEARCH is needed for
/// the event's organizer and for every organizer asked for.
pub async fn search_sales(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Response {
    let run = || -> Result<Value, Problem> {
        let pairs = query_pairs(raw.as_deref())?;
        let organizers = values(&pairs, "organizerId");
        let q: HashMap<String, String> = pairs.into_iter().collect();
        let event_id = optional(&q, "eventId");
        let passholder_id = optional(&q, "passholderId");
        if event_id.is_none() && passholder_id.is_none() {
            return Err(Problem::invalid_parameter(
                "eventId",
                "is required, unless passholderId is given",
            ));
        }
        if passholder_id.is_some() && organizers.is_empty() {
            return Err(Problem::invalid_parameter(
                "organizerId",
                "is required with passholderId",
            ));
        }
        let world = sandbox.world();
        if let Some(event_id) = event_id {
            world.require_for_event(&caller.0, Permission::TICKETSALES_SEARCH, event_id)?;
        }
        for organizer in &organizers {
            world.require_for_organizer(&caller.0, Permission::TICKETSALES_SEARCH, organizer)?;
        }
        let (start, limit) = page(&q)?;
        let filter = SalesFilter {
            event_id,
            passholder_id,
            organizers: &organizers,
            event_title: optional(&q, "eventTitle"),
        };
        let (total, page) = world.search_sales(&filter, start, limit);
        Ok(json!({ "totalItems": total, "member": page.into_iter().map(sale_json).collect::<Vec<_>>() }))
    };
    run().map(Json).into_response()
}

/// `DELETE /ticket-sales/{ticketSaleId}`
pub async fn cancel(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let cancelled = {
        let mut world = sandbox.world();
        match world.sale(&id).map(|s| s.event_id.clone()) {
            Some(event_id) => world
                .require_for_event(&caller.0, Permission::TICKETSALES_REGISTER, &event_id)
                .and_then(|()| world.cancel(&id)),
            None => Err(Problem::ticket_sale_not_found()),
        }
    };
    let sale = cancelled?;
    sandbox.keep(Change::Cancelled(&sale)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- permissions ---

/// `GET /permissions`: the organizers the caller may act for, with its permissions for each
/// ([`super::clients::Clients::answer`]).
pub async fn permissions(State(sandbox): State<Sandbox>, Extension(caller): Extension<Caller>) -> Response {
    Json(sandbox.world().clients.answer(&caller.0)).into_response()
}

/// The token lifetime publiq's authorization server uses.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(86_400);
