//! sea-orm entities, one per table. Times are Unix milliseconds.

pub mod client_key;
pub mod proxy_config;
pub mod request_log_batch;
pub mod setting;
pub mod upstream_key;
