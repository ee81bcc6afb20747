//! What the sandbox adds to the contract for tests and benchmarks: operation counters, fault
//! injection, the ledger of ticket sales, the permissions of its clients, and the token check
//! shared by every API operation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::Sandbox;
use super::clients::{Caller, Grants, Permission};
use super::faults::{Fault, FaultMode};
use super::problem::{Problem, SchemaError};
use super::state::{SaleStatus, euros};

/// Every operation the sandbox serves, named by the operationId of the real specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    PostOauthToken,
    GetPassesUitpasNumber,
    GetPasses,
    GetTariffs,
    GetTariffsStatic,
    PostTicketSales,
    GetTicketSales,
    DeleteTicketSales,
    PostCheckins,
    GetCheckins,
    DeleteCheckins,
    GetCheckinStatus,
    GetEventsCardSystems,
    GetPermissions,
    EventPost,
    // The Entry API's event updates, and the Search API's event search (src/sandbox/entry.rs).
    EventGet,
    EventPut,
    EventDelete,
    EventPriceInfoPut,
    EventCalendarPut,
    EventStatusPut,
    SearchEventsGet,
    // The financial reports of an organizer (src/sandbox/reports.rs).
    GetFinancialReportPeriods,
    PostFinancialReports,
    GetFinancialReport,
    GetFinancialReportDownloadLink,
    GetFinancialReportZip,
    // Rewards, paid with points (src/sandbox/rewards.rs).
    GetRewards,
    GetRewardsId,
    GetRewardsIdRedeemStatus,
    PostRewardsRedeemed,
    GetRewardsRedeemed,
    DeleteRewardsRedeemed,
}

impl Op {
    pub const ALL: [Op; 33] = [
        Op::PostOauthToken,
        Op::GetPassesUitpasNumber,
        Op::GetPasses,
        Op::GetTariffs,
        Op::GetTariffsStatic,
        Op::PostTicketSales,
        Op::GetTicketSales,
        Op::DeleteTicketSales,
        Op::PostCheckins,
        Op::GetCheckins,
        Op::DeleteCheckins,
        Op::GetCheckinStatus,
        Op::GetEventsCardSystems,
        Op::GetPermissions,
        Op::EventPost,
        Op::EventGet,
        Op::EventPut,
        Op::EventDelete,
        Op::EventPriceInfoPut,
        Op::EventCalendarPut,
        Op::EventStatusPut,
        Op::SearchEventsGet,
        Op::GetFinancialReportPeriods,
        Op::PostFinancialReports,
        Op::GetFinancialReport,
        Op::GetFinancialReportDownloadLink,
        Op::GetFinancialReportZip,
        Op::GetRewards,
        Op::GetRewardsId,
        Op::GetRewardsIdRedeemStatus,
        Op::PostRewardsRedeemed,
        Op::GetRewardsRedeemed,
        Op::DeleteRewardsRedeemed,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Op::PostOauthToken => "post-oauth-token",
            Op::GetPassesUitpasNumber => "get-passes-uitpasNumber",
            Op::GetPasses => "get-passes",
            Op::GetTariffs => "get-tariffs",
            Op::GetTariffsStatic => "get-tariffs-static",
            Op::PostTicketSales => "post-ticket-sales",
            Op::GetTicketSales => "get-ticket-sales",
            Op::DeleteTicketSales => "delete-ticket-sales",
            Op::PostCheckins => "post-checkins",
            Op::GetCheckins => "get-checkins",
            Op::DeleteCheckins => "delete-checkins-checkinId",
            Op::GetCheckinStatus => "get-checkin-status",
            Op::GetEventsCardSystems => "get-events-card-systems",
            Op::GetPermissions => "get-permissions",
            Op::EventPost => "event-post",
            Op::EventGet => "event-get",
            Op::EventPut => "event-put",
            Op::EventDelete => "event-delete",
            Op::EventPriceInfoPut => "event-price-info-put",
            Op::EventCalendarPut => "event-calendar-put",
            Op::EventStatusPut => "event-status-put",
            // Not an Entry API operation: the Search API's, whose specification is not among ours.
            Op::SearchEventsGet => "search-events-get",
            Op::GetFinancialReportPeriods => "get-organizers-financial-reports-periods",
            Op::PostFinancialReports => "post-organizers-financial-reports",
            Op::GetFinancialReport => "get-organizers-financial-reports-reportId",
            Op::GetFinancialReportDownloadLink => "get-organizers-financial-reports-reportId-downloadLink",
            Op::GetFinancialReportZip => "get-organizers-financial-reports-reportId-zip",
            Op::GetRewards => "get-rewards",
            Op::GetRewardsId => "get-rewards-id",
            Op::GetRewardsIdRedeemStatus => "get-rewards-id-redeem-status",
            Op::PostRewardsRedeemed => "post-rewards-redeemed",
            Op::GetRewardsRedeemed => "get-rewards-redeemed",
            Op::DeleteRewardsRedeemed => "delete-rewards-redeemed-redeemedRewardId",
        }
    }

    pub fn from_id(id: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.id() == id)
    }

    /// The operation a routed request is, from its method and matched route.
    fn of(method: &Method, route: &str) -> Option<Op> {
        Some(match (method.as_str(), route) {
            ("POST", "/oauth/token" | "/realms/uitid/protocol/openid-connect/token") => Op::PostOauthToken,
            ("GET", "/passes/{uitpasNumber}") => Op::GetPassesUitpasNumber,
            ("GET", "/passes") => Op::GetPasses,
            ("GET", "/tariffs") => Op::GetTariffs,
            ("GET", "/tariffs/static") => Op::GetTariffsStatic,
            ("POST", "/ticket-sales") => Op::PostTicketSales,
            ("GET", "/ticket-sales") => Op::GetTicketSales,
            ("DELETE", "/ticket-sales/{ticketSaleId}") => Op::DeleteTicketSales,
            ("POST", "/checkins") => Op::PostCheckins,
            ("GET", "/checkins") => Op::GetCheckins,
            ("DELETE", "/checkins/{checkinId}") => Op::DeleteCheckins,
            ("GET", "/checkin-status") => Op::GetCheckinStatus,
            ("GET", "/events/{eventId}/card-systems") => Op::GetEventsCardSystems,
            ("GET", "/permissions") => Op::GetPermissions,
            ("POST", "/events") => Op::EventPost,
            ("GET", "/events/{eventId}") => Op::EventGet,
            ("PUT", "/events/{eventId}") => Op::EventPut,
            ("DELETE", "/events/{eventId}") => Op::EventDelete,
            ("PUT", "/events/{eventId}/price-info") => Op::EventPriceInfoPut,
            ("PUT", "/events/{eventId}/calendar") => Op::EventCalendarPut,
            ("PUT", "/events/{eventId}/status") => Op::EventStatusPut,
            ("GET", "/events") => Op::SearchEventsGet,
            ("GET", "/organizers/{organizerId}/financial-reports/periods") => Op::GetFinancialReportPeriods,
            ("POST", "/organizers/{organizerId}/financial-reports") => Op::PostFinancialReports,
            ("GET", "/organizers/{organizerId}/financial-reports/{reportId}") => Op::GetFinancialReport,
            ("GET", "/organizers/{organizerId}/financial-reports/{reportId}/download-link") => {
                Op::GetFinancialReportDownloadLink
            }
            ("GET", "/rewards") => Op::GetRewards,
            ("GET", "/rewards/{rewardId}") => Op::GetRewardsId,
            ("GET", "/rewards/{rewardId}/redeem-status") => Op::GetRewardsIdRedeemStatus,
            ("POST", "/rewards/redeemed") => Op::PostRewardsRedeemed,
            ("GET", "/rewards/redeemed") => Op::GetRewardsRedeemed,
            ("DELETE", "/rewards/redeemed/{redeemedRewardId}") => Op::DeleteRewardsRedeemed,
            _ => return None,
        })
    }

    /// The operation of a request to `path`: `GET …/{reportId}.zip` shares its route with the
    /// report's status (the router knows no suffixes).
    fn of_path(self, path: &str) -> Op {
        match self {
            Op::GetFinancialReport if path.ends_with(".zip") => Op::GetFinancialReportZip,
            op => op,
        }
    }

    fn needs_token(self) -> bool {
        self != Op::PostOauthToken
    }
}

/// Request counters, one per operation, and the requests held by a delay now.
#[derive(Debug)]
pub struct Stats {
    counts: [AtomicU64; Op::ALL.len()],
    /// `get-ticket-sales` requests with a `passholderId` (one passholder's sales; counted in
    /// `get-ticket-sales` too).
    by_passholder: AtomicU64,
    delayed: AtomicU64,
}

// By hand: the standard library derives `Default` for arrays of at most 32 elements.
impl Default for Stats {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            by_passholder: AtomicU64::new(0),
            delayed: AtomicU64::new(0),
        }
    }
}

/// One delayed request held (counted in [`Stats::delayed_in_flight`] until dropped).
struct Held(Arc<Stats>);

impl Held {
    fn new(stats: &Arc<Stats>) -> Self {
        stats.delayed.fetch_add(1, Ordering::SeqCst);
        Held(stats.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.delayed.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stats {
    fn index(op: Op) -> usize {
        Op::ALL.iter().position(|o| *o == op).unwrap_or(0)
    }

    pub fn count(&self, op: Op) {
        self.counts[Self::index(op)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, op: Op) -> u64 {
        self.counts[Self::index(op)].load(Ordering::Relaxed)
    }

    /// How many `get-ticket-sales` requests asked for one passholder's sales.
    pub fn ticket_sales_by_passholder(&self) -> u64 {
        self.by_passholder.load(Ordering::Relaxed)
    }

    /// Requests held by a `delay` fault that have not been carried out yet (their callers may
    /// have given up long ago: they still commit).
    pub fn delayed_in_flight(&self) -> u64 {
        self.delayed.load(Ordering::SeqCst)
    }
}

/// Set on every request by the connection loop: lets a handler close its own connection.
#[derive(Clone, Debug)]
pub struct ConnectionKill(pub Arc<Notify>);

/// Counts the request, applies faults and checks the bearer token, in that order.
pub async fn operations(State(sandbox): State<Sandbox>, request: Request, next: Next) -> Response {
    let Some(op) = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| Op::of(request.method(), route.as_str()))
        .map(|op| op.of_path(request.uri().path()))
    else {
        return next.run(request).await;
    };
    sandbox.stats.count(op);
    let names = parameter_names(request.uri().query());
    if op == Op::GetTicketSales && names.contains(&"passholderId") {
        sandbox.stats.by_passholder.fetch_add(1, Ordering::Relaxed);
    }
    let fault = sandbox.faults.roll(op, &names);
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let response = match &fault {
        Some(Fault {
            mode: FaultMode::Error,
            status,
            ..
        }) => {
            let status = StatusCode::from_u16(status.unwrap_or(503)).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Problem::new("about:blank", status, status.canonical_reason().unwrap_or("Error"))
                .detail("Fault injected by the sandbox.")
                .into_response();
        }
        Some(Fault {
            mode: FaultMode::Delay,
            delay_ms,
            ..
        }) => {
            // A slow UiTPAS still carries the request out after the client has given up waiting:
            // the work runs in a task of its own, which the client's disconnect does not cancel.
            // The token is checked on arrival, as a gateway would, not after the wait.
            let delay = Duration::from_millis(delay_ms.unwrap_or(1000));
            let request = match authorize(&sandbox, op, request) {
                Ok(request) => request,
                Err(refused) => return refused,
            };
            let held = Held::new(&sandbox.stats);
            let task = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let response = next.run(request).await;
                drop(held);
                response
            });
            task.await
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        _ => authorized(&sandbox, op, request, next).await,
    };
    if let (
        Some(Fault {
            mode: FaultMode::DropAfterCommit,
            ..
        }),
        Some(kill),
    ) = (&fault, kill)
        && response.status().is_success()
    {
        // The operation has been performed; now lose its answer.
        kill.0.notify_one();
        return std::future::pending().await;
    }
    if let Some(Fault {
        mode: FaultMode::UnreadableAfterCommit,
        ..
    }) = fault
        && response.status().is_success()
    {
        // Performed; answered in a form no client of this contract reads.
        return (
            response.status(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            "{\"unreadable\": [\"a form this client does not know\"]}",
        )
            .into_response();
    }
    response
}

/// The names of the parameters of a query string that have a value.
fn parameter_names(query: Option<&str>) -> Vec<&str> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, value)| !name.is_empty() && !value.is_empty())
        .map(|(name, _)| name)
        .collect()
}

/// Runs the operation when the request carries a token this sandbox issued and that is still
/// valid, with the client it was issued to in the request's extensions ([`Caller`]).
async fn authorized(sandbox: &Sandbox, op: Op, request: Request, next: Next) -> Response {
    match authorize(sandbox, op, request) {
        Ok(request) => next.run(request).await,
        Err(refused) => refused,
    }
}

/// The request with its [`Caller`], or the 401 answer when its token is missing or not valid.
fn authorize(sandbox: &Sandbox, op: Op, mut request: Request) -> Result<Request, Response> {
    if op.needs_token() {
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // The auth scheme is case-insensitive (RFC 7235).
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(token)
            });
        let caller = token.and_then(|t| sandbox.world().token_client(t.trim()).map(|c| Caller(c.to_owned())));
        let Some(caller) = caller else {
            let detail = if token.is_some() {
                "The access token is unknown or has expired."
            } else {
                "An access token is required (Authorization: Bearer …)."
            };
            return Err(Problem::unauthorized(detail).into_response());
        };
        request.extensions_mut().insert(caller);
    }
    Ok(request)
}

/// `GET /_sandbox/stats`
pub async fn stats(State(sandbox): State<Sandbox>) -> Json<Value> {
    let operations: serde_json::Map<String, Value> = Op::ALL
        .iter()
        .map(|op| (op.id().to_owned(), json!(sandbox.stats.get(*op))))
        .collect();
    Json(json!({
        "operations": operations,
        "ticketSalesByPassholder": sandbox.stats.ticket_sales_by_passholder(),
        "delayedInFlight": sandbox.stats.delayed_in_flight(),
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LedgerSale {
    id: String,
    event_id: String,
    uitpas_number: String,
    tariff: Value,
    regular_price: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    regular_price_label: Option<String>,
    status: SaleStatus,
    created_at: DateTime<Utc>,
}

/// `GET /_sandbox/ledger`: every ticket sale ever registered, cancelled ones included.
pub async fn ledger(State(sandbox): State<Sandbox>) -> Json<Value> {
    let world = sandbox.world();
    let sales: Vec<LedgerSale> = world
        .all_sales()
        .iter()
        .map(|s| LedgerSale {
            id: s.id.clone(),
            event_id: s.event_id.clone(),
            uitpas_number: s.uitpas_number.clone(),
            tariff: super::uitpas::tariff_json(&s.tariff),
            regular_price: euros(s.regular_price_cents),
            regular_price_label: s.regular_price_label.clone(),
            status: s.status,
            created_at: s.created_at,
        })
        .collect();
    Json(json!({ "ticketSales": sales }))
}

/// One organizer and a client's permissions for it, as `/_sandbox/clients/{clientId}/permissions`
/// reads and writes them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OrganizerGrant {
    organizer_id: String,
    permissions: Vec<&'static str>,
}

fn grants_json(grants: &Grants) -> Json<Vec<OrganizerGrant>> {
    Json(
        grants
            .iter()
            .map(|(organizer, permissions)| OrganizerGrant {
                organizer_id: organizer.clone(),
                permissions: permissions.iter().map(|p| p.name()).collect(),
            })
            .collect(),
    )
}

/// `GET /_sandbox/clients/{clientId}/permissions`: what a client may do now.
pub async fn client_permissions(State(sandbox): State<Sandbox>, Path(client_id): Path<String>) -> Response {
    let grants = sandbox.world().clients.grants(&client_id);
    grants_json(&grants).into_response()
}

/// `PUT /_sandbox/clients/{clientId}/permissions` with `[{"organizerId": "<uuid>", "permissions":
/// ["TARIFFS_READ", …]}, …]`: replaces what a client may do, at once for the tokens it holds.
pub async fn put_client_permissions(
    State(sandbox): State<Sandbox>,
    Path(client_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let grants = match parse_grants(&body) {
        Ok(grants) => grants,
        Err(p) => return p.into_response(),
    };
    sandbox.world().clients.replace(&client_id, grants.clone());
    grants_json(&grants).into_response()
}

/// `DELETE /_sandbox/clients/{clientId}/permissions`: the client may do again what it could at start.
pub async fn reset_client_permissions(State(sandbox): State<Sandbox>, Path(client_id): Path<String>) -> StatusCode {
    sandbox.world().clients.reset(&client_id);
    StatusCode::NO_CONTENT
}

fn parse_grants(body: &[u8]) -> Result<Grants, Problem> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| Problem::body_invalid_syntax(format!("Not a list of organizer permissions: {e}")))?;
    let Some(items) = body.as_array() else {
        return Err(Problem::body_invalid_data(vec![SchemaError::new(
            "",
            "must be an array of {organizerId, permissions}",
        )]));
    };
    let mut grants = Grants::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let organizer = item
            .get("organizerId")
            .and_then(Value::as_str)
            .and_then(|id| uuid::Uuid::parse_str(id).ok());
        let Some(organizer) = organizer else {
            errors.push(SchemaError::new(
                format!("/{i}/organizerId"),
                "must be an organizer id (a UUID)",
            ));
            continue;
        };
        let Some(names) = item.get("permissions").and_then(Value::as_array) else {
            errors.push(SchemaError::new(
                format!("/{i}/permissions"),
                "must be an array of permission names",
            ));
            continue;
        };
        let permissions = grants.entry(organizer.hyphenated().to_string()).or_default();
        for (j, name) in names.iter().enumerate() {
            match name.as_str().and_then(Permission::parse) {
                Some(p) => {
                    permissions.insert(p);
                }
                None => errors.push(SchemaError::new(
                    format!("/{i}/permissions/{j}"),
                    format!("{name} is not a permission of UiTPAS API 4.0"),
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(grants)
    } else {
        Err(Problem::body_invalid_data(errors))
    }
}
