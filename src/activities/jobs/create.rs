//! Creating an activity's event (`POST /events`, not idempotent): an event whose answer was lost
//! is found by its hidden label before anything is sent again.

use serde_json::Value;

use super::{CREATE_EVENT, Step, UPDATE_EVENT, is_not_found, verdict};
use crate::activities::{Activities, ActivityStatus, event_body, event_label, lock_version};
use crate::outbox::{Lease, Outcome, Sending};
use crate::problem::Problem;
use crate::uitpas::verdict::Verdict;
use crate::uitpas::{Gated, UitpasClient, UpstreamError};
use crate::webhooks::EventType;

/// What a look for an activity's event found.
enum Look {
    Found(String),
    Absent,
    Inconclusive(&'static str),
}

impl Activities {
    #[tracing::instrument(skip_all, fields(activity = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    pub(super) async fn create_once(&self, lease: &mut Lease, notify: bool) -> anyhow::Result<Step> {
        let id = lease.job.subject_id;
        let mut tx = crate::db::begin(&self.db).await?;
        let row = sqlx::query!(
            r#"SELECT status AS "status: ActivityStatus", version, event_body, event_status, sent_version, event_id
               FROM activities WHERE id = $1 FOR UPDATE"#,
            id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let row = row
            .filter(|r| r.event_id.is_none() && matches!(r.status, ActivityStatus::Pending | ActivityStatus::Deleted));
        let Some(row) = row else {
            // Created, refused, or deleted before anything was sent: nothing to create.
            lease.finish(&mut tx).await?;
            tx.commit().await?;
            return Ok(Step::Done(Outcome::Recorded));
        };
        tx.commit().await?;
        let client = self.client_of(id).await?;
        let label = event_label(id);
        if row.sent_version.is_some() || lease.open_send_age.is_some() {
            // An earlier send may have made the event: look for it before sending again. Measured
            // before looking: a look that starts after the window can trust an absence (the window,
            // SETTLE_WINDOW, also covers the few seconds the Search API takes to index an event).
            let window_left = lease.settle_window_left();
            match self.look(&client, lease, &label).await? {
                Look::Found(event_id) => {
                    tracing::info!(%event_id, "UiTdatabank has this activity's event already: adopted");
                    let url = client.event_url(&event_id);
                    let at = row.sent_version.unwrap_or(row.version);
                    return self.settle_created(lease, &event_id, &url, at, notify).await;
                }
                Look::Inconclusive(why) => {
                    tracing::info!(
                        why,
                        "could not tell whether UiTdatabank has the event; looking again later"
                    );
                    return Ok(Step::Done(Outcome::retry(why, false)));
                }
                Look::Absent if !window_left.is_zero() => {
                    let delay = lease.look_again_in();
                    tracing::info!(
                        window_left_ms = window_left.as_millis() as u64,
                        "UiTdatabank has no event of this activity yet, but the earlier send may still make one: not sending again"
                    );
                    return Ok(Step::Done(Outcome::retry_after(
                        delay,
                        "waiting for the earlier send to settle",
                        false,
                    )));
                }
                Look::Absent => {}
            }
        }
        if row.status == ActivityStatus::Deleted {
            // Deleted before UiTdatabank made its event: nothing to make, nothing to delete.
            return Ok(Step::Done(Outcome::Gone));
        }
        let Some(details) = row.event_body else {
            return Ok(Step::Done(Outcome::Gone));
        };
        // Marked (under a renewed lease) before the send is recorded: a later attempt looks first.
        lease.renew().await?;
        sqlx::query!("UPDATE activities SET sent_version = $2 WHERE id = $1", id, row.version)
            .execute(&self.db)
            .await?;
        let body = event_body(&details, row.event_status.as_ref(), &label);
        // The send is recorded (and the lease checked) with the token in hand, right before the
        // request is written: see `uitpas::gate`.
        let answer = match client.create_event(&body, &mut Sending(lease)).await {
            Gated::Called(answer) => answer,
            // A lost lease too: nothing was sent.
            Gated::Refused(e) => return Err(e),
        };
        match answer {
            Ok(created) => {
                tracing::info!(event_id = %created.id, "UiTdatabank event created");
                let url = created.url.unwrap_or_else(|| client.event_url(&created.id));
                self.settle_created(lease, &created.id, &url, row.version, notify).await
            }
            Err(e) => match verdict(&e) {
                Verdict::Refused => self.settle_refused(lease, &e, row.version, true, notify).await,
                Verdict::NeedsPerson => {
                    lease.send_answered();
                    Ok(Step::Done(Outcome::Park {
                        problem: serde_json::to_value(Problem::from_upstream(&e))?,
                        error: e.to_string(),
                    }))
                }
                Verdict::Ended => {
                    tracing::warn!(error = %e, "event creation not confirmed: it will be replayed");
                    Ok(Step::Done(Outcome::retry(e.to_string(), true)))
                }
                Verdict::Unknown => {
                    tracing::warn!(error = %e, "event creation outcome unknown: it will be looked up");
                    Ok(Step::Done(Outcome::retry(e.to_string(), false)))
                }
            },
        }
    }

    /// Records the event made for version `at` (or found), if `lease` still holds the job; a
    /// version that came meanwhile is sent next.
    async fn settle_created(
        &self,
        lease: &Lease,
        event_id: &str,
        event_url: &str,
        at: i32,
        notify: bool,
    ) -> anyhow::Result<Step> {
        let id = lease.job.subject_id;
        let mut tx = crate::db::begin(&self.db).await?;
        let version = lock_version(&mut tx, id).await?;
        if !lease.finish(&mut tx).await? {
            tracing::info!("lost the lease before recording the event; the next attempt will find it");
            return Ok(Step::Done(Outcome::Recorded));
        }
        sqlx::query!(
            r#"UPDATE activities SET status = CASE WHEN status = 'deleted' THEN 'deleted' ELSE 'created' END,
                      event_id = $2, event_url = $3, event_version = $4, problem = NULL, problem_version = NULL,
                      updated_at = now()
               WHERE id = $1"#,
            id,
            event_id,
            event_url,
            at
        )
        .execute(&mut *tx)
        .await?;
        if notify {
            self.webhooks.enqueue(&mut tx, EventType::ActivityCreated, id).await?;
        }
        let next = if version > at {
            self.outbox.enqueue_leased(&mut tx, UPDATE_EVENT, id).await?
        } else {
            None
        };
        tx.commit().await?;
        Ok(Step::after(next))
    }

    /// Records UiTdatabank's refusal of version `at`. When the shop changed the activity meanwhile,
    /// the newer version is sent next instead of the activity staying refused.
    pub(super) async fn settle_refused(
        &self,
        lease: &Lease,
        e: &UpstreamError,
        at: i32,
        creating: bool,
        notify: bool,
    ) -> anyhow::Result<Step> {
        let id = lease.job.subject_id;
        let problem = serde_json::to_value(Problem::from_upstream(e))?;
        tracing::info!(error = %e, version = at, "UiTdatabank refused the activity");
        let mut tx = crate::db::begin(&self.db).await?;
        let version = lock_version(&mut tx, id).await?;
        if !lease.finish(&mut tx).await? {
            return Ok(Step::Done(Outcome::Recorded));
        }
        let newer = version > at;
        // A refused creation made nothing: the next send needs no look.
        sqlx::query!(
            r#"UPDATE activities SET problem = $2, problem_version = $3,
                      status = CASE WHEN $4 AND NOT $5 AND status = 'pending' THEN 'rejected' ELSE status END,
                      sent_version = CASE WHEN $4 THEN NULL ELSE sent_version END,
                      updated_at = now()
               WHERE id = $1"#,
            id,
            problem,
            at,
            creating,
            newer
        )
        .execute(&mut *tx)
        .await?;
        let kind = if creating { CREATE_EVENT } else { UPDATE_EVENT };
        let next = if newer {
            self.outbox.enqueue_leased(&mut tx, kind, id).await?
        } else {
            if notify {
                self.webhooks.enqueue(&mut tx, EventType::ActivityRejected, id).await?;
            }
            None
        };
        tx.commit().await?;
        Ok(Step::after(next))
    }

    /// Looks for the event that carries this activity's label: found by UiTdatabank's Search API,
    /// confirmed by reading the event itself.
    async fn look(&self, client: &UitpasClient, lease: &mut Lease, label: &str) -> anyhow::Result<Look> {
        lease.renew().await?;
        let candidates = match client.events_with_label(label).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "UiTdatabank's Search API could not be read");
                return Ok(Look::Inconclusive("UiTdatabank's Search API could not be read"));
            }
        };
        let mut found: Option<String> = None;
        for event_id in candidates {
            lease.renew().await?;
            match client.event(&event_id).await {
                Ok(event) if carries(&event, label) => match &found {
                    None => found = Some(event_id),
                    Some(first) => {
                        tracing::warn!(first = %first, other = %event_id, "two events carry one activity's label")
                    }
                },
                Ok(_) => {}
                // Deleted meanwhile, or the index is behind: not this activity's event.
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "UiTdatabank could not be read");
                    return Ok(Look::Inconclusive("UiTdatabank could not be read"));
                }
            }
        }
        Ok(found.map_or(Look::Absent, Look::Found))
    }
}

/// Whether an event (JSON-LD) carries a label, hidden or not (labels compare case-insensitively).
fn carries(event: &Value, label: &str) -> bool {
    ["hiddenLabels", "labels"].iter().any(|field| {
        event.get(*field).and_then(Value::as_array).is_some_and(|labels| {
            labels
                .iter()
                .any(|l| l.as_str().is_some_and(|l| l.eq_ignore_ascii_case(label)))
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn an_event_carries_its_activity_label_in_any_case() {
        let id = Uuid::parse_str("0b3c7c1e-2f2a-4b7e-9d4f-5a6b7c8d9e0f").unwrap();
        let event = json!({"hiddenLabels": ["UITPAS-CHECKOUT-0b3c7c1e2f2a4b7e9d4f5a6b7c8d9e0f"]});
        assert!(carries(&event, &event_label(id)));
        assert!(!carries(&json!({"labels": ["uitpas-checkout"]}), &event_label(id)));
    }
}
