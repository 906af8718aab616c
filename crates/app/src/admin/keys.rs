//! Upstream-key use cases: add, import, list with health, update, delete.

use super::{AdminError, AdminService};
use crate::secrets::{KeyCipher, SecretError};
use domain::fields::{FieldError, Fields};
use domain::ports::{ChangeEvent, KeyInsert};
use domain::upstream_key::validate_key_value;
use domain::{
    mask_secret, time_fmt, ConfigId, KeyHealth, KeyId, KeyOptions, KeyPatch, NewKeyRequest,
    NewUpstreamKey, StoredKey, UpstreamKey,
};
use serde::Serialize;
use serde_json::Value;

const WHAT: &str = "key";
const CONFIG: &str = "proxy config";
/// Largest batch accepted in one import.
pub const BATCH_MAX_KEYS: usize = 10_000;

/// A key row as listed: the key (masked), its health and usage, flat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyView {
    /// Key fields and usage.
    #[serde(flatten)]
    pub key: UpstreamKey,
    /// Health fields.
    #[serde(flatten)]
    pub health: KeyHealth,
}

/// A key that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailedKey {
    /// Masked form of the offending line.
    pub key_masked: String,
    /// Why it was refused.
    pub error: String,
}

/// Result of a batch import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchReport {
    /// Keys stored.
    pub success_count: u64,
    /// Keys refused (see `failed_keys`).
    pub failed_count: u64,
    /// Duplicates of keys already in the pool or earlier in the batch.
    pub skipped_count: u64,
    /// The refused keys, masked.
    pub failed_keys: Vec<FailedKey>,
}

impl AdminService {
    /// Keys of a service with their health.
    ///
    /// # Errors
    /// `NotFound` for an unknown service, `Unavailable`.
    pub async fn list_keys(&self, config_id: ConfigId) -> Result<Vec<KeyView>, AdminError> {
        let keys = self
            .repo
            .list_keys(config_id)
            .await
            .map_err(|e| AdminError::from_repo(e, CONFIG))?;
        self.views(keys).await
    }

    /// Adds one key: body `{"key_value", "is_active"?, "weight"?, "rpm_limit"?}`.
    ///
    /// # Errors
    /// `Validation`, `NotFound`, `Conflict` when the pool already holds it, `Unavailable`.
    pub async fn add_key(&self, config_id: ConfigId, body: Value) -> Result<KeyView, AdminError> {
        let request = NewKeyRequest::from_json(body)?;
        let new_key = self.seal(&request.key_value, request.options)?;
        let results = self
            .repo
            .insert_keys(config_id, std::slice::from_ref(&new_key))
            .await
            .map_err(|e| AdminError::from_repo(e, CONFIG))?;
        match results.first() {
            Some(KeyInsert::Inserted(id)) => {
                tracing::info!(config_id, key_id = id, key = %new_key.key_masked, "key added");
                self.announce(ChangeEvent::Service(config_id)).await;
                let stored = self
                    .repo
                    .get_key(*id)
                    .await
                    .map_err(|e| AdminError::from_repo(e, WHAT))?;
                Ok(key_view(stored, KeyHealth::default()))
            }
            Some(KeyInsert::Duplicate) => Err(AdminError::Conflict {
                field: "key_value".to_owned(),
                message: "this key is already in the pool".to_owned(),
            }),
            None => Err(AdminError::Internal(
                "the repository returned no insert result".to_owned(),
            )),
        }
    }

    /// Imports many keys: body `{"keys": [...]}` where each entry may hold
    /// several keys on separate lines (or `keys` is one multi-line string).
    /// Blank lines are ignored; duplicates are skipped; invalid lines are
    /// reported masked.
    ///
    /// # Errors
    /// `Validation` for a malformed body, `NotFound`, `Unavailable`.
    pub async fn import_keys(
        &self,
        config_id: ConfigId,
        body: Value,
    ) -> Result<BatchReport, AdminError> {
        let mut fields = Fields::from_object(body, &["keys"], &[])?;
        let raw: Value = fields.required("keys")?;
        let lines = batch_lines(&raw)?;
        let mut report = BatchReport {
            success_count: 0,
            failed_count: 0,
            skipped_count: 0,
            failed_keys: Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        let mut sealed = Vec::new();
        for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
            match validate_key_value(line) {
                Ok(key) => {
                    let new_key = self.seal(key, KeyOptions::default())?;
                    if seen.insert(new_key.fingerprint.clone()) {
                        sealed.push(new_key);
                    } else {
                        report.skipped_count += 1;
                    }
                }
                Err(error) => {
                    report.failed_count += 1;
                    report.failed_keys.push(FailedKey {
                        key_masked: mask_secret(line),
                        error,
                    });
                }
            }
        }
        let results = self
            .repo
            .insert_keys(config_id, &sealed)
            .await
            .map_err(|e| AdminError::from_repo(e, CONFIG))?;
        for result in results {
            match result {
                KeyInsert::Inserted(_) => report.success_count += 1,
                KeyInsert::Duplicate => report.skipped_count += 1,
            }
        }
        tracing::info!(
            config_id,
            success = report.success_count,
            skipped = report.skipped_count,
            failed = report.failed_count,
            "keys imported"
        );
        if report.success_count > 0 {
            self.announce(ChangeEvent::Service(config_id)).await;
        }
        Ok(report)
    }

    /// Deletes every key of a service; returns how many.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    pub async fn clear_keys(&self, config_id: ConfigId) -> Result<u64, AdminError> {
        let keys = self
            .repo
            .list_keys(config_id)
            .await
            .map_err(|e| AdminError::from_repo(e, CONFIG))?;
        let deleted = self
            .repo
            .delete_keys_of(config_id)
            .await
            .map_err(|e| AdminError::from_repo(e, CONFIG))?;
        for stored in keys {
            self.forget_health(stored.key.id).await;
        }
        tracing::info!(config_id, deleted, "keys cleared");
        self.announce(ChangeEvent::Service(config_id)).await;
        Ok(deleted)
    }

    /// Updates a key: body `{"is_active"?, "weight"?, "rpm_limit"?}`.
    /// Re-enabling a key clears its health.
    ///
    /// # Errors
    /// `Validation`, `NotFound`, `Unavailable`.
    pub async fn patch_key(&self, key_id: KeyId, body: Value) -> Result<KeyView, AdminError> {
        let patch = KeyPatch::from_json(body)?;
        let before = self
            .repo
            .get_key(key_id)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        let after = self
            .repo
            .update_key(key_id, &patch)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        if patch.is_active == Some(true) {
            // An admin re-enabling a key vouches for it: start from a clean slate.
            self.cache.reset_health(key_id).await?;
        }
        tracing::info!(key_id, key = %after.key.key_masked, was_active = before.key.is_active,
            is_active = after.key.is_active, "key updated");
        self.announce(ChangeEvent::Service(after.key.config_id))
            .await;
        let mut views = self.views(vec![after]).await?;
        views
            .pop()
            .ok_or_else(|| AdminError::Internal("key view missing".to_owned()))
    }

    /// Deletes one key.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    pub async fn delete_key(&self, key_id: KeyId) -> Result<(), AdminError> {
        let stored = self
            .repo
            .get_key(key_id)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        self.repo
            .delete_key(key_id)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        self.forget_health(key_id).await;
        tracing::info!(key_id, key = %stored.key.key_masked, "key deleted");
        self.announce(ChangeEvent::Service(stored.key.config_id))
            .await;
        Ok(())
    }

    /// Encrypts, fingerprints and masks a key value.
    fn seal(&self, key_value: &str, options: KeyOptions) -> Result<NewUpstreamKey, AdminError> {
        seal_key(&self.cipher, key_value, options).map_err(|e| AdminError::Internal(e.to_string()))
    }

    async fn views(&self, keys: Vec<StoredKey>) -> Result<Vec<KeyView>, AdminError> {
        let ids: Vec<KeyId> = keys.iter().map(|k| k.key.id).collect();
        let healths = self.cache.key_health(&ids).await?;
        Ok(keys
            .into_iter()
            .zip(healths)
            .map(|(mut stored, health)| {
                let pending = self.telemetry.usage.pending_key(stored.key.id);
                let usage = &mut stored.key.usage;
                usage.requests += pending.requests;
                usage.failures += pending.failures;
                usage.input_tokens += pending.input_tokens;
                usage.output_tokens += pending.output_tokens;
                key_view(stored, health)
            })
            .collect())
    }

    /// Drops a deleted key's health; failure only leaves a stale entry.
    pub(super) async fn forget_health(&self, key_id: KeyId) {
        if let Err(error) = self.cache.reset_health(key_id).await {
            tracing::warn!(%error, key_id, "could not clear the health of a deleted key");
        }
    }
}

fn key_view(stored: StoredKey, health: KeyHealth) -> KeyView {
    let health = health.effective(time_fmt::now(), stored.key.is_active);
    KeyView {
        key: stored.key,
        health,
    }
}

fn batch_lines(raw: &Value) -> Result<Vec<String>, FieldError> {
    let lines: Vec<String> = match raw {
        Value::String(text) => text.lines().map(str::to_owned).collect(),
        Value::Array(items) => {
            let mut lines = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Value::String(text) = item else {
                    return Err(FieldError::new(format!("keys[{i}]"), "must be a string"));
                };
                lines.extend(text.lines().map(str::to_owned));
            }
            lines
        }
        _ => {
            return Err(FieldError::new(
                "keys",
                "must be an array of strings or a string",
            ))
        }
    };
    if lines.len() > BATCH_MAX_KEYS {
        return Err(FieldError::new(
            "keys",
            format!("at most {BATCH_MAX_KEYS} keys per import"),
        ));
    }
    Ok(lines)
}

/// Encrypts and fingerprints a key value for storage.
pub(crate) fn seal_key(
    cipher: &KeyCipher,
    key_value: &str,
    options: KeyOptions,
) -> Result<NewUpstreamKey, SecretError> {
    Ok(NewUpstreamKey {
        ciphertext: cipher.encrypt(key_value)?,
        fingerprint: cipher.fingerprint(key_value),
        key_masked: mask_secret(key_value),
        is_active: options.is_active,
        weight: options.weight,
        rpm_limit: options.rpm_limit,
    })
}
