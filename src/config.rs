//! Every setting of `uitpas-checkout`, read once at start from the environment (or the same-named
//! command-line flags), validated, with secrets wrapped so that they never print.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

pub use crate::secrets::{Secret, SecretList};
use crate::uitpas::publiq::{self, Environment};

/// The shortest shop API key accepted.
pub const MIN_SHOP_KEY_LEN: usize = 16;

/// A comma-separated list of browser origins allowed by CORS (`PUBLIC_ORIGINS`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins(pub Vec<String>);

impl FromStr for Origins {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut origins = Vec::new();
        for origin in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if origin == "*" {
                origins.push(origin.to_owned());
                continue;
            }
            let trimmed = origin.trim_end_matches('/');
            let host = trimmed
                .strip_prefix("https://")
                .or_else(|| trimmed.strip_prefix("http://"));
            let ok = host.is_some_and(|h| !h.is_empty() && !h.contains(['/', '?', '#']));
            if !ok {
                return Err(format!("{origin:?} is not an origin like https://shop.example"));
            }
            origins.push(origin.trim_end_matches('/').to_owned());
        }
        Ok(Origins(origins))
    }
}

/// A duration written as seconds (`90`) or with a unit: `500ms`, `30s`, `15m`, `24h`, `1d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{s:?} is not a duration like 30s, 15m, 24h or 1d"))?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "" | "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            _ => return Err(format!("{s:?} has an unknown unit (ms, s, m, h or d)")),
        };
        Ok(HumanDuration(d))
    }
}

/// The time of day of the daily reconciliation (`RECONCILE_AT`), in UTC; `None`: off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconcileAt(pub Option<chrono::NaiveTime>);

impl FromStr for ReconcileAt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(ReconcileAt(None));
        }
        chrono::NaiveTime::parse_from_str(s, "%H:%M")
            .map(|t| ReconcileAt(Some(t)))
            .map_err(|_| format!("{s:?} is not a time like 03:00 (UTC) or off"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    Development,
    Production,
}

/// uitpas-checkout: UiTPAS discounts for a webshop's checkout.
///
/// Every setting is read from the environment variable named beside it (a flag of the same name
/// wins). With no UITPAS_CLIENT_ID the service starts the offline UiTPAS sandbox in-process and
/// uses it; with no SHOP_API_KEYS it makes a development key and prints it once. Production
/// (APP_ENV=production) refuses both.
#[derive(Clone, Debug, Parser)]
#[command(name = "uitpas-checkout", version)]
pub struct Config {
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,

    /// PostgreSQL connection URL; the database is created if missing and migrated at start.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/uitpas_checkout",
        hide_env_values = true
    )]
    pub database_url: Secret,

    /// UiTPAS API 4.0 base URL (production: https://api.uitpas.be).
    #[arg(long, env = "UITPAS_BASE_URL", default_value = "https://api-test.uitpas.be")]
    pub uitpas_base_url: String,

    /// publiq's token URL (client credentials; production:
    /// https://account.uitid.be/realms/uitid/protocol/openid-connect/token).
    #[arg(
        long,
        env = "UITPAS_TOKEN_URL",
        default_value = "https://account-test.uitid.be/realms/uitid/protocol/openid-connect/token"
    )]
    pub uitpas_token_url: String,

    /// UiTdatabank Entry API base URL (production: https://io.uitdatabank.be).
    #[arg(long, env = "UITDATABANK_BASE_URL", default_value = "https://io-test.uitdatabank.be")]
    pub uitdatabank_base_url: String,

    /// publiq client id (client-credentials grant). Absent: the embedded sandbox is used.
    #[arg(long, env = "UITPAS_CLIENT_ID")]
    pub uitpas_client_id: Option<String>,

    /// publiq client secret.
    #[arg(long, env = "UITPAS_CLIENT_SECRET", hide_env_values = true)]
    pub uitpas_client_secret: Option<Secret>,

    /// Comma-separated secret keys of the shop backend (at least 16 characters each). Absent: a
    /// development key is made and printed once.
    #[arg(long, env = "SHOP_API_KEYS", hide_env_values = true)]
    pub shop_api_keys: Option<SecretList>,

    /// Comma-separated publishable keys of the default customer's browser checkout (public
    /// endpoints only; at least 16 characters each). In production a public request needs one (or
    /// a checkout token).
    #[arg(long, env = "PUBLISHABLE_KEYS", hide_env_values = true)]
    pub publishable_keys: Option<SecretList>,

    /// Comma-separated secret keys of the admin API (/admin/v1: customers, their keys and
    /// credentials; at least 16 characters each). Absent: no admin API.
    #[arg(long, env = "ADMIN_KEYS", hide_env_values = true)]
    pub admin_keys: Option<SecretList>,

    /// The key that encrypts the customers' publiq client secrets and webhook secrets in
    /// PostgreSQL: 64 hexadecimal characters (32 bytes), e.g. `openssl rand -hex 32`. Needed once
    /// a customer is added through the admin API; keep it in a secret store, never in the database.
    #[arg(long, env = "CUSTOMER_SECRETS_KEY", hide_env_values = true)]
    pub customer_secrets_key: Option<Secret>,

    /// The key the customers' secrets were sealed with before CUSTOMER_SECRETS_KEY (a rotation):
    /// at start every secret that opens only with it is sealed again with CUSTOMER_SECRETS_KEY.
    /// Remove it once every replica runs with the new key.
    #[arg(long, env = "CUSTOMER_SECRETS_KEY_PREVIOUS", hide_env_values = true)]
    pub customer_secrets_key_previous: Option<Secret>,

    /// Start even when CUSTOMER_SECRETS_KEY cannot open some customers' stored secrets (sealed
    /// with another key): those customers are refused (503) and listed by the admin API as
    /// `sealed-with-another-key` until they are given new credentials. Off: such a start fails,
    /// naming them.
    #[arg(long, env = "START_WITH_SEALED_CUSTOMERS", default_value_t = false, action = clap::ArgAction::Set)]
    pub start_with_sealed_customers: bool,

    /// How often every customer's organizers and permissions are read again from UiTPAS
    /// (`GET /permissions`; also at start and on demand through the admin API).
    #[arg(long, env = "PERMISSIONS_REFRESH", default_value = "1h")]
    pub permissions_refresh: HumanDuration,

    /// Where the shop's backend receives webhooks (every outcome that settles after the answer).
    /// Absent: no webhooks.
    #[arg(long, env = "WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// The secret that signs webhooks (at least 16 characters); two, comma-separated, while it is
    /// rotated (each signs: the receiver may verify with either).
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<SecretList>,

    /// Whether webhooks may go to private targets: plain http, loopback, private and link-local
    /// addresses (checked when the URL is given and again at each delivery, on the address
    /// connected to). Default: true in development (local receivers), false in production.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE_TARGETS", action = clap::ArgAction::Set)]
    pub webhook_allow_private_targets: Option<bool>,

    /// How long the webhook receiver has to answer; a delivery not answered in time is retried.
    #[arg(long, env = "WEBHOOK_TIMEOUT", default_value = "5s")]
    pub webhook_timeout: HumanDuration,

    /// After this many attempts that did not deliver it, a webhook event is given up: listed as
    /// `failed`, retried only when someone asks (the console, or
    /// `POST /v1/webhook-deliveries/{id}/retry`). With REPLAY_MAX_DELAY=5m, 1000 attempts take
    /// about 3½ days.
    #[arg(long, env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 1000, value_parser = clap::value_parser!(i32).range(1..))]
    pub webhook_max_attempts: i32,

    /// Comma-separated browser origins allowed to call the public endpoints (CORS).
    #[arg(long, env = "PUBLIC_ORIGINS", default_value = "")]
    pub public_origins: Origins,

    /// How long a pass's social-tariff status is cached (e.g. 1d, 12h, 300s).
    #[arg(long, env = "PASS_CACHE_TTL", default_value = "1d")]
    pub pass_cache_ttl: HumanDuration,

    /// Public requests per second allowed per client address (an IPv4 address, or an IPv6 /64),
    /// and per checkout token minted without a rate of its own, in bursts of twice that; a quote
    /// counts one per call it makes to UiTPAS. A request with a checkout token counts against the
    /// token only, not its address. 0 turns the limit off.
    #[arg(long, env = "PUBLIC_RATE_LIMIT", default_value_t = 5)]
    pub public_rate_limit: u32,

    /// The highest rate (requests per second, in bursts of twice that) a shop may give a checkout
    /// token it mints (`rateLimit`), so that buyers behind one address each have a budget of
    /// their own. 0: shops may not choose (every token gets PUBLIC_RATE_LIMIT).
    #[arg(long, env = "CHECKOUT_TOKEN_MAX_RATE_LIMIT", default_value_t = 50)]
    pub checkout_token_max_rate_limit: u32,

    /// Public requests per second allowed per publishable key (all browsers of one shop
    /// together), in bursts of twice that; 0 turns this limit off.
    #[arg(long, env = "PUBLISHABLE_KEY_RATE_LIMIT", default_value_t = 500)]
    pub publishable_key_rate_limit: u32,

    /// Pass lookups at the door (`GET /v1/door/passes`, `GET /v1/ticket-sales/{id}/checkin-status`)
    /// allowed per minute per customer (all its secret keys together; per replica), in bursts of
    /// a sixth of that: a door scans a person every few seconds. 0 turns the limit off.
    #[arg(long, env = "DOOR_RATE_LIMIT", default_value_t = 60)]
    pub door_rate_limit: u32,

    /// Behind a proxy: the header in which it puts the client's address (e.g. x-forwarded-for,
    /// whose last address is taken, or x-real-ip), so the rate limit counts per browser. Only set
    /// it when every request comes through that proxy.
    #[arg(long, env = "CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,

    /// Most client connections served at once; more wait in the listen backlog until one
    /// closes. Each may also hold a connection to UiTPAS, so keep it under half the open-file
    /// limit (`ulimit -n`): the default suits the common limit of 1024.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 448)]
    pub max_connections: usize,

    /// How long a client has to send a request's headers (a connection that sends them slower,
    /// or stays idle between requests longer, is closed).
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "5s")]
    pub header_read_timeout: HumanDuration,

    /// How long the largest request body (64 KiB) may take to arrive after its headers; a body
    /// of n bytes gets max(n, 8 KiB) / 64 KiB of it. A later one is answered 408.
    #[arg(long, env = "BODY_READ_TIMEOUT", default_value = "10s")]
    pub body_read_timeout: HumanDuration,

    /// Timeout of one call to UiTPAS or UiTdatabank (connecting included).
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "10s")]
    pub upstream_timeout: HumanDuration,

    /// How long one attempt to register or cancel at UiTPAS may hold its job before another
    /// replica may take it over (must exceed UPSTREAM_TIMEOUT).
    #[arg(long, env = "REPLAY_LEASE", default_value = "60s")]
    pub replay_lease: HumanDuration,

    /// How long after a registration was sent without a clear answer UiTPAS may still commit it.
    /// Within this window the worker only looks at UiTPAS (adopting the sales it finds) and never
    /// sends the registration again; make it longer than UiTPAS ever takes to answer.
    #[arg(long, env = "SETTLE_WINDOW", default_value = "2m")]
    pub settle_window: HumanDuration,

    /// How long a hold before payment lasts when the request does not say (`hold.expiresIn`):
    /// a hold not confirmed by then is released and its sales cancelled at UiTPAS.
    #[arg(long, env = "HOLD_TTL", default_value = "15m")]
    pub hold_ttl: HumanDuration,

    /// The longest wait between two retries of a registration or cancellation (the first is
    /// about a second, then it doubles).
    #[arg(long, env = "REPLAY_MAX_DELAY", default_value = "5m")]
    pub replay_max_delay: HumanDuration,

    /// How often the replay worker looks for due work.
    #[arg(long, env = "REPLAY_POLL_INTERVAL", default_value = "1s")]
    pub replay_poll_interval: HumanDuration,

    /// Comma-separated secret keys that log an operator in to the console at /console (at least 16
    /// characters each). Absent: a development key is made and printed once; in production the
    /// console is off.
    #[arg(long, env = "OPERATOR_KEYS", hide_env_values = true)]
    pub operator_keys: Option<SecretList>,

    /// When the daily reconciliation with UiTPAS runs, as HH:MM in UTC; `off` turns it off.
    #[arg(long, env = "RECONCILE_AT", default_value = "03:00")]
    pub reconcile_at: ReconcileAt,

    /// The most calls to UiTPAS one reconciliation run makes (pages of 500 sales).
    #[arg(long, env = "RECONCILE_MAX_CALLS", default_value_t = 200)]
    pub reconcile_max_calls: u32,

    /// Log format: json (one object per line) or pretty.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// development or production; production refuses to start on the sandbox or without keys.
    #[arg(long, env = "APP_ENV", value_enum, default_value_t = AppEnv::Development)]
    pub app_env: AppEnv,
}

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
    /// publiq's environment of the configured hosts (of `UITPAS_BASE_URL`), `None` for other hosts
    /// (a sandbox).
    pub fn publiq_environment(&self) -> Option<Environment> {
        publiq::environment_of_url(&self.uitpas_base_url)
    }

    /// Whether webhooks may go to private targets (WEBHOOK_ALLOW_PRIVATE_TARGETS, by default only
    /// in development).
    pub fn webhooks_allow_private_targets(&self) -> bool {
        self.webhook_allow_private_targets
            .unwrap_or(self.app_env != AppEnv::Production)
    }

    /// Whether the embedded sandbox stands in for UiTPAS (no client id configured).
    pub fn uses_sandbox(&self) -> bool {
        self.uitpas_client_id.as_deref().is_none_or(|id| id.trim().is_empty())
    }

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
            let short: Vec<String> = (1..=keys.0.len())
                .filter(|i| keys.0[i - 1].expose().len() < MIN_SHOP_KEY_LEN)
                .map(|i| i.to_string())
                .collect();
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
            let short: Vec<String> = (1..=keys.0.len())
                .filter(|i| keys.0[i - 1].expose().len() < MIN_SHOP_KEY_LEN)
                .map(|i| i.to_string())
                .collect();
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

    /// A configuration for tests: every default, on a free port, against the embedded sandbox.
    pub fn for_tests(database_url: &str) -> Self {
        let mut config = Config::parse_from(["uitpas-checkout"]);
        config.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.database_url = Secret::new(database_url);
        config.uitpas_client_id = None;
        config.uitpas_client_secret = None;
        config.shop_api_keys = None;
        config.publishable_keys = None;
        config.admin_keys = None;
        config.customer_secrets_key = None;
        config.customer_secrets_key_previous = None;
        config.start_with_sealed_customers = false;
        config.webhook_allow_private_targets = None;
        config.operator_keys = None;
        config.public_origins = Origins::default();
        config.public_rate_limit = 0;
        // A test runs a reconciliation when it wants one: no daily run catching up at start.
        config.reconcile_at = ReconcileAt(None);
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_and_without_units() {
        assert_eq!("90".parse::<HumanDuration>().unwrap().0, Duration::from_secs(90));
        assert_eq!("1d".parse::<HumanDuration>().unwrap().0, Duration::from_secs(86_400));
        assert_eq!("250ms".parse::<HumanDuration>().unwrap().0, Duration::from_millis(250));
        assert!("1w".parse::<HumanDuration>().is_err());
        assert!("soon".parse::<HumanDuration>().is_err());
    }

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
    fn origins_must_be_origins() {
        let o: Origins = "https://shop.example, http://localhost:3000/".parse().unwrap();
        assert_eq!(o.0, ["https://shop.example", "http://localhost:3000"]);
        assert!("https://shop.example/checkout".parse::<Origins>().is_err());
        assert!("shop.example".parse::<Origins>().is_err());
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
