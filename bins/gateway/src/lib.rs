//! The gateway as a library: configuration, backend wiring and the HTTP
//! server, so tests build exactly the application the binary runs.

pub mod cli;
pub mod encryption_key;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use settings::Settings;
pub use startup::Application;

/// The build flavour compiled into this binary.
#[must_use]
pub const fn build_name() -> &'static str {
    "lightweight"
}
