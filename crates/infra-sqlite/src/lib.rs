//! SQLite backend: opens (creating if needed) the database file in WAL mode
//! with a busy timeout, runs the migrations, and hands out the shared SQL
//! repository.

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{DatabaseConnection, SqlxSqliteConnector};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use infra_sql::SqlKeyRepository;
pub use legacy::{read_legacy_database, LegacyError};

mod legacy;

/// How to open the SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// Database file (`DATABASE_PATH`); its directory is created if missing.
    pub path: PathBuf,
    /// Pool size. SQLite has one writer; a few readers are plenty.
    pub max_connections: u32,
    /// How long a writer waits for the lock before failing.
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    /// Defaults for a database at `path`.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            // SQLite has one writer; readers (the admin API) are few. Each
            // connection keeps its own page cache, held by the process.
            max_connections: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Why the SQLite database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// The data directory cannot be created.
    #[error("cannot create the data directory {path} (DATABASE_PATH): {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file cannot be opened or is not a database.
    #[error("cannot open the SQLite database {path} (DATABASE_PATH): {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The driver's message.
        message: String,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
}

/// Opens the database and runs pending migrations.
///
/// # Errors
/// [`SqliteError`] naming `DATABASE_PATH` when the directory or file is unusable.
pub async fn connect(config: &SqliteConfig) -> Result<SqlKeyRepository, SqliteError> {
    let db = open(config).await?;
    Migrator::up(&db, None)
        .await
        .map_err(|e| SqliteError::Migrate(e.to_string()))?;
    tracing::info!(path = %config.path.display(), "SQLite database ready");
    Ok(SqlKeyRepository::new(db))
}

/// Runs pending migrations and returns how many were applied.
///
/// # Errors
/// [`SqliteError`] when the database cannot be opened or migrated.
pub async fn migrate(config: &SqliteConfig) -> Result<usize, SqliteError> {
    let db = open(config).await?;
    let pending = Migrator::get_pending_migrations(&db)
        .await
        .map_err(|e| SqliteError::Migrate(e.to_string()))?
        .len();
    Migrator::up(&db, None)
        .await
        .map_err(|e| SqliteError::Migrate(e.to_string()))?;
    Ok(pending)
}

async fn open(config: &SqliteConfig) -> Result<DatabaseConnection, SqliteError> {
    ensure_parent_dir(&config.path)?;
    let options = SqliteConnectOptions::new()
        .filename(&config.path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(config.busy_timeout)
        .foreign_keys(true)
        // 1 MiB of page cache per connection instead of SQLite's 2 MiB: the
        // request log's inserts would otherwise fill every connection's cache
        // with its own pages, ~10 MB that the process keeps (docs/benchmarks.md).
        .pragma("cache_size", "-1024");
    let pool = SqlitePoolOptions::new()
        .max_connections(config.max_connections)
        .connect_with(options)
        .await
        .map_err(|e| SqliteError::Open {
            path: config.path.clone(),
            message: e.to_string(),
        })?;
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

fn ensure_parent_dir(path: &Path) -> Result<(), SqliteError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| SqliteError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}
