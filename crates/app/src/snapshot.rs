//! The in-memory view of the configuration the proxy serves from: services
//! by slug with their decrypted key pools, client keys by hash. Rebuilt on
//! every change notification, so the hot path never queries the database.

use crate::secrets::{KeyCipher, SecretError};
use domain::client_key::StoredClientKey;
use domain::ports::{ChangeSubscription, KeyRepository, RepoError};
use domain::rotation::Rotation;
use domain::{ClientKey, ConfigId, ProxyConfig, Slug, UpstreamKey};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

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
}

/// Everything the proxy needs, decrypted and indexed.
#[derive(Default)]
pub struct Snapshot {
    services: HashMap<Slug, Arc<ServiceEntry>>,
    client_keys: HashMap<String, ClientKey>,
}

impl Snapshot {
    /// Loads and decrypts everything from the repository.
    ///
    /// # Errors
    /// [`SnapshotError`] when the database fails or a key does not decrypt.
    pub async fn load(repo: &dyn KeyRepository, cipher: &KeyCipher) -> Result<Self, SnapshotError> {
        let configs = repo.list_configs().await?;
        let mut pools: HashMap<ConfigId, Vec<PoolKey>> = HashMap::new();
        for stored in repo.list_all_keys().await? {
            if !stored.key.is_active {
                continue;
            }
            let secret =
                cipher
                    .decrypt(&stored.ciphertext)
                    .map_err(|source| SnapshotError::Decrypt {
                        key_id: stored.key.id,
                        source,
                    })?;
            pools
                .entry(stored.key.config_id)
                .or_default()
                .push(PoolKey {
                    key: stored.key,
                    secret,
                });
        }
        let services = configs
            .into_iter()
            .map(|config| {
                let keys = pools.remove(&config.id).unwrap_or_default();
                let weights: Vec<u32> = keys.iter().map(|k| k.key.weight).collect();
                let rotation = Rotation::new(config.rotation_strategy, &weights);
                (
                    config.slug.clone(),
                    Arc::new(ServiceEntry {
                        label: Arc::from(config.slug.as_str()),
                        config,
                        keys,
                        rotation,
                    }),
                )
            })
            .collect();
        let client_keys = repo
            .list_client_keys()
            .await?
            .into_iter()
            .map(|StoredClientKey { key, key_hash }| (key_hash, key))
            .collect();
        Ok(Self {
            services,
            client_keys,
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

/// Holds the current snapshot and swaps in a new one on every change. Readers
/// clone an `Arc` under a read lock that is never held across an await.
pub struct SnapshotStore {
    current: RwLock<Installed>,
    /// Tickets of started reloads; a reload that started later read the
    /// database later, so only it may replace what an earlier one installed.
    started: AtomicU64,
    repo: Arc<dyn KeyRepository>,
    cipher: Arc<KeyCipher>,
}

/// The snapshot in force and the ticket of the reload that built it.
struct Installed {
    ticket: u64,
    snapshot: Arc<Snapshot>,
}

impl Installed {
    /// Installs `snapshot` unless a reload that started later already did:
    /// two reloads overlapping (the admin API's own and one triggered by a
    /// change notification) must not leave the older view in force.
    fn install(&mut self, ticket: u64, snapshot: Snapshot) -> bool {
        if ticket <= self.ticket {
            return false;
        }
        self.ticket = ticket;
        self.snapshot = Arc::new(snapshot);
        true
    }
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
            current: RwLock::new(Installed {
                ticket: 0,
                snapshot: Arc::new(snapshot),
            }),
            started: AtomicU64::new(0),
            repo,
            cipher,
        })
    }

    /// The snapshot in force.
    #[must_use]
    pub fn current(&self) -> Arc<Snapshot> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .snapshot,
        )
    }

    /// Rebuilds the snapshot from the database. On failure the old one stays
    /// in force (the proxy keeps serving from cached configuration).
    ///
    /// # Errors
    /// [`SnapshotError`] when the database fails or a key does not decrypt.
    pub async fn reload(&self) -> Result<(), SnapshotError> {
        let ticket = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let snapshot = Snapshot::load(self.repo.as_ref(), &self.cipher).await?;
        self.current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .install(ticket, snapshot);
        Ok(())
    }

    /// Reloads on every change notification until the subscription ends.
    pub async fn follow(self: Arc<Self>, mut changes: Box<dyn ChangeSubscription>) {
        while changes.next().await.is_some() {
            if let Err(error) = self.reload().await {
                tracing::warn!(%error, "configuration reload failed; serving the previous snapshot");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_that_started_earlier_never_replaces_a_later_one() {
        let mut installed = Installed {
            ticket: 0,
            snapshot: Arc::new(Snapshot::default()),
        };
        assert!(
            installed.install(2, Snapshot::default()),
            "the later reload finishes first"
        );
        let later = Arc::clone(&installed.snapshot);
        assert!(
            !installed.install(1, Snapshot::default()),
            "the earlier, slower reload is dropped"
        );
        assert!(Arc::ptr_eq(&installed.snapshot, &later));
        assert!(installed.install(3, Snapshot::default()));
        assert!(!Arc::ptr_eq(&installed.snapshot, &later));
    }
}
