//! The in-memory view of the configuration the proxy serves from: services
//! by slug with their decrypted key pools, client keys by hash. Rebuilt on
//! every change notification — only what the change touched — so the hot
//! path never queries the database and a change to one of 10,000 services
//! costs one service's reload.

use crate::secrets::{KeyCipher, SecretError};
use crate::telemetry::ServiceMeters;
use domain::client_key::StoredClientKey;
use domain::ports::{ChangeEvent, ChangeSubscription, KeyRepository, RepoError};
use domain::rotation::Rotation;
use domain::{ClientKey, ConfigId, ProxyConfig, Slug, StoredKey, UpstreamKey};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

/// Errors while loading a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The database failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A key cannot be decrypted.
    #[error("key {key_id}: {source}")]
    Decrypt {
        /// Which key.
        key_id: i64,
        /// Why.
        source: SecretError,
    },
}

/// An upstream key with its clear value, kept only in memory.
pub struct PoolKey {
    /// The key's row.
    pub key: UpstreamKey,
    /// The clear value.
    pub secret: SecretString,
}

/// A service ready to serve: its config, its active keys and their rotation.
pub struct ServiceEntry {
    /// The config.
    pub config: ProxyConfig,
    /// Active keys, in id order.
    pub keys: Vec<PoolKey>,
    /// Rotation over `keys`.
    pub rotation: Rotation,
    /// The slug, shared: metrics label it without allocating per request.
    pub label: Arc<str>,
    /// Its metric handles, made by the first request that needs them.
    pub meters: OnceLock<Arc<ServiceMeters>>,
}

/// Everything the proxy needs, decrypted and indexed. The two maps are
/// shared between successive snapshots when a change leaves them alone.
#[derive(Default)]
pub struct Snapshot {
    services: Arc<HashMap<Slug, Arc<ServiceEntry>>>,
    client_keys: Arc<HashMap<String, ClientKey>>,
}

impl Snapshot {
    /// Loads and decrypts everything from the repository.
    ///
    /// # Errors
    /// [`SnapshotError`] when the database fails or a key does not decrypt.
    pub async fn load(repo: &dyn KeyRepository, cipher: &KeyCipher) -> Result<Self, SnapshotError> {
        let configs = repo.list_configs().await?;
        let mut pools: HashMap<ConfigId, Vec<PoolKey>> = HashMap::new();
        for key in decrypt_active(repo.list_all_keys().await?, cipher)? {
            pools.entry(key.key.config_id).or_default().push(key);
        }
        let services = configs
            .into_iter()
            .map(|config| {
                let keys = pools.remove(&config.id).unwrap_or_default();
                (config.slug.clone(), service_entry(config, keys))
            })
            .collect();
        Ok(Self {
            services: Arc::new(services),
            client_keys: Arc::new(load_client_keys(repo).await?),
        })
    }

    /// This snapshot with one service reloaded (or removed, when it no longer
    /// exists); every other service is shared, not reloaded.
    async fn with_service(
        &self,
        id: ConfigId,
        repo: &dyn KeyRepository,
        cipher: &KeyCipher,
    ) -> Result<Self, SnapshotError> {
        let reloaded = match repo.get_config(id).await {
            Ok(config) => match repo.list_keys(id).await {
                Ok(keys) => Some(service_entry(config, decrypt_active(keys, cipher)?)),
                Err(RepoError::NotFound) => None, // deleted meanwhile
                Err(other) => return Err(other.into()),
            },
            Err(RepoError::NotFound) => None,
            Err(other) => return Err(other.into()),
        };
        let mut services = HashMap::clone(&self.services);
        // By id, not slug: an update may have renamed it.
        services.retain(|_, entry| entry.config.id != id);
        if let Some(entry) = reloaded {
            services.insert(entry.config.slug.clone(), entry);
        }
        Ok(Self {
            services: Arc::new(services),
            client_keys: Arc::clone(&self.client_keys),
        })
    }

    /// This snapshot with the client keys reloaded and the services shared.
    async fn with_client_keys(&self, repo: &dyn KeyRepository) -> Result<Self, SnapshotError> {
        Ok(Self {
            services: Arc::clone(&self.services),
            client_keys: Arc::new(load_client_keys(repo).await?),
        })
    }

    /// The service addressed by `slug`.
    #[must_use]
    pub fn service(&self, slug: &str) -> Option<&Arc<ServiceEntry>> {
        self.services.get(slug)
    }

    /// Every service, in no particular order.
    pub fn services(&self) -> impl Iterator<Item = &Arc<ServiceEntry>> {
        self.services.values()
    }

    /// The client key whose SHA-256 is `key_hash`.
    #[must_use]
    pub fn client_key_by_hash(&self, key_hash: &str) -> Option<&ClientKey> {
        self.client_keys.get(key_hash)
    }
}

fn service_entry(config: ProxyConfig, keys: Vec<PoolKey>) -> Arc<ServiceEntry> {
    let weights: Vec<u32> = keys.iter().map(|k| k.key.weight).collect();
    let rotation = Rotation::new(config.rotation_strategy, &weights);
    Arc::new(ServiceEntry {
        label: Arc::from(config.slug.as_str()),
        config,
        keys,
        rotation,
        meters: OnceLock::new(),
    })
}

/// The active keys, decrypted, in the order given.
fn decrypt_active(keys: Vec<StoredKey>, cipher: &KeyCipher) -> Result<Vec<PoolKey>, SnapshotError> {
    keys.into_iter()
        .filter(|stored| stored.key.is_active)
        .map(|stored| {
            let secret =
                cipher
                    .decrypt(&stored.ciphertext)
                    .map_err(|source| SnapshotError::Decrypt {
                        key_id: stored.key.id,
                        source,
                    })?;
            Ok(PoolKey {
                key: stored.key,
                secret,
            })
        })
        .collect()
}

async fn load_client_keys(
    repo: &dyn KeyRepository,
) -> Result<HashMap<String, ClientKey>, SnapshotError> {
    Ok(repo
        .list_client_keys()
        .await?
        .into_iter()
        .map(|StoredClientKey { key, key_hash }| (key_hash, key))
        .collect())
}

/// Holds the current snapshot and swaps in a new one on every change.
/// Readers clone an `Arc` under a read lock that is never held across an
/// await. Changes are applied one at a time, each on top of the last, so a
/// change applied concurrently with another is never lost.
pub struct SnapshotStore {
    current: RwLock<Arc<Snapshot>>,
    /// Held while a change is read and applied (never on the proxy's path).
    /// Its value: a change failed to apply, so the next one reloads everything.
    applying: tokio::sync::Mutex<bool>,
    repo: Arc<dyn KeyRepository>,
    cipher: Arc<KeyCipher>,
}

impl SnapshotStore {
    /// Loads the first snapshot.
    ///
    /// # Errors
    /// [`SnapshotError`] when the database fails or a key does not decrypt.
    pub async fn load(
        repo: Arc<dyn KeyRepository>,
        cipher: Arc<KeyCipher>,
    ) -> Result<Self, SnapshotError> {
        let snapshot = Snapshot::load(repo.as_ref(), &cipher).await?;
        Ok(Self {
            current: RwLock::new(Arc::new(snapshot)),
            applying: tokio::sync::Mutex::new(false),
            repo,
            cipher,
        })
    }

    /// The snapshot in force.
    #[must_use]
    pub fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reloads what `change` touched: one service, the client keys, or
    /// (for [`ChangeEvent::Configs`]) everything. On failure the old snapshot
    /// stays in force (the proxy keeps serving from cached configuration) and
    /// the next change reloads everything, so the lost change is caught up.
    ///
    /// # Errors
    /// [`SnapshotError`] when the database fails or a key does not decrypt.
    pub async fn apply(&self, change: ChangeEvent) -> Result<(), SnapshotError> {
        let mut behind = self.applying.lock().await;
        let change = if *behind {
            ChangeEvent::Configs
        } else {
            change
        };
        let base = self.current();
        let (repo, cipher) = (self.repo.as_ref(), self.cipher.as_ref());
        let next = match change {
            ChangeEvent::Configs => Snapshot::load(repo, cipher).await,
            ChangeEvent::Service(id) => base.with_service(id, repo, cipher).await,
            ChangeEvent::ClientKeys => base.with_client_keys(repo).await,
        };
        *behind = next.is_err();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next?);
        Ok(())
    }

    /// Applies every change notification until the subscription ends.
    pub async fn follow(self: Arc<Self>, mut changes: Box<dyn ChangeSubscription>) {
        while let Some(change) = changes.next().await {
            if let Err(error) = self.apply(change).await {
                tracing::warn!(%error, ?change, "configuration reload failed; serving the previous snapshot");
            }
        }
    }
}
