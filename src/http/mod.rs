//! The HTTP API: routes, middleware and the OpenAPI document generated from the handlers.
//!
//! Public endpoints (`/v1/passes`, `/v1/tariffs`, `/v1/quotes`, `/v1/events/{id}/uitpas`) are called
//! by the shop's browser checkout: CORS for `PUBLIC_ORIGINS`, rate-limited per client address. Shop
//! endpoints (`/v1/registrations`, `/v1/ticket-sales`, `/v1/activities`) need a shop key. Operations
//! endpoints (`/healthz`, `/readyz`, `/metrics`) and the docs (`/openapi.json`, `/docs`) sit beside
//! them.

pub mod activities;
pub mod admin;
pub mod attention;
pub mod auth;
pub mod checkout_token_store;
pub mod checkout_tokens;
pub mod console;
pub mod cors;
pub mod demo;
pub mod door;
pub mod element;
pub mod extract;
pub mod holds;
pub mod ops;
pub mod passes;
pub mod permission;
pub mod problem;
pub mod quotes;
pub mod ratelimit;
pub mod registrations;
pub mod serve;
pub mod tariffs;
pub mod ticket_sales;
pub mod views;
pub mod webhooks;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cache::{ParticipationCache, PassCache, StaticTariffCache};
use crate::config::Config;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use problem::{ApiError, Problem};

/// Largest request body accepted (a cart or an order is far smaller).
pub const BODY_LIMIT: usize = 64 * 1024;
/// A request taking longer than this is answered 503 (upstream calls time out well before).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler gets: one shared [`Services`], so that extracting it is one reference count.
pub type AppState = Arc<Services>;

/// Everything a handler needs.
pub struct Services {
    pub config: Arc<Config>,
    pub db: sqlx::PgPool,
    pub customers: crate::customers::Customers,
    pub public: checkout_token_store::PublicAccess,
    pub passes: PassCache,
    pub static_tariffs: StaticTariffCache,
    pub participation: ParticipationCache,
    pub organizers: crate::cache::OrganizerCache,
    pub metrics: Arc<Metrics>,
    pub limiter: ratelimit::Limits,
    pub door_limit: Option<ratelimit::DoorLimit>,
    pub ledger: Ledger,
    pub activities: crate::activities::Activities,
    pub webhooks: crate::webhooks::Webhooks,
    /// Every kind of job, and the outbox they run in.
    pub jobs: crate::outbox::Runner,
    pub console_logins: crate::console::throttle::LoginThrottle,
    pub console_event_names: crate::console::names::EventNames,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "uitpas-checkout",
        description = "UiTPAS discounts for a webshop's checkout: pass status, tariffs and cart quotes for the browser; exactly-once registration and cancellation of the sales for the shop backend.\n\nErrors are RFC 9457 `application/problem+json`. A refusal by UiTPAS keeps publiq's `type` (`https://api.publiq.be/probs/...`) and its `endUserMessage`, which should be shown to the buyer; problems of the service itself have a `urn:uitpas-checkout:problem:<slug>` type.",
        license(name = "MIT")
    ),
    modifiers(&ShopKey),
    tags(
        (name = "public", description = "Called by the shop's browser checkout with a publishable key or a checkout token (`Authorization: Bearer pk_…` or `ct_…`; optional in development), CORS for the customer's origins, rate-limited per client address (an IPv6 /64 counts as one) and per key or token"),
        (name = "shop", description = "Called by the shop backend with a secret key (`Authorization: Bearer <key>`), never from a browser"),
        (name = "admin", description = "Customers, their keys, credentials and permissions, for the operator of the deployment (`Authorization: Bearer <one of ADMIN_KEYS>`)"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

/// The shop key, as an OpenAPI security scheme.
struct ShopKey;

impl utoipa::Modify for ShopKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "shopKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A customer's secret key (sk_…), or one of SHOP_API_KEYS"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "publicKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A customer's publishable key (pk_…, or one of PUBLISHABLE_KEYS), or a checkout token (ct_…)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "adminKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("One of ADMIN_KEYS"))
                    .build(),
            ),
        );
    }
}

/// The documented routes, without state: the OpenAPI document is generated from them.
fn api_routes() -> (
    OpenApiRouter<AppState>,
    OpenApiRouter<AppState>,
    OpenApiRouter<AppState>,
    OpenApiRouter<AppState>,
) {
    let public = OpenApiRouter::new()
        .routes(routes!(passes::get_pass))
        .routes(routes!(tariffs::get_tariffs))
        .routes(routes!(tariffs::get_static_tariffs))
        .routes(routes!(quotes::post_quote))
        .routes(routes!(activities::participation::get_event_uitpas));
    let shop = OpenApiRouter::new()
        .routes(routes!(
            registrations::register::post_registration,
            registrations::list_registrations
        ))
        .routes(routes!(registrations::get_registration))
        .routes(routes!(ticket_sales::search_ticket_sales))
        .routes(routes!(
            ticket_sales::get_ticket_sale,
            ticket_sales::cancel_ticket_sale,
            ticket_sales::patch_ticket_sale
        ))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::retry_delivery))
        .routes(routes!(holds::confirm_hold))
        .routes(routes!(holds::release_hold))
        .routes(routes!(attention::retry_registration))
        .routes(routes!(attention::abandon_registration))
        .routes(routes!(attention::retry_cancellation))
        .routes(routes!(attention::abandon_cancellation))
        .routes(routes!(
            activities::put::put_activity,
            activities::get_activity,
            activities::delete_activity
        ))
        .routes(routes!(activities::status::put_activity_status))
        .routes(routes!(checkout_tokens::post_checkout_token))
        .routes(routes!(door::get_door_pass))
        .routes(routes!(door::get_checkin_status));
    let admin = admin::routes();
    let operations = OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics));
    (public, shop, admin, operations)
}

/// The OpenAPI document of the service (committed as `openapi/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (public, shop, admin, operations) = api_routes();
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public)
        .merge(shop)
        .merge(admin)
        .merge(operations)
        .into_openapi()
}

/// The whole application router.
///
/// The stack every request goes through ([`global_layer`]) is applied to each part of the router
/// together with that part's own layer, in one `layer` call: axum wraps each route once per
/// `layer` call and clones every wrapping of the matched route for each request, so one wrapping
/// instead of two is one clone fewer on every request.
pub fn router(state: AppState) -> Router {
    let (public, shop, admin, operations) = api_routes();
    let public = public.layer(global_layer(&state).layer(auth::PublicLayer::new(state.clone())));
    let shop =
        shop.layer(global_layer(&state).layer(middleware::from_fn_with_state(state.clone(), auth::require_shop_key)));
    let admin = admin
        .layer(global_layer(&state).layer(middleware::from_fn_with_state(state.clone(), admin::require_admin_key)));
    let operations = operations.layer(global_layer(&state));
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public)
        .merge(shop)
        .merge(admin)
        .merge(operations)
        .split_for_parts();
    // The demo shop only where the service runs on the sandbox (production refuses the sandbox).
    let router = if state.config.uses_sandbox() {
        router.merge(demo::routes().layer(global_layer(&state)))
    } else {
        router
    };
    let router = router.merge(element::routes().layer(global_layer(&state)));
    // The operators' console (its login refuses everyone when OPERATOR_KEYS is not set).
    let router = router.merge(console::routes().layer(global_layer(&state)));
    let docs: Router<AppState> = utoipa_swagger_ui::SwaggerUi::new("/docs")
        .url("/openapi.json", api)
        .into();
    let not_found = global_layer(&state).service(axum::handler::HandlerWithoutStateExt::into_service(|| async {
        ApiError::NotFound
    }));
    let docs = docs.layer(middleware::map_response(docs_headers));
    router
        .merge(docs.layer(global_layer(&state)))
        .fallback_service(not_found)
        .with_state(state)
}

/// The console's security headers on the Swagger UI (`/docs`), with the policy it works under: its
/// own scripts only (no inline or eval), inline styles (React sets `style` attributes), images of
/// its own and `data:` icons, and requests to this service only ("Try it out", `/openapi.json`).
async fn docs_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             font-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// What a handler's panic is answered with.
type Panicked = fn(Box<dyn std::any::Any + Send>) -> Response;

/// The layers of [`global_layer`].
type GlobalLayer = tower::ServiceBuilder<
    tower::layer::util::Stack<
        axum::extract::DefaultBodyLimit,
        tower::layer::util::Stack<
            ObserveLayer,
            tower::layer::util::Stack<CatchPanicLayer<Panicked>, tower::layer::util::Identity>,
        >,
    >,
>;

/// The stack around every request, outermost first: a panic answered as a problem, the request id,
/// span, log line, metrics and timeout ([`Observe`]), the body limit.
fn global_layer(state: &AppState) -> GlobalLayer {
    fn panicked(_: Box<dyn std::any::Any + Send>) -> Response {
        ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
    }
    tower::ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(panicked as Panicked))
        .layer(ObserveLayer {
            metrics: state.metrics.clone(),
        })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
}

/// A new request id: a random UUID (v4) from a fast non-cryptographic generator. It identifies a
/// request in the logs and guards nothing, so it needs no system entropy (a syscall per request).
fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
    let mut buffer = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buffer)).expect("a UUID is a valid header value")
}

/// The client's address: from the trusted proxy's header when one is configured (the last address
/// in it, the one that proxy saw), else the connection's.
pub(crate) fn client_ip(config: &Config, request: &Request) -> Option<std::net::IpAddr> {
    let from_header = config.client_ip_header.as_deref().and_then(|name| {
        let value = request.headers().get(name)?.to_str().ok()?;
        value.rsplit(',').next()?.trim().parse().ok()
    });
    from_header.or_else(|| {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
    })
}

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
struct ObserveLayer {
    metrics: Arc<Metrics>,
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
struct Observe<S> {
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
struct Observed<F> {
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
