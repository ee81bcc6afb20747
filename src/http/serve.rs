//! Serving the router over HTTP/1.1, with the two limits `axum::serve` does not offer: a deadline
//! for a request's headers (`HEADER_READ_TIMEOUT`) and a cap on open connections
//! (`MAX_CONNECTIONS`).
//!
//! Without the deadline a client that sends its headers a byte at a time (slowloris), or connects
//! and sends nothing, holds its connection forever; without the cap enough of them exhaust the
//! process's file descriptors, and then PostgreSQL and UiTPAS cannot be reached either: the whole
//! service is down. At the cap the loop stops accepting, so new connections wait in the kernel's
//! listen backlog until one closes; the descriptors left over stay available to the pools.
//!
//! HTTP/1 only, as before (nothing here enables HTTP/2): hyper-util's auto-detecting builder first
//! waits for the HTTP/2 preface with no deadline at all, which a silent client would hold open.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

/// The limits of [`serve`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// How long to stop accepting after an error that is not about one connection (out of file
/// descriptors or memory): retrying at once would spin, and the error is logged each time.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in flight finish, closes idle connections and returns once every connection is closed.
/// Handlers see the peer's address as `ConnectInfo<SocketAddr>`. `open` counts the connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    open: Gauge,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = http1::Builder::new();
    http.header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first, then a connection: at the cap nothing is accepted.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "cannot accept connections; retrying in a second");
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let connection = graceful.watch(
            http.clone()
                .timer(ConnectionTimer::default())
                .serve_connection(TokioIo::new(stream), service),
        );
        let open = open.clone();
        open.inc();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // A client that left, or sent its headers too slowly: nothing to act on.
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            open.dec();
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// hyper's timer for one connection, for the deadline of each request's headers.
///
/// hyper asks for a new timer each time it starts reading a request's headers and drops it once
/// they are read; with tokio's timer each of them is put into the runtime's timer wheel (a lock)
/// while the connection waits, and taken out again (a lock) when the request comes. Here they all
/// use one tokio timer per connection, moved to the later deadline (a store, while it has not
/// fired): the same deadlines, without touching the timer wheel on every request.
#[derive(Clone, Default)]
struct ConnectionTimer {
    shared: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline {
            shared: self.shared.clone(),
            deadline: deadline.into(),
        })
    }
}

/// One deadline of a [`ConnectionTimer`].
struct Deadline {
    shared: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
    deadline: tokio::time::Instant,
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let sleep = shared.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for Deadline {}

/// Errors about one connection (it was reset before it was accepted), not about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
