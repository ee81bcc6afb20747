//! `uitpas-checkout`: reads the configuration, starts the service, stops on SIGTERM or ctrl-c.

use clap::Parser;
use uitpas_checkout::{Config, app, telemetry};

/// mimalloc rather than the system allocator: a request makes many small, short-lived
/// allocations (headers, futures, JSON), and the pass cache holds millions of small objects;
/// mimalloc is faster at the first and has no per-object header for the second (see bench/).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    let app = match app::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "cannot start");
            return Err(e);
        }
    };
    app.run_until(app::shutdown_signal()).await
}
