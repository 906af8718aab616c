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

/// A map keyed by database ids, touched on every proxied request. The ids
/// come from our own database, never from a request, so a fast unkeyed hash
/// is safe where SipHash was a visible share of each request.
pub type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
