//! The UiTPAS API 4.0 check-ins (`POST /checkins`, `GET /checkins`, `DELETE /checkins/{checkinId}`,
//! `GET /checkin-status`) and an event's card systems, as HTTP handlers over the sandbox's world.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde_json::{Value, json};

use super::Sandbox;
use super::clients::{Caller, Permission};
use super::problem::{Problem, SchemaError};
use super::state::Checkin;
use super::store::Change;
use super::uitpas::{Params, json_body, optional, page, params, query_pairs, required, string_field, values};

/// `POST /checkins`
pub async fn checkin(State(sandbox): State<Sandbox>, Extension(caller): Extension<Caller>, body: Bytes) -> Response {
    let run = || -> Result<(Checkin, i64), Problem> {
        let body = json_body(&body)?;
        if !body.is_object() {
            return Err(Problem::body_invalid_data(vec![SchemaError::new(
                "",
                "must be an object",
            )]));
        }
        let mut world = sandbox.world();
        if let Some(event_id) = body.get("eventId").and_then(Value::as_str) {
            world.require_for_event(&caller.0, Permission::CHECKINS_WRITE, event_id)?;
        }
        let mut errors = Vec::new();
        let number = string_field(&body, "uitpasNumber", "", &mut errors);
        let event_id = string_field(&body, "eventId", "", &mut errors);
        let (Some(number), Some(event_id)) = (number, event_id) else {
            return Err(Problem::body_invalid_data(errors));
        };
        world.checkin(&number, &event_id, Utc::now())
    };
    let (checkin, points) = match run() {
        Ok(done) => done,
        Err(p) => return p.into_response(),
    };
    if let Err(p) = sandbox.keep(Change::Checkin(&checkin)).await {
        return p.into_response();
    }
    let title = sandbox.world().event(&checkin.event_id).map(|e| e.name.clone());
    (
        StatusCode::CREATED,
        Json(checkin_json(&checkin, points, title.as_deref())),
    )
        .into_response()
}

fn checkin_json(checkin: &Checkin, points: i64, event_title: Option<&str>) -> Value {
    let mut v = json!({
        "id": checkin.id,
        "creationDate": checkin.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventId": checkin.event_id,
        "uitpasNumber": checkin.uitpas_number,
        "points": points,
    });
    if let Some(title) = event_title {
        v["eventTitle"] = json!(title);
    }
    v
}

/// `GET /checkin-status?uitpasNumber&eventId`: whether the passholder may check in at the event
/// now and, when not, the message UiTPAS gives (the same rules as `POST /checkins`).
pub async fn checkin_status(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    query: Params,
) -> Response {
    let run = || -> Result<Value, Problem> {
        let q = params(query)?;
        let number = required(&q, "uitpasNumber")?;
        let event_id = required(&q, "eventId")?;
        let world = sandbox.world();
        world.require_for_event(&caller.0, Permission::CHECKINS_WRITE, event_id)?;
        Ok(match world.checkin_status(number, event_id, Utc::now())? {
            None => json!({ "allowed": true }),
            Some(message) => json!({ "allowed": false, "endUserMessage": message }),
        })
    };
    run().map(Json).into_response()
}

/// `DELETE /checkins/{checkinId}`: undoes a check-in (its point is taken back); 404 when unknown
/// or already undone.
pub async fn delete_checkin(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let deleted = {
        let mut world = sandbox.world();
        match world.checkin_by_id(&id).map(|c| c.event_id.clone()) {
            Some(event_id) => world
                .require_for_event(&caller.0, Permission::CHECKINS_WRITE, &event_id)
                .and_then(|()| world.delete_checkin(&id)),
            None => Err(Problem::not_found_url().detail("No check-in with this id.")),
        }
    };
    let checkin = deleted?;
    sandbox.keep(Change::CheckinDeleted(&checkin)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /checkins?passholderId&organizerId…[&eventTitle&start&limit]`: a passholder's check-ins
/// at events of these organizers, newest first; CHECKINS_READ is needed for each organizer.
pub async fn search_checkins(
    State(sandbox): State<Sandbox>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Response {
    let run = || -> Result<Value, Problem> {
        let pairs = query_pairs(raw.as_deref())?;
        let organizers = values(&pairs, "organizerId");
        let q: HashMap<String, String> = pairs.into_iter().collect();
        let passholder_id = required(&q, "passholderId")?;
        if organizers.is_empty() {
            return Err(Problem::invalid_parameter("organizerId", "is required"));
        }
        let world = sandbox.world();
        for organizer in &organizers {
            world.require_for_organizer(&caller.0, Permission::CHECKINS_READ, organizer)?;
        }
        let (start, limit) = page(&q)?;
        let (total, page) = world.checkins_of(passholder_id, &organizers, optional(&q, "eventTitle"), start, limit);
        let member: Vec<Value> = page
            .into_iter()
            .map(|(c, event)| checkin_json(c, 1, event.map(|e| e.name.as_str())))
            .collect();
        Ok(json!({ "totalItems": total, "member": member }))
    };
    run().map(Json).into_response()
}

/// `GET /events/{eventId}/card-systems`: the card systems an event takes part in.
pub async fn event_card_systems(State(sandbox): State<Sandbox>, Path(event_id): Path<String>) -> Response {
    let world = sandbox.world();
    match world.event(&event_id) {
        Some(event) => Json(
            event
                .card_systems
                .iter()
                .map(|cs| json!({ "id": cs.id, "name": cs.name, "enabled": true }))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        None => {
            let mut p = Problem::event_not_found();
            p.status = StatusCode::NOT_FOUND.as_u16();
            p.into_response()
        }
    }
}
