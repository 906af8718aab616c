//! The gateway as a library: configuration, backend wiring and the HTTP
//! server, so tests build exactly the application the binary runs.

pub mod backends;
pub mod cli;
pub mod commands;
pub mod encryption_key;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use settings::Settings;
pub use startup::Application;
