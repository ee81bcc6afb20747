//! UiTPAS's financial reports of an organizer (the expense note: what the region reimburses), as
//! publiq documents them: suggested periods, an export started for a period, its status, a
//! temporary download link, and the zip itself.
//!
//! Every operation needs `ORGANIZERS_REPORTS` for the organizer (else 403
//! `https://api.publiq.be/probs/auth/forbidden`); an organizer the sandbox does not know is 404
//! `organizer-not-found`, a report it did not start (for that organizer) 404 `report-not-found`.
//! An export is `STARTED` until its status has been read once, then `AVAILABLE` (a period that
//! ends before 2019 has no data: `FAILED`, with publiq's message). The download link points back
//! at the sandbox (`/_sandbox/financial-reports/…`) and works without a token, like publiq's.
//!
//! Reports live in memory only, like tokens: a restarted sandbox forgets them.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde_json::{Value, json};

use super::Sandbox;
use super::clients::{Caller, Permission};
use super::dataset;
use super::problem::{EndUserMessage, Problem, SchemaError};
use super::uitpas::json_body;

/// The reports the sandbox started, by id.
#[derive(Debug, Default)]
pub struct Reports {
    next_id: i64,
    by_id: HashMap<i64, Report>,
}

#[derive(Debug, Clone)]
struct Report {
    organizer_id: String,
    start: NaiveDate,
    end: NaiveDate,
    created: DateTime<Utc>,
    /// How often its status was read: the export is done after the first read.
    reads: u32,
    /// The secret of its download link.
    hash: String,
}

impl Report {
    fn failed(&self) -> bool {
        self.end < NaiveDate::from_ymd_opt(2019, 1, 1).unwrap_or_default()
    }

    fn status(&self) -> &'static str {
        match (self.reads, self.failed()) {
            (0, _) => "STARTED",
            (_, true) => "FAILED",
            (_, false) => "AVAILABLE",
        }
    }

    fn json(&self, id: i64) -> Value {
        let mut report = json!({
            "id": id,
            "status": self.status(),
            "period": period_json(self.start, self.end),
            "creationDate": self.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        if self.status() == "FAILED" {
            report["message"] = json!(format!(
                "Geen financieel overzicht beschikbaar voor periode {} - {}",
                self.start.format("%Y/%m/%d"),
                self.end.format("%Y/%m/%d")
            ));
        }
        report
    }
}

fn period_json(start: NaiveDate, end: NaiveDate) -> Value {
    json!({ "startDate": start.to_string(), "endDate": end.to_string() })
}

/// The organizer, when it exists and the caller may read its reports.
fn require(sandbox: &Sandbox, caller: &Caller, organizer_id: &str) -> Result<(), Problem> {
    if dataset::organizer(organizer_id).is_none() {
        return Err(organizer_not_found());
    }
    let permission = Permission::parse("ORGANIZERS_REPORTS").ok_or_else(|| Problem::forbidden("no such permission"))?;
    if !sandbox.world().clients.allows(&caller.0, permission, organizer_id) {
        return Err(Problem::forbidden(format!(
            "client {} has no permission ORGANIZERS_REPORTS for organizer {organizer_id}",
            caller.0
        )));
    }
    Ok(())
}

fn organizer_not_found() -> Problem {
    Problem::uitpas(
        "organizer-not-found",
        StatusCode::NOT_FOUND,
        "Organizer not found",
        EndUserMessage::new("Organisator niet gevonden.", "Organizer not found."),
    )
}

fn report_not_found() -> Problem {
    Problem::uitpas(
        "report-not-found",
        StatusCode::NOT_FOUND,
        "Report not found",
        EndUserMessage::new("Rapport niet gevonden.", "Report not found."),
    )
}

/// `GET /organizers/{organizerId}/financial-reports/periods`: the current quarter so far and the
/// three before it, newest first.
pub async fn periods(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path(organizer_id): Path<String>,
) -> Response {
    if let Err(p) = require(&sandbox, &caller, &organizer_id) {
        return p.into_response();
    }
    let today = Utc::now().date_naive();
    let quarter_month = (today.month0() / 3) * 3 + 1;
    let mut start = NaiveDate::from_ymd_opt(today.year(), quarter_month, 1).unwrap_or(today);
    let mut periods = vec![period_json(start, today)];
    for _ in 0..3 {
        let end = start.pred_opt().unwrap_or(start);
        start = start.checked_sub_months(Months::new(3)).unwrap_or(start);
        periods.push(period_json(start, end));
    }
    Json(Value::Array(periods)).into_response()
}

/// The period of a `POST …/financial-reports` body, or why it is not one.
fn period_of(body: &[u8]) -> Result<(NaiveDate, NaiveDate), Problem> {
    let body = json_body(body)?;
    let mut errors = Vec::new();
    let mut date = |name: &str| match body.get(name) {
        None | Some(Value::Null) => {
            errors.push(SchemaError::new(format!("/{name}"), "is required"));
            None
        }
        Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().or_else(|| {
            errors.push(SchemaError::new(format!("/{name}"), "must be a date (YYYY-MM-DD)"));
            None
        }),
        Some(_) => {
            errors.push(SchemaError::new(format!("/{name}"), "must be a string"));
            None
        }
    };
    let (start, end) = (date("startDate"), date("endDate"));
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        errors.push(SchemaError::new("/endDate", "must not be before startDate"));
    }
    match (start, end) {
        (Some(start), Some(end)) if errors.is_empty() => Ok((start, end)),
        _ => Err(Problem::body_invalid_data(errors)),
    }
}

/// `POST /organizers/{organizerId}/financial-reports`: starts an export (200, `STARTED`).
pub async fn start(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path(organizer_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(p) = require(&sandbox, &caller, &organizer_id) {
        return p.into_response();
    }
    let (start, end) = match period_of(&body) {
        Ok(period) => period,
        Err(p) => return p.into_response(),
    };
    let mut reports = sandbox.reports();
    reports.next_id += 1;
    let id = 232_431 + reports.next_id;
    let report = Report {
        organizer_id,
        start,
        end,
        created: Utc::now(),
        reads: 0,
        hash: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
    };
    let answer = report.json(id);
    reports.by_id.insert(id, report);
    Json(answer).into_response()
}

/// The report `raw` names for that organizer (`232432`, or `232432.zip` when `zip`).
fn find(sandbox: &Sandbox, organizer_id: &str, raw: &str, zip: bool) -> Result<(i64, Report), Problem> {
    let id = if zip { raw.strip_suffix(".zip") } else { Some(raw) };
    let id: i64 = match id.map(str::parse) {
        Some(Ok(id)) => id,
        Some(Err(_)) => return Err(Problem::invalid_parameter("reportId", "must be an integer")),
        None => return Err(report_not_found()),
    };
    let reports = sandbox.reports();
    match reports.by_id.get(&id) {
        Some(report) if report.organizer_id == organizer_id => Ok((id, report.clone())),
        _ => Err(report_not_found()),
    }
}

/// `GET /organizers/{organizerId}/financial-reports/{reportId}` (the status; each read moves the
/// export on), and `GET …/{reportId}.zip` on the same route (axum's router has no suffixes).
pub async fn status_or_zip(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path((organizer_id, report)): Path<(String, String)>,
) -> Response {
    if let Err(p) = require(&sandbox, &caller, &organizer_id) {
        return p.into_response();
    }
    if report.ends_with(".zip") {
        return match find(&sandbox, &organizer_id, &report, true) {
            Ok((id, report)) => zip_answer(id, &report),
            Err(p) => p.into_response(),
        };
    }
    match find(&sandbox, &organizer_id, &report, false) {
        Ok((id, _)) => {
            let mut reports = sandbox.reports();
            let Some(report) = reports.by_id.get_mut(&id) else {
                return report_not_found().into_response();
            };
            let answer = report.json(id);
            report.reads += 1;
            Json(answer).into_response()
        }
        Err(p) => p.into_response(),
    }
}

/// `GET …/{reportId}/download-link`: a link to the sandbox that needs no token.
pub async fn download_link(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path((organizer_id, report)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(p) = require(&sandbox, &caller, &organizer_id) {
        return p.into_response();
    }
    let (id, report) = match find(&sandbox, &organizer_id, &report, false) {
        Ok(found) => found,
        Err(p) => return p.into_response(),
    };
    if report.status() != "AVAILABLE" {
        return report_not_found()
            .detail("The report is not available (yet).")
            .into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:9090");
    let link = format!(
        "http://{host}/_sandbox/financial-reports/{organizer_id}/{id}.zip?hash={}",
        report.hash
    );
    Json(json!({ "downloadLink": link })).into_response()
}

/// `GET /_sandbox/financial-reports/{organizerId}/{reportId}.zip?hash=`: where a download link
/// leads, without a token.
pub async fn download(
    State(sandbox): State<Sandbox>,
    Path((organizer_id, report)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match find(&sandbox, &organizer_id, &report, true) {
        Ok((id, report)) if query.get("hash") == Some(&report.hash) && report.status() == "AVAILABLE" => {
            zip_answer(id, &report)
        }
        Ok(_) => Problem::forbidden("The download link is not valid.").into_response(),
        Err(p) => p.into_response(),
    }
}

fn zip_answer(id: i64, report: &Report) -> Response {
    if report.status() != "AVAILABLE" {
        return report_not_found()
            .detail("The report is not available (yet).")
            .into_response();
    }
    let csv = format!(
        "organizerId;startDate;endDate;ticketSales;amountToReimburse\r\n{};{};{};0;0.00\r\n",
        report.organizer_id, report.start, report.end
    );
    let mut response = zip_of("financialOverview.csv", csv.as_bytes()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-zip-compressed"),
    );
    let disposition = format!(
        "attachment; filename=\"financialOverview_{}_{}.zip\"",
        id,
        report.created.format("%Y%m%d_%H%M")
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// A zip archive of one stored (uncompressed) file.
fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32(data);
    let (size, name_len) = (data.len() as u32, name.len() as u16);
    let mut out = Vec::new();
    let common = |out: &mut Vec<u8>| {
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // version, flags, stored, time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
    };
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    common(&mut out);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data);
    let central = out.len() as u32;
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes());
    common(&mut out);
    out.extend_from_slice(&[0; 14]); // comment length, disk, attributes, local header offset 0
    out.extend_from_slice(name.as_bytes());
    let central_size = out.len() as u32 - central;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_two_dates_in_order() {
        assert!(period_of(br#"{"startDate":"2026-01-01","endDate":"2026-03-31"}"#).is_ok());
        let backwards = period_of(br#"{"startDate":"2026-04-01","endDate":"2026-03-31"}"#).unwrap_err();
        assert_eq!(backwards.schema_errors[0].json_pointer, "/endDate");
        let missing = period_of(br#"{"startDate":"2026-13-01"}"#).unwrap_err();
        assert_eq!(missing.schema_errors.len(), 2);
        assert!(period_of(b"").unwrap_err().kind.ends_with("/body/missing"));
    }

    #[test]
    fn the_zip_holds_its_file_with_the_right_checksum() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let zip = zip_of("a.csv", b"x");
        assert_eq!(&zip[..4], b"PK\x03\x04");
        assert_eq!(&zip[zip.len() - 22..zip.len() - 18], b"PK\x05\x06");
    }
}
