//! Writing request-log batches: one multi-row INSERT per flush (up to 128
//! packed batches, ~4 MB, a statement: under MariaDB's default 16 MB
//! packet), in one transaction, on the backend's own sqlx pool. A flush's
//! batch count differs every time, so each statement has a new shape; they
//! are not kept in sqlx's per-connection statement cache
//! (`persistent(false)`), where every shape would hold a prepared statement.

// Without a backend there is nothing to write with (the crate is only ever
// built with one; `cargo check -p infra-sql` alone builds it with none).
#![cfg_attr(
    not(any(feature = "sqlite", feature = "mysql", feature = "postgres")),
    allow(dead_code)
)]

#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
use crate::errors::repo_err;
use domain::ports::RepoError;
use domain::request_log::packed::PackedBatch;
use sea_orm::{DatabaseConnection, DbBackend};
use std::fmt::Write as _;

/// Batches per INSERT statement.
const BATCHES_PER_STATEMENT: usize = 128;

/// The columns written, in the order [`bind_batches`] binds them.
const COLUMNS: [&str; 4] = ["first_at", "last_at", "row_count", "payload"];

/// Writes `rows` in one statement per [`BATCHES_PER_STATEMENT`] batches.
pub(super) async fn insert(db: &DatabaseConnection, rows: &[PackedBatch]) -> Result<(), RepoError> {
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
    rows: &[PackedBatch],
) -> Result<(), RepoError>
where
    DB: Database + HasStatementCache,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    // One transaction, so a flush of several statements lands whole or not at all.
    let mut tx = pool.begin().await.map_err(sqlx_err)?;
    for chunk in rows.chunks(BATCHES_PER_STATEMENT) {
        let sql = insert_sql(backend, chunk.len());
        let query = bind_batches(sqlx::query::<DB>(&sql).persistent(false), chunk);
        query.execute(&mut *tx).await.map_err(sqlx_err)?;
    }
    tx.commit().await.map_err(sqlx_err)
}

#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// Binds each batch's values, in [`COLUMNS`] order.
#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
fn bind_batches<'q, DB>(mut query: Query<'q, DB>, batches: &'q [PackedBatch]) -> Query<'q, DB>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    i32: Encode<'q, DB> + Type<DB>,
    &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    for batch in batches {
        query = query
            .bind(batch.first_at_ms)
            .bind(batch.last_at_ms)
            .bind(i32::try_from(batch.rows).unwrap_or(i32::MAX))
            .bind(batch.bytes.as_slice());
    }
    query
}

/// `INSERT INTO request_log_batches (…) VALUES (…), …` for `rows` batches, with the
/// backend's quoting and placeholders.
fn insert_sql(backend: DbBackend, rows: usize) -> String {
    let quote = if backend == DbBackend::MySql {
        '`'
    } else {
        '"'
    };
    let mut sql = String::with_capacity(256 + rows * COLUMNS.len() * 6);
    let _ = write!(sql, "INSERT INTO {quote}request_log_batches{quote} (");
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
        assert!(
            sqlite.starts_with("INSERT INTO \"request_log_batches\" (\"first_at\", \"last_at\"")
        );
        assert_eq!(sqlite.matches('?').count(), 2 * COLUMNS.len());
        assert!(insert_sql(DbBackend::MySql, 1)
            .starts_with("INSERT INTO `request_log_batches` (`first_at`"));
        let postgres = insert_sql(DbBackend::Postgres, 2);
        assert!(postgres.ends_with("$7, $8)"));
        assert!(!postgres.contains('?'));
    }

    #[test]
    fn the_columns_are_the_entitys_in_its_order() {
        use crate::entities::request_log_batch::Column;
        use sea_orm::{Iden, Iterable};
        let entity: Vec<String> = Column::iter()
            .filter(|c| !matches!(c, Column::Id))
            .map(|c| c.to_string())
            .collect();
        assert_eq!(entity, COLUMNS);
    }
}
