//! Logging: `tracing` with `LOG_LEVEL` and `LOG_FORMAT`.

use crate::settings::LogFormat;
use tracing_subscriber::EnvFilter;

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
#[error("LOG_LEVEL: {0}")]
pub struct TelemetryError(String);

/// Installs the global subscriber (once per process).
///
/// # Errors
/// [`TelemetryError`] when `LOG_LEVEL` is not a valid filter.
pub fn init(log_level: &str, format: LogFormat) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(log_level).map_err(|e| TelemetryError(e.to_string()))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // Already installed (tests): keep the existing subscriber.
    drop(result);
    Ok(())
}
