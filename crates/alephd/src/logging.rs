//! Tracing set-up: human-readable logs on stderr, filtered by `RUST_LOG` or the config.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber. `RUST_LOG`, when set, wins over the configured filter.
pub(crate) fn init(filter: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env)?,
        _ => EnvFilter::try_new(filter)?,
    };
    fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
