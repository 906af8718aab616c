//! Client-key use cases. The full key is returned once, at creation; only
//! its SHA-256 is stored.

use super::{AdminError, AdminService};
use crate::secrets::{generate_client_key, hash_client_key};
use domain::client_key::{ClientKeyRequest, NewClientKey};
use domain::ports::ChangeEvent;
use domain::{mask_secret, time_fmt, ClientKey, ClientKeyId, ClientKeyPatch};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;

const WHAT: &str = "client key";

/// A new client key with its full value, shown only in this answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedClientKey {
    /// The stored row.
    #[serde(flatten)]
    pub row: ClientKey,
    /// The full client key.
    pub key: String,
}

impl AdminService {
    /// Creates a client key: body `{"name", "allowed_slugs"?, "expires_at"?, "rpm_limit"?}`.
    ///
    /// # Errors
    /// `Validation`, `Unavailable`.
    pub async fn create_client_key(&self, body: Value) -> Result<CreatedClientKey, AdminError> {
        let request = ClientKeyRequest::from_json(body, time_fmt::now())?;
        let secret = generate_client_key();
        let full = secret.expose_secret();
        let new_key = NewClientKey {
            request,
            key_masked: mask_secret(full),
            key_hash: hash_client_key(full),
        };
        let stored = self
            .repo
            .create_client_key(&new_key)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        tracing::info!(id = stored.key.id, name = %stored.key.name, "client key created");
        self.announce(ChangeEvent::ClientKeys).await;
        Ok(CreatedClientKey {
            row: stored.key,
            key: full.to_owned(),
        })
    }

    /// Every client key, masked, with usage.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn list_client_keys(&self) -> Result<Vec<ClientKey>, AdminError> {
        let keys = self
            .repo
            .list_client_keys()
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        Ok(keys
            .into_iter()
            .map(|stored| {
                let mut key = stored.key;
                let pending = self.telemetry.usage.pending_client(key.id);
                key.requests += pending.requests;
                key.input_tokens += pending.input_tokens;
                key.output_tokens += pending.output_tokens;
                key.last_used_at = key.last_used_at.max(pending.last_used_at);
                key
            })
            .collect())
    }

    /// Updates a client key (`name`, `is_active`, `allowed_slugs`, `rpm_limit`, `expires_at`).
    ///
    /// # Errors
    /// `Validation`, `NotFound`, `Unavailable`.
    pub async fn patch_client_key(
        &self,
        id: ClientKeyId,
        body: Value,
    ) -> Result<ClientKey, AdminError> {
        let patch = ClientKeyPatch::from_json(body, time_fmt::now())?;
        let stored = self
            .repo
            .update_client_key(id, &patch)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        tracing::info!(id, "client key updated");
        self.announce(ChangeEvent::ClientKeys).await;
        Ok(stored.key)
    }

    /// Deletes (revokes for good) a client key.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    pub async fn delete_client_key(&self, id: ClientKeyId) -> Result<(), AdminError> {
        self.repo
            .delete_client_key(id)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        tracing::info!(id, "client key deleted");
        self.announce(ChangeEvent::ClientKeys).await;
        Ok(())
    }
}
