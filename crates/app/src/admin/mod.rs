//! The admin use cases: validated CRUD over the repository, with keys
//! encrypted on the way in and every change announced to the cache.

mod client_keys;
mod configs;
mod error;
mod keys;
mod session;
mod stats;

pub use client_keys::CreatedClientKey;
pub use configs::ConfigView;
pub use error::AdminError;
pub(crate) use keys::seal_key;
pub use keys::{BatchReport, FailedKey, KeyView};
pub use session::{AdminCredentials, TokenResponse};
pub use stats::{RequestLogPage, ServiceStats, Stats, UsageTotals};

use crate::jwt::JwtKeys;
use crate::login_throttle::LoginThrottle;
use crate::secrets::KeyCipher;
use crate::snapshot::SnapshotStore;
use crate::telemetry::Telemetry;
use domain::ports::{CacheError, ChangeEvent, KeyRepository, RotationCache};
use serde::Serialize;
use std::sync::Arc;

/// What `GET /api/admin/app-config` tells the UI about this instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppInfo {
    /// Base URL clients should use.
    pub proxy_public_base_url: String,
    /// Gateway version.
    pub version: String,
    /// `lightweight` or `enterprise`.
    pub build: String,
    /// `sqlite`, `mysql` or `postgres`.
    pub database: String,
    /// `memory` or `redis`.
    pub cache: String,
}

/// The state of one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Answers.
    Ok,
    /// Down, but a fallback serves (the instance keeps working).
    Degraded(String),
    /// Down.
    Down(String),
}

/// What `/readyz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The database.
    pub database: Check,
    /// The rotation cache.
    pub cache: Check,
}

/// Admin plane over the ports.
pub struct AdminService {
    repo: Arc<dyn KeyRepository>,
    cache: Arc<dyn RotationCache>,
    cipher: Arc<KeyCipher>,
    snapshots: Arc<SnapshotStore>,
    jwt: JwtKeys,
    credentials: AdminCredentials,
    throttle: LoginThrottle,
    info: AppInfo,
    telemetry: Arc<Telemetry>,
}

impl AdminService {
    /// Assembles the service.
    #[must_use]
    pub fn new(
        repo: Arc<dyn KeyRepository>,
        cache: Arc<dyn RotationCache>,
        cipher: Arc<KeyCipher>,
        snapshots: Arc<SnapshotStore>,
        jwt: JwtKeys,
        credentials: AdminCredentials,
        info: AppInfo,
    ) -> Self {
        Self {
            repo,
            cache,
            cipher,
            snapshots,
            jwt,
            credentials,
            throttle: LoginThrottle::default(),
            info,
            telemetry: Arc::default(),
        }
    }

    /// Shares the proxy's telemetry, so listings include usage not yet written.
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// This instance's telemetry.
    #[must_use]
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Writes pending usage and request-log rows now (at shutdown).
    pub async fn flush_telemetry(&self) {
        self.telemetry.flush(self.repo.as_ref()).await;
    }

    /// Instance description for the UI.
    #[must_use]
    pub fn app_info(&self) -> &AppInfo {
        &self.info
    }

    /// Whether the database and the cache answer.
    pub async fn readiness(&self) -> Readiness {
        let database = match self.repo.ping().await {
            Ok(()) => Check::Ok,
            Err(e) => Check::Down(e.to_string()),
        };
        let cache = match self.cache.ping().await {
            Ok(()) => Check::Ok,
            Err(CacheError::Degraded(reason)) => Check::Degraded(reason),
            Err(CacheError::Unavailable(reason)) => Check::Down(reason),
        };
        Readiness { database, cache }
    }

    /// Makes a change visible: this instance's snapshot is rebuilt before the
    /// admin call returns (so the very next proxied request obeys it), and
    /// other instances are told. Failures only delay visibility, so they are
    /// logged, not returned.
    async fn announce(&self, event: ChangeEvent) {
        if let Err(error) = self.snapshots.apply(event).await {
            tracing::warn!(%error, ?event, "could not rebuild the proxy snapshot after a change");
        }
        if let Err(error) = self.cache.publish(event).await {
            tracing::warn!(%error, ?event, "could not publish a configuration change");
        }
    }
}
