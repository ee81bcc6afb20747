//! `uitpas-checkout`: reads the configuration, starts the service, stops on SIGTERM or ctrl-c.

use std::process::ExitCode;

use clap::Parser;
use uitpas_checkout::{Config, app, telemetry};

/// mimalloc rather than the system allocator: a request makes many small, short-lived
/// allocations (headers, futures, JSON), and the pass cache holds millions of small objects;
/// mimalloc is faster at the first and has no per-object header for the second (see bench/).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A failure is logged once, one line per problem, and the exit code says it failed: no
/// `Error:` block and no backtrace (`RUST_BACKTRACE`) for what is a mistake in the settings.
#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    let app = match app::build(config).await {
        Ok(app) => app,
        Err(e) => {
            for problem in app::startup_problems(&e) {
                tracing::error!("cannot start: {problem}");
            }
            return ExitCode::FAILURE;
        }
    };
    match app.run_until(app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("stopped on an error: {}", app::startup_problems(&e).join("; "));
            ExitCode::FAILURE
        }
    }
}
