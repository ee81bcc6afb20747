//! Checking a delivery's signature, as a shop's receiver must: the other half of
//! [`signature`](super::signature), for the tests, the fault campaign (`chaos/`) and any Rust
//! receiver.
//!
//! The header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">[,v1=…]` (one `v1` per
//! secret of the sender while it rotates). A delivery verifies when some `v1` is the signature of
//! the raw body with one of the receiver's secrets, compared in constant time, and `t` is within
//! `tolerance` of `now` (either way: an old delivery replayed, or a clock far off).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secrets::Secret;

/// Why a delivery does not verify. Never carries a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// No `t=`, or more than one.
    NoTimestamp,
    /// `t=` is not a number of seconds.
    BadTimestamp,
    /// `t` is further from `now` than the tolerance, by this many seconds (negative: in the future).
    OutsideTolerance { age_seconds: i64 },
    /// No `v1=` at all.
    NoSignature,
    /// No `v1` is the body's signature with any of the secrets.
    Mismatch,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::NoTimestamp => f.write_str("the signature header has no single t="),
            Invalid::BadTimestamp => f.write_str("the signature header's t= is not a number of seconds"),
            Invalid::OutsideTolerance { age_seconds } => {
                write!(
                    f,
                    "the signature's timestamp is {age_seconds} s old, outside the tolerance"
                )
            }
            Invalid::NoSignature => f.write_str("the signature header has no v1="),
            Invalid::Mismatch => f.write_str("no v1= is the body's signature with the secret"),
        }
    }
}

impl std::error::Error for Invalid {}

/// Verifies a delivery: `header` is the value of `Uitpas-Checkout-Signature`
/// ([`SIGNATURE_HEADER`](super::SIGNATURE_HEADER)), `body` the raw body as received (before any
/// JSON parsing). The signed timestamp when it verifies.
pub fn verify(
    secrets: &[Secret],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<DateTime<Utc>, Invalid> {
    let mut timestamp = None;
    let mut timestamps = 0;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamps += 1;
                timestamp = Some(value.trim());
            }
            Some(("v1", value)) => signatures.push(value.trim()),
            // Other schemes (a later v2, …) are for other receivers.
            _ => {}
        }
    }
    let t = match (timestamp, timestamps) {
        (Some(t), 1) => t,
        _ => return Err(Invalid::NoTimestamp),
    };
    let seconds: i64 = t.parse().map_err(|_| Invalid::BadTimestamp)?;
    let signed_at = DateTime::<Utc>::from_timestamp(seconds, 0).ok_or(Invalid::BadTimestamp)?;
    let age_seconds = now.timestamp().saturating_sub(seconds);
    if age_seconds.unsigned_abs() > tolerance.as_secs() {
        return Err(Invalid::OutsideTolerance { age_seconds });
    }
    if signatures.is_empty() {
        return Err(Invalid::NoSignature);
    }
    // Not hex, or not 32 bytes: a signature of nothing we sign; it matches nothing.
    let candidates: Vec<Vec<u8>> = signatures.iter().filter_map(|s| from_hex(s)).collect();
    for secret in secrets {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
            continue;
        };
        // The timestamp exactly as it was signed: the header's digits.
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        // `verify_slice` compares in constant time.
        if candidates.iter().any(|c| mac.clone().verify_slice(c).is_ok()) {
            return Ok(signed_at);
        }
    }
    Err(Invalid::Mismatch)
}

/// The bytes of a hex string of 64 digits (either case); `None` otherwise.
fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::signature;
    use super::*;

    const BODY: &[u8] = br#"{"a":1}"#;
    const T: i64 = 1_700_000_000;
    /// The signature of `BODY` at `T` with `whsec_0123456789abcdef`, checked with openssl (see the
    /// signature's own test).
    const V1: &str = "9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2";
    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    fn secret() -> Secret {
        Secret::new("whsec_0123456789abcdef")
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn a_signature_made_by_signature_verifies_with_its_timestamp() {
        let header = signature(&[secret()], T, BODY);
        assert_eq!(header, format!("t={T},v1={V1}"));
        assert_eq!(verify(&[secret()], &header, BODY, at(T), FIVE_MINUTES), Ok(at(T)));
        // Spaces after the commas, as some proxies write them, and an upper-case signature.
        let spaced = format!("t={T}, v1={}", V1.to_uppercase());
        assert_eq!(verify(&[secret()], &spaced, BODY, at(T + 299), FIVE_MINUTES), Ok(at(T)));
    }

    #[test]
    fn while_secrets_rotate_either_secret_verifies() {
        let next = Secret::new("whsec_fedcba9876543210");
        let header = signature(&[secret(), next.clone()], T, BODY);
        assert_eq!(verify(&[secret()], &header, BODY, at(T), FIVE_MINUTES), Ok(at(T)));
        assert_eq!(
            verify(std::slice::from_ref(&next), &header, BODY, at(T), FIVE_MINUTES),
            Ok(at(T))
        );
        // A receiver that already knows both, and a sender that signs with the new one only.
        let only_next = signature(std::slice::from_ref(&next), T, BODY);
        assert_eq!(
            verify(&[secret(), next], &only_next, BODY, at(T), FIVE_MINUTES),
            Ok(at(T))
        );
    }

    #[test]
    fn another_secret_or_another_body_does_not_verify() {
        let header = signature(&[secret()], T, BODY);
        let other = Secret::new("whsec_not_the_one_0000");
        assert_eq!(
            verify(&[other], &header, BODY, at(T), FIVE_MINUTES),
            Err(Invalid::Mismatch)
        );
        assert_eq!(
            verify(&[secret()], &header, br#"{"a":2}"#, at(T), FIVE_MINUTES),
            Err(Invalid::Mismatch)
        );
        assert_eq!(
            verify(&[], &header, BODY, at(T), FIVE_MINUTES),
            Err(Invalid::Mismatch),
            "no secret verifies nothing"
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = header.replace(&format!("t={T}"), &format!("t={}", T + 1));
        assert_eq!(
            verify(&[secret()], &moved, BODY, at(T), FIVE_MINUTES),
            Err(Invalid::Mismatch)
        );
        // A signature one digit off, a truncated one, one that is not hex.
        let mut off = V1.to_owned();
        off.replace_range(63.., "3");
        for v1 in [off.as_str(), &V1[..62], &"zz".repeat(32)] {
            assert_eq!(
                verify(&[secret()], &format!("t={T},v1={v1}"), BODY, at(T), FIVE_MINUTES),
                Err(Invalid::Mismatch),
                "{v1}"
            );
        }
    }

    #[test]
    fn a_timestamp_outside_the_tolerance_is_refused_either_way() {
        let header = signature(&[secret()], T, BODY);
        assert_eq!(
            verify(&[secret()], &header, BODY, at(T + 300), FIVE_MINUTES),
            Ok(at(T)),
            "the bound itself is inside"
        );
        assert_eq!(
            verify(&[secret()], &header, BODY, at(T + 301), FIVE_MINUTES),
            Err(Invalid::OutsideTolerance { age_seconds: 301 })
        );
        assert_eq!(
            verify(&[secret()], &header, BODY, at(T - 301), FIVE_MINUTES),
            Err(Invalid::OutsideTolerance { age_seconds: -301 })
        );
    }

    #[test]
    fn a_malformed_header_is_named() {
        let check = |header: &str| verify(&[secret()], header, BODY, at(T), FIVE_MINUTES);
        assert_eq!(check(&format!("v1={V1}")), Err(Invalid::NoTimestamp));
        assert_eq!(check(""), Err(Invalid::NoTimestamp));
        assert_eq!(
            check(&format!("t={T},t={T},v1={V1}")),
            Err(Invalid::NoTimestamp),
            "two timestamps are ambiguous"
        );
        assert_eq!(check(&format!("t=soon,v1={V1}")), Err(Invalid::BadTimestamp));
        assert_eq!(check(&format!("t={T}")), Err(Invalid::NoSignature));
        assert_eq!(
            check(&format!("t={T},v0={V1}")),
            Err(Invalid::NoSignature),
            "only v1 is ours"
        );
        // What is said of a refusal never carries the signature.
        assert!(!Invalid::Mismatch.to_string().contains(V1));
    }
}
