//! UiTPAS check-ins and the door: an event's card systems, checking a passholder in, a pass by any
//! identifier, whether a passholder may check in now, finding and undoing check-ins.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{EndUserMessage, Gated, Pass, UitpasClient, Ungated, UpstreamError, urlencode_segment};

impl UitpasClient {
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
