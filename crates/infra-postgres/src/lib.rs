//! PostgreSQL backend: connects by URL, runs the migrations, and hands
//! out the shared SQL repository.

use infra_sql::{open_server, PoolSettings, ServerError};
use migrations::Migrator;
use secrecy::{ExposeSecret, SecretString};

pub use infra_sql::SqlKeyRepository;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:5432/db` (`DATABASE_URL`).
    pub url: SecretString,
    /// Pool settings.
    pub pool: PoolSettings,
}

/// Why the database could not be used; never contains the password.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// Unreachable, wrong credentials, unknown database, missing privileges.
    #[error("cannot connect to PostgreSQL (check DATABASE_URL): {0}")]
    Connect(String),
    /// Migrations failed (often: missing CREATE/ALTER privileges).
    #[error("PostgreSQL migration failed (does the user have CREATE privileges?): {0}")]
    Migrate(String),
}

/// Connects and runs pending migrations.
///
/// # Errors
/// [`PostgresError`] naming the variables to check.
pub async fn connect(config: &PostgresConfig) -> Result<SqlKeyRepository, PostgresError> {
    migrate(config).await.map(|(repo, _)| repo)
}

/// Connects, runs pending migrations, and returns the repository and how many were applied.
///
/// # Errors
/// [`PostgresError`] naming the variables to check.
pub async fn migrate(config: &PostgresConfig) -> Result<(SqlKeyRepository, usize), PostgresError> {
    let (repo, applied) = open_server::<Migrator>(config.url.expose_secret(), config.pool)
        .await
        .map_err(|e| match e {
            ServerError::Connect(m) => PostgresError::Connect(m),
            ServerError::Migrate(m) => PostgresError::Migrate(m),
        })?;
    tracing::info!(applied, "PostgreSQL database ready");
    Ok((repo, applied))
}
