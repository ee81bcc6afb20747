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
pub mod cors;
pub mod demo;
pub mod door;
pub mod element;
pub mod extract;
pub mod holds;
mod observe;
pub mod ops;
pub mod passes;
pub mod permission;
pub mod problem;
pub mod quote_rewards;
pub mod quotes;
pub mod ratelimit;
pub mod registrations;
pub mod responses;
pub mod rewards;
pub mod serve;
pub mod tariffs;
pub mod ticket_sales;
pub mod views;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
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
use observe::ObserveLayer;
use problem::ApiError;

/// Largest request body accepted (a cart or an order is far smaller).
pub const BODY_LIMIT: usize = 64 * 1024;

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
    pub door_limit: Option<ratelimit::CustomerLimit>,
    /// `REWARDS_RATE_LIMIT`: a reward's redeem-status tells a pass's points balance.
    pub rewards_limit: Option<ratelimit::CustomerLimit>,
    pub ledger: Ledger,
    pub activities: crate::activities::Activities,
    pub rewards: crate::rewards::Rewards,
    pub webhooks: crate::webhooks::Webhooks,
    /// Every kind of job, and the outbox they run in.
    pub jobs: crate::outbox::Runner,
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
        .routes(routes!(door::get_checkin_status))
        .routes(routes!(rewards::list_rewards))
        .routes(routes!(rewards::get_redeem_status))
        .routes(routes!(
            rewards::redemptions::post_redemption,
            rewards::redemptions::list_redemptions
        ))
        .routes(routes!(
            rewards::redemptions::get_redemption,
            rewards::redemptions::cancel_redemption
        ))
        .routes(routes!(rewards::holds::confirm_redemption))
        .routes(routes!(rewards::holds::release_redemption))
        .routes(routes!(rewards::attention::retry_redemption))
        .routes(routes!(rewards::attention::abandon_redemption));
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

/// The whole application router, with the operators' console's `pages` (see
/// [`crate::console::pages::routes`]).
///
/// The stack every request goes through ([`global_layer`]) is applied to each part of the router
/// together with that part's own layer, in one `layer` call: axum wraps each route once per
/// `layer` call and clones every wrapping of the matched route for each request, so one wrapping
/// instead of two is one clone fewer on every request.
pub fn router(state: AppState, pages: Router<AppState>) -> Router {
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
    // The operators' console (its login refuses everyone when OPERATOR_KEYS is not set): its
    // pages come from the application, so that this layer does not depend on them.
    let router = router.merge(pages.layer(global_layer(&state)));
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
/// span, log line, metrics and timeout ([`ObserveLayer`]), the body limit.
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
