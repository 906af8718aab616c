//! Use cases of the API Key Rotator: the admin service, secrets handling,
//! bootstrap of credentials, and the in-memory snapshot the proxy serves from.
//! Depends on domain ports only.

pub mod admin;
pub mod bootstrap;
pub mod cache_failover;
pub mod failover;
pub mod jwt;
pub mod legacy_import;
pub mod login_throttle;
pub mod master_key_rotation;
pub mod password;
pub mod proxy;
pub mod secrets;
pub mod snapshot;
pub mod telemetry;
pub mod usage;

pub use admin::{AdminError, AdminService, AppInfo};
