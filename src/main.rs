//! `uitpas-checkout`: reads the configuration, starts the service, stops on SIGTERM or ctrl-c.

use clap::Parser;
use uitpas_checkout::{Config, app, telemetry};

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
