//! Serving the router over HTTP/1.1, with the limits `axum::serve` does not offer: a deadline for
//! a request's headers (`HEADER_READ_TIMEOUT`), a deadline for its body (`BODY_READ_TIMEOUT`),
//! and a cap on open connections (`MAX_CONNECTIONS`) that sheds the connections waiting on their
//! clients rather than the ones that are being answered.
//!
//! Without the header deadline a client that sends its headers a byte at a time (slowloris), or
//! connects and sends nothing, holds its connection forever; without the body deadline a client
//! that trickles its body holds it until the request times out (30 s), and it needs no key to do
//! so: the body is read before the handler looks at anything but the headers. Without the cap
//! enough of them exhaust the process's file descriptors, and then PostgreSQL and UiTPAS cannot
//! be reached either: the whole service is down.
//!
//! A body of `n` bytes (its `Content-Length`) must arrive within
//! `BODY_READ_TIMEOUT × max(n, 8 KiB) / 64 KiB` of its request's headers (64 KiB is the largest
//! body, [`super::BODY_LIMIT`]; a chunked body, of no stated length, gets the whole timeout): at
//! the default of 10 s that is 1.25 s for the small bodies (a login, a quote) and a rate of 6.5
//! KB/s at least for the largest. A late body is answered 408 (a problem) and its connection
//! closed.
//!
//! The deadlines alone do not keep the service answering: 2 000 clients trickling bodies hold the
//! 448 connections of the cap for seconds each, and a health check waits behind them in the
//! listen backlog. So at the cap a new connection is still accepted, and the open connection that
//! has waited longest on its client — for a request's headers (since it was accepted, or since it
//! was last answered: an idle keep-alive connection) or for the rest of a body (since the request's
//! headers came) — is closed to make room, as nginx closes its idle keep-alive connections when
//! it runs out of them. A client that sends its request at once is never the one that has waited
//! longest; an attacker's connections always are. Only when every connection is being answered
//! (a handler is working on its request) does the new one wait, until one of them is answered.
//! The place of a shed connection passes to the new one at once, before the shed one's task has
//! run to close it; at most an eighth of the cap may be closing so, which bounds the file
//! descriptors beyond the cap.
//!
//! HTTP/1 only, as before (nothing here enables HTTP/2): hyper-util's auto-detecting builder first
//! waits for the HTTP/2 preface with no deadline at all, which a silent client would hold open.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::metrics::counter::Counter;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::Service;

use super::problem::Problem;
use crate::metrics::{Metrics, ReasonLabels};

/// The limits of [`serve`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// How long the largest body may take to arrive; smaller ones get a share of it
    /// ([`body_read_timeout`]).
    pub body_read_timeout: Duration,
}

/// How long to stop accepting after an error that is not about one connection (out of file
/// descriptors or memory): retrying at once would spin, and the error is logged each time.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// At the cap with every connection being answered: how often to look again for one that has
/// become idle (the first to close gives its place at once anyway).
const SHED_RECHECK: Duration = Duration::from_millis(50);

/// Bodies up to this size all get the same share of `BODY_READ_TIMEOUT`.
const SMALL_BODY: u64 = 8 * 1024;

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in flight finish, closes idle connections and returns once every connection is closed.
/// Handlers see the peer's address as `ConnectInfo<SocketAddr>`. The open connections are counted
/// in `metrics.http_connections`, the ones closed for being slow in `metrics.http_slow_clients`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let slow = |reason| {
        metrics
            .http_slow_clients
            .get_or_create(&ReasonLabels { reason })
            .clone()
    };
    let (late_bodies, shed) = (slow("body-timeout"), slow("shed-at-cap"));
    let connections = Arc::new(Connections::new(limits.max_connections, late_bodies));
    let mut http = http1::Builder::new();
    http.header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    'accepting: loop {
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
        // A place: a free one; at the cap, the place of the connection that has waited longest on
        // its client (closed now); when every connection is being answered, the first one freed.
        let (id, this) = loop {
            match connections.take_place() {
                Place::Free(id, this) => break (id, this),
                Place::Shed(id, this) => {
                    shed.inc();
                    break (id, this);
                }
                Place::None => tokio::select! {
                    () = connections.freed.notified() => {}
                    () = tokio::time::sleep(SHED_RECHECK) => {}
                    () = &mut shutdown => break 'accepting,
                },
            }
        };
        let service = {
            let (router, this) = (router.clone(), this.clone());
            let (started, body_limit) = (connections.started, limits.body_read_timeout);
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let since = millis_since(started);
                this.waiting_since.store(BUSY, Ordering::Relaxed);
                this.body_late.store(false, Ordering::Relaxed);
                let timeout = body_read_timeout(body_limit, request.body().size_hint());
                let request = request.map(|body| TimedBody {
                    body,
                    connection: this.clone(),
                    since,
                    deadline: tokio::time::Instant::now() + timeout,
                    timer: None,
                });
                Answering {
                    answer: router.clone().call(request),
                    connection: this.clone(),
                    started,
                    timeout,
                }
            })
        };
        let connection = graceful.watch(
            http.clone()
                .timer(ConnectionTimer::default())
                .serve_connection(TokioIo::new(stream), service),
        );
        let open = metrics.http_connections.clone();
        let connections = connections.clone();
        open.inc();
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    // A client that left, or sent its headers too slowly: nothing to act on.
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                },
                () = this.shed.notified() => {
                    tracing::debug!(%peer, "connection closed at the cap: it waited longest on its client");
                }
            }
            connections.closed(id);
            open.dec();
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// `waiting_since` of a connection whose request is being worked on.
const BUSY: u64 = 0;

/// Milliseconds since `started`, plus one (never [`BUSY`]).
fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// How long a body may take to arrive, after its request's headers: its share of `limit` by its
/// stated length (bodies up to [`SMALL_BODY`] alike), the whole of it when the length is not
/// stated or above the body limit (which then refuses it).
fn body_read_timeout(limit: Duration, size: SizeHint) -> Duration {
    let largest = super::BODY_LIMIT as u64;
    let stated = size.exact().unwrap_or(largest).clamp(SMALL_BODY, largest);
    limit.mul_f64(stated as f64 / largest as f64)
}

/// The open connections, for the accept loop to choose one to close at the cap.
struct Connections {
    started: Instant,
    cap: usize,
    late_bodies: Counter,
    places: Mutex<Places>,
    /// Notified when a connection ends.
    freed: Notify,
}

#[derive(Default)]
struct Places {
    last_id: u64,
    /// The connections holding a place (at most the cap).
    open: HashMap<u64, Arc<Connection>>,
    /// Connections shed whose tasks have not closed them yet (their places are taken already).
    closing: usize,
}

/// Of [`Connections::take_place`].
enum Place {
    Free(u64, Arc<Connection>),
    /// The place of a connection closed for this one.
    Shed(u64, Arc<Connection>),
    None,
}

/// Connections shed but not closed yet, at most, as a share of the cap: the bound on the file
/// descriptors beyond it (an eighth). A shed connection's place passes to the new one at once,
/// without waiting for its task to run: in a busy runtime that wait would make accepting as slow
/// as the slowest task, and the listen backlog would overflow.
const MOST_CLOSING_SHARE: usize = 8;

impl Connections {
    fn new(cap: usize, late_bodies: Counter) -> Self {
        Connections {
            started: Instant::now(),
            cap,
            late_bodies,
            places: Mutex::new(Places::default()),
            freed: Notify::new(),
        }
    }

    /// A place for a new connection: free, or shed from the connection that has waited longest
    /// on its client; none when every connection is being answered (or too many are closing).
    /// At the cap it scans the open connections (at most `MAX_CONNECTIONS`).
    fn take_place(&self) -> Place {
        let mut places = self.places.lock().unwrap_or_else(|e| e.into_inner());
        let places = &mut *places;
        let shed = if places.open.len() < self.cap {
            false
        } else {
            let longest = places
                .open
                .iter()
                .filter_map(|(id, c)| {
                    let since = c.waiting_since.load(Ordering::Relaxed);
                    (since != BUSY).then_some((since, *id))
                })
                .min();
            match longest {
                Some((_, id)) if places.closing < (self.cap / MOST_CLOSING_SHARE).max(1) => {
                    if let Some(connection) = places.open.remove(&id) {
                        connection.shed.notify_one();
                    }
                    places.closing += 1;
                    true
                }
                _ => return Place::None,
            }
        };
        let connection = Arc::new(Connection {
            waiting_since: AtomicU64::new(millis_since(self.started)),
            body_late: AtomicBool::new(false),
            shed: Notify::new(),
            late_bodies: self.late_bodies.clone(),
        });
        places.last_id += 1;
        places.open.insert(places.last_id, connection.clone());
        if shed {
            Place::Shed(places.last_id, connection)
        } else {
            Place::Free(places.last_id, connection)
        }
    }

    /// A connection's task has closed it.
    fn closed(&self, id: u64) {
        let mut places = self.places.lock().unwrap_or_else(|e| e.into_inner());
        if places.open.remove(&id).is_none() {
            // It was shed: its place was taken already.
            places.closing -= 1;
        }
        drop(places);
        self.freed.notify_one();
    }
}

/// One open connection, as the accept loop sees it.
struct Connection {
    /// Since when it has waited on its client — for a request's headers (since it was accepted
    /// or last answered) or for the rest of a body (since the request's headers came) — in
    /// [`millis_since`] the server started; [`BUSY`] while its request is being worked on.
    waiting_since: AtomicU64,
    /// Its request's body did not arrive in time.
    body_late: AtomicBool,
    /// Notified to close it, at the cap.
    shed: Notify,
    /// `uitpas_checkout_http_slow_clients_total{reason="body-timeout"}`, a handle per connection
    /// (not one shared by every request).
    late_bodies: Counter,
}

/// A request's body with a deadline: while the handler waits on it, its connection counts as
/// waiting on its client (since the request's headers came); past the deadline it stays pending
/// and marks the connection, and [`Answering`] answers 408 instead of the handler.
struct TimedBody {
    body: Incoming,
    connection: Arc<Connection>,
    since: u64,
    deadline: tokio::time::Instant,
    /// Made the first time the body is not all there: most bodies come with their headers.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Pending => {
                this.connection.waiting_since.store(this.since, Ordering::Relaxed);
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.connection.body_late.store(true, Ordering::Relaxed);
                }
                Poll::Pending
            }
            ready => {
                this.connection.waiting_since.store(BUSY, Ordering::Relaxed);
                ready
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The router's answer to one request; 408 instead when its body is late (the handler, which
/// was waiting on it, is dropped). Once answered, the connection waits on its client again.
struct Answering<F> {
    answer: F,
    connection: Arc<Connection>,
    started: Instant,
    timeout: Duration,
}

impl<F> Future for Answering<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let response = match Pin::new(&mut this.answer).poll(cx) {
            Poll::Ready(Ok(response)) => response,
            Poll::Pending if this.connection.body_late.load(Ordering::Relaxed) => {
                this.connection.late_bodies.inc();
                late_body(this.timeout)
            }
            Poll::Pending => return Poll::Pending,
        };
        this.connection
            .waiting_since
            .store(millis_since(this.started), Ordering::Relaxed);
        Poll::Ready(Ok(response))
    }
}

/// 408, and the connection closed: the rest of the body is not read.
fn late_body(timeout: Duration) -> Response {
    let mut response = Problem::ours("request-timeout", StatusCode::REQUEST_TIMEOUT, "Request Timeout")
        .with_detail(format!(
            "The request body did not arrive within {} ms of its headers.",
            timeout.as_millis()
        ))
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
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
