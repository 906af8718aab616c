//! The backends compiled into this build, chosen at run time from the
//! settings; asking for one that is not compiled in fails with the feature
//! to build with.

use crate::settings::{CacheSettings, DatabaseSettings, Settings};
use crate::startup::StartupError;
use domain::ports::{KeyRepository, RotationCache};
use std::sync::Arc;

/// `lightweight` for SQLite + in-process state, `enterprise` otherwise.
#[must_use]
pub fn build_name(settings: &Settings) -> &'static str {
    match (&settings.database, &settings.cache) {
        (DatabaseSettings::Sqlite { .. }, CacheSettings::Memory) => "lightweight",
        _ => "enterprise",
    }
}

/// A database shared by instances needs `ENCRYPTION_KEY`: a key generated
/// into one instance's data directory would be useless to the others.
///
/// # Errors
/// [`StartupError::EncryptionKeyRequired`].
pub fn require_shared_encryption_key(settings: &Settings) -> Result<(), StartupError> {
    if !cfg!(feature = "enterprise") {
        // Without shared backends compiled in, opening them reports the missing feature first.
        return Ok(());
    }
    match (&settings.database, &settings.encryption_key) {
        (DatabaseSettings::Sqlite { .. }, _) | (_, Some(_)) => Ok(()),
        (other, None) => Err(StartupError::EncryptionKeyRequired(other.name())),
    }
}

/// Opens the configured rotation cache.
///
/// # Errors
/// [`StartupError`] when it is unreachable or not compiled in.
#[allow(clippy::unused_async)] // async only with the enterprise feature
pub async fn open_cache(settings: &Settings) -> Result<Arc<dyn RotationCache>, StartupError> {
    match &settings.cache {
        #[cfg(feature = "lightweight")]
        CacheSettings::Memory => Ok(Arc::new(infra_memory::MemoryRotationCache::new())),
        #[cfg(feature = "enterprise")]
        CacheSettings::Redis { url, prefix } => {
            let config = infra_redis::RedisConfig {
                url: url.clone(),
                prefix: prefix.clone(),
                // Short: while Redis is down, a probing request must not wait long.
                connect_timeout: settings.proxy_connect_timeout.min(std::time::Duration::from_secs(2)),
            };
            let redis = Arc::new(infra_redis::RedisRotationCache::connect(&config).await?);
            // While Redis is down, rotation and health continue per instance.
            let fallback = Arc::new(infra_memory::MemoryRotationCache::new());
            Ok(Arc::new(app::cache_failover::FailoverCache::new(redis, fallback)))
        }
        #[allow(unreachable_patterns)]
        other => Err(not_built(match other {
            CacheSettings::Memory => "CACHE_TYPE=memory needs the `lightweight` feature (cargo build --release)",
            CacheSettings::Redis { .. } => {
                "CACHE_TYPE=redis (or REDIS_URL/REDIS_HOST): this binary was built without Redis support; \
                 build it with `--features enterprise`"
            }
        })),
    }
}

/// Opens (and migrates) the configured database.
///
/// # Errors
/// [`StartupError`] naming the variables to fix.
pub async fn open_repository(settings: &Settings) -> Result<Arc<dyn KeyRepository>, StartupError> {
    Ok(match &settings.database {
        #[cfg(feature = "lightweight")]
        DatabaseSettings::Sqlite { path } => {
            Arc::new(infra_sqlite::connect(&infra_sqlite::SqliteConfig::new(path.clone())).await?)
        }
        #[cfg(feature = "enterprise")]
        DatabaseSettings::Mysql { url } => {
            Arc::new(infra_mysql::connect(&mysql_config(url, settings)).await?)
        }
        #[cfg(feature = "enterprise")]
        DatabaseSettings::Postgres { url } => {
            Arc::new(infra_postgres::connect(&postgres_config(url, settings)).await?)
        }
        #[allow(unreachable_patterns)]
        other => return Err(database_not_built(other)),
    })
}

/// Applies pending migrations; returns how many.
///
/// # Errors
/// [`StartupError`] when the database cannot be opened or migrated.
pub async fn migrate(settings: &Settings) -> Result<usize, StartupError> {
    match &settings.database {
        #[cfg(feature = "lightweight")]
        DatabaseSettings::Sqlite { path } => {
            Ok(infra_sqlite::migrate(&infra_sqlite::SqliteConfig::new(path.clone())).await?)
        }
        #[cfg(feature = "enterprise")]
        DatabaseSettings::Mysql { url } => {
            Ok(infra_mysql::migrate(&mysql_config(url, settings)).await?.1)
        }
        #[cfg(feature = "enterprise")]
        DatabaseSettings::Postgres { url } => {
            Ok(infra_postgres::migrate(&postgres_config(url, settings))
                .await?
                .1)
        }
        #[allow(unreachable_patterns)]
        other => Err(database_not_built(other)),
    }
}

#[cfg(feature = "enterprise")]
fn pool(settings: &Settings) -> infra_sql::PoolSettings {
    infra_sql::PoolSettings {
        connect_timeout: settings.proxy_connect_timeout,
        ..infra_sql::PoolSettings::default()
    }
}

#[cfg(feature = "enterprise")]
fn mysql_config(url: &secrecy::SecretString, settings: &Settings) -> infra_mysql::MysqlConfig {
    infra_mysql::MysqlConfig {
        url: url.clone(),
        pool: pool(settings),
    }
}

#[cfg(feature = "enterprise")]
fn postgres_config(
    url: &secrecy::SecretString,
    settings: &Settings,
) -> infra_postgres::PostgresConfig {
    infra_postgres::PostgresConfig {
        url: url.clone(),
        pool: pool(settings),
    }
}

fn not_built(message: &str) -> StartupError {
    StartupError::BackendNotBuilt(message.to_owned())
}

fn database_not_built(database: &DatabaseSettings) -> StartupError {
    not_built(match database {
        DatabaseSettings::Sqlite { .. } => "DB_TYPE=sqlite needs the `lightweight` feature (cargo build --release)",
        DatabaseSettings::Mysql { .. } => {
            "DB_TYPE=mysql (or DATABASE_URL/DB_HOST): this binary was built without MySQL support; \
             build it with `--features enterprise`"
        }
        DatabaseSettings::Postgres { .. } => {
            "DB_TYPE=postgres (or a postgres:// DATABASE_URL): this binary was built without PostgreSQL support; \
             build it with `--features enterprise`"
        }
    })
}
