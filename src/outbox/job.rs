//! What a kind of job is to the outbox: a name, a queue, and what one attempt does. Each owner
//! (the ledger, the activities, the webhooks) defines its kinds beside its own code and registers
//! them with the [`Runner`](super::Runner); the outbox knows none of them by name.

use std::time::Duration;

use futures::future::BoxFuture;

use super::Lease;

/// The name a kind of job is stored under (`jobs.kind`). Never renamed once jobs of it may be
/// stored: a stored job whose kind no one registered stays until someone does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind(&'static str);

impl Kind {
    /// A kind's name: lower-case letters and underscores.
    pub const fn new(name: &'static str) -> Self {
        let bytes = name.as_bytes();
        assert!(!bytes.is_empty(), "a job kind has a name");
        let mut i = 0;
        while i < bytes.len() {
            assert!(
                bytes[i].is_ascii_lowercase() || bytes[i] == b'_',
                "a job kind's name is lower-case letters and underscores"
            );
            i += 1;
        }
        Kind(name)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Where a kind's attempts run. Each queue has slots of its own in every replica, so that a slow
/// webhook receiver never holds up the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    /// Calls to UiTPAS and UiTdatabank.
    Upstream,
    /// Deliveries to the shops.
    Deliveries,
}

/// How jobs of a kind are shown as work not settled (the console's work list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Work until it is settled.
    Work,
    /// A timer: waits for its due time (the end of a hold), work only once due, or parked.
    Timer,
    /// Shown elsewhere (webhook deliveries have the webhooks page): here only when parked.
    ParkedOnly,
}

/// What one attempt came to. The runner records it, fenced by the attempt's claim: a claim taken
/// over meanwhile records nothing.
#[derive(Debug)]
pub enum Outcome {
    /// The attempt recorded its end itself, in one transaction with what else records it:
    /// settled ([`Lease::finish`]) or parked ([`Lease::park_in`]); or its claim was taken over
    /// before it could, and another attempt goes on.
    Recorded,
    /// Nothing (more) to do: the subject is gone, or ended by other means. The job is deleted.
    Gone,
    /// Nothing settled: due again after the backoff. `send_ended`: the attempt's send was
    /// answered without committing (see [`Lease::begin_send`]).
    Retry { error: String, send_ended: bool },
    /// Like `Retry`, due again after `delay`.
    RetryAfter {
        delay: Duration,
        error: String,
        send_ended: bool,
    },
    /// It cannot succeed without a person: parked with its problem (problem+json) until someone
    /// retries or abandons it.
    Park { problem: serde_json::Value, error: String },
}

impl Outcome {
    pub fn retry(error: impl Into<String>, send_ended: bool) -> Self {
        Outcome::Retry {
            error: error.into(),
            send_ended,
        }
    }

    pub fn retry_after(delay: Duration, error: impl Into<String>, send_ended: bool) -> Self {
        Outcome::RetryAfter {
            delay,
            error: error.into(),
            send_ended,
        }
    }
}

/// A kind of job: what one attempt on a claimed job of this kind does.
///
/// The attempt holds the claim (`lease`) for its length: it renews it before each upstream call
/// ([`Lease::renew`], or [`Lease::begin_send`] through a [`super::Sending`] gate for a call that
/// may commit), and says what it came to; the runner records that. An error (or a panic, or the
/// attempt deadline) records nothing: the claim runs out and the job is claimed again.
pub trait Job: Send + Sync + 'static {
    fn kind(&self) -> Kind;

    fn queue(&self) -> Queue {
        Queue::Upstream
    }

    fn listing(&self) -> Listing {
        Listing::Work
    }

    fn attempt<'a>(&'a self, lease: &'a mut Lease) -> BoxFuture<'a, anyhow::Result<Outcome>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_its_name() {
        const K: Kind = Kind::new("end_hold");
        assert_eq!(K.as_str(), "end_hold");
        assert_eq!(K.to_string(), "end_hold");
    }

    #[test]
    #[should_panic(expected = "lower-case")]
    fn a_kind_name_is_lower_case() {
        let _ = Kind::new("Register");
    }
}
