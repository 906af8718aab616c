//! Wiring: picks the backends compiled into this build, bootstraps
//! credentials, and builds the HTTP server.

use crate::backends;
use crate::encryption_key::{self, EncryptionKeyError};
use crate::settings::Settings;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use app::admin::AdminCredentials;
use app::bootstrap::{self, BootstrapError, PasswordOrigin};
use app::jwt::JwtKeys;
use app::proxy::ProxyService;
use app::snapshot::SnapshotStore;
use app::telemetry::{Retention, Switches, Telemetry, REQUEST_LOG_FLUSH_INTERVAL};
use app::usage::FLUSH_INTERVAL;
use app::{AdminService, AppInfo};
use domain::ports::KeyRepository;
use gateway_http::proxy::{ProxyState, UpstreamClient};
use gateway_http::AdminState;
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// How long in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Why the gateway could not start; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configured backend is not compiled into this binary.
    #[error("{0}")]
    BackendNotBuilt(String),
    /// SQLite cannot be opened.
    #[cfg(feature = "lightweight")]
    #[error(transparent)]
    Sqlite(#[from] infra_sqlite::SqliteError),
    /// MySQL cannot be used.
    #[cfg(feature = "enterprise")]
    #[error(transparent)]
    Mysql(#[from] infra_mysql::MysqlError),
    /// PostgreSQL cannot be used.
    #[cfg(feature = "enterprise")]
    #[error(transparent)]
    Postgres(#[from] infra_postgres::PostgresError),
    /// Redis cannot be used.
    #[cfg(feature = "enterprise")]
    #[error(transparent)]
    Redis(#[from] infra_redis::RedisError),
    /// A shared database needs a shared encryption key.
    #[error("ENCRYPTION_KEY: required with DB_TYPE={0}, since every instance must decrypt the same keys; generate one with `gateway gen-key`")]
    EncryptionKeyRequired(&'static str),
    /// The encryption key is unusable.
    #[error(transparent)]
    EncryptionKey(#[from] EncryptionKeyError),
    /// The proxy snapshot could not be loaded.
    #[error("loading the configuration failed: {0}")]
    Snapshot(#[from] app::snapshot::SnapshotError),
    /// TLS for upstream connections could not be set up.
    #[error("{0}")]
    Tls(String),
    /// Credentials could not be set up.
    #[error("bootstrap failed: {0}")]
    Bootstrap(#[from] BootstrapError),
    /// The listening socket cannot be opened.
    #[error("cannot listen on {address} (BIND_ADDRESS, BACKEND_PORT): {source}")]
    Bind {
        /// Address tried.
        address: String,
        /// OS error.
        source: std::io::Error,
    },
}

/// A built, not yet running gateway.
pub struct Application {
    port: u16,
    server: Server,
    generated_admin_password: Option<SecretString>,
    admin: Arc<AdminService>,
}

impl Application {
    /// Opens the backends, bootstraps credentials and binds the listener.
    ///
    /// # Errors
    /// [`StartupError`] naming the variable or file to fix.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with(settings, |repo| repo).await
    }

    /// [`Application::build`], with the repository passed through `wrap`
    /// first (tests count or stall its calls).
    ///
    /// # Errors
    /// [`StartupError`] naming the variable or file to fix.
    pub async fn build_with(
        settings: Settings,
        wrap: impl FnOnce(Arc<dyn KeyRepository>) -> Arc<dyn KeyRepository>,
    ) -> Result<Self, StartupError> {
        // The cache first: it has no side effects, so a misconfigured cache
        // fails before the database file is created.
        backends::require_shared_encryption_key(&settings)?;
        let cache = backends::open_cache(&settings).await?;
        let repo = wrap(backends::open_repository(&settings).await?);
        let cipher = Arc::new(encryption_key::load_or_generate(
            settings.encryption_key.as_ref(),
            &settings.data_dir(),
        )?);
        let (password_hash, origin) =
            bootstrap::admin_password_hash(repo.as_ref(), settings.admin_password.as_ref()).await?;
        let generated_admin_password = match origin {
            PasswordOrigin::Generated(password) => Some(password),
            PasswordOrigin::Configured | PasswordOrigin::Stored => None,
        };
        let jwt_secret = bootstrap::jwt_secret(repo.as_ref(), settings.jwt_secret.as_ref()).await?;
        let snapshots =
            Arc::new(SnapshotStore::load(Arc::clone(&repo), Arc::clone(&cipher)).await?);
        // Other instances' changes arrive as notifications; this one's are applied synchronously.
        actix_web::rt::spawn(Arc::clone(&snapshots).follow(cache.subscribe()));
        let telemetry = Arc::new(Telemetry::configured(
            Switches {
                telemetry: settings.telemetry_enabled,
                request_log: settings.request_log_enabled,
                metrics: settings.metrics_enabled,
            },
            settings.request_log_queue_size,
        ));
        actix_web::rt::spawn(Arc::clone(&telemetry).run_writers(
            Arc::clone(&repo),
            FLUSH_INTERVAL,
            REQUEST_LOG_FLUSH_INTERVAL,
            Retention {
                days: settings.request_log_retention_days,
                max_rows: settings.request_log_max_rows,
            },
        ));
        let proxy = Arc::new(ProxyService::new(
            Arc::clone(&snapshots),
            Arc::clone(&cache),
            settings.global_proxy_keys.clone(),
            Arc::clone(&telemetry),
        ));
        let info = AppInfo {
            proxy_public_base_url: settings.proxy_public_base_url.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            build: backends::build_name(&settings).to_owned(),
            database: settings.database.name().to_owned(),
            cache: cache.backend().to_owned(),
        };
        let service = Arc::new(
            AdminService::new(
                repo,
                cache,
                cipher,
                snapshots,
                JwtKeys::new(jwt_secret.expose_secret(), settings.jwt_ttl),
                AdminCredentials {
                    username: settings.admin_username.clone(),
                    password_hash,
                },
                info,
            )
            .with_telemetry(telemetry),
        );
        let admin = Arc::clone(&service);
        let state = web::Data::new(AdminState {
            service,
            max_body_bytes: settings.max_body_bytes,
            metrics_token: settings.metrics_token.clone(),
        });
        let proxy_state = web::Data::new(ProxyState {
            service: Arc::clone(&proxy),
            max_body_bytes: settings.max_body_bytes,
            default_timeout: settings.proxy_timeout,
            expose_key_id: settings.expose_key_id,
            default_max_tokens: u64::from(settings.default_max_tokens),
        });
        // Fail now, not in a worker, if TLS cannot be set up.
        UpstreamClient::new(settings.proxy_connect_timeout).map_err(StartupError::Tls)?;
        let connect_timeout = settings.proxy_connect_timeout;
        actix_web::rt::spawn(gateway_http::proxy::reprobe::run(
            Arc::clone(&proxy),
            settings.reprobe_schedule.clone(),
            settings.proxy_connect_timeout,
            settings.proxy_timeout,
        ));

        let address = format!("{}:{}", settings.bind_address, settings.port);
        let bind_error = |source| StartupError::Bind {
            address: address.clone(),
            source,
        };
        let listener = TcpListener::bind(&address).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(state.clone())
                .app_data(proxy_state.clone());
            // One upstream client per worker: connection pools are per thread in awc.
            if let Ok(client) = UpstreamClient::new(connect_timeout) {
                app = app.app_data(web::Data::new(client));
            }
            app.configure(gateway_http::configure)
        })
        .on_connect(gateway_http::proxy::client_watch::on_connect)
        // Streamed events go out as they are relayed (SPEC §5: "flushed per
        // event"). actix-web leaves Nagle's algorithm on, which held each
        // event back until the client acknowledged the one before — up to
        // the client's 40 ms delayed ACK, on every request after a
        // connection's first (nginx sets `tcp_nodelay` for the same reason).
        .tcp_nodelay(true)
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        .listen(listener)
        .map_err(bind_error)?
        .run();
        tracing::info!(%address, port, build = backends::build_name(&settings), "gateway listening");
        Ok(Self {
            port,
            server,
            generated_admin_password,
            admin,
        })
    }

    /// The port actually bound (useful with `BACKEND_PORT=0`).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server.
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The admin password generated on this start, if any.
    #[must_use]
    pub fn generated_admin_password(&self) -> Option<&SecretString> {
        self.generated_admin_password.as_ref()
    }

    /// Prints the generated admin password, once, to standard output.
    pub fn announce_generated_password(&self, username: &str) {
        if let Some(password) = &self.generated_admin_password {
            let mut out = std::io::stdout().lock();
            // The operator needs to see it; a closed stdout is not worth failing for.
            let _ = writeln!(
                out,
                "\n=====================================================================\n\
                 Admin user:     {username}\n\
                 Admin password: {}\n\
                 Generated on first start and shown only this once (stored as an\n\
                 argon2 hash). Set ADMIN_PASSWORD to choose your own.\n\
                 =====================================================================\n",
                password.expose_secret()
            );
            let _ = out.flush();
        }
    }

    /// Serves until SIGTERM (graceful, up to 30 s; SIGINT stops at once) or the handle stops it,
    /// then writes pending usage counters.
    ///
    /// # Errors
    /// I/O errors of the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // In-flight requests have finished: their usage is complete.
        self.admin.flush_telemetry().await;
        tracing::info!("usage counters and request log written");
        served
    }
}

/// Applies pending migrations; returns how many.
///
/// # Errors
/// [`StartupError`] when the database cannot be opened or migrated.
pub async fn migrate(settings: &Settings) -> Result<usize, StartupError> {
    backends::migrate(settings).await
}
