//! Background re-probing of `invalid` keys (SPEC §5.5): each is tested on a
//! schedule (by default 1 min, 5 min, 30 min, then every 2 h after it was
//! found invalid); a successful test makes it healthy again, for every
//! instance. Keys disabled by an admin are never probed.

use super::probe::probe;
use super::upstream::UpstreamClient;
use app::proxy::ProxyService;
use domain::KeyId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs forever on the current runtime.
pub async fn run(
    service: Arc<ProxyService>,
    schedule: Vec<Duration>,
    connect_timeout: Duration,
    request_timeout: Duration,
) {
    let client = match UpstreamClient::new(connect_timeout) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "invalid keys will not be re-probed");
            return;
        }
    };
    let first = schedule.first().copied().unwrap_or(Duration::from_secs(60));
    // Check for newly invalid keys often enough for the first delay to be kept.
    let tick = (first / 4).clamp(Duration::from_millis(100), Duration::from_secs(15));
    // key → (probes made, next probe due)
    let mut due: HashMap<KeyId, (usize, Instant)> = HashMap::new();
    loop {
        actix_web::rt::time::sleep(tick).await;
        let invalid = service.invalid_keys().await;
        due.retain(|id, _| invalid.iter().any(|(s, i)| s.keys[*i].key.id == *id));
        let now = Instant::now();
        for (entry, index) in invalid {
            let key = &entry.keys[index];
            let (probes, at) = *due.entry(key.key.id).or_insert((0, now + first));
            if now < at {
                continue;
            }
            let timeout = entry
                .config
                .timeout_s
                .map_or(request_timeout, |s| Duration::from_secs(u64::from(s)));
            let result = probe(&client, &entry, key, timeout).await;
            if result.ok {
                if let Some(outcome) = &result.outcome {
                    if let Err(error) = service.record_probe(key, outcome).await {
                        tracing::warn!(%error, key_id = key.key.id, "re-probed key not recorded");
                        continue;
                    }
                }
                tracing::info!(key_id = key.key.id, key = %key.key.key_masked, "invalid key answered again; back in rotation");
                due.remove(&key.key.id);
            } else {
                let next = schedule
                    .get(probes + 1)
                    .or(schedule.last())
                    .copied()
                    .unwrap_or(Duration::from_secs(7200));
                tracing::debug!(key_id = key.key.id, key = %key.key.key_masked, status = ?result.status,
                    next_in_s = next.as_secs(), "invalid key still refused");
                due.insert(key.key.id, (probes + 1, Instant::now() + next));
            }
        }
    }
}
