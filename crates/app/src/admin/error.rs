use domain::fields::FieldError;
use domain::ports::{CacheError, RepoError};
use std::time::Duration;

/// Errors of admin operations; the HTTP layer maps each to a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// Input is invalid; names the field.
    #[error("{0}")]
    Validation(FieldError),
    /// The addressed thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique field clashes.
    #[error("{field}: {message}")]
    Conflict {
        /// The clashing field.
        field: String,
        /// Explanation.
        message: String,
    },
    /// Missing or wrong credentials or token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Too many failed logins.
    #[error("too many failed logins; try again later")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The database (or cache) is down; nothing was changed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<FieldError> for AdminError {
    fn from(e: FieldError) -> Self {
        AdminError::Validation(e)
    }
}

impl AdminError {
    /// Maps a repository error, naming what was looked up when it is missing.
    pub(crate) fn from_repo(e: RepoError, what: &'static str) -> Self {
        match e {
            RepoError::NotFound => AdminError::NotFound(what),
            RepoError::Duplicate(field) => AdminError::Conflict {
                message: format!("another {what} already has this {field}"),
                field,
            },
            RepoError::Unavailable(reason) => AdminError::Unavailable(reason),
            RepoError::Corrupt(reason) => AdminError::Internal(reason),
        }
    }
}

impl From<CacheError> for AdminError {
    fn from(e: CacheError) -> Self {
        match e {
            CacheError::Unavailable(reason) | CacheError::Degraded(reason) => {
                AdminError::Unavailable(reason)
            }
        }
    }
}
