//! The request-log queue (SPEC §7): the hot path hands rows to a bounded
//! queue and never waits; a writer drains it in batches, every interval and
//! as soon as a quarter of the queue is taken (so a burst, or a sustained
//! rate above a quarter of the queue per interval, is written rather than
//! dropped). When the database lags and the queue is full, rows are dropped
//! and counted.

use domain::ports::{KeyRepository, RepoError};
use domain::request_log::RequestLogEntry;
use domain::time_fmt;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::{Mutex, Notify};

/// Rows the queue holds before it drops new ones.
pub const QUEUE_CAPACITY: usize = 20_000;

/// Retention of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `REQUEST_LOG_RETENTION_DAYS`.
    pub days: u32,
    /// `REQUEST_LOG_MAX_ROWS`.
    pub max_rows: u64,
}

/// The queue and its writer's end.
pub struct RequestLog {
    sender: mpsc::Sender<RequestLogEntry>,
    receiver: Mutex<mpsc::Receiver<RequestLogEntry>>,
    dropped: Counter,
    enabled: bool,
    /// Wakes the writer before its interval.
    filling: Notify,
    /// Queued rows that wake it: a quarter of the queue.
    early_at: usize,
}

impl RequestLog {
    /// A queue of `capacity` rows counting drops in `dropped`; a disabled
    /// log records nothing.
    #[must_use]
    pub fn new(capacity: usize, enabled: bool, dropped: Counter) -> Self {
        let capacity = capacity.max(1);
        let (sender, receiver) = mpsc::channel(capacity);
        Self {
            sender,
            receiver: Mutex::new(receiver),
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
    pub fn record(&self, entry: RequestLogEntry) -> bool {
        if !self.enabled {
            return true;
        }
        match self.sender.try_send(entry) {
            Ok(()) => {
                if self.sender.max_capacity() - self.sender.capacity() >= self.early_at {
                    self.filling.notify_one();
                }
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                self.dropped.inc();
                false
            }
        }
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
        let mut receiver = self.receiver.lock().await;
        let mut rows = Vec::new();
        while let Ok(row) = receiver.try_recv() {
            rows.push(row);
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let count = rows.len();
        let mut result = repo.insert_request_logs(&rows).await;
        for _ in 1..attempts {
            if result.is_ok() {
                break;
            }
            result = repo.insert_request_logs(&rows).await;
        }
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
        let kept = (0..5).filter(|n| log.record(entry(*n))).count();
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
        log.record(entry(1));
        assert!(
            !woken(&log).await,
            "one row of eight waits for the interval"
        );
        log.record(entry(2));
        assert!(woken(&log).await, "two rows of eight wake the writer");
        assert!(!woken(&log).await, "one wake per filling");
    }

    #[test]
    fn a_disabled_log_keeps_nothing() {
        let log = RequestLog::new(3, false, Counter::default());
        assert!(log.record(entry(1)));
        assert_eq!(log.dropped(), 0);
        assert!(log
            .receiver
            .try_lock()
            .is_ok_and(|mut r| r.try_recv().is_err()));
    }
}
