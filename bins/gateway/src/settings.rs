//! Configuration (SPEC §6): environment variables, a `.env` file in the
//! working directory, and an optional TOML file (`--config`); the
//! environment wins. Every value is checked once at start, and a bad one
//! fails with one line naming the variable.

use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem, naming the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A variable has a bad value.
    #[error("{var}: {message}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The configuration file cannot be used.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Every variable the gateway reads, with its default (documented in docs/configuration.md).
pub const VARIABLES: &[(&str, &str)] = &[
    ("BACKEND_PORT", "8000"),
    ("BIND_ADDRESS", "0.0.0.0"),
    ("LOG_LEVEL", "info"),
    ("LOG_FORMAT", "text"),
    ("ADMIN_USERNAME", "admin"),
    ("ADMIN_PASSWORD", ""),
    ("JWT_SECRET", ""),
    ("JWT_TTL_S", "86400"),
    ("GLOBAL_PROXY_KEYS", ""),
    ("PROXY_TIMEOUT", "30"),
    ("PROXY_CONNECT_TIMEOUT", "10"),
    ("PROXY_PUBLIC_BASE_URL", "http://localhost:8000"),
    ("MAX_BODY_BYTES", "10485760"),
    ("DEFAULT_MAX_TOKENS", "4096"),
    ("REPROBE_SCHEDULE", "60,300,1800,7200"),
    ("ENCRYPTION_KEY", ""),
    ("NEW_ENCRYPTION_KEY", ""),
    ("DB_TYPE", ""),
    ("DATABASE_PATH", "./data/api_key_rotator.db"),
    ("DATABASE_URL", ""),
    ("DB_HOST", ""),
    ("DB_PORT", "3306"),
    ("DB_USER", "root"),
    ("DB_PASSWORD", ""),
    ("DB_NAME", "api_key_rotator"),
    ("CACHE_TYPE", ""),
    ("REDIS_URL", ""),
    ("REDIS_HOST", ""),
    ("REDIS_PORT", "6379"),
    ("REDIS_PASSWORD", ""),
    ("REDIS_KEY_PREFIX", "api_key_rotator"),
    ("METRICS_TOKEN", ""),
    ("CORS_ALLOWED_ORIGINS", ""),
    ("EXPOSE_KEY_ID", "false"),
    ("TELEMETRY_ENABLED", "true"),
    ("REQUEST_LOG_ENABLED", "true"),
    ("REQUEST_LOG_QUEUE_SIZE", "20000"),
    ("METRICS_ENABLED", "true"),
    ("REQUEST_LOG_RETENTION_DAYS", "30"),
    ("REQUEST_LOG_MAX_ROWS", "1000000"),
];

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which database to use.
#[derive(Debug, Clone)]
pub enum DatabaseSettings {
    /// SQLite file.
    Sqlite {
        /// `DATABASE_PATH`.
        path: PathBuf,
    },
    /// MySQL / MariaDB.
    Mysql {
        /// Connection URL (from `DATABASE_URL` or the `DB_*` variables).
        url: SecretString,
    },
    /// PostgreSQL.
    Postgres {
        /// Connection URL (`DATABASE_URL`).
        url: SecretString,
    },
}

impl DatabaseSettings {
    /// `sqlite`, `mysql` or `postgres`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            DatabaseSettings::Sqlite { .. } => "sqlite",
            DatabaseSettings::Mysql { .. } => "mysql",
            DatabaseSettings::Postgres { .. } => "postgres",
        }
    }
}

/// Which rotation cache to use.
#[derive(Debug, Clone)]
pub enum CacheSettings {
    /// In process.
    Memory,
    /// Redis.
    Redis {
        /// Connection URL (from `REDIS_URL` or the `REDIS_*` variables).
        url: SecretString,
        /// `REDIS_KEY_PREFIX`.
        prefix: String,
    },
}

/// The whole configuration, built once and passed in (never global).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `BIND_ADDRESS`.
    pub bind_address: String,
    /// `BACKEND_PORT` (0 picks a free port).
    pub port: u16,
    /// `LOG_LEVEL`: a level or an `EnvFilter` directive.
    pub log_level: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `ADMIN_USERNAME`.
    pub admin_username: String,
    /// `ADMIN_PASSWORD`; generated on first start when unset.
    pub admin_password: Option<SecretString>,
    /// `JWT_SECRET`; generated and stored in the database when unset.
    pub jwt_secret: Option<SecretString>,
    /// `JWT_TTL_S`.
    pub jwt_ttl: Duration,
    /// `GLOBAL_PROXY_KEYS`.
    pub global_proxy_keys: Vec<SecretString>,
    /// `PROXY_TIMEOUT`.
    pub proxy_timeout: Duration,
    /// `PROXY_CONNECT_TIMEOUT`.
    pub proxy_connect_timeout: Duration,
    /// `PROXY_PUBLIC_BASE_URL`.
    pub proxy_public_base_url: String,
    /// `MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `DEFAULT_MAX_TOKENS`.
    pub default_max_tokens: u32,
    /// `REPROBE_SCHEDULE`: delays between test calls of an invalid key (the last repeats).
    pub reprobe_schedule: Vec<Duration>,
    /// `ENCRYPTION_KEY` (base64 of 32 bytes).
    pub encryption_key: Option<SecretString>,
    /// `NEW_ENCRYPTION_KEY`: the key `gateway rotate-encryption-key` moves to.
    pub new_encryption_key: Option<SecretString>,
    /// Database choice.
    pub database: DatabaseSettings,
    /// Cache choice.
    pub cache: CacheSettings,
    /// `METRICS_TOKEN`.
    pub metrics_token: Option<SecretString>,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors_allowed_origins: Vec<String>,
    /// `EXPOSE_KEY_ID`.
    pub expose_key_id: bool,
    /// `TELEMETRY_ENABLED`.
    pub telemetry_enabled: bool,
    /// `REQUEST_LOG_ENABLED`.
    pub request_log_enabled: bool,
    /// `REQUEST_LOG_QUEUE_SIZE`.
    pub request_log_queue_size: usize,
    /// `METRICS_ENABLED`.
    pub metrics_enabled: bool,
    /// `REQUEST_LOG_RETENTION_DAYS`.
    pub request_log_retention_days: u32,
    /// `REQUEST_LOG_MAX_ROWS`.
    pub request_log_max_rows: u64,
}

/// Raw values by variable name (upper case).
pub type RawSettings = BTreeMap<String, String>;

impl Settings {
    /// Loads `.env` (if present), the optional TOML file and the environment.
    ///
    /// # Errors
    /// [`SettingsError`] naming the first bad variable or the bad file.
    pub fn load(config_file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut raw = RawSettings::new();
        if let Some(path) = config_file {
            raw.extend(read_toml(path)?);
        }
        // `.env` never overrides the real environment.
        let dotenv: RawSettings = dotenvy::from_path_iter(".env")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .collect();
        raw.extend(dotenv.into_iter().filter(|(k, _)| is_known(k)));
        raw.extend(std::env::vars().filter(|(k, _)| is_known(k)));
        Self::from_raw(&raw)
    }

    /// Builds settings from raw values; absent variables take their defaults.
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] naming the first bad variable.
    pub fn from_raw(raw: &RawSettings) -> Result<Self, SettingsError> {
        let get = |var: &'static str| -> Option<&str> {
            raw.get(var).map(|v| v.trim()).filter(|v| !v.is_empty())
        };
        let text = |var: &'static str| -> String {
            get(var).unwrap_or_else(|| default_of(var)).to_owned()
        };
        let secret = |var: &'static str| get(var).map(|v| SecretString::from(v.to_owned()));

        let log_format = match text("LOG_FORMAT").as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("`{other}` is not one of: text, json"),
                ))
            }
        };
        let proxy_public_base_url = text("PROXY_PUBLIC_BASE_URL")
            .trim_end_matches('/')
            .to_owned();
        domain::config::validate_http_url(&proxy_public_base_url)
            .map_err(|m| invalid("PROXY_PUBLIC_BASE_URL", m))?;
        for var in ["ENCRYPTION_KEY", "NEW_ENCRYPTION_KEY"] {
            if let Some(key) = get(var) {
                app::secrets::KeyCipher::from_base64(key)
                    .map_err(|e| invalid(var, e.to_string()))?;
            }
        }
        let admin_username = text("ADMIN_USERNAME");

        Ok(Self {
            bind_address: text("BIND_ADDRESS"),
            port: number("BACKEND_PORT", &text("BACKEND_PORT"))?,
            log_level: text("LOG_LEVEL"),
            log_format,
            admin_username,
            admin_password: secret("ADMIN_PASSWORD"),
            jwt_secret: secret("JWT_SECRET"),
            jwt_ttl: Duration::from_secs(positive("JWT_TTL_S", &text("JWT_TTL_S"))?),
            global_proxy_keys: get("GLOBAL_PROXY_KEYS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| SecretString::from(k.to_owned()))
                .collect(),
            proxy_timeout: Duration::from_secs(positive("PROXY_TIMEOUT", &text("PROXY_TIMEOUT"))?),
            proxy_connect_timeout: Duration::from_secs(positive(
                "PROXY_CONNECT_TIMEOUT",
                &text("PROXY_CONNECT_TIMEOUT"),
            )?),
            proxy_public_base_url,
            max_body_bytes: positive("MAX_BODY_BYTES", &text("MAX_BODY_BYTES"))?,
            default_max_tokens: positive("DEFAULT_MAX_TOKENS", &text("DEFAULT_MAX_TOKENS"))?,
            reprobe_schedule: text("REPROBE_SCHEDULE")
                .split(',')
                .map(|step| positive::<f64>("REPROBE_SCHEDULE", step.trim()))
                .map(|step| step.and_then(|s| seconds("REPROBE_SCHEDULE", s)))
                .collect::<Result<_, _>>()?,
            encryption_key: secret("ENCRYPTION_KEY"),
            new_encryption_key: secret("NEW_ENCRYPTION_KEY"),
            database: database(&get, &text)?,
            cache: cache(&get, &text)?,
            metrics_token: secret("METRICS_TOKEN"),
            cors_allowed_origins: get("CORS_ALLOWED_ORIGINS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
            expose_key_id: boolean("EXPOSE_KEY_ID", &text("EXPOSE_KEY_ID"))?,
            telemetry_enabled: boolean("TELEMETRY_ENABLED", &text("TELEMETRY_ENABLED"))?,
            request_log_enabled: boolean("REQUEST_LOG_ENABLED", &text("REQUEST_LOG_ENABLED"))?,
            request_log_queue_size: positive(
                "REQUEST_LOG_QUEUE_SIZE",
                &text("REQUEST_LOG_QUEUE_SIZE"),
            )?,
            metrics_enabled: boolean("METRICS_ENABLED", &text("METRICS_ENABLED"))?,
            request_log_retention_days: positive(
                "REQUEST_LOG_RETENTION_DAYS",
                &text("REQUEST_LOG_RETENTION_DAYS"),
            )?,
            request_log_max_rows: positive("REQUEST_LOG_MAX_ROWS", &text("REQUEST_LOG_MAX_ROWS"))?,
        })
    }

    /// The directory holding the SQLite file and `secret.key`.
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        match &self.database {
            DatabaseSettings::Sqlite { path } => path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            DatabaseSettings::Mysql { .. } | DatabaseSettings::Postgres { .. } => {
                PathBuf::from("./data")
            }
        }
    }
}

fn database<'a>(
    get: &impl Fn(&'static str) -> Option<&'a str>,
    text: &impl Fn(&'static str) -> String,
) -> Result<DatabaseSettings, SettingsError> {
    let url = get("DATABASE_URL");
    let db_type = match get("DB_TYPE") {
        Some(t) => t.to_ascii_lowercase(),
        None if url.is_some_and(|u| u.starts_with("mysql://")) || get("DB_HOST").is_some() => {
            "mysql".to_owned()
        }
        None if url.is_some_and(is_postgres_url) => "postgres".to_owned(),
        None => "sqlite".to_owned(),
    };
    match db_type.as_str() {
        "sqlite" => Ok(DatabaseSettings::Sqlite {
            path: PathBuf::from(text("DATABASE_PATH")),
        }),
        "mysql" => {
            let url = match url {
                Some(u) if u.starts_with("mysql://") => u.to_owned(),
                Some(_) => {
                    return Err(invalid(
                        "DATABASE_URL",
                        "must start with mysql:// when DB_TYPE=mysql",
                    ))
                }
                None => {
                    let host = get("DB_HOST")
                        .ok_or_else(|| invalid("DB_HOST", "is required when DB_TYPE=mysql"))?;
                    let port: u16 = number("DB_PORT", &text("DB_PORT"))?;
                    let password = get("DB_PASSWORD")
                        .map(|p| format!(":{p}"))
                        .unwrap_or_default();
                    format!(
                        "mysql://{}{password}@{host}:{port}/{}",
                        text("DB_USER"),
                        text("DB_NAME")
                    )
                }
            };
            Ok(DatabaseSettings::Mysql {
                url: SecretString::from(url),
            })
        }
        "postgres" | "postgresql" => match url {
            Some(u) if is_postgres_url(u) => Ok(DatabaseSettings::Postgres {
                url: SecretString::from(u.to_owned()),
            }),
            _ => Err(invalid(
                "DATABASE_URL",
                "must be a postgres:// URL when DB_TYPE=postgres",
            )),
        },
        other => Err(invalid(
            "DB_TYPE",
            format!("`{other}` is not one of: sqlite, mysql, postgres"),
        )),
    }
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn cache<'a>(
    get: &impl Fn(&'static str) -> Option<&'a str>,
    text: &impl Fn(&'static str) -> String,
) -> Result<CacheSettings, SettingsError> {
    let cache_type = match get("CACHE_TYPE") {
        Some(t) => t.to_ascii_lowercase(),
        None if get("REDIS_URL").is_some() || get("REDIS_HOST").is_some() => "redis".to_owned(),
        None => "memory".to_owned(),
    };
    match cache_type.as_str() {
        "memory" => Ok(CacheSettings::Memory),
        "redis" => {
            let url = match get("REDIS_URL") {
                Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => u.to_owned(),
                Some(_) => {
                    return Err(invalid(
                        "REDIS_URL",
                        "must start with redis:// or rediss://",
                    ))
                }
                None => {
                    let host = get("REDIS_HOST").ok_or_else(|| {
                        invalid("REDIS_HOST", "is required when CACHE_TYPE=redis")
                    })?;
                    let port: u16 = number("REDIS_PORT", &text("REDIS_PORT"))?;
                    let auth = get("REDIS_PASSWORD")
                        .map(|p| format!(":{p}@"))
                        .unwrap_or_default();
                    format!("redis://{auth}{host}:{port}")
                }
            };
            let prefix = text("REDIS_KEY_PREFIX");
            if prefix.contains(char::is_whitespace) {
                return Err(invalid("REDIS_KEY_PREFIX", "must not contain spaces"));
            }
            Ok(CacheSettings::Redis {
                url: SecretString::from(url),
                prefix,
            })
        }
        other => Err(invalid(
            "CACHE_TYPE",
            format!("`{other}` is not one of: memory, redis"),
        )),
    }
}

fn is_known(var: &str) -> bool {
    VARIABLES.iter().any(|(name, _)| *name == var)
}

fn default_of(var: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|(name, _)| *name == var)
        .map_or("", |(_, default)| default)
}

fn invalid(var: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        var,
        message: message.into(),
    }
}

fn number<T: std::str::FromStr>(var: &'static str, value: &str) -> Result<T, SettingsError> {
    value
        .parse()
        .map_err(|_| invalid(var, format!("`{value}` is not a valid number")))
}

fn positive<T: std::str::FromStr + Default + PartialOrd>(
    var: &'static str,
    value: &str,
) -> Result<T, SettingsError> {
    let n: T = number(var, value)?;
    if n <= T::default() {
        return Err(invalid(var, format!("`{value}` must be greater than 0")));
    }
    Ok(n)
}

fn seconds(var: &'static str, value: f64) -> Result<Duration, SettingsError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| *d <= Duration::from_secs(365 * 86_400))
        .ok_or_else(|| invalid(var, format!("`{value}` seconds is out of range")))
}

fn boolean(var: &'static str, value: &str) -> Result<bool, SettingsError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(var, format!("`{value}` is not true or false"))),
    }
}

fn read_toml(path: &Path) -> Result<RawSettings, SettingsError> {
    let file_error = |message: String| SettingsError::File {
        path: path.to_path_buf(),
        message,
    };
    let table: BTreeMap<String, config::Value> = config::Config::builder()
        .add_source(
            config::File::from(path)
                .format(config::FileFormat::Toml)
                .required(true),
        )
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| file_error(e.to_string()))?;
    let mut raw = RawSettings::new();
    for (key, value) in table {
        let var = key.to_ascii_uppercase();
        if !is_known(&var) {
            return Err(file_error(format!("unknown setting `{key}`")));
        }
        let value = value
            .into_string()
            .map_err(|e| file_error(format!("{key}: {e}")))?;
        raw.insert(var, value);
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn raw(pairs: &[(&str, &str)]) -> RawSettings {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn documented_defaults_are_the_ones_used() {
        let s = Settings::from_raw(&RawSettings::new()).unwrap();
        assert_eq!(s.port, 8000);
        assert_eq!(s.bind_address, "0.0.0.0");
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.admin_username, "admin");
        assert_eq!(s.jwt_ttl, Duration::from_secs(86_400));
        assert_eq!(s.proxy_timeout, Duration::from_secs(30));
        assert_eq!(s.proxy_connect_timeout, Duration::from_secs(10));
        assert_eq!(s.proxy_public_base_url, "http://localhost:8000");
        assert_eq!(s.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(s.default_max_tokens, 4096);
        assert!(
            matches!(&s.database, DatabaseSettings::Sqlite { path } if path == Path::new("./data/api_key_rotator.db"))
        );
        assert!(matches!(s.cache, CacheSettings::Memory));
        assert!(!s.expose_key_id);
        assert_eq!(s.request_log_retention_days, 30);
        assert_eq!(s.request_log_max_rows, 1_000_000);
        assert_eq!(s.data_dir(), PathBuf::from("./data"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("BACKEND_PORT", "eighty"),
            ("BACKEND_PORT", "70000"),
            ("LOG_FORMAT", "xml"),
            ("JWT_TTL_S", "0"),
            ("MAX_BODY_BYTES", "-1"),
            ("EXPOSE_KEY_ID", "maybe"),
            ("ENCRYPTION_KEY", "short"),
            ("PROXY_PUBLIC_BASE_URL", "localhost:8000"),
            ("DB_TYPE", "oracle"),
            ("CACHE_TYPE", "memcached"),
        ] {
            let err = Settings::from_raw(&raw(&[(var, value)])).unwrap_err();
            assert!(err.to_string().starts_with(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn backends_are_inferred_from_urls_and_hosts() {
        let s = Settings::from_raw(&raw(&[
            ("DATABASE_URL", "mysql://u:p@h/db"),
            ("REDIS_HOST", "r"),
        ]))
        .unwrap();
        assert!(matches!(s.database, DatabaseSettings::Mysql { .. }));
        let CacheSettings::Redis { url, prefix } = s.cache else {
            panic!("redis")
        };
        assert_eq!(url.expose_secret(), "redis://r:6379");
        assert_eq!(prefix, "api_key_rotator");
        let s = Settings::from_raw(&raw(&[("DATABASE_URL", "postgres://p@h/db")])).unwrap();
        assert_eq!(s.database.name(), "postgres");
        let s = Settings::from_raw(&raw(&[("DB_HOST", "db"), ("DB_PASSWORD", "pw")])).unwrap();
        let DatabaseSettings::Mysql { url } = s.database else {
            panic!("mysql")
        };
        assert_eq!(
            url.expose_secret(),
            "mysql://root:pw@db:3306/api_key_rotator"
        );
    }

    #[test]
    fn global_keys_are_split_and_trimmed() {
        let s = Settings::from_raw(&raw(&[("GLOBAL_PROXY_KEYS", " a, b ,,c ")])).unwrap();
        let keys: Vec<&str> = s
            .global_proxy_keys
            .iter()
            .map(|k| k.expose_secret())
            .collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }

    #[test]
    fn toml_file_is_read_and_unknown_keys_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "backend_port = 9100\nLOG_LEVEL = \"debug\"\n").unwrap();
        let raw = read_toml(&good).unwrap();
        assert_eq!(raw.get("BACKEND_PORT").map(String::as_str), Some("9100"));
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "colour = \"red\"\n").unwrap();
        assert!(read_toml(&bad).unwrap_err().to_string().contains("colour"));
    }
}
