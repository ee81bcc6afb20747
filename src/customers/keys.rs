//! A customer's keys: secret keys for its shop backend, publishable keys for its browser checkout,
//! kept as SHA-256 digests only.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a key lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// The shop backend's key: registrations, holds, cancellations, activities.
    Secret,
    /// The browser's key: the public endpoints only.
    Publishable,
}

// Stored as text; an unknown stored kind is an error, never a secret key.
crate::text_enum::text_enum!(KeyKind {
    Secret = "secret",
    Publishable = "publishable",
});

impl KeyKind {
    fn prefix(self) -> &'static str {
        match self {
            KeyKind::Secret => "sk_",
            KeyKind::Publishable => "pk_",
        }
    }
}

/// The SHA-256 of a key or token: what is stored and looked up.
pub type KeyHash = [u8; 32];

pub fn key_hash(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random key of `kind` (`sk_…` or `pk_…`, 64 hexadecimal characters after the prefix).
pub fn new_key(kind: KeyKind) -> String {
    format!(
        "{}{}{}",
        kind.prefix(),
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

/// The first characters of a key, to tell keys apart without showing them.
pub fn key_hint(key: &str) -> String {
    format!("{}…", key.chars().take(8).collect::<String>())
}
