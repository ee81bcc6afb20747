//! Client-credentials access tokens for publiq's APIs: one token reused until shortly before it
//! expires, one refresh at a time however many requests wait, and an explicit invalidation when
//! an API answers 401 so that the next caller fetches a new one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use super::UpstreamError;
use crate::metrics::Metrics;
use crate::secrets::Secret;

/// A token is renewed this long before publiq says it expires, so that a request never leaves
/// with a token that dies on the way (clamped to a tenth of short lifetimes).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct Cached {
    token: Arc<Secret>,
    renew_at: Instant,
}

/// Fetches and caches the access token of one client.
pub struct TokenProvider {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: Secret,
    current: RwLock<Option<Cached>>,
    /// Held while fetching, so concurrent callers wait for one refresh instead of each making one.
    refreshing: Mutex<()>,
    metrics: Arc<Metrics>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenProvider {
    pub fn new(
        http: reqwest::Client,
        url: String,
        client_id: String,
        client_secret: Secret,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            http,
            url,
            client_id,
            client_secret,
            current: RwLock::new(None),
            refreshing: Mutex::new(()),
            metrics,
        }
    }

    async fn fresh(&self) -> Option<Arc<Secret>> {
        let current = self.current.read().await;
        current
            .as_ref()
            .filter(|c| Instant::now() < c.renew_at)
            .map(|c| c.token.clone())
    }

    /// A valid token: the cached one, or a new one fetched by exactly one of the callers.
    pub async fn token(&self) -> Result<Arc<Secret>, UpstreamError> {
        if let Some(token) = self.fresh().await {
            return Ok(token);
        }
        let _guard = self.refreshing.lock().await;
        // Another caller may have refreshed while this one waited for the lock.
        if let Some(token) = self.fresh().await {
            return Ok(token);
        }
        let cached = self.fetch().await?;
        let token = cached.token.clone();
        *self.current.write().await = Some(cached);
        Ok(token)
    }

    /// Forgets `rejected` (an API answered 401 with it), unless it was already replaced.
    pub async fn invalidate(&self, rejected: &Arc<Secret>) {
        let mut current = self.current.write().await;
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(&c.token, rejected)) {
            *current = None;
        }
    }

    #[tracing::instrument(name = "token refresh", skip_all, err(Display))]
    async fn fetch(&self) -> Result<Cached, UpstreamError> {
        let started = Instant::now();
        self.metrics.token_refreshes.inc();
        // publiq's current token path takes a form body (OpenID Connect); the old `/oauth/token`,
        // which publiq forwards, took JSON with an audience.
        let request = self.http.post(&self.url);
        let request = if self.url.trim_end_matches('/').ends_with("/oauth/token") {
            request.json(&serde_json::json!({
                "client_id": self.client_id,
                "client_secret": self.client_secret.expose(),
                "audience": "https://api.publiq.be",
                "grant_type": "client_credentials",
            }))
        } else {
            request.form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose()),
            ])
        };
        let result = request.send().await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                self.metrics
                    .upstream("post-oauth-token", "unreachable", started.elapsed());
                return Err(UpstreamError::from_reqwest(e));
            }
        };
        let status = response.status();
        if !status.is_success() {
            self.metrics.upstream("post-oauth-token", "error", started.elapsed());
            // The body of an OAuth error may echo the client id; it is not logged.
            return Err(UpstreamError::Token(status.as_u16()));
        }
        let parsed: TokenResponse = response.json().await.map_err(|e| {
            self.metrics.upstream("post-oauth-token", "invalid", started.elapsed());
            UpstreamError::Decode(format!("token response: {e}"))
        })?;
        self.metrics.upstream("post-oauth-token", "ok", started.elapsed());
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        let margin = REFRESH_MARGIN.min(lifetime / 10);
        tracing::info!(expires_in_s = lifetime.as_secs(), "fetched a UiTPAS access token");
        Ok(Cached {
            token: Arc::new(Secret::new(parsed.access_token)),
            renew_at: started + lifetime - margin,
        })
    }
}
