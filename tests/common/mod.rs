//! Helpers shared by the black-box tests. Each test binary uses only part of them.
#![allow(dead_code)]

mod app;
pub mod contract;
pub mod fixtures;
pub mod hooks;
pub mod proxy;
pub mod sandbox_client;
pub mod service;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sqlx::Connection;
use uitpas_checkout::Config;
use uitpas_checkout::config::{HumanDuration, Secret, SecretList};
use uitpas_checkout::sandbox::{self, RunningSandbox, SandboxConfig};

// Not every test binary uses these.
#[allow(unused_imports)]
pub use app::{Progress, until};
#[allow(unused_imports)]
pub use fixtures::{LIMITED_EVENT, TEST_EVENT};
#[allow(unused_imports)]
pub use hooks::{
    clear_sandbox_faults, grant, sandbox_call, sandbox_fault, sandbox_get, sandbox_ledger, sandbox_put, set_points,
};

/// Logs of the app under test, shown for a failing test: `RUST_LOG=uitpas_checkout=debug cargo test`.
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// The server all tests use; each test gets a database of its own on it.
pub fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub const SHOP_KEY: &str = "test-shop-key-0123456789";

/// A database made for one test and dropped when the test ends.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_url()))
            .await
            .expect("PostgreSQL is reachable (see README: Test it)");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("the test database is created");
        let _ = admin.close().await;
        let url = format!("{}/{name}", postgres_url());
        Self { name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop is synchronous: do the async clean-up on a runtime of its own.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{}/postgres", postgres_url())).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// How to start a test app.
pub struct TestOptions {
    pub token_ttl: Duration,
    pub configure: Box<dyn FnOnce(&mut Config) + Send>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            token_ttl: sandbox::DEFAULT_TOKEN_TTL,
            configure: Box::new(|_| {}),
        }
    }
}

/// The real app, on a free port, against a sandbox of its own over HTTP, with its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub sandbox: Arc<RunningSandbox>,
    pub db: Arc<TestDatabase>,
    config: Config,
    /// The app's kinds of job and their outbox, to settle due work now ([`Self::drain`]).
    pub worker: uitpas_checkout::outbox::Runner,
    /// The app's customers (their clients, with their credentials).
    pub customers: uitpas_checkout::customers::Customers,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an RFC 9457 problem with this status and type; returns the body.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, kind: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.body);
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "content type {:?}; body: {}",
            self.content_type(),
            self.body
        );
        assert_eq!(self.body["type"], kind, "problem type; body: {}", self.body);
        assert_eq!(
            self.body["status"], status,
            "problem status member; body: {}",
            self.body
        );
        assert!(self.body["title"].is_string(), "problem title; body: {}", self.body);
        &self.body
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(TestOptions::default()).await
    }

    /// An app with settings of its own (the default token lifetime).
    pub async fn spawn_configured(configure: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        Self::spawn_with(TestOptions {
            configure: Box::new(configure),
            ..TestOptions::default()
        })
        .await
    }

    pub async fn spawn_with(options: TestOptions) -> Self {
        init_logs();
        let sandbox = sandbox::spawn(SandboxConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token_ttl: options.token_ttl,
        })
        .await
        .expect("the sandbox starts");
        let db = TestDatabase::create().await;
        let mut config = Config::for_tests(&db.url);
        let url = sandbox.base_url();
        config.uitpas_base_url = url.clone();
        config.uitpas_token_url = format!("{url}/realms/uitid/protocol/openid-connect/token");
        config.uitdatabank_base_url = url;
        config.uitpas_client_id = Some("test-client".into());
        config.uitpas_client_secret = Some(Secret::new("test-client-secret"));
        config.shop_api_keys = Some(SecretList(vec![Secret::new(SHOP_KEY)]));
        config.upstream_timeout = HumanDuration(Duration::from_secs(5));
        config.replay_lease = HumanDuration(Duration::from_secs(10));
        // The background worker stays idle unless a test wants it: tests settle with `drain`.
        config.replay_poll_interval = HumanDuration(Duration::from_secs(3600));
        (options.configure)(&mut config);
        Self::start(config, Arc::new(sandbox), Arc::new(db)).await
    }

    async fn start(config: Config, sandbox: Arc<RunningSandbox>, db: Arc<TestDatabase>) -> Self {
        let app = uitpas_checkout::build(config.clone()).await.expect("the app builds");
        let addr = app.local_addr();
        let worker = app.worker();
        let customers = app.state().customers.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            http: reqwest::Client::builder().build().unwrap(),
            sandbox,
            db,
            config,
            worker,
            customers,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// A second replica: another app on the same database and sandbox.
    pub async fn replica(&self) -> Self {
        Self::start(self.config.clone(), self.sandbox.clone(), self.db.clone()).await
    }

    /// A replica with settings of its own (e.g. a background worker that polls often).
    pub async fn replica_with(&self, configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.config.clone();
        configure(&mut config);
        Self::start(config, self.sandbox.clone(), self.db.clone()).await
    }

    /// The settings this app runs with (to build another one on its database).
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.expect("the app answers")).await
    }

    /// The `/metrics` exposition.
    pub async fn metrics_text(&self) -> String {
        let answer = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("the app answers");
        assert_eq!(answer.status(), 200);
        answer.text().await.expect("a text body")
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.request(Method::POST, path, Some(body), &[]).await
    }

    /// A request with the shop's key.
    pub async fn shop(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Answer {
        let auth = format!("Bearer {SHOP_KEY}");
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        self.request(method, path, body, &all).await
    }

    /// `POST /v1/registrations` with the shop key and an Idempotency-Key.
    pub async fn register(&self, key: &str, body: Value) -> Answer {
        self.shop(
            Method::POST,
            "/v1/registrations",
            Some(body),
            &[("idempotency-key", key)],
        )
        .await
    }

    /// Works every job of the replay queue once, due or not; how many there were.
    pub async fn drain(&self) -> usize {
        self.worker.drain().await.expect("the queue drains")
    }

    /// How many requests the sandbox has seen for an operationId.
    pub async fn upstream_calls(&self, operation: &str) -> u64 {
        hooks::operation_count(&self.sandbox, operation).await
    }

    /// How many `get-ticket-sales` requests the sandbox has seen that asked for one passholder's
    /// sales (`passholderId`), rather than an event's.
    pub async fn ticket_sales_by_passholder(&self) -> u64 {
        sandbox_get(&self.sandbox, "/_sandbox/stats").await["ticketSalesByPassholder"]
            .as_u64()
            .expect("a count")
    }

    /// Every ticket sale the sandbox holds.
    pub async fn sandbox_ledger(&self) -> Vec<Value> {
        sandbox_ledger(&self.sandbox).await
    }

    /// Sets a sandbox fault, e.g. `json!({"operation": "get-tariffs", "mode": "error", "status": 503})`.
    pub async fn fault(&self, fault: Value) {
        sandbox_fault(&self.sandbox, fault).await;
    }

    pub async fn clear_faults(&self) {
        clear_sandbox_faults(&self.sandbox).await;
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the app task ends").expect("the app stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A sandbox of its own on a free port, with the default settings (for tests that run the binary).
pub async fn spawn_sandbox() -> RunningSandbox {
    sandbox::spawn(SandboxConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts")
}

/// A token of the sandbox for a client of its own (a box office, another shop): what another
/// UiTPAS client sees and does.
pub async fn sandbox_token(http: &reqwest::Client, sandbox_url: &str, client_id: &str) -> String {
    let token: Value = http
        .post(format!("{sandbox_url}/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": "secret"}))
        .send()
        .await
        .expect("the sandbox answers")
        .json()
        .await
        .expect("a token answer");
    token["access_token"].as_str().expect("a token").to_owned()
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a whole body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)))
    };
    Answer { status, headers, body }
}
