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
pub mod checkout_tokens;
pub mod console;
pub mod demo;
pub mod extract;
pub mod holds;
pub mod ops;
pub mod passes;
pub mod problem;
pub mod quotes;
pub mod ratelimit;
pub mod serve;
pub mod shop;
pub mod tariffs;
pub mod views;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cache::{ParticipationCache, PassCache, StaticTariffCache};
use crate::config::Config;
use crate::ledger::Ledger;
use crate::metrics::{Metrics, RequestLabels, RouteLabels};
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
    pub public: auth::PublicAccess,
    pub passes: PassCache,
    pub static_tariffs: StaticTariffCache,
    pub participation: ParticipationCache,
    pub organizers: crate::cache::OrganizerCache,
    pub metrics: Arc<Metrics>,
    pub limiter: Option<ratelimit::Limits>,
    pub ledger: Ledger,
    pub activities: crate::activities::Activities,
    pub webhooks: crate::webhooks::Webhooks,
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
        .routes(routes!(activities::get_event_uitpas));
    let shop = OpenApiRouter::new()
        .routes(routes!(shop::post_registration))
        .routes(routes!(shop::get_registration))
        .routes(routes!(shop::search_ticket_sales))
        .routes(routes!(
            shop::get_ticket_sale,
            shop::cancel_ticket_sale,
            shop::patch_ticket_sale
        ))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(holds::confirm_hold))
        .routes(routes!(holds::release_hold))
        .routes(routes!(attention::retry_registration))
        .routes(routes!(attention::abandon_registration))
        .routes(routes!(attention::retry_cancellation))
        .routes(routes!(attention::abandon_cancellation))
        .routes(routes!(
            activities::put_activity,
            activities::get_activity,
            activities::delete_activity
        ))
        .routes(routes!(activities::put_activity_status))
        .routes(routes!(checkout_tokens::post_checkout_token));
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
pub fn router(state: AppState) -> Router {
    let (public, shop, admin, operations) = api_routes();
    let public = public.layer(auth::PublicLayer::new(state.clone()));
    let shop = shop.layer(middleware::from_fn_with_state(state.clone(), auth::require_shop_key));
    let admin = admin.layer(middleware::from_fn_with_state(state.clone(), admin::require_admin_key));
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public)
        .merge(shop)
        .merge(admin)
        .merge(operations)
        .split_for_parts();
    // The demo shop only where the service runs on the sandbox (production refuses the sandbox).
    let router = if state.config.uses_sandbox() {
        router.merge(demo::routes())
    } else {
        router
    };
    // The operators' console (its login refuses everyone when OPERATOR_KEYS is not set).
    let router = router.merge(console::routes());
    // One stack around the whole router, outermost first.
    let middleware = tower::ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), FastRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(ObserveLayer {
            metrics: state.metrics.clone(),
        })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ));
    router
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", api))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
        .layer(middleware)
}

/// Request ids: random UUIDs (v4) from a fast non-cryptographic generator. They identify a request
/// in the logs and guard nothing, so they need no system entropy (a syscall per request).
#[derive(Clone, Copy)]
struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
        let mut buffer = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut buffer))
            .ok()
            .map(RequestId::new)
    }
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
/// A tower layer rather than `middleware::from_fn`: it is on every request, and this way it costs
/// one boxed future, not a clone of the inner service as well.
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
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |m| route_label(m.as_str()));
        let span = tracing::info_span!(
            "request",
            method,
            route,
            request_id = request
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-")
        );
        let answer = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let Ok(response) = answer.instrument(span.clone()).await;
            let response = problem_for_bare_errors(response);
            let elapsed = started.elapsed();
            let status = response.status().as_u16();
            // Whole microseconds: a float's digits (5011.2095659999995) read like a UiTPAS number to
            // a log check, and say nothing more.
            let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            span.in_scope(|| {
                if response.status().is_server_error() {
                    tracing::warn!(status, latency_us, "answered");
                } else {
                    tracing::debug!(status, latency_us, "answered");
                }
            });
            metrics
                .http_requests
                .get_or_create(&RequestLabels { method, route, status })
                .inc();
            metrics
                .http_latency
                .get_or_create(&RouteLabels { method, route })
                .observe(elapsed.as_secs_f64());
            Ok(response)
        })
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
