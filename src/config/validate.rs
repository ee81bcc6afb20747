//! What a configuration must satisfy beyond its types: secrets long enough, settings that go
//! together, publiq's environments never mixed, production's rules. Every problem is reported.

use std::fmt;
use std::time::Duration;

use super::{AppEnv, Config, MIN_SHOP_KEY_LEN, SecretList};
use crate::uitpas::publiq::{self, Environment};

/// Every problem of a configuration, one sentence each (none quotes a secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblems(pub Vec<String>);

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for ConfigProblems {}

impl Config {
    /// Checks what cannot be said with a type: secrets, production settings, pairs of settings.
    /// Every problem is reported, not only the first; none quotes a secret.
    pub fn validate(&self) -> Result<(), ConfigProblems> {
        let mut problems = Vec::new();
        let has_secret = self
            .uitpas_client_secret
            .as_ref()
            .is_some_and(|s| !s.expose().trim().is_empty());
        if !self.uses_sandbox() && !has_secret {
            problems.push("UITPAS_CLIENT_ID is set but UITPAS_CLIENT_SECRET is not".to_owned());
        }
        if self.uses_sandbox() && has_secret {
            problems.push(
                "UITPAS_CLIENT_SECRET is set but UITPAS_CLIENT_ID is not (without it the embedded sandbox would be used)"
                    .to_owned(),
            );
        }
        if let Some(keys) = &self.shop_api_keys {
            let short = too_short(keys);
            if !short.is_empty() {
                problems.push(format!(
                    "SHOP_API_KEYS: every key needs at least {MIN_SHOP_KEY_LEN} characters (too short: {} {} of {})",
                    if short.len() == 1 { "key" } else { "keys" },
                    short.join(", "),
                    keys.0.len()
                ));
            }
        }
        match (&self.webhook_url, &self.webhook_secret) {
            (Some(url), secrets) => {
                // The problem never quotes the URL: it may hold credentials.
                if let Err(e) = crate::webhooks::target::check_setting(url, self.webhooks_allow_private_targets()) {
                    problems.push(format!("WEBHOOK_URL {e}"));
                }
                let secrets = secrets.as_ref().map_or(&[][..], |s| s.0.as_slice());
                if secrets.is_empty() || secrets.len() > 2 {
                    problems.push("WEBHOOK_URL needs WEBHOOK_SECRET: one secret, or two while rotating".to_owned());
                } else if secrets.iter().any(|s| s.expose().len() < MIN_SHOP_KEY_LEN) {
                    problems.push(format!(
                        "WEBHOOK_SECRET: every secret needs at least {MIN_SHOP_KEY_LEN} characters"
                    ));
                }
            }
            (None, Some(_)) => problems.push("WEBHOOK_SECRET is set but WEBHOOK_URL is not".to_owned()),
            (None, None) => {}
        }
        for (name, keys) in [
            ("PUBLISHABLE_KEYS", &self.publishable_keys),
            ("ADMIN_KEYS", &self.admin_keys),
        ] {
            if let Some(keys) = keys
                && keys.0.iter().any(|k| k.expose().len() < MIN_SHOP_KEY_LEN)
            {
                problems.push(format!(
                    "{name}: every key needs at least {MIN_SHOP_KEY_LEN} characters"
                ));
            }
        }
        if let Some(key) = &self.customer_secrets_key
            && crate::secrets::SecretsKey::from_hex(key.expose()).is_err()
        {
            problems
                .push("CUSTOMER_SECRETS_KEY must be 64 hexadecimal characters (32 bytes): openssl rand -hex 32".into());
        }
        if let Some(key) = &self.customer_secrets_key_previous {
            if crate::secrets::SecretsKey::from_hex(key.expose()).is_err() {
                problems.push("CUSTOMER_SECRETS_KEY_PREVIOUS must be 64 hexadecimal characters (32 bytes)".into());
            }
            if self.customer_secrets_key.is_none() {
                problems.push("CUSTOMER_SECRETS_KEY_PREVIOUS is set but CUSTOMER_SECRETS_KEY is not".into());
            }
        }
        if self.permissions_refresh.0 < Duration::from_secs(60) {
            problems.push("PERMISSIONS_REFRESH must be at least 60s".into());
        }
        if let Some(keys) = &self.operator_keys {
            let short = too_short(keys);
            if !short.is_empty() {
                problems.push(format!(
                    "OPERATOR_KEYS: every key needs at least {MIN_SHOP_KEY_LEN} characters (too short: {} of {})",
                    short.join(", "),
                    keys.0.len()
                ));
            }
        }
        if self.reconcile_max_calls == 0 {
            problems.push("RECONCILE_MAX_CALLS must be more than 0".into());
        }
        // The URL may hold a password: the problem never quotes it, not even its scheme.
        match reqwest::Url::parse(self.database_url.expose()) {
            Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") => {}
            Ok(_) => problems.push(
                "DATABASE_URL is not a PostgreSQL URL: it must start with postgres:// or postgresql://".to_owned(),
            ),
            Err(e) => problems.push(format!(
                "DATABASE_URL is not a URL like postgres://user@host:5432/database ({e})"
            )),
        }
        let mut on_test = Vec::new();
        let mut on_production = Vec::new();
        for (name, url) in [
            ("UITPAS_BASE_URL", &self.uitpas_base_url),
            ("UITPAS_TOKEN_URL", &self.uitpas_token_url),
            ("UITDATABANK_BASE_URL", &self.uitdatabank_base_url),
        ] {
            let Ok(parsed) = reqwest::Url::parse(url) else {
                problems.push(format!("{name} is not an http(s) URL: {url:?}"));
                continue;
            };
            if !matches!(parsed.scheme(), "http" | "https") {
                problems.push(format!("{name} is not an http(s) URL: {url:?}"));
                continue;
            }
            match publiq::environment_of_host(parsed.host_str().unwrap_or_default()) {
                Some(Environment::Test) => on_test.push(name),
                Some(Environment::Production) => on_production.push(name),
                None => {}
            }
        }
        if self.app_env == AppEnv::Production {
            for name in &on_test {
                let production_url = publiq::PUBLIQ_HOSTS
                    .iter()
                    .find(|h| h.setting == *name)
                    .map_or("", |h| h.production_url);
                problems.push(format!(
                    "{name} is publiq's test environment, which APP_ENV=production refuses (production: {production_url})"
                ));
            }
        } else if !on_test.is_empty() && !on_production.is_empty() {
            problems.push(format!(
                "publiq's test and production environments are mixed: {} on test, {} on production; use one",
                on_test.join(", "),
                on_production.join(", ")
            ));
        }
        if self.pass_cache_ttl.0.is_zero() {
            problems.push("PASS_CACHE_TTL must be more than 0".into());
        }
        if self.database_pool_size == 0 {
            problems.push("DATABASE_POOL_SIZE must be more than 0".into());
        }
        if self.upstream_timeout.0.is_zero() {
            problems.push("UPSTREAM_TIMEOUT must be more than 0".into());
        }
        if self.max_connections == 0 || self.header_read_timeout.0.is_zero() || self.body_read_timeout.0.is_zero() {
            problems.push("MAX_CONNECTIONS, HEADER_READ_TIMEOUT and BODY_READ_TIMEOUT must be more than 0".into());
        }
        if self.replay_lease.0 <= self.upstream_timeout.0 {
            problems.push("REPLAY_LEASE must be longer than UPSTREAM_TIMEOUT".into());
        }
        if self.hold_ttl.0.is_zero() || self.hold_ttl.0 > Duration::from_secs(7200) {
            problems.push("HOLD_TTL must be more than 0 and at most 2h".into());
        }
        if self.settle_window.0 <= self.upstream_timeout.0 {
            problems.push("SETTLE_WINDOW must be longer than UPSTREAM_TIMEOUT".into());
        }
        if self.replay_poll_interval.0.is_zero() || self.replay_max_delay.0.is_zero() {
            problems.push("REPLAY_POLL_INTERVAL and REPLAY_MAX_DELAY must be more than 0".into());
        }
        if self.app_env == AppEnv::Production {
            if self.uses_sandbox() {
                problems.push(
                    "APP_ENV=production needs UITPAS_CLIENT_ID and UITPAS_CLIENT_SECRET (it never runs on the sandbox)"
                        .into(),
                );
            }
            if self.shop_api_keys.as_ref().is_none_or(|k| k.0.is_empty()) {
                problems.push("APP_ENV=production needs SHOP_API_KEYS".into());
            }
            if self.public_origins.0.iter().any(|o| o == "*") {
                problems.push("APP_ENV=production does not allow PUBLIC_ORIGINS=*".into());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigProblems(problems))
        }
    }
}

/// The positions (from 1) of the keys shorter than [`MIN_SHOP_KEY_LEN`] (never the keys).
fn too_short(keys: &SecretList) -> Vec<String> {
    (1..=keys.0.len())
        .filter(|i| keys.0[i - 1].expose().len() < MIN_SHOP_KEY_LEN)
        .map(|i| i.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2-hunter2-hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        let keys: SecretList = "aaaaaaaaaaaaaaaa1,bbbbbbbbbbbbbbbb2".parse().unwrap();
        assert_eq!(keys.0.len(), 2);
        assert!(!format!("{keys:?}").contains("aaaa"));
        let mut c = Config::for_tests("postgres://x@127.0.0.1/db");
        c.shop_api_keys = Some("aaaaaaaaaaaaaaaa1,short-secret".parse().unwrap());
        let problems = c.validate().unwrap_err().to_string();
        assert!(
            problems.contains("SHOP_API_KEYS") && problems.contains("key 2 of 2"),
            "{problems}"
        );
        assert!(
            !problems.contains("short-secret") && !problems.contains("aaaa"),
            "{problems}"
        );
    }

    #[test]
    fn production_refuses_the_sandbox_and_missing_keys() {
        let mut c = Config::for_tests("postgres://x@127.0.0.1/db");
        assert!(c.validate().is_ok());
        c.app_env = AppEnv::Production;
        assert!(c.validate().unwrap_err().to_string().contains("UITPAS_CLIENT_ID"));
        c.uitpas_client_id = Some("id".into());
        c.uitpas_client_secret = Some(Secret::new("secret"));
        let problems = c.validate().unwrap_err();
        assert!(problems.to_string().contains("SHOP_API_KEYS"), "{problems}");
        // The defaults are publiq's test environment: one problem each.
        assert_eq!(problems.0.len(), 4, "{problems}");
        c.shop_api_keys = Some("0123456789abcdef".parse().unwrap());
        c.uitpas_base_url = "https://api.uitpas.be".into();
        c.uitpas_token_url = "https://account.uitid.be/oauth/token".into();
        c.uitdatabank_base_url = "https://io.uitdatabank.be/".into();
        assert!(c.validate().is_ok(), "{:?}", c.validate());
    }

    #[test]
    fn test_and_production_hosts_never_mix() {
        let mut c = Config::for_tests("postgres://x@127.0.0.1/db");
        c.uitpas_base_url = "https://api.uitpas.be".into();
        let problems = c.validate().unwrap_err().to_string();
        assert!(problems.contains("mixed"), "{problems}");
        assert!(problems.contains("UITPAS_BASE_URL on production"), "{problems}");
        c.uitpas_base_url = "http://127.0.0.1:9090".into();
        assert!(c.validate().is_ok(), "a local sandbox mixes with either");
    }

    #[test]
    fn a_database_url_must_be_postgres_and_is_never_quoted() {
        let mut c = Config::for_tests("mysql://root:hunter2-secret@127.0.0.1:3306/shop");
        let problems = c.validate().unwrap_err().to_string();
        assert!(problems.contains("DATABASE_URL"), "{problems}");
        assert!(
            !problems.contains("hunter2") && !problems.contains("mysql"),
            "{problems}"
        );
        c.database_url = Secret::new("postgresql://u:pw@db.internal/app?sslmode=require");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_client_id_without_secret_is_refused() {
        let mut c = Config::for_tests("postgres://x@127.0.0.1/db");
        c.uitpas_client_id = Some("id".into());
        assert!(c.validate().is_err());
        c.uitpas_client_id = None;
        c.uitpas_client_secret = Some(Secret::new("secret"));
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("UITPAS_CLIENT_ID is not")
        );
    }
}
