//! The request log: multi-row inserts from hand-written SQL, keyset paging, pruning.

use crate::entities::request_log::{self, Column as C};
use crate::errors::repo_err;
use crate::mapping::to_i64;
use domain::ports::RepoError;
use domain::request_log::{RequestLogEntry, RequestLogQuery};
use domain::time_fmt::{from_unix_millis, unix_millis};
use domain::Timestamp;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait, Value,
};
use std::fmt::Write as _;

/// Rows per INSERT statement: 17 bound columns × 1000 stays under every
/// backend's bound-parameter limit (SQLite 32,766; MySQL and PostgreSQL 65,535).
const ROWS_PER_STATEMENT: usize = 1000;

/// The columns written, in the order [`push_row`] binds them.
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

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// `INSERT INTO request_logs (…) VALUES (…), …` for `rows` rows, with the
/// backend's placeholders. Written by hand rather than through the query
/// builder: at tens of thousands of rows a second, building one expression
/// tree per value cost more than the database's own work.
fn insert_sql(backend: DbBackend, rows: usize) -> String {
    let quote = if backend == DbBackend::MySql {
        '`'
    } else {
        '"'
    };
    let mut sql = String::with_capacity(256 + rows * COLUMNS.len() * 6);
    sql.push_str("INSERT INTO ");
    sql.extend([quote]);
    sql.push_str("request_logs");
    sql.extend([quote]);
    sql.push_str(" (");
    for (i, column) in COLUMNS.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.extend([quote]);
        sql.push_str(column);
        sql.extend([quote]);
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

fn text(value: String) -> Value {
    Value::String(Some(Box::new(value)))
}

fn optional_text(value: Option<String>) -> Value {
    Value::String(value.map(Box::new))
}

/// Binds one row's values, in [`COLUMNS`] order.
fn push_row(values: &mut Vec<Value>, entry: &RequestLogEntry) {
    values.extend([
        Value::BigInt(Some(unix_millis(&entry.time))),
        text(clip(&entry.request_id, 128)),
        Value::BigInt(entry.service_id),
        text(clip(&entry.service, 63)),
        Value::BigInt(entry.client_key_id),
        text(clip(&entry.client_key, 100)),
        Value::BigInt(entry.key_id),
        optional_text(entry.key_hint.as_deref().map(|h| clip(h, 32))),
        optional_text(entry.client_format.as_deref().map(|f| clip(f, 32))),
        optional_text(entry.upstream_format.as_deref().map(|f| clip(f, 32))),
        optional_text(entry.model.as_deref().map(|m| clip(m, 128))),
        Value::Int(Some(i32::from(entry.status))),
        Value::Int(Some(i32::try_from(entry.attempts).unwrap_or(i32::MAX))),
        Value::BigInt(Some(to_i64(entry.latency_ms))),
        Value::BigInt(entry.ttfb_ms.map(to_i64)),
        Value::BigInt(Some(to_i64(entry.input_tokens))),
        Value::BigInt(Some(to_i64(entry.output_tokens))),
    ]);
}

fn from_row(row: request_log::Model) -> RequestLogEntry {
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    RequestLogEntry {
        id: row.id,
        time: from_unix_millis(row.at),
        request_id: row.request_id,
        service_id: row.service_id,
        service: row.service,
        client_key_id: row.client_key_id,
        client_key: row.client_key,
        key_id: row.key_id,
        key_hint: row.key_hint,
        client_format: row.client_format,
        upstream_format: row.upstream_format,
        model: row.model,
        status: u16::try_from(row.status).unwrap_or(0),
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        latency_ms: count(row.latency_ms),
        ttfb_ms: row.ttfb_ms.map(count),
        input_tokens: count(row.input_tokens),
        output_tokens: count(row.output_tokens),
    }
}

pub(super) async fn insert(
    db: &DatabaseConnection,
    rows: &[RequestLogEntry],
) -> Result<(), RepoError> {
    let backend = db.get_database_backend();
    let statements = rows.chunks(ROWS_PER_STATEMENT).map(|chunk| {
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS.len());
        for entry in chunk {
            push_row(&mut values, entry);
        }
        Statement::from_sql_and_values(backend, insert_sql(backend, chunk.len()), values)
    });
    if rows.len() <= ROWS_PER_STATEMENT {
        for statement in statements {
            db.execute(statement).await.map_err(repo_err)?;
        }
        return Ok(());
    }
    // Several statements: one transaction, so a flush lands whole or not at all.
    let txn = db.begin().await.map_err(repo_err)?;
    for statement in statements {
        txn.execute(statement).await.map_err(repo_err)?;
    }
    txn.commit().await.map_err(repo_err)
}

pub(super) async fn list(
    db: &DatabaseConnection,
    query: &RequestLogQuery,
) -> Result<Vec<RequestLogEntry>, RepoError> {
    let mut select = request_log::Entity::find();
    if let Some(service) = &query.service {
        select = select.filter(C::Service.eq(service.as_str()));
    }
    if let Some(client_key) = &query.client_key {
        select = select.filter(C::ClientKey.eq(client_key.as_str()));
    }
    if let Some(class) = query.status_class {
        let low = i32::from(class) * 100;
        select = select
            .filter(C::Status.gte(low))
            .filter(C::Status.lt(low + 100));
    }
    if let Some(since) = query.since {
        select = select.filter(C::At.gte(unix_millis(&since)));
    }
    if let Some(until) = query.until {
        select = select.filter(C::At.lt(unix_millis(&until)));
    }
    if let Some(before) = query.before_id {
        select = select.filter(C::Id.lt(before));
    }
    let rows = select
        .order_by_desc(C::Id)
        .limit(u64::from(query.limit))
        .all(db)
        .await
        .map_err(repo_err)?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub(super) async fn prune(
    db: &DatabaseConnection,
    older_than: Timestamp,
    max_rows: u64,
) -> Result<u64, RepoError> {
    let mut deleted = request_log::Entity::delete_many()
        .filter(C::At.lt(unix_millis(&older_than)))
        .exec(db)
        .await
        .map_err(repo_err)?
        .rows_affected;
    // The id of the oldest row to keep; everything before it goes.
    let boundary: Option<i64> = request_log::Entity::find()
        .select_only()
        .column(C::Id)
        .order_by_desc(C::Id)
        .offset(max_rows.saturating_sub(1))
        .limit(1)
        .into_tuple()
        .one(db)
        .await
        .map_err(repo_err)?;
    if let Some(boundary) = boundary {
        deleted += request_log::Entity::delete_many()
            .filter(C::Id.lt(boundary))
            .exec(db)
            .await
            .map_err(repo_err)?
            .rows_affected;
    }
    Ok(deleted)
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
    fn clipping_counts_characters() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
