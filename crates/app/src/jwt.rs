//! Admin session tokens (HS256 JWT).

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const ISSUER: &str = "api-key-rotator";

/// Claims of an admin token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminClaims {
    /// The admin user name.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Always `api-key-rotator`.
    pub iss: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Bad signature, wrong algorithm or malformed.
    #[error("invalid token")]
    Invalid,
    /// Signing failed.
    #[error("token signing failed")]
    Sign,
}

/// Issues and verifies admin tokens with one shared secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys for `secret`, issuing tokens valid for `ttl`.
    #[must_use]
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// Token lifetime.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `subject`, issued at `now_unix` seconds.
    ///
    /// # Errors
    /// [`TokenError::Sign`] when signing fails.
    pub fn issue(&self, subject: &str, now_unix: i64) -> Result<String, TokenError> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = AdminClaims {
            sub: subject.to_owned(),
            iat: now_unix,
            exp: now_unix.saturating_add(ttl),
            iss: ISSUER.to_owned(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Sign)
    }

    /// Verifies a token and returns its claims.
    ///
    /// # Errors
    /// [`TokenError::Expired`] or [`TokenError::Invalid`].
    pub fn verify(&self, token: &str) -> Result<AdminClaims, TokenError> {
        decode::<AdminClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    #[test]
    fn issue_and_verify() {
        let keys = JwtKeys::new(b"secret-1", Duration::from_secs(60));
        let token = keys.issue("admin", now()).unwrap();
        assert_eq!(keys.verify(&token).unwrap().sub, "admin");
    }

    #[test]
    fn forged_and_expired_tokens_are_refused() {
        let keys = JwtKeys::new(b"secret-1", Duration::from_secs(60));
        let other = JwtKeys::new(b"secret-2", Duration::from_secs(60));
        let forged = other.issue("admin", now()).unwrap();
        assert_eq!(keys.verify(&forged), Err(TokenError::Invalid));
        let old = keys.issue("admin", now() - 3600).unwrap();
        assert_eq!(keys.verify(&old), Err(TokenError::Expired));
        assert_eq!(keys.verify("not.a.token"), Err(TokenError::Invalid));
    }
}
