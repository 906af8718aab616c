//! [`RotationCache`] on Redis, shared by every gateway instance: rotation is
//! one INCRBY per round trip (concurrent picks of a service coalesced, see
//! `batch`), key health as JSON updated with optimistic transactions
//! (the health policy stays in `domain`), per-minute rate windows with a Lua
//! script, and change notifications over pub/sub (reconnecting, and
//! announcing a full reload after any gap).

mod batch;
mod changes;

use async_trait::async_trait;
use deadpool_redis::{Pool, Runtime};
use domain::ports::{
    CacheError, ChangeEvent, ChangeSubscription, RateBucket, RateDecision, RotationCache,
};
use domain::{time_fmt, ConfigId, KeyHealth, KeyId, KeyOutcome, Timestamp};
use redis::AsyncCommands;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const RATE_WINDOW_MS: i64 = 60_000;
const HEALTH_UPDATE_ATTEMPTS: usize = 16;
const RATE_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[:password@]host:6379[/db]` (`REDIS_URL` or the `REDIS_*` variables).
    pub url: SecretString,
    /// Prefix of every key and channel (`REDIS_KEY_PREFIX`), so deployments can share a Redis.
    pub prefix: String,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
}

/// Why Redis could not be used; never contains the password.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// Bad URL, unreachable, or authentication failed.
    #[error("cannot use Redis (check REDIS_URL or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD): {0}")]
    Connect(String),
}

/// The shared rotation cache.
pub struct RedisRotationCache {
    pool: Pool,
    prefix: String,
    rate_script: redis::Script,
    changes: broadcast::Sender<ChangeEvent>,
    picks: batch::PickBatcher,
}

fn unavailable(e: impl std::fmt::Display) -> CacheError {
    CacheError::Unavailable(e.to_string())
}

impl RedisRotationCache {
    /// Connects, checks Redis answers (and accepts the credentials), and
    /// starts listening for change notifications.
    ///
    /// # Errors
    /// [`RedisError::Connect`] naming the variables to check.
    pub async fn connect(config: &RedisConfig) -> Result<Self, RedisError> {
        let url = config.url.expose_secret();
        let pool = deadpool_redis::Config::from_url(url)
            .builder()
            .map_err(|e| RedisError::Connect(e.to_string()))?
            .max_size(32)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| RedisError::Connect(e.to_string()))?;
        let mut conn = pool
            .get()
            .await
            .map_err(|e| RedisError::Connect(e.to_string()))?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| RedisError::Connect(e.to_string()))?;
        let client = redis::Client::open(url).map_err(|e| RedisError::Connect(e.to_string()))?;
        let (changes, _) = broadcast::channel(256);
        changes::spawn_listener(
            client,
            format!("{}:changes", config.prefix),
            changes.clone(),
        );
        Ok(Self {
            pool,
            prefix: config.prefix.clone(),
            rate_script: redis::Script::new(RATE_SCRIPT),
            changes,
            picks: batch::PickBatcher::default(),
        })
    }

    async fn conn(&self) -> Result<deadpool_redis::Connection, CacheError> {
        self.pool.get().await.map_err(unavailable)
    }

    fn health_key(&self, key: KeyId) -> String {
        format!("{}:health:{key}", self.prefix)
    }

    /// One round trip: `INCRBY size` on the service's counter together with
    /// the health of `keys`; answers the first of the `size` values reserved.
    async fn reserve_counters(
        &self,
        service: ConfigId,
        keys: &[KeyId],
        size: u64,
    ) -> Result<(u64, batch::BatchResult), CacheError> {
        let mut conn = self.conn().await?;
        let mut pipe = redis::pipe();
        pipe.cmd("INCRBY")
            .arg(format!("{}:rr:{service}", self.prefix))
            .arg(size);
        if !keys.is_empty() {
            let names: Vec<String> = keys.iter().map(|k| self.health_key(*k)).collect();
            pipe.cmd("MGET").arg(names);
        }
        let (last, values): (i64, Vec<Option<String>>) = if keys.is_empty() {
            let (last,): (i64,) = pipe.query_async(&mut conn).await.map_err(unavailable)?;
            (last, Vec::new())
        } else {
            pipe.query_async(&mut conn).await.map_err(unavailable)?
        };
        let health: Vec<KeyHealth> = values.iter().map(|v| parse_health(v.as_deref())).collect();
        let first = u64::try_from(last).unwrap_or(0).saturating_sub(size);
        Ok((
            first,
            batch::BatchResult {
                ids: Arc::from(keys),
                health: Arc::from(health),
            },
        ))
    }
}

fn parse_health(text: Option<&str>) -> KeyHealth {
    match text {
        Some(json) => serde_json::from_str(json).unwrap_or_else(|error| {
            tracing::warn!(%error, "unreadable key health in Redis; treating the key as healthy");
            KeyHealth::default()
        }),
        None => KeyHealth::default(),
    }
}

#[async_trait]
impl RotationCache for RedisRotationCache {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn next_counter(&self, service: ConfigId) -> Result<u64, CacheError> {
        let mut conn = self.conn().await?;
        let n: i64 = conn
            .incr(format!("{}:rr:{service}", self.prefix), 1)
            .await
            .map_err(unavailable)?;
        Ok(u64::try_from(n - 1).unwrap_or(0))
    }

    async fn next_counter_with_health(
        &self,
        service: ConfigId,
        keys: &[KeyId],
    ) -> Result<(u64, Vec<KeyHealth>), CacheError> {
        let picked = self
            .picks
            .pick(service, |size| self.reserve_counters(service, keys, size))
            .await?;
        // A pick queued behind another one for the same service shares its
        // health reading; if the pool changed in between, it reads its own.
        let health = if *picked.batch.ids == *keys {
            picked.batch.health.to_vec()
        } else {
            self.key_health(keys).await?
        };
        Ok((picked.counter, health))
    }

    async fn key_health(&self, keys: &[KeyId]) -> Result<Vec<KeyHealth>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let names: Vec<String> = keys.iter().map(|k| self.health_key(*k)).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&names)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(values.iter().map(|v| parse_health(v.as_deref())).collect())
    }

    async fn record_outcome(
        &self,
        key: KeyId,
        outcome: &KeyOutcome,
        now: Timestamp,
    ) -> Result<KeyHealth, CacheError> {
        let mut conn = self.conn().await?;
        let name = self.health_key(key);
        for _ in 0..HEALTH_UPDATE_ATTEMPTS {
            redis::cmd("WATCH")
                .arg(&name)
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)?;
            let current: Option<String> = conn.get(&name).await.map_err(unavailable)?;
            let next = parse_health(current.as_deref()).apply(outcome, now);
            let json = serde_json::to_string(&next).map_err(unavailable)?;
            // EXEC answers nil when another instance changed the key since WATCH: try again.
            let committed: Option<(String,)> = redis::pipe()
                .atomic()
                .set(&name, json)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if committed.is_some() {
                return Ok(next);
            }
        }
        let _ = redis::cmd("UNWATCH").query_async::<()>(&mut conn).await;
        Err(CacheError::Unavailable(format!(
            "key {key}: health update kept conflicting"
        )))
    }

    async fn reset_health(&self, key: KeyId) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        conn.del::<_, ()>(self.health_key(key))
            .await
            .map_err(unavailable)
    }

    async fn acquire_rate(
        &self,
        bucket: RateBucket,
        limit: u32,
        now: Timestamp,
    ) -> Result<RateDecision, CacheError> {
        let now_ms = time_fmt::unix_millis(&now);
        let start_ms = now_ms - now_ms.rem_euclid(RATE_WINDOW_MS);
        let window_end = start_ms + RATE_WINDOW_MS;
        let name = format!("{}:rate:{}:{start_ms}", self.prefix, bucket.name());
        let mut conn = self.conn().await?;
        let count: i64 = self
            .rate_script
            .key(&name)
            .arg(window_end - now_ms + 1000)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if count > i64::from(limit) {
            let wait = u64::try_from(window_end - now_ms).unwrap_or(0);
            return Ok(RateDecision::Limited {
                retry_after: Duration::from_millis(wait),
            });
        }
        Ok(RateDecision::Allowed)
    }

    async fn publish(&self, event: ChangeEvent) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        conn.publish::<_, _, ()>(format!("{}:changes", self.prefix), event.encode())
            .await
            .map_err(unavailable)
    }

    fn subscribe(&self) -> Box<dyn ChangeSubscription> {
        Box::new(changes::Subscription::new(self.changes.subscribe()))
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
