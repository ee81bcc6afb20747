//! What every request goes through: its request id, span, log line and metrics, the timeout, and
//! the framework's bare error answers turned into problems ([`ObserveLayer`]).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use crate::metrics::Metrics;

/// A request taking longer than this is answered 503 (upstream calls time out well before).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A new request id: a random UUID (v4) from a fast non-cryptographic generator. It identifies a
/// request in the logs and guards nothing, so it needs no system entropy (a syscall per request).
fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
    let mut buffer = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buffer)).expect("a UUID is a valid header value")
}

/// The client's address: from the trusted proxy's header when one is configured (the last address
/// One span per request (request id, method, matched route; never the raw path or query, which
/// may hold a UiTPAS number), a log line per answer, and the request metrics. The framework's bare
/// error answers are turned into problems here too ([`problem_for_bare_errors`]).
///
/// It also keeps or makes the request id (`x-request-id`: the client's, or a new one) and returns
/// it on the answer, and answers 503 to a request still running after [`REQUEST_TIMEOUT`].
///
/// One tower layer rather than tower-http's request-id and timeout layers, `middleware::from_fn`
/// or a boxed future: it is on every request, and axum clones a route's whole stack for each one.
/// The timer of the timeout is only made when the answer is not ready at once: a cached answer
/// never touches the runtime's timer wheel.
#[derive(Clone)]
pub(super) struct ObserveLayer {
    pub(super) metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub(super) struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |m| route_label(m.as_str()));
        let request_id = match request.headers().get(&REQUEST_ID) {
            Some(given) => given.clone(),
            None => {
                let made = new_request_id();
                request.headers_mut().insert(REQUEST_ID.clone(), made.clone());
                made
            }
        };
        let span = tracing::info_span!(
            "request",
            method,
            route,
            request_id = request_id.to_str().unwrap_or("-")
        );
        let answer = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Observed {
            answer,
            span,
            started,
            method,
            route,
            request_id: Some(request_id),
            timeout: None,
            metrics: self.metrics.clone(),
        }
    }
}

/// The future of [`Observe`].
pub(super) struct Observed<F> {
    answer: F,
    span: tracing::Span,
    started: Instant,
    method: &'static str,
    route: &'static str,
    request_id: Option<HeaderValue>,
    /// Made at the first poll that finds the answer not ready.
    timeout: Option<Pin<Box<tokio::time::Sleep>>>,
    metrics: Arc<Metrics>,
}

impl<F> std::future::Future for Observed<F>
where
    F: std::future::Future<Output = Result<Response, std::convert::Infallible>> + Unpin,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let this = &mut *self;
        let polled = {
            let _entered = this.span.enter();
            Pin::new(&mut this.answer).poll(cx)
        };
        let response = match polled {
            std::task::Poll::Ready(Ok(response)) => response,
            std::task::Poll::Pending => {
                let started = this.started;
                let timeout = this
                    .timeout
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until((started + REQUEST_TIMEOUT).into())));
                std::task::ready!(timeout.as_mut().poll(cx));
                // The answer is dropped: what it was doing stops here.
                let mut late = Response::new(axum::body::Body::empty());
                *late.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
                late
            }
        };
        let mut response = problem_for_bare_errors(response);
        if !response.headers().contains_key(&REQUEST_ID)
            && let Some(id) = this.request_id.take()
        {
            response.headers_mut().insert(REQUEST_ID.clone(), id);
        }
        let elapsed = this.started.elapsed();
        let status = response.status().as_u16();
        // Whole microseconds: a float's digits (5011.2095659999995) read like a UiTPAS number to
        // a log check, and say nothing more.
        let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        this.span.in_scope(|| {
            if response.status().is_server_error() {
                tracing::warn!(status, latency_us, "answered");
            } else {
                tracing::debug!(status, latency_us, "answered");
            }
        });
        let (method, route) = (this.method, this.route);
        this.metrics.request(method, route, status, elapsed);
        std::task::Poll::Ready(Ok(response))
    }
}

/// The method as a metric label: the standard ones, anything else as "other" (bounded).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A matched route template as a `'static` label, without allocating per request: the templates
/// are the router's own, a fixed set, each leaked once.
fn route_label(route: &str) -> &'static str {
    static ROUTES: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());
    let find = |routes: &[&'static str]| routes.iter().copied().find(|r| *r == route);
    if let Some(found) = find(&ROUTES.read().unwrap_or_else(|e| e.into_inner())) {
        return found;
    }
    let mut routes = ROUTES.write().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = find(&routes) {
        return found;
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.push(leaked);
    leaked
}

/// Turns the framework's bare error answers (405, 408, 413 …, empty or plain text) into problems,
/// so that every error a client sees has the same shape.
fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return response;
    }
    let title = status.canonical_reason().unwrap_or("Error");
    let slug = title.to_lowercase().replace(' ', "-");
    let mut problem = Problem::ours(&slug, status, title).into_response();
    // Keep the headers that matter to the client (Allow on 405, Retry-After).
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            problem.headers_mut().insert(name, v.clone());
        }
    }
    problem
}
