//! In-process [`RotationCache`]: atomics for rotation counters, maps for key
//! health and rate windows, a broadcast channel for change notifications.
//! Used by the lightweight build, and by enterprise instances while Redis is down.

use async_trait::async_trait;
use domain::ports::{
    CacheError, ChangeEvent, ChangeSubscription, RateBucket, RateDecision, RotationCache,
};
use domain::{time_fmt, ConfigId, KeyHealth, KeyId, KeyOutcome, Timestamp};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

const CHANGE_CHANNEL_CAPACITY: usize = 256;
const RATE_WINDOW_MS: i64 = 60_000;

/// Rotation state of one process.
pub struct MemoryRotationCache {
    counters: RwLock<HashMap<ConfigId, Arc<AtomicU64>>>,
    health: Mutex<HashMap<KeyId, KeyHealth>>,
    rates: Mutex<HashMap<RateBucket, RateWindow>>,
    changes: broadcast::Sender<ChangeEvent>,
}

#[derive(Debug, Clone, Copy)]
struct RateWindow {
    start_ms: i64,
    count: u32,
}

impl Default for MemoryRotationCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRotationCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(CHANGE_CHANNEL_CAPACITY);
        Self {
            counters: RwLock::new(HashMap::new()),
            health: Mutex::new(HashMap::new()),
            rates: Mutex::new(HashMap::new()),
            changes,
        }
    }

    fn counter(&self, service: ConfigId) -> Arc<AtomicU64> {
        if let Some(counter) = self
            .counters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&service)
        {
            return Arc::clone(counter);
        }
        let mut counters = self
            .counters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(counters.entry(service).or_default())
    }
}

#[async_trait]
impl RotationCache for MemoryRotationCache {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn next_counter(&self, service: ConfigId) -> Result<u64, CacheError> {
        Ok(self.counter(service).fetch_add(1, Ordering::Relaxed))
    }

    async fn key_health(&self, keys: &[KeyId]) -> Result<Vec<KeyHealth>, CacheError> {
        let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(keys
            .iter()
            .map(|k| health.get(k).cloned().unwrap_or_default())
            .collect())
    }

    async fn record_outcome(
        &self,
        key: KeyId,
        outcome: &KeyOutcome,
        now: Timestamp,
    ) -> Result<KeyHealth, CacheError> {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = health.entry(key).or_default();
        *entry = entry.apply(outcome, now);
        Ok(entry.clone())
    }

    async fn reset_health(&self, key: KeyId) -> Result<(), CacheError> {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        Ok(())
    }

    async fn acquire_rate(
        &self,
        bucket: RateBucket,
        limit: u32,
        now: Timestamp,
    ) -> Result<RateDecision, CacheError> {
        let now_ms = time_fmt::unix_millis(&now);
        let start_ms = now_ms - now_ms.rem_euclid(RATE_WINDOW_MS);
        let mut rates = self.rates.lock().unwrap_or_else(PoisonError::into_inner);
        let window = rates
            .entry(bucket)
            .or_insert(RateWindow { start_ms, count: 0 });
        if window.start_ms != start_ms {
            *window = RateWindow { start_ms, count: 0 };
        }
        if window.count >= limit {
            let wait_ms = u64::try_from(start_ms + RATE_WINDOW_MS - now_ms).unwrap_or(0);
            return Ok(RateDecision::Limited {
                retry_after: Duration::from_millis(wait_ms),
            });
        }
        window.count += 1;
        Ok(RateDecision::Allowed)
    }

    async fn publish(&self, event: ChangeEvent) -> Result<(), CacheError> {
        // No subscriber is not an error: nobody needs telling.
        let _ = self.changes.send(event);
        Ok(())
    }

    fn subscribe(&self) -> Box<dyn ChangeSubscription> {
        Box::new(MemorySubscription {
            receiver: self.changes.subscribe(),
        })
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

struct MemorySubscription {
    receiver: broadcast::Receiver<ChangeEvent>,
}

#[async_trait]
impl ChangeSubscription for MemorySubscription {
    async fn next(&mut self) -> Option<ChangeEvent> {
        match self.receiver.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(ChangeEvent::Configs),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::KeyState;

    #[tokio::test]
    async fn counters_are_per_service_and_start_at_zero() {
        let cache = MemoryRotationCache::new();
        assert_eq!(cache.next_counter(1).await.unwrap(), 0);
        assert_eq!(cache.next_counter(1).await.unwrap(), 1);
        assert_eq!(cache.next_counter(2).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn health_is_recorded_and_reset() {
        let cache = MemoryRotationCache::new();
        let now = time_fmt::now();
        let outcome = KeyOutcome::Rejected {
            status: 401,
            error: "no".into(),
        };
        let h = cache.record_outcome(7, &outcome, now).await.unwrap();
        assert_eq!(h.state, KeyState::CoolingDown);
        assert_eq!(cache.key_health(&[7, 8]).await.unwrap()[0], h);
        cache.reset_health(7).await.unwrap();
        assert_eq!(
            cache.key_health(&[7]).await.unwrap()[0],
            KeyHealth::default()
        );
    }

    #[tokio::test]
    async fn rate_limit_counts_per_minute_window() {
        let cache = MemoryRotationCache::new();
        let t0 = time_fmt::from_unix_millis(1_800_000_000_000);
        let bucket = RateBucket::ClientKey(1);
        for _ in 0..3 {
            assert_eq!(
                cache.acquire_rate(bucket, 3, t0).await.unwrap(),
                RateDecision::Allowed
            );
        }
        let limited = cache
            .acquire_rate(bucket, 3, t0 + Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(
            limited,
            RateDecision::Limited {
                retry_after: Duration::from_secs(40)
            }
        );
        let next_window = t0 + Duration::from_secs(60);
        assert_eq!(
            cache.acquire_rate(bucket, 3, next_window).await.unwrap(),
            RateDecision::Allowed
        );
    }

    #[tokio::test]
    async fn subscribers_receive_published_changes() {
        let cache = MemoryRotationCache::new();
        let mut sub = cache.subscribe();
        cache.publish(ChangeEvent::Service(3)).await.unwrap();
        assert_eq!(sub.next().await, Some(ChangeEvent::Service(3)));
    }
}
