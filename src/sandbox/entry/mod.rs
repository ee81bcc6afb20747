//! The UiTdatabank Entry API 3.0 events a shop uses (`POST /events`, `GET`, `PUT` and `DELETE
//! /events/{eventId}`, `PUT …/price-info`, `…/calendar`, `…/status`), with the checks of the real
//! schema that matter to a shop: an event it creates becomes known to the UiTPAS operations of the
//! same sandbox. Beside them, the part of UiTdatabank's Search API a shop needs to find an event by
//! its label (`GET /events?labels[]=…`; on the same port, it collides with nothing).
//!
//! The events' documents are kept as written, in memory only: a store (the embedded sandbox of a
//! development run) keeps what UiTPAS needs of an event, and after a restart its document is made
//! from that.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

mod check;

use check::*;

use super::Sandbox;
use super::dataset::{EventData, Limit, Period, builtin_events, organizer_card_systems};
use super::problem::{Problem, SchemaError};
use super::state::World;
use super::store::Change;
use super::uitpas::json_body;

/// `POST /events` → 201 `{id, eventId, url, commandId}`.
pub async fn create_event(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let body = json_body(&body).map_err(IntoResponse::into_response)?;
    let checked = check(&body).map_err(|errors| Problem::body_invalid_data(errors).into_response())?;
    let id = uuid::Uuid::new_v4().to_string();
    let card_systems = checked
        .organizer
        .map(|o| organizer_card_systems(&o.to_string()))
        .unwrap_or_default();
    let event = EventData {
        id: id.clone(),
        name: checked.name,
        organizer: checked.organizer.map(|o| o.to_string()),
        card_systems,
        social_limit: Limit {
            max: 100,
            period: Period::Week,
        },
        checkin_windows: checked.windows,
    };
    let url = event_url(&headers, &id);
    let mut document = body.clone();
    let now = now();
    document["@id"] = json!(url);
    document["created"] = json!(now);
    document["modified"] = json!(now);
    if document.get("workflowStatus").and_then(Value::as_str) != Some("DRAFT") {
        document["workflowStatus"] = json!("READY_FOR_VALIDATION");
    }
    {
        let mut world = sandbox.world();
        world.add_event(event.clone());
        world.event_documents().insert(id.clone(), document);
    }
    sandbox
        .keep(Change::Event(&event))
        .await
        .map_err(IntoResponse::into_response)?;
    let body = json!({
        "id": id,
        "eventId": id,
        "url": url,
        "commandId": uuid::Uuid::new_v4().to_string(),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// The Entry API URL of an event, on the host the client called.
fn event_url(headers: &HeaderMap, id: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/events/{id}")
}

/// The event id of a path, in its usual form; `None` when it is no UUID (no event has it).
fn path_id(raw: &str) -> Option<String> {
    uuid::Uuid::parse_str(raw).ok().map(|u| u.hyphenated().to_string())
}

fn not_found(id: &str) -> Response {
    Problem::not_found_url()
        .detail(format!("The event with id \"{id}\" was not found."))
        .into_response()
}

/// An event's document: as last written through the Entry API, or made from what the sandbox
/// knows of it (the dataset's events; events a store kept across a restart).
fn document(world: &mut World, id: &str, headers: &HeaderMap) -> Option<Value> {
    if let Some(document) = world.event_documents().get(id) {
        return Some(document.clone());
    }
    let event = world.event(id)?;
    let url = event_url(headers, id);
    let base = url.trim_end_matches(&format!("/events/{id}")).to_owned();
    let mut document = json!({
        "@id": url,
        "mainLanguage": "nl",
        "name": { "nl": event.name },
        "terms": [{ "id": "0.50.4.0.0", "label": "Concert", "domain": "eventtype" }],
        "location": { "@id": format!("{base}/places/{DATASET_PLACE}") },
        "calendarType": "permanent",
        "workflowStatus": "APPROVED",
        "status": { "type": "Available" },
    });
    if let Some(windows) = &event.checkin_windows {
        document["calendarType"] = json!(if windows.len() == 1 { "single" } else { "multiple" });
        document["subEvent"] = windows
            .iter()
            .map(|(s, e)| json!({ "startDate": s.to_rfc3339(), "endDate": e.to_rfc3339() }))
            .collect();
    }
    if let Some(organizer) = &event.organizer {
        document["organizer"] = json!({ "@id": format!("{base}/organizers/{organizer}") });
    }
    Some(document)
}

/// Reads the path's event and the body, or answers why not (404 before 400, as the path is
/// checked first).
fn event_and_body(
    sandbox: &Sandbox,
    raw: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Value, Value), Response> {
    let id = path_id(raw).ok_or_else(|| not_found(raw))?;
    let document = document(&mut sandbox.world(), &id, headers).ok_or_else(|| not_found(&id))?;
    let body = json_body(body).map_err(IntoResponse::into_response)?;
    Ok((id, document, body))
}

/// The checks' errors as a problem, or nothing.
fn refused(errors: Vec<SchemaError>) -> Result<(), Response> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::body_invalid_data(errors).into_response())
    }
}

/// Writes an event's document (and what UiTPAS knows of the event, when given), before answering.
async fn write(sandbox: &Sandbox, id: &str, mut document: Value, event: Option<EventData>) -> Result<(), Response> {
    document["modified"] = json!(now());
    {
        let mut world = sandbox.world();
        if let Some(event) = &event {
            world.add_event(event.clone());
        }
        world.event_documents().insert(id.to_owned(), document);
    }
    if let Some(event) = &event {
        sandbox
            .keep(Change::Event(event))
            .await
            .map_err(IntoResponse::into_response)?;
    }
    Ok(())
}

/// `GET /events/{eventId}` → 200 the event (JSON-LD), also once deleted (`workflowStatus` DELETED).
pub async fn get_event(State(sandbox): State<Sandbox>, headers: HeaderMap, Path(raw): Path<String>) -> Response {
    let Some(id) = path_id(&raw) else {
        return not_found(&raw);
    };
    match document(&mut sandbox.world(), &id, &headers) {
        Some(document) => Json(document).into_response(),
        None => not_found(&id),
    }
}

/// `PUT /events/{eventId}` → 200 `{id, eventId, url, commandId}`: the whole event overwritten.
/// Its labels and hidden labels are kept (the real API may keep them too), its workflow status too.
pub async fn update_event(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, Response> {
    let (id, old, body) = event_and_body(&sandbox, &raw, &headers, &body)?;
    let checked = check(&body).map_err(|errors| Problem::body_invalid_data(errors).into_response())?;
    let social_limit = sandbox.world().event(&id).map_or(
        Limit {
            max: 100,
            period: Period::Week,
        },
        |e| e.social_limit,
    );
    let event = EventData {
        id: id.clone(),
        name: checked.name,
        organizer: checked.organizer.map(|o| o.to_string()),
        card_systems: checked
            .organizer
            .map(|o| organizer_card_systems(&o.to_string()))
            .unwrap_or_default(),
        social_limit,
        checkin_windows: checked.windows,
    };
    let mut document = body;
    for field in ["@id", "created", "workflowStatus"] {
        if let Some(value) = old.get(field) {
            document[field] = value.clone();
        }
    }
    for field in ["labels", "hiddenLabels"] {
        let mut labels: Vec<Value> = old.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
        for label in document
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        if !labels.is_empty() {
            document[field] = Value::Array(labels);
        }
    }
    write(&sandbox, &id, document, Some(event)).await?;
    let url = event_url(&headers, &id);
    let body = json!({ "id": id, "eventId": id, "url": url, "commandId": uuid::Uuid::new_v4().to_string() });
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// `PUT /events/{eventId}/price-info` → 204.
pub async fn update_price_info(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, Response> {
    let (id, mut document, body) = event_and_body(&sandbox, &raw, &headers, &body)?;
    let mut errors = Vec::new();
    check_prices(&body, "", &mut |p: &str, e: &str| errors.push(SchemaError::new(p, e)));
    refused(errors)?;
    document["priceInfo"] = body;
    write(&sandbox, &id, document, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /events/{eventId}/calendar` → 204: the calendar replaced; a status it leaves out is
/// Available again.
pub async fn update_calendar(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, Response> {
    let (id, mut document, body) = event_and_body(&sandbox, &raw, &headers, &body)?;
    let mut errors = Vec::new();
    let windows = {
        let mut err = |p: &str, e: &str| errors.push(SchemaError::new(p, e));
        if !body.is_object() {
            err("/", "must be an object");
            None
        } else {
            let windows = check_calendar(&body, &mut err);
            if let Some(status) = body.get("status") {
                check_status(status, "/status", &mut err);
            }
            windows
        }
    };
    refused(errors)?;
    if let Some(fields) = document.as_object_mut() {
        for field in CALENDAR {
            fields.remove(field);
        }
    }
    for field in CALENDAR {
        if let Some(value) = body.get(field) {
            document[field] = value.clone();
        }
    }
    document["status"] = body
        .get("status")
        .cloned()
        .unwrap_or_else(|| json!({ "type": "Available" }));
    let event = sandbox.world().event(&id).cloned().map(|event| EventData {
        checkin_windows: windows,
        ..event
    });
    write(&sandbox, &id, document, event).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /events/{eventId}/status` → 204: the event's status, and its occurrences' too.
pub async fn update_status(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, Response> {
    let (id, mut document, body) = event_and_body(&sandbox, &raw, &headers, &body)?;
    let mut errors = Vec::new();
    check_status(&body, "", &mut |p: &str, e: &str| errors.push(SchemaError::new(p, e)));
    refused(errors)?;
    if let Some(subs) = document.get_mut("subEvent").and_then(Value::as_array_mut) {
        for sub in subs {
            sub["status"] = body.clone();
        }
    }
    document["status"] = body;
    write(&sandbox, &id, document, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /events/{eventId}` → 204: a soft delete, the event's `workflowStatus` becomes DELETED.
pub async fn delete_event(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, Response> {
    let id = path_id(&raw).ok_or_else(|| not_found(&raw))?;
    let mut document = document(&mut sandbox.world(), &id, &headers).ok_or_else(|| not_found(&id))?;
    document["workflowStatus"] = json!("DELETED");
    write(&sandbox, &id, document, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// UiTdatabank's Search API `GET /events`, as far as a shop finds its events by label:
/// `labels[]` (every one must match, hidden labels included), the default `workflowStatus`
/// filter (READY_FOR_VALIDATION, APPROVED) unless `disableDefaultFilters=true` or
/// `workflowStatus` says otherwise (`*`: any), `start` and `limit`; oldest first. Answers a
/// `PagedCollection` of `{@id, @type}`.
pub async fn search_events(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = query else {
        return Problem::invalid_parameter("query", "is not a query string").into_response();
    };
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let labels: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "labels[]" || k == "labels")
        .map(|(_, v)| v.as_str())
        .collect();
    let number = |name: &str, default: usize, max: usize| match param(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| Problem::invalid_parameter(name, &format!("must be a whole number up to {max}"))),
    };
    let (start, limit) = match (number("start", 0, 10_000), number("limit", 30, 2_000)) {
        (Ok(start), Ok(limit)) => (start, limit),
        (Err(p), _) | (_, Err(p)) => return p.into_response(),
    };
    let statuses: Option<Vec<&str>> = match param("workflowStatus") {
        Some("*") => None,
        Some(list) => Some(list.split(',').map(str::trim).collect()),
        None if param("disableDefaultFilters") == Some("true") => None,
        None => Some(vec!["READY_FOR_VALIDATION", "APPROVED"]),
    };
    let mut documents: Vec<Value> = {
        let mut world = sandbox.world();
        let mut documents: Vec<Value> = world.event_documents().values().cloned().collect();
        for event in builtin_events() {
            if !world.event_documents().contains_key(&event.id)
                && let Some(d) = document(&mut world, &event.id, &headers)
            {
                documents.push(d);
            }
        }
        documents
    };
    documents.retain(|d| {
        let status = d.get("workflowStatus").and_then(Value::as_str).unwrap_or("DRAFT");
        let has = |label: &str| {
            ["labels", "hiddenLabels"].iter().any(|field| {
                d.get(*field).and_then(Value::as_array).is_some_and(|ls| {
                    ls.iter()
                        .any(|l| l.as_str().is_some_and(|l| l.eq_ignore_ascii_case(label)))
                })
            })
        };
        statuses.as_ref().is_none_or(|s| s.contains(&status)) && labels.iter().all(|l| has(l))
    });
    documents.sort_by(|a, b| {
        let created = |d: &Value| d.get("created").and_then(Value::as_str).unwrap_or("").to_owned();
        created(a).cmp(&created(b))
    });
    let total = documents.len();
    let member: Vec<Value> = documents
        .iter()
        .skip(start)
        .take(limit)
        .map(|d| json!({ "@id": d["@id"], "@type": "Event" }))
        .collect();
    Json(json!({
        "@context": "http://www.w3.org/ns/hydra/context.jsonld",
        "@type": "PagedCollection",
        "itemsPerPage": limit,
        "totalItems": total,
        "member": member,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_json_ld_urls() {
        let id = "85b04295-479c-40f5-b3dd-469dfb4387b3";
        assert!(id_in_url(&format!("https://io-test.uitdatabank.be/places/{id}"), "place").is_some());
        assert!(id_in_url(&format!("http://localhost:9090/place/{id}/"), "place").is_some());
        assert!(id_in_url(&format!("https://x/organizers/{id}"), "place").is_none());
        assert!(id_in_url("https://x/places/not-a-uuid", "place").is_none());
        assert!(id_in_url(&format!("ftp://x/places/{id}"), "place").is_none());
    }
}
