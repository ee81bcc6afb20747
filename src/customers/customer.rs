//! One customer as a replica holds it, one whose secrets do not open, and the default one the
//! environment describes.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{DEFAULT_CUSTOMER, Environment, Permissions};
use crate::secrets::Secret;
use crate::uitpas::{ClientConfig, UitpasClient};

/// Where a customer's shop receives webhooks.
#[derive(Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub secrets: Vec<Secret>,
}

/// One customer, as a replica holds it.
pub struct Customer {
    pub id: Uuid,
    pub name: String,
    pub environment: Environment,
    /// The publiq client id (not a secret); `None` for the default customer on the sandbox.
    pub client_id: Option<String>,
    pub client: Arc<UitpasClient>,
    pub allowed_origins: Vec<String>,
    pub disabled: bool,
    pub webhook: Option<WebhookTarget>,
    /// A small number of this customer in this process, for cache keys.
    pub slot: u32,
    /// The organizers and permissions `GET /permissions` answered, when read.
    pub(super) permissions: RwLock<Option<Arc<Permissions>>>,
    pub(super) credentials_version: i32,
    pub(super) updated_at: DateTime<Utc>,
}

impl Customer {
    pub fn is_default(&self) -> bool {
        self.id == DEFAULT_CUSTOMER
    }

    pub fn permissions(&self) -> Option<Arc<Permissions>> {
        self.permissions.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_permissions(&self, permissions: Arc<Permissions>) {
        *self.permissions.write().unwrap_or_else(|e| e.into_inner()) = Some(permissions);
    }

    /// Whether a browser on `origin` may use this customer's keys.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

impl std::fmt::Debug for Customer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Customer")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A customer whose stored secrets do not open with this deployment's key: known, never served.
#[derive(Debug)]
pub struct SealedCustomer {
    pub id: Uuid,
    pub name: String,
    pub environment: Environment,
    pub client_id: Option<String>,
    pub webhook_url: Option<String>,
    /// Whether its webhook secret is among what does not open (new credentials must bring one).
    pub webhook_secret_sealed: bool,
    pub allowed_origins: Vec<String>,
    pub disabled: bool,
}

/// The default customer, as the environment variables describe it (`app::build` makes it from
/// the settings).
pub struct DefaultCustomer {
    /// Its publiq client: the configured hosts, its credentials, the upstream timeout (which every
    /// customer's client takes).
    pub client: ClientConfig,
    /// `UITPAS_CLIENT_ID` as set (absent: the embedded sandbox).
    pub client_id: Option<String>,
    /// `SHOP_API_KEYS`.
    pub secret_keys: Vec<Secret>,
    /// `PUBLISHABLE_KEYS`.
    pub publishable_keys: Vec<Secret>,
    /// `PUBLIC_ORIGINS`.
    pub origins: Vec<String>,
    pub webhook: Option<WebhookTarget>,
    /// publiq's environment of the configured hosts; `None` for other hosts (a sandbox, which
    /// then plays both environments).
    pub environment: Option<Environment>,
}
