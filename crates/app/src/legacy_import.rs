//! `gateway import-legacy`: services and keys of the original Go project
//! into this gateway's database. Each service is validated exactly like one
//! created through the admin API and its keys are encrypted on the way in.
//! A slug that already exists is left alone, so a second run changes nothing.

use crate::admin::seal_key;
use crate::secrets::KeyCipher;
use domain::legacy::LegacyService;
use domain::ports::{ChangeEvent, KeyInsert, KeyRepository, RotationCache};
use domain::upstream_key::validate_key_value;
use domain::{mask_secret, ConfigId, KeyOptions, ProxyConfigDraft};
use std::collections::HashSet;

/// What happened to one legacy service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// Created, with its keys.
    Imported {
        /// Its slug.
        slug: String,
        /// Its id in this gateway.
        id: ConfigId,
        /// Keys stored.
        keys_imported: u64,
        /// Keys that were duplicates within the pool.
        keys_skipped: u64,
        /// Keys refused: masked key and why.
        keys_refused: Vec<(String, String)>,
    },
    /// A service with this slug exists already; nothing was changed.
    AlreadyExists {
        /// The slug.
        slug: String,
    },
    /// Not imported: the legacy row does not pass validation, or storing it failed.
    Refused {
        /// Its id in the legacy database.
        legacy_id: i64,
        /// Its slug there.
        slug: String,
        /// Why.
        reason: String,
    },
}

/// The outcome of an import, one entry per legacy service in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Per service.
    pub services: Vec<ServiceOutcome>,
}

impl ImportReport {
    /// Whether any service or key was refused.
    #[must_use]
    pub fn has_refusals(&self) -> bool {
        self.services.iter().any(|s| match s {
            ServiceOutcome::Refused { .. } => true,
            ServiceOutcome::Imported { keys_refused, .. } => !keys_refused.is_empty(),
            ServiceOutcome::AlreadyExists { .. } => false,
        })
    }
}

/// Why the import stopped before looking at every service.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The database cannot be read.
    #[error("reading the gateway's services failed: {0}")]
    Repository(#[from] domain::ports::RepoError),
}

/// Imports `services` into `repo`, encrypting keys with `cipher`, and tells
/// running instances through `cache` when anything changed.
///
/// # Errors
/// [`ImportError`] when the existing services cannot be listed; problems of
/// single services are reported in the [`ImportReport`] instead.
pub async fn import_legacy(
    services: &[LegacyService],
    repo: &dyn KeyRepository,
    cipher: &KeyCipher,
    cache: &dyn RotationCache,
) -> Result<ImportReport, ImportError> {
    let existing: HashSet<String> = repo
        .list_configs()
        .await?
        .into_iter()
        .map(|c| c.slug.to_string())
        .collect();
    let mut report = ImportReport::default();
    for service in services {
        let outcome = if existing.contains(service.slug.trim()) {
            ServiceOutcome::AlreadyExists {
                slug: service.slug.clone(),
            }
        } else {
            import_one(service, repo, cipher).await
        };
        report.services.push(outcome);
    }
    let changed = report
        .services
        .iter()
        .any(|s| matches!(s, ServiceOutcome::Imported { .. }));
    if changed {
        if let Err(error) = cache.publish(ChangeEvent::Configs).await {
            tracing::warn!(%error, "running instances were not told; restart them to see the imported services");
        }
    }
    Ok(report)
}

async fn import_one(
    service: &LegacyService,
    repo: &dyn KeyRepository,
    cipher: &KeyCipher,
) -> ServiceOutcome {
    let refused = |reason: String| ServiceOutcome::Refused {
        legacy_id: service.legacy_id,
        slug: service.slug.clone(),
        reason,
    };
    let draft = match ProxyConfigDraft::from_json(service.to_config_body()) {
        Ok(draft) => draft,
        Err(error) => return refused(error.to_string()),
    };
    let mut sealed = Vec::new();
    let mut keys_refused = Vec::new();
    let mut seen = HashSet::new();
    let mut keys_skipped = 0;
    for key in &service.keys {
        let value = match validate_key_value(&key.value) {
            Ok(value) => value,
            Err(error) => {
                keys_refused.push((mask_secret(key.value.trim()), error));
                continue;
            }
        };
        let options = KeyOptions {
            is_active: key.is_active,
            ..KeyOptions::default()
        };
        match seal_key(cipher, value, options) {
            Ok(new_key) if seen.insert(new_key.fingerprint.clone()) => sealed.push(new_key),
            Ok(_) => keys_skipped += 1,
            Err(error) => return refused(format!("encrypting a key failed: {error}")),
        }
    }
    let config = match repo.create_config(&draft).await {
        Ok(config) => config,
        Err(error) => return refused(error.to_string()),
    };
    let inserted = match repo.insert_keys(config.id, &sealed).await {
        Ok(inserted) => inserted,
        Err(error) => {
            // Without its keys the service would block a second run: take it back.
            if let Err(undo) = repo.delete_config(config.id).await {
                tracing::warn!(%undo, id = config.id, "could not remove a half-imported service");
            }
            return refused(format!("storing its keys failed: {error}"));
        }
    };
    let keys_imported = inserted
        .iter()
        .filter(|r| matches!(r, KeyInsert::Inserted(_)))
        .count() as u64;
    keys_skipped += inserted.len() as u64 - keys_imported;
    tracing::info!(slug = %config.slug, id = config.id, keys_imported, "legacy service imported");
    ServiceOutcome::Imported {
        slug: config.slug.to_string(),
        id: config.id,
        keys_imported,
        keys_skipped,
        keys_refused,
    }
}
