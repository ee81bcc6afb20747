//! The snapshot of every customer and key a replica holds, and how it is read again from the
//! database (a customer whose row did not change keeps its value and its client's token cache).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use super::{
    Customer, CustomerError, Customers, DEFAULT_CUSTOMER, KeyHash, KeyKind, Permissions, SealedCustomer, WebhookTarget,
    store,
};
use crate::uitpas::{ClientConfig, UitpasClient};

/// A key as the snapshot indexes it.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyEntry {
    pub(super) customer: Uuid,
    pub(super) kind: KeyKind,
}

#[derive(Default)]
pub(super) struct Snapshot {
    pub(super) customers: HashMap<Uuid, Arc<Customer>>,
    pub(super) sealed: HashMap<Uuid, Arc<SealedCustomer>>,
    pub(super) keys: HashMap<KeyHash, KeyEntry>,
}

impl Customers {
    fn slot(&self, id: Uuid) -> u32 {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        *slots
            .entry(id)
            .or_insert_with(|| self.inner.next_slot.fetch_add(1, Ordering::Relaxed))
    }

    fn make_client(&self, config: ClientConfig) -> Arc<UitpasClient> {
        Arc::new(UitpasClient::with_http(
            self.inner.http.clone(),
            config,
            self.inner.metrics.clone(),
        ))
    }

    /// Re-reads every customer and key from the database; a customer whose row did not change
    /// keeps its value (and its client's token cache).
    pub async fn reload(&self) -> Result<(), CustomerError> {
        let _one = self.inner.reloading.lock().await;
        let rows = store::customers(&self.inner.db).await?;
        let keys = store::active_keys(&self.inner.db).await?;
        let old = self.snapshot();
        let mut next = Snapshot::default();
        for row in rows {
            let existing = old.customers.get(&row.id);
            if let Some(existing) = existing
                && existing.updated_at == row.updated_at
            {
                next.customers.insert(row.id, existing.clone());
                continue;
            }
            let sealed = SealedCustomer {
                id: row.id,
                name: row.name.clone(),
                environment: row.environment,
                client_id: row.client_id.clone(),
                webhook_url: row.webhook_url.clone(),
                webhook_secret_sealed: row
                    .webhook_secret
                    .as_ref()
                    .is_some_and(|s| self.open(row.id, s).is_err()),
                allowed_origins: row.allowed_origins.clone(),
                disabled: row.disabled_at.is_some(),
            };
            let customer = match self.build(row, existing) {
                Ok(customer) => customer,
                Err(CustomerError::Open(_)) => {
                    // One customer whose secret does not open must not take the others down.
                    if !old.sealed.contains_key(&sealed.id) {
                        tracing::error!(
                            customer = %sealed.name,
                            id = %sealed.id,
                            "CUSTOMER_SECRETS_KEY does not open this customer's stored secrets; its keys are refused \
                             until it gets new credentials (PUT /admin/v1/customers/{{id}}/credentials)"
                        );
                    }
                    next.sealed.insert(sealed.id, Arc::new(sealed));
                    continue;
                }
                Err(e) => {
                    tracing::error!(customer = %sealed.name, error = %e, "a customer cannot be loaded; its keys are refused");
                    continue;
                }
            };
            next.customers.insert(customer.id, Arc::new(customer));
        }
        let default = &self.inner.default;
        for hash in &default.secret_keys {
            next.keys.insert(
                *hash,
                KeyEntry {
                    customer: DEFAULT_CUSTOMER,
                    kind: KeyKind::Secret,
                },
            );
        }
        for hash in &default.publishable_keys {
            next.keys.insert(
                *hash,
                KeyEntry {
                    customer: DEFAULT_CUSTOMER,
                    kind: KeyKind::Publishable,
                },
            );
        }
        for key in keys {
            next.keys.insert(
                key.hash,
                KeyEntry {
                    customer: key.customer_id,
                    kind: key.kind,
                },
            );
        }
        *self.inner.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(())
    }

    fn build(&self, row: store::CustomerRow, existing: Option<&Arc<Customer>>) -> Result<Customer, CustomerError> {
        let default = &self.inner.default;
        let is_default = row.id == DEFAULT_CUSTOMER;
        let same_credentials = existing.filter(|e| e.credentials_version == row.credentials_version);
        let environment = if is_default {
            default.environment
        } else {
            row.environment
        };
        let client = match same_credentials {
            Some(existing) => existing.client.clone(),
            None => match (&row.client_id, &row.client_secret) {
                (Some(id), Some(sealed)) => {
                    let secret = self.open(row.id, sealed)?;
                    let (base_url, token_url, entry_base_url) = self.inner.hosts.of(environment);
                    self.make_client(ClientConfig {
                        base_url,
                        entry_base_url,
                        token_url,
                        client_id: id.clone(),
                        client_secret: secret,
                        timeout: self.inner.timeout,
                    })
                }
                _ if is_default => self.make_client(default.client.clone()),
                _ => return Err(anyhow::anyhow!("customer {} has no credentials", row.id).into()),
            },
        };
        let webhook = match (&row.webhook_url, &row.webhook_secret) {
            (Some(url), Some(sealed)) => Some(WebhookTarget {
                url: url.clone(),
                secrets: vec![self.open(row.id, sealed)?],
            }),
            _ if is_default => default.webhook.clone(),
            _ => None,
        };
        let mut origins = row.allowed_origins;
        if is_default {
            origins.extend(default.origins.iter().cloned());
        }
        let permissions = row
            .permissions
            .and_then(|p| serde_json::from_value::<Permissions>(p).ok())
            .map(Arc::new)
            .or_else(|| existing.and_then(|e| e.permissions()));
        Ok(Customer {
            id: row.id,
            slot: self.slot(row.id),
            client_id: if is_default {
                default.client_id.clone()
            } else {
                row.client_id
            },
            name: row.name,
            environment,
            client,
            allowed_origins: origins,
            disabled: row.disabled_at.is_some(),
            webhook,
            permissions: RwLock::new(permissions),
            credentials_version: row.credentials_version,
            updated_at: row.updated_at,
        })
    }
}
