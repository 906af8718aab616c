//! The request-log queue (SPEC §7): the hot path hands rows to a bounded
//! queue and never waits; a writer drains it in batches, every interval and
//! as soon as a quarter of the queue is taken (so a burst, or a sustained
//! rate above a quarter of the queue per interval, is written rather than
//! dropped). When the database lags and the queue is full, rows are dropped
//! and counted.

use domain::ports::{KeyRepository, RepoError};
use domain::request_log::packed::{pack, PackedBatch, RequestLogFields};
use domain::time_fmt;
use prometheus_client::metrics::counter::Counter;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// Rows the queue holds before it drops new ones.
pub const QUEUE_CAPACITY: usize = 20_000;

/// Queue shards: each thread appends to its own, so the HTTP workers never
/// wait on each other.
const SHARDS: usize = 16;

/// Retention of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `REQUEST_LOG_RETENTION_DAYS`.
    pub days: u32,
    /// `REQUEST_LOG_MAX_ROWS`.
    pub max_rows: u64,
}

/// Rows queued by the threads that use one shard, already encoded: queueing
/// a row is copying its fields, with no allocation per row.
#[derive(Default)]
struct Shard {
    encoded: Vec<u8>,
    rows: usize,
}

/// Spare bytes always kept, however little the last flush needed.
const SPARE_FLOOR: usize = 64 * 1024;

/// Buffers a flush leaves for the next: shard buffers swapped in for the
/// ones taken, and batch buffers. Memory reused is memory already mapped;
/// fresh buffers each interval cost the proxy a page fault every 4 KiB
/// (≈ 80 per 1,000 requests at full load, against ≈ 5 with telemetry off).
#[derive(Default)]
pub(crate) struct Spares {
    shard_buffers: Vec<Vec<u8>>,
    batch_buffers: Vec<Vec<u8>>,
}

impl Spares {
    /// Keeps `buffers` for the next flush, emptied, except what exceeds
    /// four times this flush's need (`used` bytes) and [`SPARE_FLOOR`]: a
    /// burst's memory is not held past the flush after it.
    /// Buffers already in the pool count too, and go first: after a burst,
    /// the next flushes (or an idle one, with nothing to write) bring the
    /// pool back to what they need.
    fn keep(pool: &mut Vec<Vec<u8>>, buffers: impl IntoIterator<Item = Vec<u8>>, used: usize) {
        let limit = 4 * used + SPARE_FLOOR;
        let mut held: usize = pool.iter().map(Vec::capacity).sum();
        while held > limit {
            held -= pool.pop().map_or(held, |dropped| dropped.capacity());
        }
        for mut buffer in buffers {
            if held + buffer.capacity() > limit {
                continue;
            }
            held += buffer.capacity();
            buffer.clear();
            pool.push(buffer);
        }
    }
}

/// The queue and its writer's end.
pub struct RequestLog {
    shards: Box<[Mutex<Shard>]>,
    /// Rows in all shards.
    queued: AtomicUsize,
    capacity: usize,
    /// Held while a flush takes and writes rows, so flushes keep their
    /// order; holds the buffers flushes reuse.
    writing: tokio::sync::Mutex<Spares>,
    dropped: Counter,
    enabled: bool,
    /// Wakes the writer before its interval.
    filling: Notify,
    /// Queued rows that wake it: a quarter of the queue.
    early_at: usize,
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while holding the lock leaves whole records behind: each is
    // appended by one call that cannot panic half-way.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This thread's shard.
fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
    }
    SHARD.with(|shard| {
        shard.get().unwrap_or_else(|| {
            let assigned = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(Some(assigned));
            assigned
        })
    })
}

impl RequestLog {
    /// A queue of `capacity` rows counting drops in `dropped`; a disabled
    /// log records nothing.
    #[must_use]
    pub fn new(capacity: usize, enabled: bool, dropped: Counter) -> Self {
        let capacity = capacity.max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            queued: AtomicUsize::new(0),
            capacity,
            writing: tokio::sync::Mutex::new(Spares::default()),
            dropped,
            enabled,
            filling: Notify::new(),
            early_at: (capacity / 4).max(1),
        }
    }

    /// Whether rows are recorded (`REQUEST_LOG_ENABLED`).
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Queues a row without waiting; returns false when it was dropped.
    pub fn record(&self, row: &RequestLogFields<'_>) -> bool {
        if !self.enabled {
            return true;
        }
        let queued = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if queued > self.capacity {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.dropped.inc();
            return false;
        }
        {
            let mut shard = lock(&self.shards[shard_of_this_thread()]);
            row.encode(&mut shard.encoded);
            shard.rows += 1;
        }
        if queued >= self.early_at {
            self.filling.notify_one();
        }
        true
    }

    /// Resolves once a quarter of the queue is taken (at once if that
    /// happened since the last call).
    pub async fn filling(&self) {
        self.filling.notified().await;
    }

    /// Rows dropped since start.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Takes every queued row, packed into batches.
    fn take(&self, spares: &mut Spares) -> (Vec<PackedBatch>, usize) {
        let mut taken = Vec::new();
        let mut rows = 0;
        for shard in &*self.shards {
            let mut shard = lock(shard);
            if shard.rows == 0 {
                // Idle since the last flush: its memory goes.
                shard.encoded = Vec::new();
                continue;
            }
            // The shard goes on in a spare buffer with room for what it
            // held: a steady rate appends without growing (and copying) it.
            let mut next = spares.shard_buffers.pop().unwrap_or_default();
            next.reserve(shard.encoded.len());
            taken.push(std::mem::replace(&mut shard.encoded, next));
            rows += std::mem::take(&mut shard.rows);
        }
        self.queued.fetch_sub(rows, Ordering::Relaxed);
        let packed = pack(taken.iter().map(Vec::as_slice), &mut spares.batch_buffers);
        let used = taken.iter().map(Vec::len).sum();
        Spares::keep(&mut spares.shard_buffers, taken, used);
        match packed {
            Ok(batches) => (batches, rows),
            Err((batches, damage)) => {
                let packed: usize = batches.iter().map(|b| b.rows as usize).sum();
                self.dropped.inc_by((rows - packed) as u64);
                tracing::error!(%damage, lost = rows - packed, "request-log rows lost in the queue");
                (batches, packed)
            }
        }
    }

    /// Writes every queued row in one batch, trying up to `attempts` times.
    /// Rows the database still refuses are dropped (and counted): keeping
    /// them would only make the queue fill.
    ///
    /// # Errors
    /// The repository's last error.
    pub async fn flush(
        &self,
        repo: &dyn KeyRepository,
        attempts: usize,
    ) -> Result<usize, RepoError> {
        let mut spares = self.writing.lock().await;
        let (batches, count) = self.take(&mut spares);
        if batches.is_empty() {
            Spares::keep(&mut spares.batch_buffers, [], 0);
            return Ok(0);
        }
        let mut result = repo.insert_request_logs(&batches).await;
        for _ in 1..attempts {
            if result.is_ok() {
                break;
            }
            result = repo.insert_request_logs(&batches).await;
        }
        let used = batches.iter().map(|b| b.bytes.len()).sum();
        Spares::keep(
            &mut spares.batch_buffers,
            batches.into_iter().map(|b| b.bytes),
            used,
        );
        result.inspect_err(|_| {
            self.dropped.inc_by(count as u64);
        })?;
        Ok(count)
    }

    /// Deletes rows past the retention.
    ///
    /// # Errors
    /// The repository's error.
    pub async fn prune(
        &self,
        repo: &dyn KeyRepository,
        retention: Retention,
    ) -> Result<u64, RepoError> {
        let age = time::Duration::days(i64::from(retention.days));
        repo.prune_request_logs(time_fmt::now() - age, retention.max_rows)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use domain::request_log::RequestLogEntry;

    fn entry(n: u32) -> RequestLogEntry {
        RequestLogEntry {
            id: 0,
            time: time_fmt::now(),
            request_id: format!("r{n}"),
            service_id: None,
            service: "s".into(),
            client_key_id: None,
            client_key: "c".into(),
            key_id: None,
            key_hint: None,
            client_format: None,
            upstream_format: None,
            model: None,
            status: 200,
            attempts: 1,
            latency_ms: 1,
            ttfb_ms: None,
            input_tokens: 0,
            output_tokens: 0,
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let log = RequestLog::new(3, true, Counter::default());
        let kept = (0..5).filter(|n| log.record(&entry(*n).fields())).count();
        assert_eq!(kept, 3);
        assert_eq!(log.dropped(), 2);
    }

    async fn woken(log: &RequestLog) -> bool {
        tokio::select! {
            biased;
            () = log.filling() => true,
            () = std::future::ready(()) => false,
        }
    }

    #[tokio::test]
    async fn a_quarter_full_queue_wakes_the_writer_early() {
        let log = RequestLog::new(8, true, Counter::default());
        log.record(&entry(1).fields());
        assert!(
            !woken(&log).await,
            "one row of eight waits for the interval"
        );
        log.record(&entry(2).fields());
        assert!(woken(&log).await, "two rows of eight wake the writer");
        assert!(!woken(&log).await, "one wake per filling");
    }

    #[test]
    fn flushes_reuse_the_buffers_of_the_flush_before() {
        let log = RequestLog::new(100, true, Counter::default());
        let mut spares = Spares::default();
        let shard_buffer = |log: &RequestLog| {
            log.shards
                .iter()
                .map(|shard| lock(shard).encoded.as_ptr() as usize)
                .collect::<Vec<_>>()
        };
        log.record(&entry(1).fields());
        let first = shard_buffer(&log);
        assert_eq!(log.take(&mut spares).1, 1);
        assert_eq!(spares.shard_buffers.len(), 1, "the taken buffer is kept");
        log.record(&entry(2).fields());
        assert_eq!(log.take(&mut spares).1, 1);
        log.record(&entry(3).fields());
        assert_eq!(
            shard_buffer(&log),
            first,
            "the first flush's buffer is back in use"
        );
        assert_eq!(log.take(&mut spares).1, 1);
        assert_eq!(log.take(&mut spares).1, 0);
        assert!(
            log.shards.iter().all(|s| lock(s).encoded.capacity() == 0),
            "an idle shard gives its memory up"
        );
    }

    #[test]
    fn spares_beyond_the_need_are_let_go() {
        let mut pool = Vec::new();
        let buffers = [100, 100, 100, SPARE_FLOOR + 1000].map(Vec::<u8>::with_capacity);
        Spares::keep(&mut pool, buffers, 100);
        let kept: Vec<usize> = pool.iter().map(Vec::capacity).collect();
        assert_eq!(kept, [100, 100, 100], "the burst-sized buffer is let go");
        // A burst's buffers, all kept while it lasts, go once flushes need less.
        let mut pool = Vec::new();
        let burst = [SPARE_FLOOR; 8].map(Vec::<u8>::with_capacity);
        Spares::keep(&mut pool, burst, 2 * SPARE_FLOOR);
        assert_eq!(pool.len(), 8);
        Spares::keep(&mut pool, [], 0);
        assert_eq!(pool.len(), 1, "an idle flush keeps the floor only");
    }

    #[test]
    fn a_disabled_log_keeps_nothing() {
        let log = RequestLog::new(3, false, Counter::default());
        assert!(log.record(&entry(1).fields()));
        assert_eq!(log.dropped(), 0);
        assert_eq!(log.take(&mut Spares::default()).1, 0);
    }
}
