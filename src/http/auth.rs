//! Who is calling: every request is some customer's.
//!
//! - Shop endpoints need one of the customer's secret keys (`Authorization: Bearer sk_…`, or a key
//!   of `SHOP_API_KEYS` for the default customer).
//! - Public endpoints take a publishable key (`Bearer pk_…`, or one of `PUBLISHABLE_KEYS`), or a
//!   checkout token that the shop backend minted for one cart (`Bearer ct_…`: its events only, a
//!   budget of distinct passes, an expiry). Without either, development serves the default
//!   customer; production refuses.
//!
//! The customer's [`Caller`] is put in the request's extensions for the handlers, which also
//! answer 404 for another customer's registrations and sales.
//!
//! Here: the key middleware ([`require_shop_key`], [`PublicLayer`]) and the caller. Checkout
//! tokens are stored in [`super::checkout_token_store`], the public endpoints' CORS is
//! [`super::cors`], and whether a customer may sell for an organizer is [`super::permission`].

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::future::{BoxFuture, Either, Ready};
use tower::ServiceExt;
use uuid::Uuid;

use super::AppState;
use super::checkout_token_store::{CheckoutToken, TOKEN_PREFIX};
use super::cors::{Answer, Cors, WithCors};
use super::problem::{ApiError, Problem};
use super::ratelimit::Credential;
use crate::config::AppEnv;
use crate::customers::{Customer, KeyHash, KeyKind, key_hash};

/// How the caller proved who it is.
#[derive(Clone, Debug)]
pub enum Via {
    SecretKey,
    PublishableKey,
    CheckoutToken(Arc<CheckoutToken>),
    /// No key (development only): the default customer.
    Anonymous,
}

/// The customer a request belongs to.
#[derive(Clone, Debug)]
pub struct Caller {
    pub customer: Arc<Customer>,
    pub via: Via,
    /// The client's address (public requests), for the rate limit.
    pub address: Option<IpAddr>,
}

impl Caller {
    /// The shop backend of `customer` (the demo shop acts as the default customer's).
    pub fn shop_of(customer: Arc<Customer>) -> Self {
        Self {
            customer,
            via: Via::SecretKey,
            address: None,
        }
    }

    /// Whether something stored under `customer_id` is this caller's to see.
    pub fn owns(&self, customer_id: Uuid) -> bool {
        self.customer.id == customer_id
    }

    /// Refuses an event a checkout token was not minted for.
    pub fn check_event(&self, event_id: &str) -> Result<(), ApiError> {
        match &self.via {
            Via::CheckoutToken(token) if !token.event_ids.iter().any(|e| e.eq_ignore_ascii_case(event_id)) => {
                Err(ApiError::Problem(Box::new(
                    Problem::ours(
                        "event-not-in-checkout-token",
                        StatusCode::FORBIDDEN,
                        "This checkout token is not for this event",
                    )
                    .with_detail("The shop minted this checkout token for other events; ask the shop for a new one."),
                )))
            }
            _ => Ok(()),
        }
    }

    /// What the rate limit counts this caller's requests under: a checkout token's own budget
    /// (instead of its address), or its customer's keys' (beside its address).
    pub fn credential(&self) -> Option<Credential> {
        match &self.via {
            Via::CheckoutToken(token) => Some(Credential::Token {
                hash: token.hash,
                per_second: token.rate_limit,
            }),
            // A secret key on the public endpoints shares its customer's budget with the
            // publishable keys: no key of a shop is a faster pass oracle than the public one.
            Via::PublishableKey | Via::SecretKey => Some(Credential::Customer(self.customer_key_bucket())),
            _ => None,
        }
    }

    fn customer_key_bucket(&self) -> KeyHash {
        key_hash(&format!("customer:{}", self.customer.id))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or(ApiError::Unauthorized)
    }
}

fn bearer(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
}

fn disabled() -> Response {
    Problem::ours("customer-disabled", StatusCode::FORBIDDEN, "This customer is disabled")
        .with_detail("The operator of this service disabled the customer this key belongs to.")
        .into_response()
}

/// A key of a customer whose stored secrets do not open with CUSTOMER_SECRETS_KEY: not the
/// caller's mistake, so not a 401.
fn sealed() -> Response {
    Problem::ours(
        "customer-unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "This customer is unavailable",
    )
    .with_detail("This service cannot open the customer's stored credentials; its operator must restore them.")
    .into_response()
}

/// Lets a shop request through only with one of a customer's secret keys.
pub async fn require_shop_key(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let found = bearer(&request).and_then(|key| state.customers.by_key(key));
    let customer = match found {
        Some((customer, KeyKind::Secret)) => customer,
        None if bearer(&request).is_some_and(|key| state.customers.is_key_of_sealed(key)) => return sealed(),
        _ => return ApiError::Unauthorized.into_response(),
    };
    if customer.disabled {
        return disabled();
    }
    request.extensions_mut().insert(Caller {
        customer,
        via: Via::SecretKey,
        address: None,
    });
    next.run(request).await
}

/// The public endpoints' layer: CORS, then the customer of the request ([`Public`]).
///
/// A tower layer rather than `middleware::from_fn` plus tower-http's `CorsLayer`: it is on every
/// public request, and axum clones a route's whole service stack for each request. Here a clone is
/// two reference counts, a request with a publishable key is admitted without a boxed future or
/// an allocation of its own, and the CORS headers are built once, at start.
#[derive(Clone)]
pub struct PublicLayer {
    shared: Arc<Shared>,
}

struct Shared {
    state: AppState,
    cors: Cors,
}

impl PublicLayer {
    pub fn new(state: AppState) -> Self {
        let customers = state.customers.clone();
        let cors = Cors::new(&state.config.public_origins.0, move |origin| {
            customers.any_allows_origin(origin)
        });
        Self {
            shared: Arc::new(Shared { state, cors }),
        }
    }
}

impl<S> tower::Layer<S> for PublicLayer {
    type Service = Public<S>;

    fn layer(&self, inner: S) -> Public<S> {
        Public {
            shared: self.shared.clone(),
            inner,
        }
    }
}

/// Names the customer of a public request (publishable key, checkout token, or none in
/// development), checks its origin and applies the rate limits; answers CORS preflights and adds
/// the CORS headers to every other answer, refusals included.
#[derive(Clone)]
pub struct Public<S> {
    shared: Arc<Shared>,
    inner: S,
}

impl<S> tower::Service<Request> for Public<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = WithCors<Either<Either<Ready<Answer>, S::Future>, BoxFuture<'static, Answer>>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let cors = self.shared.cors.answer_for(&request);
        if request.method() == Method::OPTIONS {
            // A preflight carries no key: answered here, for any customer's origin.
            let preflight = self.shared.cors.preflight(cors);
            return WithCors::done(preflight);
        }
        let state = &self.shared.state;
        let caller = match bearer(&request) {
            Some(raw) if raw.starts_with(TOKEN_PREFIX) => {
                // Read from PostgreSQL at most once per token and replica: the boxed, slow way.
                let shared = self.shared.clone();
                let inner = self.inner.clone();
                let raw = raw.to_owned();
                let future = Box::pin(async move {
                    let state = &shared.state;
                    let caller = match state.public.token(&raw).await {
                        Ok(Some(token)) => match state.customers.get(token.customer_id) {
                            Some(customer) => Caller {
                                customer,
                                via: Via::CheckoutToken(token),
                                address: None,
                            },
                            None => return Ok(ApiError::Unauthorized.into_response()),
                        },
                        Ok(None) => return Ok(expired_token()),
                        Err(e) => return Ok(e.into_response()),
                    };
                    match admit(state, &mut request, caller) {
                        None => inner.oneshot(request).await,
                        Some(refused) => Ok(refused),
                    }
                });
                return WithCors::new(Either::Right(future), cors);
            }
            Some(key) => match state.customers.by_key(key) {
                Some((customer, KeyKind::Publishable)) => Caller {
                    customer,
                    via: Via::PublishableKey,
                    address: None,
                },
                // A shop backend may ask the public endpoints with its secret key.
                Some((customer, KeyKind::Secret)) => Caller {
                    customer,
                    via: Via::SecretKey,
                    address: None,
                },
                None if state.customers.is_key_of_sealed(key) => return WithCors::new(refused(sealed()), cors),
                None => return WithCors::new(refused(public_unauthorized()), cors),
            },
            None if state.config.app_env == AppEnv::Production => {
                return WithCors::new(refused(public_unauthorized()), cors);
            }
            None => Caller {
                customer: state.customers.default_customer(),
                via: Via::Anonymous,
                address: None,
            },
        };
        match admit(state, &mut request, caller) {
            None => WithCors::new(Either::Left(Either::Right(self.inner.call(request))), cors),
            Some(refusal) => WithCors::new(refused(refusal), cors),
        }
    }
}

fn refused<F>(response: Response) -> Either<Either<Ready<Answer>, F>, BoxFuture<'static, Answer>> {
    Either::Left(Either::Left(futures::future::ready(Ok(response))))
}

/// The checks of a named caller: its address, a disabled customer, the page's origin, the rate
/// limits; then the caller goes into the request's extensions for the handler. `Some`: the
/// refusal to answer instead.
fn admit(state: &AppState, request: &mut Request, mut caller: Caller) -> Option<Response> {
    caller.address = super::client_ip(&state.config, request);
    if caller.customer.disabled {
        return Some(disabled());
    }
    if let Some(origin) = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok())
        && !matches!(caller.via, Via::Anonymous | Via::SecretKey)
        && !caller.customer.allowed_origins.is_empty()
        && !caller.customer.allows_origin(origin)
    {
        return Some(
            Problem::ours(
                "origin-not-allowed",
                StatusCode::FORBIDDEN,
                "This origin may not use this key",
            )
            .with_detail("The page's origin is not among the customer's allowed origins.")
            .into_response(),
        );
    }
    if let Err(retry_after_s) = state.limiter.check(caller.address, caller.credential(), 1) {
        return Some(ApiError::RateLimited { retry_after_s }.into_response());
    }
    request.extensions_mut().insert(caller);
    None
}

/// Charges a request `cost` more units of the rate limit (a quote asks UiTPAS several things).
pub fn charge(state: &AppState, caller: &Caller, cost: u32) -> Result<(), ApiError> {
    state
        .limiter
        .check(caller.address, caller.credential(), cost)
        .map_err(|retry_after_s| ApiError::RateLimited { retry_after_s })
}

fn public_unauthorized() -> Response {
    Problem::ours("unauthorized", StatusCode::UNAUTHORIZED, "Unauthorized")
        .with_detail(
            "This endpoint needs the shop's publishable key or a checkout token: Authorization: Bearer pk_… or ct_….",
        )
        .into_response()
}

fn expired_token() -> Response {
    Problem::ours(
        "checkout-token-expired",
        StatusCode::UNAUTHORIZED,
        "This checkout token is unknown or has expired",
    )
    .with_detail("Ask the shop for a new checkout token.")
    .into_response()
}
