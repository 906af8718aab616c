//! Writing request-log batches: one multi-row INSERT per flush (up to 1000
//! rows a statement), in one transaction, on the backend's own sqlx
//! pool rather than through the query builder, for two reasons measured at
//! tens of thousands of rows a second:
//!
//! - building one expression tree per value cost more than the database's
//!   own work;
//! - a flush's row count differs every time, so each statement has a new
//!   shape: kept in sqlx's per-connection statement cache, every shape held
//!   a prepared statement of up to 17,000 parameters (~1.6 MB on SQLite) and
//!   the gateway grew by hundreds of MB. These statements are not cached
//!   (`persistent(false)`); preparing one per second is cheap.

// Without a backend there is nothing to write with (the crate is only ever
// built with one; `cargo check -p infra-sql` alone builds it with none).
#![cfg_attr(
    not(any(feature = "sqlite", feature = "mysql", feature = "postgres")),
    allow(dead_code)
)]

use domain::ports::RepoError;
use domain::request_log::RequestLogEntry;
use sea_orm::{DatabaseConnection, DbBackend};
use std::fmt::Write as _;
#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
use {crate::errors::repo_err, crate::mapping::to_i64, domain::time_fmt::unix_millis};

/// Rows per INSERT statement: 17 bound columns × 1000 stays under every
/// backend's bound-parameter limit (SQLite 32,766; MySQL and PostgreSQL 65,535).
const ROWS_PER_STATEMENT: usize = 1000;

/// The columns written, in the order [`bind_row`] binds them.
const COLUMNS: [&str; 17] = [
    "at",
    "request_id",
    "service_id",
    "service",
    "client_key_id",
    "client_key",
    "key_id",
    "key_hint",
    "client_format",
    "upstream_format",
    "model",
    "status",
    "attempts",
    "latency_ms",
    "ttfb_ms",
    "input_tokens",
    "output_tokens",
];

/// Writes `rows` in one statement per [`ROWS_PER_STATEMENT`] rows.
pub(super) async fn insert(
    db: &DatabaseConnection,
    rows: &[RequestLogEntry],
) -> Result<(), RepoError> {
    if rows.is_empty() {
        return Ok(());
    }
    match db {
        #[cfg(feature = "sqlite")]
        DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            write(db.get_sqlite_connection_pool(), DbBackend::Sqlite, rows).await
        }
        #[cfg(feature = "mysql")]
        DatabaseConnection::SqlxMySqlPoolConnection(_) => {
            write(db.get_mysql_connection_pool(), DbBackend::MySql, rows).await
        }
        #[cfg(feature = "postgres")]
        DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            write(db.get_postgres_connection_pool(), DbBackend::Postgres, rows).await
        }
        #[allow(unreachable_patterns)]
        _ => Err(RepoError::Unavailable(
            "the request log needs a SQLite, MySQL or PostgreSQL connection".to_owned(),
        )),
    }
}

#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
use sea_orm::sqlx::{
    self, database::HasStatementCache, Database, Encode, Executor, IntoArguments, Pool, Type,
};

#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
fn sqlx_err(error: sqlx::Error) -> RepoError {
    repo_err(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(error)))
}

#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
async fn write<DB>(
    pool: &Pool<DB>,
    backend: DbBackend,
    rows: &[RequestLogEntry],
) -> Result<(), RepoError>
where
    DB: Database + HasStatementCache,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
{
    // One transaction, so a flush of several statements lands whole or not at all.
    let mut tx = pool.begin().await.map_err(sqlx_err)?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_sql(backend, chunk.len());
        let query = bind_rows(sqlx::query::<DB>(&sql).persistent(false), chunk);
        query.execute(&mut *tx).await.map_err(sqlx_err)?;
    }
    tx.commit().await.map_err(sqlx_err)
}

#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// Binds each row's values, in [`COLUMNS`] order.
#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
fn bind_rows<'q, DB>(mut query: Query<'q, DB>, rows: &'q [RequestLogEntry]) -> Query<'q, DB>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    i32: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
{
    for entry in rows {
        query = query
            .bind(unix_millis(&entry.time))
            .bind(clip(&entry.request_id, 128))
            .bind(entry.service_id)
            .bind(clip(&entry.service, 63))
            .bind(entry.client_key_id)
            .bind(clip(&entry.client_key, 100))
            .bind(entry.key_id)
            .bind(entry.key_hint.as_deref().map(|h| clip(h, 32)))
            .bind(entry.client_format.as_deref().map(|f| clip(f, 32)))
            .bind(entry.upstream_format.as_deref().map(|f| clip(f, 32)))
            .bind(entry.model.as_deref().map(|m| clip(m, 128)))
            .bind(i32::from(entry.status))
            .bind(i32::try_from(entry.attempts).unwrap_or(i32::MAX))
            .bind(to_i64(entry.latency_ms))
            .bind(entry.ttfb_ms.map(to_i64))
            .bind(to_i64(entry.input_tokens))
            .bind(to_i64(entry.output_tokens));
    }
    query
}

/// The first `max` characters of `text`, borrowed.
fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// `INSERT INTO request_logs (…) VALUES (…), …` for `rows` rows, with the
/// backend's quoting and placeholders.
fn insert_sql(backend: DbBackend, rows: usize) -> String {
    let quote = if backend == DbBackend::MySql {
        '`'
    } else {
        '"'
    };
    let mut sql = String::with_capacity(256 + rows * COLUMNS.len() * 6);
    let _ = write!(sql, "INSERT INTO {quote}request_logs{quote} (");
    for (i, column) in COLUMNS.iter().enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        let _ = write!(sql, "{separator}{quote}{column}{quote}");
    }
    sql.push_str(") VALUES ");
    let mut n = 0usize;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..COLUMNS.len() {
            if column > 0 {
                sql.push_str(", ");
            }
            n += 1;
            if backend == DbBackend::Postgres {
                let _ = write!(sql, "${n}");
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        let sqlite = insert_sql(DbBackend::Sqlite, 2);
        assert!(sqlite.starts_with("INSERT INTO \"request_logs\" (\"at\", \"request_id\""));
        assert_eq!(sqlite.matches('?').count(), 2 * COLUMNS.len());
        assert!(insert_sql(DbBackend::MySql, 1).starts_with("INSERT INTO `request_logs` (`at`"));
        let postgres = insert_sql(DbBackend::Postgres, 2);
        assert!(postgres.ends_with("$33, $34)"));
        assert!(!postgres.contains('?'));
    }

    #[test]
    fn the_columns_are_the_entitys_in_its_order() {
        use crate::entities::request_log::Column;
        use sea_orm::{Iden, Iterable};
        let entity: Vec<String> = Column::iter()
            .filter(|c| !matches!(c, Column::Id))
            .map(|c| c.to_string())
            .collect();
        assert_eq!(entity, COLUMNS);
    }

    #[test]
    fn clipping_counts_characters() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
