//! The activities' kinds of job, registered with the outbox's [`Runner`]: one job per activity
//! brings its UiTdatabank event to the latest version, `create_event` while it has none and
//! `update_event` after. A job that settles while a newer version came meanwhile hands over to
//! the next job at once, in the same attempt (up to [`MAX_ROUNDS`] versions).

mod create;
mod update;

use std::time::Duration;

use futures::future::BoxFuture;

use super::Activities;
use crate::outbox::{Job, Kind, Lease, Outcome, Runner};
use crate::uitpas::UpstreamError;
use crate::uitpas::verdict::Verdict;

/// Create an activity's UiTdatabank event.
pub const CREATE_EVENT: Kind = Kind::new("create_event");
/// Bring an activity's UiTdatabank event to the activity's latest version (idempotent calls).
pub const UPDATE_EVENT: Kind = Kind::new("update_event");

/// How many versions one attempt brings an event through before it gives the job back.
const MAX_ROUNDS: usize = 4;

/// Adds the activities' kinds of job to `runner`.
pub fn add(runner: Runner, activities: &Activities) -> Runner {
    runner
        .register(Event(CREATE_EVENT, activities.clone()))
        .register(Event(UPDATE_EVENT, activities.clone()))
}

struct Event(Kind, Activities);

impl Job for Event {
    fn kind(&self) -> Kind {
        self.0
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        // The worker's attempt: the shop hears the outcome through a webhook.
        Box::pin(self.1.drive(lease, true))
    }
}

/// What one step of a job came to.
pub(super) enum Step {
    /// The job's attempt ends so.
    Done(Outcome),
    /// The job settled (recorded) and a newer version came meanwhile: its job, leased to this
    /// attempt, goes on.
    Then(Lease),
}

impl Step {
    /// After a job settled: the next job when one was stored, leased to this attempt.
    fn after(next: Option<Lease>) -> Step {
        next.map_or(Step::Done(Outcome::Recorded), Step::Then)
    }
}

impl Activities {
    /// One attempt on the activity's job under `lease` (the job of `lease.job.kind`), going on
    /// with the jobs of versions that came meanwhile; `notify`: the shop hears the outcome
    /// through a webhook. What it came to for `lease`; the later jobs' outcomes are recorded here.
    pub(super) async fn drive(&self, lease: &mut Lease, notify: bool) -> anyhow::Result<Outcome> {
        let mut next = match self.step(lease, notify).await? {
            Step::Done(outcome) => return Ok(outcome),
            Step::Then(next) => next,
        };
        for _ in 1..MAX_ROUNDS {
            match self.step(&mut next, notify).await {
                Ok(Step::Then(after)) => {
                    self.outbox.record(next, Ok(Outcome::Recorded)).await?;
                    next = after;
                }
                Ok(Step::Done(outcome)) => {
                    self.outbox.record(next, Ok(outcome)).await?;
                    return Ok(Outcome::Recorded);
                }
                Err(e) => {
                    self.outbox.record(next, Err(e)).await?;
                    return Ok(Outcome::Recorded);
                }
            }
        }
        // The activity keeps changing: the worker takes it from here.
        let again = Outcome::retry_after(Duration::ZERO, "the activity changed again meanwhile", true);
        self.outbox.record(next, Ok(again)).await?;
        Ok(Outcome::Recorded)
    }

    async fn step(&self, lease: &mut Lease, notify: bool) -> anyhow::Result<Step> {
        if lease.job.kind == CREATE_EVENT {
            self.create_once(lease, notify).await
        } else {
            self.update_once(lease, notify).await
        }
    }
}

/// What UiTdatabank's answer means for a version sent: only a 400 refuses the body.
fn verdict(e: &UpstreamError) -> Verdict {
    Verdict::of(e, |status, _| status == 400)
}

pub(super) fn is_not_found(e: &UpstreamError) -> bool {
    let e = match e {
        UpstreamError::UiTdatabank(inner) => inner.as_ref(),
        e => e,
    };
    matches!(
        e,
        UpstreamError::Problem { status: 404, .. } | UpstreamError::Status(404)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_may_have_committed_and_refusals_did_not() {
        let wrap = |e| UpstreamError::UiTdatabank(Box::new(e));
        assert_eq!(verdict(&wrap(UpstreamError::Timeout)), Verdict::Unknown);
        assert_eq!(verdict(&wrap(UpstreamError::Status(504))), Verdict::Unknown);
        assert_eq!(verdict(&wrap(UpstreamError::Status(503))), Verdict::Ended);
        assert_eq!(verdict(&wrap(UpstreamError::Status(403))), Verdict::NeedsPerson);
        assert_eq!(verdict(&wrap(UpstreamError::Status(400))), Verdict::Refused);
        assert!(is_not_found(&wrap(UpstreamError::Status(404))));
    }
}
