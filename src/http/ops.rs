//! Operations endpoints: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::problem::Problem;
use crate::ledger::HoldState;
use crate::metrics::HoldLabels;
use crate::metrics::JobLabels;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Readiness only: the customers whose stored secrets CUSTOMER_SECRETS_KEY cannot open
    /// (started with START_WITH_SEALED_CUSTOMERS=true); their keys are refused until they get new
    /// credentials. Absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sealed_customers: Vec<uuid::Uuid>,
}

/// Alive: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "get-healthz",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        sealed_customers: Vec::new(),
    })
}

/// Ready: the database answers and every migration this build knows is applied. Customers whose
/// secrets do not open are listed (`sealedCustomers`) when START_WITH_SEALED_CUSTOMERS let the
/// service start without them.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "get-readyz",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Not ready (database unreachable or not migrated)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match crate::db::ready(&state.db).await {
        // Ready for the other customers (the operator chose to start without the sealed ones);
        // named here so that a probe's reader sees them, and in the logs and the admin API.
        Ok(()) => axum::Json(Health {
            status: "ready",
            sealed_customers: state.customers.sealed().iter().map(|c| c.id).collect(),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "not ready");
            Problem::ours("not-ready", StatusCode::SERVICE_UNAVAILABLE, "Not ready")
                .with_detail("The database is unreachable or not migrated yet.")
                .into_response()
        }
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "get-metrics",
    responses((status = 200, description = "Metrics", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    // The outbox, read at each scrape; a scrape while the database is down keeps the last values.
    match crate::outbox::backlog(&state.db, &state.jobs.kinds()).await {
        Ok(backlog) => {
            for (kind, count, parked, oldest) in backlog {
                let labels = JobLabels { kind: kind.as_str() };
                state.metrics.jobs.get_or_create(&labels).set(count);
                state.metrics.jobs_needing_attention.get_or_create(&labels).set(parked);
                state.metrics.jobs_oldest_age.get_or_create(&labels).set(oldest);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the job backlog for the metrics"),
    }
    match crate::ledger::store::hold_counts(&state.db).await {
        Ok(counts) => {
            for hold in [
                HoldState::Held,
                HoldState::Confirmed,
                HoldState::Released,
                HoldState::Expired,
            ] {
                let count = counts.iter().find(|(s, _)| s == hold.as_str()).map_or(0, |(_, n)| *n);
                let labels = HoldLabels { state: hold.as_str() };
                state.metrics.holds.get_or_create(&labels).set(count);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot count the holds for the metrics"),
    }
    match crate::reconciliation::discrepancies(&state.db).await {
        Ok(counts) => {
            for kind in crate::reconciliation::DISCREPANCIES {
                let count = counts.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n);
                let labels = crate::metrics::KindLabels { kind };
                state
                    .metrics
                    .reconciliation_discrepancies
                    .get_or_create(&labels)
                    .set(count);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot count the reconciliation's discrepancies for the metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
