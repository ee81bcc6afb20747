//! Every setting of `uitpas-checkout`, read once at start from the environment (or the same-named
//! command-line flags), validated, with secrets wrapped so that they never print.
//!
//! [`values`] reads the settings' own kinds (durations, origins, times of day), [`validate`] checks
//! what no type can say.

mod validate;
mod values;

use std::net::SocketAddr;

use clap::Parser;

pub use crate::secrets::{Secret, SecretList};
use crate::uitpas::publiq::{self, Environment};
pub use validate::ConfigProblems;
pub use values::{AppEnv, HumanDuration, LogFormat, Origins, ReconcileAt};

/// The shortest shop API key accepted.
pub const MIN_SHOP_KEY_LEN: usize = 16;

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

    /// Most PostgreSQL connections this replica opens (size PostgreSQL's `max_connections` for
    /// replicas × (this + 1)).
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: u32,

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

    /// Points balances told per minute per customer (`GET /v1/rewards/{id}/redeem-status`, and
    /// each quote with `rewards: true`, whatever key or token asks; per replica), in bursts of a
    /// sixth of that. 0 turns the limit off.
    #[arg(long, env = "REWARDS_RATE_LIMIT", default_value_t = 60)]
    pub rewards_rate_limit: u32,

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
