//! Translation of driver errors into domain errors.

use domain::ports::RepoError;
use sea_orm::{DbErr, SqlErr};

/// Unique-constraint columns, in the order their names are looked for in
/// the driver's message (index names contain the column name).
const UNIQUE_FIELDS: &[&str] = &["slug", "name", "fingerprint", "key_hash"];

pub(crate) fn repo_err(err: DbErr) -> RepoError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() {
        let field = UNIQUE_FIELDS
            .iter()
            .find(|f| message.contains(*f))
            .map_or(
                "value",
                |f| if *f == "fingerprint" { "key_value" } else { f },
            );
        return RepoError::Duplicate(field.to_owned());
    }
    match err {
        DbErr::RecordNotFound(_) | DbErr::RecordNotUpdated => RepoError::NotFound,
        DbErr::Type(message) | DbErr::Json(message) => RepoError::Corrupt(message),
        other => RepoError::Unavailable(other.to_string()),
    }
}

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> RepoError {
    RepoError::Corrupt(format!("{what}: {detail}"))
}
