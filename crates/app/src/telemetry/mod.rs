//! What the gateway knows about its own traffic: usage counters, the
//! request log, Prometheus metrics and recent latency — all in memory on the
//! hot path, written out in batches.

mod latency;
mod metrics;
mod request_log;

pub use latency::{LatencyWindows, Percentiles};
pub use metrics::{Metrics, RequestLabels, ServiceLabel, ServiceMeters, Shared, TokenLabels};
pub use request_log::{RequestLog, Retention, QUEUE_CAPACITY};

use crate::usage::UsageMeter;
use domain::ports::KeyRepository;
use std::sync::Arc;
use std::time::Duration;

/// How often queued request-log rows are written.
pub const REQUEST_LOG_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Tries of each write at shutdown: more than the database pool has connections.
const SHUTDOWN_ATTEMPTS: usize = 20;
/// How often the request log is pruned.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// The instance's telemetry.
pub struct Telemetry {
    /// Usage counters of keys and client keys.
    pub usage: UsageMeter,
    /// The request-log queue.
    pub request_log: RequestLog,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Latency over the last hour, per service.
    pub latency: LatencyWindows,
    /// Whether metrics are kept (`METRICS_ENABLED`).
    pub metrics_enabled: bool,
    /// Whether anything is counted at all (`TELEMETRY_ENABLED`, a switch for
    /// measuring what telemetry costs).
    pub enabled: bool,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new(true, QUEUE_CAPACITY, true)
    }
}

/// A switch that turns every kind of telemetry off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switches {
    /// `TELEMETRY_ENABLED`.
    pub telemetry: bool,
    /// `REQUEST_LOG_ENABLED`.
    pub request_log: bool,
    /// `METRICS_ENABLED`.
    pub metrics: bool,
}

impl Telemetry {
    /// Telemetry as configured; `telemetry: false` turns usage accounting,
    /// the request log and metrics off together.
    #[must_use]
    pub fn configured(switches: Switches, queue: usize) -> Self {
        let mut telemetry = Self::new(
            switches.telemetry && switches.request_log,
            queue,
            switches.telemetry && switches.metrics,
        );
        telemetry.enabled = switches.telemetry;
        telemetry
    }
}

impl Telemetry {
    /// Telemetry with the request log (queue of `queue` rows) and metrics on or off.
    #[must_use]
    pub fn new(request_log: bool, queue: usize, metrics: bool) -> Self {
        let registry = Metrics::default();
        Self {
            usage: UsageMeter::default(),
            request_log: RequestLog::new(queue, request_log, registry.request_log_dropped.clone()),
            metrics: registry,
            latency: LatencyWindows::default(),
            metrics_enabled: metrics,
            enabled: true,
        }
    }

    /// Writes pending usage and request-log rows at shutdown. Each write is
    /// tried several times: pooled connections opened by the HTTP workers
    /// die with the workers' runtimes, and each failure discards one of them
    /// (the pool then opens a live one).
    pub async fn flush(&self, repo: &dyn KeyRepository) {
        let mut usage = self.usage.flush(repo).await;
        for _ in 1..SHUTDOWN_ATTEMPTS {
            if usage.is_ok() {
                break;
            }
            usage = self.usage.flush(repo).await;
        }
        if let Err(error) = usage {
            self.database_error("usage");
            tracing::error!(%error, "usage counters could not be written at shutdown");
        }
        self.flush_request_log(repo, SHUTDOWN_ATTEMPTS).await;
    }

    async fn flush_request_log(&self, repo: &dyn KeyRepository, attempts: usize) {
        if let Err(error) = self.request_log.flush(repo, attempts).await {
            self.database_error("request_log");
            tracing::warn!(%error, "cannot write request-log rows; dropped");
        }
    }

    /// Counts a failed database write.
    pub fn database_error(&self, operation: &'static str) {
        self.metrics
            .database_errors
            .get_or_create(&[("operation", operation.to_owned())])
            .inc();
    }

    /// Counts a failed cache call.
    pub fn cache_error(&self, operation: &'static str) {
        self.metrics
            .cache_errors
            .get_or_create(&[("operation", operation.to_owned())])
            .inc();
    }

    /// Writes usage every `usage_every` and the request log every
    /// `log_every` (or sooner, when its queue fills), and prunes the log every
    /// [`PRUNE_INTERVAL`] in a loop of its own, so a long DELETE never holds
    /// up the flushes — until the process ends.
    pub async fn run_writers(
        self: Arc<Self>,
        repo: Arc<dyn KeyRepository>,
        usage_every: Duration,
        log_every: Duration,
        retention: Retention,
    ) {
        tokio::join!(
            self.write_batches(repo.as_ref(), usage_every, log_every),
            self.prune_log(repo.as_ref(), retention)
        );
    }

    async fn write_batches(
        &self,
        repo: &dyn KeyRepository,
        usage_every: Duration,
        log_every: Duration,
    ) {
        let mut usage_ticks = tokio::time::interval(usage_every);
        let mut log_ticks = tokio::time::interval(log_every);
        for ticks in [&mut usage_ticks, &mut log_ticks] {
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                _ = usage_ticks.tick() => {
                    if let Err(error) = self.usage.flush(repo).await {
                        self.database_error("usage");
                        tracing::warn!(%error, "cannot write usage counters; kept for the next flush");
                    }
                }
                _ = log_ticks.tick() => {
                    if self.request_log.enabled() {
                        self.flush_request_log(repo, 1).await;
                    }
                }
                () = self.request_log.filling() => {
                    self.flush_request_log(repo, 1).await;
                    log_ticks.reset();
                }
            }
        }
    }

    async fn prune_log(&self, repo: &dyn KeyRepository, retention: Retention) {
        if !self.request_log.enabled() {
            return;
        }
        let mut prune_ticks = tokio::time::interval(PRUNE_INTERVAL);
        prune_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            prune_ticks.tick().await;
            match self.request_log.prune(repo, retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "request log pruned"),
                Err(error) => {
                    self.database_error("request_log_prune");
                    tracing::warn!(%error, "cannot prune the request log");
                }
            }
        }
    }
}
