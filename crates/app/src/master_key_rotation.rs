//! `gateway rotate-encryption-key`: every stored upstream key decrypted with
//! the current master key and encrypted (and fingerprinted) again with a new
//! one, written in one transaction, so the database never holds keys under
//! two master keys.

use crate::secrets::{KeyCipher, SecretError};
use domain::ports::{KeyRepository, RepoError, ResealedKey};
use domain::KeyId;
use secrecy::ExposeSecret;

/// Why the keys were left as they were.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// A key does not decrypt with the current master key.
    #[error("key {id} cannot be decrypted with the current master key (ENCRYPTION_KEY or the data directory's secret.key); nothing was changed")]
    Undecryptable {
        /// The key.
        id: KeyId,
    },
    /// Encryption with the new key failed.
    #[error("encrypting with the new key failed: {0}; nothing was changed")]
    Encrypt(SecretError),
    /// The database refused.
    #[error("the database refused the re-encrypted keys: {0}; nothing was changed")]
    Repository(#[from] RepoError),
}

/// Re-encrypts every stored key from `current` to `new`; returns how many.
///
/// # Errors
/// [`RotationError`]; the database is unchanged when it is returned.
pub async fn rotate_master_key(
    repo: &dyn KeyRepository,
    current: &KeyCipher,
    new: &KeyCipher,
) -> Result<usize, RotationError> {
    let stored = repo.list_all_keys().await?;
    let mut resealed = Vec::with_capacity(stored.len());
    for key in &stored {
        let plain = current
            .decrypt(&key.ciphertext)
            .map_err(|_| RotationError::Undecryptable { id: key.key.id })?;
        let plain = plain.expose_secret();
        resealed.push(ResealedKey {
            id: key.key.id,
            ciphertext: new.encrypt(plain).map_err(RotationError::Encrypt)?,
            fingerprint: new.fingerprint(plain),
        });
    }
    repo.reseal_keys(&resealed).await?;
    tracing::info!(
        keys = resealed.len(),
        "upstream keys re-encrypted with the new master key"
    );
    Ok(resealed.len())
}
