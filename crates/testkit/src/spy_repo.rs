//! A repository wrapper that counts the writes the hot path must batch
//! (usage and request-log rows) and can stall request-log writes or pruning,
//! as a lagging database would.

use async_trait::async_trait;
use domain::client_key::{NewClientKey, StoredClientKey};
use domain::ports::{KeyCounts, KeyInsert, KeyRepository, RepoError, ResealedKey, UsageBatch};
use domain::request_log::packed::PackedBatch;
use domain::request_log::{RequestLogEntry, RequestLogQuery};
use domain::{
    ClientKeyId, ClientKeyPatch, ConfigId, KeyId, KeyPatch, NewUpstreamKey, ProxyConfig,
    ProxyConfigDraft, StoredKey, Timestamp,
};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Counts and switches shared with the test.
#[derive(Default)]
pub struct Spy {
    /// `record_usage` calls.
    pub usage_writes: AtomicUsize,
    /// `insert_request_logs` calls.
    pub request_log_writes: AtomicUsize,
    /// Rows passed to `insert_request_logs`.
    pub request_log_rows: AtomicUsize,
    stalled: AtomicBool,
    prune_stalled: AtomicBool,
    snapshot_reads_fail: AtomicBool,
    resume: Notify,
}

impl Spy {
    /// Request-log writes wait until [`Spy::resume`].
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Request-log pruning waits until [`Spy::resume`], as a long DELETE would.
    pub fn stall_prune(&self) {
        self.prune_stalled.store(true, Ordering::SeqCst);
    }

    /// While on, the reads a configuration snapshot is built from (services,
    /// keys, client keys) fail as an unreachable database would; writes work.
    pub fn fail_snapshot_reads(&self, on: bool) {
        self.snapshot_reads_fail.store(on, Ordering::SeqCst);
    }

    fn snapshot_read(&self) -> Result<(), RepoError> {
        if self.snapshot_reads_fail.load(Ordering::SeqCst) {
            return Err(RepoError::Unavailable("spy: snapshot reads fail".into()));
        }
        Ok(())
    }

    /// Lets stalled writes and prunes finish.
    pub fn resume(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        self.prune_stalled.store(false, Ordering::SeqCst);
        self.resume.notify_waiters();
    }

    async fn wait_while(&self, flag: &AtomicBool) {
        while flag.load(Ordering::SeqCst) {
            let resumed = self.resume.notified();
            if !flag.load(Ordering::SeqCst) {
                break;
            }
            resumed.await;
        }
    }
}

/// The wrapper.
pub struct SpyRepository {
    inner: Arc<dyn KeyRepository>,
    spy: Arc<Spy>,
}

impl SpyRepository {
    /// Wraps `inner`, reporting to `spy`.
    pub fn wrap(inner: Arc<dyn KeyRepository>, spy: Arc<Spy>) -> Arc<dyn KeyRepository> {
        Arc::new(Self { inner, spy })
    }
}

#[async_trait]
impl KeyRepository for SpyRepository {
    async fn create_config(&self, draft: &ProxyConfigDraft) -> Result<ProxyConfig, RepoError> {
        self.inner.create_config(draft).await
    }
    async fn update_config(
        &self,
        id: ConfigId,
        draft: &ProxyConfigDraft,
    ) -> Result<ProxyConfig, RepoError> {
        self.inner.update_config(id, draft).await
    }
    async fn set_config_active(
        &self,
        id: ConfigId,
        is_active: bool,
    ) -> Result<ProxyConfig, RepoError> {
        self.inner.set_config_active(id, is_active).await
    }
    async fn delete_config(&self, id: ConfigId) -> Result<(), RepoError> {
        self.inner.delete_config(id).await
    }
    async fn get_config(&self, id: ConfigId) -> Result<ProxyConfig, RepoError> {
        self.spy.snapshot_read()?;
        self.inner.get_config(id).await
    }
    async fn list_configs(&self) -> Result<Vec<ProxyConfig>, RepoError> {
        self.spy.snapshot_read()?;
        self.inner.list_configs().await
    }
    async fn key_counts(&self) -> Result<Vec<(ConfigId, KeyCounts)>, RepoError> {
        self.inner.key_counts().await
    }
    async fn insert_keys(
        &self,
        config_id: ConfigId,
        keys: &[NewUpstreamKey],
    ) -> Result<Vec<KeyInsert>, RepoError> {
        self.inner.insert_keys(config_id, keys).await
    }
    async fn reseal_keys(&self, keys: &[ResealedKey]) -> Result<(), RepoError> {
        self.inner.reseal_keys(keys).await
    }
    async fn list_keys(&self, config_id: ConfigId) -> Result<Vec<StoredKey>, RepoError> {
        self.spy.snapshot_read()?;
        self.inner.list_keys(config_id).await
    }
    async fn list_all_keys(&self) -> Result<Vec<StoredKey>, RepoError> {
        self.spy.snapshot_read()?;
        self.inner.list_all_keys().await
    }
    async fn get_key(&self, key_id: KeyId) -> Result<StoredKey, RepoError> {
        self.inner.get_key(key_id).await
    }
    async fn update_key(&self, key_id: KeyId, patch: &KeyPatch) -> Result<StoredKey, RepoError> {
        self.inner.update_key(key_id, patch).await
    }
    async fn delete_key(&self, key_id: KeyId) -> Result<(), RepoError> {
        self.inner.delete_key(key_id).await
    }
    async fn delete_keys_of(&self, config_id: ConfigId) -> Result<u64, RepoError> {
        self.inner.delete_keys_of(config_id).await
    }
    async fn create_client_key(&self, key: &NewClientKey) -> Result<StoredClientKey, RepoError> {
        self.inner.create_client_key(key).await
    }
    async fn list_client_keys(&self) -> Result<Vec<StoredClientKey>, RepoError> {
        self.spy.snapshot_read()?;
        self.inner.list_client_keys().await
    }
    async fn update_client_key(
        &self,
        id: ClientKeyId,
        patch: &ClientKeyPatch,
    ) -> Result<StoredClientKey, RepoError> {
        self.inner.update_client_key(id, patch).await
    }
    async fn delete_client_key(&self, id: ClientKeyId) -> Result<(), RepoError> {
        self.inner.delete_client_key(id).await
    }
    async fn get_setting(&self, name: &str) -> Result<Option<String>, RepoError> {
        self.inner.get_setting(name).await
    }
    async fn put_setting(&self, name: &str, value: &str) -> Result<(), RepoError> {
        self.inner.put_setting(name, value).await
    }
    async fn put_setting_if_absent(&self, name: &str, value: &str) -> Result<String, RepoError> {
        self.inner.put_setting_if_absent(name, value).await
    }
    async fn record_usage(&self, batch: &UsageBatch) -> Result<(), RepoError> {
        self.spy.usage_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.record_usage(batch).await
    }
    async fn insert_request_logs(&self, batches: &[PackedBatch]) -> Result<(), RepoError> {
        self.spy.request_log_writes.fetch_add(1, Ordering::SeqCst);
        let rows: usize = batches.iter().map(|b| b.rows as usize).sum();
        self.spy.request_log_rows.fetch_add(rows, Ordering::SeqCst);
        self.spy.wait_while(&self.spy.stalled).await;
        self.inner.insert_request_logs(batches).await
    }
    async fn list_request_logs(
        &self,
        query: &RequestLogQuery,
    ) -> Result<Vec<RequestLogEntry>, RepoError> {
        self.inner.list_request_logs(query).await
    }
    async fn prune_request_logs(
        &self,
        older_than: Timestamp,
        max_rows: u64,
    ) -> Result<u64, RepoError> {
        self.spy.wait_while(&self.spy.prune_stalled).await;
        self.inner.prune_request_logs(older_than, max_rows).await
    }
    async fn ping(&self) -> Result<(), RepoError> {
        self.inner.ping().await
    }
}
