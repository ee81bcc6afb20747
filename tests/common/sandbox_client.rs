//! A small typed client of the sandbox, for the tests that call it directly as a UiTPAS client
//! would (tests/sandbox.rs, tests/sandbox_rewards.rs): answers read whole, operations checked
//! against publiq's contracts. Each of those tests adds the operations it calls to it.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use uitpas_checkout::sandbox::{RunningSandbox, SandboxConfig, spawn};

use super::contract::Contract;

/// `…/probs/uitpas/<slug>`: a UiTPAS domain error's type.
pub fn uitpas_problem(slug: &str) -> String {
    format!("https://api.publiq.be/probs/uitpas/{slug}")
}

/// An answer: status, content type and the body as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        &self.body
    }

    #[track_caller]
    pub fn expect_ok(&self) -> &Value {
        self.expect_status(200)
    }

    /// A problem+json answer with this status and this `type` (compared whole).
    #[track_caller]
    pub fn expect_problem(&self, status: u16, kind: &str) -> &Value {
        assert_eq!(
            (self.status, self.body["type"].as_str()),
            (status, Some(kind)),
            "unexpected answer; body: {}",
            self.body
        );
        assert_eq!(media_type(&self.content_type), "application/problem+json");
        assert_eq!(self.body["status"], json!(status), "body: {}", self.body);
        assert!(
            self.body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "a problem has a title: {}",
            self.body
        );
        &self.body
    }

    /// The token of a granted token request (200, a token that is not empty).
    #[track_caller]
    pub fn access_token(&self) -> String {
        let body = self.expect_ok();
        body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| panic!("a token: {body}"))
            .to_owned()
    }

    /// A UiTPAS domain error: `…/probs/uitpas/<slug>` with an `endUserMessage` for the buyer.
    #[track_caller]
    pub fn expect_domain_problem(&self, status: u16, slug: &str) -> &Value {
        let body = self.expect_problem(status, &uitpas_problem(slug));
        assert_end_user_message(&body["endUserMessage"]);
        body
    }
}

/// An `endUserMessage` in Dutch and English at least.
#[track_caller]
pub fn assert_end_user_message(message: &Value) {
    for lang in ["nl", "en"] {
        assert!(
            message[lang].as_str().is_some_and(|m| !m.trim().is_empty()),
            "an endUserMessage in {lang} is expected: {message}"
        );
    }
}

/// A content type without its parameters, in lower case.
pub fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    Raw { content_type: &'static str, text: String },
}

impl From<Option<Value>> for Body {
    fn from(body: Option<Value>) -> Self {
        body.map_or(Body::None, Body::Json)
    }
}

/// Which bearer token a request carries.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// The token the sandbox issued at start.
    Issued,
    Missing,
    Bearer(&'a str),
    /// A whole `Authorization` header value.
    Header(&'a str),
}

/// A running sandbox and a client holding a token it issued.
pub struct SandboxClient {
    pub running: RunningSandbox,
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
}

impl SandboxClient {
    /// A sandbox of its own, whose tokens live `token_ttl`, with a token of `client` (id, secret).
    pub async fn spawn(token_ttl: Duration, client: (&str, &str)) -> Self {
        let running = spawn(SandboxConfig {
            listen: "127.0.0.1:0".parse().expect("a socket address"),
            token_ttl,
        })
        .await
        .expect("the sandbox starts");
        Self::on(running, client).await
    }

    /// `running`, with a token of `client` (id, secret).
    pub async fn on(running: RunningSandbox, client: (&str, &str)) -> Self {
        let mut sandbox = SandboxClient {
            base: running.base_url(),
            running,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            token: String::new(),
        };
        sandbox.token = sandbox.token_of(client.0, client.1).await;
        sandbox
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
    }

    /// A token of another client, from the client-credentials grant.
    pub async fn token_of(&self, client: &str, secret: &str) -> String {
        let grant = json!({ "grant_type": "client_credentials", "client_id": client, "client_secret": secret });
        self.send(Method::POST, "/oauth/token", Body::Json(grant), Auth::Missing)
            .await
            .access_token()
    }

    /// Sends a request; an error means no answer at all (connection refused, closed, …).
    pub async fn try_send(&self, method: Method, path: &str, body: Body, auth: Auth<'_>) -> reqwest::Result<Reply> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        match auth {
            Auth::Issued => request = request.bearer_auth(&self.token),
            Auth::Bearer(token) => request = request.bearer_auth(token),
            Auth::Header(value) => request = request.header(AUTHORIZATION, value),
            Auth::Missing => {}
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw { content_type, text } => request.header(CONTENT_TYPE, content_type).body(text),
        };
        let response = request.send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{path}: a {status} answer that is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    pub async fn send(&self, method: Method, path: &str, body: Body, auth: Auth<'_>) -> Reply {
        let what = format!("{method} {path}");
        self.try_send(method, path, body, auth)
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"))
    }

    /// An API operation, its answer validated against `contract` for the path `template`.
    pub async fn call(
        &self,
        contract: &Contract,
        method: Method,
        template: &str,
        path: &str,
        body: Body,
        auth: Auth<'_>,
    ) -> Reply {
        let reply = self.send(method.clone(), path, body, auth).await;
        contract.assert_valid(
            method.as_str(),
            template,
            reply.status,
            &reply.content_type,
            &reply.body,
        );
        reply
    }

    // --- the sandbox's own endpoints (not part of any contract) ---

    pub async fn control(&self, method: Method, path: &str, body: Body) -> Reply {
        self.send(method, path, body, Auth::Missing).await
    }

    /// How many requests of each operation the sandbox has seen, by operationId.
    pub async fn stats(&self) -> Value {
        let reply = self.control(Method::GET, "/_sandbox/stats", Body::None).await;
        reply.expect_ok()["operations"].clone()
    }

    pub async fn put_fault(&self, fault: Value) -> Reply {
        self.control(Method::PUT, "/_sandbox/faults", Body::Json(fault)).await
    }
}
