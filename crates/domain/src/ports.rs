//! Ports: what the core needs from the outside world. They speak domain
//! types only, so SQL, Redis and in-memory implementations are interchangeable.

use crate::client_key::{ClientKeyPatch, NewClientKey, StoredClientKey};
use crate::config::{ProxyConfig, ProxyConfigDraft};
use crate::health::{KeyHealth, KeyOutcome};
use crate::request_log::packed::PackedBatch;
use crate::request_log::{RequestLogEntry, RequestLogQuery};
use crate::upstream_key::{KeyPatch, NewUpstreamKey, StoredKey};
use crate::{ClientKeyId, ConfigId, KeyId, Timestamp};
use async_trait::async_trait;
use std::time::Duration;

/// Errors of a [`KeyRepository`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// The addressed row does not exist.
    #[error("not found")]
    NotFound,
    /// A unique field clashes with another row; names the field.
    #[error("duplicate value for {0}")]
    Duplicate(String),
    /// The database cannot be reached or refused the operation.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored row cannot be read back into the domain.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Result of inserting one key of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyInsert {
    /// Stored under this id.
    Inserted(KeyId),
    /// The pool already holds a key with this fingerprint.
    Duplicate,
}

/// A stored key encrypted again under a new master key.
#[derive(Clone, PartialEq, Eq)]
pub struct ResealedKey {
    /// The key.
    pub id: KeyId,
    /// Its new ciphertext (nonce first).
    pub ciphertext: Vec<u8>,
    /// Its new fingerprint (keyed by the master key).
    pub fingerprint: String,
}

impl std::fmt::Debug for ResealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResealedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Usage accumulated in memory since the last flush, for one key or client key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageDelta {
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub failures: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Latest use.
    pub last_used_at: Option<Timestamp>,
}

/// One flush of usage counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageBatch {
    /// Per upstream key.
    pub keys: Vec<(KeyId, UsageDelta)>,
    /// Per client key.
    pub client_keys: Vec<(ClientKeyId, UsageDelta)>,
}

/// Key counts of one service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyCounts {
    /// All keys.
    pub total: u64,
    /// Keys with `is_active`.
    pub active: u64,
}

/// Durable storage of configs, keys (ciphertext only), client keys (hashes
/// only), settings and usage.
#[async_trait]
pub trait KeyRepository: Send + Sync {
    /// Stores a new service.
    ///
    /// # Errors
    /// `Duplicate("name" | "slug")` on a clash, `Unavailable` when the database fails.
    async fn create_config(&self, draft: &ProxyConfigDraft) -> Result<ProxyConfig, RepoError>;
    /// Replaces every field of a service.
    ///
    /// # Errors
    /// `NotFound`, `Duplicate("name" | "slug")`, `Unavailable`.
    async fn update_config(
        &self,
        id: ConfigId,
        draft: &ProxyConfigDraft,
    ) -> Result<ProxyConfig, RepoError>;
    /// Activates or deactivates a service.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    async fn set_config_active(
        &self,
        id: ConfigId,
        is_active: bool,
    ) -> Result<ProxyConfig, RepoError>;
    /// Deletes a service and its keys.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    async fn delete_config(&self, id: ConfigId) -> Result<(), RepoError>;
    /// One service.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`, `Corrupt`.
    async fn get_config(&self, id: ConfigId) -> Result<ProxyConfig, RepoError>;
    /// Every service, by id.
    ///
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    async fn list_configs(&self) -> Result<Vec<ProxyConfig>, RepoError>;
    /// Total and active key counts per service (services without keys are absent).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn key_counts(&self) -> Result<Vec<(ConfigId, KeyCounts)>, RepoError>;

    /// Stores keys in a service's pool, skipping fingerprints already there.
    /// One result per input, in order.
    ///
    /// # Errors
    /// `NotFound` for an unknown service, `Unavailable`.
    async fn insert_keys(
        &self,
        config_id: ConfigId,
        keys: &[NewUpstreamKey],
    ) -> Result<Vec<KeyInsert>, RepoError>;
    /// Replaces the ciphertext and fingerprint of keys, all in one
    /// transaction: every key or none (`gateway rotate-encryption-key`).
    ///
    /// # Errors
    /// `NotFound` when a key does not exist (nothing is changed), `Unavailable`.
    async fn reseal_keys(&self, keys: &[ResealedKey]) -> Result<(), RepoError>;
    /// Keys of one service, by id.
    ///
    /// # Errors
    /// `NotFound` for an unknown service, `Unavailable`.
    async fn list_keys(&self, config_id: ConfigId) -> Result<Vec<StoredKey>, RepoError>;
    /// Every key of every service (for the proxy snapshot).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list_all_keys(&self) -> Result<Vec<StoredKey>, RepoError>;
    /// One key.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    async fn get_key(&self, key_id: KeyId) -> Result<StoredKey, RepoError>;
    /// Partially updates a key.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    async fn update_key(&self, key_id: KeyId, patch: &KeyPatch) -> Result<StoredKey, RepoError>;
    /// Deletes a key.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    async fn delete_key(&self, key_id: KeyId) -> Result<(), RepoError>;
    /// Deletes every key of a service; returns how many.
    ///
    /// # Errors
    /// `NotFound` for an unknown service, `Unavailable`.
    async fn delete_keys_of(&self, config_id: ConfigId) -> Result<u64, RepoError>;

    /// Stores a client key (hash only).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn create_client_key(&self, key: &NewClientKey) -> Result<StoredClientKey, RepoError>;
    /// Every client key, by id.
    ///
    /// # Errors
    /// `Unavailable`, `Corrupt`.
    async fn list_client_keys(&self) -> Result<Vec<StoredClientKey>, RepoError>;
    /// Partially updates a client key.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    async fn update_client_key(
        &self,
        id: ClientKeyId,
        patch: &ClientKeyPatch,
    ) -> Result<StoredClientKey, RepoError>;
    /// Deletes a client key.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    async fn delete_client_key(&self, id: ClientKeyId) -> Result<(), RepoError>;

    /// A setting's value.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn get_setting(&self, name: &str) -> Result<Option<String>, RepoError>;
    /// Sets a setting, replacing any value.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn put_setting(&self, name: &str, value: &str) -> Result<(), RepoError>;
    /// Sets a setting unless it exists; returns the value stored in the end
    /// (so concurrent instances agree on one generated secret).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn put_setting_if_absent(&self, name: &str, value: &str) -> Result<String, RepoError>;

    /// Adds a batch of usage counters.
    ///
    /// # Errors
    /// `Unavailable`; rows of deleted keys are ignored.
    async fn record_usage(&self, batch: &UsageBatch) -> Result<(), RepoError>;
    /// Appends packed request-log batches (ids are assigned by the
    /// database), all or none.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn insert_request_logs(&self, batches: &[PackedBatch]) -> Result<(), RepoError>;
    /// One page of the request log, newest first (up to `limit` rows).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list_request_logs(
        &self,
        query: &RequestLogQuery,
    ) -> Result<Vec<RequestLogEntry>, RepoError>;
    /// Deletes rows older than `older_than` and all but the newest `max_rows`; returns how many
    /// (when several instances prune at once, each may count rows another deleted).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn prune_request_logs(
        &self,
        older_than: Timestamp,
        max_rows: u64,
    ) -> Result<u64, RepoError>;
    /// Checks the database answers.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn ping(&self) -> Result<(), RepoError>;
}

/// Errors of a [`RotationCache`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The cache cannot be reached.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// The shared cache is down and a per-instance fallback serves instead
    /// (only [`RotationCache::ping`] reports this; the other calls succeed).
    #[error("degraded: {0}")]
    Degraded(String),
}

/// A change that invalidates cached configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeEvent {
    /// Anything may have changed: reload everything (also what a listener
    /// reports after missing notifications).
    Configs,
    /// One service was created, changed or deleted, or its keys changed.
    Service(ConfigId),
    /// Client keys changed.
    ClientKeys,
}

impl ChangeEvent {
    /// Wire form, for notifications between instances: `configs`,
    /// `client_keys`, `keys:<id>` (the name predates whole-service changes;
    /// kept so instances of different versions understand each other).
    #[must_use]
    pub fn encode(self) -> String {
        match self {
            ChangeEvent::Configs => "configs".to_owned(),
            ChangeEvent::ClientKeys => "client_keys".to_owned(),
            ChangeEvent::Service(id) => format!("keys:{id}"),
        }
    }

    /// Parses [`ChangeEvent::encode`]'s output; anything else reads as a
    /// `Configs` change (reload everything), never as an error.
    #[must_use]
    pub fn decode(text: &str) -> Self {
        match text {
            "client_keys" => ChangeEvent::ClientKeys,
            other => other
                .strip_prefix("keys:")
                .and_then(|id| id.parse().ok())
                .map_or(ChangeEvent::Configs, ChangeEvent::Service),
        }
    }
}

/// A counter subject to a requests-per-minute limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateBucket {
    /// An upstream key's `rpm_limit`.
    UpstreamKey(KeyId),
    /// A client key's `rpm_limit`.
    ClientKey(ClientKeyId),
}

impl RateBucket {
    /// Stable name, for shared stores.
    #[must_use]
    pub fn name(self) -> String {
        match self {
            RateBucket::UpstreamKey(id) => format!("key:{id}"),
            RateBucket::ClientKey(id) => format!("client:{id}"),
        }
    }
}

/// Answer of [`RotationCache::acquire_rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Counted; go ahead.
    Allowed,
    /// Over the limit; the window resets after this long.
    Limited {
        /// Time until the window resets.
        retry_after: Duration,
    },
}

/// A stream of change notifications.
#[async_trait]
pub trait ChangeSubscription: Send {
    /// The next change; `None` when the source is gone. Missed events (a slow
    /// reader) are reported as a `Configs` change so the reader reloads everything.
    async fn next(&mut self) -> Option<ChangeEvent>;
}

/// Rotation state shared by every request (and, in enterprise, every instance):
/// rotation counters, key health, rate counters and change notifications.
#[async_trait]
pub trait RotationCache: Send + Sync {
    /// `"memory"` or `"redis"`.
    fn backend(&self) -> &'static str;
    /// Returns the service's rotation counter and advances it by one.
    ///
    /// # Errors
    /// `Unavailable` when the shared store cannot be reached.
    async fn next_counter(&self, service: ConfigId) -> Result<u64, CacheError>;
    /// Advances the service's counter and reads the health of `keys` together:
    /// what choosing a key needs, in one round trip where the store allows.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn next_counter_with_health(
        &self,
        service: ConfigId,
        keys: &[KeyId],
    ) -> Result<(u64, Vec<KeyHealth>), CacheError> {
        let counter = self.next_counter(service).await?;
        Ok((counter, self.key_health(keys).await?))
    }
    /// Health of these keys, in order (unknown keys are healthy).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn key_health(&self, keys: &[KeyId]) -> Result<Vec<KeyHealth>, CacheError>;
    /// Applies an outcome to a key's health atomically and returns the new health.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn record_outcome(
        &self,
        key: KeyId,
        outcome: &KeyOutcome,
        now: Timestamp,
    ) -> Result<KeyHealth, CacheError>;
    /// Forgets a key's health (re-enabled or deleted keys).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn reset_health(&self, key: KeyId) -> Result<(), CacheError>;
    /// Counts one request against a per-minute limit.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn acquire_rate(
        &self,
        bucket: RateBucket,
        limit: u32,
        now: Timestamp,
    ) -> Result<RateDecision, CacheError>;
    /// Tells every instance that cached configuration changed.
    ///
    /// # Errors
    /// `Unavailable` (the caller falls back to polling).
    async fn publish(&self, event: ChangeEvent) -> Result<(), CacheError>;
    /// Subscribes to change notifications.
    fn subscribe(&self) -> Box<dyn ChangeSubscription>;
    /// Checks the cache answers.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn ping(&self) -> Result<(), CacheError>;
}
