//! The console's login: an operator key (`OPERATOR_KEYS`) buys a session, stored in PostgreSQL.
//!
//! The cookie holds 244 random bits (two v4 UUIDs); the table holds only their SHA-256, so a copy
//! of it logs nobody in. The cookie is `HttpOnly`, `SameSite=Strict`, scoped to `/console`, and
//! `Secure` unless the console is reached over plain http on a loopback address. Every form POST
//! carries the session's CSRF token, and a POST whose `Origin` is another site is refused.
//!
//! Logins are throttled ([`super::throttle::LoginThrottle`]) per client address and for all
//! addresses together, before the form's body is read.

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use cookie::time::Duration;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::secrets::Secret;

/// The session cookie's name.
pub const COOKIE: &str = "uc_console";
/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;

/// A logged-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: String,
    /// The operator key the session was made with, as [`operator_hint`] names it in logs.
    pub operator: String,
}

/// How logs name an operator key: the first 8 hexadecimal digits of its SHA-256, which an
/// operator can compute from their key (`printf %s "$KEY" | sha256sum`) but which tells nothing
/// of the key itself.
pub fn operator_hint(key: &Secret) -> String {
    format!("sha256:{}", &hash(key.expose())[..8])
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key `given` is, compared in constant time per key and with every key, so timing tells
/// nothing.
pub fn key_matches<'k>(keys: &'k [Secret], given: &str) -> Option<&'k Secret> {
    keys.iter().fold(None, |found, key| {
        let equal = constant_time_eq(key.expose().as_bytes(), given.as_bytes());
        if equal { Some(key) } else { found }
    })
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Starts a session made with the operator key `key`: returns the cookie's token.
pub async fn create(db: &PgPool, key: &Secret) -> sqlx::Result<String> {
    let token = random_token();
    // Sessions that ended are cleared now and then, by the logins.
    sqlx::query!("DELETE FROM console_sessions WHERE expires_at < now()")
        .execute(db)
        .await?;
    sqlx::query!(
        "INSERT INTO console_sessions (token_hash, csrf_token, key_hash, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(hours => $4))",
        hash(&token),
        random_token(),
        hash(key.expose()),
        i32::try_from(SESSION_HOURS).unwrap_or(12)
    )
    .execute(db)
    .await?;
    Ok(token)
}

/// The session of this request's cookie, if it is valid: unexpired, and made with one of `keys`
/// (a session whose key was removed from `OPERATOR_KEYS` is ended here).
pub async fn session(db: &PgPool, headers: &HeaderMap, keys: &[Secret]) -> sqlx::Result<Option<Session>> {
    let Some(token) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let token_hash = hash(&token);
    let found = sqlx::query!(
        "SELECT csrf_token, key_hash FROM console_sessions WHERE token_hash = $1 AND expires_at > now()",
        token_hash
    )
    .fetch_optional(db)
    .await?;
    let Some((csrf, key_hash)) = found.map(|r| (r.csrf_token, r.key_hash)) else {
        return Ok(None);
    };
    match keys.iter().find(|k| hash(k.expose()) == key_hash) {
        Some(key) => Ok(Some(Session {
            csrf,
            operator: operator_hint(key),
        })),
        None => {
            sqlx::query!("DELETE FROM console_sessions WHERE token_hash = $1", token_hash)
                .execute(db)
                .await?;
            tracing::info!(
                operator = %format!("sha256:{}", &key_hash[..8.min(key_hash.len())]),
                "console: a session ended, its operator key is no longer in OPERATOR_KEYS"
            );
            Ok(None)
        }
    }
}

/// Ends the session of this request's cookie.
pub async fn end(db: &PgPool, headers: &HeaderMap) -> sqlx::Result<()> {
    if let Some(token) = cookie(headers, COOKIE) {
        sqlx::query!("DELETE FROM console_sessions WHERE token_hash = $1", hash(&token))
            .execute(db)
            .await?;
    }
    Ok(())
}

/// A cookie's value.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers).get(name).map(|c| c.value().to_owned())
}

/// Whether the request reached us over plain http on a loopback address (`Host` is 127.0.0.1,
/// ::1 or localhost, and no proxy says https): only there is the cookie sent without `Secure`.
pub fn loopback_http(headers: &HeaderMap) -> bool {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    !https && matches!(name, "127.0.0.1" | "::1" | "localhost")
}

/// The session's cookie: `HttpOnly`, `SameSite=Strict`, scoped to `/console`, and `Secure`
/// unless the console is reached over plain http on a loopback address.
pub fn set_cookie(token: &str, headers: &HeaderMap) -> Cookie<'static> {
    Cookie::build((COOKIE, token.to_owned()))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(Duration::hours(SESSION_HOURS))
        .secure(!loopback_http(headers))
        .build()
}

/// The cookie that ends a session in the browser.
pub fn clear_cookie(headers: &HeaderMap) -> Cookie<'static> {
    let mut cookie = set_cookie("", headers);
    cookie.set_max_age(Duration::ZERO);
    cookie
}

/// The language's cookie, for a year (not a secret: readable, not `HttpOnly`).
pub fn lang_cookie(name: &'static str, code: &'static str) -> Cookie<'static> {
    Cookie::build((name, code))
        .path("/console")
        .same_site(SameSite::Strict)
        .max_age(Duration::days(365))
        .build()
}

/// A POST from another site: its `Origin` (or, without one, `Sec-Fetch-Site`) says so.
pub fn cross_site(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .unwrap_or("\u{0}");
        return origin_host != host;
    }
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v != "same-origin" && v != "none")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_cookie_is_secure_except_on_loopback_http() {
        let local = headers(&[("host", "127.0.0.1:8080")]);
        let text = |c: Cookie<'static>| c.to_string();
        assert!(!text(set_cookie("t", &local)).contains("Secure"));
        assert!(text(set_cookie("t", &local)).contains("HttpOnly; SameSite=Strict"));
        assert!(text(set_cookie("t", &local)).contains("Path=/console"));
        assert!(text(clear_cookie(&local)).contains("Max-Age=0"));
        let proxied = headers(&[("host", "localhost"), ("x-forwarded-proto", "https")]);
        assert!(text(set_cookie("t", &proxied)).contains("; Secure"));
        let remote = headers(&[("host", "console.shop.example")]);
        assert!(text(set_cookie("t", &remote)).contains("; Secure"));
    }

    #[test]
    fn a_post_from_another_site_is_told_apart() {
        assert!(cross_site(&headers(&[
            ("host", "a.example"),
            ("origin", "https://evil.example")
        ])));
        assert!(!cross_site(&headers(&[
            ("host", "a.example"),
            ("origin", "https://a.example")
        ])));
        assert!(cross_site(&headers(&[
            ("host", "a.example"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!cross_site(&headers(&[("host", "a.example")])));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let h = headers(&[("cookie", "a=1; uc_console=tok; b=2")]);
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(key_matches(&[Secret::new("0123456789abcdef")], "0123456789abcdef").is_some());
        assert!(key_matches(&[Secret::new("0123456789abcdef")], "0123456789abcdeg").is_none());
    }
}
