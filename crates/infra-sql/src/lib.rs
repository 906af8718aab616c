//! The [`KeyRepository`](domain::ports::KeyRepository) over any sea-orm
//! `DatabaseConnection` (SQLite, MySQL/MariaDB, PostgreSQL). Driver errors are
//! translated into domain errors here; the connection stays private.

mod entities;
mod errors;
mod mapping;
mod repo;

pub use repo::SqlKeyRepository;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use std::time::Duration;

/// Pool settings for a database server (MySQL, PostgreSQL).
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections held open.
    pub max_connections: u32,
    /// Time allowed to connect (and to acquire a pooled connection).
    pub connect_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a database server could not be used (never contains the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerError {
    /// Connecting failed.
    Connect(String),
    /// Migrating failed.
    Migrate(String),
}

/// Connects to a database server, runs `M`'s pending migrations, and returns
/// the repository and how many migrations were applied.
///
/// # Errors
/// [`ServerError`] saying which step failed.
pub async fn open_server<M: sea_orm_migration::MigratorTrait>(
    url: &str,
    pool: PoolSettings,
) -> Result<(SqlKeyRepository, usize), ServerError> {
    let db = connect_server(url, pool)
        .await
        .map_err(|e| ServerError::Connect(e.to_string()))?;
    // Instances started together race to migrate; the losers see the
    // winner's work on a later attempt.
    let mut attempt = 1;
    let pending = loop {
        match migrate_once::<M>(&db).await {
            Ok(applied) => break applied,
            Err(e) if attempt < MIGRATION_ATTEMPTS && lost_migration_race(&e) => {
                tracing::debug!(attempt, error = %e, "another instance is migrating; retrying");
                tokio::time::sleep(MIGRATION_RETRY_DELAY).await;
                attempt += 1;
            }
            Err(e) => return Err(ServerError::Migrate(e.to_string())),
        }
    };
    Ok((SqlKeyRepository::new(db), pending))
}

const MIGRATION_ATTEMPTS: u32 = 10;
const MIGRATION_RETRY_DELAY: Duration = Duration::from_millis(500);

/// Whether a migration failed only because another instance ran the same
/// step at the same moment (anything else, like missing privileges, is final).
fn lost_migration_race(error: &DbErr) -> bool {
    let message = error.to_string().to_ascii_lowercase();
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    ) || message.contains("already exists")
        || message.contains("duplicate")
}

async fn migrate_once<M: sea_orm_migration::MigratorTrait>(
    db: &DatabaseConnection,
) -> Result<usize, DbErr> {
    let pending = M::get_pending_migrations(db).await?.len();
    M::up(db, None).await?;
    Ok(pending)
}

/// Connects to a database server by URL. sea-orm's statement logging is
/// turned off: statements carry ciphertexts and hashes that have no place in logs.
///
/// # Errors
/// The driver's error (it never contains the password).
pub async fn connect_server(url: &str, pool: PoolSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(pool.max_connections)
        .min_connections(1)
        .connect_timeout(pool.connect_timeout)
        .acquire_timeout(pool.connect_timeout)
        .sqlx_logging(false);
    Database::connect(options).await
}
