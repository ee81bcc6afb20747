//! Start-up: everything `main` and the tests share. [`build`] binds the listener (port 0 works),
//! connects to PostgreSQL, starts the embedded sandbox when no UiTPAS credentials are configured,
//! and returns an [`Application`] that serves until a shutdown future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cache::{Coalesced, PassCache};
use crate::config::{AppEnv, Config, ConfigProblems, Secret, SecretList};
use crate::http::ratelimit::{CustomerDoor, CustomerLimit};
use crate::http::{self, AppState, Services};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::outbox::{self, Outbox};
use crate::sandbox::{self, RunningSandbox};
use crate::webhooks::Webhooks;

/// How many passes the pass cache holds at most.
const PASS_CACHE_ENTRIES: u64 = 2_000_000;
const STATIC_TARIFF_TTL: Duration = Duration::from_secs(3600);
/// Whether an event takes part in UiTPAS changes rarely; ten minutes keeps a change visible soon.
const PARTICIPATION_TTL: Duration = Duration::from_secs(600);

/// A built application, listening, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    sandbox: Option<RunningSandbox>,
    state: AppState,
}

impl Application {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The base URL of the embedded sandbox, when the service runs on it.
    pub fn sandbox_url(&self) -> Option<String> {
        self.sandbox.as_ref().map(RunningSandbox::base_url)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The kinds of job this service runs and the outbox they run in (tests settle due work with
    /// [`crate::outbox::Runner::drain`]).
    pub fn worker(&self) -> crate::outbox::Runner {
        self.state.jobs.clone()
    }

    /// Serves, with the replay worker beside the API, until `shutdown` completes; then finishes
    /// the requests and the job in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(self.worker().run(self.state.config.replay_poll_interval.0, worker_stop));
        // The daily reconciliation with UiTPAS (one replica a day claims it).
        // The customers: re-read every few seconds, their permissions at start and then regularly.
        let customers = tokio::spawn(
            self.state
                .customers
                .clone()
                .keep_current(self.state.config.permissions_refresh.0, stop_worker.subscribe()),
        );
        let daily = self.state.config.reconcile_at.0.map(|at| {
            let reconciler = crate::console::pages::reconciler(&self.state);
            tokio::spawn(crate::reconciliation::daily(reconciler, at, stop_worker.subscribe()))
        });
        let limits = http::serve::Limits {
            max_connections: self.state.config.max_connections,
            header_read_timeout: self.state.config.header_read_timeout.0,
            body_read_timeout: self.state.config.body_read_timeout.0,
        };
        let metrics = self.state.metrics.clone();
        http::serve::serve(self.listener, self.router, limits, metrics, shutdown).await;
        let _ = stop_worker.send(true);
        if let Some(daily) = daily {
            let _ = daily.await;
        }
        let _ = customers.await;
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "the replay worker panicked");
        }
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Builds the application from its configuration.
pub async fn build(mut config: Config) -> anyhow::Result<Application> {
    config.validate()?;
    let metrics = Metrics::new();

    let create_missing = config.app_env != AppEnv::Production;
    let db =
        crate::db::connect_and_migrate(config.database_url.expose(), config.database_pool_size, create_missing).await?;

    let sandbox = if config.uses_sandbox() {
        let running = crate::dev::start_sandbox(&db, config.listen_addr, sandbox::DEFAULT_TOKEN_TTL)
            .await
            .context("cannot start the embedded sandbox")?;
        let url = running.base_url();
        tracing::warn!(
            sandbox = %url,
            "NO UITPAS CREDENTIALS: using the embedded offline sandbox (publiq's test dataset), not UiTPAS; \
             it keeps its events, sales and check-ins in this database (schema uitpas_sandbox). \
             Set UITPAS_CLIENT_ID and UITPAS_CLIENT_SECRET to use publiq's API."
        );
        config.uitpas_base_url = url.clone();
        config.uitpas_token_url = format!("{url}/realms/uitid/protocol/openid-connect/token");
        config.uitdatabank_base_url = url;
        Some(running)
    } else {
        None
    };

    if config.shop_api_keys.as_ref().is_none_or(|k| k.0.is_empty()) {
        let key = crate::dev::shop_key(&db).await?;
        // Printed on purpose, on the terminal of a development run; never logged.
        println!(
            "SHOP_API_KEYS is not set: the development shop key (kept in the database, the same at every start): {key}"
        );
        config.shop_api_keys = Some(SecretList(vec![Secret::new(key)]));
    }

    if config.operator_keys.as_ref().is_none_or(|k| k.0.is_empty()) && config.app_env != AppEnv::Production {
        let key = format!("op_{}", uuid::Uuid::new_v4().simple());
        // Printed on purpose, once, like the shop key; production without keys has no console.
        println!("OPERATOR_KEYS is not set: development operator key for the console (/console): {key}");
        config.operator_keys = Some(SecretList(vec![Secret::new(key)]));
    }

    let secrets_key = match &config.customer_secrets_key {
        Some(key) => Some(crate::secrets::SecretsKey::from_hex(key.expose())?),
        None if config.app_env != AppEnv::Production => Some(crate::dev::customer_secrets_key(&db).await?),
        None => None,
    };
    let previous_key = config
        .customer_secrets_key_previous
        .as_ref()
        .map(|key| crate::secrets::SecretsKey::from_hex(key.expose()))
        .transpose()?;
    // A rotation: what opens only with the previous key is sealed again with the current one.
    if let (Some(current), Some(previous)) = (&secrets_key, &previous_key) {
        let resealed = crate::customers::rotation::reseal(&db, current, previous).await?;
        if !resealed.is_empty() {
            tracing::info!(customers = ?resealed, "customers' secrets re-sealed with CUSTOMER_SECRETS_KEY");
        }
    }
    // The demo's second shop, a customer of its own (only on the embedded sandbox: never in production).
    if config.uses_sandbox()
        && let Some(key) = &secrets_key
    {
        crate::dev::demo_customer(&db, key).await?;
    }
    let customers = crate::customers::Customers::load(
        db.clone(),
        default_customer(&config),
        secrets_key,
        previous_key,
        metrics.clone(),
    )
    .await
    .context("cannot read the customers")?;
    sealed_customers(&customers, &config)?;
    // Every customer's organizers and permissions, before the first request (a customer whose
    // permissions cannot be read is served without them, and read again later).
    customers.refresh_all_permissions().await;
    let outbox = Outbox::new(
        db.clone(),
        outbox::Policy {
            lease: config.replay_lease.0,
            call_timeout: config.upstream_timeout.0,
            settle_window: config.settle_window.0,
            base_delay: Duration::from_secs(1).min(config.replay_max_delay.0),
            max_delay: config.replay_max_delay.0,
        },
    );
    let wait_in_flight = config.upstream_timeout.0 + Duration::from_secs(1);
    let webhooks = Webhooks::new(
        db.clone(),
        customers.clone(),
        config.webhook_timeout.0,
        config.webhooks_allow_private_targets(),
    )?;
    let ledger = Ledger::new(
        db.clone(),
        outbox.clone(),
        customers.clone(),
        webhooks.clone(),
        wait_in_flight,
    );
    let activities = crate::activities::Activities::new(
        db.clone(),
        outbox.clone(),
        customers.clone(),
        webhooks.clone(),
        wait_in_flight,
    );
    let rewards = crate::rewards::Rewards::new(
        db.clone(),
        outbox.clone(),
        customers.clone(),
        webhooks.clone(),
        wait_in_flight,
        metrics.clone(),
    );
    // Every kind of job, registered by its owner.
    let jobs = outbox::Runner::new(outbox);
    let jobs = crate::ledger::jobs::add(jobs, &ledger);
    let jobs = crate::activities::jobs::add(jobs, &activities);
    let jobs = crate::rewards::jobs::add(jobs, &rewards);
    let jobs = jobs.register(crate::webhooks::deliver::Deliver {
        webhooks: webhooks.clone(),
        render: http::webhooks::render(ledger.clone(), activities.clone(), rewards.clone()),
        max_attempts: config.webhook_max_attempts,
    });
    let state = Arc::new(Services {
        passes: PassCache::new(config.pass_cache_ttl.0, PASS_CACHE_ENTRIES, metrics.clone()),
        static_tariffs: Coalesced::new("static_tariffs", STATIC_TARIFF_TTL, 100_000, metrics.clone()),
        participation: Coalesced::new("event_participation", PARTICIPATION_TTL, 100_000, metrics.clone()),
        organizers: Coalesced::new("event_organizer", PARTICIPATION_TTL, 100_000, metrics.clone()),
        limiter: http::ratelimit::Limits::new(
            config.public_rate_limit,
            config.publishable_key_rate_limit,
            metrics.clone(),
        ),
        door_limit: CustomerLimit::new(CustomerDoor::Door, config.door_rate_limit, metrics.clone()),
        rewards_limit: CustomerLimit::new(CustomerDoor::Rewards, config.rewards_rate_limit, metrics.clone()),
        public: http::checkout_token_store::PublicAccess::new(db.clone()),
        customers,
        ledger,
        activities,
        rewards,
        webhooks,
        jobs,
        metrics,
        db,
        config: Arc::new(config),
    });
    let listener = TcpListener::bind(state.config.listen_addr)
        .await
        .with_context(|| format!("LISTEN_ADDR: cannot listen on {}", state.config.listen_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "uitpas-checkout listening");
    Ok(Application {
        router: http::router(
            state.clone(),
            crate::console::pages::routes(crate::console::Console::new(state.metrics.clone())),
        ),
        listener,
        sandbox,
        state,
    })
}

/// Refuses to start when the key cannot open some customers' stored secrets (they would be
/// stranded with no one told), naming them, unless START_WITH_SEALED_CUSTOMERS says to serve the
/// others.
fn sealed_customers(customers: &crate::customers::Customers, config: &Config) -> anyhow::Result<()> {
    let sealed = customers.sealed();
    if sealed.is_empty() {
        return Ok(());
    }
    let names = sealed
        .iter()
        .map(|c| format!("{:?} ({})", c.name, c.id))
        .collect::<Vec<_>>()
        .join(", ");
    let key = if config.customer_secrets_key.is_some() || config.app_env != AppEnv::Production {
        "CUSTOMER_SECRETS_KEY does not open"
    } else {
        "CUSTOMER_SECRETS_KEY is not set and cannot open"
    };
    if config.start_with_sealed_customers {
        tracing::error!(
            "{key} the stored secrets of customers {names}: START_WITH_SEALED_CUSTOMERS=true, so they are refused \
             (503) until they get new credentials through the admin API"
        );
        return Ok(());
    }
    anyhow::bail!(
        "{key} the stored secrets of customers {names}: start with the key they were sealed with, or give that key as \
         CUSTOMER_SECRETS_KEY_PREVIOUS to re-seal them with the new one, or set START_WITH_SEALED_CUSTOMERS=true to \
         serve the other customers and give these new credentials (PUT /admin/v1/customers/{{id}}/credentials)"
    )
}

/// What stopped the start, one line per problem: every configuration problem, or the error and
/// its causes on one line. A cause whose text the line already holds is left out (sqlx repeats
/// PostgreSQL's message as its own source).
pub fn startup_problems(e: &anyhow::Error) -> Vec<String> {
    if let Some(problems) = e.downcast_ref::<ConfigProblems>() {
        return problems.0.clone();
    }
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
    }
    vec![parts.join(": ")]
}

/// Completes on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown signal received");
}

/// The default customer, from the final settings (the sandbox's URLs filled in, the development
/// keys made).
fn default_customer(config: &Config) -> crate::customers::DefaultCustomer {
    let secrets = |list: &Option<SecretList>| list.iter().flat_map(|l| l.0.iter().cloned()).collect();
    crate::customers::DefaultCustomer {
        client: crate::uitpas::ClientConfig {
            base_url: config.uitpas_base_url.clone(),
            token_url: config.uitpas_token_url.clone(),
            entry_base_url: config.uitdatabank_base_url.clone(),
            // The sandbox takes any non-empty credentials.
            client_id: config
                .uitpas_client_id
                .clone()
                .unwrap_or_else(|| "uitpas-checkout-sandbox".into()),
            client_secret: config
                .uitpas_client_secret
                .clone()
                .unwrap_or_else(|| Secret::new("sandbox")),
            timeout: config.upstream_timeout.0,
        },
        client_id: config.uitpas_client_id.clone(),
        secret_keys: secrets(&config.shop_api_keys),
        publishable_keys: secrets(&config.publishable_keys),
        origins: config.public_origins.0.clone(),
        webhook: config.webhook_url.clone().map(|url| crate::customers::WebhookTarget {
            url,
            secrets: config.webhook_secret.clone().map(|s| s.0).unwrap_or_default(),
        }),
        environment: config.publiq_environment(),
    }
}
