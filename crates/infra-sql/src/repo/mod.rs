//! [`KeyRepository`] over a sea-orm connection.

mod client_keys;
mod configs;
mod keys;
mod request_log_insert;
mod request_logs;
mod settings;

use crate::errors::repo_err;
use async_trait::async_trait;
use domain::client_key::{NewClientKey, StoredClientKey};
use domain::ports::{KeyCounts, KeyInsert, KeyRepository, RepoError, ResealedKey, UsageBatch};
use domain::request_log::packed::PackedBatch;
use domain::request_log::{RequestLogEntry, RequestLogQuery};
use domain::Timestamp;
use domain::{
    ClientKeyId, ClientKeyPatch, ConfigId, KeyId, KeyPatch, NewUpstreamKey, ProxyConfig,
    ProxyConfigDraft, StoredKey,
};
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// The SQL repository. Cheap to clone (the connection is a pool handle).
#[derive(Clone)]
pub struct SqlKeyRepository {
    db: DatabaseConnection,
}

impl SqlKeyRepository {
    /// Wraps a connected, migrated database.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn now_ms() -> i64 {
    domain::time_fmt::unix_millis(&domain::time_fmt::now())
}

#[async_trait]
impl KeyRepository for SqlKeyRepository {
    async fn create_config(&self, draft: &ProxyConfigDraft) -> Result<ProxyConfig, RepoError> {
        configs::create(&self.db, draft).await
    }
    async fn update_config(
        &self,
        id: ConfigId,
        draft: &ProxyConfigDraft,
    ) -> Result<ProxyConfig, RepoError> {
        configs::update(&self.db, id, draft).await
    }
    async fn set_config_active(
        &self,
        id: ConfigId,
        is_active: bool,
    ) -> Result<ProxyConfig, RepoError> {
        configs::set_active(&self.db, id, is_active).await
    }
    async fn delete_config(&self, id: ConfigId) -> Result<(), RepoError> {
        configs::delete(&self.db, id).await
    }
    async fn get_config(&self, id: ConfigId) -> Result<ProxyConfig, RepoError> {
        configs::get(&self.db, id).await
    }
    async fn list_configs(&self) -> Result<Vec<ProxyConfig>, RepoError> {
        configs::list(&self.db).await
    }
    async fn key_counts(&self) -> Result<Vec<(ConfigId, KeyCounts)>, RepoError> {
        keys::counts(&self.db).await
    }
    async fn insert_keys(
        &self,
        config_id: ConfigId,
        new_keys: &[NewUpstreamKey],
    ) -> Result<Vec<KeyInsert>, RepoError> {
        keys::insert(&self.db, config_id, new_keys).await
    }
    async fn reseal_keys(&self, resealed: &[ResealedKey]) -> Result<(), RepoError> {
        keys::reseal(&self.db, resealed).await
    }
    async fn list_keys(&self, config_id: ConfigId) -> Result<Vec<StoredKey>, RepoError> {
        configs::get(&self.db, config_id).await?;
        keys::list(&self.db, Some(config_id)).await
    }
    async fn list_all_keys(&self) -> Result<Vec<StoredKey>, RepoError> {
        keys::list(&self.db, None).await
    }
    async fn get_key(&self, key_id: KeyId) -> Result<StoredKey, RepoError> {
        keys::get(&self.db, key_id).await
    }
    async fn update_key(&self, key_id: KeyId, patch: &KeyPatch) -> Result<StoredKey, RepoError> {
        keys::update(&self.db, key_id, patch).await
    }
    async fn delete_key(&self, key_id: KeyId) -> Result<(), RepoError> {
        keys::delete(&self.db, key_id).await
    }
    async fn delete_keys_of(&self, config_id: ConfigId) -> Result<u64, RepoError> {
        configs::get(&self.db, config_id).await?;
        keys::delete_of(&self.db, config_id).await
    }
    async fn create_client_key(&self, key: &NewClientKey) -> Result<StoredClientKey, RepoError> {
        client_keys::create(&self.db, key).await
    }
    async fn list_client_keys(&self) -> Result<Vec<StoredClientKey>, RepoError> {
        client_keys::list(&self.db).await
    }
    async fn update_client_key(
        &self,
        id: ClientKeyId,
        patch: &ClientKeyPatch,
    ) -> Result<StoredClientKey, RepoError> {
        client_keys::update(&self.db, id, patch).await
    }
    async fn delete_client_key(&self, id: ClientKeyId) -> Result<(), RepoError> {
        client_keys::delete(&self.db, id).await
    }
    async fn get_setting(&self, name: &str) -> Result<Option<String>, RepoError> {
        settings::get(&self.db, name).await
    }
    async fn put_setting(&self, name: &str, value: &str) -> Result<(), RepoError> {
        settings::put(&self.db, name, value).await
    }
    async fn put_setting_if_absent(&self, name: &str, value: &str) -> Result<String, RepoError> {
        settings::put_if_absent(&self.db, name, value).await
    }
    async fn record_usage(&self, batch: &UsageBatch) -> Result<(), RepoError> {
        keys::record_usage(&self.db, batch).await
    }
    async fn insert_request_logs(&self, batches: &[PackedBatch]) -> Result<(), RepoError> {
        request_log_insert::insert(&self.db, batches).await
    }
    async fn list_request_logs(
        &self,
        query: &RequestLogQuery,
    ) -> Result<Vec<RequestLogEntry>, RepoError> {
        request_logs::list(&self.db, query).await
    }
    async fn prune_request_logs(
        &self,
        older_than: Timestamp,
        max_rows: u64,
    ) -> Result<u64, RepoError> {
        request_logs::prune(&self.db, older_than, max_rows).await
    }
    async fn ping(&self) -> Result<(), RepoError> {
        self.db
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(repo_err)
    }
}
