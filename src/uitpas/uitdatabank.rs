//! The UiTdatabank Entry API 3.0 (events), reached with the same client and token as UiTPAS:
//! creating an event, reading its organizer and prices, keeping it in step. Errors are
//! [`UpstreamError::UiTdatabank`]. Every time sent carries its Brussels offset
//! ([`crate::brussels`]); no operation publiq marks deprecated (`PUT /events/{id}/major-info`,
//! `POST /imports/events`) is used.

use std::time::Instant;

use reqwest::Method;
use serde::Deserialize;

use super::{Gated, SendGate, UitpasClient, Ungated, UpstreamError, urlencode_segment};

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
        let body = with_brussels_offsets(body);
        match self
            .call_gated("event-post", Method::POST, &url, &[], Some(&body), gate)
            .await
        {
            Gated::Called(result) => Gated::Called(result.map_err(|e| UpstreamError::UiTdatabank(Box::new(e)))),
            refused @ Gated::Refused(_) => refused,
        }
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

/// The answer of Entry API `POST /events`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedEvent {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
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
        let body = with_brussels_offsets(body);
        self.call::<serde_json::Value>("event-put", Method::PUT, &self.event_url(event_id), &[], Some(&body))
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
        let calendar = with_brussels_offsets(calendar);
        self.entry_no_content("event-calendar-put", Method::PUT, &url, Some(&calendar))
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

/// `body` with every time of its calendar (`startDate`, `endDate`, those of each `subEvent`) in
/// Brussels time with its offset: the Entry API reads a time without a zone as Brussels time
/// (2026-03), and the service never leaves a time to that rule, also not one it stored before.
fn with_brussels_offsets(body: &serde_json::Value) -> serde_json::Value {
    let mut body = body.clone();
    crate::brussels::with_brussels_offsets(&mut body);
    body
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
