//! Usage accounting (SPEC §7): counters are added up in memory on the hot
//! path and written to the database in batches — every few seconds and at
//! shutdown — so no proxied request waits for a database write.
//!
//! Listings add what is still pending to what the database holds, so the
//! admin API and the UI see usage rise at once, not one flush later.

use crate::IdMap;
use domain::ports::{KeyRepository, RepoError, UsageBatch, UsageDelta};
use domain::time_fmt::{from_unix_millis, unix_millis};
use domain::{ClientKeyId, ConfigId, KeyId};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How often pending usage is written (SPEC §7: at least every 5 s).
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Pending {
    keys: IdMap<KeyId, Tally>,
    client_keys: IdMap<ClientKeyId, Tally>,
}

impl Pending {
    fn add_to_key(&mut self, key: KeyId, tally: &Tally) {
        self.keys.entry(key).or_default().add(tally);
    }

    fn add_to_client(&mut self, id: ClientKeyId, tally: &Tally) {
        self.client_keys.entry(id).or_default().add(tally);
    }
}

/// A [`UsageDelta`] as the hot path adds to it: the latest use kept as Unix
/// milliseconds, so a request pays no calendar conversion.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    requests: u64,
    failures: u64,
    input_tokens: u64,
    output_tokens: u64,
    last_used_ms: Option<i64>,
}

impl Tally {
    fn add(&mut self, from: &Tally) {
        // Token counts come from upstreams: a huge one saturates.
        self.requests = self.requests.saturating_add(from.requests);
        self.failures = self.failures.saturating_add(from.failures);
        self.input_tokens = self.input_tokens.saturating_add(from.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(from.output_tokens);
        self.last_used_ms = self.last_used_ms.max(from.last_used_ms);
    }

    /// One request's worth of usage.
    fn one(failed: bool, now_ms: i64) -> Self {
        Self {
            requests: 1,
            failures: u64::from(failed),
            last_used_ms: Some(now_ms),
            ..Self::default()
        }
    }

    fn delta(&self) -> UsageDelta {
        UsageDelta {
            requests: self.requests,
            failures: self.failures,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            last_used_at: self.last_used_ms.map(from_unix_millis),
        }
    }
}

impl From<&UsageDelta> for Tally {
    fn from(delta: &UsageDelta) -> Self {
        Self {
            requests: delta.requests,
            failures: delta.failures,
            input_tokens: delta.input_tokens,
            output_tokens: delta.output_tokens,
            last_used_ms: delta.last_used_at.as_ref().map(unix_millis),
        }
    }
}

/// What a proxied request used, counted when it ends (a stream: when it
/// closes).
#[derive(Debug, Clone, Copy, Default)]
pub struct EndedRequest {
    /// The key whose 2xx answer was delivered.
    pub served_by: Option<KeyId>,
    /// The client key, and whether its request failed (no 2xx answer).
    pub client: Option<(ClientKeyId, bool)>,
    /// The key whose answer reported the tokens (any answer delivered).
    pub tokens_of: Option<KeyId>,
    /// Prompt tokens reported.
    pub input_tokens: u64,
    /// Completion tokens reported.
    pub output_tokens: u64,
    /// When it ended, Unix milliseconds: the keys' and client key's last use.
    pub at_ms: i64,
}

/// In-memory usage counters of this instance.
#[derive(Default)]
pub struct UsageMeter {
    pending: Mutex<Pending>,
    /// Failovers per service since this instance started (not persisted).
    failovers: Mutex<IdMap<ConfigId, u64>>,
    /// Held while a batch is being written, so the flush at shutdown waits
    /// for a periodic one still on the wire instead of returning early.
    writing: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters behind: still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl UsageMeter {
    /// One call with upstream key `key` that did not answer 2xx, at
    /// `now_ms` (Unix milliseconds). Every failed attempt counts; the call
    /// whose answer is delivered is counted by [`Self::ended`].
    pub fn failed_call(&self, key: KeyId, now_ms: i64) {
        lock(&self.pending).add_to_key(key, &Tally::one(true, now_ms));
    }

    /// A proxied request that ended at `request.at_ms`: the call to the key
    /// whose 2xx answer was delivered (calls that failed are counted by
    /// [`Self::failed_call`]), the request of the client key, and the tokens
    /// the answer reported, for the key that gave it and the client key.
    /// One lock and, when the serving key reported the tokens, as it does,
    /// one entry for both.
    pub fn ended(&self, request: &EndedRequest) {
        let tokens = Tally {
            input_tokens: request.input_tokens,
            output_tokens: request.output_tokens,
            ..Tally::default()
        };
        let call = Tally::one(false, request.at_ms);
        let mut pending = lock(&self.pending);
        match (request.served_by, request.tokens_of) {
            (Some(served), Some(reported)) if served == reported => {
                let mut both = call;
                both.add(&tokens);
                pending.add_to_key(served, &both);
            }
            (served, reported) => {
                if let Some(key) = served {
                    pending.add_to_key(key, &call);
                }
                if let Some(key) = reported {
                    pending.add_to_key(key, &tokens);
                }
            }
        }
        if let Some((id, failed)) = request.client {
            let mut tally = Tally::one(failed, request.at_ms);
            if request.tokens_of.is_some() {
                tally.add(&tokens);
            }
            pending.add_to_client(id, &tally);
        }
    }

    /// The request moved on from a failing key of service `config`.
    pub fn failover(&self, config: ConfigId) {
        *lock(&self.failovers).entry(config).or_default() += 1;
    }

    /// Failovers of `config` since this instance started.
    #[must_use]
    pub fn failovers_of(&self, config: ConfigId) -> u64 {
        lock(&self.failovers).get(&config).copied().unwrap_or(0)
    }

    /// Usage of key `key` not yet written.
    #[must_use]
    pub fn pending_key(&self, key: KeyId) -> UsageDelta {
        lock(&self.pending)
            .keys
            .get(&key)
            .map(Tally::delta)
            .unwrap_or_default()
    }

    /// Usage of client key `id` not yet written.
    #[must_use]
    pub fn pending_client(&self, id: ClientKeyId) -> UsageDelta {
        lock(&self.pending)
            .client_keys
            .get(&id)
            .map(Tally::delta)
            .unwrap_or_default()
    }

    /// Takes everything pending, leaving the meter empty.
    #[must_use]
    pub fn take(&self) -> UsageBatch {
        let pending = std::mem::take(&mut *lock(&self.pending));
        UsageBatch {
            keys: pending
                .keys
                .iter()
                .map(|(id, t)| (*id, t.delta()))
                .collect(),
            client_keys: pending
                .client_keys
                .iter()
                .map(|(id, t)| (*id, t.delta()))
                .collect(),
        }
    }

    /// Puts back a batch that could not be written, so nothing is lost.
    pub fn restore(&self, batch: &UsageBatch) {
        let mut pending = lock(&self.pending);
        for (id, delta) in &batch.keys {
            pending.add_to_key(*id, &delta.into());
        }
        for (id, delta) in &batch.client_keys {
            pending.add_to_client(*id, &delta.into());
        }
    }

    /// Writes what is pending in one batch. On failure the batch stays
    /// pending for the next flush.
    ///
    /// # Errors
    /// The repository's error.
    pub async fn flush(&self, repo: &dyn KeyRepository) -> Result<(), RepoError> {
        let _writing = self.writing.lock().await;
        let batch = self.take();
        if batch.keys.is_empty() && batch.client_keys.is_empty() {
            return Ok(());
        }
        repo.record_usage(&batch).await.inspect_err(|_| {
            self.restore(&batch);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::time_fmt::now_millis as now;

    /// A request that ended without tokens.
    fn answered(
        meter: &UsageMeter,
        served_by: Option<KeyId>,
        client: Option<(ClientKeyId, bool)>,
        at_ms: i64,
    ) {
        meter.ended(&EndedRequest {
            served_by,
            client,
            at_ms,
            ..EndedRequest::default()
        });
    }

    #[test]
    fn counts_add_up_and_take_empties_the_meter() {
        let meter = UsageMeter::default();
        meter.ended(&EndedRequest {
            served_by: Some(1),
            client: Some((7, false)),
            tokens_of: Some(1),
            input_tokens: 10,
            output_tokens: 3,
            at_ms: now(),
        });
        meter.failed_call(1, now());
        let key = meter.pending_key(1);
        assert_eq!(
            (
                key.requests,
                key.failures,
                key.input_tokens,
                key.output_tokens
            ),
            (2, 1, 10, 3)
        );
        assert!(key.last_used_at.is_some());
        assert_eq!(meter.pending_client(7).requests, 1);
        assert_eq!(meter.pending_client(7).output_tokens, 3);
        let batch = meter.take();
        assert_eq!(batch.keys.len(), 1);
        assert_eq!(batch.client_keys.len(), 1);
        assert_eq!(meter.pending_key(1), UsageDelta::default());
    }

    #[test]
    fn an_answered_request_counts_the_serving_key_and_the_client_key() {
        let meter = UsageMeter::default();
        answered(&meter, Some(1), Some((7, false)), 1_700_000_000_000);
        assert_eq!(
            meter.pending_client(7).failures,
            0,
            "a 2xx answer is no failure"
        );
        answered(&meter, None, Some((7, true)), 1_700_000_000_500);
        answered(&meter, Some(2), None, 1_700_000_000_900);
        let key = meter.pending_key(1);
        assert_eq!((key.requests, key.failures), (1, 0));
        assert_eq!(
            key.last_used_at,
            Some(domain::time_fmt::from_unix_millis(1_700_000_000_000))
        );
        assert_eq!(meter.pending_key(2).requests, 1);
        let client = meter.pending_client(7);
        assert_eq!((client.requests, client.failures), (2, 1));
        assert_eq!(
            client.last_used_at,
            Some(domain::time_fmt::from_unix_millis(1_700_000_000_500))
        );
        let batch = meter.take();
        assert_eq!((batch.keys.len(), batch.client_keys.len()), (2, 1));
    }

    #[test]
    fn the_last_use_is_the_latest_call_and_survives_a_restore() {
        let meter = UsageMeter::default();
        answered(&meter, Some(1), None, 1_700_000_000_123);
        answered(&meter, Some(1), None, 1_700_000_000_001);
        let latest = Some(domain::time_fmt::from_unix_millis(1_700_000_000_123));
        assert_eq!(meter.pending_key(1).last_used_at, latest);
        let batch = meter.take();
        assert_eq!(batch.keys[0].1.last_used_at, latest);
        answered(&meter, Some(1), None, 1_700_000_000_050);
        meter.restore(&batch);
        assert_eq!(meter.pending_key(1).last_used_at, latest);
        assert_eq!(meter.pending_key(1).requests, 3);
    }

    #[test]
    fn a_restored_batch_is_merged_with_newer_usage() {
        let meter = UsageMeter::default();
        meter.failed_call(1, now());
        let batch = meter.take();
        answered(&meter, Some(1), None, now());
        meter.restore(&batch);
        let key = meter.pending_key(1);
        assert_eq!((key.requests, key.failures), (2, 1));
    }

    #[test]
    fn tokens_go_to_the_key_that_reported_them_and_to_the_client_key() {
        let meter = UsageMeter::default();
        // A 2xx from key 2 after key 1 failed; key 2 reported the tokens.
        meter.failed_call(1, now());
        meter.ended(&EndedRequest {
            served_by: Some(2),
            client: Some((7, false)),
            tokens_of: Some(2),
            input_tokens: 5,
            output_tokens: 8,
            at_ms: 1_700_000_000_000,
        });
        // An error answer of key 3 that reported tokens: no call counted
        // for it here (its failure is a failed call), the tokens are.
        meter.ended(&EndedRequest {
            served_by: None,
            client: Some((7, true)),
            tokens_of: Some(3),
            input_tokens: 1,
            output_tokens: 2,
            at_ms: 1_700_000_000_100,
        });
        let tallies = |d: UsageDelta| (d.requests, d.failures, d.input_tokens, d.output_tokens);
        assert_eq!(tallies(meter.pending_key(1)), (1, 1, 0, 0));
        assert_eq!(tallies(meter.pending_key(2)), (1, 0, 5, 8));
        assert_eq!(tallies(meter.pending_key(3)), (0, 0, 1, 2));
        assert_eq!(tallies(meter.pending_client(7)), (2, 1, 6, 10));
        assert_eq!(
            meter.pending_key(2).last_used_at,
            Some(domain::time_fmt::from_unix_millis(1_700_000_000_000))
        );
    }

    #[test]
    fn failovers_are_counted_per_service() {
        let meter = UsageMeter::default();
        meter.failover(3);
        meter.failover(3);
        assert_eq!(meter.failovers_of(3), 2);
        assert_eq!(meter.failovers_of(4), 0);
    }
}
