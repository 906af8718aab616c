//! MySQL / MariaDB backend: connects by URL, runs the migrations, and hands
//! out the shared SQL repository.

use infra_sql::{open_server, PoolSettings, ServerError};
use migrations::Migrator;
use secrecy::{ExposeSecret, SecretString};

pub use infra_sql::SqlKeyRepository;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:3306/db` (`DATABASE_URL` or the `DB_*` variables).
    pub url: SecretString,
    /// Pool settings.
    pub pool: PoolSettings,
}

/// Why the database could not be used; never contains the password.
#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    /// Unreachable, wrong credentials, unknown database, missing privileges.
    #[error("cannot connect to MySQL (check DATABASE_URL or DB_HOST/DB_PORT/DB_USER/DB_PASSWORD/DB_NAME): {0}")]
    Connect(String),
    /// Migrations failed (often: missing CREATE/ALTER privileges).
    #[error("MySQL migration failed (does DB_USER have CREATE and ALTER privileges?): {0}")]
    Migrate(String),
}

/// Connects and runs pending migrations.
///
/// # Errors
/// [`MysqlError`] naming the variables to check.
pub async fn connect(config: &MysqlConfig) -> Result<SqlKeyRepository, MysqlError> {
    migrate(config).await.map(|(repo, _)| repo)
}

/// Connects, runs pending migrations, and returns the repository and how many were applied.
///
/// # Errors
/// [`MysqlError`] naming the variables to check.
pub async fn migrate(config: &MysqlConfig) -> Result<(SqlKeyRepository, usize), MysqlError> {
    let (repo, applied) = open_server::<Migrator>(config.url.expose_secret(), config.pool)
        .await
        .map_err(|e| match e {
            ServerError::Connect(m) => MysqlError::Connect(m),
            ServerError::Migrate(m) => MysqlError::Migrate(m),
        })?;
    tracing::info!(applied, "MySQL database ready");
    Ok((repo, applied))
}
