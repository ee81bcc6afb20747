//! The delivery job: one event to the shop's receiver, signed, retried with capped backoff from
//! slots of its own, and given up (parked, for a person or the shop to retry) after
//! [`Deliver::max_attempts`] attempts.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use uuid::Uuid;

use super::{Event, NOT_REACHED, Resource, SIGNATURE_HEADER, TARGET_REFUSED, Webhooks, signature, target};
use crate::outbox::{Job, Kind, Lease, Listing, Outcome, Queue};
use crate::problem::Problem;

pub const KIND: Kind = Kind::new("deliver_webhook");

/// What an event's `data` is when it is delivered: the resource as it stands then (as the API
/// shows it, so the HTTP layer renders it). `Null` when the resource is gone.
pub type Render = Arc<dyn Fn(Resource, Uuid) -> BoxFuture<'static, anyhow::Result<serde_json::Value>> + Send + Sync>;

/// The job of delivering webhook events.
pub struct Deliver {
    pub webhooks: Webhooks,
    pub render: Render,
    /// After this many attempts that did not deliver, the event is given up: its job is parked,
    /// and the delivery list says `failed`.
    pub max_attempts: i32,
}

impl Job for Deliver {
    fn kind(&self) -> Kind {
        KIND
    }

    fn queue(&self) -> Queue {
        Queue::Deliveries
    }

    /// The webhooks page lists deliveries; a parked one is work for a person.
    fn listing(&self) -> Listing {
        Listing::ParkedOnly
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        Box::pin(async move {
            let Some(event) = self.webhooks.event(lease.job.subject_id).await? else {
                return Ok(Outcome::Gone);
            };
            let data = (self.render)(event.kind.resource(), event.subject_id).await?;
            self.webhooks.deliver(lease, event, data, self.max_attempts).await
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: DateTime<Utc>,
    data: serde_json::Value,
}

/// Why a delivery was not answered.
enum Failure {
    /// Its target is not allowed (the cause, for the logs).
    Refused(String),
    NotReached(reqwest::Error),
}

impl Webhooks {
    /// One attempt to deliver `event` with its `data`, under `lease`.
    #[tracing::instrument(skip_all, fields(event = %event.id, kind = event.kind.as_str(), attempt = lease.job.attempts), err)]
    async fn deliver(
        &self,
        lease: &mut Lease,
        event: Event,
        data: serde_json::Value,
        max_attempts: i32,
    ) -> anyhow::Result<Outcome> {
        let target = self.customers.get(event.customer_id).and_then(|c| c.webhook.clone());
        let Some(target) = target else {
            // The customer's webhooks were turned off since: the event stays stored, undelivered.
            return Ok(Outcome::Gone);
        };
        let body = serde_json::to_vec(&Body {
            id: event.id,
            kind: event.kind.as_str(),
            created_at: event.created_at,
            data,
        })?;
        let timestamp = Utc::now().timestamp();
        lease.renew().await?;
        // Checked again at each delivery: a literal address never reaches the resolver, and a
        // URL stored before the rules were what they are now is held to them as well.
        let answer = match target::check_form(&target.url, self.allow_private) {
            Err(e) => Err(Failure::Refused(e.to_string())),
            Ok(url) => self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("webhook-id", event.id.to_string())
                .header(SIGNATURE_HEADER, signature(&target.secrets, timestamp, &body))
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    if target::refused_by_resolver(&e) {
                        Failure::Refused(target::NotPublicAddress.to_string())
                    } else {
                        Failure::NotReached(e)
                    }
                }),
        };
        // The customer reads the status code only; the cause is for the operator's logs.
        let (status, error) = match answer {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(r) => (
                Some(r.status().as_u16()),
                Some(format!("the receiver answered {}", r.status().as_u16())),
            ),
            Err(Failure::Refused(cause)) => {
                tracing::warn!(customer = %event.customer_id, cause, "webhook target refused");
                (None, Some(TARGET_REFUSED.to_owned()))
            }
            Err(Failure::NotReached(e)) => {
                tracing::warn!(customer = %event.customer_id, cause = %e.without_url(), "webhook receiver not reached");
                (None, Some(NOT_REACHED.to_owned()))
            }
        };
        // Counted as the delivery list shows them: the deliveries tried (an attempt cut off
        // before it could record one does not count).
        let give_up = error.is_some() && event.attempts.saturating_add(1) >= max_attempts;
        let mut tx = crate::db::begin(&self.db).await?;
        // Once delivered, always delivered: a failure may be recorded after another attempt
        // delivered the event (a process paused past its lease wakes up to its timeout).
        sqlx::query!(
            r#"UPDATE webhook_events SET attempts = attempts + 1, last_status = $2, last_error = $3,
                                        last_attempt_at = now(),
                                        delivered_at = coalesce(delivered_at, CASE WHEN $3::text IS NULL THEN now() END),
                                        given_up_at = CASE WHEN $4 AND delivered_at IS NULL THEN now() END
               WHERE id = $1"#,
            event.id,
            status.map(i32::from),
            error.as_deref(),
            give_up
        )
        .execute(&mut *tx)
        .await?;
        match error {
            None => {
                // Delivered: recorded so even if another attempt took the job over meanwhile.
                lease.finish(&mut tx).await?;
                tx.commit().await?;
            }
            Some(error) if give_up => {
                let problem = Problem::ours(
                    "webhook-not-delivered",
                    StatusCode::BAD_GATEWAY,
                    "The shop's webhook receiver did not take the event",
                )
                .with_detail(format!(
                    "{max_attempts} attempts did not deliver it (last: {error}); it is no longer retried until \
                     someone retries it (the console, or POST /v1/webhook-deliveries/{}/retry).",
                    event.id
                ));
                if lease.park_in(&mut tx, &serde_json::to_value(problem)?, &error).await? {
                    tx.commit().await?;
                    tracing::warn!(event = %event.id, attempts = max_attempts, "webhook given up");
                }
            }
            Some(error) => {
                tx.commit().await?;
                tracing::warn!(error, "webhook not delivered; it will be retried");
                return Ok(Outcome::retry(error, true));
            }
        }
        Ok(Outcome::Recorded)
    }
}
