//! Secrets, a leaf every layer may use: [`Secret`] (a value that never prints), [`SecretList`]
//! (a comma-separated list of them, as the settings take), and [`SecretsKey`], which seals the
//! customers' secrets at rest.
//!
//! Sealing (publiq client secrets, webhook secrets): XChaCha20-Poly1305 with a key from the
//! environment (`CUSTOMER_SECRETS_KEY`), a random nonce per secret, and the customer's id as
//! associated data, so that a ciphertext copied onto another customer's row does not open. Stored
//! as `nonce || ciphertext`.

use std::fmt;
use std::str::FromStr;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;

/// A secret value: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// A comma-separated list of secrets (`SHOP_API_KEYS`). Parsing never fails, so that a wrong
/// value is never echoed back by the argument parser; `Config::validate` checks the keys and
/// names them by position only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretList(pub Vec<Secret>);

impl FromStr for SecretList {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretList(
            s.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(Secret::new)
                .collect(),
        ))
    }
}

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
