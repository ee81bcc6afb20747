//! The customers' secrets at rest (publiq client secrets, webhook secrets): XChaCha20-Poly1305
//! with a key from the environment (`CUSTOMER_SECRETS_KEY`), a random nonce per secret, and the
//! customer's id as associated data, so that a ciphertext copied onto another customer's row does
//! not open. Stored as `nonce || ciphertext`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;

use crate::config::Secret;

const NONCE_LEN: usize = 24;

/// The key that seals the customers' secrets.
#[derive(Clone)]
pub struct SecretsKey(XChaCha20Poly1305);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("CUSTOMER_SECRETS_KEY must be 64 hexadecimal characters (32 bytes)")]
    Malformed,
}

#[derive(Debug, thiserror::Error)]
#[error("a stored secret does not open with CUSTOMER_SECRETS_KEY (another key, or a damaged value)")]
pub struct OpenError;

impl SecretsKey {
    /// Reads a key written as 64 hexadecimal characters.
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(KeyError::Malformed);
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or(KeyError::Malformed)?, 16)
                .map_err(|_| KeyError::Malformed)?;
        }
        Ok(Self(XChaCha20Poly1305::new(&bytes.into())))
    }

    /// A new random key, as 64 hexadecimal characters (for a development run).
    pub fn generate_hex() -> String {
        format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
    }

    pub fn seal(&self, customer: Uuid, secret: &Secret) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        nonce[16..].copy_from_slice(&Uuid::new_v4().as_bytes()[..8]);
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: customer.as_bytes(),
                },
            )
            .unwrap_or_else(|_| unreachable!("encryption of a short message cannot fail"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, customer: Uuid, sealed: &[u8]) -> Result<Secret, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: customer.as_bytes(),
                },
            )
            .map_err(|_| OpenError)?;
        String::from_utf8(plain).map(Secret::new).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_customer_and_key() {
        let key = SecretsKey::from_hex(&SecretsKey::generate_hex()).unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = key.seal(a, &Secret::new("client-secret-of-a"));
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "not in clear");
        assert_eq!(key.open(a, &sealed).unwrap().expose(), "client-secret-of-a");
        assert!(key.open(b, &sealed).is_err(), "moved to another customer");
        let other = SecretsKey::from_hex(&SecretsKey::generate_hex()).unwrap();
        assert!(other.open(a, &sealed).is_err(), "another key");
        // Two seals of one secret differ (a nonce each).
        assert_ne!(sealed, key.seal(a, &Secret::new("client-secret-of-a")));
        assert!(SecretsKey::from_hex("abc").is_err());
        assert!(SecretsKey::from_hex(&"zz".repeat(32)).is_err());
    }
}
