//! The client of publiq's APIs (UiTPAS API 4.0, and the UiTdatabank Entry API 3.0 for creating
//! events): typed calls, one shared `reqwest::Client` with timeouts, tokens
//! from [`token::TokenProvider`] (one retry after a 401), and publiq's problem+json decoded into
//! [`UpstreamError::Problem`] so that `type`, `endUserMessage` and pointers reach the shop.
//!
//! This file holds what every call shares: the errors, the client and its call machinery. The
//! calls themselves are by subject: [`passes`] (and tariffs), [`ticket_sales`], [`checkins`] (and
//! the door), [`permissions`], [`rewards`] and an organizer's financial [`reports`] on UiTPAS, and
//! [`uitdatabank`] on the Entry API; [`publiq`] knows publiq's environments and hosts.

pub mod checkins;
pub mod gate;
pub mod passes;
pub mod permissions;
pub mod publiq;
pub mod reports;
pub mod rewards;
pub mod ticket_sales;
pub mod token;
pub mod uitdatabank;
pub mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::metrics::Metrics;
use crate::secrets::Secret;
pub use checkins::{Checkin, CheckinPage, CheckinStatus, EventCardSystem, IdentifiedPass};
pub use gate::{Gated, SendGate, Ungated};
pub use passes::{
    AvailableTariff, MessageLevel, Pass, PassMessage, PassType, SocialTariff, SocialTariffStatus, TariffFilter,
    TariffType, Tariffs,
};
pub use permissions::{
    CardSystemRef, LinkedOrganizerPermissions, OrganizerPermissionsAnswer, OrganizerRef, PermissionDetail,
};
pub use reports::{Report, ReportPeriod, ReportStatus};
pub use rewards::{RedeemInfo, RedeemStatus, RedeemedReward, RedeemedRewardPage, Reward, RewardPage, RewardType};
pub use ticket_sales::{ConfirmedTariff, RegisteredTicketSale, TariffRef, TicketSalePage, TicketSaleRequest};
use token::TokenProvider;
pub use uitdatabank::{CreatedEvent, EventFacts};

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
    /// The card's actual status when it is not active (`invalid-card-status`: `BLOCKED`,
    /// `DELETED`, …), as `GET /passes` and other operations answer it. (The `passholderId` and
    /// `passType` beside it are not read: they are not the buyer's business.)
    #[serde(default)]
    pub card_status: Option<String>,
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

    /// Fetches a token: whether the token server takes these credentials.
    pub async fn check_token(&self) -> Result<(), UpstreamError> {
        self.tokens.token().await.map(drop)
    }
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
