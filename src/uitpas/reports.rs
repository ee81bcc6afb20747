//! UiTPAS financial reports of an organizer (its expense note: what the region reimburses):
//! suggested periods, an export started for a period, its status, a temporary download link and
//! the zip. Every call needs `ORGANIZERS_REPORTS` for the organizer (else 403 `auth/forbidden`).
//!
//! Starting an export is not idempotent, but harmless to repeat: a lost answer leaves an export
//! at UiTPAS that nobody follows, and the operator starts another.

use std::time::Instant;

use chrono::{DateTime, FixedOffset, NaiveDate};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Gated, UitpasClient, Ungated, UpstreamError, urlencode_segment};

impl UitpasClient {
    fn reports_path(organizer_id: &str, rest: &str) -> String {
        format!(
            "/organizers/{}/financial-reports{rest}",
            urlencode_segment(organizer_id)
        )
    }

    /// `GET /organizers/{organizerId}/financial-reports/periods`: the periods UiTPAS suggests.
    pub async fn report_periods(&self, organizer_id: &str) -> Result<Vec<ReportPeriod>, UpstreamError> {
        let url = self.api(&Self::reports_path(organizer_id, "/periods"));
        self.call("get-organizers-financial-reports-periods", Method::GET, &url, &[], None)
            .await
    }

    /// `POST /organizers/{organizerId}/financial-reports`: starts the export of a period.
    pub async fn start_report(&self, organizer_id: &str, period: &ReportPeriod) -> Result<Report, UpstreamError> {
        let body = serde_json::to_value(period).map_err(|e| UpstreamError::Decode(e.to_string()))?;
        let url = self.api(&Self::reports_path(organizer_id, ""));
        self.call(
            "post-organizers-financial-reports",
            Method::POST,
            &url,
            &[],
            Some(&body),
        )
        .await
    }

    /// `GET /organizers/{organizerId}/financial-reports/{reportId}`: an export's status.
    pub async fn report(&self, organizer_id: &str, report_id: i64) -> Result<Report, UpstreamError> {
        let url = self.api(&Self::reports_path(organizer_id, &format!("/{report_id}")));
        self.call(
            "get-organizers-financial-reports-reportId",
            Method::GET,
            &url,
            &[],
            None,
        )
        .await
    }

    /// `GET …/{reportId}/download-link`: a short-lived link to an available report's zip, which
    /// needs no token.
    pub async fn report_download_link(&self, organizer_id: &str, report_id: i64) -> Result<String, UpstreamError> {
        let url = self.api(&Self::reports_path(
            organizer_id,
            &format!("/{report_id}/download-link"),
        ));
        let link: DownloadLink = self
            .call(
                "get-organizers-financial-reports-reportId-downloadLink",
                Method::GET,
                &url,
                &[],
                None,
            )
            .await?;
        Ok(link.download_link)
    }

    /// `GET …/{reportId}.zip`: an available report itself.
    pub async fn report_zip(&self, organizer_id: &str, report_id: i64) -> Result<Vec<u8>, UpstreamError> {
        let operation = "get-organizers-financial-reports-reportId-zip";
        let url = self.api(&Self::reports_path(organizer_id, &format!("/{report_id}.zip")));
        let started = Instant::now();
        let result = match self.send(Method::GET, &url, &[], None, &mut Ungated).await {
            Gated::Called(Ok(response)) => response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .map_err(|e| UpstreamError::from_reqwest(e.without_url())),
            Gated::Called(Err(e)) => Err(e),
            Gated::Refused(never) => match never {},
        };
        let outcome = result.as_ref().map_or_else(UpstreamError::outcome, |_| "ok");
        self.metrics.upstream(operation, outcome, started.elapsed());
        result
    }
}

/// A period of a financial report: both days included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportPeriod {
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
}

/// Where an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportStatus {
    Started,
    Available,
    Failed,
    /// A status this service does not know yet.
    #[serde(other)]
    Unknown,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Started => "STARTED",
            ReportStatus::Available => "AVAILABLE",
            ReportStatus::Failed => "FAILED",
            ReportStatus::Unknown => "UNKNOWN",
        }
    }
}

/// An export, as UiTPAS answers it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub id: i64,
    pub status: ReportStatus,
    /// Why it failed (with `FAILED`).
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub period: Option<ReportPeriod>,
    pub creation_date: DateTime<FixedOffset>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DownloadLink {
    download_link: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publiqs_examples_read() {
        let started: Report =
            serde_json::from_str(r#"{"status":"STARTED","id":232432,"creationDate":"2022-06-10T12:26:30+02:00"}"#)
                .unwrap();
        assert_eq!((started.id, started.status), (232_432, ReportStatus::Started));
        let failed: Report = serde_json::from_str(
            r#"{"status":"FAILED","id":1,"period":{"startDate":"2000-01-01","endDate":"2020-06-07"},
                "creationDate":"2022-06-07T10:02:33+00:00","message":"Geen financieel overzicht"}"#,
        )
        .unwrap();
        assert_eq!(failed.status, ReportStatus::Failed);
        assert_eq!(
            failed.period.map(|p| p.end_date.to_string()).as_deref(),
            Some("2020-06-07")
        );
        let odd: Report =
            serde_json::from_str(r#"{"status":"QUEUED","id":2,"creationDate":"2022-06-07T10:02:33Z"}"#).unwrap();
        assert_eq!(odd.status, ReportStatus::Unknown);
    }
}
