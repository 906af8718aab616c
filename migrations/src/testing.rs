//! The upgrade from one request-log row per request (m0002) to packed
//! batches (m0003), as a scenario every SQL backend's tests run: the old
//! table's column types differ by backend, and so do the types its rows
//! are read back as.

use crate::{Migrator, MigratorTrait};
use domain::ports::KeyRepository;
use domain::request_log::RequestLogQuery;
use domain::testing::{service_url, unique_name, with_database};
use sea_orm_migration::sea_orm::{
    ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr, Statement,
};

/// A database of its own on the MySQL/MariaDB or PostgreSQL server named by
/// the environment variable a test reads, dropped by
/// [`Scratch::drop_database`].
pub struct Scratch {
    server: DatabaseConnection,
    name: String,
    /// The database's URL.
    pub url: String,
}

impl Scratch {
    /// A fresh database named after `prefix` on the server at `$env`
    /// (`None` when it is unset, which [`service_url`] reports).
    ///
    /// # Panics
    /// When the server cannot be reached or refuses the database.
    pub async fn create(env: &str, prefix: &str) -> Option<Self> {
        let server_url = service_url(env)?;
        let name = unique_name(prefix);
        let server = match Database::connect(&server_url).await {
            Ok(server) => server,
            Err(error) => panic!("{env}: {error}"),
        };
        let quoted = quoted(&server, &name);
        if let Err(error) = server
            .execute_unprepared(&format!("CREATE DATABASE {quoted}"))
            .await
        {
            panic!("cannot create {quoted}: {error}");
        }
        let url = with_database(&server_url, &name);
        Some(Self { server, name, url })
    }

    /// Logs three requests in the database's one-row-per-request table
    /// ([`log_old_rows`]).
    ///
    /// # Panics
    /// When the database refuses.
    pub async fn log_old_rows(&self) {
        let logged = async {
            let db = Database::connect(self.url.as_str()).await?;
            log_old_rows(&db).await?;
            db.close().await
        };
        if let Err(error) = logged.await {
            panic!("cannot log the old rows: {error}");
        }
    }

    /// Drops the database.
    ///
    /// # Panics
    /// When the server refuses.
    pub async fn drop_database(self) {
        let quoted = quoted(&self.server, &self.name);
        let force = match self.server.get_database_backend() {
            DatabaseBackend::Postgres => " WITH (FORCE)",
            _ => "",
        };
        if let Err(error) = self
            .server
            .execute_unprepared(&format!("DROP DATABASE {quoted}{force}"))
            .await
        {
            panic!("cannot drop {quoted}: {error}");
        }
    }
}

fn quoted(server: &DatabaseConnection, name: &str) -> String {
    match server.get_database_backend() {
        DatabaseBackend::MySql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    }
}

/// Arrival of the first old row, Unix milliseconds.
const FIRST_AT: i64 = 1_700_000_000_000;

/// Migrates `db` up to the one-row-per-request table and logs three
/// requests in it.
///
/// # Errors
/// The database's.
pub async fn log_old_rows(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, Some(2)).await?;
    for n in 0..3 {
        db.execute(Statement::from_string(
            db.get_database_backend(),
            format!(
                "INSERT INTO request_logs (at, request_id, service_id, service, client_key_id, \
                 client_key, key_id, key_hint, client_format, upstream_format, model, status, \
                 attempts, latency_ms, ttfb_ms, input_tokens, output_tokens) VALUES \
                 ({at}, 'req-{n}', 4, 'svc', NULL, 'team', 9, 'sk-a***z', 'openai', \
                 'anthropic_native', 'm', 200, 2, 30, 12, 5, 7)",
                at = FIRST_AT + n
            ),
        ))
        .await?;
    }
    Ok(())
}

/// Panics unless `repo`, upgraded after [`log_old_rows`], lists the three
/// rows newest first with every field.
pub async fn assert_old_rows_carried_over(repo: &dyn KeyRepository) {
    let listed = repo
        .list_request_logs(&RequestLogQuery {
            limit: 10,
            ..RequestLogQuery::default()
        })
        .await;
    let rows = match listed {
        Ok(rows) => rows,
        Err(error) => panic!("the upgraded log does not list: {error}"),
    };
    let ids: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["req-2", "req-1", "req-0"]);
    let newest = &rows[0];
    assert_eq!(
        (
            newest.service_id,
            newest.client_key_id,
            newest.key_id,
            newest.key_hint.as_deref()
        ),
        (Some(4), None, Some(9), Some("sk-a***z"))
    );
    assert_eq!(
        (
            newest.service.as_str(),
            newest.client_key.as_str(),
            newest.client_format.as_deref(),
            newest.upstream_format.as_deref(),
            newest.model.as_deref()
        ),
        (
            "svc",
            "team",
            Some("openai"),
            Some("anthropic_native"),
            Some("m")
        )
    );
    assert_eq!(
        (
            newest.status,
            newest.attempts,
            newest.latency_ms,
            newest.ttfb_ms,
            newest.input_tokens,
            newest.output_tokens
        ),
        (200, 2, 30, Some(12), 5, 7)
    );
    assert_eq!(domain::time_fmt::unix_millis(&newest.time), FIRST_AT + 2);
}
