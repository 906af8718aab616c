//! `GET /api/admin/stats`: usage totals, overall and per service, with a
//! summary of key health — what the dashboard and the services list show.

use super::{AdminError, AdminService};
use domain::{ConfigId, KeyState};
use serde::Serialize;
use std::collections::HashMap;

/// Usage counters summed over keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageTotals {
    /// Upstream calls (every attempt counts).
    pub requests: u64,
    /// Upstream calls that did not answer 2xx.
    pub failures: u64,
    /// Requests moved to another key after a failure, since this instance started.
    pub failovers: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

/// Keys of a service by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyStates {
    /// Usable.
    pub healthy: u64,
    /// In a cooldown.
    pub cooling_down: u64,
    /// Rejected by the upstream.
    pub invalid: u64,
    /// Disabled by an admin.
    pub disabled: u64,
}

/// One service's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceStats {
    /// Service id.
    pub id: ConfigId,
    /// Service name.
    pub name: String,
    /// Service slug.
    pub slug: String,
    /// Usage.
    #[serde(flatten)]
    pub usage: UsageTotals,
    /// Key health summary.
    pub keys: KeyStates,
    /// Median upstream latency over the last hour on this instance, in ms (bucket bound).
    pub p50_latency_ms: Option<u64>,
    /// 99th percentile of the same.
    pub p99_latency_ms: Option<u64>,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    /// Sums over every service.
    pub totals: UsageTotals,
    /// Per service, by id.
    pub services: Vec<ServiceStats>,
}

impl AdminService {
    /// Usage and key health, overall and per service.
    ///
    /// # Errors
    /// `Unavailable` when the database or the cache fails.
    pub async fn stats(&self) -> Result<Stats, AdminError> {
        let configs = self
            .repo
            .list_configs()
            .await
            .map_err(|e| AdminError::from_repo(e, "proxy config"))?;
        let keys = self
            .repo
            .list_all_keys()
            .await
            .map_err(|e| AdminError::from_repo(e, "key"))?;
        let ids: Vec<_> = keys.iter().map(|k| k.key.id).collect();
        let healths = self.cache.key_health(&ids).await?;
        let now = domain::time_fmt::now();
        let mut per_config: HashMap<ConfigId, (UsageTotals, KeyStates)> = HashMap::new();
        for (stored, health) in keys.iter().zip(healths) {
            let key = &stored.key;
            let pending = self.telemetry.usage.pending_key(key.id);
            let (usage, states) = per_config.entry(key.config_id).or_default();
            usage.requests += key.usage.requests + pending.requests;
            usage.failures += key.usage.failures + pending.failures;
            usage.input_tokens += key.usage.input_tokens + pending.input_tokens;
            usage.output_tokens += key.usage.output_tokens + pending.output_tokens;
            match health.effective(now, key.is_active).state {
                KeyState::Healthy => states.healthy += 1,
                KeyState::CoolingDown => states.cooling_down += 1,
                KeyState::Invalid => states.invalid += 1,
                KeyState::Disabled => states.disabled += 1,
            }
        }
        let mut totals = UsageTotals::default();
        let minute = u64::try_from(now.unix_timestamp() / 60).unwrap_or(0);
        let services = configs
            .into_iter()
            .map(|config| {
                let (mut usage, keys) = per_config.remove(&config.id).unwrap_or_default();
                usage.failovers = self.telemetry.usage.failovers_of(config.id);
                let latency = self.telemetry.latency.percentiles(config.id, minute);
                totals.requests += usage.requests;
                totals.failures += usage.failures;
                totals.failovers += usage.failovers;
                totals.input_tokens += usage.input_tokens;
                totals.output_tokens += usage.output_tokens;
                ServiceStats {
                    id: config.id,
                    name: config.name.to_string(),
                    slug: config.slug.to_string(),
                    usage,
                    keys,
                    p50_latency_ms: latency.p50_ms,
                    p99_latency_ms: latency.p99_ms,
                }
            })
            .collect();
        Ok(Stats { totals, services })
    }
}

/// One page of the request log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestLogPage {
    /// Rows, newest first.
    pub items: Vec<domain::request_log::RequestLogEntry>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl AdminService {
    /// A page of the request log.
    ///
    /// # Errors
    /// `Unavailable` when the database fails.
    pub async fn request_logs(
        &self,
        mut query: domain::request_log::RequestLogQuery,
    ) -> Result<RequestLogPage, AdminError> {
        let limit = query.limit.clamp(1, domain::request_log::PAGE_MAX);
        // One more row than asked tells whether another page follows.
        query.limit = limit + 1;
        let mut items = self
            .repo
            .list_request_logs(&query)
            .await
            .map_err(|e| AdminError::from_repo(e, "request log"))?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = more
            .then(|| items.last().map(|row| row.id.to_string()))
            .flatten();
        Ok(RequestLogPage { items, next_cursor })
    }
}
