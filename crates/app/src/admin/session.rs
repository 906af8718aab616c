//! Admin login and token verification.

use super::{AdminError, AdminService};
use crate::jwt::{AdminClaims, TokenError};
use crate::password::verify_password;
use crate::secrets::constant_time_eq;
use serde::Serialize;
use std::time::Instant;

/// The admin account: a user name and an argon2 hash.
#[derive(Clone)]
pub struct AdminCredentials {
    /// User name.
    pub username: String,
    /// argon2 PHC string of the password.
    pub password_hash: String,
}

/// Answer of a successful login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl AdminService {
    /// Checks credentials and issues a token. `client` identifies the caller
    /// (its address) for rate limiting of failures.
    ///
    /// # Errors
    /// `RateLimited` after too many failures, `Unauthorized` for wrong credentials.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        client: &str,
    ) -> Result<TokenResponse, AdminError> {
        let now = Instant::now();
        self.throttle
            .check(client, now)
            .map_err(|retry_after| AdminError::RateLimited { retry_after })?;
        // Always verify the password, so timing does not reveal the user name.
        let password_ok = verify_password(password, &self.credentials.password_hash);
        let user_ok = constant_time_eq(username.as_bytes(), self.credentials.username.as_bytes());
        if !(password_ok && user_ok) {
            self.throttle.record_failure(client, now);
            tracing::warn!(client, "failed admin login");
            return Err(AdminError::Unauthorized("wrong username or password"));
        }
        self.throttle.record_success(client);
        let now_unix = time::OffsetDateTime::now_utc().unix_timestamp();
        let access_token = self
            .jwt
            .issue(&self.credentials.username, now_unix)
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        Ok(TokenResponse {
            access_token,
            token_type: "bearer",
            expires_in: self.jwt.ttl().as_secs(),
        })
    }

    /// Verifies an admin token.
    ///
    /// # Errors
    /// `Unauthorized` for an expired, forged or malformed token.
    pub fn verify_token(&self, token: &str) -> Result<AdminClaims, AdminError> {
        self.jwt.verify(token).map_err(|e| match e {
            TokenError::Expired => AdminError::Unauthorized("token expired"),
            TokenError::Invalid | TokenError::Sign => AdminError::Unauthorized("invalid token"),
        })
    }
}
