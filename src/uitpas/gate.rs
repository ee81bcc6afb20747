//! What a call that may commit upstream does right before its request is written.
//!
//! A request that is not idempotent (`POST /ticket-sales`, `DELETE /ticket-sales/{id}`, the Entry
//! API's `POST /events`) may commit after its answer was lost, so the outbox must know from when
//! it may commit. The request leaves only after its access token is in hand, and fetching one
//! can take as long as a call; so the client asks a [`SendGate`] to open *after* the token is in
//! hand and right before it writes the request, with no long wait in between. The outbox's gate
//! records the send and checks the lease in one fenced statement
//! ([`crate::outbox::Lease::begin_send`]): a send whose attempt another replica took over is
//! never written. A retry on a fresh token after a 401 opens the gate again.

use std::convert::Infallible;

/// Opened right before a request that may commit is written, with the token in hand.
pub trait SendGate: Send {
    type Error: Send;
    /// `Err`: the request must not be written (e.g. the lease was lost).
    fn open(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// No gate: for calls that cannot commit anything (reads).
pub struct Ungated;

impl SendGate for Ungated {
    type Error = Infallible;
    async fn open(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// What became of a gated call: the gate refused (nothing written after it refused), or the
/// call's own outcome.
#[derive(Debug)]
pub enum Gated<T, E> {
    Refused(E),
    Called(Result<T, super::UpstreamError>),
}
