//! Bringing an activity's event to its latest version: the calls that take it there from the
//! version UiTdatabank has, each idempotent (a PUT overwrites, a DELETE of a deleted event is done).

use anyhow::Context;
use serde_json::Value;
use uuid::Uuid;

use super::{Step, UPDATE_EVENT, is_not_found, verdict};
use crate::activities::{Activities, event_body, event_label, lock_version};
use crate::outbox::{Lease, Outcome};
use crate::problem::Problem;
use crate::uitpas::UpstreamError;
use crate::uitpas::verdict::Verdict;
use crate::webhooks::EventType;

/// The event fields of a calendar (`PUT /events/{id}/calendar`).
const CALENDAR: [&str; 4] = ["calendarType", "subEvent", "startDate", "endDate"];

/// One call that brings an event to a version.
#[derive(Debug, PartialEq)]
enum Call {
    /// `PUT /events/{id}`: everything.
    Full(Value),
    PriceInfo(Value),
    Calendar(Value),
    Status(Value),
    Delete,
}

/// What a version asks of the event.
struct Version {
    event_body: Option<Value>,
    event_status: Option<Value>,
    deleted: bool,
}

/// `value` without `keys`.
fn without(value: &Value, keys: &[&str]) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        for key in keys {
            object.remove(*key);
        }
    }
    value
}

/// The calls that bring an event from the version it has to `target`: a full update when more
/// than its price or calendar changed, else only the parts that changed (an update of the whole
/// event also removes what the organizer added in UiTdatabank since).
fn plan(have: &Version, target: &Version, label: &str) -> Vec<Call> {
    if target.deleted {
        return if have.deleted { Vec::new() } else { vec![Call::Delete] };
    }
    let mut calls = Vec::new();
    if let (Some(had), Some(wanted)) = (&have.event_body, &target.event_body)
        && had != wanted
    {
        let body = event_body(wanted, target.event_status.as_ref(), label);
        let parts: Vec<&str> = CALENDAR.iter().copied().chain(["priceInfo"]).collect();
        if without(had, &parts) != without(wanted, &parts) {
            return vec![Call::Full(body)];
        }
        if had.get("priceInfo") != wanted.get("priceInfo") {
            calls.push(Call::PriceInfo(body["priceInfo"].clone()));
        }
        if CALENDAR.iter().any(|k| had.get(k) != wanted.get(k)) {
            let calendar: serde_json::Map<String, Value> = CALENDAR
                .iter()
                .chain(&["status"])
                .filter_map(|k| Some(((*k).to_owned(), body.get(*k)?.clone())))
                .collect();
            calls.push(Call::Calendar(Value::Object(calendar)));
        }
    }
    if have.event_status != target.event_status
        && let Some(status) = &target.event_status
    {
        calls.push(Call::Status(status.clone()));
    }
    calls
}

impl Activities {
    #[tracing::instrument(skip_all, fields(activity = %lease.job.subject_id, attempt = lease.job.attempts), err)]
    pub(super) async fn update_once(&self, lease: &mut Lease, notify: bool) -> anyhow::Result<Step> {
        let id = lease.job.subject_id;
        let mut tx = crate::db::begin(&self.db).await?;
        let row = sqlx::query!(
            "SELECT version, event_version, event_id FROM activities WHERE id = $1 FOR UPDATE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let work = row.and_then(|r| match (r.event_id, r.event_version) {
            (Some(event_id), Some(have)) if have < r.version => Some((event_id, have, r.version)),
            _ => None,
        });
        let Some((event_id, have, target)) = work else {
            // UiTdatabank has the latest version (or there is no event to update).
            lease.finish(&mut tx).await?;
            tx.commit().await?;
            return Ok(Step::Done(Outcome::Recorded));
        };
        tx.commit().await?;
        let calls = plan(
            &self.version(id, have).await?,
            &self.version(id, target).await?,
            &event_label(id),
        );
        let client = self.client_of(id).await?;
        for call in &calls {
            lease.renew().await?;
            let done = match call {
                Call::Full(body) => client.update_event(&event_id, body).await,
                Call::PriceInfo(prices) => client.update_event_price_info(&event_id, prices).await,
                Call::Calendar(calendar) => client.update_event_calendar(&event_id, calendar).await,
                Call::Status(status) => client.update_event_status(&event_id, status).await,
                Call::Delete => match client.delete_event(&event_id).await {
                    // Gone already: deleted by an earlier attempt, or in UiTdatabank.
                    Err(e) if is_not_found(&e) => Ok(()),
                    done => done,
                },
            };
            if let Err(e) = done {
                return self.update_failed(lease, &e, target, notify).await;
            }
        }
        tracing::info!(
            version = target,
            calls = calls.len(),
            "UiTdatabank has the activity's version"
        );
        self.settle_updated(lease, target, notify).await
    }

    async fn update_failed(&self, lease: &Lease, e: &UpstreamError, target: i32, notify: bool) -> anyhow::Result<Step> {
        match verdict(e) {
            _ if is_not_found(e) => {
                // The event is gone from UiTdatabank (or never was ours to change): a person looks.
                Ok(Step::Done(Outcome::Park {
                    problem: serde_json::to_value(Problem::from_upstream(e))?,
                    error: e.to_string(),
                }))
            }
            Verdict::Refused => self.settle_refused(lease, e, target, false, notify).await,
            Verdict::NeedsPerson => Ok(Step::Done(Outcome::Park {
                problem: serde_json::to_value(Problem::from_upstream(e))?,
                error: e.to_string(),
            })),
            // Every update is idempotent (a PUT overwrites, a DELETE of a deleted event is done):
            // it is sent again after the backoff, whatever became of this one.
            Verdict::Ended | Verdict::Unknown => {
                tracing::warn!(error = %e, "event update not confirmed: it will be replayed");
                Ok(Step::Done(Outcome::retry(e.to_string(), true)))
            }
        }
    }

    /// Records that UiTdatabank has version `at`, if `lease` still holds the job; a version that
    /// came meanwhile is sent next.
    async fn settle_updated(&self, lease: &Lease, at: i32, notify: bool) -> anyhow::Result<Step> {
        let id = lease.job.subject_id;
        let mut tx = crate::db::begin(&self.db).await?;
        let version = lock_version(&mut tx, id).await?;
        if !lease.finish(&mut tx).await? {
            return Ok(Step::Done(Outcome::Recorded));
        }
        sqlx::query!(
            r#"UPDATE activities SET event_version = $2,
                      problem = CASE WHEN problem_version <= $2 THEN NULL ELSE problem END,
                      problem_version = CASE WHEN problem_version <= $2 THEN NULL ELSE problem_version END,
                      updated_at = now()
               WHERE id = $1"#,
            id,
            at
        )
        .execute(&mut *tx)
        .await?;
        let next = if version > at {
            self.outbox.enqueue_leased(&mut tx, UPDATE_EVENT, id).await?
        } else {
            if notify {
                self.webhooks.enqueue(&mut tx, EventType::ActivityUpdated, id).await?;
            }
            None
        };
        tx.commit().await?;
        Ok(Step::after(next))
    }

    async fn version(&self, id: Uuid, version: i32) -> anyhow::Result<Version> {
        let row = sqlx::query!(
            "SELECT event_body, event_status, deleted FROM activity_versions WHERE activity_id = $1 AND version = $2",
            id,
            version
        )
        .fetch_one(&self.db)
        .await
        .with_context(|| format!("version {version} of an activity"))?;
        Ok(Version {
            event_body: row.event_body,
            event_status: row.event_status,
            deleted: row.deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn details(price: f64, name: &str) -> Value {
        json!({
            "mainLanguage": "nl",
            "name": {"nl": name},
            "calendarType": "single",
            "subEvent": [{"startDate": "2027-07-01T10:00:00+00:00", "endDate": "2027-07-01T12:00:00+00:00"}],
            "priceInfo": [{"category": "base", "price": price, "priceCurrency": "EUR"}],
        })
    }

    fn version(body: Value, status: Option<Value>) -> Version {
        Version {
            event_body: Some(body),
            event_status: status,
            deleted: false,
        }
    }

    #[test]
    fn a_price_change_is_sent_as_price_info_and_a_name_change_as_a_whole() {
        let have = version(details(10.0, "Kamp"), None);
        let calls = plan(&have, &version(details(12.0, "Kamp"), None), "l");
        assert_eq!(
            calls,
            vec![Call::PriceInfo(
                json!([{"category": "base", "price": 12.0, "priceCurrency": "EUR"}])
            )]
        );
        let calls = plan(&have, &version(details(12.0, "Zomerkamp"), None), "l");
        assert!(matches!(&calls[..], [Call::Full(body)] if body["hiddenLabels"] == json!(["l"])));
        assert!(plan(&have, &version(details(10.0, "Kamp"), None), "l").is_empty());
    }

    #[test]
    fn a_calendar_change_keeps_the_status_and_a_status_change_is_its_own_call() {
        let cancelled = json!({"type": "Unavailable", "reason": {"nl": "Ziek"}});
        let have = version(details(10.0, "Kamp"), Some(cancelled.clone()));
        let mut later = details(10.0, "Kamp");
        later["subEvent"][0]["startDate"] = json!("2027-07-02T10:00:00+00:00");
        let calls = plan(&have, &version(later, Some(cancelled.clone())), "l");
        let [Call::Calendar(calendar)] = &calls[..] else {
            panic!("{calls:?}")
        };
        assert_eq!(calendar["status"], cancelled);
        assert_eq!(calendar["subEvent"][0]["status"], cancelled);
        assert!(calendar.get("priceInfo").is_none());

        let calls = plan(&have, &version(details(10.0, "Kamp"), None), "l");
        assert!(calls.is_empty(), "a status is never unset: {calls:?}");
        let available = json!({"type": "Available"});
        let calls = plan(&have, &version(details(10.0, "Kamp"), Some(available.clone())), "l");
        assert_eq!(calls, vec![Call::Status(available)]);
    }

    #[test]
    fn a_deletion_is_one_delete() {
        let have = version(details(10.0, "Kamp"), None);
        let mut gone = version(details(10.0, "Kamp"), None);
        gone.deleted = true;
        assert_eq!(plan(&have, &gone, "l"), vec![Call::Delete]);
    }
}
