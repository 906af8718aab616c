//! The one-shot commands besides `serve`: `import-legacy` and
//! `rotate-encryption-key` (docs/operations.md).

use crate::encryption_key::{self, SECRET_KEY_FILE};
use crate::{backends, Settings};
use anyhow::{anyhow, bail, Context};
use app::legacy_import::{self, ImportReport, ServiceOutcome};
use app::master_key_rotation::rotate_master_key;
use app::secrets::KeyCipher;
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;

/// Imports the services and keys of the original Go project's SQLite
/// database at `legacy` into the configured database.
///
/// # Errors
/// When the legacy file or the configured backends cannot be used.
pub async fn import_legacy(settings: &Settings, legacy: &Path) -> anyhow::Result<ImportReport> {
    let services = read_legacy(legacy).await?;
    backends::require_shared_encryption_key(settings)?;
    let cache = backends::open_cache(settings).await?;
    let repo = backends::open_repository(settings).await?;
    let cipher =
        encryption_key::load_or_generate(settings.encryption_key.as_ref(), &settings.data_dir())?;
    Ok(legacy_import::import_legacy(&services, repo.as_ref(), &cipher, cache.as_ref()).await?)
}

#[cfg(feature = "lightweight")]
async fn read_legacy(path: &Path) -> anyhow::Result<Vec<domain::legacy::LegacyService>> {
    Ok(infra_sqlite::read_legacy_database(path).await?)
}

#[cfg(not(feature = "lightweight"))]
#[allow(clippy::unused_async)]
async fn read_legacy(_path: &Path) -> anyhow::Result<Vec<domain::legacy::LegacyService>> {
    bail!("import-legacy reads SQLite, which this binary was built without; build it with `--features lightweight` (both features may be on together)")
}

/// The report as printed: one line per service, then a summary.
#[must_use]
pub fn describe(report: &ImportReport) -> String {
    let mut lines = Vec::new();
    let (mut imported, mut existing, mut refused) = (0, 0, 0);
    for outcome in &report.services {
        match outcome {
            ServiceOutcome::Imported {
                slug,
                id,
                keys_imported,
                keys_skipped,
                keys_refused,
            } => {
                imported += 1;
                lines.push(format!(
                    "imported  {slug} (id {id}): {keys_imported} key(s), {keys_skipped} duplicate(s) skipped, {} refused",
                    keys_refused.len()
                ));
                for (masked, why) in keys_refused {
                    lines.push(format!("          refused key {masked}: {why}"));
                }
            }
            ServiceOutcome::AlreadyExists { slug } => {
                existing += 1;
                lines.push(format!(
                    "exists    {slug}: a service with this slug is already here; left as it is"
                ));
            }
            ServiceOutcome::Refused {
                legacy_id,
                slug,
                reason,
            } => {
                refused += 1;
                lines.push(format!(
                    "refused   {slug} (legacy id {legacy_id}): {reason}"
                ));
            }
        }
    }
    lines.push(format!(
        "{imported} service(s) imported, {existing} already present, {refused} refused"
    ));
    lines.join("\n") + "\n"
}

/// What `rotate-encryption-key` did.
#[derive(Debug)]
pub struct Rotation {
    /// Keys re-encrypted.
    pub keys: usize,
    /// The new master key, when the command generated it and it is not kept
    /// in a file (the operator must set `ENCRYPTION_KEY` to it).
    pub generated_key: Option<SecretString>,
    /// Where the new key was written (lightweight, key file mode).
    pub key_file: Option<std::path::PathBuf>,
}

/// Re-encrypts every stored key with `NEW_ENCRYPTION_KEY` (or a generated
/// key). With no `ENCRYPTION_KEY` configured, the data directory's key file
/// is replaced (the previous one kept as `secret.key.old`).
///
/// # Errors
/// When no current key can be found, the new key equals it, or the database
/// refuses; the keys are then unchanged.
pub async fn rotate_encryption_key(settings: &Settings) -> anyhow::Result<Rotation> {
    backends::require_shared_encryption_key(settings)?;
    let repo = backends::open_repository(settings).await?;
    let key_file = settings.data_dir().join(SECRET_KEY_FILE);
    let current_text = match &settings.encryption_key {
        Some(key) => key.expose_secret().to_owned(),
        None => std::fs::read_to_string(&key_file)
            .with_context(|| {
                format!(
                    "no current master key: ENCRYPTION_KEY is unset and {} cannot be read",
                    key_file.display()
                )
            })?
            .trim()
            .to_owned(),
    };
    let current =
        KeyCipher::from_base64(&current_text).map_err(|e| anyhow!("current master key: {e}"))?;
    let (new_text, generated) = match &settings.new_encryption_key {
        Some(key) => (key.expose_secret().to_owned(), false),
        None => (KeyCipher::generate_key_base64(), true),
    };
    if new_text == current_text {
        bail!("NEW_ENCRYPTION_KEY is the current master key; nothing to do");
    }
    let new = KeyCipher::from_base64(&new_text).map_err(|e| anyhow!("NEW_ENCRYPTION_KEY: {e}"))?;

    if settings.encryption_key.is_some() {
        let keys = rotate_master_key(repo.as_ref(), &current, &new).await?;
        return Ok(Rotation {
            keys,
            generated_key: generated.then(|| SecretString::from(new_text)),
            key_file: None,
        });
    }
    // Key file mode: the new key is on disk before the database changes, so
    // no moment exists where the keys are under a key that is nowhere.
    let staged = key_file.with_extension("key.new");
    encryption_key::write_private(&staged, &new_text)
        .with_context(|| format!("cannot write {}", staged.display()))?;
    let keys = match rotate_master_key(repo.as_ref(), &current, &new).await {
        Ok(keys) => keys,
        Err(error) => {
            let _ = std::fs::remove_file(&staged);
            return Err(error.into());
        }
    };
    let previous = key_file.with_extension("key.old");
    swap_key_files(&key_file, &staged, &previous).with_context(|| {
        format!(
            "the keys are re-encrypted with the key in {}, but it could not be moved to {}: move it there by hand",
            staged.display(),
            key_file.display()
        )
    })?;
    Ok(Rotation {
        keys,
        generated_key: None,
        key_file: Some(key_file),
    })
}

fn swap_key_files(current: &Path, staged: &Path, previous: &Path) -> std::io::Result<()> {
    std::fs::rename(current, previous)?;
    std::fs::rename(staged, current)
}
