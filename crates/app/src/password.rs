//! Admin password hashing (argon2id).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Errors of password hashing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// An argon2id PHC string for `password`.
///
/// # Errors
/// [`PasswordError::Hash`] when argon2 refuses the input.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Argon2id with 7 MiB and 5 passes: one of OWASP's equivalent
/// recommendations (with 19 MiB × 2, the crate's default), chosen because
/// the memory of a hash stays with the process afterwards.
fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(7 * 1024, 5, 1, None).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether `hash` was made with other parameters than [`hash_password`]
/// uses now (an older release's), so it is worth replacing when the password
/// is at hand.
#[must_use]
pub fn is_outdated(hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    let costs = |p: &Params| (p.m_cost(), p.t_cost(), p.p_cost());
    let current = hasher().ok().map(|h| costs(h.params()));
    let stored = Params::try_from(&parsed).ok().map(|p| costs(&p));
    parsed.algorithm.as_str() != "argon2id" || current.is_none() || current != stored
}

/// Runs `work` (Argon2: 7 MiB and tens of milliseconds per hash) on
/// tokio's blocking pool, off the async workers. The pool's thread ends after
/// 10 s idle, and the allocator returns its memory then (measured: a thread
/// of our own that ends at once left the memory held for good).
///
/// # Errors
/// [`PasswordError::Hash`] when `work` panicked.
pub async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| PasswordError::Hash(format!("the hashing thread panicked: {e}")))
}

/// [`hash_password`] off the async workers ([`off_the_workers`]).
///
/// # Errors
/// [`PasswordError::Hash`].
pub async fn hash_password_off_thread(password: String) -> Result<String, PasswordError> {
    off_the_workers(move || hash_password(&password)).await?
}

/// [`verify_password`] off the async workers ([`off_the_workers`]); false
/// when the hashing panicked.
pub async fn verify_password_off_thread(password: String, hash: String) -> bool {
    off_the_workers(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn hashes_of_the_old_parameters_are_outdated() {
        let current = hash_password("pw").unwrap();
        assert!(!is_outdated(&current));
        let salt = SaltString::generate(&mut OsRng);
        let old = Argon2::default()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(is_outdated(&old), "19 MiB × 2 is the previous default");
        assert!(verify_password("pw", &old), "old hashes still verify");
        assert!(is_outdated("not a hash"));
    }

    #[tokio::test]
    async fn off_thread_hashing_matches_and_reports_a_panic() {
        let hash = hash_password_off_thread("correct horse".into())
            .await
            .unwrap();
        assert!(verify_password_off_thread("correct horse".into(), hash.clone()).await);
        assert!(!verify_password_off_thread("wrong".into(), hash).await);
        let panicked = off_the_workers(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(PasswordError::Hash(m)) if m.contains("panicked")));
    }
}
