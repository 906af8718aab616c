//! The request log: keyset paging and pruning (writing: [`super::request_log_insert`]).

use crate::entities::request_log::{self, Column as C};
use crate::errors::repo_err;
use domain::ports::RepoError;
use domain::request_log::{RequestLogEntry, RequestLogQuery};
use domain::time_fmt::{from_unix_millis, unix_millis};
use domain::Timestamp;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

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
