//! Keeps proxying when the shared rotation cache (Redis) is down: every call
//! falls back to a per-instance cache, one warning is logged when the outage
//! starts and one line when it ends, and while degraded the shared cache is
//! probed at most once per second so requests never wait on a dead server.

use async_trait::async_trait;
use domain::ports::{
    CacheError, ChangeEvent, ChangeSubscription, RateBucket, RateDecision, RotationCache,
};
use domain::{ConfigId, KeyHealth, KeyId, KeyOutcome, Timestamp};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// A shared cache with a per-instance fallback.
pub struct FailoverCache {
    primary: Arc<dyn RotationCache>,
    fallback: Arc<dyn RotationCache>,
    /// When the outage began and when the primary was last tried.
    outage: Mutex<Option<Outage>>,
}

#[derive(Debug, Clone)]
struct Outage {
    reason: String,
    last_probe: Instant,
}

impl FailoverCache {
    /// Wraps `primary`, falling back to `fallback` while it fails.
    #[must_use]
    pub fn new(primary: Arc<dyn RotationCache>, fallback: Arc<dyn RotationCache>) -> Self {
        Self {
            primary,
            fallback,
            outage: Mutex::new(None),
        }
    }

    fn outage(&self) -> std::sync::MutexGuard<'_, Option<Outage>> {
        self.outage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether to try the primary now: always when healthy, once per interval when not.
    fn should_try_primary(&self) -> bool {
        let mut outage = self.outage();
        match outage.as_mut() {
            None => true,
            Some(o) if o.last_probe.elapsed() >= PROBE_INTERVAL => {
                o.last_probe = Instant::now();
                true
            }
            Some(_) => false,
        }
    }

    fn primary_failed(&self, error: &CacheError) {
        let mut outage = self.outage();
        if outage.is_none() {
            tracing::warn!(%error, "shared rotation cache unavailable; rotation and key health are per instance until it returns");
        }
        *outage = Some(Outage {
            reason: error.to_string(),
            last_probe: Instant::now(),
        });
    }

    fn primary_succeeded(&self) {
        let mut outage = self.outage();
        if outage.take().is_some() {
            tracing::info!("shared rotation cache is back; shared rotation resumed");
        }
    }
}

/// Runs `$call` on the primary when allowed, else (or on failure) on the fallback.
macro_rules! with_failover {
    ($self:ident, |$cache:ident| $call:expr) => {{
        if $self.should_try_primary() {
            let $cache = &$self.primary;
            match $call.await {
                Ok(value) => {
                    $self.primary_succeeded();
                    return Ok(value);
                }
                Err(error) => $self.primary_failed(&error),
            }
        }
        let $cache = &$self.fallback;
        $call.await
    }};
}

#[async_trait]
impl RotationCache for FailoverCache {
    fn backend(&self) -> &'static str {
        self.primary.backend()
    }

    async fn next_counter(&self, service: ConfigId) -> Result<u64, CacheError> {
        with_failover!(self, |cache| cache.next_counter(service))
    }

    async fn next_counter_with_health(
        &self,
        service: ConfigId,
        keys: &[KeyId],
    ) -> Result<(u64, Vec<KeyHealth>), CacheError> {
        with_failover!(self, |cache| cache.next_counter_with_health(service, keys))
    }

    async fn key_health(&self, keys: &[KeyId]) -> Result<Vec<KeyHealth>, CacheError> {
        with_failover!(self, |cache| cache.key_health(keys))
    }

    async fn record_outcome(
        &self,
        key: KeyId,
        outcome: &KeyOutcome,
        now: Timestamp,
    ) -> Result<KeyHealth, CacheError> {
        with_failover!(self, |cache| cache.record_outcome(key, outcome, now))
    }

    async fn reset_health(&self, key: KeyId) -> Result<(), CacheError> {
        // Both: a key re-enabled during an outage must be clean in each.
        let local = self.fallback.reset_health(key).await;
        with_failover!(self, |cache| cache.reset_health(key)).and(local)
    }

    async fn acquire_rate(
        &self,
        bucket: RateBucket,
        limit: u32,
        now: Timestamp,
    ) -> Result<RateDecision, CacheError> {
        with_failover!(self, |cache| cache.acquire_rate(bucket, limit, now))
    }

    async fn publish(&self, event: ChangeEvent) -> Result<(), CacheError> {
        with_failover!(self, |cache| cache.publish(event))
    }

    fn subscribe(&self) -> Box<dyn ChangeSubscription> {
        // The primary's subscription reconnects by itself and announces a
        // full reload after a gap.
        self.primary.subscribe()
    }

    async fn ping(&self) -> Result<(), CacheError> {
        match self.primary.ping().await {
            Ok(()) => {
                self.primary_succeeded();
                Ok(())
            }
            Err(error) => {
                self.primary_failed(&error);
                let reason = self
                    .outage()
                    .as_ref()
                    .map_or_else(|| error.to_string(), |o| o.reason.clone());
                Err(CacheError::Degraded(reason))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A primary that fails while `down` is set.
    struct Switchable {
        inner: infra_memory::MemoryRotationCache,
        down: AtomicBool,
    }

    fn check(down: &AtomicBool) -> Result<(), CacheError> {
        if down.load(Ordering::SeqCst) {
            Err(CacheError::Unavailable("connection refused".into()))
        } else {
            Ok(())
        }
    }

    #[async_trait]
    impl RotationCache for Switchable {
        fn backend(&self) -> &'static str {
            "redis"
        }
        async fn next_counter(&self, service: ConfigId) -> Result<u64, CacheError> {
            check(&self.down)?;
            self.inner.next_counter(service).await
        }
        async fn key_health(&self, keys: &[KeyId]) -> Result<Vec<KeyHealth>, CacheError> {
            check(&self.down)?;
            self.inner.key_health(keys).await
        }
        async fn record_outcome(
            &self,
            key: KeyId,
            o: &KeyOutcome,
            now: Timestamp,
        ) -> Result<KeyHealth, CacheError> {
            check(&self.down)?;
            self.inner.record_outcome(key, o, now).await
        }
        async fn reset_health(&self, key: KeyId) -> Result<(), CacheError> {
            check(&self.down)?;
            self.inner.reset_health(key).await
        }
        async fn acquire_rate(
            &self,
            b: RateBucket,
            l: u32,
            now: Timestamp,
        ) -> Result<RateDecision, CacheError> {
            check(&self.down)?;
            self.inner.acquire_rate(b, l, now).await
        }
        async fn publish(&self, event: ChangeEvent) -> Result<(), CacheError> {
            check(&self.down)?;
            self.inner.publish(event).await
        }
        fn subscribe(&self) -> Box<dyn ChangeSubscription> {
            self.inner.subscribe()
        }
        async fn ping(&self) -> Result<(), CacheError> {
            check(&self.down)
        }
    }

    #[tokio::test]
    async fn falls_back_while_down_and_resumes_after() {
        let primary = Arc::new(Switchable {
            inner: infra_memory::MemoryRotationCache::new(),
            down: AtomicBool::new(false),
        });
        let cache = FailoverCache::new(
            primary.clone(),
            Arc::new(infra_memory::MemoryRotationCache::new()),
        );
        assert_eq!(cache.next_counter(1).await.unwrap(), 0);
        assert_eq!(cache.next_counter(1).await.unwrap(), 1);
        primary.down.store(true, Ordering::SeqCst);
        // The fallback counts on its own while the primary is down.
        assert_eq!(cache.next_counter(1).await.unwrap(), 0);
        assert_eq!(cache.next_counter(1).await.unwrap(), 1);
        assert!(matches!(cache.ping().await, Err(CacheError::Degraded(_))));
        primary.down.store(false, Ordering::SeqCst);
        // Probed at most once a second: still on the fallback right away…
        assert_eq!(cache.next_counter(1).await.unwrap(), 2);
        tokio::time::sleep(PROBE_INTERVAL).await;
        // …then back on the shared counter, where it left off.
        assert_eq!(cache.next_counter(1).await.unwrap(), 2);
        assert!(cache.ping().await.is_ok());
    }
}
