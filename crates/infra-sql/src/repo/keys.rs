use super::now_ms;
use crate::entities::{client_key, proxy_config, upstream_key};
use crate::errors::repo_err;
use crate::mapping::{key_from_row, to_i64, to_opt_i32};
use domain::ports::{KeyCounts, KeyInsert, RepoError, ResealedKey, UsageBatch, UsageDelta};
use domain::time_fmt::unix_millis;
use domain::{ConfigId, KeyId, KeyPatch, NewUpstreamKey, StoredKey};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use std::collections::{HashMap, HashSet};

#[derive(FromQueryResult)]
struct CountRow {
    config_id: i64,
    n: i64,
}

async fn count_by_config(
    db: &DatabaseConnection,
    only_active: bool,
) -> Result<HashMap<ConfigId, u64>, RepoError> {
    let mut query = upstream_key::Entity::find()
        .select_only()
        .column(upstream_key::Column::ConfigId)
        .column_as(upstream_key::Column::Id.count(), "n")
        .group_by(upstream_key::Column::ConfigId);
    if only_active {
        query = query.filter(upstream_key::Column::IsActive.eq(true));
    }
    let rows = query
        .into_model::<CountRow>()
        .all(db)
        .await
        .map_err(repo_err)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.config_id, u64::try_from(r.n).unwrap_or(0)))
        .collect())
}

pub(super) async fn counts(
    db: &DatabaseConnection,
) -> Result<Vec<(ConfigId, KeyCounts)>, RepoError> {
    let totals = count_by_config(db, false).await?;
    let active = count_by_config(db, true).await?;
    let mut counts: Vec<(ConfigId, KeyCounts)> = totals
        .into_iter()
        .map(|(id, total)| {
            let active = active.get(&id).copied().unwrap_or(0);
            (id, KeyCounts { total, active })
        })
        .collect();
    counts.sort_by_key(|(id, _)| *id);
    Ok(counts)
}

pub(super) async fn insert(
    db: &DatabaseConnection,
    config_id: ConfigId,
    new_keys: &[NewUpstreamKey],
) -> Result<Vec<KeyInsert>, RepoError> {
    let txn = db.begin().await.map_err(repo_err)?;
    proxy_config::Entity::find_by_id(config_id)
        .one(&txn)
        .await
        .map_err(repo_err)?
        .ok_or(RepoError::NotFound)?;
    let mut existing: HashSet<String> = upstream_key::Entity::find()
        .select_only()
        .column(upstream_key::Column::Fingerprint)
        .filter(upstream_key::Column::ConfigId.eq(config_id))
        .into_tuple::<String>()
        .all(&txn)
        .await
        .map_err(repo_err)?
        .into_iter()
        .collect();
    let now = now_ms();
    let mut results = Vec::with_capacity(new_keys.len());
    for key in new_keys {
        if !existing.insert(key.fingerprint.clone()) {
            results.push(KeyInsert::Duplicate);
            continue;
        }
        let model = upstream_key::ActiveModel {
            id: NotSet,
            config_id: Set(config_id),
            ciphertext: Set(key.ciphertext.clone()),
            fingerprint: Set(key.fingerprint.clone()),
            key_masked: Set(key.key_masked.clone()),
            is_active: Set(key.is_active),
            weight: Set(i32::try_from(key.weight).unwrap_or(i32::MAX)),
            rpm_limit: Set(to_opt_i32(key.rpm_limit)),
            requests: Set(0),
            failures: Set(0),
            input_tokens: Set(0),
            output_tokens: Set(0),
            last_used_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let id = upstream_key::Entity::insert(model)
            .exec(&txn)
            .await
            .map_err(repo_err)?
            .last_insert_id;
        results.push(KeyInsert::Inserted(id));
    }
    txn.commit().await.map_err(repo_err)?;
    Ok(results)
}

pub(super) async fn list(
    db: &DatabaseConnection,
    config_id: Option<ConfigId>,
) -> Result<Vec<StoredKey>, RepoError> {
    let mut query = upstream_key::Entity::find().order_by_asc(upstream_key::Column::Id);
    if let Some(id) = config_id {
        query = query.filter(upstream_key::Column::ConfigId.eq(id));
    }
    query
        .all(db)
        .await
        .map_err(repo_err)?
        .into_iter()
        .map(key_from_row)
        .collect()
}

pub(super) async fn get(db: &DatabaseConnection, key_id: KeyId) -> Result<StoredKey, RepoError> {
    key_from_row(find(db, key_id).await?)
}

pub(super) async fn update(
    db: &DatabaseConnection,
    key_id: KeyId,
    patch: &KeyPatch,
) -> Result<StoredKey, RepoError> {
    let mut model = find(db, key_id).await?.into_active_model();
    if let Some(is_active) = patch.is_active {
        model.is_active = Set(is_active);
    }
    if let Some(weight) = patch.weight {
        model.weight = Set(i32::try_from(weight).unwrap_or(i32::MAX));
    }
    if let Some(rpm_limit) = patch.rpm_limit {
        model.rpm_limit = Set(to_opt_i32(rpm_limit));
    }
    model.updated_at = Set(now_ms());
    key_from_row(model.update(db).await.map_err(repo_err)?)
}

pub(super) async fn reseal(
    db: &DatabaseConnection,
    resealed: &[ResealedKey],
) -> Result<(), RepoError> {
    let txn = db.begin().await.map_err(repo_err)?;
    for key in resealed {
        let result = upstream_key::Entity::update_many()
            .col_expr(
                upstream_key::Column::Ciphertext,
                Expr::value(key.ciphertext.clone()),
            )
            .col_expr(
                upstream_key::Column::Fingerprint,
                Expr::value(key.fingerprint.clone()),
            )
            .filter(upstream_key::Column::Id.eq(key.id))
            .exec(&txn)
            .await
            .map_err(repo_err)?;
        if result.rows_affected == 0 {
            // Dropping the transaction rolls every earlier update back.
            return Err(RepoError::NotFound);
        }
    }
    txn.commit().await.map_err(repo_err)
}

pub(super) async fn delete(db: &DatabaseConnection, key_id: KeyId) -> Result<(), RepoError> {
    let result = upstream_key::Entity::delete_by_id(key_id)
        .exec(db)
        .await
        .map_err(repo_err)?;
    if result.rows_affected == 0 {
        return Err(RepoError::NotFound);
    }
    Ok(())
}

pub(super) async fn delete_of(
    db: &DatabaseConnection,
    config_id: ConfigId,
) -> Result<u64, RepoError> {
    let result = upstream_key::Entity::delete_many()
        .filter(upstream_key::Column::ConfigId.eq(config_id))
        .exec(db)
        .await
        .map_err(repo_err)?;
    Ok(result.rows_affected)
}

/// Rows updated per statement (one CASE arm each).
const USAGE_ROWS_PER_STATEMENT: usize = 500;

/// `CASE id WHEN … THEN <value> … ELSE <otherwise> END` over a batch.
fn per_row<C: sea_orm::ColumnTrait>(
    id: C,
    rows: &[(i64, UsageDelta)],
    value: impl Fn(&UsageDelta) -> SimpleExpr,
    otherwise: SimpleExpr,
) -> SimpleExpr {
    let mut arms = rows.iter();
    let Some((first_id, first)) = arms.next() else {
        return otherwise;
    };
    let mut case = Expr::case(Expr::col(id).eq(*first_id), value(first));
    for (row_id, delta) in arms {
        case = case.case(Expr::col(id).eq(*row_id), value(delta));
    }
    case.finally(otherwise).into()
}

/// `column + CASE id WHEN … THEN delta … ELSE 0 END`.
fn add<C: sea_orm::ColumnTrait>(
    id: C,
    column: C,
    rows: &[(i64, UsageDelta)],
    count: impl Fn(&UsageDelta) -> u64,
) -> SimpleExpr {
    Expr::col(column).add(per_row(
        id,
        rows,
        |d| Expr::value(to_i64(count(d))),
        Expr::value(0i64),
    ))
}

/// `last_used_at`: per row, the later of the stored and the new value.
fn latest<C: sea_orm::ColumnTrait>(id: C, column: C, rows: &[(i64, UsageDelta)]) -> SimpleExpr {
    per_row(
        id,
        rows,
        |delta| match delta.last_used_at {
            Some(at) => {
                let at = unix_millis(&at);
                Expr::case(Expr::col(column).is_null(), at)
                    .case(Expr::col(column).lt(at), at)
                    .finally(Expr::col(column))
                    .into()
            }
            None => Expr::col(column).into(),
        },
        Expr::col(column).into(),
    )
}

/// One UPDATE per table (per 500 rows): usage is written in batches, never row by row.
pub(super) async fn record_usage(
    db: &DatabaseConnection,
    batch: &UsageBatch,
) -> Result<(), RepoError> {
    let txn = db.begin().await.map_err(repo_err)?;
    for rows in batch.keys.chunks(USAGE_ROWS_PER_STATEMENT) {
        use upstream_key::Column as C;
        upstream_key::Entity::update_many()
            .col_expr(C::Requests, add(C::Id, C::Requests, rows, |d| d.requests))
            .col_expr(C::Failures, add(C::Id, C::Failures, rows, |d| d.failures))
            .col_expr(
                C::InputTokens,
                add(C::Id, C::InputTokens, rows, |d| d.input_tokens),
            )
            .col_expr(
                C::OutputTokens,
                add(C::Id, C::OutputTokens, rows, |d| d.output_tokens),
            )
            .col_expr(C::LastUsedAt, latest(C::Id, C::LastUsedAt, rows))
            .filter(C::Id.is_in(rows.iter().map(|(id, _)| *id)))
            .exec(&txn)
            .await
            .map_err(repo_err)?;
    }
    for rows in batch.client_keys.chunks(USAGE_ROWS_PER_STATEMENT) {
        use client_key::Column as C;
        client_key::Entity::update_many()
            .col_expr(C::Requests, add(C::Id, C::Requests, rows, |d| d.requests))
            .col_expr(
                C::InputTokens,
                add(C::Id, C::InputTokens, rows, |d| d.input_tokens),
            )
            .col_expr(
                C::OutputTokens,
                add(C::Id, C::OutputTokens, rows, |d| d.output_tokens),
            )
            .col_expr(C::LastUsedAt, latest(C::Id, C::LastUsedAt, rows))
            .filter(C::Id.is_in(rows.iter().map(|(id, _)| *id)))
            .exec(&txn)
            .await
            .map_err(repo_err)?;
    }
    txn.commit().await.map_err(repo_err)
}

async fn find<C: ConnectionTrait>(db: &C, key_id: KeyId) -> Result<upstream_key::Model, RepoError> {
    upstream_key::Entity::find_by_id(key_id)
        .one(db)
        .await
        .map_err(repo_err)?
        .ok_or(RepoError::NotFound)
}
