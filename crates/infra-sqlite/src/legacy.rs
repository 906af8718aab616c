//! Reads the SQLite database of the original Go project (GORM schema:
//! `proxy_configs`, and `api_keys` with plain `key_value`), read-only, for
//! `gateway import-legacy`. Columns added in later versions of that project
//! (`api_format`, …) may be missing; they read as NULL.

use domain::legacy::{LegacyKey, LegacyService};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, SqlxSqliteConnector, Statement,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why the legacy database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// The file cannot be opened as SQLite.
    #[error("cannot open the legacy database {path}: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The driver's message.
        message: String,
    },
    /// It is a database, but not one of the legacy project.
    #[error("{path} is not a database of the original project: {message}")]
    NotLegacy {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// A query failed or a row is unreadable.
    #[error("reading the legacy database failed: {0}")]
    Read(String),
}

const REQUIRED_SERVICE_COLUMNS: &[&str] = &["id", "name", "slug", "config_type"];
const OPTIONAL_SERVICE_COLUMNS: &[&str] = &[
    "is_active",
    "api_key_location",
    "api_key_name",
    "method",
    "target_url",
    "target_base_url",
    "api_format",
];
const REQUIRED_KEY_COLUMNS: &[&str] = &["proxy_config_id", "key_value"];

/// Every legacy service with its keys, in id order. Opens the file
/// read-only: nothing in it changes.
///
/// # Errors
/// [`LegacyError`] when the file is missing, not SQLite, or lacks the tables.
pub async fn read_legacy_database(path: &Path) -> Result<Vec<LegacyService>, LegacyError> {
    let db = open_read_only(path).await?;
    let service_columns = columns(&db, path, "proxy_configs", REQUIRED_SERVICE_COLUMNS).await?;
    let key_columns = columns(&db, path, "api_keys", REQUIRED_KEY_COLUMNS).await?;

    let select: Vec<String> = REQUIRED_SERVICE_COLUMNS
        .iter()
        .chain(OPTIONAL_SERVICE_COLUMNS)
        .map(|c| column_or_null(&service_columns, c))
        .collect();
    let sql = format!(
        "SELECT {} FROM proxy_configs ORDER BY id",
        select.join(", ")
    );
    let mut services = Vec::new();
    for row in query(&db, &sql).await? {
        services.push(service_from(&row)?);
    }

    let sql = format!(
        "SELECT proxy_config_id, key_value, {} FROM api_keys ORDER BY {}",
        column_or_null(&key_columns, "is_active"),
        if key_columns.contains("id") {
            "id"
        } else {
            "rowid"
        },
    );
    let mut keys: BTreeMap<i64, Vec<LegacyKey>> = BTreeMap::new();
    for row in query(&db, &sql).await? {
        let service: Option<i64> = get(&row, "proxy_config_id")?;
        let value: Option<String> = get(&row, "key_value")?;
        let (Some(service), Some(value)) = (service, value) else {
            continue; // a key of no service, or no key: nothing to carry over
        };
        keys.entry(service).or_default().push(LegacyKey {
            value,
            is_active: active(get(&row, "is_active")?),
        });
    }
    for service in &mut services {
        service.keys = keys.remove(&service.legacy_id).unwrap_or_default();
    }
    let orphans: usize = keys.values().map(Vec::len).sum();
    if orphans > 0 {
        tracing::warn!(
            orphans,
            "legacy keys of services that no longer exist were not read"
        );
    }
    db.close()
        .await
        .map_err(|e| LegacyError::Read(e.to_string()))?;
    Ok(services)
}

async fn open_read_only(path: &Path) -> Result<DatabaseConnection, LegacyError> {
    let open_error = |message: String| LegacyError::Open {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(open_error("no such file".into()));
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| open_error(e.to_string()))?;
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// The columns of `table`, failing when it or a required column is missing.
async fn columns(
    db: &DatabaseConnection,
    path: &Path,
    table: &str,
    required: &[&str],
) -> Result<BTreeSet<String>, LegacyError> {
    let not_legacy = |message: String| LegacyError::NotLegacy {
        path: path.to_path_buf(),
        message,
    };
    let rows = query(db, &format!("PRAGMA table_info({table})"))
        .await
        .map_err(|e| not_legacy(e.to_string()))?;
    let mut names = BTreeSet::new();
    for row in rows {
        if let Some(name) = get::<String>(&row, "name")? {
            names.insert(name);
        }
    }
    if names.is_empty() {
        return Err(not_legacy(format!("no table `{table}`")));
    }
    if let Some(missing) = required.iter().find(|c| !names.contains(**c)) {
        return Err(not_legacy(format!(
            "table `{table}` has no column `{missing}`"
        )));
    }
    Ok(names)
}

fn column_or_null(present: &BTreeSet<String>, column: &str) -> String {
    if present.contains(column) {
        column.to_owned()
    } else {
        format!("NULL AS {column}")
    }
}

async fn query(db: &DatabaseConnection, sql: &str) -> Result<Vec<QueryResult>, LegacyError> {
    db.query_all(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .map_err(|e| LegacyError::Read(e.to_string()))
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<Option<T>, LegacyError> {
    row.try_get::<Option<T>>("", column)
        .map_err(|e| LegacyError::Read(format!("column `{column}`: {e:?}")))
}

/// GORM stored booleans as 0/1 with a default of true.
fn active(value: Option<i64>) -> bool {
    value.is_none_or(|v| v != 0)
}

fn service_from(row: &QueryResult) -> Result<LegacyService, LegacyError> {
    let required = |column: &str| -> Result<String, LegacyError> {
        get::<String>(row, column)?
            .ok_or_else(|| LegacyError::Read(format!("a service without `{column}`")))
    };
    Ok(LegacyService {
        legacy_id: get(row, "id")?
            .ok_or_else(|| LegacyError::Read("a service without `id`".into()))?,
        name: required("name")?,
        slug: required("slug")?,
        config_type: required("config_type")?,
        is_active: active(get(row, "is_active")?),
        api_key_location: get(row, "api_key_location")?,
        api_key_name: get(row, "api_key_name")?,
        method: get(row, "method")?,
        target_url: get(row, "target_url")?,
        target_base_url: get(row, "target_base_url")?,
        api_format: get(row, "api_format")?,
        keys: Vec::new(),
    })
}
