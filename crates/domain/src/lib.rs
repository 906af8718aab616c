//! Domain of the API Key Rotator: entities, validated value types, ports and
//! pure policies (rotation, key health, masking).
//!
//! This crate does no I/O and depends on no runtime or framework, so other
//! services can embed it (for example to pick keys with the same policy).

#![deny(missing_docs)]

pub mod chat;
pub mod client_key;
pub mod config;
pub mod error_rules;
pub mod fields;
pub mod health;
pub mod hex;
pub mod legacy;
pub mod llm;
pub mod masking;
pub mod ports;
pub mod request_log;
pub mod rotation;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time_fmt;
pub mod upstream_key;
pub mod values;

pub use client_key::{
    ClientKey, ClientKeyPatch, ClientKeyRequest, ClientKeyVerdict, NewClientKey, StoredClientKey,
};
pub use config::{GenericTarget, LlmTarget, ProxyConfig, ProxyConfigDraft, ProxyTarget};
pub use error_rules::{ErrorAction, ErrorRule, StatusMatcher};
pub use fields::{FieldError, Fields};
pub use health::{KeyHealth, KeyOutcome, KeyState};
pub use masking::mask_secret;
pub use upstream_key::{
    KeyOptions, KeyPatch, KeyUsage, NewKeyRequest, NewUpstreamKey, StoredKey, UpstreamKey,
};
pub use values::{
    ApiFormat, ConfigType, HttpMethod, KeyLocation, OutputFormat, RotationStrategy, Slug,
};

/// Identifier of a proxy configuration ("service").
pub type ConfigId = i64;
/// Identifier of an upstream key.
pub type KeyId = i64;
/// Identifier of a client key.
pub type ClientKeyId = i64;
/// A point in time, always handled in UTC and rendered as RFC 3339.
pub type Timestamp = time::OffsetDateTime;
