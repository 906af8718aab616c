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
            let pending = self.usage.pending_key(key.id);
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
        let services = configs
            .into_iter()
            .map(|config| {
                let (mut usage, keys) = per_config.remove(&config.id).unwrap_or_default();
                usage.failovers = self.usage.failovers_of(config.id);
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
                }
            })
            .collect();
        Ok(Stats { totals, services })
    }
}
