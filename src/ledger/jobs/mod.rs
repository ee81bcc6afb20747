//! The ledger's kinds of job, registered with the outbox's [`Runner`]: registering a
//! registration's sales, cancelling a sale, ending a hold. Each attempt says what it came to; the
//! outbox records it.

mod cancel;
mod end_hold;
mod look;
mod passholders;
mod register;
mod strays;

use axum::http::StatusCode;
use futures::future::BoxFuture;

pub use look::LOOK_PATIENCE;
pub(super) use register::Sent;
pub use strays::Stray;

use super::Ledger;
use crate::outbox::{Job, Kind, Lease, Listing, Outcome, Runner};
use crate::problem::Problem;
use crate::uitpas::UpstreamError;
use crate::uitpas::verdict::Verdict;

/// Register a registration's sales at UiTPAS (`POST /ticket-sales`, not idempotent).
pub const REGISTER: Kind = Kind::new("register");
/// Cancel a ticket sale at UiTPAS.
pub const CANCEL: Kind = Kind::new("cancel");
/// Expire a hold when its time is over, and cancel the sales of a hold that ended.
pub const END_HOLD: Kind = Kind::new("end_hold");
/// Look for strays of a settled registration once no send of it can still commit.
pub const WATCH: Kind = Kind::new("watch_sales");
/// Cancel a stray at UiTPAS (a sale with one of our markers the ledger does not record).
pub const CANCEL_STRAY: Kind = Kind::new("cancel_stray");

/// Adds the ledger's kinds of job to `runner`.
pub fn add(runner: Runner, ledger: &Ledger) -> Runner {
    runner
        .register(Register(ledger.clone()))
        .register(Cancel(ledger.clone()))
        .register(EndHold(ledger.clone()))
        .register(Watch(ledger.clone()))
        .register(CancelStray(ledger.clone()))
}

struct Register(Ledger);
struct Cancel(Ledger);
struct EndHold(Ledger);
struct Watch(Ledger);
struct CancelStray(Ledger);

impl Job for Register {
    fn kind(&self) -> Kind {
        REGISTER
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        Box::pin(self.0.attempt_register(lease))
    }
}

impl Job for Cancel {
    fn kind(&self) -> Kind {
        CANCEL
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        // The worker's attempt: the shop hears the outcome through a webhook.
        Box::pin(self.0.attempt_cancel(lease, true))
    }
}

impl Job for EndHold {
    fn kind(&self) -> Kind {
        END_HOLD
    }

    /// Due when the hold expires; until then it only waits.
    fn listing(&self) -> Listing {
        Listing::Timer
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        Box::pin(self.0.attempt_end_hold(lease))
    }
}

impl Job for Watch {
    fn kind(&self) -> Kind {
        WATCH
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        Box::pin(self.0.attempt_watch(lease))
    }
}

impl Job for CancelStray {
    fn kind(&self) -> Kind {
        CANCEL_STRAY
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>> {
        Box::pin(self.0.attempt_cancel_stray(lease))
    }
}

/// What UiTPAS's answer means for a sale or a cancellation: every client error with a problem
/// document is a refusal, but 404, 408 and 409 (and 429, always).
fn verdict(e: &UpstreamError) -> Verdict {
    Verdict::of(e, |status, problem| problem && ![404, 408, 409].contains(&status))
}

/// The problem shown for work that needs a person.
fn attention_problem(e: &UpstreamError) -> Problem {
    match e {
        UpstreamError::Problem { .. } => Problem::from_upstream(e),
        UpstreamError::Token(_) => Problem::ours(
            "upstream-credentials-refused",
            StatusCode::BAD_GATEWAY,
            "publiq's token server refused the credentials",
        )
        .with_detail(format!("{e}; check UITPAS_CLIENT_ID and UITPAS_CLIENT_SECRET.")),
        _ => Problem::ours(
            "upstream-credentials-refused",
            StatusCode::BAD_GATEWAY,
            "UiTPAS refused the service's credentials",
        )
        .with_detail(format!(
            "{e}, also with a fresh token; check the client's credentials and permissions."
        )),
    }
}
