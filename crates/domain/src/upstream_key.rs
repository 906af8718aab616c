//! Upstream keys: the third-party API keys a service rotates through.

use crate::fields::{FieldError, Fields};
use crate::time_fmt;
use crate::{ConfigId, KeyId, Timestamp};
use serde::Serialize;
use serde_json::Value;

/// Longest accepted key, in bytes.
pub const KEY_MAX_BYTES: usize = 4096;
/// Highest accepted weight.
pub const WEIGHT_MAX: u32 = 1000;

/// An upstream key as the admin API shows it: masked, never in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpstreamKey {
    /// Database id.
    pub id: KeyId,
    /// The service it belongs to.
    pub config_id: ConfigId,
    /// `first 6 + ***** + last 3`.
    pub key_masked: String,
    /// Disabled keys are never used.
    pub is_active: bool,
    /// Share for the weighted strategy.
    pub weight: u32,
    /// Optional requests-per-minute cap for this key.
    pub rpm_limit: Option<u32>,
    /// Usage counters.
    #[serde(flatten)]
    pub usage: KeyUsage,
    /// When it was added.
    #[serde(with = "time_fmt::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// Usage counters of a key (persisted in batches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyUsage {
    /// Requests served.
    pub requests: u64,
    /// Requests that failed on this key.
    pub failures: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

/// A key as stored: the public row plus its ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The public row.
    pub key: UpstreamKey,
    /// AES-256-GCM ciphertext of the key value (nonce first).
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A key ready to be stored: already encrypted and fingerprinted.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUpstreamKey {
    /// AES-256-GCM ciphertext (nonce first).
    pub ciphertext: Vec<u8>,
    /// Keyed hash of the value: finds duplicates without decrypting.
    pub fingerprint: String,
    /// Masked hint.
    pub key_masked: String,
    /// Initial state.
    pub is_active: bool,
    /// Weight.
    pub weight: u32,
    /// Optional rpm cap.
    pub rpm_limit: Option<u32>,
}

impl std::fmt::Debug for NewUpstreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUpstreamKey")
            .field("key_masked", &self.key_masked)
            .finish_non_exhaustive()
    }
}

/// A partial update of a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPatch {
    /// Enable or disable.
    pub is_active: Option<bool>,
    /// New weight.
    pub weight: Option<u32>,
    /// New rpm cap (`Some(None)` removes it).
    pub rpm_limit: Option<Option<u32>>,
}

/// Options given with a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOptions {
    /// Initial state (default active).
    pub is_active: bool,
    /// Weight (default 1).
    pub weight: u32,
    /// Optional rpm cap.
    pub rpm_limit: Option<u32>,
}

impl Default for KeyOptions {
    fn default() -> Self {
        Self {
            is_active: true,
            weight: 1,
            rpm_limit: None,
        }
    }
}

/// A validated `POST /keys` body. The key value is kept out of `Debug`.
pub struct NewKeyRequest {
    /// The key in clear (only until it is encrypted).
    pub key_value: String,
    /// Its options.
    pub options: KeyOptions,
}

impl NewKeyRequest {
    /// Validates `{"key_value", "is_active"?, "weight"?, "rpm_limit"?}`.
    ///
    /// # Errors
    /// A [`FieldError`] naming the offending field.
    pub fn from_json(body: Value) -> Result<Self, FieldError> {
        let mut f = Fields::from_object(
            body,
            &["key_value", "is_active", "weight", "rpm_limit"],
            &[],
        )?;
        let raw: String = f.required("key_value")?;
        let key_value = validate_key_value(&raw)
            .map_err(|m| FieldError::new("key_value", m))?
            .to_owned();
        let defaults = KeyOptions::default();
        let options = KeyOptions {
            is_active: f.optional("is_active")?.unwrap_or(defaults.is_active),
            weight: validate_weight(f.optional("weight")?)?.unwrap_or(defaults.weight),
            rpm_limit: validate_rpm(f.optional("rpm_limit")?)?,
        };
        Ok(Self { key_value, options })
    }
}

impl KeyPatch {
    /// Validates `{"is_active"?, "weight"?, "rpm_limit"?}`.
    ///
    /// # Errors
    /// A [`FieldError`] naming the offending field.
    pub fn from_json(body: Value) -> Result<Self, FieldError> {
        let mut f = Fields::from_object(body, &["is_active", "weight", "rpm_limit"], &[])?;
        let is_active = f.optional("is_active")?;
        let weight = validate_weight(f.optional("weight")?)?;
        let rpm_limit = match f.nullable::<u32>("rpm_limit")? {
            Some(limit) => Some(validate_rpm(limit)?),
            None => None,
        };
        Ok(Self {
            is_active,
            weight,
            rpm_limit,
        })
    }
}

fn validate_weight(weight: Option<u32>) -> Result<Option<u32>, FieldError> {
    match weight {
        Some(w) if !(1..=WEIGHT_MAX).contains(&w) => Err(FieldError::new(
            "weight",
            format!("must be between 1 and {WEIGHT_MAX}"),
        )),
        other => Ok(other),
    }
}

fn validate_rpm(limit: Option<u32>) -> Result<Option<u32>, FieldError> {
    match limit {
        Some(0) => Err(FieldError::new(
            "rpm_limit",
            "must be at least 1 (omit it for no limit)",
        )),
        other => Ok(other),
    }
}

/// Trims a key value and checks it is usable: not empty, at most
/// [`KEY_MAX_BYTES`], no whitespace or control characters inside.
///
/// # Errors
/// A message that never contains the key itself.
pub fn validate_key_value(raw: &str) -> Result<&str, String> {
    let key = raw.trim();
    if key.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if key.len() > KEY_MAX_BYTES {
        return Err(format!("must be at most {KEY_MAX_BYTES} bytes"));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_value_is_trimmed_and_checked() {
        assert_eq!(validate_key_value("  sk-1 \n"), Ok("sk-1"));
        assert!(validate_key_value("   ").is_err());
        assert!(validate_key_value("sk 1").is_err());
        let err = validate_key_value(&"x".repeat(5000)).unwrap_err();
        assert!(!err.contains("xxx"));
    }

    #[test]
    fn new_key_defaults_and_errors() {
        let req = NewKeyRequest::from_json(json!({"key_value": "sk-1"})).unwrap();
        assert_eq!(req.options, KeyOptions::default());
        let err = NewKeyRequest::from_json(json!({"key_value": "sk-1", "weight": 0}))
            .err()
            .unwrap();
        assert_eq!(err.field, "weight");
        let err = NewKeyRequest::from_json(json!({"key_value": 5}))
            .err()
            .unwrap();
        assert_eq!(err.field, "key_value");
    }

    #[test]
    fn patch_can_clear_rpm_limit() {
        let patch = KeyPatch::from_json(json!({"rpm_limit": null})).unwrap();
        assert_eq!(patch.rpm_limit, Some(None));
        assert_eq!(
            KeyPatch::from_json(json!({"bogus": 1})).unwrap_err().field,
            "bogus"
        );
    }
}
