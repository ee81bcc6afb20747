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

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, Either, Ready};
use moka::future::Cache;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

use super::AppState;
use super::problem::{ApiError, Problem};
use super::ratelimit::Credential;
use crate::config::AppEnv;
use crate::customers::{Customer, KeyHash, KeyKind, key_hash};
use crate::domain::UitpasNumber;
use crate::uitpas::EventFacts;

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

/// A checkout token as stored.
#[derive(Debug)]
pub struct CheckoutToken {
    pub hash: KeyHash,
    pub customer_id: Uuid,
    pub event_ids: Vec<String>,
    pub max_passes: u32,
    /// Its requests a second (in bursts of twice that), as its shop asked; `None`:
    /// `PUBLIC_RATE_LIMIT`.
    pub rate_limit: Option<u32>,
    pub expires_at: DateTime<Utc>,
    /// The passes already counted against the budget (digests), as this replica knows them.
    seen: Mutex<HashSet<KeyHash>>,
    /// The token itself keys the pass digests, so that the stored digests cannot be reversed
    /// from the database alone.
    raw: String,
}

/// Checkout tokens and their budgets. Cheap to clone.
#[derive(Clone)]
pub struct PublicAccess {
    db: PgPool,
    tokens: Cache<KeyHash, Option<Arc<CheckoutToken>>>,
}

/// How long a replica trusts what it read of a checkout token (they are not changed, only expire).
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(300);
pub const TOKEN_PREFIX: &str = "ct_";

impl PublicAccess {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            tokens: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOKEN_CACHE_TTL)
                .build(),
        }
    }

    /// Stores a new checkout token; the token itself is answered once and never stored.
    pub async fn mint(
        &self,
        customer_id: Uuid,
        event_ids: &[String],
        max_passes: u32,
        rate_limit: Option<u32>,
        ttl: Duration,
    ) -> sqlx::Result<(String, DateTime<Utc>)> {
        let token = format!("{TOKEN_PREFIX}{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let expires_at = sqlx::query_scalar!(
            "INSERT INTO checkout_tokens (token_hash, customer_id, event_ids, max_passes, rate_limit, expires_at)
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::float8))
             RETURNING expires_at",
            &key_hash(&token)[..],
            customer_id,
            event_ids,
            i32::try_from(max_passes).unwrap_or(i32::MAX),
            rate_limit.map(|r| i32::try_from(r).unwrap_or(i32::MAX)),
            ttl.as_secs_f64()
        )
        .fetch_one(&self.db)
        .await?;
        Ok((token, expires_at))
    }

    /// A valid (known, unexpired) token.
    async fn token(&self, raw: &str) -> Result<Option<Arc<CheckoutToken>>, ApiError> {
        let hash = key_hash(raw);
        let db = self.db.clone();
        let raw_owned = raw.to_owned();
        let found = self
            .tokens
            .try_get_with(hash, async move {
                let row = sqlx::query!(
                    "SELECT customer_id, event_ids, max_passes, rate_limit, expires_at FROM checkout_tokens
                     WHERE token_hash = $1",
                    &hash[..]
                )
                .fetch_optional(&db)
                .await?;
                Ok::<_, sqlx::Error>(row.map(|r| {
                    Arc::new(CheckoutToken {
                        hash,
                        customer_id: r.customer_id,
                        event_ids: r.event_ids,
                        max_passes: u32::try_from(r.max_passes).unwrap_or(0),
                        rate_limit: r.rate_limit.and_then(|r| u32::try_from(r).ok()),
                        expires_at: r.expires_at,
                        seen: Mutex::new(HashSet::new()),
                        raw: raw_owned,
                    })
                }))
            })
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading a checkout token: {e}")))?;
        Ok(found.filter(|t| t.expires_at > Utc::now()))
    }

    /// Counts `number` against the budget of the caller's checkout token (nothing for a key).
    pub async fn charge_pass(&self, caller: &Caller, number: &UitpasNumber) -> Result<(), ApiError> {
        let Via::CheckoutToken(token) = &caller.via else {
            return Ok(());
        };
        let digest: KeyHash = Sha256::new()
            .chain_update(token.raw.as_bytes())
            .chain_update(b":")
            .chain_update(number.as_str().as_bytes())
            .finalize()
            .into();
        if token.seen.lock().unwrap_or_else(|e| e.into_inner()).contains(&digest) {
            return Ok(());
        }
        // One atomic step in PostgreSQL, so that replicas and parallel lookups share one budget:
        // the pass is recorded (a pass seen before costs nothing: the insert waits for a
        // concurrent one of the same pass and then finds it), and only a new one takes a unit
        // in one conditional update of the token's counter. Under READ COMMITTED the update
        // re-reads the row after waiting for its lock, so `passes_used < max_passes` holds for
        // the latest count, never for a snapshot taken before the wait.
        let mut tx = self.db.begin().await.map_err(anyhow::Error::from)?;
        let new = sqlx::query_scalar!(
            "INSERT INTO checkout_token_passes (token_hash, pass_digest) VALUES ($1, $2)
             ON CONFLICT DO NOTHING RETURNING 1 AS \"new!\"",
            &token.hash[..],
            &digest[..]
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(anyhow::Error::from)?
        .is_some();
        if new {
            let taken = sqlx::query_scalar!(
                "UPDATE checkout_tokens SET passes_used = passes_used + 1
                 WHERE token_hash = $1 AND passes_used < max_passes
                 RETURNING passes_used",
                &token.hash[..]
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(anyhow::Error::from)?;
            if taken.is_none() {
                tx.rollback().await.map_err(anyhow::Error::from)?;
                return Err(ApiError::Problem(Box::new(
                    Problem::ours(
                        "checkout-token-budget-spent",
                        StatusCode::FORBIDDEN,
                        "This checkout token has looked up all the passes it may",
                    )
                    .with_detail(format!(
                        "A checkout token looks up at most {} different passes; ask the shop for a new one.",
                        token.max_passes
                    )),
                )));
            }
        }
        tx.commit().await.map_err(anyhow::Error::from)?;
        token.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(digest);
        Ok(())
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

type Answer = Result<Response, Infallible>;

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

/// CORS for the public endpoints, as tower-http's `CorsLayer` did it here: `PUBLIC_ORIGINS` and
/// every customer's allowed origins (a preflight carries no key, so it is answered for any
/// customer's origin; the request itself is checked against its own customer's in [`admit`]);
/// GET and POST; the request id and `Retry-After` exposed; preflights cached for an hour.
struct Cors {
    origins: Vec<String>,
    any_origin: bool,
    /// Whether some customer allows an origin.
    customer_origin: Box<dyn Fn(&str) -> bool + Send + Sync>,
}

/// `Vary` on every public answer: it depends on these request headers.
static VARY: HeaderValue =
    HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers");
static ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
static ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET,POST");
static ALLOW_HEADERS: HeaderValue = HeaderValue::from_static("content-type,authorization,x-request-id");
static EXPOSE_HEADERS: HeaderValue = HeaderValue::from_static("x-request-id,retry-after");
static MAX_AGE: HeaderValue = HeaderValue::from_static("3600");

impl Cors {
    fn new(origins: &[String], customer_origin: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            any_origin: origins.iter().any(|o| o == "*"),
            origins: origins.to_vec(),
            customer_origin: Box::new(customer_origin),
        }
    }

    /// The `Access-Control-Allow-Origin` of an answer to `request`, if any.
    fn answer_for(&self, request: &Request) -> Option<HeaderValue> {
        if self.any_origin {
            return Some(ANY_ORIGIN.clone());
        }
        let origin = request.headers().get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        let allowed = self.origins.iter().any(|o| o.eq_ignore_ascii_case(text)) || (self.customer_origin)(text);
        allowed.then(|| origin.clone())
    }

    fn preflight(&self, allow_origin: Option<HeaderValue>) -> Response {
        let mut response = Response::new(axum::body::Body::empty());
        let headers = response.headers_mut();
        headers.insert(header::VARY, VARY.clone());
        if let Some(origin) = allow_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS.clone());
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS.clone());
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE.clone());
        response
    }

    /// Adds the CORS headers to an answer that is not a preflight's.
    fn finish(response: &mut Response, allow_origin: Option<HeaderValue>) {
        let headers = response.headers_mut();
        // Vary may have values already: added to, never replaced.
        headers.append(header::VARY, VARY.clone());
        if let Some(origin) = allow_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS.clone());
    }
}

/// The future of [`Public`]: the answer, with the CORS headers added.
pub struct WithCors<F> {
    inner: Option<F>,
    done: Option<Response>,
    allow_origin: Option<HeaderValue>,
}

impl<F> WithCors<F> {
    fn new(inner: F, allow_origin: Option<HeaderValue>) -> Self {
        Self {
            inner: Some(inner),
            done: None,
            allow_origin,
        }
    }

    /// A preflight's answer, complete as it is.
    fn done(response: Response) -> Self {
        Self {
            inner: None,
            done: Some(response),
            allow_origin: None,
        }
    }
}

impl<F: Future<Output = Answer> + Unpin> Future for WithCors<F> {
    type Output = Answer;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Answer> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return std::task::Poll::Ready(Ok(this.done.take().expect("a preflight's answer is taken once")));
        };
        let Ok(mut response) = std::task::ready!(std::pin::Pin::new(inner).poll(cx));
        this.inner = None;
        Cors::finish(&mut response, this.allow_origin.take());
        std::task::Poll::Ready(Ok(response))
    }
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

/// A UiTdatabank event's organizer and prices (Entry API `GET /events/{id}`), read once per
/// customer and event for ten minutes, concurrent misses sharing one call. An event that cannot be
/// read (unknown, UiTdatabank unreachable) is kept as unknown for as long: nothing is refused on it.
pub async fn event_facts(state: &AppState, customer: &Customer, event_id: &str) -> Arc<EventFacts> {
    let client = customer.client.clone();
    let event = event_id.to_owned();
    state
        .organizers
        .get_with((customer.slot, event_id.to_owned()), async move {
            Ok(client
                .event_facts(&event)
                .await
                .inspect_err(|e| tracing::debug!(error = %e, "cannot read a UiTdatabank event"))
                .unwrap_or_default())
        })
        .await
        .unwrap_or_default()
}

/// Whether `customer` may register sales for `event_id`'s organizer: `None` when that cannot be
/// told (permissions not read yet, the organizer unknown or unreadable), `Err(organizer)` when it
/// may not.
pub async fn may_register(state: &AppState, customer: &Customer, event_id: &str) -> Option<Result<(), String>> {
    let permissions = customer.permissions()?;
    let organizer = event_facts(state, customer, event_id).await.organizer.clone()?;
    Some(
        if permissions.allows(&organizer, crate::customers::permissions::REGISTER) {
            Ok(())
        } else {
            Err(organizer)
        },
    )
}

/// The problem of a registration or activity for an organizer the customer may not sell for.
pub fn permission_missing(organizer: &str) -> ApiError {
    ApiError::Problem(Box::new(
        Problem::ours(
            "permission-missing",
            StatusCode::FORBIDDEN,
            "This customer may not register UiTPAS sales for this organizer",
        )
        .with_detail(format!(
            "UiTPAS (GET /permissions) gives this customer's client no {} permission for organizer {organizer}; \
             ask publiq to grant it. Nothing was sent to UiTPAS.",
            crate::customers::permissions::REGISTER
        )),
    ))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{HeaderName, Method};
    use tower::{Service, ServiceExt};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    use super::*;

    /// The headers of an answer, sorted, to compare two answers whatever their order.
    fn headers(response: &Response) -> Vec<(String, String)> {
        let mut all: Vec<_> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        all.sort();
        all
    }

    fn inner_answer() -> Response {
        let mut response = Response::new(Body::from("{}"));
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        response
    }

    /// What tower-http's `CorsLayer`, as the router had it, answered.
    async fn tower_http(origins: &[&str], request: Request) -> Response {
        let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        let allow = if origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::predicate(move |origin, _| {
                let Ok(origin) = origin.to_str() else {
                    return false;
                };
                origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) || origin == "https://customer.example"
            })
        };
        let request_id = HeaderName::from_static("x-request-id");
        let layer = CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, request_id.clone()])
            .expose_headers([request_id, header::RETRY_AFTER])
            .max_age(Duration::from_secs(3600));
        let mut service = tower::ServiceBuilder::new()
            .layer(layer)
            .service(tower::service_fn(|_: Request| async {
                Ok::<_, Infallible>(inner_answer())
            }));
        service.ready().await.unwrap().call(request).await.unwrap()
    }

    fn ours(origins: &[&str], request: Request) -> Response {
        let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        let cors = Cors::new(&origins, |origin| origin == "https://customer.example");
        let allow = cors.answer_for(&request);
        if request.method() == Method::OPTIONS {
            return cors.preflight(allow);
        }
        let mut response = inner_answer();
        Cors::finish(&mut response, allow);
        response
    }

    #[tokio::test]
    async fn cors_answers_as_tower_http_did() {
        let requests = || {
            let with = |method: Method, origin: Option<&str>| {
                let mut builder = axum::http::Request::builder()
                    .method(method)
                    .uri("/v1/passes/0900000067513");
                if let Some(origin) = origin {
                    builder = builder
                        .header(header::ORIGIN, origin)
                        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET");
                }
                builder.body(Body::empty()).unwrap()
            };
            let mut all = Vec::new();
            for method in [Method::GET, Method::POST, Method::OPTIONS] {
                for origin in [
                    None,
                    Some("https://shop.example"),
                    Some("HTTPS://SHOP.EXAMPLE"),
                    Some("https://customer.example"),
                    Some("https://elsewhere.example"),
                ] {
                    all.push(with(method.clone(), origin));
                }
            }
            all
        };
        for origins in [&["https://shop.example"][..], &["*"][..], &[][..]] {
            for (theirs, mine) in requests().into_iter().zip(requests()) {
                let described = format!(
                    "{} {:?} with {origins:?}",
                    mine.method(),
                    mine.headers().get(header::ORIGIN)
                );
                let expected = tower_http(origins, theirs).await;
                let got = ours(origins, mine);
                assert_eq!(got.status(), expected.status(), "{described}");
                assert_eq!(headers(&got), headers(&expected), "{described}");
            }
        }
    }
}
