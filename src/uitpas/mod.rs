//! The client of publiq's APIs (UiTPAS API 4.0, and the UiTdatabank Entry API 3.0 for creating
//! events): typed calls, one shared `reqwest::Client` with timeouts, tokens
//! from [`token::TokenProvider`] (one retry after a 401), and publiq's problem+json decoded into
//! [`UpstreamError::Problem`] so that `type`, `endUserMessage` and pointers reach the shop.

pub mod gate;
pub mod publiq;
pub mod token;
pub mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Money, UitpasNumber};
use crate::metrics::Metrics;
use crate::secrets::Secret;
pub use gate::{Gated, SendGate, Ungated};
use token::TokenProvider;

/// A message in publiq's four languages; `nl` is always there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndUserMessage {
    pub nl: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub de: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

/// One schema violation reported by publiq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaError {
    pub json_pointer: String,
    pub error: String,
}

/// publiq's problem+json, as far as a checkout uses it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PubliqProblem {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub end_user_message: Option<EndUserMessage>,
    #[serde(default)]
    pub schema_errors: Vec<SchemaError>,
    #[serde(default)]
    pub json_pointer: Option<String>,
}

impl PubliqProblem {
    /// The last segment of the type URI (`pass-not-found`), for logs and metrics.
    pub fn slug(&self) -> &str {
        self.kind.rsplit('/').next().unwrap_or(&self.kind)
    }

    pub fn is(&self, slug: &str) -> bool {
        self.kind == format!("https://api.publiq.be/probs/uitpas/{slug}")
    }
}

/// What can go wrong when calling UiTPAS (or, wrapped in [`UpstreamError::UiTdatabank`], the
/// UiTdatabank Entry API).
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// UiTPAS answered with a problem (a clear refusal: nothing was done).
    #[error("{}", self.describe("UiTPAS"))]
    Problem { status: u16, problem: Box<PubliqProblem> },
    /// UiTPAS answered with an error status and no usable problem (5xx, or 4xx without body).
    #[error("{}", self.describe("UiTPAS"))]
    Status(u16),
    /// No answer in time: the request may or may not have been carried out.
    #[error("{}", self.describe("UiTPAS"))]
    Timeout,
    /// No connection, or the connection closed before the answer.
    #[error("{}", self.describe("UiTPAS"))]
    Unreachable(String),
    /// The token server refused or failed.
    #[error("{}", self.describe("UiTPAS"))]
    Token(u16),
    /// An answer that does not match the contract.
    #[error("{}", self.describe("UiTPAS"))]
    Decode(String),
    /// A call to the UiTdatabank Entry API failed in one of the ways above; its message names
    /// UiTdatabank, so that a log never blames UiTPAS for it.
    #[error("{}", self.describe("UiTPAS"))]
    UiTdatabank(Box<UpstreamError>),
}

impl UpstreamError {
    pub fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            UpstreamError::Timeout
        } else if e.is_decode() {
            UpstreamError::Decode(e.to_string())
        } else {
            // Connection refused, reset, or closed before the answer: the error chain says which,
            // without the URL (which may hold a UiTPAS number).
            let e = e.without_url();
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            UpstreamError::Unreachable(text)
        }
    }

    /// The message of this error for a call to `api`.
    fn describe(&self, api: &str) -> String {
        match self {
            UpstreamError::Problem { status, problem } => format!("{api} refused ({status}): {}", problem.slug()),
            UpstreamError::Status(status) => format!("{api} answered {status}"),
            UpstreamError::Timeout => format!("{api} did not answer in time"),
            UpstreamError::Unreachable(e) => format!("{api} could not be reached: {e}"),
            UpstreamError::Token(status) => format!("the token server answered {status}"),
            UpstreamError::Decode(e) => format!("{api} answered something unexpected: {e}"),
            UpstreamError::UiTdatabank(e) => e.describe("UiTdatabank"),
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            UpstreamError::Problem { .. } => "refused",
            UpstreamError::Status(s) if *s >= 500 => "server_error",
            UpstreamError::Status(_) => "error",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Unreachable(_) => "unreachable",
            UpstreamError::Token(_) => "token_error",
            UpstreamError::Decode(_) => "invalid",
            UpstreamError::UiTdatabank(e) => e.outcome(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PassType {
    Individual,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SocialTariffStatus {
    Active,
    Expired,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocialTariff {
    pub status: SocialTariffStatus,
    /// Informative only: the status decides (it can stay ACTIVE past this date, a grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageLevel {
    Info,
    Warn,
    Error,
}

/// A message UiTPAS says must be shown to the buyer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct PassMessage {
    pub level: MessageLevel,
    pub text: String,
}

/// The part of `GET /passes/{uitpasNumber}` a checkout needs. The personal fields (name, points,
/// postal code, passholder id) are not even read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pass {
    pub pass_type: PassType,
    pub social_tariff: SocialTariff,
    #[serde(default)]
    pub messages: Vec<PassMessage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffType {
    Socialtariff,
    Coupon,
}

/// A discounted tariff and how many more tickets a pass may buy at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AvailableTariff {
    pub id: String,
    pub name: String,
    /// Price in euros.
    #[schema(value_type = f64, example = 2.0)]
    pub price: Money,
    #[serde(rename = "type")]
    pub kind: TariffType,
    pub remaining: u32,
}

/// `GET /tariffs` and `GET /tariffs/static`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tariffs {
    #[serde(default)]
    pub available: Vec<AvailableTariff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user_message: Option<EndUserMessage>,
}

/// The `type` filter of `GET /tariffs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffFilter {
    #[default]
    Any,
    Socialtariff,
    Coupon,
}

impl TariffFilter {
    fn as_str(self) -> &'static str {
        match self {
            TariffFilter::Any => "ANY",
            TariffFilter::Socialtariff => "SOCIALTARIFF",
            TariffFilter::Coupon => "COUPON",
        }
    }
}

/// Where and how to reach UiTPAS.
#[derive(Clone)]
pub struct ClientConfig {
    pub base_url: String,
    /// The UiTdatabank Entry API, reached with the same token.
    pub entry_base_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub timeout: Duration,
}

/// The UiTPAS API client. Cheap to share (`Arc`); one connection pool for the whole service.
pub struct UitpasClient {
    http: reqwest::Client,
    base_url: String,
    entry_base_url: String,
    tokens: TokenProvider,
    metrics: Arc<Metrics>,
}

/// The HTTP client every customer's [`UitpasClient`] shares: one connection pool for the service.
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(50))
        .user_agent(concat!("uitpas-checkout/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

impl UitpasClient {
    pub fn new(config: ClientConfig, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        Ok(Self::with_http(http_client(config.timeout)?, config, metrics))
    }

    /// A client of one set of credentials on a shared connection pool: its own token cache.
    pub fn with_http(http: reqwest::Client, config: ClientConfig, metrics: Arc<Metrics>) -> Self {
        let tokens = TokenProvider::new(
            http.clone(),
            config.token_url,
            config.client_id,
            config.client_secret,
            metrics.clone(),
        );
        Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            entry_base_url: config.entry_base_url.trim_end_matches('/').to_owned(),
            tokens,
            metrics,
        }
    }

    /// The URL of a UiTPAS API path.
    fn api(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends one call, with one retry on a fresh token after a 401; decodes the answer.
    async fn call<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, UpstreamError> {
        match self.call_gated(operation, method, url, query, body, &mut Ungated).await {
            Gated::Called(result) => result,
            Gated::Refused(never) => match never {},
        }
    }

    /// Like [`Self::call`], opening `gate` right before each write of the request.
    async fn call_gated<T: DeserializeOwned, G: SendGate>(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        gate: &mut G,
    ) -> Gated<T, G::Error> {
        let started = Instant::now();
        let result = match self.send(method, url, query, body, gate).await {
            Gated::Called(Ok(response)) => response
                .json::<T>()
                .await
                .map_err(|e| UpstreamError::from_reqwest(e.without_url())),
            Gated::Called(Err(e)) => Err(e),
            Gated::Refused(e) => return Gated::Refused(e),
        };
        let outcome = result.as_ref().map_or_else(UpstreamError::outcome, |_| "ok");
        self.metrics.upstream(operation, outcome, started.elapsed());
        Gated::Called(result)
    }

    /// Like [`Self::call_gated`], for an answer without a body (204).
    async fn call_no_content<G: SendGate>(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        gate: &mut G,
    ) -> Gated<(), G::Error> {
        let started = Instant::now();
        let result = match self.send(method, url, &[], None, gate).await {
            Gated::Called(result) => result.map(drop),
            Gated::Refused(e) => return Gated::Refused(e),
        };
        let outcome = result.as_ref().map_or_else(UpstreamError::outcome, |_| "ok");
        self.metrics.upstream(operation, outcome, started.elapsed());
        Gated::Called(result)
    }

    /// Writes the request once its token is in hand and `gate` opened, with one retry on a fresh
    /// token after a 401 (which opens the gate again: the retry is a send of its own).
    async fn send<G: SendGate>(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        gate: &mut G,
    ) -> Gated<reqwest::Response, G::Error> {
        for attempt in 0..2 {
            let token = match self.tokens.token().await {
                Ok(token) => token,
                Err(e) => return Gated::Called(Err(e)),
            };
            let mut request = self
                .http
                .request(method.clone(), url)
                .query(query)
                .bearer_auth(token.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            // Nothing that can take long between the gate and the write: the gate records when
            // the request leaves (at the latest one call timeout later, when reqwest gives up).
            if let Err(e) = gate.open().await {
                return Gated::Refused(e);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => return Gated::Called(Err(UpstreamError::from_reqwest(e))),
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                // Revoked or expired early: forget it and try once more with a new one. A 401 means
                // UiTPAS did not carry the request out, so sending it again is safe.
                tracing::info!("UiTPAS refused the access token; fetching a new one");
                self.tokens.invalidate(&token).await;
                continue;
            }
            if status.is_success() {
                return Gated::Called(Ok(response));
            }
            return Gated::Called(Err(error_from(response).await));
        }
        Gated::Called(Err(UpstreamError::Status(StatusCode::UNAUTHORIZED.as_u16())))
    }

    /// `GET /passes/{uitpasNumber}`.
    pub async fn pass(&self, number: &UitpasNumber) -> Result<Pass, UpstreamError> {
        let path = format!("/passes/{}", number.as_str());
        self.call("get-passes-uitpasNumber", Method::GET, &self.api(&path), &[], None)
            .await
    }

    /// `GET /tariffs`: the tariffs a pass may pay for an event at a regular price.
    pub async fn tariffs(
        &self,
        event_id: &str,
        number: &UitpasNumber,
        regular_price: Money,
        filter: TariffFilter,
    ) -> Result<Tariffs, UpstreamError> {
        let price = regular_price.to_string();
        let query = [
            ("eventId", event_id),
            ("uitpasNumber", number.as_str()),
            ("regularPrice", price.as_str()),
            ("type", filter.as_str()),
        ];
        self.call("get-tariffs", Method::GET, &self.api("/tariffs"), &query, None)
            .await
    }

    /// `GET /tariffs/static`: the social tariff of an event before the pass is known.
    pub async fn static_tariffs(&self, event_id: &str, regular_price: Money) -> Result<Tariffs, UpstreamError> {
        let price = regular_price.to_string();
        let query = [("eventId", event_id), ("regularPrice", price.as_str())];
        self.call(
            "get-tariffs-static",
            Method::GET,
            &self.api("/tariffs/static"),
            &query,
            None,
        )
        .await
    }
}

impl UitpasClient {
    /// `POST /ticket-sales`: registers every sale or none. Not idempotent: a lost answer leaves the
    /// outcome unknown, to be settled with [`Self::ticket_sales_of_event`].
    ///
    /// `gate` opens right before the request is written, with the token in hand (see [`gate`]).
    pub async fn register_ticket_sales<G: SendGate>(
        &self,
        sales: &[TicketSaleRequest],
        gate: &mut G,
    ) -> Gated<Vec<RegisteredTicketSale>, G::Error> {
        let body = match serde_json::to_value(sales) {
            Ok(body) => body,
            Err(e) => return Gated::Called(Err(UpstreamError::Decode(e.to_string()))),
        };
        let registered: Vec<RegisteredTicketSale> = match self
            .call_gated(
                "post-ticket-sales",
                Method::POST,
                &self.api("/ticket-sales"),
                &[],
                Some(&body),
                gate,
            )
            .await
        {
            Gated::Called(Ok(registered)) => registered,
            Gated::Called(Err(e)) => return Gated::Called(Err(e)),
            Gated::Refused(e) => return Gated::Refused(e),
        };
        if registered.len() != sales.len() {
            return Gated::Called(Err(UpstreamError::Decode(format!(
                "{} ticket sales registered for {} sent",
                registered.len(),
                sales.len()
            ))));
        }
        Gated::Called(Ok(registered))
    }

    /// `GET /ticket-sales?eventId=&start=&limit=`: one page of an event's ticket sales.
    pub async fn ticket_sales_of_event(
        &self,
        event_id: &str,
        start: u32,
        limit: u32,
    ) -> Result<TicketSalePage, UpstreamError> {
        let (start, limit) = (start.to_string(), limit.to_string());
        let query = [
            ("eventId", event_id),
            ("start", start.as_str()),
            ("limit", limit.as_str()),
        ];
        self.call(
            "get-ticket-sales",
            Method::GET,
            &self.api("/ticket-sales"),
            &query,
            None,
        )
        .await
    }

    /// `DELETE /ticket-sales/{ticketSaleId}`; `gate` opens right before the request is written.
    pub async fn cancel_ticket_sale<G: SendGate>(
        &self,
        uitpas_ticket_sale_id: &str,
        gate: &mut G,
    ) -> Gated<(), G::Error> {
        let path = format!("/ticket-sales/{}", urlencode_segment(uitpas_ticket_sale_id));
        self.call_no_content("delete-ticket-sales", Method::DELETE, &self.api(&path), gate)
            .await
    }
}

impl UitpasClient {
    /// Entry API `POST /events`: creates a UiTdatabank event. Not idempotent: a lost answer may
    /// leave an event behind that the next attempt cannot see. Errors are
    /// [`UpstreamError::UiTdatabank`].
    /// `gate` opens right before the request is written, with the token in hand.
    pub async fn create_event<G: SendGate>(
        &self,
        body: &serde_json::Value,
        gate: &mut G,
    ) -> Gated<CreatedEvent, G::Error> {
        let url = format!("{}/events", self.entry_base_url);
        match self
            .call_gated("event-post", Method::POST, &url, &[], Some(body), gate)
            .await
        {
            Gated::Called(result) => Gated::Called(result.map_err(|e| UpstreamError::UiTdatabank(Box::new(e)))),
            refused @ Gated::Refused(_) => refused,
        }
    }

    /// `GET /events/{eventId}/card-systems`: the card systems an event takes part in.
    pub async fn event_card_systems(&self, event_id: &str) -> Result<Vec<EventCardSystem>, UpstreamError> {
        let path = format!("/events/{}/card-systems", urlencode_segment(event_id));
        self.call("get-events-card-systems", Method::GET, &self.api(&path), &[], None)
            .await
    }

    /// `POST /checkins`: checks a passholder in at an event (points).
    pub async fn checkin(&self, event_id: &str, uitpas_number: &str) -> Result<Checkin, UpstreamError> {
        let body = serde_json::json!({ "eventId": event_id, "uitpasNumber": uitpas_number });
        self.call("post-checkins", Method::POST, &self.api("/checkins"), &[], Some(&body))
            .await
    }
}

impl UitpasClient {
    /// Fetches a token: whether the token server takes these credentials.
    pub async fn check_token(&self) -> Result<(), UpstreamError> {
        self.tokens.token().await.map(drop)
    }

    /// `GET /permissions`: the organizers this client may act for, with its permissions.
    pub async fn permissions(&self) -> Result<Vec<OrganizerPermissionsAnswer>, UpstreamError> {
        self.call("get-permissions", Method::GET, &self.api("/permissions"), &[], None)
            .await
    }

    /// A UiTdatabank event's organizer and prices (Entry API `GET /events/{eventId}`).
    pub async fn event_facts(&self, event_id: &str) -> Result<EventFacts, UpstreamError> {
        let url = format!("{}/events/{}", self.entry_base_url, urlencode_segment(event_id));
        let event: EntryEventFacts = self
            .call("event-get", Method::GET, &url, &[], None)
            .await
            .map_err(|e| UpstreamError::UiTdatabank(Box::new(e)))?;
        Ok(EventFacts {
            organizer: event
                .organizer
                .and_then(|o| o.id)
                .and_then(|url| url.trim_end_matches('/').rsplit('/').next().map(str::to_owned)),
            prices: Some(
                event
                    .price_info
                    .iter()
                    .filter_map(|p| p.price)
                    .filter_map(|p| crate::domain::Money::from_euros(p).ok())
                    .collect(),
            ),
        })
    }

    /// The organizer of a UiTdatabank event (Entry API `GET /events/{eventId}`, `organizer.@id`);
    /// `None` when the event has none.
    pub async fn event_organizer(&self, event_id: &str) -> Result<Option<String>, UpstreamError> {
        let url = format!("{}/events/{}", self.entry_base_url, urlencode_segment(event_id));
        let event: EntryEventOrganizer = self
            .call("event-get", Method::GET, &url, &[], None)
            .await
            .map_err(|e| UpstreamError::UiTdatabank(Box::new(e)))?;
        Ok(event
            .organizer
            .and_then(|o| o.id)
            .and_then(|url| url.trim_end_matches('/').rsplit('/').next().map(str::to_owned)))
    }
}

#[derive(Deserialize)]
struct EntryEventOrganizer {
    #[serde(default)]
    organizer: Option<EntryRef>,
}

/// What a checkout needs of a UiTdatabank event (Entry API `GET /events/{eventId}`): its
/// organizer, and its prices (every `priceInfo` price: the base price and the tariffs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFacts {
    pub organizer: Option<String>,
    /// `None` when not read (the event was learnt of another way); empty when it has none.
    pub prices: Option<Vec<crate::domain::Money>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryEventFacts {
    #[serde(default)]
    organizer: Option<EntryRef>,
    #[serde(default)]
    price_info: Vec<EntryPrice>,
}

#[derive(Deserialize)]
struct EntryPrice {
    #[serde(default)]
    price: Option<f64>,
}

#[derive(Deserialize)]
struct EntryRef {
    #[serde(rename = "@id", default)]
    id: Option<String>,
}

/// One organizer of `GET /permissions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizerPermissionsAnswer {
    pub organizer: OrganizerRef,
    /// Deprecated by publiq in favour of `permissionDetails`; read both.
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub permission_details: Vec<PermissionDetail>,
    #[serde(default)]
    pub linked_organizers: Vec<LinkedOrganizerPermissions>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedOrganizerPermissions {
    pub organizer: OrganizerRef,
    #[serde(default)]
    pub permission_details: Vec<PermissionDetail>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrganizerRef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PermissionDetail {
    pub id: String,
}

/// The answer of Entry API `POST /events`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedEvent {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
}

/// A card system an event takes part in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventCardSystem {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    pub enabled: bool,
}

/// A check-in, as `POST /checkins` answers it and `GET /checkins` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkin {
    /// Its id, to undo it (`DELETE /checkins/{checkinId}`).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub creation_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub uitpas_number: Option<String>,
    #[serde(default)]
    pub points: Option<i64>,
}

/// Percent-encodes a path segment (ids come from UiTPAS, but are not trusted to be URL-safe).
fn urlencode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One line of `POST /ticket-sales`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketSaleRequest {
    pub uitpas_number: String,
    pub event_id: String,
    pub regular_price: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regular_price_label: Option<String>,
    pub tariff: TariffRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TariffRef {
    pub id: String,
}

/// A ticket sale as UiTPAS answers it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredTicketSale {
    pub id: String,
    pub event_id: String,
    pub uitpas_number: String,
    pub regular_price: Money,
    /// Stored by UiTPAS as sent; ours carry the sale's marker (see `ledger::reconcile`).
    #[serde(default)]
    pub regular_price_label: Option<String>,
    /// When UiTPAS created the sale ("always available in response").
    #[serde(default)]
    pub creation_date: Option<DateTime<Utc>>,
    pub tariff: ConfirmedTariff,
}

/// The tariff of a registered sale; `name`, `price` and `type` are read-only extras UiTPAS adds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConfirmedTariff {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub price: Option<Money>,
    #[serde(rename = "type", default)]
    pub kind: Option<TariffType>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketSalePage {
    #[serde(default)]
    pub total_items: u32,
    #[serde(default)]
    pub member: Vec<RegisteredTicketSale>,
}

/// Reads an error answer: publiq's problem when there is one, else the bare status.
async fn error_from(response: reqwest::Response) -> UpstreamError {
    let status = response.status().as_u16();
    let is_problem = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_problem
        && status < 500
        && let Ok(problem) = response.json::<PubliqProblem>().await
        && !problem.kind.is_empty()
    {
        return UpstreamError::Problem {
            status,
            problem: Box::new(problem),
        };
    }
    UpstreamError::Status(status)
}

/// Keeping an activity's UiTdatabank event in step (issue 16): reading, updating, soft-deleting,
/// and finding the event a lost `POST /events` answer made. Errors are [`UpstreamError::UiTdatabank`].
impl UitpasClient {
    /// The Entry API URL of an event (as `POST /events` answers it).
    pub fn event_url(&self, event_id: &str) -> String {
        format!("{}/events/{}", self.entry_base_url, urlencode_segment(event_id))
    }

    /// UiTdatabank's Search API, which follows the Entry API's environment: `search-test` beside
    /// `io-test`, `search` beside `io`; any other Entry API (a sandbox) serves the search itself.
    fn search_base_url(&self) -> String {
        let host = reqwest::Url::parse(&self.entry_base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        match host.as_deref() {
            Some("io-test.uitdatabank.be") => "https://search-test.uitdatabank.be".to_owned(),
            Some("io.uitdatabank.be") => "https://search.uitdatabank.be".to_owned(),
            _ => self.entry_base_url.clone(),
        }
    }

    /// Entry API `GET /events/{eventId}`: the event as UiTdatabank has it (JSON-LD).
    pub async fn event(&self, event_id: &str) -> Result<serde_json::Value, UpstreamError> {
        self.call("event-get", Method::GET, &self.event_url(event_id), &[], None)
            .await
            .map_err(|e| UpstreamError::UiTdatabank(Box::new(e)))
    }

    /// Entry API `PUT /events/{eventId}`: overwrites the whole event (idempotent).
    pub async fn update_event(&self, event_id: &str, body: &serde_json::Value) -> Result<(), UpstreamError> {
        self.call::<serde_json::Value>("event-put", Method::PUT, &self.event_url(event_id), &[], Some(body))
            .await
            .map(drop)
            .map_err(|e| UpstreamError::UiTdatabank(Box::new(e)))
    }

    /// Entry API `PUT /events/{eventId}/price-info` (204).
    pub async fn update_event_price_info(
        &self,
        event_id: &str,
        prices: &serde_json::Value,
    ) -> Result<(), UpstreamError> {
        let url = format!("{}/price-info", self.event_url(event_id));
        self.entry_no_content("event-price-info-put", Method::PUT, &url, Some(prices))
            .await
    }

    /// Entry API `PUT /events/{eventId}/calendar` (204).
    pub async fn update_event_calendar(
        &self,
        event_id: &str,
        calendar: &serde_json::Value,
    ) -> Result<(), UpstreamError> {
        let url = format!("{}/calendar", self.event_url(event_id));
        self.entry_no_content("event-calendar-put", Method::PUT, &url, Some(calendar))
            .await
    }

    /// Entry API `PUT /events/{eventId}/status` (204): Available, TemporarilyUnavailable or
    /// Unavailable, with a reason per language.
    pub async fn update_event_status(&self, event_id: &str, status: &serde_json::Value) -> Result<(), UpstreamError> {
        let url = format!("{}/status", self.event_url(event_id));
        self.entry_no_content("event-status-put", Method::PUT, &url, Some(status))
            .await
    }

    /// Entry API `DELETE /events/{eventId}` (204): a soft delete, `workflowStatus` becomes DELETED.
    pub async fn delete_event(&self, event_id: &str) -> Result<(), UpstreamError> {
        self.entry_no_content("event-delete", Method::DELETE, &self.event_url(event_id), None)
            .await
    }

    /// Search API `GET /events?labels[]=…`: the ids of the events that carry `label`, oldest first,
    /// whatever their workflow status (the default filters are off). The index follows UiTdatabank
    /// with a lag, so an event stored a moment ago may be missing.
    pub async fn events_with_label(&self, label: &str) -> Result<Vec<String>, UpstreamError> {
        let url = format!("{}/events", self.search_base_url());
        let query = [
            ("labels[]", label),
            ("disableDefaultFilters", "true"),
            ("sort[created]", "asc"),
            ("limit", "30"),
        ];
        let page: SearchPage = self
            .call("search-events-get", Method::GET, &url, &query, None)
            .await
            .map_err(|e| UpstreamError::UiTdatabank(Box::new(e)))?;
        Ok(page
            .member
            .iter()
            .filter_map(|m| m.id.trim_end_matches('/').rsplit('/').next())
            .filter(|id| uuid::Uuid::parse_str(id).is_ok())
            .map(str::to_owned)
            .collect())
    }

    /// An Entry API call answered without a body.
    async fn entry_no_content(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(), UpstreamError> {
        let started = Instant::now();
        let result = match self.send(method, url, &[], body, &mut Ungated).await {
            Gated::Called(result) => result.map(drop),
            Gated::Refused(never) => match never {},
        };
        let outcome = result.as_ref().map_or_else(UpstreamError::outcome, |_| "ok");
        self.metrics.upstream(operation, outcome, started.elapsed());
        result.map_err(|e| UpstreamError::UiTdatabank(Box::new(e)))
    }
}

/// A page of the Search API (`PagedCollection`), as far as a lookup needs it.
#[derive(Debug, Deserialize)]
struct SearchPage {
    #[serde(default)]
    member: Vec<SearchMember>,
}

#[derive(Debug, Deserialize)]
struct SearchMember {
    /// `https://io.uitdatabank.be/event/<id>`
    #[serde(rename = "@id")]
    id: String,
}

/// At the door (issue 16): a pass by any of its identifiers, whether a passholder may check in
/// now, and finding and undoing check-ins.
impl UitpasClient {
    /// `GET /passes?identifier=`: a pass by UiTPAS number, chip number or INSZ number. The
    /// identifier travels in the query string; neither it nor the URL is ever logged (errors
    /// carry no URL, metrics only the operation).
    pub async fn pass_by_identifier(&self, identifier: &str) -> Result<IdentifiedPass, UpstreamError> {
        self.call(
            "get-passes",
            Method::GET,
            &self.api("/passes"),
            &[("identifier", identifier)],
            None,
        )
        .await
    }

    /// `GET /checkin-status?uitpasNumber&eventId`: whether the passholder may check in now.
    pub async fn checkin_status(&self, event_id: &str, uitpas_number: &str) -> Result<CheckinStatus, UpstreamError> {
        let query = [("uitpasNumber", uitpas_number), ("eventId", event_id)];
        self.call(
            "get-checkin-status",
            Method::GET,
            &self.api("/checkin-status"),
            &query,
            None,
        )
        .await
    }

    /// `GET /checkins?passholderId&organizerId&start&limit`: a passholder's check-ins at an
    /// organizer's events, newest first (needs CHECKINS_READ).
    pub async fn checkins(
        &self,
        passholder_id: &str,
        organizer_id: &str,
        start: u32,
        limit: u32,
    ) -> Result<CheckinPage, UpstreamError> {
        let (start, limit) = (start.to_string(), limit.to_string());
        let query = [
            ("passholderId", passholder_id),
            ("organizerId", organizer_id),
            ("start", start.as_str()),
            ("limit", limit.as_str()),
        ];
        self.call("get-checkins", Method::GET, &self.api("/checkins"), &query, None)
            .await
    }

    /// `DELETE /checkins/{checkinId}`: undoes a check-in (its points are taken back). A 404 means
    /// UiTPAS has no such check-in (any more).
    pub async fn delete_checkin(&self, checkin_id: &str) -> Result<(), UpstreamError> {
        let path = format!("/checkins/{}", urlencode_segment(checkin_id));
        match self
            .call_no_content(
                "delete-checkins-checkinId",
                Method::DELETE,
                &self.api(&path),
                &mut Ungated,
            )
            .await
        {
            Gated::Called(result) => result,
            Gated::Refused(never) => match never {},
        }
    }
}

/// What `GET /passes?identifier=` answers, as far as the door needs it: the pass's UiTPAS number
/// and status, and the passholder's id (only to search its check-ins; never shown). Name, INSZ,
/// points and postal code are not even read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentifiedPass {
    pub uitpas_number: String,
    #[serde(default)]
    pub passholder_id: Option<String>,
    #[serde(flatten)]
    pub pass: Pass,
}

/// `GET /checkin-status`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckinStatus {
    pub allowed: bool,
    /// Why not, for the passholder.
    #[serde(default)]
    pub end_user_message: Option<EndUserMessage>,
}

/// A page of `GET /checkins`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckinPage {
    #[serde(default)]
    pub total_items: u32,
    #[serde(default)]
    pub member: Vec<Checkin>,
}
