//! The request log: paging over packed batches newest first, and pruning
//! (writing: [`super::request_log_insert`]). Rows live packed in batches
//! ([`domain::request_log::packed`]); filters are applied to decoded rows, so
//! a query reads batches until its page is full.

use crate::entities::request_log_batch::{self, Column as C};
use crate::errors::repo_err;
use domain::ports::RepoError;
use domain::request_log::packed::{records, row_id, split_row_id, Labels, PackedBatch, Record};
use domain::request_log::{RequestLogEntry, RequestLogQuery};
use domain::time_fmt::unix_millis;
use domain::Timestamp;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// Batches read per query (~2 MB).
const BATCHES_PER_READ: u64 = 64;

/// The filters of `query` a row is tested against.
struct Filter<'a> {
    query: &'a RequestLogQuery,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
}

impl Filter<'_> {
    /// What a record's header decides (time and cursor).
    fn admits_record(&self, batch_id: i64, record: &Record<'_>) -> bool {
        self.since_ms.is_none_or(|since| record.at_ms >= since)
            && self.until_ms.is_none_or(|until| record.at_ms < until)
            && self
                .query
                .before_id
                .is_none_or(|before| row_id(batch_id, record.index) < before)
    }

    /// What the record's labels decide, read in place: only rows that pass
    /// are decoded (a filtered listing may read thousands of rows a page).
    fn admits_labels(&self, labels: &Labels<'_>) -> bool {
        let q = self.query;
        q.service.as_deref().is_none_or(|s| s == labels.service)
            && q.client_key
                .as_deref()
                .is_none_or(|c| c == labels.client_key)
            && q.status_class
                .is_none_or(|class| labels.status / 100 == class)
    }
}

/// The rows of one stored batch that pass `filter`, newest first.
fn matching(batch: &request_log_batch::Model, filter: &Filter<'_>) -> Vec<RequestLogEntry> {
    let mut rows = Vec::new();
    for record in records(&batch.payload) {
        let decoded = record.and_then(|record| {
            // Labels that do not read are decoded, so the damage is reported.
            let wanted = filter.admits_record(batch.id, &record)
                && record
                    .labels()
                    .is_none_or(|labels| filter.admits_labels(&labels));
            if wanted {
                record.decode(batch.id).map(Some)
            } else {
                Ok(None)
            }
        });
        match decoded {
            Ok(Some(row)) => rows.push(row),
            Ok(None) => {}
            Err(damage) => {
                // Whatever decoded before the damage is still shown.
                tracing::warn!(batch = batch.id, %damage, "a request-log batch is damaged; its rest is skipped");
                break;
            }
        }
    }
    rows.reverse();
    rows
}

pub(super) async fn list(
    db: &DatabaseConnection,
    query: &RequestLogQuery,
) -> Result<Vec<RequestLogEntry>, RepoError> {
    let filter = Filter {
        query,
        since_ms: query.since.as_ref().map(unix_millis),
        until_ms: query.until.as_ref().map(unix_millis),
    };
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let mut newest_batch = query.before_id.map(|id| split_row_id(id).0);
    let mut page = Vec::new();
    loop {
        let mut select = request_log_batch::Entity::find();
        if let Some(id) = newest_batch {
            select = select.filter(C::Id.lte(id));
        }
        if let Some(since) = filter.since_ms {
            select = select.filter(C::LastAt.gte(since));
        }
        if let Some(until) = filter.until_ms {
            select = select.filter(C::FirstAt.lt(until));
        }
        let batches = select
            .order_by_desc(C::Id)
            .limit(BATCHES_PER_READ)
            .all(db)
            .await
            .map_err(repo_err)?;
        for batch in &batches {
            page.extend(matching(batch, &filter));
            if page.len() >= limit {
                page.truncate(limit);
                return Ok(page);
            }
        }
        match batches.last() {
            Some(oldest) if batches.len() as u64 == BATCHES_PER_READ => {
                newest_batch = Some(oldest.id - 1);
            }
            _ => return Ok(page),
        }
    }
}

fn when(expr: sea_orm::sea_query::SimpleExpr) -> sea_orm::Condition {
    sea_orm::Condition::all().add(expr)
}

/// A batch's id, row count and newest time.
type Head = (i64, i32, i64);

/// Heads of the batches matching `filter`, 1000 at a time from `from`
/// (exclusive), oldest or newest first.
async fn heads(
    db: &DatabaseConnection,
    filter: sea_orm::Condition,
    from: Option<i64>,
    newest_first: bool,
) -> Result<Vec<Head>, RepoError> {
    let mut select = request_log_batch::Entity::find()
        .select_only()
        .columns([C::Id, C::RowCount, C::LastAt])
        .filter(filter);
    if let Some(id) = from {
        select = select.filter(if newest_first {
            C::Id.lt(id)
        } else {
            C::Id.gt(id)
        });
    }
    select = if newest_first {
        select.order_by_desc(C::Id)
    } else {
        select.order_by_asc(C::Id)
    };
    select
        .limit(1000)
        .into_tuple()
        .all(db)
        .await
        .map_err(repo_err)
}

fn count(rows: i32) -> u64 {
    u64::try_from(rows).unwrap_or(0)
}

/// Rows in the batches matching `filter`.
async fn rows_in(db: &DatabaseConnection, filter: &sea_orm::Condition) -> Result<u64, RepoError> {
    let mut rows = 0;
    let mut from = None;
    loop {
        let page = heads(db, filter.clone(), from, false).await?;
        let Some(&(last, _, _)) = page.last() else {
            return Ok(rows);
        };
        rows += page.iter().map(|&(_, n, _)| count(n)).sum::<u64>();
        from = Some(last);
    }
}

/// Deletes the batches matching `filter`; returns how many rows they held.
async fn delete(db: &DatabaseConnection, filter: sea_orm::Condition) -> Result<u64, RepoError> {
    let rows = rows_in(db, &filter).await?;
    if rows > 0 {
        request_log_batch::Entity::delete_many()
            .filter(filter)
            .exec(db)
            .await
            .map_err(repo_err)?;
    }
    Ok(rows)
}

/// What a trimmed batch keeps.
#[derive(Clone, Copy)]
enum Keep {
    /// Rows at or after this time (Unix ms).
    Since(i64),
    /// Its newest this many rows.
    Newest(u64),
}

/// Trims batch `id` to what `keep` admits; returns how many rows went. The
/// write only lands on the batch as it was read (same row count), so two
/// instances pruning at once neither drop rows twice nor undo each other.
async fn trim(db: &DatabaseConnection, id: i64, keep: Keep) -> Result<u64, RepoError> {
    let Some(batch) = request_log_batch::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(repo_err)?
    else {
        return Ok(0); // pruned meanwhile by another instance
    };
    let rows = count(batch.row_count);
    let mut position = 0u64;
    let kept = PackedBatch::retain(&batch.payload, |record| {
        position += 1;
        match keep {
            Keep::Since(cutoff) => record.at_ms >= cutoff,
            Keep::Newest(room) => position > rows.saturating_sub(room),
        }
    });
    let kept = kept.unwrap_or_else(|damage| {
        tracing::warn!(batch = id, %damage, "a damaged request-log batch is pruned whole");
        None
    });
    let as_read = sea_orm::Condition::all()
        .add(C::Id.eq(id))
        .add(C::RowCount.eq(batch.row_count));
    let changed = match &kept {
        None => {
            request_log_batch::Entity::delete_many()
                .filter(as_read)
                .exec(db)
                .await
                .map_err(repo_err)?
                .rows_affected
        }
        Some(kept) => {
            request_log_batch::Entity::update_many()
                .col_expr(C::Payload, Expr::value(kept.bytes.clone()))
                .col_expr(
                    C::RowCount,
                    Expr::value(i32::try_from(kept.rows).unwrap_or(i32::MAX)),
                )
                .col_expr(C::FirstAt, Expr::value(kept.first_at_ms))
                .col_expr(C::LastAt, Expr::value(kept.last_at_ms))
                .filter(as_read)
                .exec(db)
                .await
                .map_err(repo_err)?
                .rows_affected
        }
    };
    if changed == 0 {
        return Ok(0); // another instance changed it first
    }
    Ok(rows.saturating_sub(kept.map_or(0, |k| u64::from(k.rows))))
}

/// Prunes by age: batches all older go whole, batches partly older are trimmed.
async fn prune_by_age(db: &DatabaseConnection, cutoff: i64) -> Result<u64, RepoError> {
    let mut deleted = delete(db, when(C::LastAt.lt(cutoff))).await?;
    let mut from = None;
    loop {
        let straddling = heads(db, when(C::FirstAt.lt(cutoff)), from, false).await?;
        let Some(&(last, _, _)) = straddling.last() else {
            return Ok(deleted);
        };
        for &(id, _, _) in &straddling {
            deleted += trim(db, id, Keep::Since(cutoff)).await?;
        }
        from = Some(last);
    }
}

/// Prunes by count: the oldest rows beyond the newest `max_rows` go.
async fn prune_by_count(db: &DatabaseConnection, max_rows: u64) -> Result<u64, RepoError> {
    let mut kept = 0u64;
    let mut deleted = 0;
    let mut from = None;
    loop {
        let newest = heads(db, sea_orm::Condition::all(), from, true).await?;
        let Some(&(last, _, _)) = newest.last() else {
            return Ok(deleted);
        };
        for &(id, rows, _) in &newest {
            let room = max_rows - kept;
            if room == 0 {
                // Every batch from here on is beyond the limit.
                return Ok(deleted + delete(db, when(C::Id.lte(id))).await?);
            }
            if count(rows) > room {
                // The boundary batch keeps its newest `room` rows.
                deleted += trim(db, id, Keep::Newest(room)).await?;
                kept = max_rows;
            } else {
                kept += count(rows);
            }
        }
        from = Some(last);
    }
}

pub(super) async fn prune(
    db: &DatabaseConnection,
    older_than: Timestamp,
    max_rows: u64,
) -> Result<u64, RepoError> {
    let by_age = prune_by_age(db, unix_millis(&older_than)).await?;
    Ok(by_age + prune_by_count(db, max_rows).await?)
}
