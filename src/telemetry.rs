//! Tracing set-up: JSON lines or human-readable output, level from `RUST_LOG` (default `info`).
//!
//! Nothing logged carries a secret or a whole UiTPAS number: request spans name the matched route,
//! not the path or query; `UitpasNumber` prints masked; secrets are `Secret`s.

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls (tests start several apps) are no-ops.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
