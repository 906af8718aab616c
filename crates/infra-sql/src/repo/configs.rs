use super::now_ms;
use crate::entities::{proxy_config, upstream_key};
use crate::errors::repo_err;
use crate::mapping::{config_from_row, fill_config};
use domain::ports::RepoError;
use domain::{ConfigId, ProxyConfig, ProxyConfigDraft};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, TransactionTrait,
};

pub(super) async fn create(
    db: &DatabaseConnection,
    draft: &ProxyConfigDraft,
) -> Result<ProxyConfig, RepoError> {
    let now = now_ms();
    let mut model = proxy_config::ActiveModel {
        id: NotSet,
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    fill_config(&mut model, draft)?;
    let row = model.insert(db).await.map_err(repo_err)?;
    config_from_row(row)
}

pub(super) async fn update(
    db: &DatabaseConnection,
    id: ConfigId,
    draft: &ProxyConfigDraft,
) -> Result<ProxyConfig, RepoError> {
    let row = find(db, id).await?;
    let mut model = row.into_active_model();
    fill_config(&mut model, draft)?;
    model.updated_at = Set(now_ms());
    let row = model.update(db).await.map_err(repo_err)?;
    config_from_row(row)
}

pub(super) async fn set_active(
    db: &DatabaseConnection,
    id: ConfigId,
    is_active: bool,
) -> Result<ProxyConfig, RepoError> {
    let mut model = find(db, id).await?.into_active_model();
    model.is_active = Set(is_active);
    model.updated_at = Set(now_ms());
    let row = model.update(db).await.map_err(repo_err)?;
    config_from_row(row)
}

pub(super) async fn delete(db: &DatabaseConnection, id: ConfigId) -> Result<(), RepoError> {
    let txn = db.begin().await.map_err(repo_err)?;
    // Explicit, so the cascade does not depend on a backend's foreign-key settings.
    upstream_key::Entity::delete_many()
        .filter(upstream_key::Column::ConfigId.eq(id))
        .exec(&txn)
        .await
        .map_err(repo_err)?;
    let result = proxy_config::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(repo_err)?;
    if result.rows_affected == 0 {
        return Err(RepoError::NotFound);
    }
    txn.commit().await.map_err(repo_err)
}

pub(super) async fn get(db: &DatabaseConnection, id: ConfigId) -> Result<ProxyConfig, RepoError> {
    config_from_row(find(db, id).await?)
}

pub(super) async fn list(db: &DatabaseConnection) -> Result<Vec<ProxyConfig>, RepoError> {
    proxy_config::Entity::find()
        .order_by_asc(proxy_config::Column::Id)
        .all(db)
        .await
        .map_err(repo_err)?
        .into_iter()
        .map(config_from_row)
        .collect()
}

async fn find(db: &DatabaseConnection, id: ConfigId) -> Result<proxy_config::Model, RepoError> {
    proxy_config::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(repo_err)?
        .ok_or(RepoError::NotFound)
}
