//! Integration tests of the gateway: the real application on port 0 over a
//! temporary SQLite file (see `testkit`), and the real binary for start-up.

// Helpers beside the tests fail the test on a broken setup, like the tests do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounting;
mod auth;
mod bad_input;
mod binary;
mod client_keys;
mod configs;
mod docs;
#[cfg(feature = "enterprise")]
mod enterprise;
mod keys;
mod legacy_import;
mod master_key_rotation;
mod persistence;
mod proxy_auth;
mod proxy_changes;
mod proxy_convert;
mod proxy_errors;
mod proxy_failover;
mod proxy_generic;
mod proxy_limits;
mod proxy_rotation;
mod proxy_streaming;
mod secrets_at_rest;
mod shutdown;
mod ui;
mod usage;
