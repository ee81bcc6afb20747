//! CORS for the public endpoints, built once at start and applied by [`super::auth::Public`]
//! without a layer of its own.

use std::convert::Infallible;
use std::future::Future;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;

/// A public answer (the services here never fail).
pub(super) type Answer = Result<Response, Infallible>;

/// CORS for the public endpoints, as tower-http's `CorsLayer` did it here: `PUBLIC_ORIGINS` and
/// every customer's allowed origins (a preflight carries no key, so it is answered for any
/// customer's origin; the request itself is checked against its own customer's in `auth::admit`);
/// GET and POST; the request id and `Retry-After` exposed; preflights cached for an hour.
pub(super) struct Cors {
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
    pub(super) fn new(origins: &[String], customer_origin: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            any_origin: origins.iter().any(|o| o == "*"),
            origins: origins.to_vec(),
            customer_origin: Box::new(customer_origin),
        }
    }

    /// The `Access-Control-Allow-Origin` of an answer to `request`, if any.
    pub(super) fn answer_for(&self, request: &Request) -> Option<HeaderValue> {
        if self.any_origin {
            return Some(ANY_ORIGIN.clone());
        }
        let origin = request.headers().get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        let allowed = self.origins.iter().any(|o| o.eq_ignore_ascii_case(text)) || (self.customer_origin)(text);
        allowed.then(|| origin.clone())
    }

    pub(super) fn preflight(&self, allow_origin: Option<HeaderValue>) -> Response {
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
    pub(super) fn finish(response: &mut Response, allow_origin: Option<HeaderValue>) {
        let headers = response.headers_mut();
        // Vary may have values already: added to, never replaced.
        headers.append(header::VARY, VARY.clone());
        if let Some(origin) = allow_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS.clone());
    }
}

/// The future of [`super::auth::Public`]: the answer, with the CORS headers added.
pub struct WithCors<F> {
    inner: Option<F>,
    done: Option<Response>,
    allow_origin: Option<HeaderValue>,
}

impl<F> WithCors<F> {
    pub(super) fn new(inner: F, allow_origin: Option<HeaderValue>) -> Self {
        Self {
            inner: Some(inner),
            done: None,
            allow_origin,
        }
    }

    /// A preflight's answer, complete as it is.
    pub(super) fn done(response: Response) -> Self {
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{HeaderName, Method};
    use tower::{Service, ServiceExt};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    use std::convert::Infallible;
    use std::time::Duration;

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
