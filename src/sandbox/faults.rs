//! Fault injection (`/_sandbox/faults`): an operation answers an error, is delayed, loses its
//! answer after doing the work, or hangs up, for some requests or all of them.

use std::sync::Mutex;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Sandbox;
use super::control::Op;
use super::problem::{Problem, SchemaError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultMode {
    /// Answer with an error status without doing anything.
    Error,
    /// Wait, then do the operation and answer normally.
    Delay,
    /// Do the operation, then close the connection without answering: the lost answer.
    DropAfterCommit,
    /// Do the operation, then answer its success status with a body the client cannot read (as
    /// an answer with a field of a kind added later would be to an older client).
    UnreadableAfterCommit,
}

/// A fault as set with `PUT /_sandbox/faults`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    pub operation: String,
    pub mode: FaultMode,
    /// For `error`: the status to answer (500–599, 429 or 401–404); 503 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For `delay`: how long to wait; 1000 ms by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// How many requests the fault applies to; absent means until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// The chance that a request is hit, between 0 and 1; 1 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Only requests whose query string has this parameter (e.g. `passholderId`: the passholder
    /// form of `get-ticket-sales`, whose operationId is the event form's); any by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

/// The faults in force, at most one per operation and mode.
#[derive(Debug, Default)]
pub struct Faults {
    list: Mutex<Vec<(Op, Fault)>>,
}

impl Faults {
    fn set(&self, op: Op, fault: Fault) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|(o, f)| !(*o == op && f.mode == fault.mode));
        list.push((op, fault));
    }

    fn clear(&self) {
        self.list.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn snapshot(&self) -> Vec<Fault> {
        let list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.iter().map(|(_, f)| f.clone()).collect()
    }

    /// Decides whether this request of `op` (with the parameters `names` in its query) is hit by a
    /// fault, and uses one of its `times`.
    pub(super) fn roll(&self, op: Op, names: &[&str]) -> Option<Fault> {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let hit = list.iter_mut().position(|(o, f)| {
            *o == op
                && f.parameter.as_deref().is_none_or(|p| names.contains(&p))
                && f.probability.is_none_or(|p| fastrand::f64() < p)
        })?;
        let fault = list[hit].1.clone();
        if let Some(times) = &mut list[hit].1.times {
            *times = times.saturating_sub(1);
            if *times == 0 {
                list.remove(hit);
            }
        }
        Some(fault)
    }
}

/// `GET /_sandbox/faults`
pub async fn list_faults(State(sandbox): State<Sandbox>) -> Json<Value> {
    Json(json!({ "faults": sandbox.faults.snapshot() }))
}

/// `PUT /_sandbox/faults`
pub async fn put_fault(State(sandbox): State<Sandbox>, body: axum::body::Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return Problem::body_invalid_syntax(format!("Not a fault: {e}")).into_response(),
    };
    let Some(op) = Op::from_id(&fault.operation) else {
        let known: Vec<&str> = Op::ALL.iter().map(|o| o.id()).collect();
        return Problem::body_invalid_data(vec![SchemaError::new(
            "/operation",
            format!("unknown operationId; one of {}", known.join(", ")),
        )])
        .into_response();
    };
    if let Some(status) = fault.status
        && !(400..=599).contains(&status)
    {
        return Problem::body_invalid_data(vec![SchemaError::new("/status", "an error status, 400–599")])
            .into_response();
    }
    if let Some(p) = fault.probability
        && !(0.0..=1.0).contains(&p)
    {
        return Problem::body_invalid_data(vec![SchemaError::new("/probability", "between 0 and 1")]).into_response();
    }
    if fault
        .parameter
        .as_deref()
        .is_some_and(|p| p.is_empty() || p.contains(['&', '=']))
    {
        return Problem::body_invalid_data(vec![SchemaError::new("/parameter", "a query parameter's name")])
            .into_response();
    }
    if fault.times == Some(0) {
        return Problem::body_invalid_data(vec![SchemaError::new("/times", "at least 1")]).into_response();
    }
    sandbox.faults.set(op, fault.clone());
    (StatusCode::OK, Json(fault)).into_response()
}

/// `DELETE /_sandbox/faults`
pub async fn clear_faults(State(sandbox): State<Sandbox>) -> StatusCode {
    sandbox.faults.clear();
    StatusCode::NO_CONTENT
}
