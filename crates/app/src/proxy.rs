//! The proxy's decisions, independent of HTTP: which service a request
//! addresses, whether its client key may call it, and which upstream key
//! serves it. Everything comes from the in-memory snapshot and the rotation
//! cache; nothing touches the database.

use crate::secrets::{constant_time_eq, hash_client_key};
use crate::snapshot::{PoolKey, ServiceEntry, SnapshotStore};
use crate::telemetry::Telemetry;
use domain::client_key::ClientKeyVerdict;
use domain::ports::{CacheError, RateBucket, RateDecision, RotationCache};
use domain::{
    time_fmt, ClientKeyId, ConfigType, KeyHealth, KeyOutcome, KeyState, RotationStrategy,
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// Why a proxied request was refused before reaching an upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No active service of this kind has this slug.
    #[error("no active service `{0}`")]
    UnknownService(String),
    /// No client key was presented.
    #[error("missing client key")]
    MissingClientKey,
    /// The client key is not known.
    #[error("invalid client key")]
    InvalidClientKey,
    /// The client key was revoked.
    #[error("client key revoked")]
    ClientKeyRevoked,
    /// The client key expired.
    #[error("client key expired")]
    ClientKeyExpired,
    /// The client key may not call this service.
    #[error("client key not allowed for service `{0}`")]
    ClientKeyNotAllowed(String),
    /// Every key is disabled, cooling down or invalid.
    #[error("no usable upstream key for service `{slug}`")]
    NoAvailableKey {
        /// The service.
        slug: String,
        /// When the earliest cooldown ends, if any key is cooling down.
        retry_after: Option<Duration>,
    },
    /// The client key is over its `rpm_limit`.
    #[error("client key over its limit of {limit} requests per minute")]
    ClientRateLimited {
        /// The key's limit.
        limit: u32,
        /// When the current minute window ends.
        retry_after: Duration,
    },
    /// The rotation cache failed.
    #[error("rotation state unavailable: {0}")]
    Cache(String),
}

impl From<CacheError> for ProxyError {
    fn from(e: CacheError) -> Self {
        match e {
            CacheError::Unavailable(reason) | CacheError::Degraded(reason) => {
                ProxyError::Cache(reason)
            }
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The client key's id; `None` for a `GLOBAL_PROXY_KEYS` entry.
    pub client_key_id: Option<ClientKeyId>,
    /// Its name (`global` for global keys).
    pub name: String,
    /// Its `rpm_limit`, if any.
    pub rpm_limit: Option<u32>,
}

/// Proxy decisions over the snapshot and the rotation cache.
pub struct ProxyService {
    snapshots: Arc<SnapshotStore>,
    cache: Arc<dyn RotationCache>,
    global_keys: Vec<SecretString>,
    telemetry: Arc<Telemetry>,
}

impl ProxyService {
    /// Assembles the service; `global_keys` are `GLOBAL_PROXY_KEYS`.
    #[must_use]
    pub fn new(
        snapshots: Arc<SnapshotStore>,
        cache: Arc<dyn RotationCache>,
        global_keys: Vec<SecretString>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        Self {
            snapshots,
            cache,
            global_keys,
            telemetry,
        }
    }

    /// This instance's usage counters, request log and metrics.
    #[must_use]
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// The active service of `kind` addressed by `slug`.
    ///
    /// # Errors
    /// [`ProxyError::UnknownService`] when it is missing, inactive or of the other kind.
    pub fn resolve(&self, slug: &str, kind: ConfigType) -> Result<Arc<ServiceEntry>, ProxyError> {
        self.snapshots
            .current()
            .service(slug)
            .filter(|entry| entry.config.is_active && entry.config.config_type() == kind)
            .cloned()
            .ok_or_else(|| ProxyError::UnknownService(slug.to_owned()))
    }

    /// Checks the presented client key against `GLOBAL_PROXY_KEYS` (constant
    /// time) and the client keys of the admin API.
    ///
    /// # Errors
    /// 401-class errors for a missing, unknown, revoked or expired key;
    /// [`ProxyError::ClientKeyNotAllowed`] when it may not call this service.
    pub fn authenticate(
        &self,
        service: &ServiceEntry,
        presented: Option<&str>,
    ) -> Result<ClientIdentity, ProxyError> {
        let presented = presented
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ProxyError::MissingClientKey)?;
        // Compare with every global key, so timing reveals neither match nor position.
        let global = self.global_keys.iter().fold(false, |found, key| {
            found | constant_time_eq(key.expose_secret().as_bytes(), presented.as_bytes())
        });
        if global {
            return Ok(ClientIdentity {
                client_key_id: None,
                name: "global".to_owned(),
                rpm_limit: None,
            });
        }
        let snapshot = self.snapshots.current();
        let key = snapshot
            .client_key_by_hash(&hash_client_key(presented))
            .ok_or(ProxyError::InvalidClientKey)?;
        match key.permits(&service.config.slug, time_fmt::now()) {
            ClientKeyVerdict::Allowed => Ok(ClientIdentity {
                client_key_id: Some(key.id),
                name: key.name.clone(),
                rpm_limit: key.rpm_limit,
            }),
            ClientKeyVerdict::Revoked => Err(ProxyError::ClientKeyRevoked),
            ClientKeyVerdict::Expired => Err(ProxyError::ClientKeyExpired),
            ClientKeyVerdict::NotAllowed => Err(ProxyError::ClientKeyNotAllowed(
                service.config.slug.to_string(),
            )),
        }
    }

    /// Counts the request against the client key's `rpm_limit` (per minute
    /// window, shared by every instance through the cache). A cache failure
    /// lets the request through: limits must not turn an outage into one.
    ///
    /// # Errors
    /// [`ProxyError::ClientRateLimited`] when the window is full.
    pub async fn admit(&self, identity: &ClientIdentity) -> Result<(), ProxyError> {
        let (Some(id), Some(limit)) = (identity.client_key_id, identity.rpm_limit) else {
            return Ok(());
        };
        match self
            .cache
            .acquire_rate(RateBucket::ClientKey(id), limit, time_fmt::now())
            .await
        {
            Ok(RateDecision::Allowed) => Ok(()),
            Ok(RateDecision::Limited { retry_after }) => {
                Err(ProxyError::ClientRateLimited { limit, retry_after })
            }
            Err(error) => {
                self.telemetry.cache_error("client_rate_limit");
                tracing::warn!(%error, "rate limit not checked: cache unavailable");
                Ok(())
            }
        }
    }

    /// Counts a call against an upstream key's `rpm_limit`; `Err(wait)` when
    /// the key is at its limit for this minute (it is then skipped, which
    /// costs neither failover budget). Cache failures let the call through.
    pub async fn acquire_key(&self, key: &PoolKey) -> Result<(), Duration> {
        let Some(limit) = key.key.rpm_limit else {
            return Ok(());
        };
        match self
            .cache
            .acquire_rate(RateBucket::UpstreamKey(key.key.id), limit, time_fmt::now())
            .await
        {
            Ok(RateDecision::Allowed) => Ok(()),
            Ok(RateDecision::Limited { retry_after }) => Err(retry_after),
            Err(error) => {
                self.telemetry.cache_error("key_rate_limit");
                tracing::warn!(%error, "key rate limit not checked: cache unavailable");
                Ok(())
            }
        }
    }

    /// The keys to try for the next request, in order: the service's counter
    /// advances by one (success or not), and every usable key from the pick
    /// onwards follows, so failover walks the rotation.
    ///
    /// # Errors
    /// [`ProxyError::NoAvailableKey`] when no key is usable; `Cache` when the
    /// rotation state is unreachable.
    pub async fn plan(&self, service: &ServiceEntry) -> Result<Plan, ProxyError> {
        let no_key = |retry_after| ProxyError::NoAvailableKey {
            slug: service.config.slug.to_string(),
            retry_after,
        };
        if service.keys.is_empty() {
            return Err(no_key(None));
        }
        let ids: Vec<_> = service.keys.iter().map(|k| k.key.id).collect();
        let (counter, health) = self
            .cache
            .next_counter_with_health(service.config.id, &ids)
            .await
            .inspect_err(|_| self.telemetry.cache_error("rotation"))?;
        let now = time_fmt::now();
        let random = match service.config.rotation_strategy {
            RotationStrategy::Random => random_u64(),
            RotationStrategy::RoundRobin | RotationStrategy::Weighted => 0,
        };
        let mut order: Vec<usize> = Vec::with_capacity(service.keys.len());
        for index in service.rotation.candidates(counter, random) {
            if !order.contains(&index) && health.get(index).is_none_or(|h| h.is_usable(now)) {
                order.push(index);
            }
        }
        if order.is_empty() {
            return Err(no_key(earliest_recovery(&health, now)));
        }
        Ok(Plan { order, health })
    }

    /// Records what an upstream answer says about key `index`, for every
    /// instance to see. A success of a key with a clean record changes
    /// nothing, so it costs no cache write on the hot path. Cache failures
    /// are logged, never the request's problem.
    pub async fn record(
        &self,
        service: &ServiceEntry,
        plan: &Plan,
        index: usize,
        outcome: &KeyOutcome,
    ) {
        let pristine = plan.health.get(index).is_none_or(|h| {
            h.state == KeyState::Healthy
                && h.consecutive_failures == 0
                && h.cooldown_until.is_none()
        });
        if matches!(outcome, KeyOutcome::Success { .. }) && pristine {
            return;
        }
        let Some(key) = service.keys.get(index) else {
            return;
        };
        match self
            .cache
            .record_outcome(key.key.id, outcome, time_fmt::now())
            .await
        {
            Ok(health) => {
                if let Some(reason) = cooldown_reason(outcome) {
                    self.telemetry
                        .metrics
                        .cooldowns
                        .get_or_create(&[
                            ("service", service.config.slug.to_string()),
                            ("reason", reason.to_owned()),
                        ])
                        .inc();
                }
                if !matches!(outcome, KeyOutcome::Success { .. }) {
                    tracing::info!(service = %service.config.slug, key_id = key.key.id, key = %key.key.key_masked,
                        state = ?health.state, cooldown_until = ?health.cooldown_until, "key health changed");
                }
            }
            Err(error) => {
                self.telemetry.cache_error("record_health");
                tracing::warn!(%error, key_id = key.key.id, "cannot record key health");
            }
        }
    }
}

impl ProxyService {
    /// The service and pool index of an active key.
    #[must_use]
    pub fn find_key(&self, key_id: domain::KeyId) -> Option<(Arc<ServiceEntry>, usize)> {
        let snapshot = self.snapshots.current();
        let found = snapshot.services().find_map(|service| {
            service
                .keys
                .iter()
                .position(|k| k.key.id == key_id)
                .map(|index| (Arc::clone(service), index))
        });
        found
    }

    /// Active keys that are `invalid`, for the background re-probe.
    pub async fn invalid_keys(&self) -> Vec<(Arc<ServiceEntry>, usize)> {
        let snapshot = self.snapshots.current();
        let mut invalid = Vec::new();
        for service in snapshot.services() {
            let ids: Vec<_> = service.keys.iter().map(|k| k.key.id).collect();
            if ids.is_empty() {
                continue;
            }
            match self.cache.key_health(&ids).await {
                Ok(health) => invalid.extend(
                    health
                        .iter()
                        .enumerate()
                        .filter(|(_, h)| h.state == KeyState::Invalid)
                        .map(|(index, _)| (Arc::clone(service), index)),
                ),
                Err(error) => tracing::debug!(%error, "key health unavailable for re-probing"),
            }
        }
        invalid
    }

    /// Records the outcome of a key test call (admin or background probe)
    /// and returns the key's health after it.
    ///
    /// # Errors
    /// [`ProxyError::Cache`] when the health cannot be written.
    pub async fn record_probe(
        &self,
        key: &PoolKey,
        outcome: &KeyOutcome,
    ) -> Result<KeyHealth, ProxyError> {
        Ok(self
            .cache
            .record_outcome(key.key.id, outcome, time_fmt::now())
            .await?)
    }
}

/// The keys to try for one request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Indexes in the service's pool, in the order to try them.
    pub order: Vec<usize>,
    /// Health of every key of the pool when the plan was made.
    pub health: Vec<KeyHealth>,
}

fn earliest_recovery(health: &[KeyHealth], now: domain::Timestamp) -> Option<Duration> {
    health
        .iter()
        .filter_map(|h| h.cooldown_until)
        .filter(|until| *until > now)
        .min()
        .map(|until| {
            let wait = until - now;
            Duration::from_millis(u64::try_from(wait.whole_milliseconds()).unwrap_or(0))
        })
}

fn random_u64() -> u64 {
    use rand_core::{OsRng, RngCore};
    OsRng.next_u64()
}

/// The metrics label of the cooldown an outcome causes.
fn cooldown_reason(outcome: &KeyOutcome) -> Option<&'static str> {
    match outcome {
        KeyOutcome::Success { .. } => None,
        KeyOutcome::RateLimited { .. } => Some("rate_limited"),
        KeyOutcome::Rejected { .. } => Some("rejected"),
        KeyOutcome::Transient { .. } => Some("transient"),
        KeyOutcome::Invalid { .. } => Some("invalid"),
    }
}
