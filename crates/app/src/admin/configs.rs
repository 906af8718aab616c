//! Proxy-config ("service") use cases.

use super::{AdminError, AdminService};
use domain::fields::Fields;
use domain::ports::{ChangeEvent, KeyCounts};
use domain::{ConfigId, ProxyConfig, ProxyConfigDraft};
use serde::Serialize;
use serde_json::Value;

/// A service with its key counts, as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigView {
    /// The service.
    #[serde(flatten)]
    pub config: ProxyConfig,
    /// All keys in its pool.
    pub key_count: u64,
    /// Active keys in its pool.
    pub active_key_count: u64,
}

impl ConfigView {
    fn new(config: ProxyConfig, counts: KeyCounts) -> Self {
        Self {
            config,
            key_count: counts.total,
            active_key_count: counts.active,
        }
    }
}

const WHAT: &str = "proxy config";

impl AdminService {
    /// Creates a service from a JSON body.
    ///
    /// # Errors
    /// `Validation`, `Conflict` on a name or slug clash, `Unavailable`.
    pub async fn create_config(&self, body: Value) -> Result<ConfigView, AdminError> {
        let draft = ProxyConfigDraft::from_json(body)?;
        let config = self
            .repo
            .create_config(&draft)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        tracing::info!(id = config.id, slug = %config.slug, "proxy config created");
        self.announce(ChangeEvent::Service(config.id)).await;
        Ok(ConfigView::new(config, KeyCounts::default()))
    }

    /// Every service with its key counts.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn list_configs(&self) -> Result<Vec<ConfigView>, AdminError> {
        let configs = self
            .repo
            .list_configs()
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        let counts = self
            .repo
            .key_counts()
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        Ok(configs
            .into_iter()
            .map(|config| {
                let count = counts
                    .iter()
                    .find(|(id, _)| *id == config.id)
                    .map(|(_, c)| *c)
                    .unwrap_or_default();
                ConfigView::new(config, count)
            })
            .collect())
    }

    /// One service with its key counts.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    pub async fn get_config(&self, id: ConfigId) -> Result<ConfigView, AdminError> {
        let config = self
            .repo
            .get_config(id)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        self.with_counts(config).await
    }

    /// Replaces a service (omitted optional fields take their defaults).
    ///
    /// # Errors
    /// `Validation`, `NotFound`, `Conflict`, `Unavailable`.
    pub async fn update_config(&self, id: ConfigId, body: Value) -> Result<ConfigView, AdminError> {
        let draft = ProxyConfigDraft::from_json(body)?;
        let config = self
            .repo
            .update_config(id, &draft)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        tracing::info!(id, slug = %config.slug, "proxy config updated");
        self.announce(ChangeEvent::Service(id)).await;
        self.with_counts(config).await
    }

    /// Activates or deactivates a service: body `{"is_active": bool}`.
    ///
    /// # Errors
    /// `Validation`, `NotFound`, `Unavailable`.
    pub async fn set_config_status(
        &self,
        id: ConfigId,
        body: Value,
    ) -> Result<ConfigView, AdminError> {
        let mut fields = Fields::from_object(body, &["is_active"], &[])?;
        let is_active: bool = fields.required("is_active")?;
        let config = self
            .repo
            .set_config_active(id, is_active)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        tracing::info!(id, is_active, "proxy config status changed");
        self.announce(ChangeEvent::Service(id)).await;
        self.with_counts(config).await
    }

    /// Deletes a service and its keys.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    pub async fn delete_config(&self, id: ConfigId) -> Result<(), AdminError> {
        let keys = self
            .repo
            .list_keys(id)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        self.repo
            .delete_config(id)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        for stored in keys {
            self.forget_health(stored.key.id).await;
        }
        tracing::info!(id, "proxy config deleted");
        self.announce(ChangeEvent::Service(id)).await;
        Ok(())
    }

    async fn with_counts(&self, config: ProxyConfig) -> Result<ConfigView, AdminError> {
        let keys = self
            .repo
            .list_keys(config.id)
            .await
            .map_err(|e| AdminError::from_repo(e, WHAT))?;
        let counts = KeyCounts {
            total: keys.len() as u64,
            active: keys.iter().filter(|k| k.key.is_active).count() as u64,
        };
        Ok(ConfigView::new(config, counts))
    }
}
