//! Customers: one deployment serves one or many, each with its own publiq client credentials (publiq
//! issues one set per customer), secret keys for its shop backend, publishable keys for its
//! browser checkout, allowed origins, and the organizers it may act for (`GET /permissions`).
//!
//! The environment variables describe the *default* customer (`UITPAS_CLIENT_ID`,
//! `SHOP_API_KEYS`, …), so a one-customer deployment needs nothing else. Further customers are
//! made through the admin API and kept in PostgreSQL: client secrets sealed with
//! `CUSTOMER_SECRETS_KEY` ([`crate::secrets::SecretsKey`]), keys as SHA-256 digests only.
//!
//! Every replica holds a snapshot of all customers in memory (requests never wait for the
//! database to learn whose key they carry), re-read every [`RELOAD_EVERY`] and at once after a
//! change made through this replica. Each customer has its own [`UitpasClient`] (its own token
//! cache; one connection pool for all), kept across reloads until its credentials change.
//!
//! A customer whose stored secrets `CUSTOMER_SECRETS_KEY` cannot open (sealed with another key)
//! is held apart as a [`SealedCustomer`]: its keys are refused with 503, the admin API lists it as
//! `sealed-with-another-key` and takes new credentials for it. Start-up refuses such customers
//! unless told otherwise (`app::build`); [`rotation`] re-seals secrets from a previous key.
//!
//! A customer itself is in [`customer`], its keys in [`keys`], how a replica reads them all into
//! its snapshot in [`snapshot`]; what the service can do for each of its organizers with the
//! permissions UiTPAS gives, in [`capabilities`].

pub mod capabilities;
mod customer;
mod keys;
pub mod permissions;
pub mod rotation;
mod snapshot;
pub mod store;

use std::collections::HashMap;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::secrets::{OpenError, Secret, SecretsKey};
pub use crate::uitpas::publiq::Environment;
use crate::uitpas::{ClientConfig, UitpasClient, UpstreamError};
pub use customer::{Customer, DefaultCustomer, SealedCustomer, WebhookTarget};
pub use keys::{KeyHash, KeyKind, key_hash, key_hint, new_key};
pub use permissions::Permissions;
use snapshot::Snapshot;

/// The default customer: the one the environment variables describe.
pub const DEFAULT_CUSTOMER: Uuid = Uuid::nil();

/// How often a replica re-reads the customers (keys revoked or added through another replica take
/// effect within this).
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// The default customer's settings, as a replica holds them.
struct DefaultSettings {
    client: ClientConfig,
    secret_keys: Vec<KeyHash>,
    publishable_keys: Vec<KeyHash>,
    origins: Vec<String>,
    webhook: Option<WebhookTarget>,
    environment: Environment,
    client_id: Option<String>,
}

/// Every customer of this deployment. Cheap to clone.
#[derive(Clone)]
pub struct Customers {
    inner: Arc<Inner>,
}

struct Inner {
    db: PgPool,
    key: Option<SecretsKey>,
    /// The key of a rotation under way (`CUSTOMER_SECRETS_KEY_PREVIOUS`): what another replica
    /// has not re-sealed yet still opens.
    previous: Option<SecretsKey>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    timeout: Duration,
    /// The hosts of each environment: publiq's, or the configured ones when they are not publiq's
    /// (a sandbox plays both environments).
    hosts: Hosts,
    default: DefaultSettings,
    snapshot: RwLock<Arc<Snapshot>>,
    slots: std::sync::Mutex<HashMap<Uuid, u32>>,
    next_slot: AtomicU32,
    /// Serialises reloads, so that an older read never replaces a newer one.
    reloading: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Hosts {
    configured: (String, String, String),
    publiq: bool,
}

impl Hosts {
    fn of(&self, environment: Environment) -> (String, String, String) {
        if !self.publiq {
            return self.configured.clone();
        }
        crate::uitpas::publiq::urls(environment)
    }
}

/// Why a customer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error("no customer {0}")]
    Unknown(Uuid),
    /// Sealed with another key (or no key is set).
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Customers {
    /// Reads every customer. `default` is made from the final settings (the sandbox's URLs
    /// filled in, the development keys made).
    pub async fn load(
        db: PgPool,
        default: DefaultCustomer,
        key: Option<SecretsKey>,
        previous: Option<SecretsKey>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let timeout = default.client.timeout;
        let http = crate::uitpas::http_client(timeout)?;
        let configured = (
            default.client.base_url.clone(),
            default.client.token_url.clone(),
            default.client.entry_base_url.clone(),
        );
        let environment = default.environment;
        let default = DefaultSettings {
            client: default.client,
            secret_keys: default.secret_keys.iter().map(|k| key_hash(k.expose())).collect(),
            publishable_keys: default.publishable_keys.iter().map(|k| key_hash(k.expose())).collect(),
            origins: default.origins,
            webhook: default.webhook,
            environment: environment.unwrap_or(Environment::Test),
            client_id: default.client_id,
        };
        let customers = Self {
            inner: Arc::new(Inner {
                db,
                key,
                previous,
                http,
                metrics,
                timeout,
                hosts: Hosts {
                    configured,
                    publiq: environment.is_some(),
                },
                default,
                snapshot: RwLock::new(Arc::default()),
                slots: std::sync::Mutex::new(HashMap::new()),
                next_slot: AtomicU32::new(0),
                reloading: tokio::sync::Mutex::new(()),
            }),
        };
        customers.reload().await?;
        Ok(customers)
    }

    pub fn db(&self) -> &PgPool {
        &self.inner.db
    }

    /// The (UiTPAS, token, Entry API) URLs of an environment in this deployment.
    pub fn hosts_of(&self, environment: Environment) -> (String, String, String) {
        self.inner.hosts.of(environment)
    }

    pub fn secrets_key(&self) -> Option<&SecretsKey> {
        self.inner.key.as_ref()
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A customer by id (disabled ones too).
    pub fn get(&self, id: Uuid) -> Option<Arc<Customer>> {
        self.snapshot().customers.get(&id).cloned()
    }

    pub fn default_customer(&self) -> Arc<Customer> {
        self.get(DEFAULT_CUSTOMER)
            .unwrap_or_else(|| unreachable!("the default customer is always loaded"))
    }

    /// The customers whose secrets do not open with this deployment's key, by name.
    pub fn sealed(&self) -> Vec<Arc<SealedCustomer>> {
        let mut all: Vec<_> = self.snapshot().sealed.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn sealed_customer(&self, id: Uuid) -> Option<Arc<SealedCustomer>> {
        self.snapshot().sealed.get(&id).cloned()
    }

    /// Whether `key` is a (not revoked) key of a customer whose secrets do not open.
    pub fn is_key_of_sealed(&self, key: &str) -> bool {
        let snapshot = self.snapshot();
        snapshot
            .keys
            .get(&key_hash(key))
            .is_some_and(|entry| snapshot.sealed.contains_key(&entry.customer))
    }

    /// Opens a secret of customer `id` with the key, or the previous key of a rotation.
    fn open(&self, id: Uuid, sealed: &[u8]) -> Result<Secret, OpenError> {
        let key = self.inner.key.as_ref().ok_or(OpenError)?;
        key.open(id, sealed).or_else(|e| match &self.inner.previous {
            Some(previous) => previous.open(id, sealed),
            None => Err(e),
        })
    }

    /// Every customer (those whose secrets open), by name.
    pub fn all(&self) -> Vec<Arc<Customer>> {
        let mut all: Vec<_> = self.snapshot().customers.values().cloned().collect();
        all.sort_by(|a, b| (!a.is_default(), &a.name).cmp(&(!b.is_default(), &b.name)));
        all
    }

    /// The client of customer `id`, for work stored under it.
    pub fn client(&self, id: Uuid) -> Result<Arc<UitpasClient>, CustomerError> {
        self.get(id).map(|c| c.client.clone()).ok_or(CustomerError::Unknown(id))
    }

    /// The customer and kind of a key, when the key is known and not revoked.
    pub fn by_key(&self, key: &str) -> Option<(Arc<Customer>, KeyKind)> {
        let snapshot = self.snapshot();
        let entry = snapshot.keys.get(&key_hash(key))?;
        Some((snapshot.customers.get(&entry.customer)?.clone(), entry.kind))
    }

    /// Whether any customer allows `origin` (for CORS preflights, which carry no key).
    pub fn any_allows_origin(&self, origin: &str) -> bool {
        self.snapshot()
            .customers
            .values()
            .any(|c| !c.disabled && c.allows_origin(origin))
    }

    /// Reads customer `id`'s permissions from UiTPAS (`GET /permissions`), keeps them in memory
    /// and in the database.
    pub async fn refresh_permissions(&self, id: Uuid) -> Result<Arc<Permissions>, RefreshError> {
        let customer = self.get(id).ok_or(RefreshError::Unknown)?;
        match customer.client.permissions().await {
            Ok(answer) => {
                let permissions = Arc::new(Permissions::from_answer(answer, Utc::now()));
                customer.set_permissions(permissions.clone());
                store::save_permissions(&self.inner.db, id, Some(&permissions), None).await?;
                Ok(permissions)
            }
            Err(e) => {
                store::save_permissions(&self.inner.db, id, None, Some(&e.to_string())).await?;
                Err(RefreshError::Upstream(e))
            }
        }
    }

    /// Reads every enabled customer's permissions, a few at a time (at start, and periodically).
    pub async fn refresh_all_permissions(&self) {
        use futures::StreamExt;
        futures::stream::iter(self.all().into_iter().filter(|c| !c.disabled))
            .for_each_concurrent(8, |customer| async move {
                if let Err(e) = self.refresh_permissions(customer.id).await {
                    tracing::warn!(customer = %customer.name, error = %e, "cannot read the customer's UiTPAS permissions");
                }
            })
            .await;
    }

    /// Keeps the snapshot current (every [`RELOAD_EVERY`]) and the permissions (every
    /// `permissions_every`) until `shutdown`.
    pub async fn keep_current(self, permissions_every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut reload = tokio::time::interval(RELOAD_EVERY);
        reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Read at start already (app::build): the first periodic read is one period later.
        let mut permissions =
            tokio::time::interval_at(tokio::time::Instant::now() + permissions_every, permissions_every);
        permissions.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = reload.tick() => {
                    if let Err(e) = self.reload().await {
                        tracing::warn!(error = %e, "cannot re-read the customers; the last ones read stay in use");
                    }
                    if let Err(e) = store::delete_expired_tokens(&self.inner.db).await {
                        tracing::debug!(error = %e, "cannot delete expired checkout tokens");
                    }
                }
                _ = permissions.tick() => self.refresh_all_permissions().await,
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("no such customer")]
    Unknown,
    #[error(transparent)]
    Upstream(UpstreamError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
