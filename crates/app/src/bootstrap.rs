//! First-start bootstrap of the admin password and the JWT secret, both
//! persisted in the database so restarts and other instances agree.

use crate::password::{
    hash_password_off_thread, is_outdated, verify_password_off_thread, PasswordError,
};
use crate::secrets::{random_base62, random_bytes};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use domain::ports::{KeyRepository, RepoError};
use secrecy::{ExposeSecret, SecretBox, SecretString};

/// Setting holding the argon2 hash of the admin password.
pub const ADMIN_PASSWORD_HASH: &str = "admin_password_hash";
/// Setting holding the generated JWT secret (base64).
pub const JWT_SECRET: &str = "jwt_secret";
const GENERATED_PASSWORD_CHARS: usize = 24;
const GENERATED_JWT_SECRET_BYTES: usize = 48;

/// Errors of bootstrap.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The database failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// Hashing failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// A stored secret cannot be read.
    #[error("the stored {0} is corrupt")]
    Corrupt(&'static str),
}

/// Where the admin password came from.
pub enum PasswordOrigin {
    /// `ADMIN_PASSWORD` was set.
    Configured,
    /// A hash from an earlier start was reused.
    Stored,
    /// Generated now; must be shown to the operator once.
    Generated(SecretString),
}

/// Returns the admin password hash to use, creating it when needed.
///
/// With a configured password, the stored hash is replaced unless it already
/// matches; without one, the stored hash is kept, or a password is generated.
///
/// # Errors
/// [`BootstrapError`] when the database or hashing fails.
pub async fn admin_password_hash(
    repo: &dyn KeyRepository,
    configured: Option<&SecretString>,
) -> Result<(String, PasswordOrigin), BootstrapError> {
    let stored = repo.get_setting(ADMIN_PASSWORD_HASH).await?;
    if let Some(password) = configured {
        if let Some(hash) = stored {
            let matches =
                verify_password_off_thread(password.expose_secret().to_owned(), hash.clone()).await;
            if matches && !is_outdated(&hash) {
                return Ok((hash, PasswordOrigin::Configured));
            }
        }
        let hash = hash_password_off_thread(password.expose_secret().to_owned()).await?;
        repo.put_setting(ADMIN_PASSWORD_HASH, &hash).await?;
        return Ok((hash, PasswordOrigin::Configured));
    }
    if let Some(hash) = stored {
        return Ok((hash, PasswordOrigin::Stored));
    }
    let password = random_base62(GENERATED_PASSWORD_CHARS);
    let hash = hash_password_off_thread(password.clone()).await?;
    let winner = repo
        .put_setting_if_absent(ADMIN_PASSWORD_HASH, &hash)
        .await?;
    if winner == hash {
        Ok((
            hash,
            PasswordOrigin::Generated(SecretString::from(password)),
        ))
    } else {
        // Another instance generated one first; it printed its password.
        Ok((winner, PasswordOrigin::Stored))
    }
}

/// Returns the JWT signing secret: the configured one, or one generated once
/// and shared through the database.
///
/// # Errors
/// [`BootstrapError`] when the database fails or the stored secret is corrupt.
pub async fn jwt_secret(
    repo: &dyn KeyRepository,
    configured: Option<&SecretString>,
) -> Result<SecretBox<[u8]>, BootstrapError> {
    if let Some(secret) = configured {
        return Ok(SecretBox::from(secret.expose_secret().as_bytes().to_vec()));
    }
    let candidate = STANDARD.encode(random_bytes(GENERATED_JWT_SECRET_BYTES));
    let stored = repo.put_setting_if_absent(JWT_SECRET, &candidate).await?;
    let bytes = STANDARD
        .decode(stored.trim())
        .map_err(|_| BootstrapError::Corrupt("JWT secret"))?;
    Ok(SecretBox::from(bytes))
}
